"""Plain data the domain returns and ``output/`` prints.

Field names are the JSON fields of ``docs/reference/output.md#json``; the field lists live in
``output/json.py``. Extra fields
(educator_display, ended, …) serve the tables only.
"""

from __future__ import annotations

from datetime import datetime

from sessionctl._plain import Record
from sessionctl.domain.policy import Policy
from sessionctl.statuses import AVAILABLE, BOOKED, CANCELLED, SESSIONS
from sessionctl.store.edge import from_db
from sessionctl.store.models import Course, Notification, Request, Slot, User


class UserView(Record):
    """A user; ``busy`` (their busy sources, URLs masked) only where they or an admin look
    at one user (``user show``, ``user set``), else None."""

    _fields = ("name", "role", "display", "email", "tz", "busy")

    def __init__(self, name: str, role: str, display: str | None, email: str | None,
                 tz: str | None, busy: list[str] | None = None):
        self.name = name
        self.role = role
        self.display = display
        self.email = email
        self.tz = tz
        self.busy = busy

    @classmethod
    def of(cls, u: User) -> "UserView":
        return cls(u.name, u.role, u.display, u.email, u.tz)


class CourseView(Record):
    _fields = ("code", "title", "educator", "enrolled", "educator_display", "policy", "buffer",
               "link_template")

    def __init__(self, code: str, title: str, educator: str, enrolled: int,
                 educator_display: str | None = None, policy: Policy | None = None,
                 buffer: int | None = None, link_template: str | None = None):
        self.code = code
        self.title = title
        self.educator = educator
        self.enrolled = enrolled
        self.educator_display = educator_display
        self.policy = Policy() if policy is None else policy
        self.buffer = buffer  # minutes (docs/reference/meeting-rooms-and-hooks.md)
        self.link_template = link_template

    @classmethod
    def of(cls, c: Course, enrolled: int) -> "CourseView":
        return cls(c.code, c.title, c.educator.name, enrolled, c.educator.display, Policy.of(c),
                   c.buffer, c.link_template)


class HistoryView(Record):
    _fields = ("at", "actor", "from_", "to", "note")

    def __init__(self, at: datetime, actor: str, from_: str | None, to: str, note: str | None):
        self.at = at
        self.actor = actor
        self.from_ = from_
        self.to = to
        self.note = note


class RequestView(Record):
    _fields = ("id", "slot", "course", "student", "educator", "status", "message", "reason", "link",
              "notes", "start", "end", "created", "updated", "replaces", "replaced_by",
              "waitlist_position", "waitlist_length", "attendance", "rating", "history")

    def __init__(self, id: int, slot: int, course: str, student: str, educator: str, status: str,
                 message: str | None, reason: str | None, link: str | None, notes: str | None,
                 start: datetime, end: datetime, created: datetime, updated: datetime,
                 replaces: int | None = None, replaced_by: int | None = None,
                 waitlist_position: int | None = None, waitlist_length: int | None = None,
                 attendance: str | None = None, rating: dict | None = None,
                 history: list[HistoryView] | None = None):
        self.id = id
        self.slot = slot
        self.course = course
        self.student = student
        self.educator = educator
        self.status = status
        self.message = message
        self.reason = reason
        self.link = link
        self.notes = notes
        self.start = start
        self.end = end
        self.created = created
        self.updated = updated
        self.replaces = replaces
        self.replaced_by = replaced_by
        self.waitlist_position = waitlist_position
        self.waitlist_length = waitlist_length
        self.attendance = attendance
        self.rating = rating  # {stars, comment}: seen by the student, the educator, admins
        self.history = history

    @classmethod
    def of(cls, r: Request, place: tuple[int, int] | None = None,
           proposal: int | None = None) -> "RequestView":
        """``place``: (position, length) on the slot's waitlist; ``proposal``: a pending
        request that would replace this one. A booked session without a link of its own
        shows its slot's (it follows the slot's link:
    ``docs/reference/lifecycle.md#changes-that-reach-booked-sessions``)."""
        s = r.slot
        position, length = place or (None, None)
        link = r.link or (s.link if r.status in SESSIONS else None)
        return cls(
            r.id, s.id, s.course.code, r.student.name, s.educator.name, r.status,
            r.message, r.reason, link, r.notes, from_db(s.starts_at),
            from_db(s.ends_at), from_db(r.created_at), from_db(r.updated_at),
            r.replaces_id, r.replaced_by_id or proposal, position, length, r.attendance,
            None if r.rating is None else {"stars": r.rating, "comment": r.rating_comment},
        )


class SlotView(Record):
    _fields = ("id", "course", "educator", "start", "end", "capacity", "booked", "status", "notes",
              "link", "ended", "educator_display", "educator_email", "requests")

    def __init__(self, id: int, course: str, educator: str, start: datetime, end: datetime,
                 capacity: int, booked: int, status: str, notes: str | None, link: str | None,
                 ended: bool = False, educator_display: str | None = None,
                 educator_email: str | None = None, requests: list[RequestView] | None = None):
        self.id = id
        self.course = course
        self.educator = educator
        self.start = start
        self.end = end
        self.capacity = capacity
        self.booked = booked
        self.status = status
        self.notes = notes
        self.link = link
        self.ended = ended
        self.educator_display = educator_display
        self.educator_email = educator_email
        self.requests = requests

    @classmethod
    def of(cls, s: Slot, now: datetime) -> "SlotView":
        if s.cancelled_at is not None:
            status = CANCELLED
        elif s.booked >= s.capacity:
            status = BOOKED
        else:
            status = AVAILABLE
        end = from_db(s.ends_at)
        return cls(
            s.id, s.course.code, s.educator.name, from_db(s.starts_at), end, s.capacity,
            s.booked, status, s.notes, s.link, end <= now, s.educator.display, s.educator.email,
        )


class NotificationView(Record):
    _fields = ("id", "kind", "request", "slot", "text", "created", "read")

    def __init__(self, id: int, kind: str, request: int | None, slot: int | None, text: str,
                 created: datetime, read: bool):
        self.id = id
        self.kind = kind
        self.request = request
        self.slot = slot
        self.text = text
        self.created = created
        self.read = read

    @classmethod
    def of(cls, n: Notification) -> "NotificationView":
        return cls(
            n.id, n.kind, n.request_id, n.slot_id, n.text, from_db(n.created_at),
            n.read_at is not None,
        )
