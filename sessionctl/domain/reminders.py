"""``remind``: one reminder per person per approved session, however often cron runs it."""

from __future__ import annotations

from datetime import timedelta

from sessionctl.domain import access, events
from sessionctl.domain.context import Context, notify
from sessionctl.domain.requests import listed
from sessionctl.domain.texts import describe_time, shown_name
from sessionctl.store import queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Request, User


def remind(ctx: Context, within: timedelta) -> dict[str, int]:
    """Remind student and educator of each approved session starting in (now, now + within].

    The schema allows one reminder per (request, user) (migration 3), and ``notify(once=True)``
    inserts with ON CONFLICT DO NOTHING, so the database, not this loop, is what makes a
    second run (or a racing one) add nothing. Returns how many sessions got a new reminder.
    """
    with ctx.write():
        access.require_role(ctx, "admin", "educator", doing="run remind")
        now = ctx.now()
        due = listed(ctx).where(
            queries.LIVE_APPROVED,
            Request.starts_at > to_db(now),
            Request.starts_at <= to_db(now + within),
        ).order_by(Request.starts_at, Request.id)
        reminded = 0
        for request in due:
            student, educator = request.student, request.slot.educator
            added = [
                notify(ctx, user, "reminder", _text(request, user, other), request=request,
                       slot=request.slot, once=True)
                for user, other in ((student, educator), (educator, student))
            ]
            if any(added):
                reminded += 1
                events.record(ctx, "reminder", request, system=True)
        return {"reminded": reminded}


def _text(request: Request, recipient: User, other: User) -> str:
    slot = request.slot
    when = describe_time(from_db(slot.starts_at), recipient)
    link = request.link or slot.link
    link = f"; join at {link}" if link else ""
    return (
        f"reminder: your {slot.course.code} session with {shown_name(other)} "
        f"starts {when} (request {request.id}){link}"
    )
