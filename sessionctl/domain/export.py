"""``request export``: the actor's sessions as calendar events (plain data for ``ics``).

Which sessions: those ``request list`` shows the actor (a student's own, those in an
educator's slots, all for an admin) that are approved, completed or cancelled.

A moved booking is one session (``docs/reference/lifecycle.md#moving-a-booking``): its requests form a chain (each ``replaces`` the
one before, which handed over to it: ``replaced_by``), and the chain is one event, shown as
its newest request, under the UID of its first. A move proposal that was never approved is
not part of the session.

Identity: the UID joins the chain's first request id and the store's random id, so it never
changes for a session and never collides with another store's. SEQUENCE counts the chain's
history rows since the first request was sent: approval, a move, a new link, cancellation
and completion each raise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from sessionctl.domain.context import Context, store_id
from sessionctl.domain.requests import listed
from sessionctl.domain.texts import shown_name
from sessionctl.statuses import CANCELLED, EXPORTED
from sessionctl.store.edge import from_db
from sessionctl.store.models import History, Request, Slot


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
        rows = list(listed(ctx).where(Request.status.in_(EXPORTED))
                    .order_by(Slot.starts_at, Request.id))
        links = _links({r.id: (r.replaces_id, r.replaced_by_id) for r in rows})
        shown = [r for r in rows if r.replaced_by_id is None and _stands(r, links)]
        chains = {r.id: _chain(r.id, links) for r in shown}
        members = [m for chain in chains.values() for m in chain]
        changes = dict(
            History.select(History.request, pw.fn.COUNT(History.id))
            .where(History.request.in_(members))
            .group_by(History.request)
            .tuples()
        ) if members else {}
        created = dict(Request.select(Request.id, Request.created_at)
                       .where(Request.id.in_([c[0] for c in chains.values()])).tuples()) if chains else {}
        store = store_id()
        return [
            _event(ctx, r, chains[r.id][0], max(sum(changes.get(m, 1) for m in chains[r.id]) - 1, 0),
                   from_db(created[chains[r.id][0]]), store)
            for r in shown
        ]


def _links(known: dict[int, tuple]) -> dict[int, tuple]:
    """``{id: (replaces, replaced_by)}`` for the given requests and every request before them
    in their chains (loaded as needed: a few queries, however long the chains)."""
    links = dict(known)
    wanted = {p for p, _ in links.values() if p is not None and p not in links}
    while wanted:
        found = {i: (p, n) for i, p, n in Request.select(
            Request.id, Request.replaces, Request.replaced_by).where(Request.id.in_(wanted)).tuples()}
        links.update(found)
        wanted = {p for p, _ in found.values() if p is not None and p not in links}
    return links


def _stands(request: Request, links: dict[int, tuple]) -> bool:
    """False for a move proposal that never took over and ended cancelled: it never was the
    session (the booking it would have replaced is)."""
    if request.replaces_id is None or request.status != CANCELLED:
        return True
    return links.get(request.replaces_id, (None, None))[1] == request.id


def _chain(request_id: int, links: dict[int, tuple]) -> list[int]:
    """The ids of a session's requests, first to ``request_id``."""
    chain = [request_id]
    before = links[request_id][0]
    while before is not None and before in links and links[before][1] == chain[0]:
        chain.insert(0, before)
        before = links[before][0]
    return chain


def _event(ctx: Context, request: Request, first: int, sequence: int, created: datetime,
           store: str) -> EventView:
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
        uid=f"request-{first}-{store}@sessionctl",
        sequence=sequence,
        status="CANCELLED" if request.status == CANCELLED else "CONFIRMED",
        start=from_db(slot.starts_at),
        end=from_db(slot.ends_at),
        summary=summary,
        description="\n".join(f"{k}: {v}" for k, v in facts if v),
        link=request.link or slot.link,
        organizer=(shown_name(educator), educator.email),
        attendee=(shown_name(student), student.email),
        created=created,
        # the slot's notes are in the description too: a change to them is a change here
        updated=max(from_db(request.updated_at), from_db(slot.updated_at)),
    )
