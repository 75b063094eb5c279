"""The one exception type for mistakes a user can fix."""


class GRCError(Exception):
    """A user-fixable problem; the message names the file, the field and what was expected."""

    def __init__(self, message: str, *, path=None, field: str | None = None):
        self.message, self.path, self.field = message, path, field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(str(p) for p in (self.path, self.field) if p not in (None, ""))
        return f"{where}: {self.message}" if where else self.message
