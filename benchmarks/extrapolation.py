"""Extrapolation beyond the templates, the model side by side with linear shape keys (what a Blender
user has today): broken shapes over inner times x blends, the safe blend range per time step, stretch
and bending far out, and the cost of the live verdict. docs/coherence.md keeps the figures.

    python benchmarks/extrapolation.py                     # petal from meshes/petal.grc, leaf and sprout trained
    python benchmarks/extrapolation.py --train-petal       # train the petal too (default settings, seed 0)
    python benchmarks/extrapolation.py --sets petal --repeats 1000
    python benchmarks/extrapolation.py --live-only          # only the cost of the live verdict and check
    git show main:grc/coherence.py > /tmp/coherence_before.py
    python benchmarks/extrapolation.py --live-only --against /tmp/coherence_before.py   # ... beside an older one
    python benchmarks/extrapolation.py --live-only --sweep --against /tmp/coherence_before.py
                                                           # ... over every shape of a dense sweep (live_sweep)
    python benchmarks/extrapolation.py --sets cdt            # cup / droop / twist (benchmarks/extrapolation_sets.py)
    python benchmarks/extrapolation.py --extrapolations 64  # the model trained with refine_extrapolations=64
                                                           # (issue 11), beside the old model (meshes/petal.grc,
                                                           # or trained with the defaults) and the templates
                                                           # blended in shape space (grc.shapespace)

Two templates: blend α from -1 to 3 in steps of 0.25. Three or more: along each template's direction
(grc.coherence.direction_weights, s from -1 to 3: 0 = the templates' mean, 1 = that template).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import grc
from grc.coherence import (Coherence, blend_weights, direction_weights, model_shapes, safe_blend_ranges,
                           shape_keys)
from grc.metrics import inner_time_steps
from grc.shapespace import template_space

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from extrapolation_sets import cup_droop_twist  # noqa: E402  (the set "cdt": cup, droop and twist variants)
BLENDS = np.round(np.arange(-1, 3.001, 0.25), 10)
FAR = (-1.0, 1.5, 2.0, 3.0)


def directions(model):
    """(label, weights for each blend value) for every line the set is measured along."""
    K = len(model.templates)
    if K == 2:
        return [("", lambda v: blend_weights(2, np.asarray(v, float)))]
    return [(f"{name}: ", lambda v, k=k: direction_weights(K, k, np.atleast_1d(v))) for k, name in enumerate(model.names)]


def measure(model, coherence, makers):
    """For each maker (name -> shapes(time, weights)): broken count, stretch/bend at FAR, safe ranges."""
    times = [model.templates.time[i] for i in inner_time_steps(model)]
    out = {}
    inside = BLENDS <= 2 + 1e-9
    for name, shapes in makers.items():
        broken, total = 0, 0
        counts = np.zeros((2, 2), int)  # [slivers not counted, counted (the code before session 10)] x [-1..2, -1..3]
        far = {b: [] for b in FAR}
        for t in times:
            for _, weights in directions(model):
                grids = shapes(t, weights(BLENDS))
                b = coherence.broken(grids)
                broken, total = broken + int(b.sum()), total + len(b)
                share, grc.coherence.SLIVER_AREA = grc.coherence.SLIVER_AREA, 0.0
                try:
                    counted = coherence.broken(grids)
                finally:
                    grc.coherence.SLIVER_AREA = share
                counts += [[int(b[inside].sum()), int(b.sum())], [int(counted[inside].sum()), int(counted.sum())]]
                for v in FAR:
                    check = coherence.check(shapes(t, weights([v]))[0], t)
                    far[v].append((check.stretch_max, check.stretch_mean, check.bend_rms, check.verdict))
        ranges = safe_blend_ranges(model, coherence, shapes=shapes)
        out[name] = dict(broken=broken, total=total, far=far, ranges=ranges, counts=counts,
                         inside=int(inside.sum()) * total // len(BLENDS))
    return times, out


LIVE_BLENDS = (-1.0, -0.5, 0.5)  # at every inner time: curled shapes (not height fields) and a plain one
LIVE_FAR = (1.5, 3.0)  # at the middle inner time: usually broken (a fold answers first)


def live_cost(model, coherence, repeats, before=None):
    """p50 / p95 milliseconds of the live verdict (Coherence.verdict), its CPU time (less disturbed by other
    processes on a shared machine), the full live check (Coherence.check: counts, measures, broken quads)
    and making the shape (model.shape): at every inner time for LIVE_BLENDS, at the middle one for LIVE_FAR
    (along template 0's direction for three or more templates). `before`: another Coherence (an older
    grc/coherence.py, --against) timed call for call alternately with this one: its verdict's p50 and CPU p50."""
    steps = inner_time_steps(model)
    times = [float(model.templates.time[i]) for i in steps]
    middle = times[len(times) // 2]
    K = len(model.templates)
    rows = []
    for t, v in [(t, v) for t in times for v in LIVE_BLENDS] + [(middle, v) for v in LIVE_FAR]:
        w = blend_weights(2, v) if K == 2 else direction_weights(K, 0, [v])[0]
        grid = model.shape(t, w)
        coherence.check(grid, t)  # the reference at t is cached after the first call, as in the app
        check_ms, cpu_ms, verdict_ms, shape_ms, before_ms, before_cpu = [], [], [], [], [], []
        if before is not None:  # its verdict may differ (session 10: slivers no longer break a shape): printed
            before.check(grid, t)
        for _ in range(repeats):
            if before is not None:
                started, cpu = time.perf_counter(), time.process_time()
                before.verdict(grid, t)
                before_ms.append(1e3 * (time.perf_counter() - started))
                before_cpu.append(1e3 * (time.process_time() - cpu))
            started, cpu = time.perf_counter(), time.process_time()
            coherence.verdict(grid, t)
            verdict_ms.append(1e3 * (time.perf_counter() - started))
            cpu_ms.append(1e3 * (time.process_time() - cpu))
            started = time.perf_counter()
            coherence.check(grid, t)
            check_ms.append(1e3 * (time.perf_counter() - started))
            started = time.perf_counter()
            model.shape(t, w)
            shape_ms.append(1e3 * (time.perf_counter() - started))
        rows.append((t, v, coherence.verdict(grid, t), np.percentile(verdict_ms, 50), np.percentile(verdict_ms, 95),
                     np.percentile(cpu_ms, 50), np.percentile(check_ms, 50), np.percentile(check_ms, 95),
                     np.percentile(shape_ms, 50),
                     (np.percentile(before_ms, 50), np.percentile(before_cpu, 50), before.verdict(grid, t))
                     if before is not None else None))
    return rows


SWEEP_BLENDS = np.round(np.arange(-1, 2.001, 0.25), 10)


def live_sweep(model, coherence, repeats, before=None):
    """The live verdict over a dense sweep: every inner time step and midway between them, along each line
    (`directions`), blends -1..2 in steps of 0.25, each shape timed `repeats` times (CPU p50), alternately
    with `before` where given. Prints, for the shapes that are not broken, how many take over 1.5 and 2 ms,
    the 90th percentile and the worst, and the broken ones' worst."""
    steps = [model.templates.time[i] for i in inner_time_steps(model)]
    times = sorted(set(steps) | {(a + b) / 2 for a, b in zip(steps, steps[1:])})
    rows = []
    for t in times:
        for _, weights in directions(model):
            for grid in model_shapes(model, t, weights(SWEEP_BLENDS)):
                verdict = coherence.verdict(grid, t)
                if before is not None:
                    before.check(grid, t)
                ms, old = [], []
                for _ in range(repeats):
                    if before is not None:
                        cpu = time.process_time()
                        before.verdict(grid, t)
                        old.append(1e3 * (time.process_time() - cpu))
                    cpu = time.process_time()
                    coherence.verdict(grid, t)
                    ms.append(1e3 * (time.process_time() - cpu))
                rows.append((verdict, np.percentile(ms, 50), np.percentile(old, 50) if old else np.nan))
    whole = np.array([r[0] != "broken" for r in rows])
    print(f"live verdict over a sweep: {len(rows)} shapes (times {[float(f'{t:g}') for t in times]} x each line x "
          f"blends -1..2 step 0.25), {repeats} runs each, CPU p50 per shape:")
    for label, column in [("this code", 1)] + ([("before", 2)] if before is not None else []):
        ms = np.array([r[column] for r in rows])
        w, b = ms[whole], ms[~whole]
        print(f"  {label:<9} not broken ({len(w)}): over 1.5 ms {int((w > 1.5).sum())}, over 2 ms {int((w > 2).sum())}, "
              f"p50 {np.median(w):.2f}, p90 {np.percentile(w, 90):.2f}, worst {w.max():.2f} ms"
              + (f"; broken ({len(b)}): worst {b.max():.2f} ms" if len(b) else ""))


def older_coherence(path, model):
    """A Coherence for `model` from another copy of grc/coherence.py (e.g. `git show main:grc/coherence.py`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("grc._coherence_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its relative imports resolve inside the grc package
    spec.loader.exec_module(module)
    return module.Coherence.for_model(model, subdivide=2)


def load(name, train_petal, **settings):
    if name == "petal" and not train_petal:
        return grc.load_model(ROOT / "meshes" / "petal.grc"), "meshes/petal.grc"
    started = time.perf_counter()
    templates = cup_droop_twist() if name == "cdt" else grc.load_templates(ROOT / "templates" / name)
    model = grc.train(templates, grc.Config(seed=0, **settings), device="cpu")
    which = ", ".join(f"{k}={v}" for k, v in settings.items()) or "default settings"
    return model, f"trained ({which}, seed 0) in {time.perf_counter() - started:.0f} s"


def live(model, coherence, repeats, against=None, sweep=False):
    """Print the cost of the live verdict and check (live_cost), beside an older coherence.py's verdict;
    with `sweep`, over a dense sweep of shapes instead (live_sweep)."""
    before = older_coherence(against, model) if against else None
    if sweep:
        return live_sweep(model, coherence, repeats, before)
    load = os.getloadavg()[0]
    rows = live_cost(model, coherence, repeats, before)
    print(f"live verdict at subdivision 2 (surface {coherence.surface_size}), {repeats} runs each, load average "
          f"{load:.1f} to {os.getloadavg()[0]:.1f}:")
    for t, v, verdict, p50, p95, cpu50, check50, check95, shape50, old in rows:
        print(f"  t={t:<4g} blend {v:<4g} ({verdict:<8}) verdict p50 {p50:.2f} ms  p95 {p95:.2f} ms"
              f"  (CPU p50 {cpu50:.2f} ms)   check p50 {check50:.2f} ms  p95 {check95:.2f} ms   model.shape p50 {shape50:.2f} ms"
              + (f"   | {against}: verdict p50 {old[0]:.2f} ms (CPU {old[1]:.2f} ms)"
                 + (f" says {old[2]}" if old[2] != verdict else "") if old else ""))
    whole = [r for r in rows if r[2] != "broken"]
    if whole:
        print(f"  shapes not broken: verdict p50 at most {max(r[3] for r in whole):.2f} ms, "
              f"check p50 at most {max(r[6] for r in whole):.2f} ms")


def fmt_range(r):
    if r is None:
        return "broken inside"
    if isinstance(r, dict):
        return "; ".join(f"{k} {fmt_range(v)}" for k, v in r.items())
    return f"[{r[0]:g}, {r[1]:g}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="petal,leaf,sprout")
    parser.add_argument("--train-petal", action="store_true")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--live-only", action="store_true", help="only the cost of the live verdict")
    parser.add_argument("--sweep", action="store_true",
                        help="with --live-only: time the verdict over a dense sweep of shapes (--repeats each, say 21)")
    parser.add_argument("--against", default=None, metavar="COHERENCE_PY",
                        help="time this older copy of grc/coherence.py's verdict alternately with the current one")
    parser.add_argument("--extrapolations", type=int, default=None,
                        help="train the model with refine_extrapolations=N, beside the old model and shape-space blends")
    args = parser.parse_args()
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = [f for f in ("avx512f", "avx2") if f" {f} " in cpuinfo]
    print(f"machine: {os.cpu_count()} CPUs ({', '.join(flags) or 'no AVX2/AVX-512'}), numpy {np.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} (timings grow with it)")
    for name in args.sets.split(","):
        new = {} if args.extrapolations is None else {"refine_extrapolations": args.extrapolations}
        model, source = load(name, args.train_petal or bool(new), **new)
        coherence = Coherence.for_model(model, subdivide=2)
        print(f"\n== {name}: {len(model.templates)} templates, grid {model.grid_shape}, model {source}")
        makers = {"model": lambda t, w: model_shapes(model, t, w),
                  "shape keys": lambda t, w: shape_keys(model.templates, t, w)}
        if new:
            old, old_source = load(name, False)
            print(f"   old model: {old_source}")
            space = template_space(model.templates, model.config.refine_extrapolation_shared)  # as training does
            makers = {"model": makers["model"], "old model": lambda t, w: model_shapes(old, t, w),
                      "shape keys": makers["shape keys"],
                      "shape space": lambda t, w: space.blend(shape_keys(model.templates, t, np.eye(len(w[0]))), w)}
        if args.live_only:
            live(model, coherence, args.repeats, args.against, args.sweep)
            continue
        started = time.perf_counter()
        times, results = measure(model, coherence, makers)
        lines = "blend" if len(model.templates) == 2 else "each template's direction, s"
        print(f"broken shapes, inner times {[float(f'{t:g}') for t in times]} x {lines} -1..3 step 0.25:")
        for maker, r in results.items():
            (a2, a3), (b2, b3) = r["counts"]
            print(f"  {maker:<11} {r['broken']:4d} / {r['total']}   (in -1..2: {a2} / {r['inside']}; with slivers counted,"
                  f" as before session 10: {b3} / {r['total']}, in -1..2: {b2})")
        print("safe blend range per time step (steps of 0.05, search to -3 and 4):")
        for maker, r in results.items():
            for t, value in r["ranges"].items():
                print(f"  {maker:<11} t={t:<5} {fmt_range(value)}")
        print("far out, mean over inner times (and directions): stretch max |log ratio| (mean), bend RMS deg; broken/strained")
        for maker, r in results.items():
            cells = []
            for v in FAR:
                rows = r["far"][v]
                smax, smean, bend = (np.mean([x[i] for x in rows]) for i in range(3))
                verdicts = [x[3] for x in rows]
                cells.append(f"{v:g}: {smax:.2f} ({smean:.3f}), {bend:.1f}; {verdicts.count('broken')}b/"
                             f"{verdicts.count('strained')}s of {len(rows)}")
            print(f"  {maker:<11} " + " | ".join(cells))
        print(f"  (measured in {time.perf_counter() - started:.1f} s)")
        live(model, coherence, args.repeats, args.against)
        started = time.perf_counter()
        grc.evaluate(model)
        print(f"grc evaluate (with safe_blend_range): {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
