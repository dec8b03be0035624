"""One exception family; each class carries its exit code (``docs/reference/exit-codes.md``)."""

from __future__ import annotations


class SessionctlError(Exception):
    """Base of every error a user may see. ``code`` is the process exit code.

    ``message`` and ``hint`` are one line each (user text in them can never start a line of
    its own); ``details`` are the indented lines of a list (every conflict of a series)."""

    code = 1

    def __init__(self, message: str, hint: str | None = None, details: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = tuple(details)


class UsageError(SessionctlError):
    """Malformed input: WHEN, DURATION, URL, id, text, option combinations."""

    code = 2


class NotFound(SessionctlError):
    """The thing does not exist, or the actor may not see it."""

    code = 3


class NotAllowed(SessionctlError):
    """Unknown actor, wrong role, not the owner, not enrolled."""

    code = 4


class Conflict(SessionctlError):
    """The current state forbids it: overlap, full, duplicate, wrong status, in the past."""

    code = 5


class Unavailable(SessionctlError):
    """The store is missing, busy, read-only, full, corrupt or newer; the mail server is down."""

    code = 6


class OutputLost(Unavailable):
    """Standard output could not be written (closed, a full disk, an I/O error). The root
    command adds whether the command's change was made (``cli/__init__.py``)."""
