"""Network bending (Broad, Leymarie and Grierson, 2021): deterministic transforms inserted between the
decoder's layers, changing every shape it makes without changing a weight.

A **bend** acts on one hidden layer's units (scale, offset, invert, ablate, threshold, oscillate) or
on the relational inputs (shift, scale or warp time or morph), with a strength: 0 changes nothing, 1
is the full transform, anything between mixes the two. A **look** is a list of bends, with the blend
or context path it applies to, saved as a small JSON file (`grc-look/1`). Numpy only: the app, the CLI
and the Blender add-on apply a look with this very code.

Units are chosen as `"all"`, a seeded random fraction (`{"fraction": 0.3, "seed": 0}`), a cluster
(`{"cluster": 2, "clusters": 6, "seed": 0}`: k-means of each unit's activation over samples of
(time, morph, context), as the paper groups features) or a list of unit indices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GRCError
from ..io import atomic_write
from ..limits import MAX_TEMPLATE_BYTES, number, parse_json, read_text
from ..model import GRCModel, decoder_features, elu

LOOK_FORMAT = "grc-look/1"
UNIT_OPS = ("scale", "offset", "invert", "ablate", "threshold", "oscillate")
INPUT_OPS = ("shift", "scale", "warp")
INPUTS = ("time", "morph")
MAX_BENDS = 32
MAX_AMOUNT = 1e3
MAX_CLUSTERS = 64
CLUSTER_SAMPLES = 9  # times and morph values per axis sampled for clustering


@dataclass(frozen=True)
class Bend:
    """One transform. `layer` is a hidden layer of the decoder (0 = first) or "time" / "morph".

    amount: the op's number (scale factor, offset, threshold, oscillation amplitude or input shift/warp);
    frequency: oscillations over the time axis (oscillate) or warp waves over the input's range (warp).
    """

    op: str
    layer: int | str = 0
    units: object = "all"
    amount: float = 1.0
    frequency: float = 1.0
    strength: float = 1.0

    def __post_init__(self):
        where = f"bend {self.op!r}"
        if isinstance(self.layer, str):
            if self.layer not in INPUTS:
                raise GRCError(f"expected a hidden layer number or one of {', '.join(INPUTS)}, got {self.layer!r}",
                               field=f"{where}.layer")
            if self.op not in INPUT_OPS:
                raise GRCError(f"expected one of {', '.join(INPUT_OPS)} for the {self.layer} input, got {self.op!r}",
                               field=f"{where}.op")
        else:
            object.__setattr__(self, "layer", int(number(self.layer, f"{where}.layer", low=0, high=64, integer=True)))
            if self.op not in UNIT_OPS:
                raise GRCError(f"expected one of {', '.join(UNIT_OPS)}, got {self.op!r}", field=f"{where}.op")
        for name, high in (("amount", MAX_AMOUNT), ("frequency", 100.0), ("strength", 10.0)):
            number(getattr(self, name), f"{where}.{name}", low=-high, high=high)
        _check_units(self.units, f"{where}.units")

    def to_json(self) -> dict:
        return {"op": self.op, "layer": self.layer, "units": self.units, "amount": self.amount,
                "frequency": self.frequency, "strength": self.strength}

    @classmethod
    def from_json(cls, data, path=None, field_name="bend") -> "Bend":
        if not isinstance(data, dict):
            raise GRCError("expected a JSON object", path=path, field=field_name)
        unknown = sorted(set(data) - {"op", "layer", "units", "amount", "frequency", "strength"})
        if unknown:
            raise GRCError(f"unknown keys {unknown}", path=path, field=field_name)
        if "op" not in data:
            raise GRCError("missing", path=path, field=f"{field_name}.op")
        try:
            return cls(**data)
        except GRCError as e:
            raise GRCError(e.message, path=path, field=f"{field_name}: {e.field}") from None
        except TypeError as e:
            raise GRCError(f"malformed ({e})", path=path, field=field_name) from None


def _check_units(units, where):
    if units == "all":
        return
    if isinstance(units, list):
        for u in units:
            number(u, where, low=0, high=1_000_000, integer=True)
        return
    if isinstance(units, dict):
        if "fraction" in units and set(units) <= {"fraction", "seed"}:
            number(units["fraction"], f"{where}.fraction", low=0, high=1)
            number(units.get("seed", 0), f"{where}.seed", low=0, high=2**32 - 1, integer=True)
            return
        if "cluster" in units and set(units) <= {"cluster", "clusters", "seed"}:
            k = number(units.get("clusters", 6), f"{where}.clusters", low=1, high=MAX_CLUSTERS, integer=True)
            number(units["cluster"], f"{where}.cluster", low=0, high=k - 1, integer=True)
            number(units.get("seed", 0), f"{where}.seed", low=0, high=2**32 - 1, integer=True)
            return
    raise GRCError('expected "all", a list of unit indices, {"fraction": f, "seed": s} or '
                   '{"cluster": c, "clusters": k, "seed": s}', field=where)


@dataclass
class Look:
    """A list of bends and the blend (or raw context path) they are applied to."""

    bends: list[Bend] = field(default_factory=list)
    blend: object = None  # a number α, K weights, or None (the caller's blend)
    context: object = None  # a context path (M', C) or (C,), or None
    name: str = "look"
    lineage: dict = field(default_factory=dict)
    path: object = field(default=None, compare=False)  # the file it was read from: its errors name it

    def __post_init__(self):
        if len(self.bends) > MAX_BENDS:
            raise GRCError(f"expected at most {MAX_BENDS} bends, got {len(self.bends)}", field="bends")

    # -- applying -----------------------------------------------------------------------------
    def check(self, model: GRCModel, morph=None) -> "Look":
        """Refuse a look that does not fit this model, before anything applies it: a layer the decoder
        lacks, a unit past its layer's width, its own blend for another number of templates, its own
        context path of another size (`morph`: the shape's morph samples, as in Look.shape). A GRCError
        naming this look's file and the field (`bends[1].units`); the look itself when it fits.

        What `grc export --look`, the app and the add-on refuse alike: the app loads a look through here,
        all or nothing."""
        try:
            check_bends(model, self.bends)
            if self.blend is not None:
                try:
                    model.blend_weights(self.blend)
                except GRCError as e:
                    raise GRCError(e.message, field="blend") from None
            if self.context is not None:
                _check_context(model, self.context, model.morph_samples(morph), "context")
        except GRCError as e:
            raise GRCError(e.message, path=e.path or self.path, field=e.field) from None
        return self

    def applies_to(self, blend=None, context=None):
        """(blend, context) a shape is made at: those given (either), else the look's own; (None, None) is
        the model's default (the first template)."""
        if blend is None and context is None:
            return self.blend, self.context
        return blend, context

    def shape(self, model: GRCModel, time: float, blend=None, *, morph=None, context=None, strength=1.0) -> np.ndarray:
        """The bent grid at `time` (M', N, 3), at the blend or context given, else at the look's own.

        A look read from a file that does not fit this model (a layer or unit it lacks, its own blend for
        another number of templates) is a GRCError naming that file."""
        own = blend is None and context is None
        try:
            return self._shape(model, time, blend, morph=morph, context=context, strength=strength)
        except GRCError as e:
            if e.path is not None or self.path is None or (not own and e.field in ("blend", "context", "look.context")):
                raise
            raise GRCError(e.message, path=self.path, field=e.field) from None

    def _shape(self, model, time, blend, *, morph, context, strength):
        morph = model.morph_samples(morph)
        blend, context = self.applies_to(blend, context)
        if context is None:
            context = model.context(time, blend, morph)
        context = _check_context(model, context, morph, "look.context")
        context = np.broadcast_to(context, (len(morph), model.context_dims))
        return bent_decode(model, np.full(len(morph), float(time)), morph, context, self.bends, model_strength=strength)

    # -- files --------------------------------------------------------------------------------
    def to_json(self) -> dict:
        data = {"format": LOOK_FORMAT, "name": self.name, "bends": [b.to_json() for b in self.bends]}
        if self.blend is not None:
            data["blend"] = np.atleast_1d(np.asarray(self.blend, float)).tolist()
        if self.context is not None:
            data["context"] = np.asarray(self.context, float).tolist()
        if self.lineage:
            data["lineage"] = self.lineage
        return data

    @classmethod
    def from_json(cls, data, path=None) -> "Look":
        if not isinstance(data, dict):
            raise GRCError("expected a JSON object (a GRC look)", path=path)
        if data.get("format") != LOOK_FORMAT:
            raise GRCError(f"expected {LOOK_FORMAT!r}, found {data.get('format')!r}", path=path, field="format")
        bends = data.get("bends", [])
        if not isinstance(bends, list):
            raise GRCError("expected a list of bends", path=path, field="bends")
        if len(bends) > MAX_BENDS:
            raise GRCError(f"expected at most {MAX_BENDS} bends, got {len(bends)}", path=path, field="bends")
        blend, context = data.get("blend"), data.get("context")
        for key, value in (("blend", blend), ("context", context)):
            if value is not None:
                values = np.asarray(value, dtype=object).ravel()
                for v in values:
                    number(v, key, low=-1e4, high=1e4, path=path)
        name = data.get("name", "look")
        if not isinstance(name, str):
            raise GRCError("expected a string", path=path, field="name")
        lineage = data.get("lineage", {})
        if not isinstance(lineage, dict):
            raise GRCError("expected a JSON object", path=path, field="lineage")
        return cls([Bend.from_json(b, path, f"bends[{i}]") for i, b in enumerate(bends)],
                   None if blend is None else np.asarray(blend, float),
                   None if context is None else np.asarray(context, float), name, lineage, path)

    def save(self, path) -> Path:
        return atomic_write(path, json.dumps(self.to_json(), indent=1) + "\n")


def _check_context(model: GRCModel, context, morph, field_name) -> np.ndarray:
    """A context path for the shape's `morph` samples: (C,) or (len(morph), C)."""
    context = np.asarray(context, float)
    if context.shape not in ((model.context_dims,), (len(morph), model.context_dims)):
        raise GRCError(f"expected a context of {model.context_dims} values (or {len(morph)} rows of them, one "
                       f"per morph sample), got shape {context.shape}", field=field_name)
    return context


def check_bends(model: GRCModel, bends) -> None:
    """Refuse bends this model's decoder cannot take: a hidden layer it lacks, a unit past a layer's width
    (a GRCError whose field is `bends[i].layer` / `bends[i].units`)."""
    layers = model._layers["decoder"]
    hidden = len(layers) - 1
    for i, b in enumerate(bends):
        if not isinstance(b.layer, int):
            continue
        if b.layer >= hidden:
            raise GRCError(f"this model's decoder has {hidden} hidden layers (0 to {hidden - 1}), got {b.layer}",
                           field=f"bends[{i}].layer")
        if isinstance(b.units, list) and b.units:
            width = layers[b.layer][0].shape[1]
            if max(b.units) >= width:
                raise GRCError(f"layer {b.layer} of this model's decoder has {width} units (0 to {width - 1}), "
                               f"got {max(b.units)}", field=f"bends[{i}].units")


def load_look(path) -> Look:
    """Read a `grc-look/1` file (checked like every file GRC Studio reads)."""
    return Look.from_json(parse_json(read_text(path, MAX_TEMPLATE_BYTES, "look file"), path), path)


# -- the bent decoder --------------------------------------------------------------------------------


def bent_decode(model: GRCModel, time, morph, context, bends, *, model_strength: float = 1.0) -> np.ndarray:
    """model.decode with `bends` applied: (time (S,), morph (S,), context (S, C)) -> rows (S, N, 3).

    `model_strength` scales every bend's strength at once (the app's master slider).
    """
    time = np.asarray(time, float)
    morph = np.asarray(morph, float)
    layers = model._layers["decoder"]
    hidden = len(layers) - 1
    check_bends(model, bends)
    bent_time, bent_morph = time, morph
    for b in bends:
        if b.layer in INPUTS:
            s = b.strength * model_strength
            if b.layer == "time":
                bent_time = bent_time + s * (_input_op(b, bent_time, model.templates.time) - bent_time)
            else:
                bent_morph = bent_morph + s * (_input_op(b, bent_morph, model.templates.morph) - bent_morph)
    u = model._normalize(bent_time, bent_morph)
    x = decoder_features(u, np.asarray(context, float), model.config.decoder_features)
    for i, (w, bias) in enumerate(layers):
        x = x @ w + bias
        if i < hidden or model.config.final_activation:
            x = elu(x)
        if i < hidden:
            for b in bends:
                if b.layer == i:
                    x = _unit_op(model, b, x, time, b.strength * model_strength)
    rows = x * model._row_scale + model._row_mean
    return rows.reshape(*time.shape, -1, 3)


def _input_op(b: Bend, values, axis) -> np.ndarray:
    low, high = float(axis[0]), float(axis[-1])
    span = high - low
    if b.op == "shift":
        return values + b.amount * span
    if b.op == "scale":
        center = (low + high) / 2
        return center + (values - center) * b.amount
    # warp: a smooth wave along the axis, amount in units of the axis's span
    return values + b.amount * span * np.sin(np.pi * b.frequency * (values - low) / span)


def _unit_op(model, b: Bend, h, time, strength) -> np.ndarray:
    units = select_units(model, b.layer, b.units)
    if not len(units) or strength == 0:
        return h
    part = h[..., units]
    if b.op == "scale":
        bent = part * b.amount
    elif b.op == "offset":
        bent = part + b.amount
    elif b.op == "invert":
        bent = -part
    elif b.op == "ablate":
        bent = np.zeros_like(part)
    elif b.op == "threshold":  # a gate: units below `amount` are cut to 0
        bent = np.where(part >= b.amount, part, 0.0)
    else:  # oscillate over the time axis, so a bend animates as the shape grows
        span = float(model.templates.time[-1] - model.templates.time[0])
        phase = (np.asarray(time, float) - model.templates.time[0]) / span
        bent = part + b.amount * np.sin(2 * np.pi * b.frequency * phase)[..., None]
    h = h.copy()
    h[..., units] = part + strength * (bent - part)
    return h


# -- choosing units ----------------------------------------------------------------------------------


def layer_width(model: GRCModel, layer: int) -> int:
    return model._layers["decoder"][layer][0].shape[1]


def select_units(model: GRCModel, layer: int, units) -> np.ndarray:
    """The unit indices a bend's `units` names in a hidden layer."""
    width = layer_width(model, layer)
    if units == "all":
        return np.arange(width)
    if isinstance(units, list):
        chosen = np.asarray(units, int)
        if chosen.size and chosen.max() >= width:
            raise GRCError(f"this layer has {width} units (0 to {width - 1}), got {chosen.max()}", field="units")
        return chosen
    if "fraction" in units:
        rng = np.random.default_rng(int(units.get("seed", 0)))
        return np.sort(rng.permutation(width)[:int(round(units["fraction"] * width))])
    labels = clusters(model, layer, int(units.get("clusters", 6)), int(units.get("seed", 0)))
    return np.flatnonzero(labels == int(units["cluster"]))


def explored_inputs(model: GRCModel, mixes: int, low: float, high: float, seed: int = 0):
    """Decoder inputs over the shapes a user explores: (time, morph, context), each (S, ...).

    Times and morph values on an even CLUSTER_SAMPLES grid over the map; contexts from every template's
    trace and from `mixes` seeded blends of them, each weight drawn in [low, high] (extrapolating too).
    """
    T = np.linspace(model.templates.time[0], model.templates.time[-1], CLUSTER_SAMPLES)
    M = np.linspace(model.templates.morph[0], model.templates.morph[-1], CLUSTER_SAMPLES)
    traces = model.traces(T, M)  # (K, T, M, C)
    K = len(traces)
    weights = np.random.default_rng(seed).uniform(low, high, size=(mixes, K))
    weights /= weights.sum(axis=1, keepdims=True)
    mean = traces.mean(axis=0)
    contexts = np.concatenate([traces, mean + np.tensordot(weights - 1 / K, traces - mean, axes=1)])
    t, m = np.meshgrid(T, M, indexing="ij")
    t, m = np.broadcast_to(t, contexts.shape[:-1]).ravel(), np.broadcast_to(m, contexts.shape[:-1]).ravel()
    return t, m, contexts.reshape(len(t), model.context_dims)


def activation_samples(model: GRCModel, layer: int, seed: int = 0) -> np.ndarray:
    """Each unit's activation over the explored inputs (4 seeded blends in [-0.5, 1.5]): (samples, units)."""
    t, m, contexts = explored_inputs(model, 4, -0.5, 1.5, seed)
    x = decoder_features(model._normalize(t, m), contexts, model.config.decoder_features)
    for i, (w, b) in enumerate(model._layers["decoder"][:layer + 1]):
        x = elu(x @ w + b)
    return x


_CLUSTER_CACHE: dict = {}


def clusters(model: GRCModel, layer: int, k: int, seed: int = 0) -> np.ndarray:
    """k-means of the layer's units by their activation patterns: a label (0..k-1) per unit.

    Deterministic for (model, layer, k, seed): a look names clusters, and must mean the same units
    whenever and wherever it is applied.
    """
    key = (id(model), layer, k, seed)
    if key in _CLUSTER_CACHE and _CLUSTER_CACHE[key][0] is model:
        return _CLUSTER_CACHE[key][1]
    a = activation_samples(model, layer, seed).T  # (units, samples)
    a = a - a.mean(axis=1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-12  # units compared by the shape of their response
    k = min(k, len(a))
    rng = np.random.default_rng(seed)
    centers = [a[rng.integers(len(a))]]  # k-means++
    for _ in range(1, k):
        d = np.min([np.sum((a - c) ** 2, axis=1) for c in centers], axis=0)
        centers.append(a[rng.choice(len(a), p=d / d.sum())] if d.sum() > 0 else a[rng.integers(len(a))])
    centers = np.array(centers)
    labels = np.zeros(len(a), int)
    for _ in range(100):
        new = np.argmin(((a[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        for c in range(k):
            if np.any(labels == c):
                centers[c] = a[labels == c].mean(axis=0)
    order = np.argsort([np.flatnonzero(labels == c).min() if np.any(labels == c) else len(a) for c in range(k)])
    labels = np.argsort(order)[labels]  # clusters numbered by their first unit: stable names
    if len(_CLUSTER_CACHE) > 32:
        _CLUSTER_CACHE.clear()
    _CLUSTER_CACHE[key] = (model, labels)
    return labels


def cluster_regions(model: GRCModel, layer: int, k: int, seed: int = 0, time=None, blend=None) -> list[dict]:
    """Where on the grid each cluster acts, and how: ablating it moves these points most, this way.

    Returns one dict per cluster: `units`, `region` ((M, N) movement, 0..1), `name` (where and how, "tip —
    lifts", "base to middle, left — shifts lengthwise"; see `cluster_name`; each name once: a name several
    clusters share gets an ordinal from the second on, "all over, most at the tip — lifts 2").
    """
    time = float(np.mean(model.templates.time[[0, -1]]) if time is None else time)
    if blend is None:  # between all the templates: equal weights
        blend = np.full(len(model.templates), 1 / len(model.templates))
    morph = model.templates.morph
    context = model.context(time, blend, morph)
    base = bent_decode(model, np.full(len(morph), time), morph, context, [])
    labels = clusters(model, layer, k, seed)
    out = []
    for c in range(k):
        units = np.flatnonzero(labels == c).tolist()
        bent = bent_decode(model, np.full(len(morph), time), morph, context,
                           [Bend("ablate", layer, units)]) if units else base
        moved = np.linalg.norm(bent - base, axis=-1)  # (M, N)
        region = moved / moved.max() if moved.max() > 0 else moved
        out.append({"cluster": c, "units": units, "region": region,
                    "name": cluster_name(base, bent, model.flip_normals)})
    seen: dict[str, int] = {}
    for r in out:
        seen[r["name"]] = seen.get(r["name"], 0) + 1
        if seen[r["name"]] > 1:
            r["name"] = f"{r['name']} {seen[r['name']]}"
    return out


PEAK = 0.7  # a cluster acts "where" its points move at least this much of its most-moved point's movement


def cluster_name(base, bent, flip: bool = False) -> str:
    """Where and how a change from grid `base` to `bent` ((rows, points, 3) each) acts, for a person to tell
    clusters apart: where the points moving most lie along the rows (base, middle, tip) and across them (left,
    centre, right; said only when not the whole width), and how they move there: "lifts" or "sinks" (off the
    surface, the way its front faces or against it: the mesh's normals, d(row) x d(point), turned over with
    `flip` as a model's flip_normals turns them), "shifts lengthwise" (along the rows' direction) or "shifts
    sideways": "tip — lifts", "all over, most at the base — shifts lengthwise"."""
    base, bent = np.asarray(base, float), np.asarray(bent, float)
    moved = np.linalg.norm(bent - base, axis=-1)
    if moved.max() <= 0:
        return "no effect"
    region = moved / moved.max()
    peak = region >= PEAK
    M, N = region.shape
    along = _span(np.flatnonzero(peak.any(axis=1)) / max(M - 1, 1), ("base", "middle", "tip"), "base and tip")
    across = _span(np.flatnonzero(peak.any(axis=0)) / max(N - 1, 1), ("left", "centre", "right"), "edges")
    if along is None and across is None:
        most = np.unravel_index(np.argmax(region), region.shape)[0] / max(M - 1, 1)
        where = f"all over, most at the {('base', 'middle', 'tip')[min(int(most * 3), 2)]}"
    else:
        where = ", ".join([along or "whole length"] + ([across] if across else []))
    d = bent - base
    lengthwise = np.gradient(base, axis=0) if M > 1 else np.zeros_like(base)
    sideways = np.gradient(base, axis=1) if N > 1 else np.zeros_like(base)
    normal = np.cross(lengthwise, sideways)
    weight = region / region.sum()
    parts = [float((weight * np.abs((d * _unit(v)).sum(axis=-1))).sum()) for v in (normal, lengthwise, sideways)]
    how = int(np.argmax(parts))
    if how == 0:  # off the surface: the way its normal faces ("lifts") or against it
        up = float((weight * (d * _unit(normal)).sum(axis=-1)).sum()) * (-1 if flip else 1)
        return f"{where} — {'lifts' if up >= 0 else 'sinks'}"
    return f"{where} — {('shifts lengthwise', 'shifts sideways')[how - 1]}"


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _span(where, words, ends) -> str | None:
    """The thirds (`words`) that positions `where` (0..1) reach, "base to middle", or `ends` for the first and
    the last alone; None when all three."""
    thirds = sorted({0 if x < 1 / 3 - 1e-9 else 2 if x > 2 / 3 + 1e-9 else 1 for x in where})  # 7 rows: 2, 3, 2
    if len(thirds) == 3 or not thirds:
        return None
    if thirds == [0, 2]:
        return ends
    return words[thirds[0]] if len(thirds) == 1 else f"{words[thirds[0]]} to {words[thirds[-1]]}"
