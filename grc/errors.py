"""The one exception type for mistakes a user can fix."""


class GRCError(Exception):
    """A user-fixable problem; the message names the file, the field and what was expected.

    Its text is one printable line: control characters in file names or values never reach a terminal.
    """

    def __init__(self, message: str, *, path=None, field: str | None = None):
        self.message, self.path, self.field = message, path, field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(printable(p, 500) for p in (self.path, self.field) if p not in (None, ""))
        message = printable(self.message, 2000)
        return f"{where}: {message}" if where else message


def printable(text, limit: int = 200) -> str:
    """`text` safe to print: control characters (escape codes, newlines) shown as \\xNN, cut at `limit`."""
    text = str(text)
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return out if len(out) <= limit else out[:limit - 1] + "…"


class WriteError(GRCError):
    """A file could not be written (disk full, no permission, a folder in the way); the old file,
    if any, is as it was. Callers holding work that took long (a trained model) keep it elsewhere."""
