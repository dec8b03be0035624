"""``request export``: the actor's sessions as calendar events (plain data for ``ics``).

Which sessions: those ``request list`` shows the actor (a student's own, those in an
educator's slots, all for an admin) that are approved, completed or cancelled.
Identity: the UID joins the request id and the store's random id, so it never changes for
a request and never collides with another store's. SEQUENCE is the number of state changes
since the request was sent (history rows - 1): approval, cancellation and completion each
raise it, and nothing else changes an event's time or status (slot times cannot move while
a request holds them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from sessionctl.domain.context import Context, from_db, shown_name, store_id
from sessionctl.domain.requests import listed
from sessionctl.store.models import History, Request, Slot

EXPORTED = ("approved", "completed", "cancelled")


@dataclass
class EventView:
    uid: str
    sequence: int
    status: str  # CONFIRMED or CANCELLED
    start: datetime
    end: datetime
    summary: str
    description: str
    link: str | None
    organizer: tuple[str, str | None]  # (name, e-mail)
    attendee: tuple[str, str | None]
    created: datetime
    updated: datetime


def sessions(ctx: Context) -> list[EventView]:
    with ctx.read():
        query = listed(ctx).where(Request.status.in_(EXPORTED)).order_by(Slot.starts_at, Request.id)
        changes = dict(
            History.select(History.request, pw.fn.COUNT(History.id))
            .where(History.request.in_(query.select(Request.id)))
            .group_by(History.request)
            .tuples()
        )
        store = store_id()
        return [_event(ctx, r, max(changes.get(r.id, 1) - 1, 0), store) for r in query]


def _event(ctx: Context, request: Request, sequence: int, store: str) -> EventView:
    slot, student = request.slot, request.student
    educator, course = slot.educator, slot.course
    if ctx.actor.id == student.id:
        summary = f"{course.code} ({course.title}) with {shown_name(educator)}"
    elif ctx.actor.id == educator.id:
        summary = f"{course.code} ({course.title}) with {shown_name(student)}"
    else:
        summary = f"{course.code} ({course.title}): {shown_name(student)} with {shown_name(educator)}"
    facts = [
        ("Course", f"{course.code} {course.title}"),
        ("Educator", shown_name(educator)),
        ("Student", shown_name(student)),
        ("Message", request.message),
        ("Notes", request.notes),
        ("Slot notes", slot.notes),
        ("Reason", request.reason),  # only a cancelled session has one
        ("Request", f"{request.id} (sessionctl request show {request.id})"),
    ]
    return EventView(
        uid=f"request-{request.id}-{store}@sessionctl",
        sequence=sequence,
        status="CANCELLED" if request.status == "cancelled" else "CONFIRMED",
        start=from_db(slot.starts_at),
        end=from_db(slot.ends_at),
        summary=summary,
        description="\n".join(f"{k}: {v}" for k, v in facts if v),
        link=request.link,
        organizer=(shown_name(educator), educator.email),
        attendee=(shown_name(student), student.email),
        created=from_db(request.created_at),
        # the slot's notes are in the description too: a change to them is a change here
        updated=max(from_db(request.updated_at), from_db(slot.updated_at)),
    )
