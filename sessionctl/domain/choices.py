"""What the actor could name on the command line, for shell completion (``docs/reference/completion.md``).

Course codes, slot ids and request ids that the actor's own lists show, narrowed by
``access.scope`` exactly as ``course list``, ``slot list --status all`` and ``request list``
are, so completion never offers what the actor could not list. Each answer is read in one
snapshot, starts with what was typed, and is bounded (the newest ``LIMIT`` ids first).
"""

from __future__ import annotations

import peewee as pw

from sessionctl.domain import access
from sessionctl.domain.checks import check_code
from sessionctl.domain.context import Context
from sessionctl.domain.views import RequestView, SlotView
from sessionctl.errors import UsageError
from sessionctl.store import queries
from sessionctl.store.models import Course, Request, Slot

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


def slots(ctx: Context, prefix: str) -> list[SlotView]:
    """The visible slots whose id starts with ``prefix`` (digits), newest first."""
    if not _digits(prefix):
        return []
    with ctx.read():
        query = access.scope(ctx, queries.slots(), "slot")
        rows = _by_id(query, Slot.id, prefix)
        return [SlotView.of(s, ctx.now()) for s in rows]


def requests(ctx: Context, prefix: str) -> list[RequestView]:
    """The visible requests whose id starts with ``prefix`` (digits), newest first."""
    if not _digits(prefix):
        return []
    with ctx.read():
        query = access.scope(ctx, queries.requests(), "request")
        return [RequestView.of(r) for r in _by_id(query, Request.id, prefix)]


def _by_id(query, column, prefix: str):
    if prefix:
        query = query.where(pw.Cast(column, "TEXT").startswith(prefix))
    return query.order_by(column.desc()).limit(LIMIT)


def _digits(prefix: str) -> bool:
    return prefix == "" or (prefix.isascii() and prefix.isdigit() and len(prefix) <= 19)


def _valid(code: str) -> bool:
    try:
        check_code(code)
    except UsageError:
        return False
    return True
