"""A trained GRC model, evaluated in numpy: template models, encoder, decoder, traces, shapes.

Training (grc.training) needs PyTorch; using a model does not. A slider move is a handful of
small matrix products here, and the Blender add-on ships this module as it is.

Names: a *row* is one morph row of a grid, N points x 3 coordinates, flattened point by point
to 3N numbers. The *relational map* is (time, morph). The encoder maps a row to (time, morph,
context); the decoder maps (time, morph, context) back to the row. A template's *trace* is the
context the encoder gives its rows; a *blend* of templates is a weighted mix of their traces.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from . import bundle
from .config import Config
from .errors import GRCError
from .io import atomic_path
from .limits import MAX_BLEND, MAX_CONTEXT, MAX_COORDINATE, MAX_MAP_VALUE, MAX_MODEL_BYTES, MAX_MORPH_SAMPLES, number, parse_json
from .templates import TemplateSet

MODEL_FORMAT = "grc-model/1"
VERSION = "0.1.0"

# Frequencies of the sin/cos features of normalized (time, morph): each axis at 1.5 and 3.0.
FOURIER = np.array([[1.5, 0.0, 3.0, 0.0], [0.0, 1.5, 0.0, 3.0]])
RECENT_TRACES = 8  # how many traces() results a model keeps
REMEMBER_ROWS = 16384  # remember_traces() runs the networks on at most this many rows at once
FEATURES = {"raw": 2, "fourier": 2 + 2 * FOURIER.shape[1]}


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def fourier(u):
    """(..., 2) normalized (time, morph) -> (..., 10): the values, their sines and cosines."""
    z = u @ FOURIER
    return np.concatenate([u, np.sin(z), np.cos(z)], axis=-1)


def relational_features(u, kind: str):
    return fourier(u) if kind == "fourier" else u


def decoder_features(u, context, kind: str):
    """Decoder input: relational features, the context, and (fourier-product) their products."""
    if kind == "raw":
        return np.concatenate([u, context], axis=-1)
    f = fourier(u)
    products = (context[..., :, None] * f[..., None, :]).reshape(*f.shape[:-1], -1)
    return np.concatenate([f, context, products], axis=-1)


def decoder_width(kind: str, context_dims: int) -> int:
    return 2 + context_dims if kind == "raw" else FEATURES["fourier"] * (1 + context_dims) + context_dims


def mlp(x, layers, final_activation: bool):
    """Run an MLP given as [(weight (in, out), bias (out,)), ...]; ELU between layers."""
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1 or final_activation:
            x = elu(x)
    return x


def layer_sizes(config: Config, rows: int, row_width: int) -> dict[str, list[int]]:
    """Each network's layer sizes for a grid whose rows have `row_width` = 3N numbers."""
    C = config.context_dims
    if C is None:
        raise GRCError("context_dims is decided by the number of templates: config.for_templates(K) first",
                       field="context_dims")
    return {
        "template": [FEATURES[config.template_features], *config.template_hidden, row_width],
        "encoder": [row_width, *config.encoder_hidden, 2 + C],
        "decoder": [decoder_width(config.decoder_features, C), *config.decoder_hidden, row_width],
    }


def expected_shapes(config: Config, templates: TemplateSet) -> dict[str, tuple]:
    """Every weight a model of this config and template set holds, with its shape."""
    K, (_, M, N) = len(templates), templates.grid_shape
    config = config.for_templates(K)
    shapes = {"relational_center": (2,), "relational_scale": (2,), "row_mean": (3 * N,), "row_scale": (1,)}
    for net, sizes in layer_sizes(config, M, 3 * N).items():
        batch = (K,) if net == "template" else ()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            shapes[f"{net}.{i}.weight"] = (*batch, a, b)
            shapes[f"{net}.{i}.bias"] = (*batch, b)
    return shapes


class GRCModel:
    """Template models + relational encoder + generative decoder, with the templates they learned."""

    def __init__(self, config: Config, templates: TemplateSet, weights: dict[str, np.ndarray],
                 info: dict | None = None):
        self.config, self.templates, self.info = config.for_templates(len(templates)), templates, dict(info or {})
        self.weights = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
        self._layers = {net: self._net(net) for net in ("template", "encoder", "decoder")}
        w = self.weights
        self._center, self._scale = w["relational_center"], w["relational_scale"]
        self._row_mean, self._row_scale = w["row_mean"], w["row_scale"][0]
        self._recent_traces: dict[tuple, np.ndarray] = {}  # traces() of the last few (time, morph)
        self._remembered: dict[tuple, np.ndarray] = {}  # traces kept by remember_traces()

    def _net(self, net):
        layers, i = [], 0
        while f"{net}.{i}.weight" in self.weights:
            bias = self.weights[f"{net}.{i}.bias"]
            layers.append((self.weights[f"{net}.{i}.weight"], bias[:, None, :] if net == "template" else bias))
            i += 1
        return layers

    # -- sizes -------------------------------------------------------------------------------
    @property
    def context_dims(self) -> int:
        return self.config.context_dims

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """(time steps, morph rows, points per row) of the templates."""
        return self.templates.grid_shape

    @property
    def names(self) -> list[str]:
        return self.templates.names

    @property
    def flip_normals(self) -> bool:
        """Whether its surfaces face the other way (every export and the add-on reverse the quads' winding);
        kept in the model file's info as "flip_normals", set with `grc normals MODEL --flip`."""
        return self.info.get("flip_normals") is True

    @flip_normals.setter
    def flip_normals(self, flip: bool):
        self.info["flip_normals"] = bool(flip)

    # -- the networks --------------------------------------------------------------------------
    def _normalize(self, time, morph):
        time, morph = np.broadcast_arrays(np.asarray(time, float), np.asarray(morph, float))
        return (np.stack([time, morph], axis=-1) - self._center) / self._scale

    def template_rows(self, time, morph) -> np.ndarray:
        """Each template model's rows at (time, morph) (broadcast together): (K, ..., N, 3)."""
        u = self._normalize(time, morph)
        x = relational_features(u.reshape(-1, 2), self.config.template_features)
        rows = mlp(x, self._layers["template"], self.config.final_activation)  # (K, S, 3N)
        rows = rows * self._row_scale + self._row_mean
        return rows.reshape(len(rows), *u.shape[:-1], -1, 3)

    def encode(self, rows) -> np.ndarray:
        """Rows (..., N, 3) -> (..., 2 + C): their time, morph and context."""
        rows = np.asarray(rows, float)
        x = (rows.reshape(*rows.shape[:-2], -1) - self._row_mean) / self._row_scale
        z = mlp(x, self._layers["encoder"], self.config.final_activation)
        return np.concatenate([z[..., :2] * self._scale + self._center, z[..., 2:]], axis=-1)

    def decode(self, time, morph, context) -> np.ndarray:
        """(time, morph, context (..., C)) -> rows (..., N, 3)."""
        u = self._normalize(time, morph)
        context = np.broadcast_to(np.asarray(context, float), (*u.shape[:-1], self.context_dims))
        x = decoder_features(u, context, self.config.decoder_features)
        rows = mlp(x, self._layers["decoder"], self.config.final_activation) * self._row_scale + self._row_mean
        return rows.reshape(*u.shape[:-1], -1, 3)

    # -- traces, blends, shapes --------------------------------------------------------------
    def morph_samples(self, morph=None) -> np.ndarray:
        """The morph values of a shape's rows: the template grid's (None), n even samples (int), or given."""
        if morph is None:
            return self.templates.morph
        if isinstance(morph, (int, np.integer)) and not isinstance(morph, (bool, np.bool_)):
            count = number(morph, "morph samples", low=2, high=MAX_MORPH_SAMPLES, integer=True)
            return np.linspace(self.templates.morph[0], self.templates.morph[-1], count)
        return _values(morph, "morph", MAX_MAP_VALUE, MAX_MORPH_SAMPLES)

    def traces(self, time=None, morph=None) -> np.ndarray:
        """Each template's context over the relational map: (K, len(time), len(morph), C).

        `time` defaults to the templates' time steps, `morph` as in `morph_samples`.
        """
        time = self.templates.time if time is None else _values(time, "time", MAX_MAP_VALUE)
        morph = self.morph_samples(morph)
        key = (np.asarray(time, float).tobytes(), np.asarray(morph, float).tobytes())
        traces = self._remembered.get(key)
        if traces is None:
            traces = self._recent_traces.get(key)
        if traces is None:  # a slider move asks for the same traces several times (pad, path, shape)
            traces = self._traces(time, morph)
            if len(self._recent_traces) >= RECENT_TRACES:  # forget the oldest (pop: another thread may have)
                self._recent_traces.pop(next(iter(self._recent_traces), None), None)
            self._recent_traces[key] = traces
        return traces.copy()

    def _traces(self, time, morph) -> np.ndarray:
        t, m = np.meshgrid(time, morph, indexing="ij")
        return self.encode(self.template_rows(t, m))[..., 2:]

    def remember_traces(self, times, morph=None) -> None:
        """Compute the traces at each of `times` (in batches) and keep them: `traces(t, morph)` for one
        of these times is then a lookup (for an app about to scrub through them). The values are the
        ones `traces` computes. Safe to run in another thread while this model is used."""
        times = _values(times, "time", MAX_MAP_VALUE)
        morph = np.asarray(self.morph_samples(morph), float)
        chunk = max(1, REMEMBER_ROWS // (len(self.templates) * len(morph)))  # bounds the memory it takes
        traces = np.concatenate([self._traces(times[i:i + chunk], morph) for i in range(0, len(times), chunk)], axis=1)
        remembered = dict(self._remembered)
        remembered.update(((times[i:i + 1].tobytes(), morph.tobytes()), traces[:, i:i + 1]) for i in range(len(times)))
        self._remembered = remembered  # one assignment: a reader sees the old dict or the new one

    def blend_weights(self, blend) -> np.ndarray:
        """Template weights for a blend: a number α for two templates (0 = first, 1 = second), or K weights;
        None is the first template (whatever K)."""
        K = len(self.templates)
        if blend is None:
            return np.eye(K)[0]
        values = _values(blend, "blend", MAX_BLEND)
        if values.size == 1 and K == 2:
            return np.array([1 - values[0], values[0]])
        if values.shape != (K,):
            expected = "one number (0 = first template, 1 = second) or 2 weights" if K == 2 else f"{K} weights"
            raise GRCError(f"expected {expected}, got {values.size} values", field="blend")
        return values

    def context(self, time: float, blend=None, morph=None) -> np.ndarray:
        """The context path of a blend at `time`: (len(morph), C).

        It is mean + Σ w_k (trace_k - mean) over the templates' traces: weights summing to 1
        interpolate between traces (or extrapolate, with weights outside [0, 1]).
        """
        traces = self.traces(time, morph)[:, 0]  # (K, M', C)
        mean = traces.mean(axis=0)
        return mean + np.tensordot(self.blend_weights(blend), traces - mean, axes=1)

    def shape(self, time: float, blend=None, *, morph=None, context=None) -> np.ndarray:
        """The generated grid at `time` for a blend (or raw `context`, (C,) or (M', C)): (M', N, 3).

        Time, blend and context are checked (real, finite, within MAX_MAP_VALUE, MAX_BLEND, MAX_CONTEXT);
        a grid that comes out NaN or infinite (far outside what the model learned) is a GRCError.
        """
        times = _values(time, "time", MAX_MAP_VALUE)
        if times.size != 1:
            raise GRCError(f"expected one number, got {times.size}", field="time")
        time = float(times[0])
        morph = self.morph_samples(morph)
        if context is None:
            with np.errstate(all="ignore"):  # overflow is reported below, as one line
                context = self.context(time, blend, morph)
            field = "blend"
        else:
            shape = np.shape(context)
            context = _values(context, "context", MAX_CONTEXT).reshape(shape)
            if context.shape not in ((self.context_dims,), (len(morph), self.context_dims)):
                raise GRCError(f"expected {self.context_dims} values (or one row of them per morph sample)",
                               field="context")
            field = "context"
        with np.errstate(all="ignore"):  # overflow is reported below, as one line
            grid = self.decode(np.full(len(morph), time), morph, context)
        if not np.isfinite(grid).all():
            raise GRCError(f"the shape at time {time:g} is not finite (too far outside what the model learned)",
                           field=field)
        return grid

    # -- files -------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write one self-contained model file (weights, config, templates, version), atomically."""
        metadata = {
            "format": MODEL_FORMAT,
            "grc_version": VERSION,
            "config": json.dumps(self.config.to_json()),
            "templates": json.dumps(self.templates.to_json()),
            "info": json.dumps(self.info),
        }
        with np.errstate(over="ignore"):  # a weight beyond float32 becomes infinite: the read-back refuses it
            tensors = {k: v.astype(np.float32) if k.split(".")[0] in ("encoder", "decoder", "template") else v
                       for k, v in self.weights.items()}
        data = bundle.dumps(tensors, metadata)
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
            check_reads_back(tmp, path)
        return path

    @classmethod
    def load(cls, path) -> "GRCModel":
        """Read a model file; a damaged, foreign or newer file raises GRCError, nothing is executed."""
        return cls._from_contents(*bundle.load(path), path)

    @classmethod
    def from_bytes(cls, data: bytes, path=None) -> "GRCModel":
        """A model from a model file's bytes (`path` names it in errors), checked as load() checks a file."""
        return cls._from_contents(*bundle.loads(data, path), path)

    @classmethod
    def _from_contents(cls, tensors: dict, meta: dict, path) -> "GRCModel":
        fmt = meta.get("format")
        if fmt is None or not fmt.startswith("grc-model/"):
            raise GRCError("not a GRC model (no grc-model format in its metadata)", path=path, field="format")
        if fmt != MODEL_FORMAT:
            raise GRCError(f"made by a newer GRC Studio ({fmt}); this version reads {MODEL_FORMAT}",
                           path=path, field="format")
        parsed = {}
        for key in ("config", "templates", "info"):
            if key not in meta:
                raise GRCError("missing from the model file", path=path, field=key)
            parsed[key] = parse_json(meta[key], path=path, field=key)
        config = Config.from_json(parsed["config"], path)
        templates = TemplateSet.from_json(parsed["templates"], path)
        expected = expected_shapes(config, templates)
        for name, shape in expected.items():
            if name not in tensors:
                raise GRCError(f"missing weights {name!r}", path=path, field="weights")
            if tensors[name].shape != shape:
                raise GRCError(f"expected shape {shape}, got {tensors[name].shape}", path=path, field=name)
            if not np.all(np.isfinite(tensors[name])):
                raise GRCError("contains NaN or infinite values", path=path, field=name)
        extra = sorted(set(tensors) - set(expected))
        if extra:
            raise GRCError(f"unexpected weights {extra}", path=path, field="weights")
        for name in ("relational_scale", "row_scale"):  # the model divides by them
            if not np.all(tensors[name] > 0):
                raise GRCError(f"expected positive values, got {tensors[name].tolist()}", path=path, field=name)
        for name, most in (("relational_center", MAX_MAP_VALUE), ("relational_scale", MAX_MAP_VALUE),
                           ("row_mean", MAX_COORDINATE), ("row_scale", MAX_COORDINATE)):  # the map's and the grid's units
            if np.abs(tensors[name]).max() > most:
                raise GRCError(f"expected values within ±{most:g}, got {np.abs(tensors[name]).max():g}",
                               path=path, field=name)
        info = parsed["info"] if isinstance(parsed["info"], dict) else {}
        model = cls(config, templates, tensors, info)
        time = float(templates.time[-1])  # weights and scales each within bounds can still make no shape at all
        try:
            model.shape(time, np.eye(len(templates))[0])
        except GRCError:
            raise GRCError(f"its shape at time {time:g} is not finite (damaged weights or scales): expected a model "
                           f"whose first template's shape is finite, as every saved model's is", path=path) from None
        return model


def _values(values, field: str, limit: float, count: int | None = None) -> np.ndarray:
    """A number or list of numbers as a flat float array: real numbers (no booleans or strings), finite,
    |value| <= limit, at most `count` of them; else a GRCError naming the field."""
    try:
        array = np.asarray(values)
    except ValueError:
        raise GRCError("expected a number or a list of numbers", field=field) from None
    if array.dtype.kind not in "iuf":
        raise GRCError(f"expected real numbers, got {array.dtype.kind == 'b' and 'true/false' or array.dtype}",
                       field=field)
    array = array.astype(float).reshape(-1)
    if count is not None and array.size > count:
        raise GRCError(f"expected at most {count:,} values, got {array.size:,}", field=field)
    if not np.isfinite(array).all():
        raise GRCError("expected finite numbers (no NaN or infinity)", field=field)
    if array.size and np.abs(array).max() > limit:
        raise GRCError(f"expected values from {-limit:g} to {limit:g}, got {array[np.abs(array).argmax()]:g}",
                       field=field)
    return array


def check_reads_back(file, path=None) -> GRCModel:
    """Load `file` through every check `GRCModel.load` does and decode a shape that must be finite;
    else GRCError "the model would not read back: ..." naming `path` (the file it was meant for)."""
    try:
        model = GRCModel.load(file)
    except GRCError as e:
        why = ": ".join(part for part in (e.field, e.message) if part)
        raise GRCError(f"the model would not read back: {why}", path=path or file) from None
    time = float(model.templates.time[-1])
    try:
        model.shape(time, np.eye(len(model.templates))[0])
    except GRCError:
        raise GRCError(f"the model would not read back: its shape at time {time:g} is not finite",
                       path=path or file) from None
    return model


def model_bytes(config: Config, templates: TemplateSet) -> int:
    """About how many bytes a model file of this config and template set takes (weights in float32 and
    the templates' JSON, at 32 characters a number)."""
    shapes = expected_shapes(config, templates)
    values = len(templates) * int(np.prod(templates.grid_shape)) * 3
    return sum(math.prod(s) for s in shapes.values()) * 4 + 32 * values + 65536


def check_model_size(config: Config, templates: TemplateSet) -> None:
    """Raise GRCError before training if the model would be larger than a model file may be."""
    size = model_bytes(config, templates)
    if size > MAX_MODEL_BYTES:
        raise GRCError(f"a model of this config and template set would take {size / 2**20:,.0f} MiB, more than "
                       f"the {MAX_MODEL_BYTES / 2**20:,.0f} MiB limit for a model file (use fewer or narrower "
                       f"layers)", field="config")


def load_model(path) -> GRCModel:
    """Load a `.grc` model file."""
    return GRCModel.load(path)
