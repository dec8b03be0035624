"""The waitlist as people see it: each waiting request's place in its slot's line, and how many
wait. (The rules that move the line, fill and offer, change states: ``domain/transitions.py``.)
"""

from __future__ import annotations

from sessionctl.statuses import WAITING
from sessionctl.store import guarded, queries
from sessionctl.store.models import Request


def waitlist_positions(slot_ids) -> dict[int, tuple[int, int]]:
    """Each waiting request's place in its slot's line: ``{request id: (position, length)}``."""
    slot_ids = list(slot_ids)
    if not slot_ids:
        return {}
    if guarded.on():  # others' waiting requests: the server counts them
        return guarded.waitlist(slot_ids)
    rows = (
        Request.select(Request.id, Request.slot)
        .where(Request.slot.in_(slot_ids), Request.status == WAITING)
        .order_by(Request.slot, Request.created_at, Request.id)
        .tuples()
    )
    lines: dict[int, list[int]] = {}
    for request_id, slot_id in rows:
        lines.setdefault(slot_id, []).append(request_id)
    return {rid: (i + 1, len(ids)) for ids in lines.values() for i, rid in enumerate(ids)}


def waiting_count(slot_id: int) -> int:
    if guarded.on():
        return guarded.waiting_count(slot_id)
    return len(queries.LINE.all(slot=slot_id, status=WAITING))
