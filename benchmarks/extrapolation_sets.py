"""Procedural template sets for the extrapolation study (issue 11, section 3).

`cup_droop_twist()`: three variants of the bundled petal's template A, as an artist would make them in
Blender with a few modifiers: "cup" (each row bent up about its middle), "droop" (the petal bent down
about its base, more towards the tip) and "twist" (each row turned about the petal's length). Each
effect grows with time and towards the tip, so the three agree at time 0 and part towards time 1.
Numpy only, deterministic: re-run it to get the same set.

`rolled_shell()`: a strip rolling up over time, more towards its tip, in three (or four) ways: "tube" (rolled
evenly), "narrow" (rolled and narrowing to its tip), "side" (rolled less, drifting sideways) and "flare" (rolled
more, widening). Made in session 22 as data no training setting was tuned on; unlike every set before it, its
linear blends beyond the templates (shape keys') cross themselves (6 of 117 in [-1, 2]).

    python benchmarks/extrapolation_sets.py OUT_FOLDER          # writes cup / droop / twist as template files
    python benchmarks/extrapolation_sets.py OUT_FOLDER shell    # ... the rolled shell
"""

import sys
from pathlib import Path

import numpy as np

import grc
from grc.templates import Template, TemplateSet, save_templates

ROOT = Path(__file__).resolve().parents[1]
CUP, DROOP, TWIST = 1.5, 0.7, 0.9  # cup: z per unit half-width²; droop and twist: radians at the tip at time 1


def _rotate(a, b, angle):
    c, s = np.cos(angle), np.sin(angle)
    return c * a - s * b, s * a + c * b


def cup_droop_twist(names=("cup", "droop", "twist")) -> TemplateSet:
    """The set of `names`, in that order, from "base" (template A itself), "cup", "droop", "twist"."""
    base = grc.load_template_set(ROOT / "templates" / "petal").templates[0]
    P = base.points  # (T, M, N, 3)
    T, M, N, _ = P.shape
    time = (base.time - base.time.min()) / (base.time.max() - base.time.min())
    row = (base.morph - base.morph.min()) / (base.morph.max() - base.morph.min())
    g = np.clip(time, 0, 1)[:, None, None] * (0.3 + 0.7 * row)[None, :, None]  # (T, M, 1): how strong
    centre = P.mean(axis=2, keepdims=True)  # each row's middle (T, M, 1, 3)
    half = np.abs(P[..., 1] - centre[..., 1]).max(axis=2, keepdims=True) + 1e-9
    y, z = P[..., 1] - centre[..., 1], P[..., 2] - centre[..., 2]

    cup = P.copy()
    cup[..., 2] += CUP * g * y ** 2 / half

    droop = P.copy()
    x0, z0 = P[:, :1, :, 0].mean(axis=2, keepdims=True), P[:, :1, :, 2].mean(axis=2, keepdims=True)
    dx, dz = _rotate(P[..., 0] - x0, P[..., 2] - z0, -DROOP * g)
    droop[..., 0], droop[..., 2] = x0 + dx, z0 + dz

    twist = P.copy()
    ty, tz = _rotate(y, z, TWIST * g)
    twist[..., 1], twist[..., 2] = centre[..., 1] + ty, centre[..., 2] + tz
    variants = {"base": P, "cup": cup, "droop": droop, "twist": twist}
    return TemplateSet([Template(name, base.time, base.morph, variants[name]) for name in names])


def rolled_shell(names=("tube", "narrow", "side")) -> TemplateSet:
    """The rolled strip of `names`, in that order, from "tube", "narrow", "side", "flare" (9 rows x 11 points, time
    steps 0, 0.25, .. 1; flat at time 0)."""
    time = np.linspace(0, 1, 5)
    u = np.linspace(0, 1, 9)[:, None]  # along the strip (rows)
    v = np.linspace(-1, 1, 11)[None, :]  # across it (points)

    def roll(turns, width, side):  # (T, M, N, 3): turned by up to turns x pi at the tip at time 1
        grids = []
        for t in time:
            bend = turns * t * np.pi
            x = 2 * u if t == 0 else np.sin(bend * u) * 2 / bend
            z = 0 * u if t == 0 else (1 - np.cos(bend * u)) * 2 / bend
            grids.append(np.stack(np.broadcast_arrays(x, width(u) * v + side * t * u * 0.5, z), -1))
        return np.array(grids)

    variants = {"tube": (1.2, lambda u: 0.5 + 0 * u, 0), "narrow": (1.2, lambda u: 0.5 - 0.35 * u, 0),
                "side": (0.8, lambda u: 0.5 + 0 * u, 1), "flare": (1.6, lambda u: 0.5 + 0.3 * u, 0)}
    return TemplateSet([Template(name, time, np.linspace(0, 1, 9), roll(*variants[name])) for name in names])


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["shell"]):
        sys.exit(__doc__)
    made = rolled_shell() if sys.argv[2:] == ["shell"] else cup_droop_twist()
    for path in save_templates(sys.argv[1], made.templates):
        print(path)
