"""Quality metrics of a trained model, in the templates' own units (per-point RMSE)."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from .mesh import subdivided_size
from .model import GRCModel

INTERPOLATION_ALPHAS = (0.25, 0.5, 0.75)
EXTRAPOLATION_ALPHAS = (-0.5, 1.5)


def point_rmse(a, b) -> float:
    """Root-mean-square Euclidean distance between corresponding points of two grids."""
    return float(np.sqrt(np.mean(np.sum((np.asarray(a) - np.asarray(b)) ** 2, axis=-1))))


def inner_time_steps(model: GRCModel) -> list[int]:
    """The time steps between the offset samples at the ends of the relational map."""
    T = len(model.templates.time)
    return list(range(1, T - 1)) if T >= 3 else list(range(T))


def diverging_time_steps(model: GRCModel, a: int, b: int, share: float = 0.02) -> list[int]:
    """Inner time steps where templates a and b differ by more than `share` of the set's size."""
    points = model.templates.points
    size = np.linalg.norm(points.reshape(-1, 3).max(axis=0) - points.reshape(-1, 3).min(axis=0))
    gap = np.linalg.norm(points[a] - points[b], axis=-1).max(axis=(1, 2))  # (T,)
    return [i for i in inner_time_steps(model) if gap[i] > share * size]


def projection(model: GRCModel, i: int, a: int, b: int, alpha: float) -> float:
    """Where the blend α between templates a and b lands along their difference at time step i."""
    weights = np.zeros(len(model.templates))
    weights[a], weights[b] = 1 - alpha, alpha
    A, B = model.templates.points[a, i], model.templates.points[b, i]
    shape = model.shape(model.templates.time[i], weights)
    d = (B - A).ravel()
    return float(np.dot((shape - A).ravel(), d) / np.dot(d, d))


def evaluate(model: GRCModel, safe_range: bool = True) -> dict:
    """The metrics `grc evaluate` prints: template fit, reconstruction, traces, blends, and (unless
    `safe_range` is False) the safe blend range per inner time step (grc.coherence.safe_blend_ranges:
    [low, high] for two templates, {template: [low, high]} along each template's direction for more,
    None where a shape between the templates is already broken; subdivision 2, as the app shows, or less for a
    big grid: `safe_blend_range_subdivide` says which)."""
    templates = model.templates
    K, time, morph = len(templates), templates.time, templates.morph
    points = templates.points  # (K, T, M, N, 3)

    t, m = np.meshgrid(time, morph, indexing="ij")
    fitted = model.template_rows(t, m)  # (K, T, M, N, 3)
    fit = [point_rmse(fitted[k], points[k]) for k in range(K)]

    inner = inner_time_steps(model)
    reconstruction = [[point_rmse(model.shape(time[i], np.eye(K)[k]), points[k, i]) for i in inner]
                      for k in range(K)]

    traces = model.traces()  # (K, T, M, C)
    pairs = list(combinations(range(K), 2))
    separation = [float(np.mean([np.abs(traces[a, i] - traces[b, i]).mean() for a, b in pairs]))
                  if model.context_dims else 0.0 for i in range(len(time))]

    projections = {alpha: [projection(model, i, a, b, alpha) for a, b in pairs
                           for i in diverging_time_steps(model, a, b)]
                   for alpha in INTERPOLATION_ALPHAS + EXTRAPOLATION_ALPHAS}
    interpolation = {f"{a}": float(np.max(np.abs(np.subtract(projections[a], a)))) if projections[a] else 0.0
                     for a in INTERPOLATION_ALPHAS}
    low, high = EXTRAPOLATION_ALPHAS
    metrics = {
        "template_fit_rmse": max(fit),
        "template_fit_rmse_per_template": dict(zip(templates.names, fit)),
        "reconstruction_rmse": max(max(r) for r in reconstruction),
        "reconstruction_rmse_per_template": {n: max(r) for n, r in zip(templates.names, reconstruction)},
        "trace_separation": dict(zip((f"{v:g}" for v in time), separation)),
        "interpolation_error": max(interpolation.values()),
        "interpolation_error_per_alpha": interpolation,
        # the worst case over diverging time steps: the least reach at 1.5, the least at -0.5
        "extrapolation": {f"{low}": float(max(projections[low], default=np.nan)),
                          f"{high}": float(min(projections[high], default=np.nan))},
        "context_dims": model.context_dims,
        "templates": K,
    }
    if safe_range:
        from .coherence import Coherence, safe_blend_ranges

        subdivide = safe_range_subdivision(model)
        inner_times = [templates.time[i] for i in inner]
        times = safe_range_times(model, subdivide, inner_times)
        metrics["safe_blend_range"] = safe_blend_ranges(model, Coherence(templates, subdivide), times=times)
        metrics["safe_blend_range_subdivide"] = subdivide
        if len(times) < len(inner_times):
            metrics["safe_blend_range_time_steps"] = f"{len(times)} of {len(inner_times)}"
    return metrics


SAFE_RANGE_VERTICES = 250_000  # the safe range's surfaces have at most this many vertices (2 subdivisions, or fewer)


SAFE_RANGE_WORK = 40_000_000  # surface vertices the safe ranges may test in all, if no shape broke (below)


def safe_range_times(model: GRCModel, subdivide: int, times) -> list:
    """The inner time steps the safe blend range is measured at: all of `times`, unless testing them could pass
    SAFE_RANGE_WORK surface vertices (the most a search tests: every step of 0.05 out to 3 beyond [0, 1] on both
    sides, along every template's direction for three or more); then as many as fit, evenly spread, at least one.
    A big set (a 64 x 64 grid, six templates, twenty time steps) had `grc train` measure for minutes after saving."""
    from .coherence import SAFE_REACH, SAFE_STEP

    K, (_, M, N) = len(model.templates), model.grid_shape
    per_time = (1 if K == 2 else K) * (round(1 / SAFE_STEP) + 1 + 2 * round(SAFE_REACH / SAFE_STEP)) \
        * math.prod(subdivided_size(M, N, subdivide))
    fit = max(1, SAFE_RANGE_WORK // per_time)
    if fit >= len(times):
        return list(times)
    return [times[i] for i in np.unique(np.round(np.linspace(0, len(times) - 1, fit)).astype(int))]


def safe_range_subdivision(model: GRCModel) -> int:
    """The subdivision the safe blend range is measured at: 2, as the app shows it, unless the surface would
    then have more than SAFE_RANGE_VERTICES vertices (a big grid: 1, else 0), so evaluating stays quick."""
    M, N = model.grid_shape[1:3]
    return next((s for s in (2, 1) if math.prod(subdivided_size(M, N, s)) <= SAFE_RANGE_VERTICES), 0)
