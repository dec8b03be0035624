"""``request export``: the actor's sessions as calendar events (``domain/calendar.py`` builds
them; ``sessionctl/ics.py`` writes them).

Which sessions: those ``request list`` shows the actor (a student's own, those in an
educator's slots, all for an admin) that were booked: approved, completed, or cancelled after
an approval; ``--no-cancelled`` leaves the cancelled ones out
(``docs/reference/calendars.md#the-events``).
"""

from __future__ import annotations

from sessionctl.domain import calendar
from sessionctl.domain.calendar import EventView
from sessionctl.domain.context import Context, store_id
from sessionctl.domain.requests import listed
from sessionctl.statuses import EXPORTED
from sessionctl.store.models import Request, Slot

__all__ = ["EventView", "sessions"]


def sessions(ctx: Context, *, cancelled: bool = True) -> list[EventView]:
    with ctx.read():
        rows = list(listed(ctx).where(Request.status.in_(EXPORTED))
                    .order_by(Slot.starts_at, Request.id))
        return calendar.events(rows, ctx.actor.id, store_id(), cancelled=cancelled)
