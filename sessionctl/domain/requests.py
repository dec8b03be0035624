"""Requests: the state machine of SPEC §4, seats, history and notifications."""

from __future__ import annotations

from datetime import datetime

from sessionctl.domain import access, queries
from sessionctl.domain.context import (
    Context, check_choice, check_code, check_link, check_text, describe_time, from_db, notify,
    shown_name, to_db,
)
from sessionctl.domain.views import HistoryView, RequestView
from sessionctl.errors import Conflict, NotFound
from sessionctl.store.models import Course, History, Request, Slot, User

STATUSES = ("pending", "approved", "rejected", "cancelled", "completed")
ACTIVE = ("pending", "approved")  # the states that hold (or wait for) a seat
NEXT = {
    "pending": ("approved", "rejected", "cancelled"),
    "approved": ("completed", "cancelled"),
}


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
    reason: str | None = None,
    note: str | None = None,
    notify_kind: str | None = None,
    recipients: list[User] | None = None,
    **fields,
) -> None:
    """Move ``request`` to ``to`` by compare-and-swap, write its history row, notify.

    ``request`` must come from ``queries.requests()`` (slot, course and people joined).
    """
    current = request.status
    check_next(request, to)
    if current == "approved" and to == "cancelled" and from_db(request.slot.ends_at) <= ctx.now():
        raise Conflict(
            f"session {request.id} has ended; it can no longer be cancelled",
            hint=f"complete it: sessionctl request complete {request.id}",
        )
    now = to_db(ctx.now())
    changes = {"status": to, "updated_at": now, **fields}
    if reason is not None:
        changes["reason"] = reason
    swapped = (
        Request.update(**changes)
        .where(Request.id == request.id, Request.status == current)
        .execute()
    )
    if swapped != 1:
        raise Conflict(f"request {request.id} changed while you were working; try again")
    if current == "approved":
        freed = (
            Slot.update(booked=Slot.booked - 1)
            .where(Slot.id == request.slot.id, Slot.booked > 0)
            .execute()
        )
        if freed != 1:  # pragma: no cover - the schema keeps booked in step
            raise Conflict(f"slot {request.slot.id} has no seat to free")
    for key, value in changes.items():
        setattr(request, key, value)
    _record(
        ctx, request, current, to, note if note is not None else reason, notify_kind or to,
        recipients if recipients is not None else _other_parties(ctx, request, to),
    )


def _record(ctx: Context, request: Request, was: str | None, to: str, note: str | None,
            kind: str, recipients: list[User]) -> None:
    """SPEC §4: every state change writes one history row and notifies the other party."""
    History.create(
        request=request, at=to_db(ctx.now()), actor=ctx.actor, from_status=was, to_status=to,
        note=note,
    )
    for user in recipients:
        notify(ctx, user, kind, _text(ctx, kind, request, user), request=request, slot=request.slot)


def _other_parties(ctx: Context, request: Request, to: str) -> list[User]:
    student, educator = request.student, request.slot.educator
    if to == "cancelled":
        return [u for u in (student, educator) if u.id != ctx.actor.id]
    return [student]


def _text(ctx: Context, kind: str, request: Request, recipient: User) -> str:
    slot = request.slot
    when = describe_time(from_db(slot.starts_at), recipient)
    what = f"{slot.course.code} on {when}"
    who = shown_name(ctx.actor)
    reason = f": {request.reason}" if request.reason else ""
    if kind == "request":
        message = f': "{request.message}"' if request.message else ""
        return f"{who} requests slot {slot.id} ({what}), request {request.id}{message}"
    if kind == "approved":
        link = f"; join at {request.link}" if request.link else ""
        return f"{who} approved your request {request.id} for {what}{link}"
    if kind == "expired":
        return f"your request {request.id} for {what} expired: the slot started before approval"
    if kind == "slot_cancelled":
        return f"{who} cancelled slot {slot.id} ({what}); request {request.id} is cancelled{reason}"
    if kind == "completed":
        return f"your session {request.id} for {what} is completed"
    return f"{who} {kind} request {request.id} for {what}{reason}"


# -- lookups -------------------------------------------------------------------------------------


def listed(ctx: Context):
    """The requests ``request list`` shows the actor (slot, course and people joined)."""
    return access.scope(ctx, queries.requests(), "request")


def overlapping_session(student: User, start: datetime, end: datetime):
    """The student's approved request whose slot overlaps [start, end), if any."""
    return queries.requests().where(
        Request.student == student,
        Request.status == "approved",
        Slot.starts_at < to_db(end),
        Slot.ends_at > to_db(start),
    ).first()


# -- commands ------------------------------------------------------------------------------------


def send(ctx: Context, slot_id: int, message: str | None) -> RequestView:
    message = check_text("message", message) or None
    with ctx.write():
        slot = queries.slots().where(Slot.id == slot_id).first()
        if slot is None:
            raise NotFound(f"no slot {slot_id}", hint="see 'sessionctl slot list'")
        access.check_student_of(ctx, slot)
        start, end = from_db(slot.starts_at), from_db(slot.ends_at)
        if slot.cancelled_at is not None:
            raise Conflict(f"slot {slot_id} is cancelled")
        if start <= ctx.now():
            raise Conflict(f"slot {slot_id} has already started")
        if slot.booked >= slot.capacity:
            raise Conflict(f"slot {slot_id} is full")
        mine = Request.get_or_none(
            Request.slot == slot, Request.student == ctx.actor,
            Request.status.in_(ACTIVE),
        )
        if mine is not None:
            raise Conflict(
                f"you already have {mine.status} request {mine.id} for slot {slot_id}"
            )
        clash = overlapping_session(ctx.actor, start, end)
        if clash is not None:
            raise Conflict(
                f"slot {slot_id} overlaps your approved session {clash.id} "
                f"(slot {clash.slot.id}, {clash.slot.course.code})"
            )
        now = to_db(ctx.now())
        request = Request.create(
            slot=slot, student=ctx.actor, status="pending", message=message,
            created_at=now, updated_at=now,
        )
        request = queries.requests().where(Request.id == request.id).get()
        _record(ctx, request, None, "pending", None, "request", [slot.educator])
        return RequestView.of(request)


def approve(ctx: Context, request_id: int, link: str | None, notes: str | None) -> RequestView:
    link = check_link(link)
    notes = check_text("notes", notes) or None
    with ctx.write():
        request = access.request(ctx, request_id, manage="approve")
        slot = request.slot
        check_next(request, "approved")
        start, end = from_db(slot.starts_at), from_db(slot.ends_at)
        if start <= ctx.now():
            raise Conflict(f"slot {slot.id} has already started; the request can no longer be approved")
        clash = overlapping_session(request.student, start, end)
        if clash is not None:
            raise Conflict(
                f"{request.student.name} already has approved session {clash.id} "
                f"(slot {clash.slot.id}) at that time"
            )
        taken = (
            Slot.update(booked=Slot.booked + 1)
            .where(Slot.id == slot.id, Slot.booked < Slot.capacity, Slot.cancelled_at.is_null())
            .execute()
        )
        if taken != 1:
            raise Conflict(f"slot {slot.id} is full")
        transition(ctx, request, "approved", link=link or slot.link, notes=notes, note=notes)
        settle_full(ctx, slot.id)
        return RequestView.of(request)


def settle_full(ctx: Context, slot_id: int) -> None:
    """SPEC §4: once a slot is full (an approval took the last seat, or its capacity dropped to
    its approved seats), every pending request for it is rejected with ``slot is full``."""
    slot = Slot.get_by_id(slot_id)
    if slot.booked >= slot.capacity:
        others = queries.requests().where(Request.slot == slot_id, Request.status == "pending")
        for other in others:
            transition(ctx, other, "rejected", reason="slot is full")


def reject(ctx: Context, request_id: int, reason: str | None) -> RequestView:
    reason = check_text("reason", reason) or None
    with ctx.write():
        request = access.request(ctx, request_id, manage="reject")
        transition(ctx, request, "rejected", reason=reason)
        return RequestView.of(request)


def cancel(ctx: Context, request_id: int, reason: str | None) -> RequestView:
    reason = check_text("reason", reason) or None
    with ctx.write():
        request = access.request(ctx, request_id)
        transition(ctx, request, "cancelled", reason=reason)
        return RequestView.of(request)


def complete(ctx: Context, request_id: int) -> RequestView:
    with ctx.write():
        request = access.request(ctx, request_id, manage="complete")
        if request.status == "approved" and from_db(request.slot.ends_at) > ctx.now():
            raise Conflict(
                f"session {request_id} has not ended yet; it can be completed after "
                f"{from_db(request.slot.ends_at):%Y-%m-%d %H:%M} UTC"
            )
        transition(ctx, request, "completed")
        return RequestView.of(request)


def show(ctx: Context, request_id: int) -> RequestView:
    with ctx.read():
        request = access.request(ctx, request_id)
        view = RequestView.of(request)
        actor = User.alias()
        rows = (
            History.select(History, actor)
            .join(actor, on=History.actor)
            .where(History.request == request)
            .order_by(History.id)
        )
        view.history = [
            HistoryView(from_db(h.at), h.actor.name, h.from_status, h.to_status, h.note)
            for h in rows
        ]
        return view


def list_requests(
    ctx: Context,
    status: str | None,
    course: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[RequestView]:
    check_choice("status", status, STATUSES + ("all",))
    with ctx.read():
        query = listed(ctx).order_by(Request.created_at.desc(), Request.id.desc())
        if status and status != "all":
            query = query.where(Request.status == status)
        if course is not None:
            query = query.where(Course.id == access.course(ctx, check_code(course)).id)
        if start:
            query = query.where(Slot.starts_at >= to_db(start))
        if end:
            query = query.where(Slot.starts_at < to_db(end))
        return [RequestView.of(r) for r in query]


def sweep(ctx: Context) -> dict[str, int]:
    """Complete ended approved sessions, expire pending requests whose slot started."""
    with ctx.write():
        access.require_role(ctx, "admin", "educator", doing="run sweep")
        now = to_db(ctx.now())
        mine = listed(ctx)  # an admin's: all; an educator's: their slots'
        ended = list(mine.where(Request.status == "approved", Slot.ends_at <= now))
        started = list(mine.where(Request.status == "pending", Slot.starts_at <= now))
        for request in ended:
            transition(ctx, request, "completed", note="session ended")
        for request in started:
            transition(ctx, request, "rejected", reason="expired", notify_kind="expired")
        return {"completed": len(ended), "expired": len(started)}
