"""What every command shares: the global options, the open store, the acting context."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Optional

import typer

from sessionctl import timeparse
from sessionctl.domain.context import Context, find_actor
from sessionctl.settings import Settings
from sessionctl.store import Store, open_store

# Options used by many commands, declared once.
MAX_ID = 2**63 - 1  # SQLite's INTEGER; a larger id is malformed (exit 2), not a crash
Json = Annotated[bool, typer.Option("--json", help="Print JSON (UTC times) instead of a table.")]
CourseOpt = Annotated[Optional[str], typer.Option("--course", metavar="CODE", help="Only this course.")]
FromOpt = Annotated[Optional[str], typer.Option("--from", metavar="WHEN", help="Starting at or after WHEN.")]
ToOpt = Annotated[Optional[str], typer.Option("--to", metavar="WHEN", help="Starting before WHEN.")]
Wide = Annotated[bool, typer.Option(
    "--wide", help="Print every column whole, wrapping long text, instead of one line per row."
)]
ReasonOpt = Annotated[Optional[str], typer.Option("--reason", metavar="TEXT", help="Why (shown to the other side).")]


def each(ids: list[int], call, show_one, show_many) -> int:
    """SPEC §7.7: a command given several ids runs each in its own transaction, with one result
    per id; a refused id changes nothing and the rest go on. One id keeps the one-object
    output. Returns the exit code: 0, or the highest among the refusals."""
    from sessionctl.errors import SessionctlError
    from sessionctl.store import translate

    if len(ids) == 1:
        show_one(call(ids[0]))
        return 0
    results = []
    for one in dict.fromkeys(ids):  # each id once, in the order given
        try:
            results.append((one, call(one)))
        except SessionctlError as exc:
            results.append((one, exc))
        except Exception as exc:  # a database error is this id's (busy, full…); a bug is not
            mapped = translate(exc)
            if mapped is None:
                raise
            results.append((one, mapped))
    show_many(results)
    return max((r.code for _, r in results if isinstance(r, SessionctlError)), default=0)


class App:
    """Built by the root callback and handed to every command as ``ctx.obj``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._store: Store | None = None
        self._context: Context | None = None

    @property
    def location(self) -> str:
        return self.settings.db

    def actor_name(self) -> str:
        return self.settings.user

    def store(self, *, create: bool = False) -> Store:
        if self._store is None:
            location, shared = self.location, self.settings.shared
            if shared is not None:  # the service account's store: private files, made by it alone
                create = shared.secure_store(location, create)
            self._store = open_store(location, create=create, timeout=self.settings.lock_timeout)
        return self._store

    def context(self) -> Context:
        """The store, the acting user, the display zone and the clock, for a domain call."""
        if self._context is None:
            store = self.store()
            actor = find_actor(self.actor_name())
            self._context = Context(store, actor, self.display_zone(actor.tz), self.now)
        return self._context

    def display_zone(self, user_tz: str | None = None):
        """``--tz``, then SESSIONCTL_TZ, then the user's stored zone, then the system zone."""
        name = self.settings.tz or user_tz
        return timeparse.zone(name) if name else timeparse.system_zone()

    @staticmethod
    def now() -> datetime:
        return timeparse.utcnow()

    def viewer(self) -> str:
        """The acting user's name: lists leave out columns that would only repeat it."""
        return self.context().actor.name

    def when(self, text: str | None, *, until: bool = False) -> datetime | None:
        """WHEN in the display zone; ``until``: a bare date means the end of that day."""
        if text is None:
            return None
        ctx = self.context()
        parse = timeparse.parse_until if until else timeparse.parse_when
        return parse(text, tz=ctx.tz, now=ctx.now())

    def day(self, text: str):
        """A local calendar day in the display zone (``--except``)."""
        ctx = self.context()
        return timeparse.parse_date(text, tz=ctx.tz, now=ctx.now())

    @staticmethod
    def duration(text: str | None) -> timedelta | None:
        return None if text is None else timeparse.parse_duration(text)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
