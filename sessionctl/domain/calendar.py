"""The one place a booking becomes a calendar event: for ``request export --ics``, the feeds
(``domain/feeds.py``) and the invitations the mails carry (``domain/mail.py``) alike, so an
event has the same UID, SEQUENCE and content wherever it turns up
(``docs/reference/calendars.md``). ``sessionctl/ics.py`` writes the events as iCalendar.

- **A booking chain is one event.** A moved booking's requests form a chain (each
  ``replaces`` the one before, which handed over to it: ``replaced_by``); the chain is one
  event, shown as its newest request, under the UID of its first request and the store's
  random id. SEQUENCE counts the chain's history rows since the first request was sent:
  approval, a move, a new link, cancellation and completion each raise it.
- **Never-booked requests stay out.** A request that was never approved (pending or waiting,
  then rejected, cancelled or expired) is in no calendar: only requests approved at some time
  (their status, or a history row into ``approved``) make events.
- **Group slots** (capacity > 1): a student's event names only that student and the educator;
  anyone else (the educator, an admin) sees one event per slot, under a UID from the slot,
  listing its booked students as attendees. Its SEQUENCE counts the history rows of the slot's
  requests; it is cancelled once the slot is, or once none of its students is booked any more.
- **Invitations**: what a notification about a booking carries, frozen when it is queued
  (``invitation``): ``REQUEST`` for an approved booking, ``CANCEL`` for a cancelled one, and
  nothing for a request never approved, for a booking that a move replaced (a ``CANCEL``
  under the chain's UID would delete the moved event) or for a completed one.
"""

from __future__ import annotations

from datetime import datetime

from sessionctl._plain import Record
from sessionctl.domain.texts import shown_name
from sessionctl.statuses import APPROVED, CANCELLED, EXPORTED, SESSIONS
from sessionctl.store import queries
from sessionctl.store.edge import from_db
from sessionctl.store.models import History, Request


class EventView(Record):
    """One calendar event, as plain data (``ics.calendar`` writes it)."""

    _fields = ("uid", "sequence", "status", "start", "end", "summary", "description", "link",
               "organizer", "attendees", "created", "updated", "transparent")

    def __init__(self, uid: str, sequence: int, status: str, start: datetime, end: datetime,
                 summary: str, description: str, link: str | None,
                 organizer: tuple[str, str | None], attendees: list[tuple[str, str | None]],
                 created: datetime, updated: datetime, transparent: bool = False):
        self.uid, self.sequence, self.status = uid, sequence, status  # CONFIRMED or CANCELLED
        self.start, self.end = start, end
        self.summary, self.description, self.link = summary, description, link
        self.organizer, self.attendees = organizer, attendees  # (name, e-mail or None)
        self.created, self.updated = created, updated
        self.transparent = transparent  # free time (an open slot in a feed), not a session

    def frozen(self) -> dict:
        """As JSON-ready data (what a queued notification keeps)."""
        data = {k: getattr(self, k) for k in self._fields}
        for key in ("start", "end", "created", "updated"):
            data[key] = data[key].isoformat()
        return data

    @classmethod
    def thawed(cls, data: dict) -> "EventView":
        data = dict(data)
        for key in ("start", "end", "created", "updated"):
            data[key] = datetime.fromisoformat(data[key])
        data["organizer"] = tuple(data["organizer"])
        data["attendees"] = [tuple(a) for a in data["attendees"]]
        return cls(**data)


def chain_uid(first: int, store: str) -> str:
    return f"request-{first}-{store}@sessionctl"


def slot_uid(slot_id: int, store: str) -> str:
    return f"slot-{slot_id}-{store}@sessionctl"


def group(slot) -> bool:
    return slot.capacity > 1


# -- which requests are sessions ------------------------------------------------------------------


def parts(ids, size: int = 500):
    """``ids`` in lists short enough for one IN (…) on every database (a select of ids: as
    it is, for one IN (SELECT …))."""
    from sessionctl.store._peewee import peewee as pw

    if isinstance(ids, pw.Node):
        return [ids]
    ids = list(ids)
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def ever_booked(ids) -> set[int]:
    """The ids among ``ids`` of requests that were approved at some time."""
    return {i for part in parts(ids) for (i,) in queries.raw(History.select(History.request).where(
        History.request.in_(part), History.to_status == APPROVED).distinct())}


def links(known: dict[int, tuple]) -> dict[int, tuple]:
    """``{id: (replaces, replaced_by)}`` for the given requests and every request before them
    in their chains (loaded as needed: a few queries, however long the chains)."""
    links = dict(known)
    wanted = {p for p, _ in links.values() if p is not None and p not in links}
    while wanted:
        found = {i: (p, n) for part in parts(wanted) for i, p, n in Request.select(
            Request.id, Request.replaces, Request.replaced_by).where(Request.id.in_(part)).tuples()}
        links.update(found)
        wanted = {p for p, _ in found.values() if p is not None and p not in links}
    return links


def chain(request_id: int, links: dict[int, tuple]) -> list[int]:
    """The ids of a booking chain's requests, first to ``request_id`` (each handed over to
    the next)."""
    ids = [request_id]
    before = links[request_id][0]
    while before is not None and before in links and links[before][1] == ids[0]:
        ids.insert(0, before)
        before = links[before][0]
    return ids


def _history_counts(ids) -> dict[int, int]:
    import peewee as pw

    return {i: n for part in parts(ids) for i, n in queries.raw(
        History.select(History.request, pw.fn.COUNT(History.id))
        .where(History.request.in_(part)).group_by(History.request))}


# -- rows without models --------------------------------------------------------------------------


class _Course:
    __slots__ = ("code", "title")

    def __init__(self, *values):
        self.code, self.title = values


class _Person:
    __slots__ = ("id", "name", "display", "email")

    def __init__(self, *values):
        self.id, self.name, self.display, self.email = values


class _Slot:
    __slots__ = ("id", "starts_at", "ends_at", "notes", "link", "updated_at", "created_at",
                 "cancelled_at", "capacity", "educator_id", "educator", "course")

    def __init__(self, *values):
        (self.id, self.starts_at, self.ends_at, self.notes, self.link, self.updated_at,
         self.created_at, self.cancelled_at, self.capacity, self.educator_id, self.educator,
         self.course) = values


class _Request:
    __slots__ = ("row", "id", "status", "replaces_id", "replaced_by_id", "student_id", "slot_id",
                 "message", "notes", "reason", "link", "updated_at", "student", "slot")

    def __init__(self, row, student, slot):
        self.row, self.student, self.slot = row, student, slot
        (self.id, self.status, self.replaces_id, self.replaced_by_id, self.student_id,
         self.slot_id, self.message, self.notes, self.reason, self.link,
         self.updated_at) = row[:11]


def plain_rows(query) -> list:
    """The rows of a ``queries.event_rows()`` select as plain requests shaped as the models
    are (``r.slot.educator.email``), each slot, course and person made once; each request
    keeps its ``row`` (the tuple) for a feed's digest. Values are as the database driver
    gives them, without Peewee's conversions (SQLite's date-times are text, which
    ``from_db`` reads)."""
    people: dict[int, _Person] = {}
    slots: dict[int, _Slot] = {}
    made = []
    for row in queries.raw(query):
        slot = slots.get(row[5])
        if slot is None:
            educator_id = row[19]
            educator = people.get(educator_id) or people.setdefault(
                educator_id, _Person(educator_id, *row[22:25]))
            slot = slots[row[5]] = _Slot(row[5], *row[11:20], educator,
                                         _Course(row[20], row[21]))
        student = people.get(row[4]) or people.setdefault(row[4], _Person(row[4], *row[25:28]))
        made.append(_Request(row, student, slot))
    return made


def _created(ids) -> dict:
    return {i: at for part in parts(ids) for i, at in queries.raw(Request.select(
        Request.id, Request.created_at).where(Request.id.in_(part)))}


# -- events ---------------------------------------------------------------------------------------


def events(rows, viewer_id: int, store: str, *, cancelled: bool = True) -> list[EventView]:
    """The events of joined request rows (``queries.requests()``) as ``viewer_id`` sees them:
    one per booking chain (its newest request among ``rows``), or one per group slot for
    anyone but its students; never a request never approved. ``cancelled=False`` leaves out
    cancelled events."""
    return Sessions(rows, store).events(viewer_id, cancelled=cancelled)


class Sessions:
    """What the events of many rows need, looked up in a few queries for them all (a feed
    for every user reads the store once): ``events(viewer)`` then picks a viewer's."""

    def __init__(self, rows, store: str, among=None):
        """``among``: a select of the ids of ``rows`` (or more), which the look-ups use in one
        IN (SELECT …) each instead of lists of ids (a feed for every user has tens of
        thousands of rows)."""
        rows = [r for r in rows if r.status in EXPORTED]
        self.store = store
        self.chains = links({r.id: (r.replaces_id, r.replaced_by_id) for r in rows})
        booked = ever_booked(among if among is not None else [r.id for r in rows])
        self.newest = [r for r in rows if r.replaced_by_id is None and r.id in booked]
        self.made = {r.id: chain(r.id, self.chains) for r in self.newest}

        def looked_up(find, ids: set) -> dict:  # those of ``among`` in one query, the rest by id
            if among is None:
                return find(ids)
            return {**find(among), **find(ids - {r.id for r in rows})}

        self.counts = looked_up(_history_counts, {m for ids in self.made.values() for m in ids})
        self.created = looked_up(_created, {ids[0] for ids in self.made.values()})
        self.groups: dict[str, EventView] = {}  # a group slot's UID -> its event, made when wanted
        self.looked: set[int] = set()  # the group slots looked up

    def events(self, viewer_id: int, *, cancelled: bool = True, rows=None) -> list[EventView]:
        """``viewer_id``'s events of the rows (or of ``rows``, a part of them)."""
        own, slots = self._split(viewer_id, self.newest if rows is None else rows)
        found = [_booking_event(r, chain_uid(ids[0], self.store),
                                max(sum(self.counts.get(m, 1) for m in ids) - 1, 0),
                                from_db(self.created[ids[0]]), viewer_id) for r, ids in own]
        found += self._slot_events(slots)
        found.sort(key=lambda e: (e.start, e.uid))
        return [e for e in found if cancelled or e.status != "CANCELLED"]

    def inputs(self, viewer_id: int, rows) -> list:
        """What ``events(viewer_id, rows=rows)`` is made of (``plain_rows`` rows): each
        booking's row and its chain's ids, history counts and start, and each group slot's
        event. A feed's digest is taken of it, so an unchanged feed builds no event."""
        own, slots = self._split(viewer_id, rows)
        return ([(r.row, ids, [self.counts.get(m, 1) for m in ids], self.created[ids[0]])
                 for r, ids in own]
                + [e._values() for e in self._slot_events(slots)])

    def _split(self, viewer_id: int, rows) -> tuple[list, dict]:
        """The viewer's own bookings (with their chains' ids), and the group slots they see
        as one event each."""
        own, slots = [], {}
        for r in rows:
            if group(r.slot) and r.student_id != viewer_id:
                slots[r.slot_id] = r.slot
            else:
                own.append((r, self.made[r.id]))
        return own, slots

    def _slot_events(self, slots: dict) -> list[EventView]:
        if not slots:
            return []
        wanted = [s for i, s in slots.items() if i not in self.looked]
        self.looked.update(slots)
        self.groups.update((e.uid, e) for e in _slot_events(wanted, self.store))
        return [self.groups[u] for u in (slot_uid(i, self.store) for i in slots) if u in self.groups]


def _booking_event(request: Request, uid: str, sequence: int, created: datetime,
                   viewer_id: int) -> EventView:
    slot, student = request.slot, request.student
    educator, course = slot.educator, slot.course
    if viewer_id == student.id:
        summary = f"{course.code} ({course.title}) with {shown_name(educator)}"
    elif viewer_id == educator.id:
        summary = f"{course.code} ({course.title}) with {shown_name(student)}"
    else:
        summary = f"{course.code} ({course.title}): {shown_name(student)} with {shown_name(educator)}"
    facts = [
        ("Course", f"{course.code} {course.title}"),
        ("Educator", shown_name(educator)),
        ("Student", shown_name(student)),
        ("Message", request.message),
        ("Notes", request.notes),
        ("Slot notes", slot.notes),
        ("Reason", request.reason),  # only a cancelled session has one
        ("Request", f"{request.id} (sessionctl request show {request.id})"),
    ]
    return EventView(
        uid=uid, sequence=sequence,
        status="CANCELLED" if request.status == CANCELLED else "CONFIRMED",
        start=from_db(slot.starts_at), end=from_db(slot.ends_at), summary=summary,
        description="\n".join(f"{k}: {v}" for k, v in facts if v),
        link=request.link or slot.link,
        organizer=(shown_name(educator), educator.email),
        attendees=[(shown_name(student), student.email)],
        created=created,
        # the slot's notes are in the description too: a change to them is a change here
        updated=max(from_db(request.updated_at), from_db(slot.updated_at)),
    )


def _slot_events(slots, store: str) -> list[EventView]:
    """One event per group slot, for its educator: its booked students as attendees."""
    if not slots:
        return []
    rows = [r for part in parts(s.id for s in slots)
            for r in queries.requests().where(Request.slot.in_(part)).order_by(Request.id)]
    booked = ever_booked(r.id for r in rows)
    counts = _history_counts(r.id for r in rows)
    made = []
    for slot in slots:
        mine = [r for r in rows if r.slot_id == slot.id]
        seated = [r for r in mine if r.status in SESSIONS]
        if not any(r.id in booked for r in mine):
            continue
        educator, course = slot.educator, slot.course
        names = ", ".join(shown_name(r.student) for r in seated) or "nobody"
        facts = [("Course", f"{course.code} {course.title}"), ("Educator", shown_name(educator)),
                 ("Students", names), ("Slot notes", slot.notes),
                 ("Slot", f"{slot.id} (sessionctl slot show {slot.id})")]
        made.append(EventView(
            uid=slot_uid(slot.id, store),
            sequence=max(sum(counts.get(r.id, 0) for r in mine) - 1, 0),
            status="CANCELLED" if slot.cancelled_at is not None or not seated else "CONFIRMED",
            start=from_db(slot.starts_at), end=from_db(slot.ends_at),
            summary=f"{course.code} ({course.title}): group session, {len(seated)} of "
                    f"{slot.capacity} booked",
            description="\n".join(f"{k}: {v}" for k, v in facts if v),
            link=slot.link,
            organizer=(shown_name(educator), educator.email),
            attendees=[(shown_name(r.student), r.student.email) for r in seated],
            created=from_db(slot.created_at),
            updated=max([from_db(slot.updated_at)] + [from_db(r.updated_at) for r in mine]),
        ))
    return made


# -- what a notification carries ------------------------------------------------------------------


def first_of(request: Request) -> tuple[int, list[int]]:
    """The first request of the chain ``request`` belongs to (following ``replaces``: a move
    proposal belongs to the booking it would move), and the chain's ids."""
    ids = [request.id]
    before = request.replaces_id
    while before is not None:
        ids.insert(0, before)
        before = Request.select(Request.replaces).where(Request.id == before).scalar()
    return ids[0], ids


def invitation(request: Request, recipient_id: int, store: str) -> dict | None:
    """The iTIP message (``{"method", "event"}``) a notification to ``recipient_id`` about
    ``request`` carries, as it stands now (the caller freezes it), or None."""
    if request.status not in (APPROVED, CANCELLED) or request.replaced_by_id is not None:
        return None
    if group(request.slot) and recipient_id != request.student_id:
        found = _slot_events([request.slot], store)
    else:
        found = Sessions([request], store).events(recipient_id)
    if not found:
        return None
    event = found[0]
    return {"method": "CANCEL" if event.status == "CANCELLED" else "REQUEST",
            "event": event.frozen()}
