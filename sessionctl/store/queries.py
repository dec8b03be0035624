"""Every prepared query, declared here and nowhere else, and the joined selects they build on.

A ``Prepared`` query has its SQL written by Peewee once per kind of database and replayed with
each call's values (``store/prepared.py`` explains the trick and its one limit: a value Peewee
adds by itself, such as an insert's field default, is recorded with the SQL; no model has a
callable default, and ``tests/test_prepared.py`` keeps it so). Declaring them all here keeps
the trick in one room: ``prime()`` writes every one of them while a writer waits for its turn,
and a change of Peewee's major version (pinned in ``pyproject.toml``) has one module to check.

Values are bound as the driver takes them: ids, text, numbers and naive UTC datetimes
(``store/edge.py``'s ``to_db``), never model instances.
"""

from __future__ import annotations

from sessionctl.statuses import ACTIVE, APPROVED, PENDING, UNDECIDED
from sessionctl.store._peewee import peewee as pw
from sessionctl.store.models import (
    Course, Enrollment, Event, History, Hook, Lease, Notification, Request, Slot, User,
)
from sessionctl.store.prepared import Prepared

# -- joined selects: a view never triggers one query per row --------------------------------------


def slots() -> pw.ModelSelect:
    educator = User.alias()
    return (
        Slot.select(Slot, Course, educator)
        .join(Course, on=Slot.course)
        .switch(Slot)
        .join(educator, on=Slot.educator)
    )


def _requests(columns) -> pw.ModelSelect:
    """Requests joined to their slot, course, educator and student; ``columns(educator,
    student)`` says what to select of them."""
    educator = User.alias()
    student = User.alias()
    return (
        Request.select(*columns(educator, student))
        .join(Slot, on=Request.slot)
        .join(Course, on=Slot.course)
        .switch(Slot)
        .join(educator, on=Slot.educator)
        .switch(Request)
        .join(student, on=Request.student)
    )


def requests() -> pw.ModelSelect:
    return _requests(lambda educator, student: (Request, Slot, Course, educator, student))


def request_rows() -> pw.ModelSelect:
    """``requests()`` joined the same way, with only what a list shows of the slot, course and
    people (``views.RequestView``): Peewee builds five models a row, and a list of 10,000 spends
    most of its time building them, so it builds them small. Not for rules: they read more."""
    return _requests(lambda educator, student: (
        Request, Slot.id, Slot.starts_at, Slot.ends_at, Slot.link, Slot.course, Slot.educator,
        Course.id, Course.code, educator.id, educator.name, student.id, student.name))


def event_rows() -> pw.ModelSelect:
    """``requests()`` joined the same way, with only what a calendar event reads, for
    ``.tuples()`` (``domain/calendar.py``'s ``plain_rows`` names the columns): a feed for every
    user reads tens of thousands of rows, and building five models a row was most of its time."""
    return _requests(lambda educator, student: (
        Request.id, Request.status, Request.replaces, Request.replaced_by, Request.student,
        Request.slot, Request.message, Request.notes, Request.reason, Request.link,
        Request.updated_at, Slot.starts_at, Slot.ends_at, Slot.notes, Slot.link, Slot.updated_at,
        Slot.created_at, Slot.cancelled_at, Slot.capacity, Slot.educator, Course.code,
        Course.title, educator.name, educator.display, educator.email, student.name,
        student.display, student.email))


def raw(query) -> list[tuple]:
    """A select's rows as the database driver gives them, without Peewee's conversions
    (SQLite's date-times stay text, which ``edge.from_db`` reads): for tens of thousands of
    rows, the conversions cost more than the query."""
    return query.model._meta.database.execute(query).fetchall()


def courses() -> pw.ModelSelect:
    educator = User.alias()
    return Course.select(Course, educator).join(educator, on=Course.educator)


def _literal(states: tuple[str, ...]) -> pw.SQL:
    return pw.SQL("(" + ", ".join(f"'{state}'" for state in states) + ")")


# The live requests as the partial indexes of migration 6 name them: a query that looks them
# up by time states its status in these very words (a literal, not a bound value), so both
# backends see that such an index holds every row it wants.
LIVE_UNDECIDED = Request.status.in_(_literal(UNDECIDED))
LIVE_APPROVED = Request.status == pw.SQL(f"'{APPROVED}'")

# -- by id ------------------------------------------------------------------------------------------

REQUEST = Prepared(lambda id: requests().where(Request.id == id).limit(1))
SLOT = Prepared(lambda id: slots().where(Slot.id == id).limit(1))
USER = Prepared(lambda id: User.select().where(User.id == id).limit(1))
ENROLLED = Prepared(lambda course, student: Enrollment.select(Enrollment.id).where(
    Enrollment.course == course, Enrollment.student == student).limit(1))


def request(request_id: int) -> Request | None:
    """One request joined as ``requests()`` joins it, or None."""
    return REQUEST.first(id=request_id)


def slot(slot_id: int) -> Slot | None:
    """One slot joined as ``slots()`` joins it, or None."""
    return SLOT.first(id=slot_id)


# -- a request's life: ``domain/transitions.py`` ----------------------------------------------------

_SWAPS: dict[tuple, Prepared] = {}  # one compare-and-swap per set of changed columns


def swap(request_id: int, current: str, changes: dict) -> int:
    """``UPDATE requests SET … WHERE id = ? AND status = current``: the rows changed (0 or 1)."""
    columns = tuple(sorted(changes))
    query = _SWAPS.get(columns)
    if query is None:
        query = _SWAPS[columns] = Prepared(lambda id, was, **values: Request.update(**values)
                                           .where(Request.id == id, Request.status == was))
    return query.execute(id=request_id, was=current, **changes)


CREATE_REQUEST = Prepared(
    lambda slot, student, status, message, link, notes, waitlist, replaces, now: Request.insert(
        slot=slot, student=student, status=status, message=message, link=link, notes=notes,
        waitlist=waitlist, replaces=replaces, created_at=now, updated_at=now))
HISTORY = Prepared(lambda request, at, actor, from_status, to_status, note: History.insert(
    request=request, at=at, actor=actor, from_status=from_status, to_status=to_status, note=note))
FREE_SEAT = Prepared(lambda id: Slot.update(booked=Slot.booked - 1).where(
    Slot.id == id, Slot.booked > 0))
TAKE_SEAT = Prepared(lambda id: Slot.update(booked=Slot.booked + 1).where(
    Slot.id == id, Slot.booked < Slot.capacity, Slot.cancelled_at.is_null()))
SEATS = Prepared(lambda id: Slot.select(
    Slot.id, Slot.booked, Slot.capacity, Slot.cancelled_at, Slot.starts_at).where(Slot.id == id))
# a slot's pending (or waiting) requests in the order they came: ids only
LINE = Prepared(lambda slot, status: Request.select(Request.id).where(
    Request.slot == slot, Request.status == status).order_by(Request.created_at, Request.id))
# the student's pending, approved or waiting request for a slot (one at most: the schema)
ACTIVE_REQUEST = Prepared(lambda slot, student: Request.select().where(
    Request.slot == slot, Request.student == student, Request.status.in_(ACTIVE)).limit(1))
# by the slot times each request carries (migration 5): no join to find a clash
OVERLAP = Prepared(lambda student, start, end, besides: Request.select(Request.id).where(
    Request.student == student, Request.status == APPROVED, Request.starts_at < end,
    Request.ends_at > start, Request.id != besides).limit(1))
# the pending proposal to move a booking
PROPOSAL = Prepared(lambda replaces: Request.select().where(
    Request.replaces == replaces, Request.status == PENDING).limit(1))

# -- notifications and mail ------------------------------------------------------------------------


def _notification(once: bool) -> Prepared:
    def build(user, kind, request, slot, text, created_at, mail_data):
        query = Notification.insert(user=user, kind=kind, request=request, slot=slot, text=text,
                                    created_at=created_at, mail_data=mail_data)
        return (query.on_conflict(action="NOTHING") if once else query).as_rowcount()
    return Prepared(build)


# a notification, and one the schema allows only once (INSERT … ON CONFLICT DO NOTHING)
NOTIFY = {False: _notification(False), True: _notification(True)}
MARK_SENT = Prepared(lambda id, at: Notification.update(mail_state="sent", sent_at=at).where(
    Notification.id == id, Notification.mail_state == "queued"))
RENEW_LEASE = Prepared(lambda name, owner, until: Lease.update(expires_at=until).where(
    Lease.name == name, Lease.owner == owner))

# -- event hooks (docs/reference/meeting-rooms-and-hooks.md#event-hooks) ---------------------------

# whether a hook of this name is registered: an event is recorded only for one that is
HOOK = Prepared(lambda name: Hook.select(Hook.name).where(Hook.name == name).limit(1))
RECORD_EVENT = Prepared(lambda kind, at, request, booking, payload: Event.insert(
    kind=kind, at=at, request=request, booking=booking, payload=payload, state="queued",
    attempts=0).as_rowcount())
MARK_DELIVERED = Prepared(lambda id, at: Event.update(state="delivered", delivered_at=at).where(
    Event.id == id, Event.state == "queued"))
MARK_FAILED = Prepared(lambda id, attempts, next_at, error: Event.update(
    attempts=attempts, next_at=next_at, error=error).where(Event.id == id, Event.state == "queued"))
