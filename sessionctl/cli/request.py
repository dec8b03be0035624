"""sessionctl request …"""

from typing import Annotated, Optional

import typer

from sessionctl import render
from sessionctl.cli.common import (
    SLOT_ID, CourseOpt, FromOpt, Json, ReasonOpt, RequestId, ToOpt, Wide,
)
from sessionctl.domain import requests
from sessionctl.domain.context import shown_name
from sessionctl.errors import UsageError

app = typer.Typer(help="Request slots and decide on requests.", no_args_is_help=True)


def _show(ctx: typer.Context, view, as_json: bool) -> None:
    render.request(view, ctx.obj.context().tz, as_json)


@app.command("send")
def send(
    ctx: typer.Context,
    slot_id: Annotated[int, typer.Argument(metavar="SLOT_ID", click_type=SLOT_ID, help="The slot to request.")],
    message: Annotated[Optional[str], typer.Option("--message", "-m", metavar="TEXT", help="A note for the educator.")] = None,
    as_json: Json = False,
) -> None:
    """Request a seat in an available future slot (enrolled students)."""
    _show(ctx, requests.send(ctx.obj.context(), slot_id, message), as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option(
        "--status", metavar="pending|approved|rejected|cancelled|completed|all", help="Only this status."
    )] = None,
    course: CourseOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    wide: Wide = False,
    as_json: Json = False,
) -> None:
    """List requests, newest first: your own (student), for your slots (educator), all (admin)."""
    app_ = ctx.obj
    c = app_.context()
    views = requests.list_requests(c, status, course, app_.when(from_), app_.when(to))
    render.requests(views, c.tz, as_json, viewer=app_.viewer(), wide=wide)


@app.command("show")
def show(ctx: typer.Context, request_id: RequestId, as_json: Json = False) -> None:
    """Show a request with its full history."""
    _show(ctx, requests.show(ctx.obj.context(), request_id), as_json)


@app.command("approve")
def approve(
    ctx: typer.Context,
    request_id: RequestId,
    link: Annotated[Optional[str], typer.Option("--link", metavar="URL", help="Meeting link (default: the slot's).")] = None,
    notes: Annotated[Optional[str], typer.Option("--notes", metavar="TEXT", help="Notes for the student.")] = None,
    as_json: Json = False,
) -> None:
    """Approve a pending request (the slot's educator or an admin)."""
    _show(ctx, requests.approve(ctx.obj.context(), request_id, link, notes), as_json)


@app.command("reject")
def reject(ctx: typer.Context, request_id: RequestId, reason: ReasonOpt = None, as_json: Json = False) -> None:
    """Reject a pending request."""
    _show(ctx, requests.reject(ctx.obj.context(), request_id, reason), as_json)


@app.command("cancel")
def cancel(ctx: typer.Context, request_id: RequestId, reason: ReasonOpt = None, as_json: Json = False) -> None:
    """Cancel a pending or approved request (its student, its educator, an admin)."""
    _show(ctx, requests.cancel(ctx.obj.context(), request_id, reason), as_json)


@app.command("complete")
def complete(ctx: typer.Context, request_id: RequestId, as_json: Json = False) -> None:
    """Mark an approved session completed, after the slot has ended."""
    _show(ctx, requests.complete(ctx.obj.context(), request_id), as_json)


@app.command("export")
def export(
    ctx: typer.Context,
    ics: Annotated[bool, typer.Option("--ics", help="iCalendar (RFC 5545), the only format (required).")] = False,
    out: Annotated[Optional[str], typer.Option(
        "--out", metavar="FILE", help="Write FILE atomically (temp file + rename) instead of printing."
    )] = None,
) -> None:
    """Your approved, completed and cancelled sessions as an iCalendar file (stdout unless --out)."""
    if not ics:
        raise UsageError("say which format to export", hint="sessionctl request export --ics [--out FILE]")
    from sessionctl import ics as ical
    from sessionctl.domain import export as export_domain

    c = ctx.obj.context()
    name = f"sessionctl: {shown_name(c.actor)}"
    render.document(ical.calendar(export_domain.sessions(c), name=name), out)
