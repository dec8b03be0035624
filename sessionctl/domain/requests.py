"""Requests: what a student and an educator do with them (``docs/reference/lifecycle.md``):
send, approve, reject, cancel, complete, rate, update, show, list, and ``sweep``.

Each command checks its rules and calls ``transitions`` to change states; the states and the
moves between them are drawn in ``sessionctl/statuses.py``, the wording of what people are told
is ``texts``. The course policies (``docs/reference/policies.md``) live in ``policy``.

After a session (``docs/reference/after-the-session.md``) a completed request may carry
its attendance (``attended``, ``no-show``, or unknown as ``sweep`` leaves it), changeable by the
educator, and its student's rating (1 to 5 stars and a comment, within 30 days of the end, not for
a no-show).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import peewee as pw

from sessionctl.domain import access, events, policy, texts
from sessionctl.domain.checks import (
    KEEP, check_choice, check_choices, check_code, check_limit, check_link, check_text,
)
from sessionctl.domain.context import Context, notify
from sessionctl.domain.texts import SYSTEM
from sessionctl.domain.transitions import (
    active_request, approve_now, check_next, check_no_overlap, check_open, create, pending_move,
    record, transition,
)
from sessionctl.domain.views import HistoryView, RequestView
from sessionctl.domain.waitlist import waiting_count, waitlist_positions
from sessionctl.errors import Conflict, NotAllowed, NotFound, UsageError
from sessionctl.statuses import (
    ALL, APPROVED, ATTENDANCE, CANCELLED, COMPLETED, NO_SHOW, PENDING, REJECTED, REQUEST_STATES,
    UPDATABLE, WAITING,
)
from sessionctl.store import queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Course, History, Request, Slot, User

RATING_DAYS = 30  # a session can be rated until this many days after its end



def listed(ctx: Context):
    """The requests ``request list`` shows the actor (slot, course and people joined)."""
    return access.scope(ctx, queries.requests(), "request")


def views(requests) -> list[RequestView]:
    """Views of joined request rows, with their waitlist places and successors looked up in
    two queries for the whole list (not one per row)."""
    requests = list(requests)
    positions = waitlist_positions({r.slot_id for r in requests if r.status == WAITING})
    approved = [r.id for r in requests if r.status == APPROVED and r.replaced_by_id is None]
    if len(approved) == 1:
        proposal = pending_move(approved[0])
        proposals = {approved[0]: proposal.id} if proposal is not None else {}
    else:
        proposals = dict(
            Request.select(Request.replaces, Request.id)
            .where(Request.replaces.in_(approved), Request.status == PENDING)
            .tuples()
        ) if approved else {}
    return [RequestView.of(r, positions.get(r.id), proposals.get(r.id)) for r in requests]


def view(request: Request) -> RequestView:
    return views([request])[0]


# -- commands ------------------------------------------------------------------------------------


def send(ctx: Context, slot_id: int, message: str | None, *, waitlist: bool = False) -> RequestView:
    """A student asks for a seat; on a full slot with ``waitlist`` they join its line."""
    message = check_text("message", message) or None
    with ctx.read():  # a refusal needs no turn at the write lock, and waits for nobody
        _check_send(ctx, slot_id, waitlist)
    with ctx.write(slots=(slot_id,), people=(ctx.actor.id,)):
        slot = _check_send(ctx, slot_id, waitlist)
        full = slot.booked >= slot.capacity
        status = WAITING if full else PENDING
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


def approve(ctx: Context, request_id: int, link: str | None, notes: str | None) -> RequestView:
    """Approve a pending (or waiting) request: a seat is taken and the fill rule runs. A move
    proposal's approval cancels the booking it replaces in the same transaction."""
    link = check_link(link)
    notes = check_text("notes", notes) or None
    from sessionctl.domain import links

    settings = ctx.links or links.NO_LINKS
    with ctx.read():  # refusals without the lock; and what the approval may touch
        request = access.request(ctx, request_id, manage="approve")
        check_next(request, APPROVED)
        booking = links.booking(request) if links.needs_command(request, link, settings) else None
    if booking is not None:  # a program's answer is awaited before the lock, never under it
        link = links.run_command(settings, booking)
    # A proposal's approval frees the booking it replaces, whose seat may promote anyone's
    # waiting request: only then the whole store.
    touches = {} if request.replaces_id else {"slots": (request.slot.id,),
                                              "people": (request.student.id,)}
    with ctx.write(**touches):
        request = access.request(ctx, request_id, manage="approve")
        check_next(request, APPROVED)
        approve_now(ctx, request, link=link, notes=notes)
        return view(request)


def reject(ctx: Context, request_id: int, reason: str | None) -> RequestView:
    reason = check_text("reason", reason) or None
    with ctx.write():
        request = access.request(ctx, request_id, manage="reject")
        transition(ctx, request, REJECTED, reason=reason)
        return view(request)


def cancel(ctx: Context, request_id: int, reason: str | None) -> RequestView:
    """Cancel a request; a pending proposal to move it goes with it (``transition``)."""
    reason = check_text("reason", reason) or None
    with ctx.write():
        request = access.request(ctx, request_id)
        policy.check_cancel(ctx, request, "cancel")
        transition(ctx, request, CANCELLED, reason=reason)
        return view(request)


def complete(ctx: Context, request_id: int, attendance: str | None = None,
             notes: str | None = None) -> RequestView:
    """An approved session becomes completed after its end, with its attendance if
    given; on a completed session, the attendance is recorded or changed (a history row each
    time it changes, the student told). A no-show withdraws the student's rating."""
    check_choice("attendance", attendance, ATTENDANCE)
    notes = check_text("notes", notes) or None
    with ctx.write():
        request = access.request(ctx, request_id, manage="complete")
        if request.status == COMPLETED:
            return view(_record_attendance(ctx, request, attendance, notes))
        if request.status == APPROVED and from_db(request.slot.ends_at) > ctx.now():
            raise Conflict(
                f"session {request_id} has not ended yet; it can be completed after "
                f"{from_db(request.slot.ends_at):%Y-%m-%d %H:%M} UTC"
            )
        note = "; ".join(filter(None, (attendance, notes))) or None
        transition(ctx, request, COMPLETED, note=note, attendance=attendance)
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
    withdrawn = attendance == NO_SHOW and request.rating is not None
    if withdrawn:
        changes.update(rating=None, rating_comment=None, rated_at=None)
    Request.update(**changes).where(Request.id == request.id,
                                    Request.status == COMPLETED).execute()
    for key, value in changes.items():
        setattr(request, key, value)
    note = "; ".join(filter(None, (attendance, "the rating is withdrawn" if withdrawn else None,
                                   notes)))
    record(ctx, request, COMPLETED, COMPLETED, note, "attendance", [request.student])
    return request


def rate(ctx: Context, request_id: int, stars: int, comment: str | None) -> RequestView:
    """The student rates their completed session (not a no-show) within 30 days of
    its end; rating again replaces it. The educator is told."""
    if not 1 <= stars <= 5:
        raise UsageError(f"stars must be from 1 to 5, not {stars}")
    comment = check_text("comment", comment) or None
    with ctx.write():
        request = access.request(ctx, request_id)
        if request.student_id != ctx.actor.id:
            raise NotAllowed(f"only the student of request {request_id} can rate it")
        if request.status != COMPLETED:
            raise Conflict(f"request {request_id} is {request.status}; only completed sessions "
                           "can be rated")
        if request.attendance == NO_SHOW:
            raise Conflict(f"session {request_id} was recorded as a no-show; it cannot be rated")
        ended = from_db(request.slot.ends_at)
        if ctx.now() > ended + timedelta(days=RATING_DAYS):
            raise Conflict(f"session {request_id} ended more than {RATING_DAYS} days ago "
                           f"({ended:%Y-%m-%d %H:%M} UTC); it can no longer be rated")
        changes = {"rating": stars, "rating_comment": comment, "rated_at": to_db(ctx.now())}
        Request.update(**changes).where(Request.id == request.id,
                                        Request.status == COMPLETED).execute()
        for key, value in changes.items():
            setattr(request, key, value)
        record(ctx, request, COMPLETED, COMPLETED, f"rated {stars} of 5", "rated",
               [request.slot.educator])
        return view(request)


def update(ctx: Context, request_id: int, *, link=KEEP, notes=KEEP) -> RequestView:
    """The educator changes one pending or approved request's own link or notes
    ('' clears: the request follows its slot's link again); the student is told."""
    changes = {}
    if link is not KEEP:
        changes["link"] = check_link(link)
    if notes is not KEEP:
        changes["notes"] = check_text("notes", notes) or None
    with ctx.write():
        request = access.request(ctx, request_id, manage="update")
        if request.status not in UPDATABLE:
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
    for request in requests:
        ctx.effects.append((request.student.name, request.id, request.status, f"{what} changed",
                            True))
        text = texts.changed(ctx.actor, request, changed)
        if "link" in changed:
            record(ctx, request, request.status, request.status, f"{what} changed", "changed",
                   [request.student], text=text)
        else:
            notify(ctx, request.student, "changed", text, request=request, slot=request.slot)
            events.record(ctx, "changed", request)


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
    student: str | None = None,
    limit: int | None = None,
) -> list[RequestView]:
    """The requests the actor can see, newest first; ``status`` one state or several
    (``pending,waiting``), ``student`` one student's, at most ``limit`` of them."""
    states, limit = check_choices("status", status, REQUEST_STATES + (ALL,)), check_limit(limit)
    with ctx.read():
        query = access.scope(ctx, queries.request_rows(), "request").order_by(
            Request.created_at.desc(), Request.id.desc())
        if states and ALL not in states:
            query = query.where(Request.status.in_(states))
        if student is not None:
            query = query.where(Request.student == access.student(ctx, student))
        if course is not None:
            query = query.where(Course.id == access.course(ctx, check_code(course)).id)
        if start:
            query = query.where(Slot.starts_at >= to_db(start))
        if end:
            query = query.where(Slot.starts_at < to_db(end))
        if limit is not None:
            query = query.limit(limit)
        return views(query)


# The live requests as the partial indexes of migration 6 name them: a query that looks them
# up by time states its status in these very words (a literal, not a bound value), so both
# backends see that such an index holds every row it wants.


def sweep(ctx: Context) -> dict[str, int]:
    """Complete ended approved sessions; expire pending and waiting requests whose slot started."""
    with ctx.write():
        access.require_role(ctx, "admin", "educator", doing="run sweep")
        now = to_db(ctx.now())
        mine = listed(ctx)  # an admin's: all; an educator's: their slots'
        ended = list(mine.where(queries.LIVE_APPROVED, Request.ends_at <= now))
        for request in ended:  # may cancel move proposals (``transition``): read what is left
            transition(ctx, request, COMPLETED, system=True, note="session ended")
        started = list(mine.where(queries.LIVE_UNDECIDED, Request.starts_at <= now))
        for request in started:
            transition(ctx, request, REJECTED, system=True, reason="expired",
                       notify_kind="expired")
        return {"completed": len(ended), "expired": len(started)}
