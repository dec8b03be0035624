"""Courses and enrolment."""

from __future__ import annotations

import csv
import io

import peewee as pw

from sessionctl.domain import access, queries
from sessionctl.domain.context import (
    Context, check_code, check_email, check_line, check_name, check_title, to_db,
)
from sessionctl.domain.views import CourseView, UserView
from sessionctl.errors import Conflict, NotFound, UsageError
from sessionctl.store.models import Course, Enrollment, Request, Slot, User


def _enrolled_count(course_ids: list[int]) -> dict[int, int]:
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
        if Course.select().where(Course.code == code).exists():
            raise Conflict(f"course {code} already exists")
        course = Course.create(code=code, title=title, educator=owner, created_at=to_db(ctx.now()))
        return CourseView.of(course, 0)


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


def read_roster_csv(text: str) -> list[dict]:
    """Rows of a roster CSV: a ``name`` column, optional ``email`` and ``display``."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "name" not in fields:
        raise UsageError("the CSV has no 'name' column", hint="the first line must name the columns")
    reader.fieldnames = fields
    rows = []
    for lineno, row in enumerate(reader, start=2):
        name = (row.get("name") or "").strip()
        if not name:
            raise UsageError(f"CSV line {lineno} has an empty name")
        try:
            check_name(name)
            email = check_email((row.get("email") or "").strip() or None)
            display = check_line("display name", (row.get("display") or "").strip() or None)
        except UsageError as exc:
            raise UsageError(f"CSV line {lineno}: {exc.message}", exc.hint) from None
        rows.append({"name": name, "email": email, "display": display})
    return rows


def enroll(ctx: Context, code: str, names: list[str], csv_rows: list[dict]) -> list[UserView]:
    """Enrol named students and CSV rows; unknown CSV names become students. Idempotent."""
    check_code(code)
    for name in names:
        check_name(name)
    if not names and not csv_rows:
        raise UsageError("name at least one student, or give --from-csv FILE")
    with ctx.write():
        course = access.course(ctx, code, manage=True)
        wanted: list[User] = []
        for name in names:
            user = User.get_or_none(User.name == name)
            if user is None:
                raise NotFound(
                    f"no user named {name!r}",
                    hint="register them with 'sessionctl user add' or use --from-csv",
                )
            wanted.append(user)
        for row in csv_rows:
            user = User.get_or_none(User.name == row["name"])
            if user is None:
                user = User.create(
                    name=row["name"], role="student", email=row["email"],
                    display=row["display"], created_at=to_db(ctx.now()),
                )
            wanted.append(user)
        for user in wanted:
            if user.role != "student":
                raise Conflict(f"{user.name} is a {user.role}; only students can be enrolled")
            if not access.is_enrolled(course.id, user):
                Enrollment.create(course=course, student=user, created_at=to_db(ctx.now()))
        return _roster(course)


def unenroll(ctx: Context, code: str, names: list[str]) -> list[UserView]:
    """Remove students; their pending requests in the course become cancelled."""
    from sessionctl.domain.requests import transition

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
            pending = queries.requests().where(
                Slot.course == course, Request.student == user, Request.status == "pending"
            )
            for request in pending:
                transition(
                    ctx, request, "cancelled", reason=f"unenrolled from {course.code}",
                    notify_kind="cancelled",
                )
        return _roster(course)
