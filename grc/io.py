"""Atomic file writes: a temporary file beside the target, flushed, then renamed over it."""

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import WriteError


def recovery_folder() -> Path:
    """Where work that could not be saved where asked is kept: $GRC_STUDIO_RECOVERY, else
    ~/.cache/grc-studio/recovery (the app's autosaves, a trained model whose output failed)."""
    return Path(os.environ.get("GRC_STUDIO_RECOVERY") or Path.home() / ".cache" / "grc-studio" / "recovery")


RECOVERY_NAME_BYTES = 100  # the part of a recovery copy's name taken from the file it stands in for


def recovery_path(name: str, stamp: str, suffix: str = ".grc") -> Path:
    """A path in the recovery folder (made if need be) for a copy of `name` made at `stamp`: `name` is cut to
    RECOVERY_NAME_BYTES bytes, so that a name as long as a file system takes still leaves room for the stamp (a
    trained model whose long output name failed was lost when its recovery copy's name failed too)."""
    folder = recovery_folder()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{_cut(name, RECOVERY_NAME_BYTES)}-{stamp}{suffix}"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the target's folder; on success it replaces `path` in one rename.

    If the block fails (or the process dies), the target is untouched and the temporary file
    is removed (or, after a kill, left behind under a hidden `.name.*.tmp` name). An OSError
    (disk full, no permission) becomes a one-line WriteError naming the target.
    """
    path = Path(path)
    too_long = name_too_long(path)  # (before anything looks at the path: the system refuses even that)
    if too_long:
        raise WriteError(f"cannot write: {too_long}", path=path)
    if path.is_symlink():  # write the file the link points to (replacing the link would leave that one stale)
        path = Path(os.path.realpath(path))
    folder = check_writable(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{_cut(path.name, name_max(folder) - TEMP_NAME_EXTRA)}.", suffix=".tmp",
                                   dir=folder)
        os.close(fd)
        os.chmod(tmp, _mode(path))  # mkstemp makes it private (0600); give it what a plain write would
    except OSError as e:
        raise write_error(e, path) from None
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise write_error(e, path) from None
        raise


def check_writable(path) -> Path:
    """Raise WriteError unless a file can be written at `path` (its folder exists, it is not a folder);
    returns the folder. Cheap: call it before long work whose result goes to `path`."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WriteError(f"cannot write: folder {folder} does not exist", path=path)
    too_long = name_too_long(path)
    if too_long:
        raise WriteError(f"cannot write: {too_long}", path=path)
    if path.is_dir():
        raise WriteError("cannot write: expected a file name, found a folder", path=path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WriteError(f"cannot write: no permission to write in {folder}", path=path)
    return folder


NAME_BYTES = 255  # the longest file name most file systems take, where the system does not say
TEMP_NAME_EXTRA = 14  # what a temporary file's name (.name.XXXXXXXX.tmp) adds to the target's, cut to fit


def name_max(folder) -> int:
    """The longest file name (bytes) the file system of `folder` takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # (no pathconf: Windows)
        return NAME_BYTES


def name_too_long(path) -> str | None:
    """What is wrong with `path`'s file name if its folder's file system cannot hold a name that long, else None
    (a name the system refuses would fail only when the file is written: after the work, a trained model's too)."""
    path = Path(path)
    most = name_max(path.parent if str(path.parent) else Path("."))
    size = len(os.fsencode(path.name))
    if size > most:
        return f"expected a file name of at most {most} bytes, got {size}"
    return None


def _cut(name: str, most: int) -> str:
    """`name` cut to at most `most` bytes (whole characters)."""
    name = name[:most]
    while len(os.fsencode(name)) > most:
        name = name[:-1]
    return name


def write_error(e: OSError, path) -> WriteError:
    """A one-line WriteError for an OSError met while writing `path`."""
    kept = "; the previous file is unchanged" if Path(path).exists() else ""
    return WriteError(f"cannot write: {e.strerror or e}{kept}", path=path)


def _mode(path: Path) -> int:
    """The permissions a file written at `path` should get: the existing file's, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path, data: bytes | str) -> Path:
    """Write bytes or text to `path` atomically, reading them back before the file takes its name (the old
    file stays if they differ); returns the path."""
    payload = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(payload)
        if Path(tmp).read_bytes() != payload:
            raise WriteError("cannot write: the file did not read back as written (the old one is unchanged)",
                             path=path)
    return Path(path)
