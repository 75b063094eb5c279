"""Atomic file writes: a temporary file beside the target, flushed, then renamed over it."""

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import GRCError


def recovery_folder() -> Path:
    """Where work that could not be saved where asked is kept: $GRC_STUDIO_RECOVERY, else
    ~/.cache/grc-studio/recovery (the app's autosaves, a trained model whose output failed)."""
    return Path(os.environ.get("GRC_STUDIO_RECOVERY") or Path.home() / ".cache" / "grc-studio" / "recovery")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the target's folder; on success it replaces `path` in one rename.

    If the block fails (or the process dies), the target is untouched and the temporary file
    is removed (or, after a kill, left behind under a hidden `.name.*.tmp` name).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise GRCError(f"folder {folder} does not exist", path=path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    os.chmod(tmp, _mode(path))  # mkstemp makes it private (0600); give it what a plain write would
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mode(path: Path) -> int:
    """The permissions a file written at `path` should get: the existing file's, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path, data: bytes | str) -> Path:
    """Write bytes or text to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)
