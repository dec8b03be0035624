"""``agenda`` (``docs/reference/after-the-session.md#the-agenda``): what is ahead for the actor, from what is running now on.

- A student: their approved sessions (running now or ahead) and their pending and waiting
  requests for slots that have not started.
- An educator: each of their live slots with who is booked (or nobody: ``open``), and the
  pending requests for slots that have not started, which wait for their decision.
- An admin has no sessions of their own: an empty agenda.

It runs until the end of the ``days``-th local day (1: the rest of today). Every query is
bounded by the actor and the time range on an index (a student's requests by
``requests (student_id, status)``; an educator's slots by ``slots (educator_id, starts_at)``,
scanned from both sides, since a slot lasts at most 12 hours).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sessionctl.domain.context import Context
from sessionctl.domain.waitlist import waitlist_positions
from sessionctl.domain.window import MAX_LENGTH
from sessionctl.errors import UsageError
from sessionctl.statuses import ACTIVE, APPROVED, AVAILABLE, BOOKED, PENDING, WAITING
from sessionctl.store import queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Request, Slot, User
from sessionctl.timeparse import midnight

MAX_DAYS = 366


@dataclass
class Item:
    """One line of the agenda (JSON: ``start, end, course, slot, request, with, status, link``)."""

    start: datetime
    end: datetime
    course: str
    slot: int
    request: int | None
    with_: str | None  # the other person (people), or None for a slot nobody booked
    status: str
    link: str | None
    place: tuple[int, int] | None = None  # (position, length) on a waitlist
    slot_row: bool = False  # an educator's slot, not a request
    seats: tuple[int, int] | None = None  # an educator's slot: (seats taken, capacity)


def agenda(ctx: Context, days: int = 7) -> list[Item]:
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be from 1 to {MAX_DAYS}, not {days}")
    with ctx.read():
        now = ctx.now()
        today = now.astimezone(ctx.tz).date()
        until = midnight(today + timedelta(days=days), ctx.tz)
        if ctx.actor.role == "student":
            items = _student(ctx.actor, now, until)
        elif ctx.actor.role == "educator":
            items = _educator(ctx.actor, now, until)
        else:
            items = []
        return sorted(items, key=lambda i: (i.start, not i.slot_row, i.slot, i.request or 0))


def _student(student: User, now: datetime, until: datetime) -> list[Item]:
    rows = list(queries.requests().where(
        Request.student == student,
        Request.status.in_(ACTIVE),
        Slot.starts_at < to_db(until),
        Slot.ends_at > to_db(now),
        (Request.status == APPROVED) | (Slot.starts_at > to_db(now)),
    ))
    places = waitlist_positions({r.slot_id for r in rows if r.status == WAITING})
    return [
        Item(from_db(r.slot.starts_at), from_db(r.slot.ends_at), r.slot.course.code, r.slot.id,
             r.id, r.slot.educator.name, r.status,
             r.link or (r.slot.link if r.status == APPROVED else None), places.get(r.id))
        for r in rows
    ]


def _educator(educator: User, now: datetime, until: datetime) -> list[Item]:
    slots = list(queries.slots().where(
        Slot.educator == educator,
        Slot.cancelled_at.is_null(),
        Slot.starts_at < to_db(until),
        Slot.starts_at > to_db(now - MAX_LENGTH),
        Slot.ends_at > to_db(now),
    ))
    if not slots:
        return []
    student = User.alias()
    requests = (
        Request.select(Request, student)
        .join(student, on=Request.student)
        .where(Request.slot.in_([s.id for s in slots]),
               Request.status.in_((APPROVED, PENDING)))
        .order_by(Request.id)
    )
    booked: dict[int, list[Request]] = {}
    waiting_on_me = []
    by_id = {s.id: s for s in slots}
    for r in requests:
        if r.status == APPROVED:
            booked.setdefault(r.slot_id, []).append(r)
        elif from_db(by_id[r.slot_id].starts_at) > now:
            waiting_on_me.append(r)
    items = []
    for s in slots:
        mine = booked.get(s.id, [])
        one = mine[0] if len(mine) == 1 else None
        items.append(Item(
            from_db(s.starts_at), from_db(s.ends_at), s.course.code, s.id,
            one.id if one else None, ", ".join(r.student.name for r in mine) or None,
            BOOKED if s.booked >= s.capacity else AVAILABLE,
            (one.link if one and one.link else s.link), slot_row=True,
            seats=(s.booked, s.capacity),
        ))
    for r in waiting_on_me:
        s = by_id[r.slot_id]
        items.append(Item(from_db(s.starts_at), from_db(s.ends_at), s.course.code, s.id, r.id,
                          r.student.name, PENDING, r.link))
    return items
