"""What every command shares: the global options, the open store, the acting context."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, List, Optional

import typer

from sessionctl import timeparse
from sessionctl.cli._typer import ParamType
from sessionctl.domain.context import Context, find_actor
from sessionctl.errors import UsageError
from sessionctl.settings import Settings
from sessionctl.store import Store, UnusableLocation, open_store

MAX_ID = 2**63 - 1  # SQLite's INTEGER; a larger id is malformed (exit 2), not a crash


def _shown(text: str) -> str:
    """What was typed, cut to 40 characters for a message."""
    return text if len(text) <= 40 else text[:39] + "…"


class Id(ParamType):
    """A slot or request id on the command line: ASCII digits naming 1 to MAX_ID, else exit 2
    with ``'abc' is not a slot id (a positive whole number)`` (``int()`` alone would take
    ``١٢``, `` 12``, ``1_2`` and ``+1``). A shell completes it with the ids the actor can list."""

    name = "integer"  # what Typer's help shows: <integer>

    def __init__(self, kind: str):
        self.kind = kind

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        text, number = str(value), None
        if text.isascii() and text.isdigit():
            number = int(text) if len(text.lstrip("0")) <= len(str(MAX_ID)) else MAX_ID + 1
            if 1 <= number <= MAX_ID:
                return number
        raise UsageError(f"{_shown(text)!r} is not a {self.kind} id (a positive whole number)",
                         hint=f"ids go up to {MAX_ID}" if number and number > MAX_ID else None)

    def shell_complete(self, ctx, param, incomplete):
        from sessionctl.cli import completion

        return completion.ids(self.kind, ctx, incomplete)


class Number(ParamType):
    """A whole number option (``--capacity``, ``--stars``, ``--days``): ASCII digits with an
    optional ``-``, as ids are written (``int()`` would take ``３``, ``+4``, `` 2`` and
    ``1_0``); the domain checks the range. Exit 2 otherwise."""

    name = "integer"

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        text = str(value)
        digits = text[1:] if text.startswith("-") else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 40:
            return int(text)
        option = param.opts[0] if param is not None and param.opts else "the value"
        raise UsageError(f"{option} takes a whole number, not {_shown(text)!r}")


class CourseCode(ParamType):
    """A course code (the domain checks it); a shell completes it with the actor's courses."""

    name = "text"

    def convert(self, value, param, ctx) -> str:
        return value

    def shell_complete(self, ctx, param, incomplete):
        from sessionctl.cli import completion

        return completion.course_codes(ctx, incomplete)


# Options and arguments used by many commands, declared once. The completers sit on the
# types, loaded only while a shell asks: an ordinary command pays nothing for them.
SLOT_ID, REQUEST_ID, COURSE_CODE = Id("slot"), Id("request"), CourseCode()
NUMBER = Number()
SlotId = Annotated[int, typer.Argument(metavar="ID", click_type=SLOT_ID, help="Slot id.")]
RequestId = Annotated[int, typer.Argument(metavar="ID", click_type=REQUEST_ID, help="Request id.")]
SlotIds = Annotated[List[int], typer.Argument(
    metavar="ID...", click_type=SLOT_ID, help="Slot ids: each is done (or refused) on its own.")]
RequestIds = Annotated[List[int], typer.Argument(
    metavar="ID...", click_type=REQUEST_ID, help="Request ids: each is done (or refused) on its own.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON (UTC times) instead of a table.")]
CourseOpt = Annotated[Optional[str], typer.Option(
    "--course", metavar="CODE", click_type=COURSE_CODE, help="Only this course.",
)]
FromOpt = Annotated[Optional[str], typer.Option("--from", metavar="WHEN", help="Starting at or after WHEN.")]
ToOpt = Annotated[Optional[str], typer.Option("--to", metavar="WHEN", help="Starting before WHEN.")]
Wide = Annotated[bool, typer.Option(
    "--wide", help="Print every column whole, wrapping long text, instead of one line per row."
)]
ReasonOpt = Annotated[Optional[str], typer.Option("--reason", metavar="TEXT", help="Why (shown to the other side).")]


def each(ctx: typer.Context, kind: str, ids: list[int], call, show_one, as_json: bool, *,
         deleted: bool = False) -> int:
    """SPEC §7.7: a command given several ids (of ``kind``) runs each in its own transaction,
    with one result per id; a refused id changes nothing and the rest go on. One id keeps the
    one-object output (``show_one``). Returns the exit code: 0, or the highest among the
    refusals."""
    from sessionctl import render
    from sessionctl.errors import SessionctlError
    from sessionctl.store import translate

    if len(ids) == 1:
        show_one(call(ids[0]))
        return 0
    c = ctx.obj.context()
    results = []
    for one in dict.fromkeys(ids):  # each id once, in the order given
        try:
            results.append((one, call(one)))
        except SessionctlError as exc:
            results.append((one, exc))
        except Exception as exc:  # a database error is this id's (busy, full…); a bug is not
            mapped = translate(exc, c.store.timeout)
            if mapped is None:
                raise
            results.append((one, mapped))
    render.outcomes(kind, results, c.tz, as_json, deleted=deleted)
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
        """Who is acting: a well-formed user name (registered or not), else exit 2."""
        from sessionctl.domain.checks import check_name

        return check_name(self.settings.user)

    def store(self, *, create: bool = False) -> Store:
        if self._store is None:
            location, shared = self.location, self.settings.shared
            if shared is not None:  # the service account's store: private files, made by it alone
                create = shared.secure_store(location, create)
            try:
                self._store = open_store(location, create=create,
                                         timeout=self.settings.lock_timeout)
            except UnusableLocation as exc:
                if self.settings.raw("db")[1] == "--db":  # the caller's own command line
                    raise UsageError(exc.message, exc.hint) from None
                raise
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
