"""``request move`` (``docs/reference/lifecycle.md#moving-a-booking``): a booking moves to another slot of its course.

- A pending (or waiting) request moves at once: it is cancelled (``moved to request N``) and
  N is created pending on the target, ``replaces`` the old one.
- An approved request moved by the educator or an admin moves at once too: the old seat is
  freed, a seat of the target taken, N created approved, in one transaction; the student is
  told once, with both times.
- An approved request moved by its student is a proposal: N is created pending and the old
  booking keeps its seat until N is approved (``requests.approve`` then cancels it in the same
  transaction); one pending proposal per request, which the schema enforces too.

The target is a slot the student could request now: same course, not the current one, not
cancelled or started, with a free seat, and no active request of theirs on it. A student's own
move also keeps the course's policies (``policy``): min-notice, horizon and max-active for the
target (the moved booking counts once), cancel-notice for an approved session moved away; and
under auto-approve it is approved at once, with every approval rule, like a new request.
"""

from __future__ import annotations

from sessionctl.domain import access, policy, texts
from sessionctl.domain.checks import check_text
from sessionctl.domain.context import Context, notify
from sessionctl.domain.requests import view
from sessionctl.domain.texts import describe_time, shown_name
from sessionctl.domain.transitions import (
    active_request, approve_now, check_no_overlap, check_not_ended, check_open, create,
    pending_move, proposal_target, record, settle_full, take_seat, transition,
)
from sessionctl.domain.views import RequestView
from sessionctl.errors import Conflict
from sessionctl.statuses import ACTIVE, APPROVED, CANCELLED, PENDING
from sessionctl.store.edge import from_db
from sessionctl.store.models import Request, Slot


def move(ctx: Context, request_id: int, slot_id: int, message: str | None) -> RequestView:
    message = check_text("message", message) or None
    with ctx.write():
        old = access.request(ctx, request_id)
        if old.status not in ACTIVE:
            raise Conflict(f"request {request_id} is {old.status}; only pending, waiting or "
                           "approved requests can be moved")
        target = access.slot(ctx, slot_id)
        booked = proposal_target(old)
        check_not_ended(ctx, booked or old, "moved")
        if booked is not None and old.student_id == ctx.actor.id:  # a new proposal instead
            _check_target(ctx, booked, target, besides=old.slot_id)
            _check_policies(ctx, booked, target, moving=old)
            transition(ctx, old, CANCELLED, note=f"replaced by a move to slot {target.id}",
                       recipients=[])
            return _propose(ctx, booked, target, message or old.message)
        if booked is not None:  # the educator moves the booking itself; the proposal goes
            _check_target(ctx, booked, target, besides=old.slot_id)
            return _move_booked(ctx, booked, target, message or old.message)
        _check_target(ctx, old, target)
        _check_policies(ctx, old, target, moving=old)
        if old.status == APPROVED and old.student_id == ctx.actor.id:
            return _propose(ctx, old, target, message)
        if old.status == APPROVED:
            return _move_booked(ctx, old, target, message)
        return _move_pending(ctx, old, target, message)


def _check_target(ctx: Context, old: Request, target: Slot, besides: int | None = None) -> None:
    if target.id in (old.slot_id, besides):
        raise Conflict(f"request {old.id} is already for slot {target.id}")
    if target.course_id != old.slot.course_id:
        raise Conflict(f"slot {target.id} is in {target.course.code}, not {old.slot.course.code}; "
                       "a booking moves within its course")
    check_open(ctx, target)
    if not access.is_enrolled(target.course_id, old.student):
        raise Conflict(f"{old.student.name} is no longer enrolled in {target.course.code}")
    mine = active_request(target.id, old.student_id)
    if mine is not None:
        raise Conflict(f"{old.student.name} already has {mine.status} request {mine.id} for "
                       f"slot {target.id}")
    if target.booked >= target.capacity:
        raise Conflict(f"slot {target.id} is full",
                       hint="a booking moves only to a slot with a free seat")
    check_no_overlap(old.student, target, mine=old.student_id == ctx.actor.id,
                     besides=old.id if old.status == APPROVED else None)


def _check_policies(ctx: Context, booking: Request, target: Slot, *, moving: Request) -> None:
    """A student's own move: cancel-notice for the booking moved away, then min-notice,
    horizon and max-active for the target (``moving`` and its booking count once)."""
    policy.check_cancel(ctx, booking, "move")
    policy.check_booking(ctx, target, booking.student, moving=moving)


def _approves_at_once(ctx: Context, request: Request) -> bool:
    """A student's own move to a slot of a course that auto-approves (the target has a free
    seat: ``_check_target``)."""
    return request.student_id == ctx.actor.id and policy.auto_approves(request.slot)


def _propose(ctx: Context, old: Request, target: Slot, message: str | None) -> RequestView:
    """The student asks to move their approved session: N waits for the educator."""
    proposal = pending_move(old.id)
    if proposal is not None:
        raise Conflict(f"request {old.id} already has a pending move (request {proposal.id})",
                       hint=f"cancel it first: sessionctl request cancel {proposal.id}")
    new = create(ctx, target, old.student, PENDING, message=message or old.message,
                 replaces=old.id)
    educator = target.educator
    auto = _approves_at_once(ctx, new)
    text = (f"{shown_name(ctx.actor)} {'moved' if auto else 'asks to move'} request {old.id} "
            f"({describe_time(from_db(old.slot.starts_at), educator)}) to slot {target.id} "
            f"({describe_time(from_db(target.starts_at), educator)}): request {new.id}; "
            + ("approved at once (auto-approve)" if auto
               else f"approving it cancels request {old.id}"))
    record(ctx, new, None, PENDING, f"proposes to replace request {old.id}", "move",
           [] if auto else [educator], text=text)
    if auto:  # the educator is told once it is approved: their mail carries the moved event
        approve_now(ctx, new, system=True, note="auto-approve")
        notify(ctx, educator, "move", text, request=new, slot=target)
    return view(new)


def _move_booked(ctx: Context, old: Request, target: Slot, message: str | None) -> RequestView:
    """The educator (or an admin) moves an approved session: seats change hands at once."""
    take_seat(target.id)
    new = create(ctx, target, old.student, APPROVED, message=message or old.message,
                 link=old.link, notes=old.notes, replaces=old.id)
    # a proposal the student made to move it is overtaken, and goes (``transition``)
    transition(ctx, old, CANCELLED, note=f"moved to request {new.id}", recipients=[],
               replaced_by=new.id)
    record(ctx, new, None, APPROVED, f"moved from request {old.id}", "moved", [new.student],
           text=texts.moved(ctx.actor, old, new, new.link))
    settle_full(ctx, target.id)
    return view(new)


def _move_pending(ctx: Context, old: Request, target: Slot, message: str | None) -> RequestView:
    """A request not yet approved moves at once and waits for a decision on the new slot."""
    new = create(ctx, target, old.student, PENDING, message=message or old.message,
                 link=old.link, waitlist=old.waitlist, replaces=old.id)
    transition(ctx, old, CANCELLED, note=f"moved to request {new.id}", recipients=[],
               replaced_by=new.id)
    record(ctx, new, None, PENDING, f"moved from request {old.id}", None, [])
    auto = _approves_at_once(ctx, new)
    for other in (new.student, target.educator):
        if other.id != ctx.actor.id:
            when = describe_time(from_db(target.starts_at), other)
            notify(ctx, other, "moved", f"{shown_name(ctx.actor)} moved request {old.id} to slot "
                   f"{target.id} ({target.course.code} on {when}): request {new.id}, "
                   + ("approved at once (auto-approve)" if auto else "pending"),
                   request=new, slot=target)
    if auto:
        approve_now(ctx, new, system=True, note="auto-approve")
    return view(new)
