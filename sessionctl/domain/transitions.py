"""The one place a request changes state, and the rules that run inside that change.

The states and the moves between them are ``statuses.NEXT`` (drawn in ``sessionctl/statuses.py``);
``transition`` makes every move by compare-and-swap, writes its history row and notifies. Seats
are counted in ``slots.booked`` (compare-and-swap, and a CHECK in the schema). Two rules keep a
slot's seats and its line in step, and run inside the transaction that changes them:

- **fill** (``settle_full``): once a slot is full, each pending request for it waits (its
  student opted in with ``--waitlist``) or is rejected (``slot is full``);
- **offer** (``offer_free_seats``): while a slot has more free seats than pending requests, the
  oldest waiting request becomes pending (the educator decides, as for any request), or approved
  under a course's auto-approve.

They call ``transition`` and ``transition`` calls them (a freed seat is offered at once), so
they live here together. Changes nobody asked for in person (a filling slot, the waitlist,
expiry, completion by ``sweep``, approval under auto-approve) are the system's: their history
rows have no actor and show as ``(system)``. The course policies live in ``policy``; the
commands (``requests``, ``moves``, ``slots``, ``courses``) call both.
(``docs/reference/lifecycle.md``.)
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace as Blank

from sessionctl.domain import events, policy, texts
from sessionctl.domain.context import Context, notify
from sessionctl.errors import Conflict
from sessionctl.statuses import APPROVED, CANCELLED, NEXT, PENDING, REJECTED, WAITING
from sessionctl.store import guarded, queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Request, Slot, User


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
    event: str | None = None,
    **fields,
) -> None:
    """Move ``request`` to ``to`` by compare-and-swap, write its history row, notify, and
    keep the slot's seats and line in step (a freed seat or a dropped pending request is
    offered to the waitlist).

    ``request`` must come from ``queries.requests()`` (slot, course and people joined).
    """
    current = request.status
    check_next(request, to)
    if to == CANCELLED:
        check_not_ended(ctx, request, "cancelled")
    changes = {"status": to, "updated_at": to_db(ctx.now()), **fields}
    if reason is not None:
        changes["reason"] = reason
    told = recipients if recipients is not None else _other_parties(ctx, request, to, system)
    note = note if note is not None else reason
    if system and guarded.on():  # the server makes it, re-checking that it may (rls_behalf.py)
        _system_change(ctx, request, to, reason, note, notify_kind or to, told, text, fields)
    else:
        if queries.swap(request.id, current, changes) != 1:
            raise Conflict(f"request {request.id} changed while you were working; try again")
        if current == APPROVED and not guarded.on():  # the database mode's server counts seats
            freed = queries.FREE_SEAT.execute(id=request.slot.id)
            if freed != 1:  # pragma: no cover - the schema keeps booked in step
                raise Conflict(f"slot {request.slot.id} has no seat to free")
    if current == APPROVED:
        request.slot.booked -= 1
    for key, value in changes.items():
        setattr(request, key, value)
    if not (system and guarded.on()):
        record(ctx, request, current, to, note, notify_kind or to, told, system=system, text=text,
               event=event)
    if request.student_id != ctx.actor.id:
        ctx.effects.append((request.student.name, request.id, current, to,
                            any(user.id == request.student_id for user in told)))
    if current == APPROVED:  # a proposal to move this booking goes with it (unless it is
        _drop_proposal(ctx, request, keep=fields.get("replaced_by"))  # what replaces it now)
    if current in (PENDING, APPROVED) and to in (CANCELLED, REJECTED):
        offer_free_seats(ctx, request.slot.id, freed=int(current == APPROVED))


def _system_change(ctx: Context, request: Request, to: str, reason, note, kind: str,
                   told: list[User], text: str | None, fields: dict) -> None:
    """The database mode's system change: the server writes it, its history row and tells
    the other parties in its words (``texts.templates()``); the actor, if told, is told here."""
    others = [u for u in told if u.id != ctx.actor.id]
    guarded.system_change(
        request.id, to, reason=reason, note=note, replaced_by=fields.get("replaced_by"),
        kind=kind, tell=["student" if u.id == request.student_id else "educator" for u in others])
    request.status = to
    for user in told:
        if user.id == ctx.actor.id:
            said = text or texts.text(ctx.actor, kind, request, user, True)
            notify(ctx, user, kind, said, request=request, slot=request.slot)


def _drop_proposal(ctx: Context, booking: Request, keep: int | None) -> None:
    proposal = pending_move(booking.id)
    if proposal is not None and proposal.id != keep:
        proposal = queries.request(proposal.id)
        transition(ctx, proposal, CANCELLED, system=True, recipients=[],
                   reason=f"request {booking.id} is {booking.status}")


def check_not_ended(ctx: Context, request: Request, doing: str) -> None:
    """An approved session that has ended is final but for its completion: it can no longer
    be cancelled, moved, or proposed to move (``doing``: the past participle)."""
    if request.status == APPROVED and from_db(request.slot.ends_at) <= ctx.now():
        raise Conflict(
            f"session {request.id} has ended; it can no longer be {doing}",
            hint=f"complete it, or record that the student did not come: "
            f"sessionctl request complete {request.id} --no-show",
        )


def record(ctx: Context, request: Request, was: str | None, to: str, note: str | None,
           kind: str | None, recipients: list[User], *, system: bool = False,
           text: str | None = None, event: str | None = None) -> None:
    """Every change writes one history row, notifies the other party (``kind``
    names the notification; ``text`` overrides the standard wording) and records its event for
    the hooks (``events.name`` unless ``event`` names it)."""
    queries.HISTORY.execute(request=request.id, at=to_db(ctx.now()),
                     actor=None if system else ctx.actor.id, from_status=was, to_status=to,
                     note=note)
    for user in recipients:
        said = text or texts.text(ctx.actor, kind, request, user, system)
        notify(ctx, user, kind, said, request=request, slot=request.slot)
    event = event or events.name(was, to, kind, request)
    if event is not None:
        events.record(ctx, event, request, system=system)


def _other_parties(ctx: Context, request: Request, to: str, system: bool) -> list[User]:
    student, educator = request.student, request.slot.educator
    if to == CANCELLED and not system:
        return [u for u in (student, educator) if u.id != ctx.actor.id]
    return [student]


# -- seats and the line -----------------------------------------------------------------------


def take_seat(slot_id: int) -> None:
    """Take one seat of a live slot by compare-and-swap; exit 5 when it is full. (In the
    database mode the server counts seats as requests change, and its CHECK has the last word:
    here the seat is only seen free.)"""
    if guarded.on():
        slot = queries.SEATS.first(id=slot_id)
        if slot.booked < slot.capacity and slot.cancelled_at is None:
            return
        raise Conflict(f"slot {slot_id} is full")
    if queries.TAKE_SEAT.execute(id=slot_id) != 1:
        raise Conflict(f"slot {slot_id} is full")


def settle_full(ctx: Context, slot_id: int) -> None:
    """The fill rule: once a slot is full (an approval took the last seat, or its capacity
    dropped to its approved seats), each pending request for it waits (opted in) or is
    rejected with ``slot is full``, by the system."""
    if guarded.on():  # over other students' requests: the server runs it
        return guarded.settle(slot_id)
    slot = queries.SEATS.first(id=slot_id)
    if slot.booked < slot.capacity:
        return
    for found in queries.LINE.all(slot=slot_id, status=PENDING):
        other = queries.request(found.id)
        if other.waitlist:
            transition(ctx, other, WAITING, system=True)
        else:
            transition(ctx, other, REJECTED, system=True, reason="slot is full")


def offer_free_seats(ctx: Context, slot_id: int, freed: int = 0) -> None:
    """The offer rule (``docs/reference/lifecycle.md#the-waitlist``): for each seat that frees (``freed``), the oldest waiting
    request of a live, future slot becomes pending, or approved when the course auto-approves
    and the student has no approved session at that time; and while the slot has more free
    seats than pending requests (a promoted request turned down), the next one does too. The
    student and the educator are told."""
    if guarded.on():  # over other students' requests: the server runs it
        return guarded.offer(slot_id, freed)
    slot = queries.slot(slot_id)
    if slot.cancelled_at is not None or from_db(slot.starts_at) <= ctx.now():
        return
    pending = len(queries.LINE.all(slot=slot_id, status=PENDING))
    offers = max(freed, slot.capacity - slot.booked - pending)
    if offers <= 0:
        return
    auto = policy.auto_approves(slot)
    for found in queries.LINE.all(slot=slot_id, status=WAITING)[:offers]:
        request = queries.request(found.id)
        told = [request.student, request.slot.educator]
        if auto and overlapping_session(request.student, from_db(slot.starts_at),
                                        from_db(slot.ends_at)) is None:
            approve_now(ctx, request, system=True, note="a seat is free (auto-approve)",
                        notify_kind="promoted", recipients=told)
        else:
            transition(ctx, request, PENDING, system=True, notify_kind="promoted",
                       note="a seat is free", recipients=told)


# -- what the changes check and make ----------------------------------------------------------


def overlapping_session(student: User, start: datetime, end: datetime, *, besides: int | None = None):
    """The student's approved request whose slot overlaps [start, end), if any (not counting
    request ``besides``, the one being moved)."""
    if guarded.on():  # the student's sessions in other courses: the server looks
        found = guarded.clash(student.id, start, end, besides or 0)
        if found is None:
            return None
        return queries.request(found[0]) or Blank(id=found[0], slot=Blank(id=found[1]))
    clash = queries.OVERLAP.first(student=student.id, start=to_db(start), end=to_db(end),
                           besides=besides or 0)
    return None if clash is None else queries.request(clash.id)


# by the slot times each request carries (migration 5): no join to find a clash


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
    return queries.PROPOSAL.first(replaces=request_id)


def proposal_target(request: Request) -> Request | None:
    """The approved booking a pending move proposal would replace, or None."""
    if request.replaces_id is None:
        return None
    replaced = queries.request(request.replaces_id)
    if replaced is None or replaced.status != APPROVED:
        return None
    return replaced


def check_open(ctx: Context, slot: Slot) -> None:
    """A slot a request can go to (sent or moved): not cancelled, not started. Exit 5."""
    if slot.cancelled_at is not None:
        raise Conflict(f"slot {slot.id} is cancelled")
    if from_db(slot.starts_at) <= ctx.now():
        raise Conflict(f"slot {slot.id} has already started")


def active_request(slot_id: int, student_id: int) -> Request | None:
    """The student's pending, approved or waiting request for the slot (one at most)."""
    return queries.ACTIVE_REQUEST.first(slot=slot_id, student=student_id)


def create(ctx: Context, slot: Slot, student: User, status: str, *, message=None, link=None,
           notes=None, waitlist: int = 0, replaces: int | None = None) -> Request:
    """A new request row, read back joined (slot, course, people) for views and texts."""
    now = to_db(ctx.now())
    made = queries.CREATE_REQUEST.execute(
        slot=slot.id, student=student.id, status=status, message=message, link=link, notes=notes,
        waitlist=waitlist, replaces=replaces, now=now)
    return queries.request(made)


def _from_template(ctx: Context, request: Request) -> str | None:
    """A link made from the course's or the config's template, if there is one."""
    from sessionctl.domain import links

    template = links.template_for(request, ctx.links or links.NO_LINKS)
    return None if template is None else links.fill(template, request)


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
        transition(ctx, replaced, CANCELLED, note=f"moved to request {request.id}",
                   recipients=[], replaced_by=request.id, system=system)
    check_no_overlap(request.student, slot, mine=False)
    take_seat(slot.id)
    slot.booked += 1
    # a booking's own link follows it through a move unless this approval gives another; a
    # booking without one gets the template's unless its slot has a link
    own = (link or request.link or (replaced.link if replaced is not None else None)
           or (None if slot.link else _from_template(ctx, request)))
    text = None if replaced is None else texts.moved(ctx.actor, replaced, request, own, system=system)
    transition(ctx, request, APPROVED, link=own, notes=notes,
               note=note if note is not None else notes, system=system, notify_kind=notify_kind,
               recipients=recipients if recipients is not None else [request.student], text=text,
               event=None if replaced is None else "moved")
    settle_full(ctx, slot.id)
