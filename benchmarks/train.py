"""Training speed and quality on the petal set: `grc train` end to end, the article's own loop side
by side, the no-context ablation, and other seeds. Prints its numbers; docs/benchmarks.md keeps them.

    python benchmarks/train.py                 # everything (the article's loop takes minutes)
    python benchmarks/train.py --skip-article  # ours only
    python benchmarks/train.py --seeds 1,2 --article-steps 5000   # a quick look
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grc
from grc.metrics import evaluate

ROOT = Path(__file__).resolve().parents[1]
PETAL = ROOT / "templates" / "petal"


def summary(name, seconds, m):
    ex = m["extrapolation"]
    return (f"{name:<28} {seconds:7.1f} s  fit {m['template_fit_rmse']:.4f}  reconstruction {m['reconstruction_rmse']:.4f}"
            f"  interpolation {m['interpolation_error']:.3f}  extrapolation {ex['-0.5']:.2f} / {ex['1.5']:.2f}"
            f"  separation t<=0.1 {max(m['trace_separation']['0'], m['trace_separation']['0.1']):.4f}")


def cli_train(out: Path, *args) -> float:
    """Wall time of `grc train templates/petal -o out` as a user runs it (process start to exit)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from grc.cli import main; sys.exit(main())", "train",
                    str(PETAL), "-o", str(out), "-q", *args], check=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-article", action="store_true")
    parser.add_argument("--seeds", default="1,2,3,4")
    parser.add_argument("--article-steps", type=int, default=100_000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, torch {__import__('torch').__version__}, "
          f"{__import__('torch').get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "petal.grc"
        walls = sorted(cli_train(out) for _ in range(3))
        wall = walls[1]  # the median of three runs
        ours = evaluate(grc.load_model(out))
        print(summary("grc train (default, seed 0)", wall, ours))
        print(f"  three runs: {', '.join(f'{w:.1f}' for w in walls)} s (median {wall:.1f} s)")
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
            total, loop, article = run(args.article_steps)
            print(summary(f"article ({args.article_steps} steps)", total, article))
            print(f"  of which template models {total - loop:.1f} s, loop {loop:.1f} s "
                  f"({loop / args.article_steps * 1e3:.2f} ms per step)")
            print(f"speed-up, whole grc train against the article's loop alone: {loop / wall:.1f}x; "
                  f"against template models + loop: {total / wall:.1f}x")
            print(json.dumps({"article": article}, indent=None))


if __name__ == "__main__":
    main()
