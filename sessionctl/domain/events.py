"""The events hooks receive (``docs/reference/meeting-rooms-and-hooks.md#event-hooks``): each
change of a booking is recorded in the transaction that makes it, as one row of ``events``
(the hooks' outbox, as ``notifications`` is the mail's), with its JSON frozen then.

An event is recorded only when a hook of its name is registered (``hooks run`` registers
the hooks it finds), so a store without hooks writes nothing more, and a hook added later
starts with the events after it first appears. ``booking`` is the first request of a
booking's chain of moves: a hook receives one booking's events in order.
"""

from __future__ import annotations

import json

from sessionctl.domain.context import Context
from sessionctl.fields import REQUEST, SLOT, pick
from sessionctl.statuses import CANCELLED, EVENT_OF_KIND, EVENT_OF_STATE
from sessionctl.store import queries
from sessionctl.store.edge import to_db
from sessionctl.store.models import Request
from sessionctl.timeparse import format_utc



def name(was: str | None, to: str, kind: str | None, request: Request) -> str | None:
    """The event of a change (``transitions.record``'s arguments), or None. The booking a move
    cancels gives no event of its own: its successor's ``moved`` tells it."""
    if to == CANCELLED and request.replaced_by_id is not None:
        return None
    if kind in EVENT_OF_KIND:
        return EVENT_OF_KIND[kind]
    if kind is None and was is None:  # a pending request moved at once
        return "moved"
    return EVENT_OF_STATE.get(to)


def record(ctx: Context, event: str, request: Request, *, system: bool = False) -> None:
    """Record ``event`` of ``request`` (slot, course and people joined) for its hook, if one
    is registered: in the caller's transaction."""
    if queries.HOOK.first(name=event) is None:
        return
    from sessionctl.domain.views import RequestView, SlotView

    now = ctx.now()
    slot = request.slot
    course = slot.course
    payload = {
        "event": event, "at": format_utc(now), "actor": None if system else ctx.actor.name,
        "request": pick(RequestView.of(request), REQUEST),
        "course": {"code": course.code, "title": course.title, "educator": slot.educator.name},
        "slot": pick(SlotView.of(slot, now), SLOT),
    }
    queries.RECORD_EVENT.execute(kind=event, at=to_db(now), request=request.id,
                                 booking=_booking(request), payload=json.dumps(payload))


def _booking(request: Request) -> int:
    """The first request of ``request``'s chain of moves."""
    first, earlier = request.id, request.replaces_id
    while earlier is not None:
        first = earlier
        earlier = Request.select(Request.replaces).where(Request.id == earlier).scalar()
    return first
