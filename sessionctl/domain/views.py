"""Plain data the domain returns and ``render`` prints.

Field names follow SPEC §5; the JSON field lists live in ``render``. Extra fields
(educator_display, ended, …) serve the tables only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sessionctl.domain.context import from_db
from sessionctl.domain.policy import Policy
from sessionctl.store.models import Course, Notification, Request, Slot, User


@dataclass
class UserView:
    name: str
    role: str
    display: str | None
    email: str | None
    tz: str | None

    @classmethod
    def of(cls, u: User) -> "UserView":
        return cls(u.name, u.role, u.display, u.email, u.tz)


@dataclass
class CourseView:
    code: str
    title: str
    educator: str
    enrolled: int
    educator_display: str | None = None
    policy: Policy = field(default_factory=Policy)

    @classmethod
    def of(cls, c: Course, enrolled: int) -> "CourseView":
        return cls(c.code, c.title, c.educator.name, enrolled, c.educator.display, Policy.of(c))


@dataclass
class HistoryView:
    at: datetime
    actor: str
    from_: str | None
    to: str
    note: str | None


BOOKED = ("approved", "completed")  # sessions that happen(ed): they show their meeting link


@dataclass
class RequestView:
    id: int
    slot: int
    course: str
    student: str
    educator: str
    status: str
    message: str | None
    reason: str | None
    link: str | None
    notes: str | None
    start: datetime
    end: datetime
    created: datetime
    updated: datetime
    replaces: int | None = None
    replaced_by: int | None = None
    waitlist_position: int | None = None
    waitlist_length: int | None = None
    attendance: str | None = None
    rating: dict | None = None  # {stars, comment}: seen by the student, the educator, admins
    history: list[HistoryView] | None = None

    @classmethod
    def of(cls, r: Request, place: tuple[int, int] | None = None,
           proposal: int | None = None) -> "RequestView":
        """``place``: (position, length) on the slot's waitlist; ``proposal``: a pending
        request that would replace this one. A booked session without a link of its own
        shows its slot's (SPEC §7.4: it follows the slot's link)."""
        s = r.slot
        position, length = place or (None, None)
        link = r.link or (s.link if r.status in BOOKED else None)
        return cls(
            r.id, s.id, s.course.code, r.student.name, s.educator.name, r.status,
            r.message, r.reason, link, r.notes, from_db(s.starts_at),
            from_db(s.ends_at), from_db(r.created_at), from_db(r.updated_at),
            r.replaces_id, r.replaced_by_id or proposal, position, length, r.attendance,
            None if r.rating is None else {"stars": r.rating, "comment": r.rating_comment},
        )


@dataclass
class SlotView:
    id: int
    course: str
    educator: str
    start: datetime
    end: datetime
    capacity: int
    booked: int
    status: str
    notes: str | None
    link: str | None
    ended: bool = False
    educator_display: str | None = None
    educator_email: str | None = None
    requests: list[RequestView] | None = field(default=None)

    @classmethod
    def of(cls, s: Slot, now: datetime) -> "SlotView":
        if s.cancelled_at is not None:
            status = "cancelled"
        elif s.booked >= s.capacity:
            status = "booked"
        else:
            status = "available"
        end = from_db(s.ends_at)
        return cls(
            s.id, s.course.code, s.educator.name, from_db(s.starts_at), end, s.capacity,
            s.booked, status, s.notes, s.link, end <= now, s.educator.display, s.educator.email,
        )


@dataclass
class NotificationView:
    id: int
    kind: str
    request: int | None
    slot: int | None
    text: str
    created: datetime
    read: bool

    @classmethod
    def of(cls, n: Notification) -> "NotificationView":
        return cls(
            n.id, n.kind, n.request_id, n.slot_id, n.text, from_db(n.created_at),
            n.read_at is not None,
        )
