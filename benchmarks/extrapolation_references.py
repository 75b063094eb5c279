"""Issue 11, section 3: how far can the templates themselves be extrapolated without breaking? Before a
model is trained towards a target beyond the templates, measure the target: per set, over the inner time
steps x blends -1..3 (step 0.25; along each template's direction for three or more templates), the broken
shapes in [-1, 2] and [-1, 3], the stretch max at blend 2 against linear shape keys' (the section asks for
at most half), and where a blend of 1.5 and -0.5 lands along B - A (the engine's extrapolation measure,
grc.metrics.projection: at least 1.3 and at most -0.3), for

- linear shape keys (what a Blender user has);
- shape space (grc.shapespace: rotations and stretches of every triangle blended in log space);
- shape space with damped stretch (grc.training.space_blend): rotations and the centroid blended as they
  are, stretches at x / (1 + damping x) of their reach x beyond the templates;
- shape space damped as a whole (the same, rotations too: the blend itself pulled in).

    python benchmarks/extrapolation_references.py [--sets petal,sprout,leaf,cdt] [--damping 0.25,0.5,0.75,1]
        [--all-points]

The shape-space blends keep the points every template shares where they are, as training does
(grc.shapespace.shared_points); --all-points blends the centroid of all points instead (before session 15).
"""

import argparse
import sys
import types
from itertools import combinations
from pathlib import Path

import numpy as np

from grc.coherence import Coherence, shape_keys
from grc.metrics import inner_time_steps
from grc.shapespace import shared_points, template_space
from grc.training import damped, space_blend

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extrapolation_study import breakage, templates  # noqa: E402


def reach(ts, shapes, time, alpha):
    """Where the blend `alpha` between each pair of templates lands along their difference, as
    grc.metrics.projection measures a model: the least far of the pairs beyond 1, the farthest below 0."""
    K = len(ts)
    grids = np.stack([shape_keys(ts, time, np.eye(K)[k]) for k in range(K)])
    out = []
    for a, b in combinations(range(K), 2):
        w = np.zeros(K)
        w[a], w[b] = 1 - alpha, alpha
        d = (grids[b] - grids[a]).ravel()
        out.append(float((shapes(time, w[None])[0] - grids[a]).ravel() @ d / (d @ d)))
    return min(out) if alpha > 1 else max(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="petal,sprout,leaf,cdt")
    parser.add_argument("--damping", default="0.25,0.5,0.75,1")
    parser.add_argument("--all-points", action="store_true", help="pin the centroid of all points, not the shared")
    args = parser.parse_args()
    for name in args.sets.split(","):
        ts = templates(name)
        K = len(ts)
        space = template_space(ts, not args.all_points)
        grids = {}

        def template_grids(t):
            if t not in grids:
                grids[t] = np.stack([shape_keys(ts, t, np.eye(K)[k]) for k in range(K)])
            return grids[t]

        methods = {"shape keys": lambda t, w: shape_keys(ts, t, w),
                   "shape space": lambda t, w: space.blend(template_grids(t), w)}
        for d in (float(v) for v in args.damping.split(",")):
            methods[f"damped stretch {d:g}"] = lambda t, w, d=d: space_blend(space, template_grids(t), w, d)
        for d in (float(v) for v in args.damping.split(",")):
            methods[f"damped blend {d:g}"] = lambda t, w, d=d: space.blend(template_grids(t), damped(np.atleast_2d(w), d))
        coherence = Coherence(ts, 2)
        owner = types.SimpleNamespace(templates=ts)
        times = [ts.time[i] for i in inner_time_steps(owner)]
        print(f"== {name}: {K} templates, grid {ts.grid_shape}, inner times {[float(t) for t in times]}, "
              f"shared points kept: {0 if args.all_points else int(shared_points(ts.points).sum())}")
        keys = None
        for label, shapes in methods.items():
            b = breakage(owner, shapes, coherence)
            keys = keys or b
            high = min(reach(ts, shapes, t, 1.5) for t in times)
            low = max(reach(ts, shapes, t, -0.5) for t in times)
            print(f"  {label:20s} broken [-1, 2] {b['broken2']:3d} / {b['of2']}  [-1, 3] {b['broken3']:3d} / {b['of3']}"
                  f"  stretch at 2 {b['stretch2']:.2f} ({b['stretch2'] / keys['stretch2']:.2f} x shape keys')"
                  f"  reach at 1.5 {high:.2f}, at -0.5 {low:.2f}", flush=True)


if __name__ == "__main__":
    main()
