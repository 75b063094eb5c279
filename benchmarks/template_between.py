"""Template models between their time steps (issue 11, docs/coherence.md part 9): train the template models of a
set on given seeds with the given `template_between` weights (the rest of training cut short: it does not change
them), and count the
(template, time) pairs, at `--times` evenly spaced times, whose template model grid is broken (grc.coherence:
crosses itself or folds) where the linear interpolation of the template in time (Blender's shape keys) is not.

    python benchmarks/template_between.py --sets leaf,petal,sprout --seeds 0,1,2,3,4,5,6,7,8,9 --weights 0,0.05
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import grc
from grc.coherence import Coherence, shape_keys

ROOT = Path(__file__).resolve().parents[1]


def count(templates, coherence, seed: int, weight: float, times: np.ndarray) -> int:
    config = grc.Config(seed=seed, steps=10, refine_steps=0, template_between=weight)
    model = grc.train(templates, config, device="cpu")
    K, M = len(templates), len(templates.morph)
    own = model.template_rows(np.repeat(times, M)[None], np.tile(templates.morph, len(times))[None])
    broken = 0
    for k in range(K):
        keys = np.stack([shape_keys(templates, t, np.eye(K)[k]) for t in times])
        broken += int((coherence.broken(own[k].reshape(len(times), M, -1, 3)) & ~coherence.broken(keys)).sum())
    return broken


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="leaf")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--weights", default="0,0.05", help="template_between values, compared side by side")
    parser.add_argument("--times", type=int, default=111)
    args = parser.parse_args()
    for name in args.sets.split(","):
        templates = grc.load_templates(ROOT / "templates" / name)
        coherence = Coherence(templates)
        times = np.linspace(templates.time[0], templates.time[-1], args.times)
        for weight in (float(w) for w in args.weights.split(",")):
            counts = [count(templates, coherence, int(s), weight, times) for s in args.seeds.split(",")]
            print(f"{name:<7} template_between {weight:<5g} broken (template, time) per seed {counts}: "
                  f"{sum(counts)} of {len(templates) * len(times) * len(counts)}, {sum(c > 0 for c in counts)} seeds",
                  flush=True)


if __name__ == "__main__":
    main()
