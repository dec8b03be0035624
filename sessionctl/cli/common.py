"""What every command's signature shares: the parameter types (ids, numbers, course codes) and the
options used by many commands, declared once; and ``each``, the one way a command runs on several
ids. The run itself (settings, clock, output, store, acting context) is ``ctx.obj``, an
``Invocation`` (``cli/invocation.py``)."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from sessionctl._plain import Later  # noqa: F401 (the cli modules take it from here)
from sessionctl.cli._typer import ParamType
from sessionctl.errors import NotAllowed, SessionctlError, UsageError

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


MAX_IDS = 1000  # ids one command takes, ranges counted out


class IdRange(Id):
    """An id or a range of them (``5-9``: 5, 6, 7, 8 and 9) where a command takes several: a
    ``range`` either way, of at most MAX_IDS ids (``each`` counts them all), else exit 2."""

    def convert(self, value, param, ctx) -> range:
        if isinstance(value, range):
            return value
        first, dash, last = str(value).partition("-")
        if not dash or not first:  # one id (-5 is no range: Id names it)
            number = Id.convert(self, value, param, ctx)
            return range(number, number + 1)
        low, high = (Id.convert(self, part, param, ctx) for part in (first, last))
        if low > high:
            raise UsageError(f"{_shown(str(value))!r} is not a range of {self.kind} ids",
                             hint=f"write the smaller id first: {high}-{low}")
        if high - low >= MAX_IDS:
            raise UsageError(f"{_shown(str(value))!r} names {high - low + 1} {self.kind} ids; "
                             f"at most {MAX_IDS} at once")
        return range(low, high + 1)


class CourseCode(ParamType):
    """A course code (the domain checks it); a shell completes it with the actor's courses."""

    name = "text"

    def convert(self, value, param, ctx) -> str:
        return value

    def shell_complete(self, ctx, param, incomplete):
        from sessionctl.cli import completion

        return completion.course_codes(ctx, incomplete)


def own_completion(command) -> None:
    """Give each parameter of ``command`` that takes a value and has no completer (ids and
    codes complete through their types) ``completion.values``: choices, zones, user names
    (``docs/reference/completion.md#values``). click asks it only while a shell completes
    (``_custom_shell_complete`` is what click's ``shell_complete=`` sets)."""
    for param in command.params:
        completes_itself = type(param.type).shell_complete is not ParamType.shell_complete
        if param._custom_shell_complete is None and not completes_itself \
                and param.metavar and not getattr(param, "is_flag", False):
            param._custom_shell_complete = _values


def _values(ctx, param, incomplete):
    from sessionctl.cli import completion

    return completion.values(ctx, param, incomplete)


# Options and arguments used by many commands, declared once. The completers sit on the
# types, loaded only while a shell asks: an ordinary command pays nothing for them.
SLOT_ID, REQUEST_ID, COURSE_CODE = Id("slot"), Id("request"), CourseCode()
SLOT_IDS, REQUEST_IDS = IdRange("slot"), IdRange("request")
NUMBER = Number()
SlotId = Annotated[int, typer.Argument(metavar="ID", click_type=SLOT_ID, help="Slot id.")]
RequestId = Annotated[int, typer.Argument(metavar="ID", click_type=REQUEST_ID, help="Request id.")]
SlotIds = Annotated[List[int], typer.Argument(
    metavar="ID...", click_type=SLOT_IDS,
    help="Slot ids or ranges (5-9), at most 1,000: each is done (or refused) on its own.")]
RequestIds = Annotated[List[int], typer.Argument(
    metavar="ID...", click_type=REQUEST_IDS,
    help="Request ids or ranges (5-9), at most 1,000: each is done (or refused) on its own.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON (UTC times) instead of a table.")]
CourseOpt = Annotated[Optional[str], typer.Option(
    "--course", metavar="CODE", click_type=COURSE_CODE, help="Only this course.",
)]
FromOpt = Annotated[Optional[str], typer.Option("--from", metavar="WHEN", help="Starting at or after WHEN.")]
ToOpt = Annotated[Optional[str], typer.Option("--to", metavar="WHEN", help="Starting before WHEN.")]
Wide = Annotated[bool, typer.Option(
    "--wide", help="Print every column whole, one line per row however wide (less scrolls it sideways)."
)]
Quiet = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Print nothing on stdout when it succeeds (for cron), not even "
    "--json; warnings and errors still go to stderr.",
)]
LimitOpt = Annotated[Optional[int], typer.Option(
    "--limit", metavar="N", click_type=NUMBER, help="At most N rows (the first N of the list).")]
DryRun = Annotated[bool, typer.Option(
    "--dry-run", help="Print what would happen and change nothing (the exit code is the real run's).")]
Yes = Annotated[bool, typer.Option(
    "--yes", "-y", help="Do not ask before cancelling or moving other people's approved sessions.")]
ReasonOpt = Annotated[Optional[str], typer.Option("--reason", metavar="TEXT", help="Why (shown to the other side).")]


def guarded(ctx: typer.Context, run, *, as_json: bool, dry_run: bool = False,
            yes: bool = True) -> int:
    """Run a change (``run()``: prints it, returns the exit code) that may reach other people
    (``docs/reference/lifecycle.md#changes-that-reach-booked-sessions``). ``dry_run``: every
    write is rolled back, so it prints what would happen. Otherwise, on a terminal (stdin and
    stderr) without --json or --yes, a change that would cancel or move other people's
    approved sessions is first run dry, unseen, and the user asked once; the real run is then
    held to what was agreed (more is exit 5, nothing changed)."""
    from sessionctl.output import tables, terminal

    app_ = ctx.obj
    c = app_.context()
    if dry_run:
        app_.store().dry_run = True
        code = run()
        terminal.note("dry run: nothing was changed")
        return code
    if yes or as_json or not (_a_terminal("stdin") and _a_terminal("stderr")):
        return run()
    app_.store().dry_run = True
    with terminal.unseen():
        run()
    app_.store().dry_run = False
    from sessionctl.domain.context import reaches

    reached = [e for e in c.effects if reaches(e)]
    seen, c.effects[:] = list(c.effects), []
    if reached:
        terminal.note("This change would reach:", now=True)
        for text in tables.effect_lines(seen):
            terminal.note(f"  {text}", now=True)
        n = len(reached)
        verb = "moves" if all(e[3] == "moved" for e in reached) else "cancels"
        if not terminal.ask(f"This {verb} {n} approved session{'s' if n > 1 else ''} of other "
                            "people. Go on? [y/N] "):
            raise NotAllowed("nothing was changed: not confirmed",
                             hint="--yes skips the question")
        c.agreed = {e[1] for e in reached}
    return run()


def _a_terminal(name: str) -> bool:
    import sys

    stream = getattr(sys, name, None)
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def each(ctx: typer.Context, kind: str, ids: list[int], call, show_one, as_json: bool, *,
         deleted: bool = False) -> int:
    """A command given several ids (of ``kind``) runs each in its own transaction, with one
    result per id; a refused id changes nothing and the rest go on
    (``docs/reference/lifecycle.md#several-at-once``). One id keeps the one-object output
    (``show_one``). Returns the exit code: 0, or the highest among the refusals."""
    from sessionctl.output import tables
    from sessionctl.store import translate

    ids = [one for given in ids for one in given]  # ranges (IdRange) counted out
    if len(ids) > MAX_IDS:
        raise UsageError(f"{len(ids)} {kind} ids given; at most {MAX_IDS} at once",
                         hint="split them over several runs")
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
    tables.outcomes(kind, results, c.tz, as_json, deleted=deleted)
    return max((r.code for _, r in results if isinstance(r, SessionctlError)), default=0)
