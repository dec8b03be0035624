"""Slots: creation (one or a series, all or nothing), overlap, listing, update, cancel, delete."""

from __future__ import annotations

import operator
import secrets
from bisect import bisect_left
from datetime import date, datetime, timedelta, tzinfo
from functools import reduce
from typing import TYPE_CHECKING

from sessionctl._plain import Frozen
from sessionctl.domain import access
from sessionctl.domain.checks import (
    KEEP, check_choices, check_code, check_limit, check_link, check_text,
)
from sessionctl.domain.context import Context
from sessionctl.domain.requests import tell_changed
from sessionctl.domain.requests import views as request_views
from sessionctl.domain.transitions import offer_free_seats, settle_full, transition
from sessionctl.domain.views import SlotView
from sessionctl.errors import Conflict, UsageError
from sessionctl.statuses import (
    ACTIVE, ALL, APPROVED, AVAILABLE, BOOKED, CANCELLED, SESSIONS, SLOT_STATES,
)
from sessionctl.store import queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Course, Request, Slot, User
from sessionctl.timeparse import EARLIEST, LATEST, RANGE, midnight

if TYPE_CHECKING:
    from sessionctl.domain.busy import BusyConfig
    from sessionctl.domain.series import Series
    from sessionctl.domain.window import Window

# Series expansion and window checks (sessionctl.domain.series, .window) serve creating and
# moving slots only: imported where those run, so a listing never loads them
# (``tests/test_startup.py``).


def _check_future(windows: list[Window], now: datetime, tz: tzinfo) -> None:
    """A slot starts in the future when it is created or moved (else exit 5)."""
    past = [w for w in windows if w.start <= now]
    if past:
        raise Conflict(
            f"a slot must start in the future; {past[0].label(tz)} has already begun"
            + (f" (and {len(past) - 1} more)" if len(past) > 1 else "")
        )


def _reload(slot_id: int, now: datetime) -> SlotView:
    return SlotView.of(queries.slots().where(Slot.id == slot_id).get(), now)


def check_capacity(capacity: int) -> int:
    if not 1 <= capacity <= 100:
        raise UsageError(f"capacity must be from 1 to 100, not {capacity}")
    return capacity


def conflicts(
    educator: User, windows: list[Window], tz: tzinfo, exclude: int | None = None, *,
    buffer: int | None = None, batch: str | None = None,
) -> list[tuple[Window, str]]:
    """Every window that overlaps one of the educator's live slots or another window, or comes
    closer to one of those slots than the larger of their courses' buffers (``buffer``: the
    windows' course's, in minutes; ``docs/reference/meeting-rooms-and-hooks.md#buffers``).
    The windows themselves, and the slots of ``batch`` (made by the same ``slot add``), are
    exempt from each other's buffers.

    One bounded index scan over the whole range, then a sweep in Python (benchmarks/README.md).
    """
    import peewee as pw

    from sessionctl.domain.window import MAX_LENGTH, Window

    found: list[tuple[Window, str]] = []
    ordered = sorted(windows, key=lambda w: (w.start, w.end))
    for before, after in zip(ordered, ordered[1:]):
        if after.start < before.end:
            found.append((after, f"overlaps another slot of this series ({before.label(tz)})"))
    own = timedelta(minutes=buffer or 0)
    widest = max(own, timedelta(minutes=Course.select(pw.fn.MAX(Course.buffer)).where(
        Course.educator == educator).scalar() or 0))
    lo, hi = ordered[0].start - widest, max(w.end for w in ordered) + widest
    query = Slot.select(Slot.id, Slot.starts_at, Slot.ends_at, Slot.batch, Course.buffer).join(
        Course, on=Slot.course).where(
        Slot.educator == educator,
        Slot.cancelled_at.is_null(),
        Slot.starts_at < to_db(hi),
        Slot.starts_at > to_db(lo - MAX_LENGTH),
        Slot.ends_at > to_db(lo),
    )
    if exclude is not None:
        query = query.where(Slot.id != exclude)
    existing = sorted(
        ((Window(from_db(starts), from_db(ends)), slot_id,
          timedelta(0) if batch is not None and made_with == batch
          else max(own, timedelta(minutes=theirs or 0)))
         for slot_id, starts, ends, made_with, theirs in query.tuples()),
        key=lambda found: (found[0].start, found[1]),
    )
    starts = [other.start for other, _, _ in existing]
    for window in ordered:
        # slots last at most MAX_LENGTH, so none starting earlier than this can reach the window
        first = bisect_left(starts, window.start - MAX_LENGTH - widest)
        for index in range(first, len(existing)):
            other, slot_id, gap = existing[index]
            if other.start >= window.end + widest:
                break
            if window.start < other.end + gap and other.start < window.end + gap:
                what = f"slot {slot_id} ({other.label(tz)})"
                if window.start < other.end and other.start < window.end:
                    found.append((window, f"overlaps {what}"))
                else:
                    found.append((window, f"comes within the {int(gap.total_seconds() // 60)}"
                                          f"-minute buffer of {what}"))
    return found


def raise_conflicts(found: list[tuple[Window, str]], single: bool, tz: tzinfo) -> None:
    if not found:
        return
    if single:
        raise Conflict(f"the slot {found[0][1]}")
    raise Conflict(f"{len(found)} slot(s) of the series overlap; nothing was created:",
                   details=[f"{w.label(tz)} {what}" for w, what in found])


def add(
    ctx: Context,
    course: str,
    start: datetime,
    *,
    end: datetime | None = None,
    duration: timedelta | None = None,
    plan: Series | None = None,
    capacity: int = 1,
    notes: str | None = None,
    link: str | None = None,
    busy: BusyConfig | None = None,
) -> list[SlotView]:
    """``slot add``: one slot or a series from [start, end or start + duration).

    Who may add to the course is settled before the series is expanded, so a student or a
    course that does not exist never costs an expansion; ``add_slots`` checks it again under
    the write lock.
    """
    if (end is None) == (duration is None):
        raise UsageError("give exactly one of --end and --duration")
    check_capacity(capacity)
    check_code(course)
    with ctx.read():
        access.course(ctx, course, manage=True)
    from sessionctl.domain import series

    windows = series.windows(start, end if end is not None else start + duration, ctx.tz,
                             series.Series() if plan is None else plan)
    return add_slots(ctx, course, windows, capacity=capacity, notes=notes, link=link, busy=busy)


def add_slots(
    ctx: Context,
    course: str,
    windows: list[Window],
    *,
    capacity: int = 1,
    notes: str | None = None,
    link: str | None = None,
    busy: BusyConfig | None = None,
) -> list[SlotView]:
    """Create every window as a slot of ``course`` in one transaction, or none of them; with
    ``busy``, none that overlaps a busy time of the educator's calendars, read before the lock
    (``docs/reference/busy-times.md``)."""
    from sessionctl.domain.window import MAX_SERIES, check_window

    check_capacity(capacity)
    notes = check_text("notes", notes) or None
    link = check_link(link)
    windows = [check_window(w.start, w.end) for w in windows]
    if not windows:
        raise UsageError("the series has no slots")
    if len(windows) > MAX_SERIES:
        raise UsageError(f"the series has {len(windows)} slots; the limit is {MAX_SERIES}")
    code = check_code(course)
    with ctx.read():  # refusals without the lock; the educator whose slots these are
        educator_id = access.course(ctx, code, manage=True).educator.id
    busy_times = _busy(ctx, busy, educator_id, windows)
    with ctx.write(people=(educator_id,)):  # only their slots can collide with these
        owner_course = access.course(ctx, code, manage=True)
        educator = owner_course.educator
        now = ctx.now()
        _check_future(windows, now, ctx.tz)
        raise_conflicts(conflicts(educator, windows, ctx.tz, buffer=owner_course.buffer),
                        single=len(windows) == 1, tz=ctx.tz)
        if busy is not None:
            if educator.id != educator_id:
                raise _changed_meanwhile(f"course {code}")
            if busy_times is not None:
                busy_times.refuse(windows, ctx.tz, single=len(windows) == 1)
        stamp = to_db(now)
        # the slots of one split or series share a token: exempt from each other's buffers
        batch = secrets.token_hex(8) if len(windows) > 1 else None
        rows = [
            {
                "course": owner_course.id, "educator": educator.id,
                "starts_at": to_db(w.start), "ends_at": to_db(w.end), "capacity": capacity,
                "booked": 0, "notes": notes, "link": link, "batch": batch,
                "created_at": stamp, "updated_at": stamp,
            }
            for w in sorted(windows, key=lambda w: w.start)
        ]
        for chunk in range(0, len(rows), 500):
            Slot.insert_many(rows[chunk:chunk + 500]).execute()
        # live slots of one educator never overlap, so their starts name the new rows
        ids = dict(Slot.select(Slot.starts_at, Slot.id).where(
            Slot.educator == educator, Slot.cancelled_at.is_null(),
            Slot.starts_at.in_([row["starts_at"] for row in rows]),
        ).tuples())
        made = (
            Slot(**{**row, "course": owner_course, "educator": educator}, id=ids[row["starts_at"]])
            for row in rows
        )
        return [SlotView.of(slot, now) for slot in made]


def _busy(ctx: Context, config: BusyConfig | None, educator_id: int, windows: list[Window]):
    """The educator's busy times over ``windows``, read (and maybe fetched) before the lock."""
    if config is None:
        return None
    from sessionctl.domain import busy

    return busy.read(ctx, config, educator_id, windows)


def _changed_meanwhile(what: str) -> Conflict:
    """Busy times were read for a slot or an educator that another writer changed before the
    lock was taken: nothing is checked against the wrong calendar, nothing changes."""
    return Conflict(f"{what} changed while the educator's busy times were read; nothing changed",
                    hint="run the command again")


def list_slots(
    ctx: Context,
    course: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
    educator: str | None = None,
    limit: int | None = None,
) -> list[SlotView]:
    """The slots the actor can see, soonest first; ``status`` one state or several
    (``available,cancelled``), at most ``limit`` of them."""
    states, limit = check_choices("status", status, SLOT_STATES + (ALL,)), check_limit(limit)
    with ctx.read():
        now = ctx.now()
        query = access.scope(ctx, queries.slots().order_by(Slot.starts_at, Slot.id), "slot")
        if course is not None:
            query = query.where(Slot.course == access.course(ctx, check_code(course)).id)
        if educator is not None:
            query = query.where(Slot.educator == access.educator(ctx, educator))
        if start:
            query = query.where(Slot.starts_at >= to_db(start))
        if end:
            query = query.where(Slot.starts_at < to_db(end))
        live = Slot.cancelled_at.is_null()
        if states is None:
            if ctx.role == "student":
                query = query.where(live, Slot.booked < Slot.capacity, Slot.starts_at > to_db(now))
            else:
                query = query.where(live)
                if start is None:
                    query = query.where(Slot.ends_at > to_db(now))
        elif ALL not in states:
            each = {AVAILABLE: live & (Slot.booked < Slot.capacity),
                    BOOKED: live & (Slot.booked >= Slot.capacity), CANCELLED: ~live}
            wanted = [each[state] for state in states]
            query = query.where(reduce(operator.or_, wanted))
        if limit is not None:
            query = query.limit(limit)
        return [SlotView.of(s, now) for s in query]


class Week(Frozen):
    """``slot calendar``: the seven local days of a week and the slots starting in it; for an
    educator looking at their own week, the busy times of their calendars (``busy``:
    (start, end) pairs, no summaries); for an empty week, the Monday of the next week that has
    one (``later``), if any."""

    _fields = ("days", "slots", "busy", "later")

    def __init__(self, days: list[date], slots: list[SlotView], busy: list | None = None,
                 later: date | None = None):
        self.__dict__.update(days=days, slots=slots, busy=busy or [], later=later)


WEEK_WORDS = {"this": 0, "next": 1, "prev": -1, "previous": -1, "last": -1}
MAX_WEEKS_AWAY = 5200  # a hundred years either way


def weeks_away(text: str | None) -> int | None:
    """``--week next|prev|+N|-N``: how many weeks from this one; None for any other text (a
    WHEN). Beyond a hundred years is exit 2."""
    if text is None:
        return None
    word = text.strip().lower()
    if word in WEEK_WORDS:
        return WEEK_WORDS[word]
    if word[:1] in "+-" and word[1:].isascii() and word[1:].isdigit():
        if len(word) > 6 or int(word[1:]) > MAX_WEEKS_AWAY:
            raise UsageError(f"--week {text.strip()!r} is too far away",
                             hint=f"at most {MAX_WEEKS_AWAY} weeks either way")
        return int(word)
    return None


def week(ctx: Context, when: datetime | None = None, course: str | None = None,
         away: int = 0, busy: BusyConfig | None = None) -> Week:
    """The Monday-to-Sunday week (display zone) holding ``when`` (default: now), ``away``
    weeks on, with every slot the actor may see in ``slot list`` that starts in it, whatever
    its status."""
    day = (when or ctx.now()).astimezone(ctx.tz).date() + timedelta(weeks=away)
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=offset) for offset in range(7)]
    start, end = midnight(monday, ctx.tz), midnight(monday + timedelta(days=7), ctx.tz)
    if start < EARLIEST or end > LATEST:
        raise UsageError(f"the week of {monday.isoformat()} is out of range", hint=RANGE)
    blocks = []
    if busy is not None:
        from sessionctl.domain import busy as busy_times

        blocks = busy_times.blocks(ctx, busy, start, end)
    found = list_slots(ctx, course, start, end, ALL)
    if found:
        return Week(days, found, blocks)
    following = list_slots(ctx, course, end, None, ALL, limit=1)
    later = following[0].start.astimezone(ctx.tz).date() if following else None
    return Week(days, [], blocks, later and later - timedelta(days=later.weekday()))


def show_slot(ctx: Context, slot_id: int) -> SlotView:
    with ctx.read():
        slot = access.slot(ctx, slot_id)
        view = SlotView.of(slot, ctx.now())
        requests = access.scope(ctx, queries.requests(), "request")
        view.requests = request_views(requests.where(Request.slot == slot).order_by(Request.id))
        return view


def update_slot(
    ctx: Context,
    slot_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    duration: timedelta | None = None,
    capacity: int | None = None,
    notes=KEEP,
    link=KEEP,
    busy: BusyConfig | None = None,
) -> SlotView:
    """``slot update``; a new time is checked against the educator's busy times (``busy``),
    read before the lock for the time the slot would have (``docs/reference/busy-times.md``)."""
    from sessionctl.domain.window import Window, check_window

    if end is not None and duration is not None:
        raise UsageError("give --end or --duration, not both")
    if capacity is not None:
        check_capacity(capacity)
    changes: dict = {}
    if notes is not KEEP:
        changes["notes"] = check_text("notes", notes) or None
    if link is not KEEP:
        changes["link"] = check_link(link)

    def moved(slot: Slot) -> tuple[Window, Window]:
        old = Window(from_db(slot.starts_at), from_db(slot.ends_at))
        new_start = start or old.start
        if end is not None:
            new_end = end
        elif duration is not None:
            new_end = new_start + duration
        else:
            new_end = new_start + (old.end - old.start)
        return old, check_window(new_start, new_end)

    busy_times, checked = None, None
    if busy is not None and (start or end or duration):
        with ctx.read():
            slot = access.slot(ctx, slot_id, manage=True)
            old, checked = moved(slot)
            educator_id = slot.educator_id
        if checked != old:
            busy_times = _busy(ctx, busy, educator_id, [checked])
    with ctx.write():
        slot = access.slot(ctx, slot_id, manage=True)
        if slot.cancelled_at is not None:
            raise Conflict(f"slot {slot_id} is cancelled")
        old, window = moved(slot)
        ended = old.end <= ctx.now()
        if ended and (window != old or capacity is not None):
            raise Conflict(f"slot {slot_id} has ended; its time and seats can no longer change")
        moving = []
        if window != old:
            _check_future([window], ctx.now(), ctx.tz)
            raise_conflicts(
                conflicts(slot.educator, [window], ctx.tz, exclude=slot.id,
                          buffer=slot.course.buffer, batch=slot.batch), single=True, tz=ctx.tz
            )
            if busy is not None:  # read before the lock, never under it
                if window != checked or slot.educator_id != educator_id:
                    raise _changed_meanwhile(f"slot {slot_id}")
                if busy_times is not None:
                    busy_times.refuse([window], ctx.tz, single=True)
            moving = _check_movable(slot, window)
            changes["starts_at"], changes["ends_at"] = to_db(window.start), to_db(window.end)
        if capacity is not None:
            if capacity < slot.booked:
                raise Conflict(
                    f"slot {slot_id} has {slot.booked} approved seat(s); capacity cannot drop to {capacity}"
                )
            changes["capacity"] = capacity
        changes = {k: v for k, v in changes.items() if getattr(slot, k) != v}
        if changes:
            changes["updated_at"] = to_db(ctx.now())
            Slot.update(**changes).where(Slot.id == slot.id).execute()
            _move_requests(ctx, moving, old, window)
            settle_full(ctx, slot.id)
            offer_free_seats(ctx, slot.id, freed=max(0, changes.get("capacity", 0) - slot.capacity))
            _tell_booked(ctx, slot.id, changes)
        return _reload(slot.id, ctx.now())


def _check_movable(slot: Slot, window) -> list[Request]:
    """The slot's live requests, which move with it; exit 5 naming every booked student who
    would then hold two overlapping sessions."""
    from sessionctl.domain.transitions import overlapping_session

    moving = list(queries.requests().where(Request.slot == slot, Request.status.in_(ACTIVE))
                  .order_by(Request.id))
    clashes = []
    for request in moving:
        if request.status == APPROVED:
            clash = overlapping_session(request.student, window.start, window.end,
                                        besides=request.id)
            if clash is not None:
                clashes.append(f"{request.student.name} (request {request.id}) has approved "
                               f"session {clash.id} in slot {clash.slot.id} then")
    if clashes:
        raise Conflict(f"slot {slot.id} cannot move: " + "; ".join(clashes),
                       hint="move or cancel those sessions first, or pick another time")
    return moving


def _move_requests(ctx: Context, moving: list[Request], old, window) -> None:
    """Each live request follows its slot (the schema copies the new times onto it): a
    history row (its calendar event's SEQUENCE rises, its UID stays), and its student told."""
    from sessionctl.domain import texts
    from sessionctl.domain.transitions import record

    note = (f"slot moved from {old.start:%Y-%m-%d %H:%M} to {window.start:%Y-%m-%d %H:%M} UTC")
    if moving:  # a moved booking was updated now (its `updated`, its event's LAST-MODIFIED)
        Request.update(updated_at=to_db(ctx.now())).where(
            Request.id.in_([r.id for r in moving])).execute()
    for request in moving:
        request.slot.starts_at, request.slot.ends_at = to_db(window.start), to_db(window.end)
        record(ctx, request, request.status, request.status, note, "moved", [request.student],
               text=texts.slot_moved(ctx.actor, request, old.start, window.start))
        ctx.effects.append((request.student.name, request.id, request.status, "moved", True))


def _tell_booked(ctx: Context, slot_id: int, changes: dict) -> None:
    """A new link (``docs/reference/lifecycle.md#changes-that-reach-booked-sessions``) reaches the sessions that follow the slot's link (approved, and
    completed ones, whose calendar event shows it too), and new notes every approved session
    of the slot; each student is told."""
    booked = queries.requests().where(Request.slot == slot_id, Request.status == APPROVED)
    if "link" in changes:
        following = queries.requests().where(
            Request.slot == slot_id, Request.status.in_(SESSIONS),
            Request.link.is_null())
        tell_changed(ctx, list(following), {"link": changes["link"]})
    if "notes" in changes:
        tell_changed(ctx, list(booked), {"slot notes": changes["notes"]})


def cancel_slot(ctx: Context, slot_id: int, reason: str | None) -> SlotView:
    reason = check_text("reason", reason) or None
    with ctx.write():
        slot = access.slot(ctx, slot_id, manage=True)
        if slot.cancelled_at is not None:
            raise Conflict(f"slot {slot_id} is already cancelled")
        if from_db(slot.ends_at) <= ctx.now():
            raise Conflict(f"slot {slot_id} has already ended")
        Slot.update(cancelled_at=to_db(ctx.now()), updated_at=to_db(ctx.now())).where(
            Slot.id == slot.id
        ).execute()  # first: nobody on its waitlist is offered a seat of a cancelled slot
        affected = queries.requests().where(Request.slot == slot, Request.status.in_(ACTIVE))
        for request in list(affected):
            transition(
                ctx, request, CANCELLED, reason=reason or "slot cancelled",
                notify_kind="slot_cancelled", recipients=[request.student],
            )
        return _reload(slot.id, ctx.now())


def delete_slot(ctx: Context, slot_id: int) -> SlotView:
    with ctx.write():
        slot = access.slot(ctx, slot_id, manage=True)
        view = SlotView.of(slot, ctx.now())
        if Request.select().where(Request.slot == slot).exists():
            raise Conflict(
                f"slot {slot_id} has requests and cannot be deleted",
                hint=f"cancel it instead: sessionctl slot cancel {slot_id}",
            )
        Slot.delete().where(Slot.id == slot.id).execute()
        return view
