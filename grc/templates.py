"""Templates: an artist's grid mesh over time, its file format, validation and importers.

A template is one JSON file (format `grc-template/1`):

    {"format": "grc-template/1", "name": "open",
     "time":  [0, 0.1, ...],             # T increasing values: the relational map's time axis
     "morph": [0, 0.1, ...],             # M increasing values: one per morph row of the grid
     "points": [[[[x, y, z], ...]]]}     # [time][morph row][point][xyz], Z up as in Blender

A template set is a folder of such files, `00-<name>.json`, `01-<name>.json`, ...: the number before
the dash is the blend order. It is saved as a whole (`save_templates`): the new set is written beside the
old one, read back, then swapped in, so a failure at any point leaves the old folder as it was. Every
number and size is checked against grc.limits. Numpy and the standard library only: the Blender add-on
ships this module.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import math
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import GRCError, WriteError
from .io import atomic_path, atomic_write, write_error
from .limits import (MAX_ATTRIBUTION, MAX_COORDINATE, MAX_FILE_STEM, MAX_GRID_VALUES, MAX_MAP_VALUE, MAX_NAME, MIN_MAP_STEP,
                     MAX_POINTS, MAX_ROWS, MAX_TEMPLATE_BYTES, MAX_TEMPLATES, MAX_TIME_STEPS, parse_json, read_text)

FORMAT = "grc-template/1"


@dataclass
class Template:
    """One artist template: `points` (time, morph row, point, xyz) over a relational map."""

    name: str
    time: np.ndarray  # (T,)
    morph: np.ndarray  # (M,)
    points: np.ndarray  # (T, M, N, 3)
    attribution: str = ""
    lineage: dict = field(default_factory=dict)  # what a kept shape came from (model, blend, look); {} if drawn

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
        if self.lineage:
            data["lineage"] = self.lineage
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
        check_name(name, path)
        if not isinstance(attribution, str):
            raise GRCError("expected a string", path=path, field="attribution")
        lineage = data.get("lineage", {})
        if not isinstance(lineage, dict):
            raise GRCError("expected a JSON object (what the template came from)", path=path, field="lineage")
        time = _array(data["time"], 1, path, "time")
        morph = _array(data["morph"], 1, path, "morph")
        points = _array(data["points"], 4, path, "points")
        return cls(name, time, morph, points, attribution, lineage, _path=path)

    def save(self, path) -> Path:
        """Write the template to `path` atomically (one file; a set is saved with `save_templates`)."""
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
    """A nested list of real numbers (no booleans or strings) as a float array of rank `ndim`, or a GRCError.

    The values are checked one level at a time before any array is made, and their count against
    MAX_GRID_VALUES, so a hostile file cannot make a huge array or slip `true` in as 1.0.
    """
    shape_error = GRCError(f"expected a nested list of numbers, {ndim} levels deep, all rows the same length",
                           path=path, field=name)
    values = [value]
    for _ in range(ndim):
        if not all(type(v) is list for v in values):
            raise shape_error
        values = list(itertools.chain.from_iterable(values))
        if len(values) > MAX_GRID_VALUES:
            raise GRCError(f"more than {MAX_GRID_VALUES:,} numbers; the limit for a template set",
                           path=path, field=name)
    kinds = set(map(type, values))
    if not kinds <= {int, float}:
        bad = next(v for v in values if type(v) not in (int, float))
        raise GRCError(f"expected numbers, found {bad!r}" if not isinstance(bad, list) else shape_error.message,
                       path=path, field=name)
    try:
        array = np.array(value, dtype=float)
    except OverflowError:  # an integer written out with hundreds of digits
        raise GRCError(f"expected numbers within ±{MAX_COORDINATE:g}, found an integer too large for a float",
                       path=path, field=name) from None
    except (TypeError, ValueError):
        raise shape_error from None
    if array.ndim != ndim:
        raise shape_error
    return array


def check_name(name, path=None) -> str:
    """A template name: non-empty text of printable characters, at most MAX_NAME of them."""
    if not isinstance(name, str) or not name.strip():
        raise GRCError("expected a non-empty name", path=path, field="name")
    if len(name) > MAX_NAME:
        raise GRCError(f"expected a name of at most {MAX_NAME} characters, got {len(name)}", path=path, field="name")
    if not name.isprintable():
        raise GRCError(f"expected printable characters, got {name!r}", path=path, field="name")
    return name


def check_template(t: Template) -> None:
    """Raise GRCError unless the template's arrays are well formed, finite and within grc.limits."""
    path = t._path
    check_name(t.name, path)
    if not isinstance(t.attribution, str) or len(t.attribution) > MAX_ATTRIBUTION:
        raise GRCError(f"expected text of at most {MAX_ATTRIBUTION} characters", path=path, field="attribution")
    for axis, most in (("time", MAX_TIME_STEPS), ("morph", MAX_ROWS)):
        values = getattr(t, axis)
        if values.ndim != 1 or len(values) < 2:
            raise GRCError("expected a list of at least 2 numbers", path=path, field=axis)
        if len(values) > most:
            raise GRCError(f"expected at most {most} values, got {len(values)}", path=path, field=axis)
        if not np.all(np.isfinite(values)):
            raise GRCError("expected finite numbers (no NaN or infinity)", path=path, field=axis)
        if np.abs(values).max() > MAX_MAP_VALUE:
            raise GRCError(f"expected values from {-MAX_MAP_VALUE:g} to {MAX_MAP_VALUE:g}, got "
                           f"{values[np.abs(values).argmax()]:g}", path=path, field=axis)
        if not np.all(np.diff(values) > 0):
            raise GRCError("expected strictly increasing values", path=path, field=axis)
        least = MIN_MAP_STEP * max(1.0, float(np.abs(values).max()))  # below it, training cannot tell them apart
        if np.diff(values).min() < least:
            i = int(np.diff(values).argmin())
            raise GRCError(f"expected neighbouring values at least {least:g} apart, got {values[i]:g} and "
                           f"{values[i + 1]:g}", path=path, field=axis)
    if t.points.ndim != 4 or t.points.shape[-1] != 3:
        raise GRCError("expected [time][morph row][point][x, y, z]", path=path, field="points")
    T, M, N = t.points.shape[:3]
    if (T, M) != (len(t.time), len(t.morph)):
        raise GRCError(f"expected {len(t.time)} time steps x {len(t.morph)} morph rows (the lengths of "
                       f"time and morph), got {T} x {M}", path=path, field="points")
    if N < 2:
        raise GRCError("expected at least 2 points per row", path=path, field="points")
    if N > MAX_POINTS:
        raise GRCError(f"expected at most {MAX_POINTS} points per row, got {N}", path=path, field="points")
    if t.points.size > MAX_GRID_VALUES:
        raise GRCError(f"{t.points.size:,} numbers; the limit for a template set is {MAX_GRID_VALUES:,}",
                       path=path, field="points")
    if not np.all(np.isfinite(t.points)):
        i = tuple(int(v) for v in np.argwhere(~np.isfinite(t.points))[0])
        raise GRCError(f"expected finite coordinates, found {t.points[i]} at [{i[0]}][{i[1]}][{i[2]}][{i[3]}]",
                       path=path, field="points")
    if np.abs(t.points).max() > MAX_COORDINATE:
        i = tuple(int(v) for v in np.unravel_index(np.abs(t.points).argmax(), t.points.shape))
        raise GRCError(f"expected coordinates from {-MAX_COORDINATE:g} to {MAX_COORDINATE:g}, found "
                       f"{t.points[i]:g} at [{i[0]}][{i[1]}][{i[2]}][{i[3]}]", path=path, field="points")
    # a template that is one point at every time step has no shape to learn or judge (judging such grids took
    # seconds each: training on one ran for minutes); a time step that is one point (a bud) is a shape's start
    if not np.ptp(t.points.reshape(T, M * N, 3), axis=1).any():
        x, y, z = t.points[0, 0, 0] + 0.0  # (not -0)
        found = (f"all {T * M * N} points at ({x:g}, {y:g}, {z:g})" if not np.ptp(t.points.reshape(-1, 3), axis=0).any()
                 else f"each time step's {M * N} points at one place")
        raise GRCError(f"expected a shape, found {found}", path=path, field="points")


def load_template(path) -> Template:
    """Read and validate one template file (a regular file within MAX_TEMPLATE_BYTES, JSON within depth)."""
    path = Path(path)
    data = parse_json(read_text(path, MAX_TEMPLATE_BYTES, "template file"), path=path)
    return Template.from_json(data, path)


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
        if len(data) > MAX_TEMPLATES:
            raise GRCError(f"expected at most {MAX_TEMPLATES} templates, found {len(data)}", path=path,
                           field="templates")
        return cls([Template.from_json(d, path) for d in data], path)

    def save(self, folder) -> list[Path]:
        """Write the set to `folder` as a whole (see `save_templates`); returns the template files."""
        return save_templates(folder, self.templates)


ORDER_DIGITS = len(str(MAX_TEMPLATES - 1))  # `00-` ... `63-`: file names sort in blend order


def template_filename(index: int, name: str) -> str:
    """A file name that keeps the set's order: `00-open.json` (the name's letters, digits, - and _, cut short)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.strip())[:MAX_FILE_STEM] or "template"
    return f"{index:0{ORDER_DIGITS}d}-{safe}.json"


_ORDER = re.compile(r"^(\d+)-")


def template_files(folder) -> list[Path]:
    """A set folder's template files in blend order: by the number before the dash (so `2-` comes before
    `10-`, and old unpadded sets load in their order), then by name. Hidden files are not templates."""
    def order(path: Path):
        match = _ORDER.match(path.name)
        return (int(match.group(1)) if match else math.inf, path.name)

    return sorted((f for f in Path(folder).glob("*.json") if not f.name.startswith(".")), key=order)


def check_set(templates: list[Template], path=None) -> None:
    """Raise GRCError unless the templates can be trained together."""
    if len(templates) < 2:
        raise GRCError(f"expected at least 2 templates, found {len(templates)}", path=path)
    _check_together(templates, path)


def _check_together(templates: list[Template], path=None) -> None:
    """Names differ, one grid size and relational map, the set within MAX_TEMPLATES and MAX_GRID_VALUES."""
    if len(templates) > MAX_TEMPLATES:
        raise GRCError(f"expected at most {MAX_TEMPLATES} templates, found {len(templates)}", path=path)
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
    values = len(templates) * first.points.size
    if values > MAX_GRID_VALUES:
        raise GRCError(f"{len(templates)} templates of {_shape(first)} hold {values:,} numbers; the limit is "
                       f"{MAX_GRID_VALUES:,} (use fewer templates, time steps, rows or points)", path=path)


def _shape(t: Template) -> str:
    T, M, N = t.grid_shape
    return f"{T} time steps x {M} rows x {N} points"


def load_template_set(path) -> TemplateSet:
    """Load a template set from a folder of template files, in blend order (see `template_files`)."""
    path = Path(path)
    if not path.exists():
        raise GRCError("no such folder", path=path)
    if not path.is_dir():
        raise GRCError("expected a folder of template .json files", path=path)
    files = template_files(path)
    if not files:
        raise GRCError("no template .json files in this folder", path=path)
    if len(files) > MAX_TEMPLATES:
        raise GRCError(f"expected at most {MAX_TEMPLATES} templates, found {len(files)} .json files", path=path)
    return TemplateSet([load_template(f) for f in files], path)


# -- saving a set as a whole ------------------------------------------------------------------------


def save_templates(folder, templates: list[Template]) -> list[Path]:
    """Write `templates` (one or more, in blend order) as the template set in `folder`, as a whole.

    The new set goes into a hidden sibling folder `.<name>.new-*`, with every file in the old folder
    that is not a template (a LICENSE, notes) copied along; each template is read back and compared;
    then the two folders are swapped (old aside, new in, old removed). Any failure (disk full, no
    permission, a kill) leaves the old folder as it was; a leftover hidden folder is ignored by loading
    and removed by the next save. Returns the template files. Errors: GRCError (a template or the set
    is invalid), WriteError (the folder could not be written: "cannot write: ...").
    """
    folder = Path(folder)
    templates = list(templates)
    if not templates:
        raise GRCError("expected at least one template to save", path=folder)
    for t in templates:
        if not isinstance(t, Template):
            raise GRCError(f"expected templates, got {type(t).__name__}", path=folder)
        check_template(t)
    _check_together(templates, folder)
    given, folder = folder, folder.resolve()  # through a link: replace the folder it points to, not the link
    parent = folder.parent if str(folder.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(e, folder) from None
    if folder.exists() and not folder.is_dir():
        raise WriteError("cannot write: expected a folder, found a file", path=folder)
    _clean_leftovers(folder)
    try:
        new = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=parent))
    except OSError as e:
        raise write_error(e, folder) from None
    try:
        names = [template_filename(i, t.name) for i, t in enumerate(templates)]
        for name, t in zip(names, templates):
            _write_synced(new / name, template_json(t.to_json()).encode())
        for name, t in zip(names, templates):
            if not _same(load_template(new / name), t):
                raise GRCError(f"the template {t.name!r} would not read back the same", path=folder / name)
        if folder.is_dir():
            _carry_over(folder, new)
            os.chmod(new, folder.stat().st_mode & 0o7777)
        else:
            os.chmod(new, 0o777 & ~_umask())
        _sync(new)
        _swap_in(new, folder)
    except BaseException as e:
        shutil.rmtree(new, ignore_errors=True)
        if isinstance(e, OSError):
            raise write_error(e, folder) from None
        raise
    _sync(parent)
    return [given / name for name in names]


def add_template(folder, template: Template, *, replace: bool = False) -> tuple[Path, bool]:
    """Add `template` to the set in `folder` (created if new): its one file written in place where only it changes
    (a new last template, or one replaced), else the set saved as a whole (save_templates).

    A name already in the set is a GRCError unless `replace`, which puts the template in that one's
    place in the blend order. With two or more templates the set must train together (check_set).
    Returns the template's file and whether it replaced one.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GRCError("expected a folder", path=folder, field="output")
    existing = [load_template(f) for f in template_files(folder)] if folder.is_dir() else []
    names = [t.name for t in existing]
    if template.name in names and not replace:
        raise GRCError(f"the set already has a template named {template.name!r} (--replace replaces it)",
                       path=folder, field="name")
    index = names.index(template.name) if template.name in names else len(existing)
    templates = existing[:index] + [template] + existing[index + 1:]
    if len(templates) >= 2:
        check_set(templates, folder)
    path = _only_file(folder, index, template.name)
    if path is None:
        return save_templates(folder, templates)[index], index < len(existing)
    # One file changes: it alone is replaced, in one rename, and the folder stays (a shell in it stays in the set)
    check_template(template)
    with atomic_path(path) as tmp:
        _write_synced(tmp, template_json(template.to_json()).encode())
        if not _same(load_template(tmp), template):
            raise GRCError(f"the template {template.name!r} would not read back the same", path=path)
    _sync(folder)
    return path, index < len(existing)


def _only_file(folder: Path, index: int, name: str) -> Path | None:
    """The one file that adding or replacing the template at `index` of the set in `folder` changes: the file
    replaced, or a new one numbered after the last. None where the set must be saved as a whole (a new folder, a
    file without a number, which a new one could not follow, or a link)."""
    if not folder.is_dir():
        return None
    files = template_files(folder)
    if index < len(files):  # (a link to another set's file: replaced by a file of this set's own, as a whole save does)
        return None if files[index].is_symlink() else files[index]
    numbers = [_ORDER.match(f.name) for f in files]
    if not all(numbers):
        return None
    path = folder / template_filename(max((int(m.group(1)) for m in numbers), default=-1) + 1, name)
    return None if path.exists() else path


def _same(again: Template, t: Template) -> bool:
    return (again.name == t.name and np.array_equal(again.points, t.points) and np.array_equal(again.time, t.time)
            and np.array_equal(again.morph, t.morph))


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _carry_over(old: Path, new: Path) -> None:
    """Copy what in the old set folder is not a template (LICENSE, notes, subfolders) into the new one."""
    templates = set(template_files(old))
    for item in old.iterdir():
        if item in templates or (item.name.startswith(".") and item.name.endswith(".tmp")):  # (a killed write's)
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.copytree(item, new / item.name, symlinks=True)
        else:
            shutil.copy2(item, new / item.name, follow_symlinks=False)


def _swap_in(new: Path, folder: Path) -> None:
    """Put the folder `new` in place of `folder`: one atomic exchange where the system has it (Linux),
    else old aside, new in (restoring the old on failure); then the old one is removed."""
    if not folder.exists():
        os.rename(new, folder)
        return
    if _exchange(new, folder):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old set
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    os.rmdir(aside)
    os.rename(folder, aside)
    try:
        os.rename(new, folder)
    except BaseException:
        os.rename(aside, folder)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot; rename instead
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def _clean_leftovers(folder: Path) -> None:
    """Remove hidden folders an interrupted save left beside `folder`; if the set itself is missing
    and an old copy was set aside, put it back first."""
    parent = folder.parent if str(folder.parent) else Path(".")
    asides = sorted(parent.glob(f".{glob_escape(folder.name)}.old-*"))
    if not folder.exists() and asides:
        with contextlib.suppress(OSError):
            os.rename(asides[-1], folder)
    for leftover in [*parent.glob(f".{glob_escape(folder.name)}.new-*"),
                     *parent.glob(f".{glob_escape(folder.name)}.old-*")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _sync(folder: Path) -> None:
    """fsync a folder so renames inside it survive a power cut (where the system allows it)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
