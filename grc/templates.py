"""Templates: an artist's grid mesh over time, its file format, validation and importers.

A template is one JSON file (format `grc-template/1`):

    {"format": "grc-template/1", "name": "open",
     "time":  [0, 0.1, ...],             # T increasing values: the relational map's time axis
     "morph": [0, 0.1, ...],             # M increasing values: one per morph row of the grid
     "points": [[[[x, y, z], ...]]]}     # [time][morph row][point][xyz], Z up as in Blender

A template set is a folder of such files (sorted by file name) sharing the relational map
and grid size. Numpy and the standard library only: the Blender add-on ships this module.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import GRCError
from .io import atomic_write

FORMAT = "grc-template/1"


@dataclass
class Template:
    """One artist template: `points` (time, morph row, point, xyz) over a relational map."""

    name: str
    time: np.ndarray  # (T,)
    morph: np.ndarray  # (M,)
    points: np.ndarray  # (T, M, N, 3)
    attribution: str = ""

    def __post_init__(self):
        self.time = np.asarray(self.time, dtype=float)
        self.morph = np.asarray(self.morph, dtype=float)
        self.points = np.asarray(self.points, dtype=float)
        check_template(self)

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """(time steps, morph rows, points per row)."""
        return self.points.shape[:3]

    def to_json(self) -> dict:
        data = {"format": FORMAT, "name": self.name, "time": self.time.tolist(),
                "morph": self.morph.tolist(), "points": self.points.tolist()}
        if self.attribution:
            data["attribution"] = self.attribution
        return data

    @classmethod
    def from_json(cls, data, path=None) -> "Template":
        """Build a template from parsed JSON, naming `path` and the field in any error."""
        if not isinstance(data, dict):
            raise GRCError("expected a JSON object (a GRC template)", path=path)
        if data.get("format") != FORMAT:
            raise GRCError(f"expected {FORMAT!r}, found {data.get('format')!r}", path=path, field="format")
        for key in ("name", "time", "morph", "points"):
            if key not in data:
                raise GRCError("missing", path=path, field=key)
        name, attribution = data["name"], data.get("attribution", "")
        if not isinstance(name, str) or not name.strip():
            raise GRCError("expected a non-empty string", path=path, field="name")
        if not isinstance(attribution, str):
            raise GRCError("expected a string", path=path, field="attribution")
        time = _array(data["time"], 1, path, "time")
        morph = _array(data["morph"], 1, path, "morph")
        points = _array(data["points"], 4, path, "points")
        return cls(name, time, morph, points, attribution, _path=path)

    def save(self, path) -> Path:
        """Write the template to `path` atomically."""
        return atomic_write(path, template_json(self.to_json()))

    _path: object = field(default=None, repr=False, compare=False)


def template_json(data: dict) -> str:
    """Readable JSON for a template: one line per field, one point [x, y, z] per line."""
    def dumps(value, depth, indent=2):
        if depth == 0:
            return json.dumps(value)
        pad = " " * indent
        inner = ",\n".join(pad + "  " + dumps(v, depth - 1, indent + 2) for v in value)
        return "[\n" + inner + "\n" + pad + "]"

    fields = [f' "{key}": {dumps(value, 3) if key == "points" else json.dumps(value)}' for key, value in data.items()]
    return "{\n" + ",\n".join(fields) + "\n}\n"


def _array(value, ndim: int, path, name: str) -> np.ndarray:
    """A nested list of numbers as a float array of rank `ndim`, or a GRCError."""
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise GRCError(f"expected a nested list of numbers, {ndim} levels deep, all rows the same length",
                       path=path, field=name) from None
    if array.ndim != ndim:
        raise GRCError(f"expected a {ndim}-level nested list of numbers, got {array.ndim} levels",
                       path=path, field=name)
    return array


def check_template(t: Template) -> None:
    """Raise GRCError unless the template's arrays are well formed and finite."""
    path = t._path
    for axis in ("time", "morph"):
        values = getattr(t, axis)
        if values.ndim != 1 or len(values) < 2:
            raise GRCError("expected a list of at least 2 numbers", path=path, field=axis)
        if not np.all(np.isfinite(values)):
            raise GRCError("expected finite numbers (no NaN or infinity)", path=path, field=axis)
        if not np.all(np.diff(values) > 0):
            raise GRCError("expected strictly increasing values", path=path, field=axis)
    if t.points.ndim != 4 or t.points.shape[-1] != 3:
        raise GRCError("expected [time][morph row][point][x, y, z]", path=path, field="points")
    T, M, N = t.points.shape[:3]
    if (T, M) != (len(t.time), len(t.morph)):
        raise GRCError(f"expected {len(t.time)} time steps x {len(t.morph)} morph rows (the lengths of "
                       f"time and morph), got {T} x {M}", path=path, field="points")
    if N < 2:
        raise GRCError("expected at least 2 points per row", path=path, field="points")
    if not np.all(np.isfinite(t.points)):
        i = tuple(int(v) for v in np.argwhere(~np.isfinite(t.points))[0])
        raise GRCError(f"expected finite coordinates, found {t.points[i]} at [{i[0]}][{i[1]}][{i[2]}][{i[3]}]",
                       path=path, field="points")


def load_template(path) -> Template:
    """Read and validate one template file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GRCError("no such file", path=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise GRCError(f"cannot read: {e}", path=path) from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise GRCError(f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})", path=path) from None
    except ValueError as e:
        raise GRCError(str(e), path=path) from None
    return Template.from_json(data, path)


def _reject_constant(name):
    raise ValueError(f"expected finite numbers, found {name}")


@dataclass
class TemplateSet:
    """K >= 2 templates sharing one relational map and grid size; the order is the blend order."""

    templates: list[Template]
    path: Path | None = None

    def __post_init__(self):
        check_set(self.templates, self.path)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.templates]

    @property
    def time(self) -> np.ndarray:
        return self.templates[0].time

    @property
    def morph(self) -> np.ndarray:
        return self.templates[0].morph

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return self.templates[0].grid_shape

    @property
    def points(self) -> np.ndarray:
        """All templates' grids: (K, T, M, N, 3)."""
        return np.stack([t.points for t in self.templates])

    def __len__(self) -> int:
        return len(self.templates)

    def __iter__(self):
        return iter(self.templates)

    def to_json(self) -> list[dict]:
        return [t.to_json() for t in self.templates]

    @classmethod
    def from_json(cls, data, path=None) -> "TemplateSet":
        if not isinstance(data, list):
            raise GRCError("expected a list of templates", path=path, field="templates")
        return cls([Template.from_json(d, path) for d in data], path)

    def save(self, folder) -> list[Path]:
        """Write each template to `folder` as `<index>-<name>.json` (atomic per file)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return [t.save(folder / template_filename(i, t.name)) for i, t in enumerate(self.templates)]


def template_filename(index: int, name: str) -> str:
    """A file name that keeps the set's order when sorted: `0-open.json`."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.strip()) or "template"
    return f"{index}-{safe}.json"


def check_set(templates: list[Template], path=None) -> None:
    """Raise GRCError unless the templates can be trained together."""
    if len(templates) < 2:
        raise GRCError(f"expected at least 2 templates, found {len(templates)}", path=path)
    first = templates[0]
    seen = set()
    for t in templates:
        where = t._path or path
        if t.name in seen:
            raise GRCError(f"duplicate template name {t.name!r}", path=where, field="name")
        seen.add(t.name)
        if t.grid_shape != first.grid_shape:
            raise GRCError(f"expected the set's grid size {_shape(first)} (as in {first.name!r}), "
                           f"got {_shape(t)}", path=where, field="points")
        for axis in ("time", "morph"):
            a, b = getattr(t, axis), getattr(first, axis)
            if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-9):
                raise GRCError(f"expected the set's relational map {b.tolist()} (as in {first.name!r}), "
                               f"got {a.tolist()}", path=where, field=axis)


def _shape(t: Template) -> str:
    T, M, N = t.grid_shape
    return f"{T} time steps x {M} rows x {N} points"


def load_template_set(path) -> TemplateSet:
    """Load a template set from a folder of template files (or a single template list)."""
    path = Path(path)
    if not path.exists():
        raise GRCError("no such folder", path=path)
    if not path.is_dir():
        raise GRCError("expected a folder of template .json files", path=path)
    files = sorted(path.glob("*.json"))
    if not files:
        raise GRCError("no template .json files in this folder", path=path)
    return TemplateSet([load_template(f) for f in files], path)

