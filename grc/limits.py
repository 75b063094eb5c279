"""Every limit on what GRC Studio reads and makes, and the checked readers that enforce them.

Each limit is a named constant here (docs/reliability.md lists them with what a user sees). A value
past a limit is a GRCError naming the file or option, the limit and what was expected, raised before
any long work. Numpy and the standard library only: the Blender add-on ships this module.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from .errors import GRCError, printable

# -- files -----------------------------------------------------------------------------------------
MAX_MODEL_BYTES = 256 * 1024 * 1024  # a .grc file (the default petal model is 0.1 MiB)
MAX_TEMPLATE_BYTES = 64 * 1024 * 1024  # one template .json, or any other JSON input
MAX_MESH_BYTES = 256 * 1024 * 1024  # one OBJ / PLY / GLB to import
MAX_JSON_DEPTH = 16  # nesting of any JSON we read (a template's points are 5 deep)
MAX_TENSOR_DIMS = 8  # dimensions of one array in a model file (ours have at most 3)

# -- template sets ---------------------------------------------------------------------------------
MAX_TEMPLATES = 64  # templates in one set
MAX_TIME_STEPS = 256  # time steps of a relational map
MAX_ROWS = 512  # morph rows of a grid
MAX_POINTS = 512  # points per row
MAX_GRID_VALUES = 2_000_000  # templates x time steps x rows x points x 3 numbers in one set
MAX_COORDINATE = 1e6  # |x|, |y|, |z| of a template point (far past any scene; the maths stays finite)
MAX_MAP_VALUE = 1e6  # |time| and |morph| values of a relational map
MIN_MAP_STEP = 1e-6  # neighbouring time (or morph) values differ by at least this x max(1, the largest |value|)
MAX_NAME = 200  # characters of a template name
MAX_ATTRIBUTION = 2000  # characters of a template's attribution (credit line)
MAX_FILE_STEM = 60  # characters of a template name kept in its file name (names stay whole inside the file)

# -- training --------------------------------------------------------------------------------------
MAX_LAYERS = 8  # hidden layers of one network
MAX_WIDTH = 4096  # units of one hidden layer
MAX_BATCH = 65536  # rows per training step
MAX_STEPS = 10_000_000  # steps of any training phase
MAX_SEED = 2**32 - 1  # seeds are 0 .. 2**32 - 1
MAX_CONTEXT_DIMS = 16  # context values per row
# A model file's JSON header: the templates (at most 32 characters per number, brackets and commas
# included) plus 16 MiB for names, relational maps, config and the weights' entries. Every template set
# within the limits above gives a header within it; a model file must also fit MAX_MODEL_BYTES.
MAX_HEADER_BYTES = 32 * MAX_GRID_VALUES + 16 * 1024 * 1024

# -- shapes and exports ----------------------------------------------------------------------------
MAX_BLEND = 100.0  # |blend| (α or any weight); the app's controls stay well inside it
MAX_CONTEXT = 1e4  # |raw context value|
MAX_MORPH_SAMPLES = 2048  # rows of a generated petal
MAX_SUBDIVIDE = 3  # Catmull-Clark levels of an export (each level 4x the faces)
MAX_PETALS = 64  # petals of a flower
MAX_FRAMES = 1000  # morph targets of a sweep
MAX_THICKNESS = 1e3  # shell thickness of an export
MIN_FPS = 0.01  # frames per second of a sweep's animation
MAX_FPS = 1000.0
MAX_EXPORT_VERTICES = 20_000_000  # vertices of one exported mesh (all frames of a sweep together)
FLOAT32_MAX = 3.4e38  # every exported coordinate is finite and within float32


def read_bytes(path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is a GRCError.

    Refuses folders, FIFOs, devices and sockets (a FIFO would hang, /dev/zero would never end)
    without blocking, and checks the size before reading.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise GRCError("no such file", path=path) from None
    except IsADirectoryError:
        raise GRCError(f"expected a {what}, found a folder", path=path) from None
    except OSError as e:
        raise GRCError(f"cannot read: {e.strerror or e}", path=path) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise GRCError(f"expected a {what}, found a folder", path=path)
        if not stat.S_ISREG(info.st_mode):
            raise GRCError(f"expected a {what}, found a device, pipe or socket", path=path)
        if info.st_size > limit:
            raise GRCError(f"{_size(info.st_size)} is larger than the {_size(limit)} limit for a {what}", path=path)
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as e:
        raise GRCError(f"cannot read: {e.strerror or e}", path=path) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while we read it
        raise GRCError(f"larger than the {_size(limit)} limit for a {what}", path=path)
    return data


def read_text(path, limit: int = MAX_TEMPLATE_BYTES, what: str = "file") -> str:
    """A regular UTF-8 text file of at most `limit` bytes."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GRCError(f"not UTF-8 text (byte {e.start})", path=path) from None


def parse_json(text: str | bytes, path=None, field: str | None = None, depth: int = MAX_JSON_DEPTH):
    """Parse JSON with nesting at most `depth`, refusing NaN and Infinity; errors name path and field."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GRCError(f"not UTF-8 text (byte {e.start})", path=path, field=field) from None
    deepest = json_depth(text)
    if deepest > depth:
        raise GRCError(f"JSON nested {deepest} levels deep; the limit is {depth}", path=path, field=field)
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NotFinite as e:
        raise GRCError(str(e), path=path, field=field) from None
    except json.JSONDecodeError as e:
        raise GRCError(f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})", path=path, field=field) from None
    except (ValueError, RecursionError) as e:
        raise GRCError(f"not valid JSON ({e})", path=path, field=field) from None


def json_depth(text: str, chunk: int = 1 << 22) -> int:
    """The deepest nesting of [ and { in JSON text, ignoring brackets inside strings (no recursion).

    Linear time and memory bounded by `chunk` (a regular expression over the strings needed about 120
    bytes per character of a long string): escaped backslashes and quotes are dropped first, so every
    quote left opens or closes a string; then the text is read `chunk` bytes at a time with numpy.
    """
    import numpy as np

    codes = np.frombuffer(text.replace("\\\\", "").replace('\\"', "").encode("utf-8", "replace"), dtype=np.uint8)
    depth = deepest = inside = 0
    for start in range(0, len(codes), chunk):
        c = codes[start:start + chunk]
        in_string = (np.cumsum(c == ord('"'), dtype=np.uint8) + inside) & 1  # the count's parity is enough
        inside = int(in_string[-1])
        steps = ((c == ord("[")) | (c == ord("{"))).astype(np.int8) - ((c == ord("]")) | (c == ord("}")))
        steps[in_string == 1] = 0
        run = np.cumsum(steps, dtype=np.int64) + depth
        deepest, depth = max(deepest, int(run.max())), int(run[-1])
    return deepest


class _NotFinite(ValueError):
    pass


def _reject_constant(name):
    raise _NotFinite(f"expected finite numbers, found {name}")


def _finite_float(text):
    """A JSON number as a float, refused if it overflows (1e400 read as Infinity: a model whose info had one
    loaded, and failed only when saved again)."""
    value = float(text)
    if math.isinf(value):
        raise _NotFinite(f"expected finite numbers, found {text[:40]}")
    return value


def number(value, field: str, *, low: float | None = None, high: float | None = None,
           integer: bool = False, path=None):
    """A real number (not a bool or a string), finite, within [low, high]; an int when `integer`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not _is_numpy_number(value):
        raise GRCError(f"expected a number, got {printable(repr(value))}", path=path, field=field)
    try:
        as_float = float(value)
    except OverflowError:  # an int too large for a float (hundreds of digits)
        raise GRCError(f"expected {_range(low, high, integer) if low is not None or high is not None else 'a number'}"
                       f", got a number of {len(str(abs(int(value))))} digits", path=path, field=field) from None
    if not math.isfinite(as_float):
        raise GRCError(f"expected a finite number, got {value}", path=path, field=field)
    if integer and not isinstance(value, int) and not as_float.is_integer():  # (a big int need not equal its float)
        raise GRCError(f"expected a whole number, got {value}", path=path, field=field)
    value = int(value) if integer else float(value)
    if low is not None and value < low or high is not None and value > high:
        raise GRCError(f"expected {_range(low, high, integer)}, got {value:,}" if integer else
                       f"expected {_range(low, high, integer)}, got {value:g}", path=path, field=field)
    return value


def _is_numpy_number(value) -> bool:
    import numpy as np

    return isinstance(value, (np.integer, np.floating))


def _range(low, high, integer) -> str:
    fmt = (lambda v: f"{int(v):,}") if integer else (lambda v: f"{v:g}")
    if low is not None and high is not None:
        return f"a value from {fmt(low)} to {fmt(high)}"
    return f"at least {fmt(low)}" if low is not None else f"at most {fmt(high)}"


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
