"""Course policies (``docs/reference/policies.md``): when a student may book, move and cancel, in one place.

A course's educator (or an admin) sets them with ``course set``; each is off until set.

| policy          | refuses (exit 5)                                                          |
|-----------------|---------------------------------------------------------------------------|
| ``min-notice``  | a student's send or move to a slot starting sooner than that from now      |
| ``horizon``     | a student's send or move to a slot starting later than that from now       |
| ``max-active``  | a student's send or move when they already hold that many bookings: pending, |
|                 | approved or waiting requests for future slots of the course (a move, and a  |
|                 | pending proposal to move a booking, count once with the booking)            |
| ``cancel-notice`` | a student's cancel or move of an approved session starting sooner than that |
| ``auto-approve``  | nothing: a student's request on a slot with a free seat is approved at once |

The domain operations call ``check_booking`` (``requests.send``, ``moves.move``),
``check_cancel`` (``requests.cancel``, ``moves.move``) and ``auto_approves`` (``send``, a
student's move, and the waitlist's offer of a freed seat) inside their own transaction, so
each policy applies at the moment of the action, as the course holds it then; changing a
policy never rewrites existing requests. Educators and admins acting on a student's request
are not bound by them. Each refusal names the policy and its value.
"""

from __future__ import annotations

from datetime import timedelta

from sessionctl._plain import Frozen
from sessionctl.domain.checks import KEEP
from sessionctl.errors import Conflict, UsageError
from sessionctl.statuses import ACTIVE, APPROVED, PENDING
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Course, Request, Slot, User

MAX_MINUTES = 366 * 1440  # a notice period or horizon of at most a year (and a day)
MAX_ACTIVE = 1000


class Policy(Frozen):
    """A course's policies: minutes (or None when off), a count (or None), a switch."""

    _fields = ("min_notice", "cancel_notice", "horizon", "max_active", "auto_approve")

    def __init__(self, min_notice: int | None = None, cancel_notice: int | None = None,
                 horizon: int | None = None, max_active: int | None = None,
                 auto_approve: bool = False):
        self.__dict__.update(min_notice=min_notice, cancel_notice=cancel_notice, horizon=horizon,
                             max_active=max_active, auto_approve=auto_approve)

    @classmethod
    def of(cls, course: Course) -> "Policy":
        return cls(course.min_notice, course.cancel_notice, course.horizon, course.max_active,
                   bool(course.auto_approve))


# -- setting them ------------------------------------------------------------------------------


def changes(*, min_notice=KEEP, cancel_notice=KEEP, horizon=KEEP, max_active=KEEP,
            auto_approve=KEEP) -> dict:
    """The course columns for ``course set``: each given value checked (exit 2), None for off.
    Durations are timedeltas of whole minutes; ``max_active`` a whole number."""
    found: dict = {}
    for name, value in (("min_notice", min_notice), ("cancel_notice", cancel_notice),
                        ("horizon", horizon)):
        if value is KEEP:
            continue
        found[name] = None if value is None else _minutes(name, value)
    if max_active is not KEEP:
        if max_active is not None and not 1 <= max_active <= MAX_ACTIVE:
            raise UsageError(f"max-active must be from 1 to {MAX_ACTIVE}, not {max_active}",
                             hint="say 'off' for no limit")
        found["max_active"] = max_active
    if auto_approve is not KEEP:
        found["auto_approve"] = int(bool(auto_approve))
    return found


def _minutes(name: str, value: timedelta, most: int = MAX_MINUTES) -> int:
    label = name.replace("_", "-")
    seconds = value.total_seconds()
    if seconds <= 0 or seconds % 60:
        raise UsageError(f"{label} must be a whole number of minutes above zero",
                         hint="say 'off' to turn it off")
    if seconds > most * 60:
        raise UsageError(f"{label} is longer than {_days(most)}")
    return int(seconds // 60)


def _days(minutes: int) -> str:
    return "a day" if minutes == 1440 else f"{minutes // 1440} days"


MAX_BUFFER = 1440  # minutes: a course's buffer is at most a day


def buffer_minutes(value: timedelta) -> int:
    """A course's buffer (``docs/reference/meeting-rooms-and-hooks.md``): whole
    minutes, above zero, at most a day."""
    return _minutes("buffer", value, MAX_BUFFER)


# -- applying them -----------------------------------------------------------------------------


def _students_own(ctx, student: User) -> bool:
    """Policies bind a student acting on their own requests, not an educator or an admin."""
    return ctx.actor.id == student.id and ctx.actor.role == "student"


def check_booking(ctx, slot: Slot, student: User, *, moving: Request | None = None) -> None:
    """A student's send (or move, ``moving`` the request that moves) to ``slot``:
    min-notice, horizon and max-active of the slot's course (exit 5)."""
    if not _students_own(ctx, student):
        return
    course, policy = slot.course, Policy.of(slot.course)
    lead = from_db(slot.starts_at) - ctx.now()
    if policy.min_notice is not None and lead < timedelta(minutes=policy.min_notice):
        raise Conflict(f"{course.code} needs {describe(policy.min_notice)} notice (min-notice): "
                       f"slot {slot.id} starts in {span(lead)}",
                       hint="pick a later slot: sessionctl slot list")
    if policy.horizon is not None and lead > timedelta(minutes=policy.horizon):
        raise Conflict(f"{course.code} takes requests at most {describe(policy.horizon)} ahead "
                       f"(horizon): slot {slot.id} starts in {span(lead, up=True)}",
                       hint="pick an earlier slot, or ask again later")
    if policy.max_active is not None:
        held = bookings(ctx, course.id, student, moving)
        if len(held) >= policy.max_active:
            ids = ", ".join(str(i) for i in sorted(held))
            raise Conflict(
                f"{course.code} allows {policy.max_active} active request"
                f"{'' if policy.max_active == 1 else 's'} per student (max-active): you hold "
                f"{len(held)} (request{'' if len(held) == 1 else 's'} {ids})",
                hint="cancel one, or move it instead: sessionctl request move ID --to SLOT_ID",
            )


def bookings(ctx, course_id: int, student: User, moving: Request | None = None) -> set[int]:
    """The student's bookings that max-active counts: their pending, approved and waiting
    requests for future slots of the course. A pending proposal to move a booking is the same
    booking, and so is ``moving`` (the request being moved) with its own chain."""
    rows = (
        Request.select(Request.id, Request.status, Request.replaces)
        .join(Slot, on=Request.slot)
        .where(Request.student == student, Request.status.in_(ACTIVE), Slot.course == course_id,
               Slot.starts_at > to_db(ctx.now()))
        .tuples()
    )
    held = {rid: (status, replaces) for rid, status, replaces in rows}
    found = {rid for rid, (status, replaces) in held.items()
             if not (status == PENDING and replaces in held)}
    if moving is not None:
        found -= {moving.id, moving.replaces_id}
    return found


def check_cancel(ctx, request: Request, doing: str) -> None:
    """A student's cancel or move (``doing``) of their approved session: cancel-notice."""
    if request.status != APPROVED or not _students_own(ctx, request.student):
        return
    slot = request.slot
    policy = Policy.of(slot.course)
    if policy.cancel_notice is None or from_db(slot.ends_at) <= ctx.now():
        return  # an ended session has its own refusal (complete it instead)
    lead = from_db(slot.starts_at) - ctx.now()
    if lead < timedelta(minutes=policy.cancel_notice):
        when = f"starts in {span(lead)}" if lead > timedelta(0) else "has started"
        raise Conflict(
            f"{slot.course.code} needs {describe(policy.cancel_notice)} notice to {doing} a "
            f"session (cancel-notice): session {request.id} {when}",
            hint=f"ask {slot.educator.name} (the educator) to {doing} it",
        )


def auto_approves(slot: Slot) -> bool:
    """Whether a request on ``slot`` is approved at once (its course's auto-approve)."""
    return bool(slot.course.auto_approve)


# -- words -------------------------------------------------------------------------------------


def describe(minutes: int) -> str:
    """Whole minutes as people read them: ``2h``, ``1h 30m``, ``3d``, ``1d 2h 5m``."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "m")) if n]
    return " ".join(parts) or "0m"


def span(delta: timedelta, *, up: bool = False) -> str:
    """A time to go, to the minute below (``up``: above): ``1h 10m``; under a minute,
    ``less than a minute``."""
    seconds = int(delta.total_seconds())
    minutes = -(-seconds // 60) if up else seconds // 60
    return describe(minutes) if minutes >= 1 else "less than a minute"

