"""What people are told: the wording of every notification, one entry a kind in ``TEXTS``.

A notification's ``kind`` names both its text here and its e-mail subject (``mail.EVENTS``);
the inbox shows kinds by their labels (``output/tables.py``'s ``KINDS``). To add a kind, add
it in all three (``docs/architecture.md#add-a-notification-kind``). Times are written in the
recipient's own stored zone (else UTC); people by their display name (else their user name).
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo

from sessionctl.errors import UsageError
from sessionctl.statuses import APPROVED, ATTENDED, REJECTED, REQUEST_STATES
from sessionctl.store.edge import from_db
from sessionctl.store.models import Request, User
from sessionctl.timeparse import zone

SYSTEM = "(system)"  # how an automatic change's actor is shown


def shown_name(user: User) -> str:
    """How a person is named in texts meant for people: display name, else user name."""
    return user.display or user.name


def user_zone(user: User) -> tzinfo:
    """A user's stored zone, or UTC (also when an old store holds a zone that no longer exists)."""
    try:
        return zone(user.tz) if user.tz else timezone.utc
    except UsageError:
        return timezone.utc


def describe_time(value: datetime, user: User) -> str:
    """A time for a notification text, in the recipient's stored zone or UTC."""
    local = value.astimezone(user_zone(user))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _what(code: str, when: str) -> str:
    return f"{code} on {when}"


def _reason(reason: str) -> str:
    return f": {reason}"


def _join(link: str) -> str:
    return f"; join at {link}"


class _Said:
    """What every text may use: who acted, what (course and time), and the request's words."""

    def __init__(self, actor: User, kind: str, request: Request, recipient: User, system: bool):
        slot = request.slot
        self.kind, self.r, self.slot, self.to = kind, request, slot, recipient
        self.what = _what(slot.course.code, describe_time(from_db(slot.starts_at), recipient))
        self.who = SYSTEM if system else shown_name(actor)
        self.reason = _reason(request.reason) if request.reason else ""
        self.message = f': "{request.message}"' if request.message else ""
        link = request.link or slot.link
        self.join = _join(link) if link else ""


def _promoted(s: _Said) -> str:
    if s.r.status == APPROVED:
        whose = ("your request" if s.to.id == s.r.student_id
                 else f"request of {shown_name(s.r.student)}")
        return (f"a seat is free in slot {s.slot.id} ({s.what}): {whose} {s.r.id} left the "
                "waitlist and is approved (auto-approve)" + s.join)
    if s.to.id == s.r.student_id:
        return (f"a seat is free in slot {s.slot.id} ({s.what}): your request {s.r.id} "
                "left the waitlist and awaits approval")
    return (f"a seat is free in slot {s.slot.id} ({s.what}): request {s.r.id} of "
            f"{shown_name(s.r.student)} left the waitlist and awaits your decision")


def _rated(s: _Said) -> str:
    comment = f': "{s.r.rating_comment}"' if s.r.rating_comment else ""
    return f"{s.who} rated session {s.r.id} ({s.what}) {s.r.rating} of 5 stars{comment}"


def _attendance(s: _Said) -> str:
    marked = "attended" if s.r.attendance == ATTENDED else "a no-show"
    return f"{s.who} recorded session {s.r.id} ({s.what}) as {marked}"


def _standard(s: _Said) -> str:
    """A change of state that has no text of its own: ``ada rejected request 4 for …``."""
    return f"{s.who} {s.kind} request {s.r.id} for {s.what}{s.reason}"


# kind -> its text. A kind not here is written by ``_standard`` (cancelled, rejected…).
TEXTS = {
    "request": lambda s: (f"{s.who} requests slot {s.slot.id} ({s.what}), request "
                          f"{s.r.id}{s.message}"),
    "booked": lambda s: (f"{shown_name(s.r.student)} booked slot {s.slot.id} ({s.what}), request "
                         f"{s.r.id}, approved at once (auto-approve){s.message}"),
    "joined": lambda s: (f"{s.who} joined the waitlist of slot {s.slot.id} ({s.what}), request "
                         f"{s.r.id}{s.message}"),
    "approved": lambda s: f"{s.who} approved your request {s.r.id} for {s.what}{s.join}",
    "expired": lambda s: (f"your request {s.r.id} for {s.what} expired: the slot started before "
                          "approval"),
    "slot_cancelled": lambda s: (f"{s.who} cancelled slot {s.slot.id} ({s.what}); request "
                                 f"{s.r.id} is cancelled{s.reason}"),
    "completed": lambda s: f"your session {s.r.id} for {s.what} is completed",
    "waiting": lambda s: (f"slot {s.slot.id} ({s.what}) is full: your request {s.r.id} is on its "
                          "waitlist and moves up when a seat frees"),
    "promoted": _promoted,
    "rated": _rated,
    "attendance": _attendance,
}


def text(actor: User, kind: str, request: Request, recipient: User, system: bool) -> str:
    """The notification ``kind`` about ``request`` for ``recipient``; ``system``: nobody made
    the change in person. ``request`` is joined (slot, course and people)."""
    return _compose(_Said(actor, kind, request, recipient, system), system)


def _compose(said: _Said, system: bool) -> str:
    if system and said.kind == REJECTED:
        return f"your request {said.r.id} for {said.what} was rejected{said.reason}"
    return TEXTS.get(said.kind, _standard)(said)


# -- the same texts for the database mode's definer functions -------------------------------------
# There the fill and offer rules run in the server (docs/database-mode.md): a student's
# cancellation tells another student, and that student's educator, in words the caller may not
# read. The server takes them from here, as PostgreSQL format() patterns keyed
# "kind/state/party" ("*" any kind), so each text is written once.

_SLOTS = {"request": 1, "slot": 2, "what": 3, "student": 4, "join": 5, "reason": 6, "kind": 7}
# the kinds the server says itself ("*": any other, in the standard wording)
SYSTEM_KINDS = ("waiting", REJECTED, "promoted", APPROVED, "expired", "completed", "*")


def _mark(name: str) -> str:
    return f"\x00{name}\x00"


def _pattern(text: str, slots: dict[str, int]) -> str:
    """``text`` with its marks as format()'s ``%n$s`` and every other ``%`` doubled."""
    text = text.replace("%", "%%")
    for name, number in slots.items():
        text = text.replace(_mark(name), f"%{number}$s")
    return text


def templates() -> dict[str, str]:
    """The texts the server writes for a system change (``SYSTEM_KINDS``, "*" being any other
    kind) by the request's state and the recipient's part (``student`` or ``educator``), and
    the pieces they are made of (``what``, ``join``, ``reason``), as format() patterns."""
    from types import SimpleNamespace as Blank

    found = {
        "what": _pattern(_what(_mark("code"), _mark("when")), {"code": 1, "when": 2}),
        "join": _pattern(_join(_mark("link")), {"link": 1}),
        "reason": _pattern(_reason(_mark("reason")), {"reason": 1}),
    }
    student = Blank(display=_mark("student"), name=_mark("student"))
    for kind in SYSTEM_KINDS:
        for state in REQUEST_STATES:
            for party in ("student", "educator"):
                said = _Said.__new__(_Said)
                said.kind = _mark("kind") if kind == "*" else kind
                said.slot, said.to = Blank(id=_mark("slot")), Blank(id=party)
                said.r = Blank(id=_mark("request"), status=state, student_id="student",
                               student=student, reason=_mark("reason"))
                said.what, said.who, said.message = _mark("what"), SYSTEM, ""
                said.reason, said.join = _mark("reason"), _mark("join")
                found[f"{kind}/{state}/{party}"] = _pattern(_compose(said, True), _SLOTS)
    return found


def moved(actor: User, old: Request, new: Request, link: str | None, *,
          system: bool = False) -> str:
    """The student's one notification of a move that took effect, naming both times."""
    old_when = describe_time(from_db(old.slot.starts_at), new.student)
    new_when = describe_time(from_db(new.slot.starts_at), new.student)
    link = link or new.slot.link
    return (f"{SYSTEM if system else shown_name(actor)} moved your {new.slot.course.code} session "
            f"from {old_when} to {new_when} (request {new.id} replaces request {old.id})"
            + (f"; join at {link}" if link else ""))


def slot_moved(actor: User, request: Request, before: datetime, after: datetime) -> str:
    """A student's request moved with its slot (``slot update --start``), both times named."""
    student = request.student
    what = "session" if request.status == "approved" else f"{request.status} request"
    return (f"{shown_name(actor)} moved your {request.slot.course.code} {what} from "
            f"{describe_time(before, student)} to {describe_time(after, student)} "
            f"(request {request.id}, slot {request.slot.id})")


def changed(actor: User, request: Request, changes: dict[str, str | None]) -> str:
    """A booked session's link or notes changed (``changes``): what its student is told."""
    what = " and ".join(changes)
    details = "; ".join(f"{k}: {v}" if v else f"no {k} any more" for k, v in changes.items())
    when = describe_time(from_db(request.slot.starts_at), request.student)
    return (f"{shown_name(actor)} changed the {what} of request {request.id} "
            f"({request.slot.course.code} on {when}): {details}")
