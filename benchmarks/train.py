"""Training speed and quality on the petal set: `grc train` end to end, the article's own loop side
by side, the no-context ablation, and other seeds. Prints its numbers; docs/benchmarks.md keeps them.

    python benchmarks/train.py                 # everything (the article's loop takes minutes)
    python benchmarks/train.py --skip-article  # ours only
    python benchmarks/train.py --seeds 1,2 --article-steps 5000   # a quick look
    python benchmarks/train.py --profile       # per phase: FLOPs, GFLOP/s, time outside the matmuls
    python benchmarks/train.py --before HEAD~3 --repeat 5 --skip-article   # phase times against an older commit

`--set KEY=VALUE` passes settings to `grc train` (default: PROPOSED, the defaults issue 14 proposes
for grc/config.py). On a machine shared with other work, compare in one run, as ratios.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grc
from grc.metrics import evaluate

ROOT = Path(__file__).resolve().parents[1]
PETAL = ROOT / "templates" / "petal"
PROPOSED: list[str] = []  # the defaults in grc/config.py (session 11: 150 refine iterations, extrapolated shapes)


def summary(name, seconds, m):
    ex = m["extrapolation"]
    return (f"{name:<28} {seconds:7.1f} s  fit {m['template_fit_rmse']:.4f}  reconstruction {m['reconstruction_rmse']:.4f}"
            f"  interpolation {m['interpolation_error']:.3f}  extrapolation {ex['-0.5']:.2f} / {ex['1.5']:.2f}"
            f"  separation t<=0.1 {max(m['trace_separation']['0'], m['trace_separation']['0.1']):.4f}")


SETTINGS: list[str] = []  # --set KEY=VALUE for every `grc train`
CPU: list[float] = []  # CPU seconds (user + system) of each `grc train` process, in order


def cli_train(out: Path, *args, code: Path = ROOT, settings=None) -> float:
    """Wall time of `grc train templates/petal -o out` as a user runs it (process start to exit), with
    the grc package of `code` (this checkout, or an older commit's)."""
    extra = [a for kv in (SETTINGS if settings is None else settings) for a in ("--set", kv)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from grc.cli import main; sys.exit(main())", "train",
                    str(PETAL), "-o", str(out), "-q", *extra, *args], check=True,
                   env={**os.environ, "PYTHONPATH": str(code)}, cwd=code)  # cwd: `python -c` imports from it first
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)  # the process's CPU seconds
    return wall


def mlp_flops(sizes) -> int:
    """Multiply-adds x 2 of one row's forward pass."""
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def profile(config) -> None:
    """Per phase: wall time, FLOPs in the matrix products (forward + backward ~ 3x the forward), the
    GFLOP/s that makes, the time the same products take alone (replayed with torch.mm), and the rest:
    element-wise work, the optimiser, data generation and Python/dispatch overhead."""
    import torch

    import grc.optim
    import grc.training
    from grc.model import layer_sizes

    templates = grc.load_templates(PETAL)
    K, (T, M, N) = len(templates), templates.grid_shape
    sizes = layer_sizes(config, M, 3 * N)
    evaluations = []
    # the L-BFGS loops: grc.optim's (tensors: the refine) and, since session 9, grc.fit's (numpy: the template fit)
    import importlib.util

    loops = [(m, m.minimize) for m in (grc.optim, importlib.import_module("grc.fit") if
                                       importlib.util.find_spec("grc.fit") else None) if m and hasattr(m, "minimize")]

    def counting(minimize):
        def counted_minimize(evaluate, *args, **kwargs):  # count L-BFGS's evaluations (line search included)
            evaluations.append(0)

            def counted():
                evaluations[-1] += 1
                return evaluate()
            return minimize(counted, *args, **kwargs)
        return counted_minimize

    old_lbfgs = getattr(grc.training, "lbfgs", None)  # before issue 14: lbfgs(params, loss_fn, ...)

    def counting_lbfgs(params, loss_fn, *args, **kwargs):
        evaluations.append(0)

        def counted():
            evaluations[-1] += 1
            return loss_fn()
        return old_lbfgs(params, counted, *args, **kwargs)

    for module, minimize in loops:
        module.minimize = counting(minimize)
    if old_lbfgs:
        grc.training.lbfgs = counting_lbfgs
    torch.set_num_threads(1)
    try:
        model = grc.training.train(templates, config, device="cpu")
    finally:
        for module, minimize in loops:
            module.minimize = minimize
        if old_lbfgs:
            grc.training.lbfgs = old_lbfgs
    seconds = model.info["phase_seconds"]

    def replay(sizes, rows, dtype=torch.float32, copies=1, repeat=20) -> float:
        """Seconds of one forward + backward pass's matrix products alone."""
        xs = [torch.randn(copies, rows, a, dtype=dtype) for a in sizes[:-1]]
        ws = [torch.randn(copies, a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])]
        gs = [torch.randn(copies, rows, b, dtype=dtype) for b in sizes[1:]]

        def once():
            for x, w, g in zip(xs, ws, gs):
                torch.bmm(x, w), torch.bmm(x.transpose(1, 2), g), torch.bmm(g, w.transpose(1, 2))
        once()
        started = time.perf_counter()
        for _ in range(repeat):
            once()
        return (time.perf_counter() - started) / repeat

    t_evals = config.template_steps + (evaluations.pop(0) if config.template_lbfgs_steps else 0)
    r_evals = evaluations.pop(0) if config.refine_steps else 0
    rows = {"templates": K * T * M, "relational": config.batch_size, "refine": config.refine_samples + K * T * M}
    phases = {
        "templates": (t_evals, 3 * mlp_flops(sizes["template"]) * K * T * M,
                      replay(sizes["template"], T * M, torch.float64, K)),
        "relational": (config.steps, 3 * (mlp_flops(sizes["encoder"]) + mlp_flops(sizes["decoder"])) * config.batch_size
                       + mlp_flops(sizes["template"]) * K * config.batch_size,
                       replay(sizes["encoder"], config.batch_size) + replay(sizes["decoder"], config.batch_size)),
        "refine": (r_evals, 3 * mlp_flops(sizes["decoder"]) * rows["refine"], replay(sizes["decoder"], rows["refine"])),
    }
    print(f"{'phase':<11} {'wall s':>6} {'passes':>6} {'rows':>5} {'GFLOP':>6} {'GFLOP/s':>7} {'matmuls alone s':>15} "
          f"{'outside s':>9}")
    for phase, (passes, flops, alone) in phases.items():
        if phase not in seconds:
            continue
        w = seconds[phase]
        print(f"{phase:<11} {w:6.2f} {passes:6d} {rows[phase]:5d} {passes * flops / 1e9:6.1f} {passes * flops / 1e9 / w:7.1f} "
              f"{passes * alone:15.2f} {w - passes * alone:9.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-article", action="store_true")
    parser.add_argument("--seeds", default="1,2,3,4")
    parser.add_argument("--article-steps", type=int, default=100_000)
    parser.add_argument("--set", dest="settings", action="append", help="KEY=VALUE for grc train (default: PROPOSED)")
    parser.add_argument("--profile", action="store_true", help="profile each phase in this process, then stop")
    parser.add_argument("--before", help="a git commit: time its grc train side by side with ours, then stop")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    SETTINGS[:] = PROPOSED if args.settings is None else args.settings
    if args.profile:
        from grc.cli import with_settings
        return profile(with_settings(grc.Config(), SETTINGS))
    if args.before:
        return compare(args.before, args.repeat)
    print(f"machine: {os.cpu_count()} CPUs, torch {__import__('torch').__version__}, "
          f"{__import__('torch').get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "petal.grc"
        walls = sorted(cli_train(out) for _ in range(args.repeat))
        ours = evaluate(grc.load_model(out))
        wall = walls[len(walls) // 2]
        print(summary("grc train (default, seed 0)", wall, ours))
        print(f"  {len(walls)} runs: {', '.join(f'{w:.1f}' for w in walls)} s (median {wall:.1f} s); "
              f"phases {grc.load_model(out).info['phase_seconds']}")
        print(json.dumps({"default_seed0": ours}, indent=None))

        wall0 = cli_train(out, "--context-dims", "0")
        ablation = evaluate(grc.load_model(out))
        print(summary("no context (C = 0)", wall0, ablation))
        print(f"no-context reconstruction / with context: {ablation['reconstruction_rmse'] / ours['reconstruction_rmse']:.1f}x")

        for seed in [int(s) for s in args.seeds.split(",") if s]:
            wall_s = cli_train(out, "--seed", str(seed))
            print(summary(f"grc train --seed {seed}", wall_s, evaluate(grc.load_model(out))))

        if not args.skip_article:
            import torch
            from article_loop import run

            torch.set_num_threads(1)  # its fastest setting too: one sample per step
            # side by side: one `grc train` after every tenth of the loop, under the same machine load
            beside, beside_cpu = [], []

            def pause():
                beside.append(cli_train(out))
                beside_cpu.append(CPU[-1])

            cpu = time.process_time()
            total, loop, article = run(args.article_steps, pause=pause, every=max(1, args.article_steps // 10))
            cpu = time.process_time() - cpu  # this process's CPU: template models, the loop, its evaluation
            beside.sort()
            wall = beside[len(beside) // 2] if beside else wall
            print(summary(f"article ({args.article_steps} steps)", total, article))
            print(f"  of which template models {total - loop:.1f} s, loop {loop:.1f} s "
                  f"({loop / args.article_steps * 1e3:.2f} ms per step)")
            print(f"  grc train between its tenths: {', '.join(f'{w:.1f}' for w in beside)} s (median {wall:.1f} s)")
            print(f"speed-up, whole grc train against the article's loop alone: {loop / wall:.1f}x; "
                  f"against template models + loop: {total / wall:.1f}x")
            if beside_cpu:  # CPU seconds: less swayed by other work on the machine than wall seconds
                middle = sorted(beside_cpu)[len(beside_cpu) // 2]
                print(f"  CPU: article (template models + loop) {cpu:.1f} s, grc train between its tenths median "
                      f"{middle:.1f} s (whole process): {cpu / middle:.1f}x")
            print(json.dumps({"article": article}, indent=None))


def compare(ref: str, repeat: int) -> None:
    """`grc train` of commit `ref` (its own defaults) and ours, taking turns, `repeat` times each."""
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "grc"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        out = Path(tmp) / "petal.grc"
        rows = {"before": [], "after": []}
        for _ in range(repeat):
            for name, code, settings in (("before", old, []), ("after", ROOT, None)):
                wall = cli_train(out, code=code, settings=settings)
                model = grc.load_model(out)
                phases = model.info["phase_seconds"]
                rows[name].append((wall, phases, CPU[-1]))
                print(summary(f"{name} ({ref if name == 'before' else 'this checkout'})", wall, evaluate(model)),
                      "  phases", " ".join(f"{k} {v:.2f}" for k, v in phases.items()), f" cpu {CPU[-1]:.2f}", flush=True)
        for key in ("wall", "cpu", "templates", "relational", "refine", "phases", "outside"):
            def value(r):  # "outside": the wall outside the training phases (process start, imports, saving, exit)
                if key == "outside":
                    return r[0] - sum(r[1].values())
                if key == "cpu":  # the process's CPU seconds
                    return r[2]
                return r[0] if key == "wall" else sum(r[1].values()) if key == "phases" else r[1].get(key, 0.0)
            ratios = sorted(value(b) / max(value(a), 1e-9) for b, a in zip(rows["before"], rows["after"]))
            print(f"{key:<11} before / after: median {ratios[len(ratios) // 2]:.2f}x "
                  f"(runs: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
