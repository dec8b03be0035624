"""Requests: the state machine of SPEC §4 and §7, seats, the waitlist, history and notifications.

States (SPEC §7.2 adds ``waiting``)::

    (send) ──► pending ──► approved ──► completed
       │          │  ▲         │
       │          ▼  │         └──► cancelled
       └──────► waiting ──► approved | cancelled | rejected
    pending ──► rejected | cancelled        (rejected, cancelled, completed are final)

Seats are counted in ``slots.booked`` (compare-and-swap, and a CHECK in the schema). Two rules
keep a slot's seats and its line in step, and run inside the transaction that changes them:

- **fill**: once a slot is full, each pending request for it waits (its student opted in with
  ``--waitlist``) or is rejected (``slot is full``);
- **offer**: while a slot has more free seats than pending requests, the oldest waiting
  request becomes pending (the educator decides, as for any request).

Changes nobody asked for in person (a filling slot, the waitlist, expiry, completion by
``sweep``, approval under a course's auto-approve) are the system's: their history rows have no
actor and show as ``(system)``. The course policies (SPEC §7.3) live in ``policy``; the
operations here call it.

After a session (SPEC §7.5) a completed request may carry its attendance (``attended``,
``no-show``, or unknown as ``sweep`` leaves it), changeable by the educator, and its student's
rating (1 to 5 stars and a comment, within 30 days of the end, not for a no-show).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import peewee as pw

from sessionctl.domain import access, policy, queries
from sessionctl.domain.context import (
    KEEP, Context, check_choice, check_code, check_link, check_text, describe_time, from_db,
    notify, shown_name, to_db,
)
from sessionctl.domain.views import HistoryView, RequestView
from sessionctl.errors import Conflict, NotAllowed, NotFound, UsageError
from sessionctl.store.models import Course, History, Request, Slot, User
from sessionctl.store.prepared import Prepared

STATUSES = ("pending", "approved", "waiting", "rejected", "cancelled", "completed")
ACTIVE = ("pending", "approved", "waiting")  # at most one per slot and student (schema)
NEXT = {
    "pending": ("approved", "rejected", "cancelled", "waiting"),
    "approved": ("completed", "cancelled"),
    "waiting": ("pending", "approved", "cancelled", "rejected"),
}
SYSTEM = "(system)"  # how an automatic change's actor is shown
ATTENDANCE = ("attended", "no-show")
RATING_DAYS = 30  # a session can be rated until this many days after its end


# -- the one place a request changes state -----------------------------------------------------


def check_next(request: Request, to: str) -> None:
    """Refuse (exit 5) a transition the state machine does not allow."""
    if to not in NEXT.get(request.status, ()):
        allowed = " or ".join(s for s, nxt in NEXT.items() if to in nxt)
        raise Conflict(
            f"request {request.id} is {request.status}; only {allowed} requests can be {to}"
        )


def transition(
    ctx: Context,
    request: Request,
    to: str,
    *,
    system: bool = False,
    reason: str | None = None,
    note: str | None = None,
    notify_kind: str | None = None,
    recipients: list[User] | None = None,
    text: str | None = None,
    **fields,
) -> None:
    """Move ``request`` to ``to`` by compare-and-swap, write its history row, notify, and
    keep the slot's seats and line in step (a freed seat or a dropped pending request is
    offered to the waitlist).

    ``request`` must come from ``queries.requests()`` (slot, course and people joined).
    """
    current = request.status
    check_next(request, to)
    if to == "cancelled":
        check_not_ended(ctx, request, "cancelled")
    changes = {"status": to, "updated_at": to_db(ctx.now()), **fields}
    if reason is not None:
        changes["reason"] = reason
    if _swap(request.id, current, changes) != 1:
        raise Conflict(f"request {request.id} changed while you were working; try again")
    if current == "approved":
        freed = _FREE_SEAT.execute(id=request.slot.id)
        if freed != 1:  # pragma: no cover - the schema keeps booked in step
            raise Conflict(f"slot {request.slot.id} has no seat to free")
        request.slot.booked -= 1
    for key, value in changes.items():
        setattr(request, key, value)
    record(
        ctx, request, current, to, note if note is not None else reason, notify_kind or to,
        recipients if recipients is not None else _other_parties(ctx, request, to, system),
        system=system, text=text,
    )
    if current == "approved":  # a proposal to move this booking goes with it (unless it is
        _drop_proposal(ctx, request, keep=fields.get("replaced_by"))  # what replaces it now)
    if current in ("pending", "approved") and to in ("cancelled", "rejected"):
        offer_free_seats(ctx, request.slot.id, freed=int(current == "approved"))


def _drop_proposal(ctx: Context, booking: Request, keep: int | None) -> None:
    proposal = pending_move(booking.id)
    if proposal is not None and proposal.id != keep:
        proposal = queries.requests().where(Request.id == proposal.id).get()
        transition(ctx, proposal, "cancelled", system=True, recipients=[],
                   reason=f"request {booking.id} is {booking.status}")


def check_not_ended(ctx: Context, request: Request, doing: str) -> None:
    """An approved session that has ended is final but for its completion: it can no longer
    be cancelled, moved, or proposed to move (``doing``: the past participle)."""
    if request.status == "approved" and from_db(request.slot.ends_at) <= ctx.now():
        raise Conflict(
            f"session {request.id} has ended; it can no longer be {doing}",
            hint=f"complete it, or record that the student did not come: "
            f"sessionctl request complete {request.id} --no-show",
        )


_SWAPS: dict[tuple, Prepared] = {}  # one compare-and-swap per set of changed columns
_FREE_SEAT = Prepared(lambda id: Slot.update(booked=Slot.booked - 1).where(
    Slot.id == id, Slot.booked > 0))
_TAKE_SEAT = Prepared(lambda id: Slot.update(booked=Slot.booked + 1).where(
    Slot.id == id, Slot.booked < Slot.capacity, Slot.cancelled_at.is_null()))
_HISTORY = Prepared(lambda request, at, actor, from_status, to_status, note: History.insert(
    request=request, at=at, actor=actor, from_status=from_status, to_status=to_status, note=note))


def _swap(request_id: int, current: str, changes: dict) -> int:
    """``UPDATE requests SET … WHERE id = ? AND status = current``: the rows changed (0 or 1)."""
    columns = tuple(sorted(changes))
    swap = _SWAPS.get(columns)
    if swap is None:
        swap = _SWAPS[columns] = Prepared(lambda id, was, **values: Request.update(**values)
                                          .where(Request.id == id, Request.status == was))
    return swap.execute(id=request_id, was=current, **changes)


def record(ctx: Context, request: Request, was: str | None, to: str, note: str | None,
           kind: str | None, recipients: list[User], *, system: bool = False,
           text: str | None = None) -> None:
    """SPEC §4: every change writes one history row and notifies the other party (``kind``
    names the notification; ``text`` overrides the standard wording)."""
    _HISTORY.execute(request=request.id, at=to_db(ctx.now()),
                     actor=None if system else ctx.actor.id, from_status=was, to_status=to,
                     note=note)
    for user in recipients:
        said = text or _text(ctx, kind, request, user, system)
        notify(ctx, user, kind, said, request=request, slot=request.slot)


def _other_parties(ctx: Context, request: Request, to: str, system: bool) -> list[User]:
    student, educator = request.student, request.slot.educator
    if to == "cancelled" and not system:
        return [u for u in (student, educator) if u.id != ctx.actor.id]
    return [student]


def _text(ctx: Context, kind: str, request: Request, recipient: User, system: bool) -> str:
    slot = request.slot
    when = describe_time(from_db(slot.starts_at), recipient)
    what = f"{slot.course.code} on {when}"
    who = SYSTEM if system else shown_name(ctx.actor)
    reason = f": {request.reason}" if request.reason else ""
    message = f': "{request.message}"' if request.message else ""
    if kind == "request":
        return f"{who} requests slot {slot.id} ({what}), request {request.id}{message}"
    if kind == "booked":
        return (f"{shown_name(request.student)} booked slot {slot.id} ({what}), request "
                f"{request.id}, approved at once (auto-approve){message}")
    if kind == "joined":
        return (f"{who} joined the waitlist of slot {slot.id} ({what}), request "
                f"{request.id}{message}")
    if kind == "approved":
        link = request.link or slot.link
        return (f"{who} approved your request {request.id} for {what}"
                + (f"; join at {link}" if link else ""))
    if kind == "expired":
        return f"your request {request.id} for {what} expired: the slot started before approval"
    if kind == "slot_cancelled":
        return f"{who} cancelled slot {slot.id} ({what}); request {request.id} is cancelled{reason}"
    if kind == "completed":
        return f"your session {request.id} for {what} is completed"
    if kind == "waiting":
        return (f"slot {slot.id} ({what}) is full: your request {request.id} is on its waitlist "
                "and moves up when a seat frees")
    if kind == "promoted" and request.status == "approved":
        link = request.link or slot.link
        whose = ("your request" if recipient.id == request.student_id
                 else f"request of {shown_name(request.student)}")
        return (f"a seat is free in slot {slot.id} ({what}): {whose} {request.id} left the "
                "waitlist and is approved (auto-approve)" + (f"; join at {link}" if link else ""))
    if kind == "promoted":
        if recipient.id == request.student_id:
            return (f"a seat is free in slot {slot.id} ({what}): your request {request.id} "
                    "left the waitlist and awaits approval")
        return (f"a seat is free in slot {slot.id} ({what}): request {request.id} of "
                f"{shown_name(request.student)} left the waitlist and awaits your decision")
    if kind == "rated":
        comment = f': "{request.rating_comment}"' if request.rating_comment else ""
        return (f"{who} rated session {request.id} ({what}) {request.rating} of 5 stars"
                f"{comment}")
    if kind == "attendance":
        marked = "attended" if request.attendance == "attended" else "a no-show"
        return f"{who} recorded session {request.id} ({what}) as {marked}"
    if system and kind == "rejected":
        return f"your request {request.id} for {what} was rejected{reason}"
    return f"{who} {kind} request {request.id} for {what}{reason}"


# -- seats and the waitlist ----------------------------------------------------------------------


def take_seat(slot_id: int) -> None:
    """Take one seat of a live slot by compare-and-swap; exit 5 when it is full."""
    if _TAKE_SEAT.execute(id=slot_id) != 1:
        raise Conflict(f"slot {slot_id} is full")


def settle_full(ctx: Context, slot_id: int) -> None:
    """The fill rule: once a slot is full (an approval took the last seat, or its capacity
    dropped to its approved seats), each pending request for it waits (opted in) or is
    rejected with ``slot is full``, by the system."""
    slot = _SEATS.first(id=slot_id)
    if slot.booked < slot.capacity:
        return
    for found in _LINE.all(slot=slot_id, status="pending"):
        other = queries.request(found.id)
        if other.waitlist:
            transition(ctx, other, "waiting", system=True)
        else:
            transition(ctx, other, "rejected", system=True, reason="slot is full")


_SEATS = Prepared(lambda id: Slot.select(
    Slot.id, Slot.booked, Slot.capacity, Slot.cancelled_at, Slot.starts_at).where(Slot.id == id))
# a slot's pending (or waiting) requests in the order they came: ids only
_LINE = Prepared(lambda slot, status: Request.select(Request.id).where(
    Request.slot == slot, Request.status == status).order_by(Request.created_at, Request.id))



def offer_free_seats(ctx: Context, slot_id: int, freed: int = 0) -> None:
    """The offer rule (SPEC §7.2): for each seat that frees (``freed``), the oldest waiting
    request of a live, future slot becomes pending, or approved when the course auto-approves
    and the student has no approved session at that time; and while the slot has more free
    seats than pending requests (a promoted request turned down), the next one does too. The
    student and the educator are told."""
    slot = queries.slot(slot_id)
    if slot.cancelled_at is not None or from_db(slot.starts_at) <= ctx.now():
        return
    pending = len(_LINE.all(slot=slot_id, status="pending"))
    offers = max(freed, slot.capacity - slot.booked - pending)
    if offers <= 0:
        return
    auto = policy.auto_approves(slot)
    for found in _LINE.all(slot=slot_id, status="waiting")[:offers]:
        request = queries.request(found.id)
        told = [request.student, request.slot.educator]
        if auto and overlapping_session(request.student, from_db(slot.starts_at),
                                        from_db(slot.ends_at)) is None:
            approve_now(ctx, request, system=True, note="a seat is free (auto-approve)",
                        notify_kind="promoted", recipients=told)
        else:
            transition(ctx, request, "pending", system=True, notify_kind="promoted",
                       note="a seat is free", recipients=told)


def waitlist_positions(slot_ids) -> dict[int, tuple[int, int]]:
    """Each waiting request's place in its slot's line: ``{request id: (position, length)}``."""
    slot_ids = list(slot_ids)
    if not slot_ids:
        return {}
    rows = (
        Request.select(Request.id, Request.slot)
        .where(Request.slot.in_(slot_ids), Request.status == "waiting")
        .order_by(Request.slot, Request.created_at, Request.id)
        .tuples()
    )
    lines: dict[int, list[int]] = {}
    for request_id, slot_id in rows:
        lines.setdefault(slot_id, []).append(request_id)
    return {rid: (i + 1, len(ids)) for ids in lines.values() for i, rid in enumerate(ids)}


def waiting_count(slot_id: int) -> int:
    return len(_LINE.all(slot=slot_id, status="waiting"))


# -- lookups -------------------------------------------------------------------------------------


def listed(ctx: Context):
    """The requests ``request list`` shows the actor (slot, course and people joined)."""
    return access.scope(ctx, queries.requests(), "request")


def overlapping_session(student: User, start: datetime, end: datetime, *, besides: int | None = None):
    """The student's approved request whose slot overlaps [start, end), if any (not counting
    request ``besides``, the one being moved)."""
    clash = _OVERLAP.first(student=student.id, start=to_db(start), end=to_db(end),
                           besides=besides or 0)
    return None if clash is None else queries.request(clash.id)


# by the slot times each request carries (migration 5): no join to find a clash
_OVERLAP = Prepared(lambda student, start, end, besides: Request.select(Request.id).where(
    Request.student == student, Request.status == "approved", Request.starts_at < end,
    Request.ends_at > start, Request.id != besides).limit(1))


def check_no_overlap(request_student: User, slot: Slot, *, mine: bool, besides: int | None = None) -> None:
    clash = overlapping_session(request_student, from_db(slot.starts_at), from_db(slot.ends_at),
                                besides=besides)
    if clash is None:
        return
    if mine:
        raise Conflict(f"slot {slot.id} overlaps your approved session {clash.id} "
                       f"(slot {clash.slot.id}, {clash.slot.course.code})")
    raise Conflict(f"{request_student.name} already has approved session {clash.id} "
                   f"(slot {clash.slot.id}) at that time")


def pending_move(request_id: int) -> Request | None:
    """The pending proposal to move this (approved) request, if any."""
    return _PROPOSAL.first(replaces=request_id)


_PROPOSAL = Prepared(lambda replaces: Request.select().where(
    Request.replaces == replaces, Request.status == "pending").limit(1))


def views(requests) -> list[RequestView]:
    """Views of joined request rows, with their waitlist places and successors looked up in
    two queries for the whole list (not one per row)."""
    requests = list(requests)
    positions = waitlist_positions({r.slot_id for r in requests if r.status == "waiting"})
    approved = [r.id for r in requests if r.status == "approved" and r.replaced_by_id is None]
    if len(approved) == 1:
        proposal = pending_move(approved[0])
        proposals = {approved[0]: proposal.id} if proposal is not None else {}
    else:
        proposals = dict(
            Request.select(Request.replaces, Request.id)
            .where(Request.replaces.in_(approved), Request.status == "pending")
            .tuples()
        ) if approved else {}
    return [RequestView.of(r, positions.get(r.id), proposals.get(r.id)) for r in requests]


def view(request: Request) -> RequestView:
    return views([request])[0]


# -- commands ------------------------------------------------------------------------------------


def check_open(ctx: Context, slot: Slot) -> None:
    """A slot a request can go to (sent or moved): not cancelled, not started. Exit 5."""
    if slot.cancelled_at is not None:
        raise Conflict(f"slot {slot.id} is cancelled")
    if from_db(slot.starts_at) <= ctx.now():
        raise Conflict(f"slot {slot.id} has already started")


def active_request(slot_id: int, student_id: int) -> Request | None:
    """The student's pending, approved or waiting request for the slot (one at most)."""
    return _ACTIVE.first(slot=slot_id, student=student_id)


def send(ctx: Context, slot_id: int, message: str | None, *, waitlist: bool = False) -> RequestView:
    """A student asks for a seat; on a full slot with ``waitlist`` they join its line."""
    message = check_text("message", message) or None
    with ctx.read():  # a refusal needs no turn at the write lock, and waits for nobody
        _check_send(ctx, slot_id, waitlist)
    with ctx.write(slots=(slot_id,), people=(ctx.actor.id,)):
        slot = _check_send(ctx, slot_id, waitlist)
        full = slot.booked >= slot.capacity
        status = "waiting" if full else "pending"
        request = create(ctx, slot, ctx.actor, status, message=message, waitlist=int(waitlist))
        auto = not full and policy.auto_approves(slot)
        kind = "joined" if full else "booked" if auto else "request"
        record(ctx, request, None, status, None, kind, [slot.educator])
        if auto:
            approve_now(ctx, request, system=True, note="auto-approve")
        return view(request)


def _check_send(ctx: Context, slot_id: int, waitlist: bool) -> Slot:
    """Every rule of ``send`` that reads: the slot the student may book, or the refusal."""
    slot = queries.slot(slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}", hint="see 'sessionctl slot list'")
    access.check_student_of(ctx, slot)
    check_open(ctx, slot)
    policy.check_booking(ctx, slot, ctx.actor)
    if slot.booked >= slot.capacity and not waitlist:
        waiting = waiting_count(slot_id)
        raise Conflict(
            f"slot {slot_id} is full",
            hint=f"join its waitlist ({waiting} waiting): "
            f"sessionctl request send {slot_id} --waitlist",
        )
    mine = active_request(slot.id, ctx.actor.id)
    if mine is not None:
        raise Conflict(f"you already have {mine.status} request {mine.id} for slot {slot_id}")
    check_no_overlap(ctx.actor, slot, mine=True)
    return slot


_ACTIVE = Prepared(lambda slot, student: Request.select().where(
    Request.slot == slot, Request.student == student, Request.status.in_(ACTIVE)).limit(1))


def create(ctx: Context, slot: Slot, student: User, status: str, *, message=None, link=None,
           notes=None, waitlist: int = 0, replaces: int | None = None) -> Request:
    """A new request row, read back joined (slot, course, people) for views and texts."""
    now = to_db(ctx.now())
    made = _CREATE.execute(slot=slot.id, student=student.id, status=status, message=message,
                           link=link, notes=notes, waitlist=waitlist, replaces=replaces, now=now)
    return queries.request(made)


_CREATE = Prepared(lambda slot, student, status, message, link, notes, waitlist, replaces, now:
                   Request.insert(slot=slot, student=student, status=status, message=message,
                                  link=link, notes=notes, waitlist=waitlist, replaces=replaces,
                                  created_at=now, updated_at=now))


def approve(ctx: Context, request_id: int, link: str | None, notes: str | None) -> RequestView:
    """Approve a pending (or waiting) request: a seat is taken and the fill rule runs. A move
    proposal's approval cancels the booking it replaces in the same transaction."""
    link = check_link(link)
    notes = check_text("notes", notes) or None
    with ctx.read():  # refusals without the lock; and what the approval may touch
        request = access.request(ctx, request_id, manage="approve")
        check_next(request, "approved")
    # A proposal's approval frees the booking it replaces, whose seat may promote anyone's
    # waiting request: only then the whole store.
    touches = {} if request.replaces_id else {"slots": (request.slot.id,),
                                              "people": (request.student.id,)}
    with ctx.write(**touches):
        request = access.request(ctx, request_id, manage="approve")
        check_next(request, "approved")
        approve_now(ctx, request, link=link, notes=notes)
        return view(request)


def approve_now(ctx: Context, request: Request, *, link: str | None = None,
                notes: str | None = None, system: bool = False, note: str | None = None,
                notify_kind: str | None = None, recipients: list[User] | None = None) -> None:
    """Every approval rule, in the caller's transaction: the slot has not started, a move
    proposal's booking gives way, the student has no overlapping approved session, a seat is
    taken by compare-and-swap, and the fill rule runs. ``system``: an approval nobody made in
    person (auto-approve)."""
    slot = request.slot
    if from_db(slot.starts_at) <= ctx.now():
        raise Conflict(f"slot {slot.id} has already started; the request can no longer be approved")
    replaced = proposal_target(request)
    if replaced is not None:  # the approved booking this proposal moves: it gives way now
        transition(ctx, replaced, "cancelled", note=f"moved to request {request.id}",
                   recipients=[], replaced_by=request.id, system=system)
    check_no_overlap(request.student, slot, mine=False)
    take_seat(slot.id)
    slot.booked += 1
    own = link or request.link
    text = None if replaced is None else moved_text(ctx, replaced, request, own, system=system)
    transition(ctx, request, "approved", link=own, notes=notes,
               note=note if note is not None else notes, system=system, notify_kind=notify_kind,
               recipients=recipients if recipients is not None else [request.student], text=text)
    settle_full(ctx, slot.id)


def proposal_target(request: Request) -> Request | None:
    """The approved booking a pending move proposal would replace, or None."""
    if request.replaces_id is None:
        return None
    replaced = queries.request(request.replaces_id)
    if replaced is None or replaced.status != "approved":
        return None
    return replaced


def moved_text(ctx: Context, old: Request, new: Request, link: str | None, *,
               system: bool = False) -> str:
    """The student's one notification of a move that took effect, naming both times."""
    old_when = describe_time(from_db(old.slot.starts_at), new.student)
    new_when = describe_time(from_db(new.slot.starts_at), new.student)
    link = link or new.slot.link
    return (f"{SYSTEM if system else shown_name(ctx.actor)} moved your {new.slot.course.code} session from {old_when} "
            f"to {new_when} (request {new.id} replaces request {old.id})"
            + (f"; join at {link}" if link else ""))


def reject(ctx: Context, request_id: int, reason: str | None) -> RequestView:
    reason = check_text("reason", reason) or None
    with ctx.write():
        request = access.request(ctx, request_id, manage="reject")
        transition(ctx, request, "rejected", reason=reason)
        return view(request)


def cancel(ctx: Context, request_id: int, reason: str | None) -> RequestView:
    """Cancel a request; a pending proposal to move it goes with it (``transition``)."""
    reason = check_text("reason", reason) or None
    with ctx.write():
        request = access.request(ctx, request_id)
        policy.check_cancel(ctx, request, "cancel")
        transition(ctx, request, "cancelled", reason=reason)
        return view(request)


def complete(ctx: Context, request_id: int, attendance: str | None = None,
             notes: str | None = None) -> RequestView:
    """SPEC §7.5: an approved session becomes completed after its end, with its attendance if
    given; on a completed session, the attendance is recorded or changed (a history row each
    time it changes, the student told). A no-show withdraws the student's rating."""
    check_choice("attendance", attendance, ATTENDANCE)
    notes = check_text("notes", notes) or None
    with ctx.write():
        request = access.request(ctx, request_id, manage="complete")
        if request.status == "completed":
            return view(_record_attendance(ctx, request, attendance, notes))
        if request.status == "approved" and from_db(request.slot.ends_at) > ctx.now():
            raise Conflict(
                f"session {request_id} has not ended yet; it can be completed after "
                f"{from_db(request.slot.ends_at):%Y-%m-%d %H:%M} UTC"
            )
        note = "; ".join(filter(None, (attendance, notes))) or None
        transition(ctx, request, "completed", note=note, attendance=attendance)
        return view(request)


def _record_attendance(ctx: Context, request: Request, attendance: str | None,
                       notes: str | None) -> Request:
    if attendance is None:
        raise Conflict(f"session {request.id} is already completed",
                       hint=f"record its attendance: sessionctl request complete {request.id} "
                       "--attended (or --no-show)")
    if attendance == request.attendance and notes is None:
        return request  # already so: nothing to record
    changes = {"attendance": attendance, "updated_at": to_db(ctx.now())}
    withdrawn = attendance == "no-show" and request.rating is not None
    if withdrawn:
        changes.update(rating=None, rating_comment=None, rated_at=None)
    Request.update(**changes).where(Request.id == request.id,
                                    Request.status == "completed").execute()
    for key, value in changes.items():
        setattr(request, key, value)
    note = "; ".join(filter(None, (attendance, "the rating is withdrawn" if withdrawn else None,
                                   notes)))
    record(ctx, request, "completed", "completed", note, "attendance", [request.student])
    return request


def rate(ctx: Context, request_id: int, stars: int, comment: str | None) -> RequestView:
    """SPEC §7.5: the student rates their completed session (not a no-show) within 30 days of
    its end; rating again replaces it. The educator is told."""
    if not 1 <= stars <= 5:
        raise UsageError(f"stars must be from 1 to 5, not {stars}")
    comment = check_text("comment", comment) or None
    with ctx.write():
        request = access.request(ctx, request_id)
        if request.student_id != ctx.actor.id:
            raise NotAllowed(f"only the student of request {request_id} can rate it")
        if request.status != "completed":
            raise Conflict(f"request {request_id} is {request.status}; only completed sessions "
                           "can be rated")
        if request.attendance == "no-show":
            raise Conflict(f"session {request_id} was recorded as a no-show; it cannot be rated")
        ended = from_db(request.slot.ends_at)
        if ctx.now() > ended + timedelta(days=RATING_DAYS):
            raise Conflict(f"session {request_id} ended more than {RATING_DAYS} days ago "
                           f"({ended:%Y-%m-%d %H:%M} UTC); it can no longer be rated")
        changes = {"rating": stars, "rating_comment": comment, "rated_at": to_db(ctx.now())}
        Request.update(**changes).where(Request.id == request.id,
                                        Request.status == "completed").execute()
        for key, value in changes.items():
            setattr(request, key, value)
        record(ctx, request, "completed", "completed", f"rated {stars} of 5", "rated",
               [request.slot.educator])
        return view(request)


def update(ctx: Context, request_id: int, *, link=KEEP, notes=KEEP) -> RequestView:
    """SPEC §7.4: the educator changes one pending or approved request's own link or notes
    ('' clears: the request follows its slot's link again); the student is told."""
    changes = {}
    if link is not KEEP:
        changes["link"] = check_link(link)
    if notes is not KEEP:
        changes["notes"] = check_text("notes", notes) or None
    with ctx.write():
        request = access.request(ctx, request_id, manage="update")
        if request.status not in ("pending", "approved"):
            raise Conflict(f"request {request_id} is {request.status}; only pending or approved "
                           "requests can be updated")
        changes = {k: v for k, v in changes.items() if getattr(request, k) != v}
        if changes:
            Request.update(**changes, updated_at=to_db(ctx.now())).where(
                Request.id == request.id).execute()
            for key, value in changes.items():
                setattr(request, key, value)
            told = {"link": request.link or request.slot.link} if "link" in changes else {}
            if "notes" in changes:
                told["notes"] = request.notes
            tell_changed(ctx, [request], told)
        return view(request)


def tell_changed(ctx: Context, requests, changed: dict[str, str | None]) -> None:
    """A booked session's link or notes changed: its student is told the new details. A new
    link also writes a history row, so the calendar event is a new version (SEQUENCE up, as
    RFC 5546 wants for a new location); new notes change only its description."""
    what = " and ".join(changed)
    details = "; ".join(f"{k}: {v}" if v else f"no {k} any more" for k, v in changed.items())
    for request in requests:
        when = describe_time(from_db(request.slot.starts_at), request.student)
        text = (f"{shown_name(ctx.actor)} changed the {what} of request {request.id} "
                f"({request.slot.course.code} on {when}): {details}")
        if "link" in changed:
            record(ctx, request, request.status, request.status, f"{what} changed", "changed",
                   [request.student], text=text)
        else:
            notify(ctx, request.student, "changed", text, request=request, slot=request.slot)


def show(ctx: Context, request_id: int) -> RequestView:
    with ctx.read():
        request = access.request(ctx, request_id)
        result = view(request)
        actor = User.alias()
        rows = (
            History.select(History, actor)
            .join(actor, pw.JOIN.LEFT_OUTER, on=History.actor)
            .where(History.request == request)
            .order_by(History.id)
        )
        result.history = [
            HistoryView(from_db(h.at), h.actor.name if h.actor_id else SYSTEM, h.from_status,
                        h.to_status, h.note)
            for h in rows
        ]
        return result


def list_requests(
    ctx: Context,
    status: str | None,
    course: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[RequestView]:
    check_choice("status", status, STATUSES + ("all",))
    with ctx.read():
        query = access.scope(ctx, queries.request_rows(), "request").order_by(
            Request.created_at.desc(), Request.id.desc())
        if status and status != "all":
            query = query.where(Request.status == status)
        if course is not None:
            query = query.where(Course.id == access.course(ctx, check_code(course)).id)
        if start:
            query = query.where(Slot.starts_at >= to_db(start))
        if end:
            query = query.where(Slot.starts_at < to_db(end))
        return views(query)


# The live requests as the partial indexes of migration 6 name them: a query that looks them
# up by time states its status in these very words (a literal, not a bound value), so both
# backends see that such an index holds every row it wants.
OPEN = Request.status.in_(pw.SQL("('pending', 'waiting')"))
BOOKED = Request.status == pw.SQL("'approved'")


def sweep(ctx: Context) -> dict[str, int]:
    """Complete ended approved sessions; expire pending and waiting requests whose slot started."""
    with ctx.write():
        access.require_role(ctx, "admin", "educator", doing="run sweep")
        now = to_db(ctx.now())
        mine = listed(ctx)  # an admin's: all; an educator's: their slots'
        ended = list(mine.where(BOOKED, Request.ends_at <= now))
        for request in ended:  # may cancel move proposals (``transition``): read what is left
            transition(ctx, request, "completed", system=True, note="session ended")
        started = list(mine.where(OPEN, Request.starts_at <= now))
        for request in started:
            transition(ctx, request, "rejected", system=True, reason="expired",
                       notify_kind="expired")
        return {"completed": len(ended), "expired": len(started)}
