"""sessionctl request …"""

from typing import Annotated, List, Optional

import typer

from sessionctl.cli.common import (
    NUMBER, SLOT_ID, CourseOpt, FromOpt, Json, Later, LimitOpt, ReasonOpt, RequestId, RequestIds,
    ToOpt, Wide, Yes, each, guarded,
)
from sessionctl.errors import UsageError

files = Later("sessionctl.output.files")
tables = Later("sessionctl.output.tables")
requests = Later("sessionctl.domain.requests")
texts = Later("sessionctl.domain.texts")

app = typer.Typer(help="Request slots and decide on requests.", no_args_is_help=True)


def _show(ctx: typer.Context, view, as_json: bool) -> None:
    tables.request(view, ctx.obj.context().tz, as_json)


def _each(ctx: typer.Context, ids: list[int], call, as_json: bool) -> int:
    return each(ctx, "request", ids, call, lambda view: _show(ctx, view, as_json), as_json)


@app.command("send")
def send(
    ctx: typer.Context,
    slot_id: Annotated[int, typer.Argument(metavar="SLOT_ID", click_type=SLOT_ID, help="The slot to request.")],
    message: Annotated[Optional[str], typer.Option("--message", "-m", metavar="TEXT", help="A note for the educator.")] = None,
    waitlist: Annotated[bool, typer.Option(
        "--waitlist", help="If the slot is (or becomes) full, wait in line for a seat instead.")] = False,
    as_json: Json = False,
) -> None:
    """Request a seat in an available future slot (enrolled students)."""
    _show(ctx, requests.send(ctx.obj.context(), slot_id, message, waitlist=waitlist), as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[Optional[List[str]], typer.Option(
        "--status", metavar="pending|approved|waiting|rejected|cancelled|completed|all",
        help="Only these, comma-separated (pending,waiting) or repeated."
    )] = None,
    course: CourseOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    student: Annotated[Optional[str], typer.Option(
        "--student", metavar="NAME", help="Only this student's requests (educators and admins: any they see; students: themselves).")] = None,
    limit: LimitOpt = None,
    wide: Wide = False,
    as_json: Json = False,
) -> None:
    """List requests, newest first: your own (student), for your slots (educator), all (admin)."""
    app_ = ctx.obj
    c = app_.context()
    views = requests.list_requests(c, ",".join(status or ()) or None, course,
                                   *app_.between(from_, to),
                                   student=student, limit=limit)
    tables.requests(views, c.tz, as_json, viewer=app_.viewer(), wide=wide)


@app.command("show")
def show(ctx: typer.Context, request_id: RequestId, as_json: Json = False) -> None:
    """Show a request with its full history."""
    _show(ctx, requests.show(ctx.obj.context(), request_id), as_json)


@app.command("approve")
def approve(
    ctx: typer.Context,
    request_ids: RequestIds,
    link: Annotated[Optional[str], typer.Option("--link", metavar="URL", help="Meeting link (default: the slot's, following its changes).")] = None,
    notes: Annotated[Optional[str], typer.Option("--notes", metavar="TEXT", help="Notes for the student.")] = None,
    as_json: Json = False,
) -> int:
    """Approve pending or waiting requests (the slot's educator or an admin)."""
    c = ctx.obj.context()
    return _each(ctx, request_ids, lambda i: requests.approve(c, i, link, notes), as_json)


@app.command("reject")
def reject(ctx: typer.Context, request_ids: RequestIds, reason: ReasonOpt = None, as_json: Json = False) -> int:
    """Reject pending or waiting requests."""
    c = ctx.obj.context()
    return _each(ctx, request_ids, lambda i: requests.reject(c, i, reason), as_json)


@app.command("cancel")
def cancel(ctx: typer.Context, request_ids: RequestIds, reason: ReasonOpt = None, yes: Yes = False,
           as_json: Json = False) -> int:
    """Cancel pending, waiting or approved requests (its student, its educator, an admin). An educator or admin also sees one line per person affected."""
    c = ctx.obj.context()

    def run() -> int:
        code = _each(ctx, request_ids, lambda i: requests.cancel(c, i, reason), as_json)
        if c.role != "student":  # a student is not told about other students' places in line
            tables.effects(c.effects, as_json)
        return code

    return guarded(ctx, run, as_json=as_json, yes=yes or c.role == "student")


@app.command("move")
def move(
    ctx: typer.Context,
    request_id: RequestId,
    to: Annotated[int, typer.Option("--to", metavar="SLOT_ID", click_type=SLOT_ID, help="The slot to move to (same course).")],
    message: Annotated[Optional[str], typer.Option("--message", "-m", metavar="TEXT", help="A new note for the educator (default: the old one).")] = None,
    as_json: Json = False,
) -> None:
    """Move a booking to another slot of its course; a student's move of an approved session waits for approval."""
    from sessionctl.domain import moves

    _show(ctx, moves.move(ctx.obj.context(), request_id, to, message), as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    request_id: RequestId,
    link: Annotated[Optional[str], typer.Option("--link", metavar="URL", help="This request's own meeting link ('' follows the slot's again).")] = None,
    notes: Annotated[Optional[str], typer.Option("--notes", metavar="TEXT", help="Notes for the student ('' clears).")] = None,
    as_json: Json = False,
) -> None:
    """Change a pending or approved request's link or notes (its educator or an admin); the student is told."""
    given = {k: v for k, v in dict(link=link, notes=notes).items() if v is not None}
    _show(ctx, requests.update(ctx.obj.context(), request_id, **given), as_json)


@app.command("complete")
def complete(
    ctx: typer.Context,
    request_id: RequestId,
    attended: Annotated[bool, typer.Option("--attended", help="The student came.")] = False,
    no_show: Annotated[bool, typer.Option("--no-show", help="The student did not come.")] = False,
    notes: Annotated[Optional[str], typer.Option("--notes", metavar="TEXT", help="What happened (kept in the history).")] = None,
    as_json: Json = False,
) -> None:
    """Mark a session completed after its end, or record its attendance (the educator or an admin)."""
    if attended and no_show:
        raise UsageError("give --attended or --no-show, not both")
    attendance = "attended" if attended else "no-show" if no_show else None
    _show(ctx, requests.complete(ctx.obj.context(), request_id, attendance, notes), as_json)


@app.command("rate")
def rate(
    ctx: typer.Context,
    request_id: RequestId,
    stars: Annotated[int, typer.Option("--stars", metavar="1..5", click_type=NUMBER, help="How it went, from 1 to 5 stars.")],
    comment: Annotated[Optional[str], typer.Option("--comment", metavar="TEXT", help="A few words for the educator.")] = None,
    as_json: Json = False,
) -> None:
    """Rate your completed session within 30 days of its end (its student); again replaces it."""
    _show(ctx, requests.rate(ctx.obj.context(), request_id, stars, comment), as_json)


@app.command("export")
def export(
    ctx: typer.Context,
    ics: Annotated[bool, typer.Option("--ics", help="iCalendar (RFC 5545), the only format; required.")] = False,
    out: Annotated[Optional[str], typer.Option(
        "--out", metavar="FILE",
        help="Write FILE atomically (temp file + rename) instead of printing; '-' is stdout."
    )] = None,
    no_cancelled: Annotated[bool, typer.Option(
        "--no-cancelled", help="Leave cancelled sessions out (for calendars that ignore STATUS).")] = False,
) -> None:
    """Your booked sessions (approved, completed, cancelled) as an iCalendar file (stdout unless --out)."""
    if not ics:
        raise UsageError("say which format to export", hint="sessionctl request export --ics [--out FILE]")
    if out == "-":  # as for most tools: stdout, never a file named '-' (./- is one)
        out = None
    if out is not None:
        ctx.obj.settings.caller_path("--out", out, hint="let your shell write it: "
                                     "sessionctl request export --ics > FILE")
    from sessionctl import ics as ical
    from sessionctl.domain import export as export_domain

    c = ctx.obj.context()
    name = f"sessionctl: {texts.shown_name(c.actor)}"
    files.document(ical.calendar(export_domain.sessions(c, cancelled=not no_cancelled), name=name), out)
