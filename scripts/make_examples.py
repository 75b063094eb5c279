"""Generate the example template sets that are not the article's: templates/leaf and templates/sprout.

python scripts/make_examples.py

They exercise what the petal does not: three templates (leaf) and other grid sizes and numbers of
time steps (leaf 5 time steps x 9 rows x 9 points, sprout 4 x 9 x 5). Each is a grid over time, as an
artist would draw it, here from a few lines of geometry so that the drawing is reproducible.
"""
from pathlib import Path

import numpy as np

from grc.templates import Template, TemplateSet

ROOT = Path(__file__).resolve().parents[1]
NOTE = "Drawn procedurally for GRC Studio by scripts/make_examples.py (Apache License 2.0, as the project)."


def bent_line(u, length, turn):
    """Points along a line of `length` starting up its first axis, turning by angle turn(v) at v in [0, u]:
    returns (along, across) coordinates at each u."""
    v = np.linspace(0, 1, 2001)
    theta = turn(v)
    along = np.concatenate([[0], np.cumsum(np.cos(theta[1:]) * np.diff(v))]) * length
    across = np.concatenate([[0], np.cumsum(np.sin(theta[1:]) * np.diff(v))]) * length
    return np.interp(u, v, along), np.interp(u, v, across)


def leaf(kind: str, time, morph, points=9) -> np.ndarray:
    """A leaf growing along +X: rows from base to tip, points across the blade. Young it is small and
    folded along its midrib; grown it is open and, by kind, flat, curled (tip rolls down) or wavy."""
    across = np.linspace(-1, 1, points)
    grids = []
    for t in time:
        g = min(t, 1.0)
        length, fold = 0.4 + 0.8 * g, (1 - g) * 1.2
        curl = (lambda v: -2.2 * g * v ** 2) if kind == "curled" else (lambda v: 0.25 * g * v)
        rows = []
        for s in morph:
            u = min(max(s, 0.0), 1.0) + max(s - 1.0, 0) * 0.3
            x, z = bent_line(u, length, curl)
            half_width = 0.3 * length * np.sin(np.pi * min(u, 1.0)) ** 0.7 + 0.01
            y = half_width * across * np.cos(fold)
            lift = half_width * np.abs(across) * np.sin(fold)
            if kind == "wavy":
                lift = lift + 0.1 * g * across ** 2 * np.sin(3 * np.pi * u)
            rows.append(np.stack([np.full(points, x), y, z + lift], axis=-1))
        grids.append(rows)
    return np.array(grids)


def sprout(kind: str, time, morph, points=5) -> np.ndarray:
    """A ribbon growing up along +Z that bends toward -Y (left) or +Y (right) and twists as it grows."""
    side = -1 if kind == "left" else 1
    across = np.linspace(-1, 1, points)
    grids = []
    for t in time:
        g = min(t, 1.0)
        height = 0.3 + 0.9 * g
        rows = []
        for u in morph:
            z, y = bent_line(u, height, lambda v: side * 1.8 * g * v)
            width = 0.12 * (1 - 0.6 * u) * (0.6 + 0.4 * g)
            twist = 0.8 * g * u
            rows.append(np.stack([width * across * np.cos(twist), np.full(points, y) + 0.3 * width * across * np.sin(twist),
                                  np.full(points, z)], axis=-1))
        grids.append(rows)
    return np.array(grids)


def main():
    leaf_time, leaf_morph = [0, 0.1, 0.5, 1.0, 1.1], [0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0, 1.1]
    TemplateSet([Template(k, leaf_time, leaf_morph, leaf(k, leaf_time, leaf_morph), NOTE)
                 for k in ("flat", "curled", "wavy")]).save(ROOT / "templates/leaf")
    sprout_time, sprout_morph = [0, 0.3, 0.7, 1.0], np.linspace(0, 1, 9).round(4).tolist()
    TemplateSet([Template(k, sprout_time, sprout_morph, sprout(k, sprout_time, sprout_morph), NOTE)
                 for k in ("left", "right")]).save(ROOT / "templates/sprout")
    print("wrote templates/leaf and templates/sprout")


if __name__ == "__main__":
    main()
