"""Sweeps over time or blend: their values and the names their shape keys get. Numpy only (the Blender
add-on ships this module), so a GLB export and a Blender bake name and space their frames alike."""

from __future__ import annotations

import numpy as np

from .errors import GRCError
from .limits import MAX_FRAMES, MAX_MAP_VALUE, number

SWEEPS = ("time", "blend")


def sweep_values(model, sweep: str, frames: int, start=None, stop=None) -> list:
    """Evenly spaced values for a sweep: time over the templates' time range; blend from the first
    template to the second (a number for two templates, K weights otherwise), or from start to stop."""
    if sweep not in SWEEPS:
        raise GRCError(f"expected one of {', '.join(SWEEPS)}, got {sweep!r}", field="animate")
    if not isinstance(frames, (int, np.integer)) or isinstance(frames, (bool, np.bool_)):
        raise GRCError(f"expected a whole number, got {frames!r}", field="frames")
    frames = number(frames, "frames", low=2, high=MAX_FRAMES, integer=True)
    if sweep == "time":
        low, high = model.templates.time[[0, -1]]
        low = float(low) if start is None else number(start, "start", low=-MAX_MAP_VALUE, high=MAX_MAP_VALUE)
        high = float(high) if stop is None else number(stop, "stop", low=-MAX_MAP_VALUE, high=MAX_MAP_VALUE)
        return _moving(sweep, [low + (high - low) * s for s in np.linspace(0, 1, frames)])
    K = len(model.templates)
    low = np.eye(K)[0] if start is None else model.blend_weights(start)
    high = np.eye(K)[1] if stop is None else model.blend_weights(stop)
    values = [low + (high - low) * s for s in np.linspace(0, 1, frames)]
    return _moving(sweep, [v[1] for v in values] if K == 2 else values)


def _moving(sweep: str, values: list) -> list:
    """`values`, unless a sweep's start and stop are the same (to the 12 decimals its frames are named by): its
    frames would be one shape, and a GLB or Blender cannot tell their shape keys apart."""
    if len(set(sweep_names(sweep, values))) < len(values):
        ends = [",".join(f"{v:.12g}" for v in np.atleast_1d(values[i])) for i in (0, -1)]
        raise GRCError(f"expected a stop other than the start: a {sweep} sweep from {ends[0]} to {ends[1]} makes "
                       f"every frame the same shape", field="stop")
    return values


def sweep_name(sweep: str, value, digits: int | None = None) -> str:
    """A shape key's name: the swept quantity and its value, e.g. `time 0.550` or `blend 0.50,0.50,0.00`
    (3 decimals for one number, 2 per weight, or `digits`)."""
    values = np.atleast_1d(value)
    if values.size == 1:
        return f"{sweep} {float(values[0]):.{3 if digits is None else digits}f}"
    return f"{sweep} " + ",".join(f"{v:.{2 if digits is None else digits}f}" for v in values)


def sweep_names(sweep: str, values) -> list[str]:
    """The shape keys' names of a sweep, with as many more decimals as it takes to tell them apart (a sweep
    over a narrow range: Blender would otherwise rename duplicates `time 0.800.001`, and a GLB refuses them)."""
    names = [sweep_name(sweep, v) for v in values]
    digits = 3 if np.atleast_1d(values[0]).size == 1 else 2
    while len(set(names)) < len(names) and digits < 12:
        digits += 1
        names = [sweep_name(sweep, v, digits) for v in values]
    return names
