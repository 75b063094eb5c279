"""The cost of mending template models between their time steps (grc.fit.mend_between) against the template fit,
on a bundled set subdivided to bigger grids (grc.mesh.subdivide_values), CPU seconds of this process.

    python benchmarks/mend_cost.py --set leaf --levels 0,1,2 --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import grc
from grc import fit
from grc.mesh import subdivide_values
from grc.model import layer_sizes
from grc.templates import Template, TemplateSet

ROOT = Path(__file__).resolve().parents[1]


def subdivided(templates: TemplateSet, level: int) -> TemplateSet:
    out = []
    for t in templates:
        points = np.stack([subdivide_values(t.points[i], level) for i in range(len(t.time))])
        out.append(Template(t.name, t.time, np.linspace(t.morph[0], t.morph[-1], points.shape[1]), points))
    return TemplateSet(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="leaf")
    parser.add_argument("--levels", default="0,1,2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    base = grc.load_templates(ROOT / "templates" / args.set)
    for level in (int(v) for v in args.levels.split(",")):
        templates = subdivided(base, level)
        config = grc.Config(seed=args.seed).for_templates(len(templates))
        d = fit.normalization(templates, config)
        _, M, N = templates.grid_shape
        sizes = layer_sizes(config, M, 3 * N)["template"]
        start = time.process_time()
        params, loss = fit.fit_template_models(d["grid_u"], d["grid_rows"], sizes, config)
        fitted = time.process_time()
        before = fit.broken_between(params, templates, config)
        mended, _ = fit.mend_between(d["grid_u"], d["grid_rows"], sizes, config, params, loss, templates)
        done = time.process_time()
        after = fit.broken_between(mended, templates, config)
        print(f"{args.set} {M} x {N}: fit {fitted - start:.2f} s, mend {done - fitted:.2f} s (its checks included), "
              f"broken template models {before.astype(int).tolist()} -> {after.astype(int).tolist()}", flush=True)


if __name__ == "__main__":
    main()
