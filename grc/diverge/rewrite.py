"""Rewriting a model (Bau et al., 2020): drag one point of a generated shape and the decoder's last
layer gets a covariance-whitened least-squares update, so that at this time and blend the point lands
where it was dropped, its neighbours follow with a falloff, nearby times and blends follow smoothly
(they share most of their features), and the templates' own rows stay where they are.

The last layer maps features k (the last hidden layer's activations, with a 1 for the bias) to a row:
row = k W. With the rows' wanted changes D at keys K (this shape's rows), the templates' keys K0
(their rows must not move) and the features' covariance C, the update is

    ΔW = argmin  w ||K ΔW - D||² + w0 ||K0 ΔW||² + λ tr(ΔWᵀ C ΔW)

a small linear solve ((H+1) x (H+1)); for a single key and no templates it is Bau et al.'s rank-one
update along C⁻¹k. Numpy only.
"""

from __future__ import annotations

import numpy as np

from ..errors import GRCError
from ..limits import MAX_BLEND, MAX_COORDINATE, MAX_MAP_VALUE, number
from ..model import GRCModel, decoder_features, elu
from .bend import explored_inputs
from .blend import lineage

FALLOFFS = ("smooth", "sphere", "linear", "constant")
DRAG_WEIGHT = 1e9  # the dragged row is met to well within 1e-3
TEMPLATE_WEIGHT = 1e7  # the templates' rows hold still
ROW_WEIGHT = 1e4  # the shape's other rows (their points' falloff-weighted share of the drag)
NEIGHBOUR_WEIGHT = 1e4  # shapes at nearby times and blends follow (weighted by their own falloff)
RIDGE = 1e-1  # λ: the smallest change in the features' own metric
HOLD_WEIGHT = 3e2  # the templates' shapes away from the drag hold still (hold_keys), more softly than at their steps
TIME_REACH = 0.25  # nearby times: up to this share of the time axis
BLEND_REACH = 0.5  # nearby blends: up to this far along each template's direction
TEMPLATE_TOLERANCE = 1e-3  # the templates' rows hold within this, unless they outnumber the last layer's features


def falloff(distance, radius: float, kind: str = "smooth") -> np.ndarray:
    """Weights 1 at distance 0 to 0 at `radius` (Blender's proportional-editing curves)."""
    if kind not in FALLOFFS:
        raise GRCError(f"expected one of {', '.join(FALLOFFS)}, got {kind!r}", field="falloff")
    x = np.clip(np.asarray(distance, float) / max(radius, 1e-12), 0.0, 1.0)
    if kind == "smooth":
        w = 1 - (3 * x**2 - 2 * x**3)
    elif kind == "sphere":
        w = np.sqrt(np.maximum(1 - x**2, 0))
    elif kind == "linear":
        w = 1 - x
    else:
        w = np.ones_like(x)
    return np.where(x < 1, w, 0.0)


def features(model: GRCModel, time, morph, context) -> np.ndarray:
    """The last layer's inputs for rows at (time, morph, context): (S, H + 1), a 1 for the bias."""
    u = model._normalize(time, morph)
    x = decoder_features(u, np.asarray(context, float), model.config.decoder_features)
    for w, b in model._layers["decoder"][:-1]:
        x = elu(x @ w + b)
    return np.concatenate([x, np.ones((*x.shape[:-1], 1))], axis=-1)


def _neighbourhood(model: GRCModel, time: float, blend):
    """(time offset, blend weights offset, share) of the shape itself and of nearby shapes."""
    span = float(model.templates.time[-1] - model.templates.time[0])
    K = len(model.templates)
    out = [(0.0, np.zeros(K), 1.0)]
    for s in (0.2, 0.5, 0.75):
        share = float(falloff(s * 0.999, 1.0))
        for sign in (-1, 1):
            out.append((sign * s * TIME_REACH * span, np.zeros(K), share))
            for k in range(K if K > 2 else 1):
                direction = np.eye(K)[k] - 1 / K if K > 2 else np.array([-1.0, 1.0])
                out.append((0.0, sign * s * BLEND_REACH * direction, share))
    return out


def feature_covariance(model: GRCModel) -> np.ndarray:
    """The second moment of the last layer's inputs over the shapes a user explores: an even grid of
    times and morph values, every template's trace and seeded blends of them (extrapolating too)."""
    cached = model.__dict__.get("_feature_covariance")
    if cached is not None:
        return cached
    t, m, contexts = explored_inputs(model, 8, -1.0, 2.0, seed=0)
    sample = features(model, t, m, contexts)
    covariance = sample.T @ sample / len(sample) + 1e-9 * np.eye(sample.shape[1])
    model.__dict__["_feature_covariance"] = covariance
    return covariance


HOLD_TIMES = 23  # times across the time axis where shapes away from the drag hold still


def hold_keys(model: GRCModel, time: float, morph) -> np.ndarray:
    """The features of rows that should hold still: every template's shape at HOLD_TIMES times across the time
    axis beyond the drag's reach (TIME_REACH), between its time steps too, where template_keys does not reach.
    Held at time steps alone, a drag on the petal at time 0.8 broke both templates at times 0.05-0.5 (the point
    dragged moved twice as far at time 0.2 as where it was dragged). Holding the dragged blend's own shape there
    too, or holding harder, kept the shapes of another test drag from their tolerances (a drag at blend -0.5)."""
    t_all = np.linspace(model.templates.time[0], model.templates.time[-1], HOLD_TIMES)
    span = float(model.templates.time[-1] - model.templates.time[0])
    key = ("_hold_features", tuple(np.asarray(morph, float)))
    every = model.__dict__.get(key)  # (HOLD_TIMES, K * M', F), once per model: a drag's updates follow the mouse
    if every is None:
        K = len(model.templates)
        every = np.stack([np.concatenate([features(model, np.full(len(morph), t), morph,
                                                   model.context(float(t), b, morph)) for b in np.eye(K)])
                          for t in t_all])
        model.__dict__[key] = every
    far = np.abs(t_all - time) > TIME_REACH * span  # (near the drag its neighbours follow; templates hold at steps)
    return every[far].reshape(-1, every.shape[-1])


def template_keys(model: GRCModel) -> np.ndarray:
    """The features of every template row (each template's trace at each time step and morph row)."""
    time, morph = model.templates.time, model.templates.morph
    traces = model.traces()  # (K, T, M, C)
    t, m = np.meshgrid(time, morph, indexing="ij")
    K = len(traces)
    t, m = np.broadcast_to(t, (K, *t.shape)).ravel(), np.broadcast_to(m, (K, *m.shape)).ravel()
    return features(model, t, m, traces.reshape(len(t), model.context_dims))


def rewrite(model: GRCModel, time: float, blend, point, target, radius: float = 0.1, *,
            falloff_kind: str = "smooth", morph=None, keep_templates: bool = True) -> GRCModel:
    """A new model whose shape at (time, blend) has grid point `point` = (row, index) at `target` (xyz).

    Every other point of that shape moves by the same displacement times a falloff of its distance to
    the dragged point (`radius`, in the shape's units). The templates' rows stay put unless
    `keep_templates` is False. The model's info records the rewrite in its lineage.
    """
    time = number(time, "time", low=-1e6, high=1e6)
    radius = number(radius, "radius", low=0, high=MAX_COORDINATE)
    target = np.asarray(target, float).reshape(-1)
    if target.shape != (3,) or not np.all(np.isfinite(target)) or np.abs(target).max() > MAX_COORDINATE:
        raise GRCError("expected three finite coordinates", field="target")
    morph = model.morph_samples(morph)
    shape = model.shape(time, blend, morph=morph)  # (M', N, 3)
    row, index = (int(v) for v in point)
    if not (0 <= row < shape.shape[0] and 0 <= index < shape.shape[1]):
        raise GRCError(f"expected a point (row 0..{shape.shape[0] - 1}, index 0..{shape.shape[1] - 1}), "
                       f"got ({row}, {index})", field="point")
    delta = target - shape[row, index]
    weights = falloff(np.linalg.norm(shape - shape[row, index], axis=-1), radius, falloff_kind)  # (M', N)
    weights[row, index] = 1.0
    wanted = shape + weights[..., None] * delta  # (M', N, 3)

    w_last, b_last = model._layers["decoder"][-1]
    W = np.concatenate([w_last, b_last[None]], axis=0)  # (H + 1, 3N)
    displacement = weights[..., None] * delta  # (M', N, 3): what the drag asks of this shape

    # Soft targets: this shape's rows (the dragged row almost exactly), and shapes at nearby times and
    # blends moving by the same displacement with a falloff, so the edit carries smoothly around it.
    keys, changes, row_weights = [], [], []
    weights_here = model.blend_weights(blend)
    for dt, db, share in _neighbourhood(model, time, blend):
        t_near, b_near = time + dt, weights_here + db
        b_near = b_near[1:] if len(b_near) == 2 else b_near  # (two templates: α, what the limit is on)
        if abs(t_near) > MAX_MAP_VALUE or np.abs(b_near).max() > MAX_BLEND:
            # a neighbour past the edge of what may be asked is left out (`grc rewrite --blend -100` was refused
            # for its neighbour at -100.1); the shape itself is always the one asked for
            continue
        k = features(model, np.full(len(morph), t_near), morph, model.context(t_near, b_near, morph))
        keys.append(k)
        changes.append(displacement.reshape(len(morph), -1) * share / model._row_scale)
        w = np.full(len(morph), share * NEIGHBOUR_WEIGHT)
        if dt == 0 and not np.any(db):
            w = np.where(np.arange(len(morph)) == row, DRAG_WEIGHT, ROW_WEIGHT)
        row_weights.append(w)
    keys, changes, row_weights = np.concatenate(keys), np.concatenate(changes), np.concatenate(row_weights)
    if model.config.final_activation:  # ELU⁻¹: the pre-activation change that gives the wanted rows
        now = keys @ W
        after = np.maximum(elu(now) + changes, -1 + 1e-9)
        changes = np.where(after > 0, after, np.log1p(after)) - now
    moving = row_weights > 0
    A = (keys[moving] * row_weights[moving, None]).T @ keys[moving]
    rhs = (keys[moving] * row_weights[moving, None]).T @ changes[moving]
    fixed = template_keys(model) if keep_templates else np.zeros((0, keys.shape[1]))
    if len(fixed):  # a template row dragged itself moves (the drag wins where the two would conflict)
        gap = np.linalg.norm(fixed[:, None, :] - keys[None, :len(morph)], axis=-1).min(axis=1)
        fixed = fixed[gap > 1e-6 * (1 + np.linalg.norm(fixed, axis=1))]
    held = hold_keys(model, time, morph)
    A += TEMPLATE_WEIGHT * fixed.T @ fixed + HOLD_WEIGHT * held.T @ held + RIDGE * feature_covariance(model)
    update = np.linalg.solve(A, rhs)  # (H + 1, 3N)
    # How far the templates' rows moved after all: within TEMPLATE_TOLERANCE while they leave the last layer
    # room (fewer rows than its H + 1 features); more rows can span them all, and then they move a little.
    moved = float(np.abs((fixed @ update) * model._row_scale).max(initial=0.0))

    weights_new = {k: v.copy() for k, v in model.weights.items()}
    last = len(model._layers["decoder"]) - 1
    weights_new[f"decoder.{last}.weight"] = w_last + update[:-1]
    weights_new[f"decoder.{last}.bias"] = b_last + update[-1]
    info = {k: v for k, v in model.info.items() if k != "lineage"}
    info["lineage"] = lineage("rewrite", [model], time=time,
                              blend=np.atleast_1d(np.asarray(blend, float)).tolist(), point=[row, index],
                              target=target.tolist(), radius=radius, falloff=falloff_kind, template_change=moved)
    return GRCModel(model.config, model.templates, weights_new, info)


def templates_moved(model: GRCModel) -> str | None:
    """A one-line note when a rewritten model's templates moved by more than TEMPLATE_TOLERANCE, else None."""
    record = model.info.get("lineage") or {}
    moved = record.get("template_change") if record.get("operation") == "rewrite" else None
    if not isinstance(moved, (int, float)) or moved <= TEMPLATE_TOLERANCE:
        return None
    T, M = len(model.templates.time), model.grid_shape[1]
    rows, features = len(model.templates) * T * M, model._layers["decoder"][-1][0].shape[0] + 1
    why = (f": their {rows} rows outnumber the {features} features of the decoder's last layer, the layer a rewrite "
           f"changes" if rows >= features else " to make room for a drag this far")
    return f"the templates moved by up to {moved:.2g} (more than {TEMPLATE_TOLERANCE:g}){why}"
