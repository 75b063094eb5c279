"""Issue 11, section 3: train with given settings on given sets and seeds and print, per training, what
the section's targets ask: the inner times whose safe blend range (steps of 0.05) does not cover [-1, 2], broken shapes (model and linear shape keys) over inner times x blends in
[-1, 2] and [-1, 3] (step 0.25; for three or more templates along each template's direction), the same in
[-1, 2] midway between inner time steps ("midway": where only the template models say what a shape is), stretch
max at blend 2 against shape keys', the engine targets (grc evaluate: fit, reconstruction,
interpolation, extrapolation at -0.5 / 1.5) and the CPU seconds of grc.train.

    python benchmarks/extrapolation_study.py --sets petal,sprout --seeds 0,1 --set refine_extrapolations=64
    python benchmarks/extrapolation_study.py --sets cdt ...   # cup / droop / twist (extrapolation_sets.py)
    python benchmarks/extrapolation_study.py --sets cdt:base+twist,cdt:cup+droop ...   # two of them
    python benchmarks/extrapolation_study.py --sets /tmp/bv/base+cup ...   # a folder (benchmarks/blender_variants.py)

--pairs: old (defaults plus --old settings) and new (--set) trained in alternating pairs, for the
training time ratio (CPU time: fairer than wall time on a shared machine). --json FILE keeps the rows.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import grc
from grc.coherence import Coherence, blend_weights, direction_weights, model_shapes, safe_blend_ranges, shape_keys
from grc.metrics import evaluate, inner_time_steps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extrapolation_sets import cup_droop_twist, rolled_shell  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BLENDS = np.round(np.arange(-1, 3.001, 0.25), 10)
TARGETS = {"fit": 0.003, "reconstruction": 0.01, "interpolation": 0.05, "low": -0.3, "high": 1.3}


def templates(name):
    """A bundled set's name, "cdt" (cup, droop, twist) or "cdt:" and some of base, cup, droop, twist
    joined by "+" (e.g. cdt:base+twist, a two-template set), "shell" (tube, narrow, side) or "shell:" and some of
    tube, narrow, side, flare (extrapolation_sets.py), or a template set's folder."""
    if Path(name).is_dir():
        return grc.load_templates(name)
    made, _, names = name.partition(":")
    if made in ("cdt", "shell"):
        make = cup_droop_twist if made == "cdt" else rolled_shell
        return make(names.split("+")) if names else make()
    return grc.load_templates(ROOT / "templates" / name)


def lines(K):
    if K == 2:
        return [lambda v: blend_weights(2, np.asarray(v, float))]
    return [lambda v, k=k: direction_weights(K, k, np.atleast_1d(v)) for k in range(K)]


def midway(model):
    """The times midway between neighbouring inner time steps."""
    t = model.templates.time[inner_time_steps(model)]
    return (t[1:] + t[:-1]) / 2


def breakage(model, shapes, coherence, times=None):
    """Broken counts in [-1, 2] and [-1, 3], and stretch max at blend 2 (mean over times and lines), at the
    inner time steps or at `times`."""
    inside = BLENDS <= 2 + 1e-9
    b2 = b3 = n2 = n3 = 0
    stretch = []
    where = []
    for t in (model.templates.time[inner_time_steps(model)] if times is None else times):
        for li, weights in enumerate(lines(len(model.templates))):
            broken = coherence.broken(shapes(t, weights(BLENDS)))
            b2, n2 = b2 + int(broken[inside].sum()), n2 + int(inside.sum())
            b3, n3 = b3 + int(broken.sum()), n3 + len(broken)
            where += [(float(t), li, float(v)) for v in BLENDS[broken & inside]]
            stretch.append(coherence.check(shapes(t, weights([2.0]))[0], t).stretch_max)
    return dict(broken2=b2, of2=n2, broken3=b3, of3=n3, stretch2=float(np.mean(stretch)), where=where)


def run(name, seed, settings):
    ts = templates(name)
    config = grc.Config(seed=seed, **settings)
    cpu = time.process_time()
    model = grc.train(ts, config, device="cpu")
    cpu = time.process_time() - cpu
    coherence = Coherence.for_model(model, subdivide=2)
    m = breakage(model, lambda t, w: model_shapes(model, t, w), coherence)
    k = breakage(model, lambda t, w: shape_keys(model.templates, t, w), coherence)
    m["mid"] = breakage(model, lambda t, w: model_shapes(model, t, w), coherence, midway(model))
    k["mid"] = breakage(model, lambda t, w: shape_keys(model.templates, t, w), coherence, midway(model))
    e = evaluate(model, safe_range=False)
    # the inner times where some blend in [-1, 2] (steps of 0.05) is broken: the safe range does not cover it
    short = []
    for t, r in safe_blend_ranges(model, coherence).items():
        for line, span in (r.items() if isinstance(r, dict) else [("", r)]):
            low, high = span or (1, 0)  # None: broken between the templates already
            if low > -1 or high < 2:
                short.append(f"{t}{':' + line if line else ''} " + (f"[{low:g}, {high:g}]" if span else "broken inside"))
    row = dict(set=name, seed=seed, settings=settings, cpu=cpu, model=m, keys=k,
               fit=e["template_fit_rmse"], reconstruction=e["reconstruction_rmse"],
               interpolation=e["interpolation_error"], low=e["extrapolation"]["-0.5"],
               high=e["extrapolation"]["1.5"], losses=model.info.get("losses"),
               phases=model.info.get("phase_seconds"), short=short)
    miss = [k for k in ("fit", "reconstruction", "interpolation") if not row[k] <= TARGETS[k]]
    miss += ["low"] if not row["low"] <= TARGETS["low"] else []
    miss += ["high"] if not row["high"] >= TARGETS["high"] else []
    row["miss"] = miss
    return row, model


def show(row):
    m, k = row["model"], row["keys"]
    return (f"{row['set']:<6} seed {row['seed']}  broken[-1,2] {m['broken2']:3d}/{m['of2']} (keys {k['broken2']})"
            f"  [-1,3] {m['broken3']:3d}/{m['of3']} (keys {k['broken3']})"
            f"  midway {m['mid']['broken2']:3d}/{m['mid']['of2']} (keys {k['mid']['broken2']})"
            f"  stretch@2 {m['stretch2']:.2f} (keys {k['stretch2']:.2f})"
            f"  rec {row['reconstruction']:.4f} int {row['interpolation']:.3f} ext {row['low']:.2f}/{row['high']:.2f}"
            f"  cpu {row['cpu']:.1f}s  miss {','.join(row['miss']) or '-'}"
            f"  safe range short of [-1, 2]: {len(row['short'])} {' '.join(row['short'])}")


def parse(values):
    out = {}
    for item in values or []:
        key, value = item.split("=", 1)
        default = getattr(grc.Config, key)
        if default is None:  # context_dims: a count, or "none" (decided by the number of templates)
            out[key] = None if value.lower() == "none" else int(value)
        else:
            out[key] = type(default)(value) if not isinstance(default, bool) else value.lower() in ("1", "true")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="petal")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--set", action="append", help="KEY=VALUE: a training setting (the new one)")
    parser.add_argument("--old", action="append", help="KEY=VALUE: the old one's settings (with --pairs)")
    parser.add_argument("--pairs", action="store_true", help="also train the old settings, alternating")
    parser.add_argument("--where", action="store_true", help="print where the model breaks")
    parser.add_argument("--save", help="save the first model here")
    parser.add_argument("--json")
    args = parser.parse_args()
    new, old = parse(args.set), parse(args.old)
    rows = []
    for name in args.sets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for label, settings in ((("old", old), ("new", new)) if args.pairs else (("new", new),)):
                row, model = run(name, seed, settings)
                row["label"] = label
                rows.append(row)
                print(f"{label} " + show(row), flush=True)
                if args.where:
                    print("    broken at (t, line, blend):", row["model"]["where"], flush=True)
                if args.save and len(rows) == 1:
                    model.save(args.save)
    if args.pairs:
        ratios = [b["cpu"] / a["cpu"] for a, b in zip(rows[::2], rows[1::2])]
        print("CPU time ratio new / old per pair:", " ".join(f"{r:.2f}" for r in ratios),
              f"median {np.median(ratios):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
