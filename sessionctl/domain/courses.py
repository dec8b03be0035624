"""Courses and enrolment."""

from __future__ import annotations

import io

import peewee as pw

from sessionctl._plain import Record
from sessionctl.domain import access, policy
from sessionctl.domain.checks import (
    KEEP, check_code, check_email, check_line, check_name, check_title,
)
from sessionctl.domain.context import Context
from sessionctl.domain.views import CourseView, UserView
from sessionctl.errors import Conflict, NotFound, UsageError
from sessionctl.statuses import APPROVED, CANCELLED, UNDECIDED
from sessionctl.store import guarded, queries
from sessionctl.store.edge import to_db
from sessionctl.store.models import Course, Enrollment, Request, Slot, User


def _enrolled_count(course_ids: list[int]) -> dict[int, int]:
    if guarded.on():  # others' enrolments: the server counts them
        return guarded.enrolled_counts(course_ids)
    rows = (
        Enrollment.select(Enrollment.course, pw.fn.COUNT(Enrollment.id))
        .where(Enrollment.course.in_(course_ids))
        .group_by(Enrollment.course)
        .tuples()
    )
    return {cid: n for cid, n in rows}


def _view(course: Course) -> CourseView:
    return CourseView.of(course, _enrolled_count([course.id]).get(course.id, 0))


def add_course(ctx: Context, code: str, title: str, educator: str | None) -> CourseView:
    check_code(code)
    title = check_title("title", title)
    with ctx.write():
        owner = access.course_owner(ctx, educator)
        if guarded.code_taken(code) if guarded.on() else \
                Course.select().where(Course.code == code).exists():
            raise Conflict(f"course {code} already exists")
        course = Course.create(code=code, title=title, educator=owner, created_at=to_db(ctx.now()))
        return CourseView.of(course, 0)


def set_course(ctx: Context, code: str, *, title=KEEP, link_template=KEEP, buffer=KEEP,
               **policies) -> CourseView:
    """``course set``: the title, the policies (``docs/reference/policies.md``; ``policy.changes`` names them),
    the link template and the buffer (``docs/reference/meeting-rooms-and-hooks.md``) of a
    course, by its educator or an admin. Existing requests and slots are left as they are."""
    check_code(code)
    changes = policy.changes(**policies)
    if title is not KEEP:
        changes["title"] = check_title("title", title)
    if link_template is not KEEP:
        from sessionctl.domain.links import check_template

        changes["link_template"] = check_template(link_template)
    if buffer is not KEEP:
        changes["buffer"] = None if buffer is None else policy.buffer_minutes(buffer)
    if not changes:
        raise UsageError("nothing to change",
                         hint="give --title or a policy: see 'sessionctl course set --help'")
    with ctx.write():
        course = access.course(ctx, code, manage=True)
        changes = {k: v for k, v in changes.items() if getattr(course, k) != v}
        if changes:  # a setting given as it already is changes nothing
            Course.update(**changes).where(Course.id == course.id).execute()
        return _view(queries.courses().where(Course.id == course.id).get())


def list_courses(ctx: Context) -> list[CourseView]:
    with ctx.read():
        query = access.scope(ctx, queries.courses().order_by(Course.code), "course")
        courses = list(query)
        counts = _enrolled_count([c.id for c in courses])
        return [CourseView.of(c, counts.get(c.id, 0)) for c in courses]


def show_course(ctx: Context, code: str) -> CourseView:
    with ctx.read():
        return _view(access.course(ctx, check_code(code)))


def roster(ctx: Context, code: str) -> list[UserView]:
    with ctx.read():
        return _roster(access.course(ctx, check_code(code), manage=True))


def _roster(course: Course) -> list[UserView]:
    students = (
        User.select()
        .join(Enrollment, on=(Enrollment.student == User.id))
        .where(Enrollment.course == course)
        .order_by(User.name)
    )
    return [UserView.of(u) for u in students]


MAX_CSV_ROWS = 10_000  # students per --from-csv file (documented); a larger file is exit 2
DELIMITERS = (",", ";", "\t")
BATCH = 500  # rows per IN (…) lookup or multi-row INSERT: well under every backend's limits


def read_roster_csv(text: str) -> list[dict]:
    """Rows of a roster CSV: a ``name`` column, optional ``email`` and ``display``; separated
    by commas, semicolons or tabs (whichever the header line uses), with or without a BOM."""
    import csv

    text = text.removeprefix("\ufeff")
    header = text.split("\n", 1)[0]
    delimiter = next(
        (d for d in DELIMITERS if "name" in (f.strip().strip('"').lower() for f in header.split(d))),
        None,
    )
    if delimiter is None:
        raise UsageError("the CSV has no 'name' column",
                         hint="the first line must name the columns (name,email,display)")
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows, seen = [], set()
    try:
        reader.fieldnames = [f.strip().lower() for f in (reader.fieldnames or [])]
        for row in reader:
            lineno = reader.line_num
            if len(rows) >= MAX_CSV_ROWS:
                raise UsageError(f"the CSV has more than {MAX_CSV_ROWS:,} students",
                                 hint="split it into several files")
            rows.append(_roster_row(row, lineno))
    except csv.Error as exc:  # the csv reader's count: the line it stopped on (DictReader's
        raise UsageError(f"CSV line {reader.reader.line_num}: {exc}") from None  # is the last row's)
    return [row for row in rows if not (row["name"] in seen or seen.add(row["name"]))]


def _roster_row(row: dict, lineno: int) -> dict:
    name = (row.get("name") or "").strip()
    if not name:
        raise UsageError(f"CSV line {lineno} has an empty name")
    try:
        check_name(name)
        email = check_email((row.get("email") or "").strip() or None)
        display = check_line("display name", (row.get("display") or "").strip() or None)
    except UsageError as exc:
        raise UsageError(f"CSV line {lineno}: {exc.message}", exc.hint) from None
    return {"name": name, "email": email, "display": display}


class Enrolment(Record):
    """What ``course enroll`` did, and the roster after it."""

    _fields = ("enrolled", "already", "registered", "roster")

    def __init__(self, enrolled: int, already: int, registered: int, roster: list[UserView]):
        self.enrolled = enrolled
        self.already = already
        self.registered = registered
        self.roster = roster

    def counts(self) -> dict[str, int]:
        return {"enrolled": self.enrolled, "already enrolled": self.already,
                "newly registered": self.registered}


def _chunks(items: list, size: int = BATCH):
    return (items[i:i + size] for i in range(0, len(items), size))


def _users_named(names: list[str]) -> dict[str, User]:
    found = {}
    for chunk in _chunks(names):
        found.update((u.name, u) for u in User.select().where(User.name.in_(chunk)))
    return found


def enroll(ctx: Context, code: str, names: list[str], csv_rows: list[dict]) -> Enrolment:
    """Enrol named students and CSV rows; unknown CSV names become students. Idempotent.

    A few statements per 500 students, all in one transaction, so a 3,000-row roster holds
    the write lock for a moment, not for seconds."""
    check_code(code)
    for name in names:
        check_name(name)
    if not names and not csv_rows:
        raise UsageError("name at least one student, or give --from-csv FILE")
    with ctx.write():
        course = access.course(ctx, code, manage=True)
        wanted = list(dict.fromkeys(names + [row["name"] for row in csv_rows]))
        users = _users_named(wanted)
        missing = [name for name in names if name not in users]
        if missing:
            raise NotFound(
                f"no user named {missing[0]!r}",
                hint="register them with 'sessionctl user add' or use --from-csv",
            )
        stamp = to_db(ctx.now())
        new = [dict(row, role="student", created_at=stamp) for row in csv_rows
               if row["name"] not in users]
        for chunk in _chunks(new):
            User.insert_many(chunk).execute()
        ctx.store.made_users((row["name"], "student") for row in new)
        if new:
            users.update(_users_named([row["name"] for row in new]))
        wrong = next((users[n] for n in wanted if users[n].role != "student"), None)
        if wrong is not None:
            raise Conflict(f"{wrong.name} is {'an' if wrong.role[0] in 'aeiou' else 'a'} "
                           f"{wrong.role}; only students can be enrolled")
        ids = [users[n].id for n in wanted]
        already = set()
        for chunk in _chunks(ids):
            already.update(e.student_id for e in Enrollment.select(Enrollment.student).where(
                Enrollment.course == course, Enrollment.student.in_(chunk)))
        fresh = [{"course": course.id, "student": i, "created_at": stamp}
                 for i in ids if i not in already]
        for chunk in _chunks(fresh):
            Enrollment.insert_many(chunk).execute()
        return Enrolment(len(fresh), len(already), len(new), _roster(course))


def unenroll(ctx: Context, code: str, names: list[str]) -> list[UserView]:
    """Remove students; their pending and waiting requests in the course become cancelled."""
    from sessionctl.domain.transitions import transition

    check_code(code)
    for name in names:
        check_name(name)
    with ctx.write():
        course = access.course(ctx, code, manage=True)
        for name in names:
            user = User.get_or_none(User.name == name)
            if user is None:
                raise NotFound(f"no user named {name!r}")
            Enrollment.delete().where(
                Enrollment.course == course, Enrollment.student == user
            ).execute()
            waiting = queries.requests().where(  # not yet a session: pending or on a waitlist
                Slot.course == course, Request.student == user,
                Request.status.in_(UNDECIDED),
            )
            for request in list(waiting):
                transition(
                    ctx, request, CANCELLED, reason=f"unenrolled from {course.code}",
                    notify_kind="cancelled",
                )
            kept = queries.requests().where(  # sessions stay: said, so none is forgotten
                Slot.course == course, Request.student == user, Request.status == APPROVED)
            for request in kept.order_by(Request.id):
                ctx.effects.append((user.name, request.id, APPROVED, "kept", False))
        return _roster(course)
