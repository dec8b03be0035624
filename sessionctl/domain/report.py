"""``course report`` (``docs/reference/after-the-session.md#the-course-report``): how a course's sessions were used, in SQL aggregates.

Every number comes from a handful of GROUP BY / aggregate queries bounded by the course and
the range (the ``slots (course_id, starts_at)`` index, then each slot's requests through
``requests (slot_id, status)``), so the report costs the same on a store of a thousand slots
as on one of a million: no row of another course, or outside the range, is read.

What counts, for the slots of the course that start in [from, to):
- slots and seats offered: slots not cancelled, and their capacity;
- seats booked: approved and completed requests (utilisation: booked / offered seats);
- sessions completed, attended, no-shows: completed requests and their attendance;
- cancellations: approved sessions that were cancelled (not moved), by their student, or by
  the educator (an admin, or a cancelled slot, counts as the educator);
- moves: requests moved to another slot (``request move``, once it took effect);
- ratings and their average stars; hours held: the length of each slot that had a completed
  session not recorded as a no-show; median notice: from request to start, over booked seats.

Weeks run Monday to Sunday in the display zone; the default range is the last 8 weeks (this
one included) and the next 4; --to may lie in the future (slots offered ahead count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import peewee as pw

from sessionctl.domain import access
from sessionctl.domain.checks import check_code
from sessionctl.domain.context import Context
from sessionctl.errors import UsageError
from sessionctl.statuses import APPROVED, ATTENDED, CANCELLED, COMPLETED, NO_SHOW, SESSIONS
from sessionctl.store.edge import to_db
from sessionctl.store.models import History, Request, Slot
from sessionctl.timeparse import midnight

PAST_WEEKS, NEXT_WEEKS = 8, 4  # the default range: 8 weeks up to the end of this one, 4 after
MAX_WEEKS = 261  # five years a report


@dataclass
class Week:
    week: date  # its Monday, in the display zone
    offered: int = 0  # seats
    booked: int = 0
    completed: int = 0


@dataclass
class Report:
    course: str
    title: str
    start: datetime
    end: datetime
    slots_offered: int = 0
    seats_offered: int = 0
    seats_booked: int = 0
    sessions_completed: int = 0
    attended: int = 0
    no_shows: int = 0
    cancelled_by_students: int = 0
    cancelled_by_educators: int = 0
    moves: int = 0
    ratings: int = 0
    average_stars: float | None = None
    hours_held: float = 0.0
    median_notice: int | None = None  # minutes
    weeks: list[Week] = field(default_factory=list)

    @property
    def utilisation(self) -> float | None:
        """Booked seats over offered seats, or None when none was offered."""
        return round(self.seats_booked / self.seats_offered, 4) if self.seats_offered else None


def _range(ctx: Context, start: datetime | None, end: datetime | None) -> list[datetime]:
    """The week boundaries of the report: [from, Monday, Monday, …, to]."""
    tz = ctx.tz
    told_end = end is not None
    if end is None:
        today = ctx.now().astimezone(tz).date()
        end = midnight(today + timedelta(days=7 - today.weekday(), weeks=NEXT_WEEKS), tz)
    if start is None:
        this_monday = ctx.now().astimezone(tz).date()
        this_monday -= timedelta(days=this_monday.weekday())
        start = midnight(this_monday - timedelta(weeks=PAST_WEEKS - 1), tz)
        if start >= end:  # a --to before the default start: the 12 weeks up to it
            last = (end - timedelta(seconds=1)).astimezone(tz).date()
            weeks = PAST_WEEKS + NEXT_WEEKS - 1
            start = midnight(last - timedelta(days=last.weekday(), weeks=weeks), tz)
    if end <= start:
        if not told_end:
            raise UsageError(f"--from is after the default --to, the end of the fourth week "
                             f"from now ({end.astimezone(tz):%a %Y-%m-%d %H:%M}); give --to as well")
        raise UsageError("--to must be after --from")
    first = start.astimezone(tz).date()
    monday = first - timedelta(days=first.weekday())
    bounds = [start]
    while True:
        monday += timedelta(days=7)
        edge = midnight(monday, tz)
        if edge >= end:
            break
        bounds.append(edge)
        if len(bounds) > MAX_WEEKS:
            raise UsageError(f"a report covers at most {MAX_WEEKS} weeks",
                             hint="narrow --from and --to")
    return bounds + [end]


def report(ctx: Context, code: str, start: datetime | None = None,
           end: datetime | None = None) -> Report:
    check_code(code)
    with ctx.read():
        course = access.course(ctx, code, manage=True)
        bounds = _range(ctx, start, end)
        found = Report(course.code, course.title, bounds[0], bounds[-1])
        found.weeks = [Week(b.astimezone(ctx.tz).date()
                            - timedelta(days=b.astimezone(ctx.tz).weekday()))
                       for b in bounds[:-1]]
        in_range = ((Slot.course == course.id) & (Slot.starts_at >= to_db(bounds[0]))
                    & (Slot.starts_at < to_db(bounds[-1])))
        inner = [(Slot.starts_at < to_db(b), i) for i, b in enumerate(bounds[1:-1])]
        week = pw.Case(None, inner, len(inner)) if inner else pw.SQL("0")
        _offered(found, week, in_range)
        _requests(found, week, in_range)
        _cancellations(found, in_range)
        _hours(ctx, found, in_range)
        _median_notice(ctx, found, in_range)
        return found


def _offered(found: Report, week, in_range) -> None:
    rows = (Slot.select(week, pw.fn.COUNT(Slot.id), pw.fn.SUM(Slot.capacity))
            .where(in_range, Slot.cancelled_at.is_null())
            .group_by(pw.SQL("1")).tuples())
    for index, slots, seats in rows:
        found.weeks[index].offered = int(seats or 0)
        found.slots_offered += slots
        found.seats_offered += int(seats or 0)


def _count(condition):
    return pw.fn.SUM(pw.Case(None, [(condition, 1)], 0))


def _requests(found: Report, week, in_range) -> None:
    completed = Request.status == COMPLETED
    rows = (
        Request.select(
            week, _count(Request.status.in_(SESSIONS)), _count(completed),
            _count(Request.attendance == ATTENDED), _count(Request.attendance == NO_SHOW),
            _count(Request.replaced_by.is_null(False)), pw.fn.COUNT(Request.rating),
            pw.fn.SUM(Request.rating))
        .join(Slot, on=Request.slot)
        .where(in_range)
        .group_by(pw.SQL("1")).tuples()
    )
    stars = 0
    for index, booked, done, attended, no_shows, moves, ratings, total in rows:
        found.weeks[index].booked = int(booked or 0)
        found.weeks[index].completed = int(done or 0)
        found.seats_booked += int(booked or 0)
        found.sessions_completed += int(done or 0)
        found.attended += int(attended or 0)
        found.no_shows += int(no_shows or 0)
        found.moves += int(moves or 0)
        found.ratings += ratings
        stars += int(total or 0)
    if found.ratings:
        found.average_stars = round(stars / found.ratings, 2)


def _cancellations(found: Report, in_range) -> None:
    """Approved sessions cancelled (not moved), by their student or by anyone else."""
    by_student = History.actor == Request.student
    students, everyone = (
        Request.select(_count(by_student), pw.fn.COUNT(Request.id))
        .join(Slot, on=Request.slot)
        .switch(Request)
        .join(History, on=(History.request == Request.id))
        .where(in_range, Request.status == CANCELLED, Request.replaced_by.is_null(),
               History.from_status == APPROVED, History.to_status == CANCELLED)
        .tuples().get()
    )
    found.cancelled_by_students = int(students or 0)
    found.cancelled_by_educators = int(everyone or 0) - found.cancelled_by_students


def _hours(ctx: Context, found: Report, in_range) -> None:
    held = Request.select(Request.id).where(
        Request.slot == Slot.id, Request.status == COMPLETED,
        Request.attendance.is_null() | (Request.attendance != NO_SHOW))
    minutes = (Slot.select(pw.fn.SUM(ctx.store.minutes(Slot.starts_at, Slot.ends_at)))
               .where(in_range, Slot.cancelled_at.is_null(), pw.fn.EXISTS(held)).scalar())
    found.hours_held = round(float(minutes or 0) / 60, 2)


def _median_notice(ctx: Context, found: Report, in_range) -> None:
    """The middle value (or the mean of the two middle ones) of the minutes from request to
    start over the booked seats, read with ORDER BY … LIMIT/OFFSET: one or two rows."""
    count = found.seats_booked
    if not count:
        return
    notice = ctx.store.minutes(Request.created_at, Slot.starts_at)
    middle = (
        Request.select(notice)
        .join(Slot, on=Request.slot)
        .where(in_range, Request.status.in_(SESSIONS))
        .order_by(notice)
        .limit(1 if count % 2 else 2)
        .offset((count - 1) // 2)
        .tuples()
    )
    values = [float(v) for (v,) in middle]
    found.median_notice = round(sum(values) / len(values))
