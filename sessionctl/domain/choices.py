"""What the actor could name on the command line, for shell completion (``docs/reference/completion.md``).

Course codes, slot ids and request ids that the actor's own lists show, narrowed by
``access.scope`` exactly as ``course list``, ``slot list --status all`` and ``request list``
are, so completion never offers what the actor could not list. Ids are narrowed further to
what the command can act on (``request approve``: pending and waiting requests; ``slot
cancel``: live slots) and ranked upcoming first, soonest first, then the past, latest first.
Each answer is read in one snapshot, starts with what was typed, and is bounded (``LIMIT``).
"""

from __future__ import annotations

import peewee as pw

from sessionctl.domain import access
from sessionctl.domain.checks import check_code
from sessionctl.domain.context import Context
from sessionctl.domain.views import RequestView, SlotView
from sessionctl.errors import UsageError
from sessionctl.store import queries
from sessionctl.store.models import Course, Request, Slot, User
from sessionctl.store.edge import to_db

LIMIT = 100


def courses(ctx: Context, prefix: str) -> list[tuple[str, str]]:
    """``(code, title)`` of the visible courses whose code starts with ``prefix``; codes
    that are not valid codes (an old store) are left out."""
    with ctx.read():
        query = access.scope(ctx, Course.select(Course.code, Course.title), "course")
        if prefix:
            query = query.where(Course.code.startswith(prefix))  # LIKE: cases are sorted out below
        rows = query.order_by(Course.code).limit(LIMIT).tuples()
        return [(code, title) for code, title in rows if code.startswith(prefix) and _valid(code)]


def slots(ctx: Context, prefix: str, *, live: bool = False, open_: bool = False) -> list[SlotView]:
    """The visible slots whose id starts with ``prefix`` (digits), upcoming first. ``live``:
    not cancelled and not ended; ``open_``: live, starting later, with a seat free."""
    if not _digits(prefix):
        return []
    with ctx.read():
        now = to_db(ctx.now())
        query = access.scope(ctx, queries.slots(), "slot")
        if live or open_:
            query = query.where(Slot.cancelled_at.is_null(), Slot.ends_at > now)
        if open_:
            query = query.where(Slot.starts_at > now, Slot.booked < Slot.capacity)
        rows = _ranked(query, Slot.id, Slot.starts_at, now, prefix)
        return [SlotView.of(s, ctx.now()) for s in rows]


def requests(ctx: Context, prefix: str, statuses: tuple[str, ...] | None = None) -> list[RequestView]:
    """The visible requests whose id starts with ``prefix`` (digits), in ``statuses`` if
    given, upcoming first."""
    if not _digits(prefix):
        return []
    with ctx.read():
        query = access.scope(ctx, queries.requests(), "request")
        if statuses is not None:
            query = query.where(Request.status.in_(statuses))
        rows = _ranked(query, Request.id, Slot.starts_at, to_db(ctx.now()), prefix)
        return [RequestView.of(r) for r in rows]


def users(ctx: Context, prefix: str, role: str | None = None) -> list[tuple[str, str]]:
    """``(name, role)`` of the users whose name starts with ``prefix``: everyone for an admin
    or an educator (who may list users), only themselves for a student."""
    with ctx.read():
        query = User.select(User.name, User.role)
        if ctx.actor.role == "student":
            query = query.where(User.id == ctx.actor.id)
        if role is not None:
            query = query.where(User.role == role)
        if prefix:
            query = query.where(User.name.startswith(prefix))
        rows = query.order_by(User.name).limit(LIMIT).tuples()
        return [(name, role) for name, role in rows if name.startswith(prefix)]


def _ranked(query, column, start, now, prefix: str) -> list:
    """Rows of ``query`` whose ``column`` starts with ``prefix``: those starting from ``now``
    on, soonest first, then the earlier ones, latest first; at most ``LIMIT`` in all."""
    if prefix:
        query = query.where(pw.Cast(column, "TEXT").startswith(prefix))
    ahead = list(query.where(start >= now).order_by(start, column).limit(LIMIT))
    if len(ahead) == LIMIT:
        return ahead
    return ahead + list(query.where(start < now).order_by(start.desc(), column.desc())
                        .limit(LIMIT - len(ahead)))


def _digits(prefix: str) -> bool:
    return prefix == "" or (prefix.isascii() and prefix.isdigit() and len(prefix) <= 19)


def _valid(code: str) -> bool:
    try:
        check_code(code)
    except UsageError:
        return False
    return True
