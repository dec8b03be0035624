"""sessionctl course …"""

from typing import Annotated, List, Optional

import typer

from sessionctl.cli.common import COURSE_CODE, DryRun, FromOpt, Json, Later, ToOpt, Wide, guarded
from sessionctl.errors import UsageError

chart = Later("sessionctl.output.chart")
tables = Later("sessionctl.output.tables")
courses = Later("sessionctl.domain.courses")
checks = Later("sessionctl.domain.checks")

app = typer.Typer(help="Create courses and manage who is enrolled.", no_args_is_help=True)

Code = Annotated[str, typer.Argument(metavar="CODE", click_type=COURSE_CODE, help="Course code.")]


@app.command("add")
def add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE", help="Unique code: 1-32 of A-Z a-z 0-9 . _ -")],
    title: Annotated[str, typer.Option("--title", metavar="TEXT", help="Course title.")],
    educator: Annotated[Optional[str], typer.Option(
        "--educator", metavar="NAME", help="Owning educator (admins; educators own what they create)."
    )] = None,
    as_json: Json = False,
) -> None:
    """Create a course."""
    tables.course(courses.add_course(ctx.obj.context(), code, title, educator), as_json)


@app.command("list")
def list_(ctx: typer.Context, wide: Wide = False, as_json: Json = False) -> None:
    """List courses: all (admin), your own (educator) or your enrolled ones (student)."""
    tables.courses(courses.list_courses(ctx.obj.context()), as_json, viewer=ctx.obj.viewer(), wide=wide)


@app.command("show")
def show(ctx: typer.Context, code: Code, as_json: Json = False) -> None:
    """Show a course with its educator and enrolment count."""
    tables.course(courses.show_course(ctx.obj.context(), code), as_json)


@app.command("enroll")
def enroll(
    ctx: typer.Context,
    code: Code,
    students: Annotated[Optional[List[str]], typer.Argument(metavar="[STUDENT]...", help="Students to enrol.")] = None,
    # a plain string, not click's Path: its existence and access checks would run before the
    # shared mode's refusal, as the service account, on a path the caller names
    from_csv: Annotated[Optional[str], typer.Option(
        "--from-csv", metavar="FILE", help="CSV with a name column, optional email and display; '-' reads stdin."
    )] = None,
    as_json: Json = False,
) -> None:
    """Enrol students (idempotent); CSV names not yet known are registered as students. Prints the roster."""
    if from_csv is not None and from_csv != "-":
        ctx.obj.settings.caller_path("--from-csv", from_csv,
                                     hint=f"let your shell open it: --from-csv - < {from_csv}")
    rows = courses.read_roster_csv(_read(from_csv)) if from_csv is not None else []
    done = courses.enroll(ctx.obj.context(), code, students or [], rows)
    if not as_json:
        tables.counts(done.counts(), False)
    tables.users(done.roster, as_json)


MAX_CSV_BYTES = 10 * 2**20


def _read(path: str) -> str:
    """The CSV's text: a file, or stdin for '-'; UTF-8 with or without a BOM; at most 10 MiB."""
    import sys

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_CSV_BYTES + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(MAX_CSV_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CSV_BYTES:
        raise UsageError(f"{path} is larger than {MAX_CSV_BYTES // 2**20} MiB",
                         hint="split it into several files")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {path}: it is not UTF-8 text") from None


@app.command("unenroll")
def unenroll(
    ctx: typer.Context,
    code: Code,
    students: Annotated[List[str], typer.Argument(metavar="STUDENT...", help="Students to remove.")],
    dry_run: DryRun = False,
    as_json: Json = False,
) -> int:
    """Remove students; their pending and waiting requests in the course are cancelled. Prints the roster and one line per request cancelled."""
    c = ctx.obj.context()

    def run() -> int:
        tables.users(courses.unenroll(c, code, students), as_json)
        tables.effects(c.effects, as_json)
        return 0

    return guarded(ctx, run, as_json=as_json, dry_run=dry_run)


@app.command("roster")
def roster(ctx: typer.Context, code: Code, wide: Wide = False, as_json: Json = False) -> None:
    """List the students enrolled in a course."""
    tables.users(courses.roster(ctx.obj.context(), code), as_json, wide=wide)


def _duration_or_off(option: str, text: str):
    return Annotated[Optional[str], typer.Option(option, metavar="DURATION|off", help=text)]


@app.command("set")
def set_(
    ctx: typer.Context,
    code: Code,
    title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="A new title.")] = None,
    min_notice: _duration_or_off(
        "--min-notice", "Students may not request (or move to) a slot starting sooner than this.") = None,
    cancel_notice: _duration_or_off(
        "--cancel-notice", "Students may not cancel or move an approved session starting sooner than this.") = None,
    horizon: _duration_or_off(
        "--horizon", "Students may not request (or move to) a slot starting later than this from now.") = None,
    max_active: Annotated[Optional[str], typer.Option(
        "--max-active", metavar="N|off",
        help="The most pending, approved and waiting requests a student may hold for future slots.")] = None,
    auto_approve: Annotated[Optional[bool], typer.Option(
        "--auto-approve/--no-auto-approve",
        help="Approve a student's request on a slot with a free seat at once.")] = None,
    link_template: Annotated[Optional[str], typer.Option(
        "--link-template", metavar="URL|off",
        help="Make an approval's meeting link: {course} {slot} {request} {date} {token}.")] = None,
    buffer: _duration_or_off(
        "--buffer", "Keep this much time free before and after the educator's slots of the course.") = None,
    as_json: Json = False,
) -> None:
    """Change a course's title, policies, link template or buffer (its educator or an admin); 'off' turns one off."""
    app_ = ctx.obj
    view = courses.set_course(
        app_.context(), code, title=checks.KEEP if title is None else title,
        min_notice=_or_off(min_notice, app_.duration), cancel_notice=_or_off(cancel_notice, app_.duration),
        horizon=_or_off(horizon, app_.duration), max_active=_or_off(max_active, _max_active),
        auto_approve=checks.KEEP if auto_approve is None else auto_approve,
        link_template=_or_off(link_template, str), buffer=_or_off(buffer, app_.duration),
    )
    tables.course(view, as_json)


def _or_off(text: Optional[str], parse):
    """An option's value: not given (KEEP), 'off' (None), or what ``parse`` makes of it."""
    if text is None:
        return checks.KEEP
    if text.strip().lower() == "off":
        return None
    return parse(text)


def _max_active(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise UsageError(f"--max-active takes a whole number or 'off', not {text!r}")
    return int(text)


@app.command("report")
def report(ctx: typer.Context, code: Code, from_: FromOpt = None, to: ToOpt = None,
           as_json: Json = False) -> None:
    """How a course's slots were used, with a bar chart by week (default: 8 weeks to this one's end, and 4 after)."""
    from sessionctl.domain import report as report_domain

    app_ = ctx.obj
    c = app_.context()
    chart.report(report_domain.report(c, code, *app_.between(from_, to)), c.tz, as_json)
