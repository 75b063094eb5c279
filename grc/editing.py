"""How a sketch gesture moves a template's points: proportional editing (a falloff around the selection),
an exact mirror across the midline, and a time falloff that carries an edit to other time steps.

Plain numpy (no Qt), so the tests can call it and the views stay thin. The falloff curves are
grc.diverge.rewrite.falloff (Blender's proportional-editing curves).
"""

from __future__ import annotations

import numpy as np

from .diverge.rewrite import falloff
from .errors import GRCError

FALLOFF_KINDS = ("smooth", "sphere", "linear", "constant")
TIME_MODES = {"step": "This step only", "later": "This and later steps", "all": "All steps, fading in time"}


def time_weights(times, step: int, mode: str) -> np.ndarray:
    """How much of an edit made at `step` each time step takes: (T,)."""
    times = np.asarray(times, float)
    w = np.zeros(len(times))
    if mode == "later":
        w[step:] = 1.0
    elif mode == "all":
        span = max(float(times[-1] - times[0]), 1e-9)
        w = falloff(np.abs(times - times[step]), span, "smooth")
    w[step] = 1.0
    return w


def point_weights(grid, selection, radius: float | None, kind: str = "smooth") -> np.ndarray:
    """Each point's share of an edit of `selection` at one time step: (M, N); 1 on the selection.

    `radius` None means proportional editing is off (only the selection moves).
    """
    M, N = grid.shape[:2]
    w = np.zeros((M, N))
    if not selection:
        return w
    rows, cols = np.array(sorted(selection)).T
    if radius is not None and radius > 0:
        anchors = grid[rows, cols]  # (S, 3)
        d = np.linalg.norm(grid[:, :, None, :] - anchors[None, None], axis=-1).min(axis=-1)  # (M, N)
        w = falloff(d, radius, kind)
    w[rows, cols] = 1.0
    return w


def mirrored(selection, N: int) -> set:
    return set(selection) | {(r, N - 1 - c) for r, c in selection}


def edit_weights(points, step: int, selection, *, radius=None, kind="smooth", mirror=False, times=None,
                 time_mode="step") -> tuple[np.ndarray, np.ndarray]:
    """How much of an edit each time step and each point takes: (time weights (T,), point weights (M, N)).
    They depend on the points as they were, not on the transform: a gesture computes them once."""
    points = np.asarray(points, float)
    T, M, N, _ = points.shape
    tw = time_weights(times if times is not None else np.arange(T), step, time_mode)
    selection = mirrored(selection, N) if mirror else set(selection)
    return tw, point_weights(points[step], selection, radius, kind)


def apply_edit(points, step: int, selection, transform, *, radius=None, kind="smooth", mirror=False,
               times=None, time_mode="step", side=None, weights=None) -> np.ndarray:
    """New points (T, M, N, 3): at each time step s the points p move to p + w (transform(p) - p).

    `transform(grid, s)` gives where every point of the grid (M, N, 3) at time step s would go at full
    strength; w is the point's falloff weight from the selection (at `step`) times the time weight.
    With `mirror`, the edit is made on the `side` of the midline that holds the grabbed point (-1 left:
    points < N/2, +1 right) and mirrored exactly onto the other (y flipped); midline points keep their y,
    and a point pushed across the midline stops on it, meeting its partner (Blender's mirror clipping).
    `weights`: edit_weights of these points and options, when known (each move of a gesture has the same).
    """
    points = np.asarray(points, float)
    T, M, N, _ = points.shape
    out = points.copy()
    if weights is None:
        weights = edit_weights(points, step, selection, radius=radius, kind=kind, mirror=mirror, times=times,
                               time_mode=time_mode)
    tw, w = weights  # (T,), (M, N)
    for s in range(T):
        if tw[s] == 0:
            continue
        moved = transform(points[s], s)
        out[s] = points[s] + (tw[s] * w)[..., None] * (moved - points[s])
    if mirror:
        half = N // 2
        cols = np.arange(N)
        mid = N % 2 == 1
        if side is None:
            side = -1
        keep = cols[cols < half] if side < 0 else cols[cols >= N - half]  # the side the edit is made on
        partner = N - 1 - keep  # (never on that side: each column of it is written once, all at once)
        delta = out[:, :, keep] - points[:, :, keep]
        # clipping (Blender's mirror option): a point meets its partner at the midline, never crosses it
        gap = points[:, :, keep, 1] - points[:, :, partner, 1]
        crossed = (gap != 0) & (np.sign(gap + 2 * delta[..., 1]) != np.sign(gap))
        delta[..., 1] = np.where(crossed, -gap / 2, delta[..., 1])
        out[:, :, keep] = points[:, :, keep] + delta
        out[:, :, partner] = points[:, :, partner] + delta * [1.0, -1.0, 1.0]
        if mid:
            out[:, :, half, 1] = points[:, :, half, 1]  # the midline stays on the midline
    return out


def side_of(point: int, N: int) -> int:
    """Which side of the midline column `point` is on: -1 left, +1 right (the midline counts as left)."""
    return 1 if point > (N - 1) / 2 else -1


def translate(delta):
    delta = np.asarray(delta, float)
    return lambda grid, s: grid + delta


def centre(grid, selection) -> np.ndarray:
    if not selection:
        raise GRCError("expected at least one selected point (row, point) to turn or scale about", field="selection")
    rows, cols = np.array(sorted(selection)).T
    return grid[rows, cols].mean(axis=0)


def rotate(selection, axes, angle: float):
    """Turn by `angle` (radians) in the plane of `axes` (two of 0, 1, 2) about the selection's centre."""
    a, b = axes
    c, s_ = np.cos(angle), np.sin(angle)

    def transform(grid, s):
        o = centre(grid, selection)
        out = grid.copy()
        u, v = grid[..., a] - o[a], grid[..., b] - o[b]
        out[..., a] = o[a] + c * u - s_ * v
        out[..., b] = o[b] + s_ * u + c * v
        return out
    return transform


def scale(selection, factor: float):
    """Scale by `factor` about the selection's centre."""
    def transform(grid, s):
        o = centre(grid, selection)
        return o + (grid - o) * factor
    return transform


def fill_step(points, times, step: int) -> np.ndarray:
    """Time step `step` interpolated (linearly in time) from its neighbours."""
    points, times = np.asarray(points, float).copy(), np.asarray(times, float)
    a, b = step - 1, step + 1
    u = (times[step] - times[a]) / (times[b] - times[a])
    points[step] = (1 - u) * points[a] + u * points[b]
    return points


def insert_step(points, times, after: int):
    """A new time step halfway between `after` and the next (or past the last), interpolated: (points, times)."""
    points, times = np.asarray(points, float), np.asarray(times, float)
    if after + 1 < len(times):
        t = (times[after] + times[after + 1]) / 2
        grid = (points[after] + points[after + 1]) / 2
    else:  # past the last step: carry the last step's growth on
        t = times[after] + (times[after] - times[after - 1]) / 2
        grid = points[after] + (points[after] - points[after - 1]) / 2
    return np.insert(points, after + 1, grid, axis=0), np.insert(times, after + 1, t)
