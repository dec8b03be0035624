"""sessionctl slot …"""

from contextlib import contextmanager
from typing import Annotated, List, Optional

import typer

from sessionctl.cli.common import (
    COURSE_CODE, NUMBER, CourseOpt, DryRun, FromOpt, Json, LimitOpt, ReasonOpt, SlotId, SlotIds, ToOpt,
    Later, Wide, Yes, each, guarded,
)

tables = Later("sessionctl.output.tables")
slots = Later("sessionctl.domain.slots")

app = typer.Typer(help="Publish availability slots and browse them.", no_args_is_help=True)

Start = Annotated[Optional[str], typer.Option("--start", metavar="WHEN", help="Start: 2027-01-11 10:00, tomorrow 9:30, mon 10:00, +2h… (no offset = display zone).")]
End = Annotated[Optional[str], typer.Option("--end", metavar="WHEN", help="End.")]
Duration = Annotated[Optional[str], typer.Option("--duration", metavar="DURATION", help="Length instead of --end: 30m, 1h, 1h30m.")]
Notes = Annotated[Optional[str], typer.Option("--notes", metavar="TEXT", help="Notes for students ('' clears).")]
IgnoreBusy = Annotated[bool, typer.Option("--ignore-busy", help="Go on even if it overlaps a busy time of the educator's calendars.")]
Link = Annotated[Optional[str], typer.Option("--link", metavar="URL", help="Default meeting link, http(s) ('' clears).")]


@app.command("add")
def add(
    ctx: typer.Context,
    course: Annotated[str, typer.Option(
        "--course", metavar="CODE", click_type=COURSE_CODE, help="The course.",
    )],
    start: Annotated[str, typer.Option("--start", metavar="WHEN", help="Start: 2027-01-11 10:00, tomorrow 9:30, mon 10:00, +2h… (no offset = display zone).")],
    end: End = None,
    duration: Duration = None,
    capacity: Annotated[int, typer.Option("--capacity", metavar="N", click_type=NUMBER, help="Seats, 1-100.")] = 1,
    notes: Notes = None,
    link: Link = None,
    split: Annotated[Optional[str], typer.Option("--split", metavar="DURATION", help="Cut [start, end) into back-to-back slots this long.")] = None,
    repeat: Annotated[Optional[str], typer.Option("--repeat", metavar="daily|weekdays|weekly", help="Repeat at the same local time; needs --count or --until.")] = None,
    count: Annotated[Optional[int], typer.Option("--count", metavar="N", help="Number of repetitions.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", metavar="WHEN", help="Last repetition starts at or before WHEN (a bare date: that whole day).")] = None,
    rrule: Annotated[Optional[str], typer.Option("--rrule", metavar="RULE", help="Repeat by an RFC 5545 RRULE body, e.g. 'FREQ=WEEKLY;BYDAY=MO,WE;COUNT=8'.")] = None,
    except_: Annotated[Optional[List[str]], typer.Option(
        "--except", metavar="DATE", help="Leave out a series' slots on this local date (repeatable, or comma-separated).")] = None,
    ignore_busy: IgnoreBusy = False,
    dry_run: DryRun = False,
    as_json: Json = False,
) -> int:
    """Create a slot or a series (course owner or admin), all or nothing. Prints the created slots."""
    from sessionctl.domain import series

    app_ = ctx.obj
    c = app_.context()
    plan = series.Series(
        repeat=repeat, rrule=rrule, count=count, split=app_.duration(split),
        until=app_.when(until, until=True),
        skip=app_.days(except_),
    )
    busy = app_.busy(ignore_busy)

    def run() -> int:
        with _warnings(busy):
            created = slots.add(
                c, course, app_.when(start), end=app_.when(end), duration=app_.duration(duration),
                plan=plan, capacity=capacity, notes=notes, link=link, busy=busy,
            )
        tables.slots(created, c.tz, as_json, viewer=app_.viewer(), created=True)
        return 0

    return guarded(ctx, run, as_json=as_json, dry_run=dry_run)


@app.command("list")
def list_(
    ctx: typer.Context,
    course: CourseOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    status: Annotated[Optional[List[str]], typer.Option(
        "--status", metavar="available|booked|cancelled|all",
        help="Only these, comma-separated (available,booked) or repeated. Default: students see available "
        "future slots; others, live slots not yet ended.",
    )] = None,
    educator: Annotated[Optional[str], typer.Option("--educator", metavar="NAME", help="Only this educator's slots.")] = None,
    limit: LimitOpt = None,
    wide: Wide = False,
    as_json: Json = False,
) -> None:
    """List the slots you can see."""
    app_ = ctx.obj
    c = app_.context()
    views = slots.list_slots(c, course, *app_.between(from_, to), ",".join(status or ()) or None,
                             educator, limit)
    tables.slots(views, c.tz, as_json, viewer=app_.viewer(), wide=wide)


@app.command("show")
def show(ctx: typer.Context, slot_id: SlotId, as_json: Json = False) -> None:
    """Show a slot with its requests (students see only their own)."""
    c = ctx.obj.context()
    tables.slot(slots.show_slot(c, slot_id), c.tz, as_json, viewer=ctx.obj.viewer())


@app.command("update")
def update(
    ctx: typer.Context,
    slot_id: SlotId,
    start: Start = None,
    end: End = None,
    duration: Duration = None,
    capacity: Annotated[Optional[int], typer.Option("--capacity", metavar="N", click_type=NUMBER, help="Seats, 1-100.")] = None,
    notes: Notes = None,
    link: Link = None,
    ignore_busy: IgnoreBusy = False,
    yes: Yes = False,
    dry_run: DryRun = False,
    as_json: Json = False,
) -> int:
    """Change a slot; --start alone keeps its length. Its requests move with it, each student told."""
    app_ = ctx.obj
    c = app_.context()
    given = {k: v for k, v in dict(notes=notes, link=link).items() if v is not None}
    busy = app_.busy(ignore_busy)

    def run() -> int:
        with _warnings(busy):
            view = slots.update_slot(
                c, slot_id, start=app_.when(start), end=app_.when(end),
                duration=app_.duration(duration), capacity=capacity, busy=busy, **given,
            )
        tables.slot(view, c.tz, as_json, viewer=app_.viewer())
        tables.effects(c.effects, as_json)
        return 0

    return guarded(ctx, run, as_json=as_json, dry_run=dry_run, yes=yes)


@app.command("cancel")
def cancel(ctx: typer.Context, slot_ids: SlotIds, reason: ReasonOpt = None, yes: Yes = False,
           dry_run: DryRun = False, as_json: Json = False) -> int:
    """Cancel slots; their pending, waiting and approved requests are cancelled and the students told (one line per person)."""
    c = ctx.obj.context()

    def run() -> int:
        code = each(ctx, "slot", slot_ids, lambda i: slots.cancel_slot(c, i, reason),
                    lambda view: tables.slot(view, c.tz, as_json, viewer=ctx.obj.viewer()),
                    as_json)
        tables.effects(c.effects, as_json)
        return code

    return guarded(ctx, run, as_json=as_json, dry_run=dry_run, yes=yes)


@app.command("delete")
def delete(ctx: typer.Context, slot_ids: SlotIds, as_json: Json = False) -> int:
    """Delete slots that never had a request (otherwise cancel them)."""
    c = ctx.obj.context()
    return each(ctx, "slot", slot_ids, lambda i: slots.delete_slot(c, i),
                lambda view: tables.slot_deleted(view, as_json), as_json, deleted=True)


@app.command("calendar")
def calendar(
    ctx: typer.Context,
    week: Annotated[Optional[str], typer.Option("--week", metavar="WHEN|next|prev|last|+N|-N", help="Any moment in the week to show, or weeks from this one (last is prev; default: this week).")] = None,
    course: CourseOpt = None,
    as_json: Json = False,
) -> None:
    """A Monday-to-Sunday grid of the slots you can see, in the display zone."""
    app_ = ctx.obj
    c = app_.context()
    away = slots.weeks_away(week)
    when = None if away is not None else app_.when(week)
    busy = app_.busy() if c.role == "educator" else None
    with _warnings(busy):
        shown = slots.week(c, when, course, away or 0, busy=busy)
    tables.calendar(shown, c.tz, as_json)


@contextmanager
def _warnings(busy):
    """Say which busy source failed and had its cached copy used, whether the command then
    succeeds or is refused (docs/reference/busy-times.md#caching)."""
    try:
        yield
    finally:
        if busy is not None and busy.warnings:
            from sessionctl.output import terminal

            for text in busy.warnings:
                terminal.warning(text)
