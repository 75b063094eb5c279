"""Divergence by hand and discovery on the petal: each technique's main parameter swept, with novelty
and coherence measured along it, plus the search's speed and coverage.

    python benchmarks/diverge.py [--model meshes/petal.grc] [--images docs/images] [--budget 5000]

Prints one table per technique and writes docs/images/diverge-*.png (the sweeps) and
docs/images/search-petal.png (the contact sheet). Novelty: RMS per point to the nearest template at
any time step; coherence: the share of shapes (inner time steps x blends 0, 0.5, 1) not broken, and
not strained.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time as clock
from pathlib import Path

import numpy as np

import grc
from grc.coherence import Coherence
from grc.diverge.bend import Bend, Look
from grc.diverge.blend import blend_models
from grc.diverge.finetune import diverge
from grc.diverge.rewrite import rewrite
from grc.diverge.search import save_archive, search

ROOT = Path(__file__).resolve().parents[1]
BLENDS = (0.0, 0.5, 1.0)


def judge(coherence, shapes_by_time) -> dict:
    checks = [coherence.check(grid, t) for t, grid in shapes_by_time]
    return {"novelty": float(np.mean([c.novelty for c in checks])),
            "coherent": float(np.mean([c.verdict == "coherent" for c in checks])),
            "broken": float(np.mean([c.verdict == "broken" for c in checks]))}


def shapes(model, look=None):
    times = model.templates.time[1:-1]
    return [(float(t), (look.shape(model, t, b) if look else model.shape(t, b))) for t in times for b in BLENDS]


def sweep_bend(model, coherence):
    rows = []
    for strength in np.linspace(0, 2, 9):
        look = Look([Bend("scale", 1, {"cluster": 1, "clusters": 6}, amount=2.0, strength=float(strength)),
                     Bend("oscillate", 0, {"fraction": 0.3, "seed": 0}, amount=0.6, frequency=1.5,
                          strength=float(strength))])
        rows.append({"x": float(strength), **judge(coherence, shapes(model, look))})
    return rows


def sweep_blend_models(model, relative, independent, coherence):
    rows = {"relative": [], "independent": []}
    for w in np.linspace(-1, 2, 13):
        for name, other in (("relative", relative), ("independent", independent)):
            rows[name].append({"x": float(w), **judge(coherence, shapes(blend_models(model, other, float(w))))})
    return rows


def sweep_rewrite(model, coherence):
    rows = []
    base = model.shape(0.8, 0.5)
    for distance in np.linspace(0, 0.3, 7):
        start = clock.perf_counter()
        edited = rewrite(model, 0.8, 0.5, (6, 3), base[6, 3] + [0, 0, distance], radius=0.15)
        seconds = clock.perf_counter() - start
        K, T = len(model.templates), len(model.templates.time)
        drift = max(np.abs(edited.shape(t, np.eye(K)[k]) - model.shape(t, np.eye(K)[k])).max()
                    for k in range(K) for t in model.templates.time)
        hit = float(np.linalg.norm(edited.shape(0.8, 0.5)[6, 3] - base[6, 3] - [0, 0, distance]))
        rows.append({"x": float(distance), **judge(coherence, shapes(edited)), "hit": hit, "template_drift": float(drift),
                     "ms": seconds * 1e3})
    return rows


def plot(rows_by_label, xlabel, title, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=110)
    other = ax.twinx()
    for label, rows in rows_by_label.items():
        x = [r["x"] for r in rows]
        ax.plot(x, [r["novelty"] for r in rows], "o-", label=f"novelty{label}")
        other.plot(x, [1 - r["broken"] for r in rows], "s--", label=f"not broken{label}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("novelty (RMS per point)")
    values = [r["novelty"] for rows in rows_by_label.values() for r in rows]
    if max(values) > 50 * max(min(values), 1e-9):
        ax.set_yscale("log")
    other.set_ylabel("share not broken")
    other.set_ylim(-0.02, 1.02)
    lines = ax.get_lines() + other.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="best")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def table(name, rows, extra=()):
    print(f"\n{name}")
    print("  x       novelty  coherent  broken  " + "  ".join(extra))
    for r in rows:
        print(f"  {r['x']:6.2f}  {r['novelty']:.4f}   {r['coherent']:.2f}      {r['broken']:.2f}    "
              + "  ".join(f"{r[e]:.2e}" for e in extra))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "meshes" / "petal.grc"))
    parser.add_argument("--images", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--budget", type=int, default=5000)
    args = parser.parse_args()
    images = Path(args.images)
    model = grc.load_model(args.model)
    coherence = Coherence.for_model(model, subdivide=2)
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; model {args.model}")

    bend = sweep_bend(model, coherence)
    table("bend strength (a cluster of the last hidden layer scaled x2, 30% of the first oscillating)", bend)
    plot({"": bend}, "bend strength", "Network bending: strength against novelty and coherence",
         images / "diverge-bend.png")

    start = clock.perf_counter()
    relative = diverge(model, steps=60, every=60, measure=False)[-1].model
    print(f"\nrelative: the model after 60 steps of divergent fine-tuning ({clock.perf_counter() - start:.1f} s)")
    start = clock.perf_counter()
    independent = grc.train(model.templates, model.config.replace(seed=model.config.seed + 1))
    print(f"independent: the same settings, seed + 1 ({clock.perf_counter() - start:.1f} s)")
    blends = sweep_blend_models(model, relative, independent, coherence)
    table("blend-models W with a fine-tuned relative", blends["relative"])
    table("blend-models W with an independent training", blends["independent"])
    plot({" (relative)": blends["relative"], " (independent)": blends["independent"]}, "model weight W",
         "Model blending: relatives against independent trainings", images / "diverge-blend-models.png")

    rewrites = sweep_rewrite(model, coherence)
    table("rewrite: the tip's middle point dragged up by x (time 0.8, blend 0.5, radius 0.15)", rewrites,
          ("hit", "template_drift", "ms"))
    plot({"": rewrites}, "drag distance", "Rewriting: drag distance against novelty and coherence",
         images / "diverge-rewrite.png")

    start = clock.perf_counter()
    archive, space = search(model, budget=args.budget, seed=0)
    seconds = clock.perf_counter() - start
    novelty = np.array([e["novelty"] for e in archive.elites.values()])
    verdicts = [e["verdict"] for e in archive.elites.values()]
    print(f"\nsearch: {args.budget} shapes in {seconds:.1f} s ({seconds / args.budget * 1e3:.2f} ms a shape); "
          f"{len(archive.elites)} elites, coverage {archive.coverage:.0%}; novelty p10/p50/p90 "
          f"{np.percentile(novelty, 10):.3f}/{np.percentile(novelty, 50):.3f}/{np.percentile(novelty, 90):.3f}; "
          f"coherent {verdicts.count('coherent')}, strained {verdicts.count('strained')}, broken 0 by construction")
    with tempfile.TemporaryDirectory() as folder:
        save_archive(archive, space, folder, args.model, 0, args.budget)
        (images / "search-petal.png").write_bytes((Path(folder) / "archive.png").read_bytes())

    start = clock.perf_counter()
    checkpoints = diverge(model, steps=300, every=30)
    print(f"\ndiverge: 300 steps in {clock.perf_counter() - start:.1f} s")
    print("  step  novelty  broken  strained")
    for c in checkpoints:
        print(f"  {c.step:4d}  {c.novelty:.4f}   {c.broken:.2f}    {c.strained:.2f}")
    from grc.diverge.finetune import plot_checkpoints

    plot_checkpoints([{"step": c.step, "novelty": c.novelty, "broken": c.broken, "strained": c.strained}
                      for c in checkpoints], images / "diverge-finetune.png")


if __name__ == "__main__":
    main()
