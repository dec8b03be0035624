"""The rules of docs/reference/lifecycle.md and input.md, exercised in-process through the domain layer on the test clock.

Out of scope here: series (--repeat/--rrule/--split), relative WHEN forms, DST refusal, the
slot calendar, remind, notify send and request export.

Every refusal is checked twice: the error class (and its exit code, docs/reference/exit-codes.md) and that the
store is byte-for-byte the same afterwards (``snapshot``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from datetime import datetime, timedelta, timezone

import peewee
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from conftest import snapshot
from sessionctl.domain import courses, inbox, requests, slots, users
from sessionctl.domain.context import Context, find_actor
from sessionctl.domain.window import Window, check_window
from sessionctl.errors import Conflict, NotAllowed, NotFound, SessionctlError, UsageError
from sessionctl.store import open_store
from sessionctl.store.models import Request, Slot, User


@pytest.fixture
def db(backend_db):
    """Every domain test runs on SQLite and, when SESSIONCTL_TEST_PG is set, on PostgreSQL."""
    return backend_db


UTC = timezone.utc
T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)  # where the ``clock`` fixture starts
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
CODES = {UsageError: 2, NotFound: 3, NotAllowed: 4, Conflict: 5}
PEOPLE = ("root", "ada", "bob", "alan", "kat", "eve")


class Booking:
    """Small helpers over the ``world`` store, acting through ``domain`` on the test clock."""

    def __init__(self, world, domain, clock):
        self.world, self.domain, self.clock = world, domain, clock

    def ctx(self, name: str) -> Context:
        return self.domain(name)

    def slot(self, start=T0 + 24 * H, length=H, *, who="ada", course="MATH101", capacity=1,
             notes=None, link=None):
        created = slots.add_slots(
            self.ctx(who), course, [Window(start, start + length)],
            capacity=capacity, notes=notes, link=link,
        )
        assert len(created) == 1
        return created[0]

    def send(self, student: str, slot_id: int, message: str | None = None):
        return requests.send(self.ctx(student), slot_id, message)

    def approve(self, request_id: int, who="ada", link=None, notes=None):
        return requests.approve(self.ctx(who), request_id, link, notes)

    def request(self, request_id: int):
        return requests.show(self.ctx("root"), request_id)

    def status(self, request_id: int) -> str:
        return self.request(request_id).status

    def history(self, request_id: int) -> list[tuple]:
        return [(h.actor, h.from_, h.to, h.note) for h in self.request(request_id).history]

    def slot_view(self, slot_id: int):
        return slots.show_slot(self.ctx("root"), slot_id)

    def notes_of(self, name: str) -> list[tuple]:
        """(kind, request, slot) of every notification of ``name``, newest first; reads nothing."""
        return [(n.kind, n.request, n.slot)
                for n in inbox.inbox(self.ctx(name), everything=True)]

    def inboxes(self) -> dict[str, list[tuple]]:
        return {name: self.notes_of(name) for name in PEOPLE}

    def new_notes(self, before: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
        """Notifications added since ``before`` (an ``inboxes()`` result), per user."""
        after = self.inboxes()
        added = {}
        for name in PEOPLE:
            fresh = after[name][: len(after[name]) - len(before[name])]
            assert after[name][len(fresh):] == before[name]
            if fresh:
                added[name] = fresh
        return added

    def history_rows(self) -> int:
        return len(snapshot(self.world.db)["history"])

    def refused(self, error, fn, *args, **kwargs):
        """``fn`` raises exactly ``error`` (with its exit code) and changes nothing."""
        before = snapshot(self.world.db)
        with pytest.raises(error) as info:
            fn(*args, **kwargs)
        assert type(info.value) is error
        assert info.value.code == CODES[error]
        assert snapshot(self.world.db) == before
        return info.value


@pytest.fixture
def b(world, domain, clock) -> Booking:
    return Booking(world, domain, clock)


def window(start, length=H) -> list[Window]:
    return [Window(start, start + length)]


# -- slot rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [timedelta(0), -MIN, -H])
def test_a_slot_must_end_after_it_starts(length):
    with pytest.raises(UsageError) as info:
        check_window(T0 + 24 * H, T0 + 24 * H + length)
    assert info.value.code == 2


def test_a_slot_lasts_at_most_twelve_hours():
    start = T0 + 24 * H
    assert check_window(start, start + 12 * H) == Window(start, start + 12 * H)
    assert check_window(start, start + MIN) == Window(start, start + MIN)
    with pytest.raises(UsageError) as info:
        check_window(start, start + 12 * H + MIN)
    assert info.value.code == 2


@pytest.mark.parametrize("start", [T0, T0 - MIN, T0 - 48 * H])
def test_a_slot_cannot_start_now_or_in_the_past(b, start):
    err = b.refused(Conflict, slots.add_slots, b.ctx("ada"), "MATH101", window(start))
    assert "future" in err.message


def test_a_slot_one_minute_ahead_is_accepted(b):
    view = b.slot(start=T0 + MIN)
    assert (view.start, view.end, view.status, view.booked) == (T0 + MIN, T0 + MIN + H, "available", 0)


@pytest.mark.parametrize("capacity", [0, -1, 101, 1000])
def test_capacity_outside_1_to_100_is_refused(b, capacity):
    b.refused(UsageError, slots.add_slots, b.ctx("ada"), "MATH101", window(T0 + 24 * H),
              capacity=capacity)


@pytest.mark.parametrize("capacity", [1, 100])
def test_capacity_1_and_100_are_accepted(b, capacity):
    assert b.slot(capacity=capacity).capacity == capacity


def test_capacity_defaults_to_one(b):
    view = slots.add_slots(b.ctx("ada"), "MATH101", window(T0 + 24 * H))[0]
    assert view.capacity == 1


@pytest.mark.parametrize(
    "offset, length",
    [(0, H), (30, H), (-30, H), (15, 30 * MIN), (-30, 2 * H)],
    ids=["same", "overlaps-end", "overlaps-start", "inside", "encloses"],
)
def test_overlapping_slots_of_one_educator_are_refused_naming_the_slot(b, offset, length):
    existing = b.slot(start=T0 + 24 * H)
    err = b.refused(
        Conflict, slots.add_slots, b.ctx("ada"), "MATH101",
        window(T0 + 24 * H + offset * MIN, length),
    )
    assert f"slot {existing.id}" in err.message


def test_an_overlap_is_refused_even_in_another_course_of_the_same_educator(b):
    courses.add_course(b.ctx("ada"), "MATH102", "More maths", None)
    existing = b.slot(start=T0 + 24 * H)
    err = b.refused(Conflict, slots.add_slots, b.ctx("ada"), "MATH102",
                    window(T0 + 24 * H + 30 * MIN))
    assert f"slot {existing.id}" in err.message


def test_a_slot_overlapping_two_existing_slots_is_refused(b):
    first = b.slot(start=T0 + 24 * H)
    second = b.slot(start=T0 + 25 * H)
    err = b.refused(Conflict, slots.add_slots, b.ctx("ada"), "MATH101",
                    window(T0 + 24 * H + 30 * MIN))
    assert f"slot {first.id}" in err.message or f"slot {second.id}" in err.message


def test_touching_slots_are_fine(b):
    middle = b.slot(start=T0 + 24 * H)
    before = b.slot(start=T0 + 23 * H)
    after = b.slot(start=T0 + 25 * H)
    assert (before.end, after.start) == (middle.start, middle.end)
    assert [s.id for s in slots.list_slots(b.ctx("ada"))] == [before.id, middle.id, after.id]


def test_a_cancelled_slot_does_not_block_a_new_one(b):
    old = b.slot(start=T0 + 24 * H)
    slots.cancel_slot(b.ctx("ada"), old.id, None)
    new = b.slot(start=T0 + 24 * H)
    assert new.id != old.id and new.status == "available"


def test_other_educators_slots_do_not_collide(b):
    mine = b.slot(start=T0 + 24 * H)
    theirs = b.slot(start=T0 + 24 * H, who="bob", course="PHYS1")
    assert (theirs.start, theirs.end) == (mine.start, mine.end)
    assert theirs.educator == "bob" and mine.educator == "ada"


def test_an_admin_adds_a_slot_for_the_course_educator(b):
    view = b.slot(who="root")
    assert (view.educator, view.course) == ("ada", "MATH101")
    err = b.refused(Conflict, slots.add_slots, b.ctx("ada"), "MATH101", window(T0 + 24 * H))
    assert f"slot {view.id}" in err.message


def test_only_the_owner_or_an_admin_adds_slots(b):
    b.refused(NotAllowed, slots.add_slots, b.ctx("alan"), "MATH101", window(T0 + 24 * H))
    b.refused(NotFound, slots.add_slots, b.ctx("bob"), "MATH101", window(T0 + 24 * H))
    b.refused(NotFound, slots.add_slots, b.ctx("eve"), "MATH101", window(T0 + 24 * H))
    b.refused(NotFound, slots.add_slots, b.ctx("ada"), "NOPE", window(T0 + 24 * H))


# -- status derivation ----------------------------------------------------------------------------


def test_slot_status_follows_seats_and_cancellation_and_ended_is_separate(b):
    shared = b.slot(start=T0 + 24 * H, capacity=2)
    spare = b.slot(start=T0 + 26 * H)
    gone = b.slot(start=T0 + 28 * H)
    view = b.slot_view(shared.id)
    assert (view.status, view.booked, view.ended) == ("available", 0, False)

    r1, r2 = b.send("alan", shared.id), b.send("kat", shared.id)
    b.approve(r1.id)
    assert (b.slot_view(shared.id).status, b.slot_view(shared.id).booked) == ("available", 1)
    b.approve(r2.id)
    assert (b.slot_view(shared.id).status, b.slot_view(shared.id).booked) == ("booked", 2)
    slots.cancel_slot(b.ctx("ada"), gone.id, "ill")
    assert b.slot_view(gone.id).status == "cancelled"

    root = b.ctx("root")
    assert [s.id for s in slots.list_slots(root, status="available")] == [spare.id]
    assert [s.id for s in slots.list_slots(root, status="booked")] == [shared.id]
    assert [s.id for s in slots.list_slots(root, status="cancelled")] == [gone.id]
    assert [s.id for s in slots.list_slots(root, status="all")] == [shared.id, spare.id, gone.id]

    b.clock.advance(hours=26)  # shared (24-25) has ended; spare (26-27) has not
    view = b.slot_view(shared.id)
    assert (view.status, view.ended) == ("booked", True)
    assert (b.slot_view(spare.id).status, b.slot_view(spare.id).ended) == ("available", False)
    assert (b.slot_view(gone.id).status, b.slot_view(gone.id).ended) == ("cancelled", False)
    assert [s.id for s in slots.list_slots(root, status="booked")] == [shared.id]
    # an educator's default list hides ended and cancelled slots
    assert [s.id for s in slots.list_slots(b.ctx("ada"))] == [spare.id]


def test_an_unknown_status_filter_is_a_usage_error(b):
    b.refused(UsageError, slots.list_slots, b.ctx("ada"), status="full")
    b.refused(UsageError, requests.list_requests, b.ctx("ada"), "done", None, None, None)


# -- request send ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["eve", "ada", "bob", "root"])
def test_only_enrolled_students_may_request(b, who):
    s = b.slot()
    b.refused(NotAllowed, b.send, who, s.id, "please")


def test_requesting_a_slot_that_does_not_exist_is_not_found(b):
    b.refused(NotFound, b.send, "alan", 999, None)


def test_a_request_is_pending_and_notifies_the_educator(b):
    s = b.slot()
    before = b.inboxes()
    r = b.send("alan", s.id, "can we go over limits?")
    assert (r.status, r.slot, r.student, r.educator, r.course, r.message) == (
        "pending", s.id, "alan", "ada", "MATH101", "can we go over limits?")
    assert (r.created, r.updated) == (T0, T0)
    assert b.new_notes(before) == {"ada": [("request", r.id, s.id)]}
    assert b.history(r.id) == [("alan", None, "pending", None)]
    assert b.request(r.id).history[0].at == T0


def test_a_cancelled_slot_cannot_be_requested(b):
    s = b.slot()
    slots.cancel_slot(b.ctx("ada"), s.id, None)
    b.refused(Conflict, b.send, "alan", s.id, None)


@pytest.mark.parametrize("advance", [24 * H, 24 * H + 30 * MIN, 26 * H])
def test_a_started_or_ended_slot_cannot_be_requested(b, advance):
    s = b.slot(start=T0 + 24 * H)
    b.clock.advance(seconds=advance.total_seconds())
    b.refused(Conflict, b.send, "alan", s.id, None)


def test_a_full_slot_cannot_be_requested(b):
    s = b.slot()
    b.approve(b.send("alan", s.id).id)
    err = b.refused(Conflict, b.send, "kat", s.id, None)
    assert "full" in err.message


def test_a_duplicate_pending_request_is_refused(b):
    s = b.slot()
    first = b.send("alan", s.id)
    err = b.refused(Conflict, b.send, "alan", s.id, "again")
    assert str(first.id) in err.message


def test_a_request_for_a_slot_already_approved_for_you_is_refused(b):
    s = b.slot(capacity=3)
    first = b.send("alan", s.id)
    b.approve(first.id)
    err = b.refused(Conflict, b.send, "alan", s.id, None)
    assert str(first.id) in err.message


@pytest.mark.parametrize("end_state", ["rejected", "cancelled"])
def test_after_a_rejection_or_cancellation_the_student_may_ask_again(b, end_state):
    s = b.slot()
    first = b.send("alan", s.id)
    if end_state == "rejected":
        requests.reject(b.ctx("ada"), first.id, "busy")
    else:
        requests.cancel(b.ctx("alan"), first.id, None)
    second = b.send("alan", s.id)
    assert second.id != first.id and second.status == "pending"


def test_a_request_overlapping_an_approved_session_is_refused(b):
    courses.enroll(b.ctx("bob"), "PHYS1", ["alan"], [])
    maths = b.slot(start=T0 + 24 * H)
    session = b.send("alan", maths.id)
    b.approve(session.id)
    physics = b.slot(start=T0 + 24 * H + 30 * MIN, who="bob", course="PHYS1")
    err = b.refused(Conflict, b.send, "alan", physics.id, None)
    assert str(session.id) in err.message
    # touching is not overlapping
    later = b.slot(start=T0 + 25 * H + 30 * MIN, who="bob", course="PHYS1")
    assert b.send("alan", later.id).status == "pending"


def test_a_pending_request_does_not_block_an_overlapping_request(b):
    courses.enroll(b.ctx("bob"), "PHYS1", ["alan"], [])
    maths = b.slot(start=T0 + 24 * H)
    physics = b.slot(start=T0 + 24 * H, who="bob", course="PHYS1")
    b.send("alan", maths.id)
    assert b.send("alan", physics.id).status == "pending"


def test_several_students_may_hold_pending_requests_for_one_slot(b):
    s = b.slot(capacity=1)
    r1, r2 = b.send("alan", s.id), b.send("kat", s.id)
    assert (r1.status, r2.status) == ("pending", "pending")
    view = b.slot_view(s.id)
    assert (view.status, view.booked) == ("available", 0)
    assert [r.id for r in view.requests] == [r1.id, r2.id]


# -- approve --------------------------------------------------------------------------------------


def test_approving_the_last_seat_rejects_the_other_pending_requests(b):
    s = b.slot(capacity=1, link="https://meet.example/room")
    r1, r2 = b.send("alan", s.id), b.send("kat", s.id)
    rows, before = b.history_rows(), b.inboxes()
    view = b.approve(r1.id, notes="bring the worksheet")
    assert (view.status, view.link, view.notes) == ("approved", "https://meet.example/room",
                                                     "bring the worksheet")
    loser = b.request(r2.id)
    assert (loser.status, loser.reason) == ("rejected", "slot is full")
    assert b.history(r1.id)[-1] == ("ada", "pending", "approved", "bring the worksheet")
    assert b.history(r2.id)[-1] == ("(system)", "pending", "rejected", "slot is full")
    assert b.history_rows() == rows + 2
    assert b.new_notes(before) == {
        "alan": [("approved", r1.id, s.id)],
        "kat": [("rejected", r2.id, s.id)],
    }
    slot = b.slot_view(s.id)
    assert (slot.status, slot.booked) == ("booked", 1)


def test_a_capacity_two_slot_takes_two_approvals(b):
    s = b.slot(capacity=2)
    courses.enroll(b.ctx("ada"), "MATH101", ["eve"], [])
    r1, r2, r3 = b.send("alan", s.id), b.send("kat", s.id), b.send("eve", s.id)
    before = b.inboxes()
    b.approve(r1.id)
    assert (b.status(r2.id), b.status(r3.id)) == ("pending", "pending")
    assert b.new_notes(before) == {"alan": [("approved", r1.id, s.id)]}
    assert (b.slot_view(s.id).status, b.slot_view(s.id).booked) == ("available", 1)
    before = b.inboxes()
    b.approve(r3.id)
    assert b.status(r2.id) == "rejected" and b.request(r2.id).reason == "slot is full"
    assert b.new_notes(before) == {"eve": [("approved", r3.id, s.id)],
                                   "kat": [("rejected", r2.id, s.id)]}
    assert (b.slot_view(s.id).status, b.slot_view(s.id).booked) == ("booked", 2)


def test_lowering_capacity_to_the_approved_seats_rejects_the_pending_as_a_filling_approval_does(b):
    s = b.slot(capacity=1)
    b.approve(b.send("alan", s.id).id)
    slots.update_slot(b.ctx("ada"), s.id, capacity=2)
    waiting = b.send("kat", s.id)
    before = b.inboxes()
    slots.update_slot(b.ctx("ada"), s.id, capacity=1)  # full again: kat can never be approved
    assert b.status(waiting.id) == "rejected" and b.request(waiting.id).reason == "slot is full"
    assert b.new_notes(before) == {"kat": [("rejected", waiting.id, s.id)]}
    err = b.refused(Conflict, b.approve, waiting.id)
    assert "rejected" in err.message


def test_approve_link_defaults_to_the_slot_link_and_may_be_overridden(b):
    s = b.slot(capacity=2, link="https://meet.example/default")
    r1, r2 = b.send("alan", s.id), b.send("kat", s.id)
    assert b.approve(r1.id).link == "https://meet.example/default"
    assert b.approve(r2.id, link="http://other.example/x").link == "http://other.example/x"
    plain = b.slot(start=T0 + 30 * H)
    assert b.approve(b.send("alan", plain.id).id).link is None


def test_an_admin_may_approve(b):
    s = b.slot()
    r = b.send("alan", s.id)
    assert b.approve(r.id, who="root").status == "approved"
    assert b.history(r.id)[-1] == ("root", "pending", "approved", None)


def test_a_student_may_not_approve_even_their_own_request(b):
    s = b.slot()
    r = b.send("alan", s.id)
    b.refused(NotAllowed, b.approve, r.id, "alan")
    b.refused(NotAllowed, requests.reject, b.ctx("alan"), r.id, None)
    b.refused(NotAllowed, requests.complete, b.ctx("alan"), r.id)


@pytest.mark.parametrize("who", ["bob", "kat", "eve"])
def test_a_request_of_someone_else_is_not_found(b, who):
    s = b.slot()
    r = b.send("alan", s.id)
    b.refused(NotFound, b.approve, r.id, who)
    b.refused(NotFound, requests.reject, b.ctx(who), r.id, None)
    b.refused(NotFound, requests.cancel, b.ctx(who), r.id, None)
    b.refused(NotFound, requests.complete, b.ctx(who), r.id)
    b.refused(NotFound, requests.show, b.ctx(who), r.id)


def test_approving_a_second_overlapping_session_for_one_student_is_refused(b):
    courses.enroll(b.ctx("bob"), "PHYS1", ["alan"], [])
    maths = b.slot(start=T0 + 24 * H)
    physics = b.slot(start=T0 + 24 * H + 30 * MIN, who="bob", course="PHYS1")
    first, second = b.send("alan", maths.id), b.send("alan", physics.id)
    b.approve(first.id)
    b.refused(Conflict, b.approve, second.id, "bob")
    assert b.status(second.id) == "pending"


def test_a_request_whose_slot_started_cannot_be_approved(b):
    s = b.slot(start=T0 + 24 * H)
    r = b.send("alan", s.id)
    b.clock.advance(hours=24)
    b.refused(Conflict, b.approve, r.id)


# -- the state machine ------------------------------------------------------------------------------

STATES = ("pending", "approved", "rejected", "cancelled", "completed")
ACTIONS = {
    "approve": lambda b, rid: requests.approve(b.ctx("ada"), rid, None, None),
    "reject": lambda b, rid: requests.reject(b.ctx("ada"), rid, "no"),
    "cancel": lambda b, rid: requests.cancel(b.ctx("alan"), rid, "changed my mind"),
    "complete": lambda b, rid: requests.complete(b.ctx("ada"), rid),
}
ALLOWED = {
    ("pending", "approve"): ("approved", "ada", None),
    ("pending", "reject"): ("rejected", "ada", "no"),
    ("pending", "cancel"): ("cancelled", "alan", "changed my mind"),
    ("approved", "complete"): ("completed", "ada", None),
    ("approved", "cancel"): ("cancelled", "alan", "changed my mind"),
}


def request_in(b: Booking, state: str) -> int:
    """A request of alan's for a slot 11:00-12:00 (clock 09:00), brought into ``state``."""
    s = b.slot(start=T0 + 2 * H)
    rid = b.send("alan", s.id).id
    if state in ("approved", "completed"):
        b.approve(rid)
    elif state == "rejected":
        requests.reject(b.ctx("ada"), rid, None)
    elif state == "cancelled":
        requests.cancel(b.ctx("ada"), rid, None)
    if state == "completed":
        b.clock.advance(hours=3)
        requests.complete(b.ctx("ada"), rid)
    assert b.status(rid) == state
    return rid


@pytest.mark.parametrize("state, action", list(itertools.product(STATES, ACTIONS)))
def test_request_state_machine(b, state, action):
    rid = request_in(b, state)
    if action == "complete" and state != "completed":
        b.clock.advance(hours=3)  # past the slot's end, so only the state decides
    if (state, action) in ALLOWED:
        to, actor, note = ALLOWED[(state, action)]
        rows = b.history_rows()
        view = ACTIONS[action](b, rid)
        assert view.status == to == b.status(rid)
        assert b.history_rows() == rows + 1
        assert b.history(rid)[-1] == (actor, state, to, note)
    else:
        err = b.refused(Conflict, ACTIONS[action], b, rid)
        assert state in err.message
        assert b.status(rid) == state


# -- cancel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor, told", [
    ("alan", ["ada"]), ("ada", ["alan"]), ("root", ["ada", "alan"]),
])
def test_cancelling_an_approved_request_frees_the_seat_and_tells_the_other_side(b, actor, told):
    s = b.slot()
    r = b.send("alan", s.id)
    b.approve(r.id)
    assert (b.slot_view(s.id).status, b.slot_view(s.id).booked) == ("booked", 1)
    before = b.inboxes()
    view = requests.cancel(b.ctx(actor), r.id, "something came up")
    assert (view.status, view.reason) == ("cancelled", "something came up")
    assert b.history(r.id)[-1] == (actor, "approved", "cancelled", "something came up")
    assert b.new_notes(before) == {name: [("cancelled", r.id, s.id)] for name in told}
    slot = b.slot_view(s.id)
    assert (slot.status, slot.booked) == ("available", 0)
    assert b.send("kat", s.id).status == "pending"


@pytest.mark.parametrize("actor, told", [
    ("alan", ["ada"]), ("ada", ["alan"]), ("root", ["ada", "alan"]),
])
def test_cancelling_a_pending_request_tells_the_other_side(b, actor, told):
    s = b.slot()
    r = b.send("alan", s.id)
    before = b.inboxes()
    requests.cancel(b.ctx(actor), r.id, None)
    assert b.status(r.id) == "cancelled"
    assert b.new_notes(before) == {name: [("cancelled", r.id, s.id)] for name in told}
    assert (b.slot_view(s.id).status, b.slot_view(s.id).booked) == ("available", 0)


# -- complete -------------------------------------------------------------------------------------


def test_a_session_is_completed_only_after_its_end(b):
    s = b.slot(start=T0 + 24 * H)
    r = b.send("alan", s.id)
    b.approve(r.id)
    b.clock.advance(hours=24, minutes=30)  # in the middle of the session
    b.refused(Conflict, requests.complete, b.ctx("ada"), r.id)
    b.clock.advance(minutes=29)  # one minute before the end
    b.refused(Conflict, requests.complete, b.ctx("ada"), r.id)
    b.clock.advance(minutes=2)
    before = b.inboxes()
    assert requests.complete(b.ctx("ada"), r.id).status == "completed"
    assert b.history(r.id)[-1] == ("ada", "approved", "completed", None)
    assert b.new_notes(before) == {"alan": [("completed", r.id, s.id)]}


def test_an_admin_may_complete(b):
    s = b.slot(start=T0 + 24 * H)
    r = b.send("alan", s.id)
    b.approve(r.id)
    b.clock.advance(hours=26)
    assert requests.complete(b.ctx("root"), r.id).status == "completed"


# -- history and notifications --------------------------------------------------------------------


def test_reject_is_recorded_and_tells_the_student(b):
    s = b.slot()
    r = b.send("alan", s.id)
    b.clock.advance(minutes=7)
    before, rows = b.inboxes(), b.history_rows()
    view = requests.reject(b.ctx("ada"), r.id, "I am away that day")
    assert (view.status, view.reason) == ("rejected", "I am away that day")
    assert b.history_rows() == rows + 1
    h = b.request(r.id).history
    assert [(x.actor, x.from_, x.to, x.note) for x in h] == [
        ("alan", None, "pending", None), ("ada", "pending", "rejected", "I am away that day")]
    assert h[-1].at == T0 + 7 * MIN
    assert b.new_notes(before) == {"alan": [("rejected", r.id, s.id)]}
    assert b.request(r.id).updated == T0 + 7 * MIN


def test_a_whole_lifecycle_writes_one_history_row_per_change(b):
    s = b.slot(start=T0 + 2 * H)
    rows = b.history_rows()
    r = b.send("alan", s.id, "hello")
    assert b.history_rows() == rows + 1
    b.clock.advance(minutes=10)
    b.approve(r.id, link="https://meet.example/a", notes="see you")
    assert b.history_rows() == rows + 2
    b.clock.advance(hours=3)
    requests.complete(b.ctx("ada"), r.id)
    assert b.history_rows() == rows + 3
    h = b.request(r.id).history
    assert [(x.at, x.actor, x.from_, x.to, x.note) for x in h] == [
        (T0, "alan", None, "pending", None),
        (T0 + 10 * MIN, "ada", "pending", "approved", "see you"),
        (T0 + 3 * H + 10 * MIN, "ada", "approved", "completed", None),
    ]


def test_inbox_is_newest_first_and_marks_what_it_shows_as_read(b):
    s1 = b.slot(start=T0 + 24 * H)
    s2 = b.slot(start=T0 + 26 * H)
    r1 = b.send("alan", s1.id)
    b.clock.advance(minutes=5)
    r2 = b.send("kat", s2.id)
    expected = [("request", r2.id, s2.id, False), ("request", r1.id, s1.id, False)]

    before = snapshot(b.world.db)
    peeked = inbox.inbox(b.ctx("ada"))
    assert [(n.kind, n.request, n.slot, n.read) for n in peeked] == expected
    assert [n.created for n in peeked] == [T0 + 5 * MIN, T0]
    assert snapshot(b.world.db) == before  # peeking reads nothing

    shown = inbox.inbox(b.ctx("ada"))
    assert [(n.kind, n.request, n.slot, n.read) for n in shown] == expected
    inbox.mark_read(b.ctx("ada"), shown)  # once they were written out
    assert inbox.inbox(b.ctx("ada")) == []  # now read
    assert inbox.inbox(b.ctx("alan")) == []  # alan was told nothing

    b.clock.advance(minutes=5)
    b.approve(r1.id)
    b.clock.advance(minutes=5)
    requests.cancel(b.ctx("alan"), r1.id, "sorry")
    unread = inbox.inbox(b.ctx("ada"))
    assert [(n.kind, n.request, n.read) for n in unread] == [("cancelled", r1.id, False)]
    inbox.mark_read(b.ctx("ada"), unread)
    everything = inbox.inbox(b.ctx("ada"), everything=True)
    assert [(n.kind, n.request, n.read) for n in everything] == [
        ("cancelled", r1.id, True), ("request", r2.id, True), ("request", r1.id, True)]
    assert [(n.kind, n.request) for n in inbox.inbox(b.ctx("alan"), everything=True)] == [
        ("approved", r1.id)]


def test_inbox_is_per_user(b):
    s = b.slot()
    b.send("alan", s.id)
    for name in ("bob", "kat", "eve", "root", "alan"):
        assert inbox.inbox(b.ctx(name), everything=True) == []


# -- slot update ----------------------------------------------------------------------------------


def test_update_start_alone_keeps_the_length(b):
    s = b.slot(start=T0 + 24 * H, length=90 * MIN)
    view = slots.update_slot(b.ctx("ada"), s.id, start=T0 + 30 * H)
    assert (view.start, view.end) == (T0 + 30 * H, T0 + 31 * H + 30 * MIN)
    assert (b.slot_view(s.id).start, b.slot_view(s.id).end) == (view.start, view.end)


def test_update_end_or_duration(b):
    s = b.slot(start=T0 + 24 * H)
    assert slots.update_slot(b.ctx("ada"), s.id, end=T0 + 26 * H).end == T0 + 26 * H
    view = slots.update_slot(b.ctx("ada"), s.id, start=T0 + 28 * H, duration=30 * MIN)
    assert (view.start, view.end) == (T0 + 28 * H, T0 + 28 * H + 30 * MIN)
    b.refused(UsageError, slots.update_slot, b.ctx("ada"), s.id, end=T0 + 29 * H,
              duration=H)
    b.refused(UsageError, slots.update_slot, b.ctx("ada"), s.id, end=T0 + 28 * H)
    b.refused(UsageError, slots.update_slot, b.ctx("ada"), s.id, duration=12 * H + MIN)
    b.refused(UsageError, slots.update_slot, b.ctx("ada"), s.id, capacity=0)
    b.refused(UsageError, slots.update_slot, b.ctx("ada"), s.id, capacity=101)


@pytest.mark.parametrize("state", ["pending", "approved"])
def test_moving_a_slot_with_live_requests_moves_them(b, state):
    s = b.slot(start=T0 + 24 * H, capacity=2)
    r = b.send("alan", s.id)
    if state == "approved":
        b.approve(r.id)
    moved = slots.update_slot(b.ctx("ada"), s.id, start=T0 + 30 * H)  # tests/test_reschedule.py
    assert moved.start == T0 + 30 * H
    longer = slots.update_slot(b.ctx("ada"), s.id, duration=2 * H)
    assert longer.end == T0 + 32 * H
    # what does not move the time is still fine
    view = slots.update_slot(b.ctx("ada"), s.id, notes="room 4", capacity=3,
                             link="https://meet.example/z")
    assert (view.notes, view.capacity, view.link) == ("room 4", 3, "https://meet.example/z")


@pytest.mark.parametrize("state", ["rejected", "cancelled"])
def test_a_slot_whose_requests_are_all_closed_may_move(b, state):
    s = b.slot(start=T0 + 24 * H)
    r = b.send("alan", s.id)
    if state == "rejected":
        requests.reject(b.ctx("ada"), r.id, None)
    else:
        requests.cancel(b.ctx("alan"), r.id, None)
    assert slots.update_slot(b.ctx("ada"), s.id, start=T0 + 30 * H).start == T0 + 30 * H


def test_capacity_below_the_approved_seats_is_refused(b):
    s = b.slot(capacity=3)
    b.approve(b.send("alan", s.id).id)
    b.approve(b.send("kat", s.id).id)
    b.refused(Conflict, slots.update_slot, b.ctx("ada"), s.id, capacity=1)
    view = slots.update_slot(b.ctx("ada"), s.id, capacity=2)
    assert (view.capacity, view.booked, view.status) == (2, 2, "booked")
    view = slots.update_slot(b.ctx("ada"), s.id, capacity=5)
    assert (view.capacity, view.booked, view.status) == (5, 2, "available")


def test_moving_a_slot_onto_another_is_refused_naming_it(b):
    other = b.slot(start=T0 + 24 * H)
    s = b.slot(start=T0 + 30 * H)
    err = b.refused(Conflict, slots.update_slot, b.ctx("ada"), s.id, start=T0 + 24 * H + 30 * MIN)
    assert f"slot {other.id}" in err.message
    err = b.refused(Conflict, slots.update_slot, b.ctx("ada"), other.id, end=T0 + 30 * H + MIN)
    assert f"slot {s.id}" in err.message
    # touching is fine, and a slot does not collide with itself
    assert slots.update_slot(b.ctx("ada"), s.id, start=T0 + 25 * H).start == T0 + 25 * H
    assert slots.update_slot(b.ctx("ada"), s.id, start=T0 + 25 * H + 30 * MIN).end == T0 + 26 * H + 30 * MIN


def test_moving_a_slot_across_two_others_is_refused(b):
    first = b.slot(start=T0 + 24 * H)
    second = b.slot(start=T0 + 25 * H)
    s = b.slot(start=T0 + 30 * H)
    err = b.refused(Conflict, slots.update_slot, b.ctx("ada"), s.id, start=T0 + 24 * H + 30 * MIN)
    assert f"slot {first.id}" in err.message or f"slot {second.id}" in err.message


def test_moving_a_slot_into_the_past_is_refused(b):
    s = b.slot(start=T0 + 24 * H)
    b.refused(Conflict, slots.update_slot, b.ctx("ada"), s.id, start=T0)
    b.refused(Conflict, slots.update_slot, b.ctx("ada"), s.id, start=T0 - H)


def test_a_cancelled_slot_cannot_be_updated(b):
    s = b.slot()
    slots.cancel_slot(b.ctx("ada"), s.id, None)
    b.refused(Conflict, slots.update_slot, b.ctx("ada"), s.id, notes="again")
    b.refused(Conflict, slots.update_slot, b.ctx("ada"), s.id, start=T0 + 48 * H)
    b.refused(Conflict, slots.cancel_slot, b.ctx("ada"), s.id, None)


def test_only_the_owner_or_an_admin_updates_cancels_or_deletes_a_slot(b):
    s = b.slot()
    for fn, args in [(slots.update_slot, {"notes": "x"}), (slots.cancel_slot, {"reason": None}),
                     (slots.delete_slot, {})]:
        b.refused(NotAllowed, fn, b.ctx("alan"), s.id, **args)
        b.refused(NotFound, fn, b.ctx("bob"), s.id, **args)
        b.refused(NotFound, fn, b.ctx("eve"), s.id, **args)
        b.refused(NotFound, fn, b.ctx("ada"), 999, **args)
    assert slots.update_slot(b.ctx("root"), s.id, notes="by admin").notes == "by admin"


# -- slot cancel and delete -----------------------------------------------------------------------


def test_cancelling_a_slot_cancels_its_live_requests_and_tells_each_student(b):
    courses.enroll(b.ctx("ada"), "MATH101", ["eve"], [])
    s = b.slot(capacity=3)
    approved, pending, rejected = b.send("alan", s.id), b.send("kat", s.id), b.send("eve", s.id)
    b.approve(approved.id)
    requests.reject(b.ctx("ada"), rejected.id, "no")
    before, rows = b.inboxes(), b.history_rows()
    view = slots.cancel_slot(b.ctx("ada"), s.id, "conference trip")
    assert (view.status, view.booked) == ("cancelled", 0)
    for r, was in ((approved, "approved"), (pending, "pending")):
        got = b.request(r.id)
        assert (got.status, got.reason) == ("cancelled", "conference trip")
        assert b.history(r.id)[-1] == ("ada", was, "cancelled", "conference trip")
    assert (b.status(rejected.id), b.request(rejected.id).reason) == ("rejected", "no")
    assert b.history_rows() == rows + 2
    assert b.new_notes(before) == {
        "alan": [("slot_cancelled", approved.id, s.id)],
        "kat": [("slot_cancelled", pending.id, s.id)],
    }


def test_a_slot_that_never_had_a_request_may_be_deleted(b):
    s = b.slot()
    assert slots.delete_slot(b.ctx("ada"), s.id).id == s.id
    b.refused(NotFound, slots.show_slot, b.ctx("ada"), s.id)
    other = b.slot()
    slots.delete_slot(b.ctx("root"), other.id)
    assert slots.list_slots(b.ctx("root"), status="all") == []


@pytest.mark.parametrize("state", ["pending", "approved", "rejected", "cancelled"])
def test_a_slot_that_ever_had_a_request_cannot_be_deleted(b, state):
    s = b.slot()
    r = b.send("alan", s.id)
    if state == "approved":
        b.approve(r.id)
    elif state == "rejected":
        requests.reject(b.ctx("ada"), r.id, None)
    elif state == "cancelled":
        requests.cancel(b.ctx("alan"), r.id, None)
    err = b.refused(Conflict, slots.delete_slot, b.ctx("ada"), s.id)
    assert "cancel" in (err.hint or "")
    b.refused(Conflict, slots.delete_slot, b.ctx("root"), s.id)


# -- unenrol --------------------------------------------------------------------------------------


def test_unenrolling_cancels_the_students_pending_requests_in_that_course(b):
    courses.enroll(b.ctx("bob"), "PHYS1", ["alan"], [])
    maths1 = b.slot(start=T0 + 24 * H)
    maths2 = b.slot(start=T0 + 26 * H)
    physics = b.slot(start=T0 + 24 * H, who="bob", course="PHYS1")
    mine1, mine2 = b.send("alan", maths1.id), b.send("alan", maths2.id)
    hers = b.send("kat", maths1.id)
    elsewhere = b.send("alan", physics.id)
    rows = b.history_rows()
    courses.unenroll(b.ctx("ada"), "MATH101", ["alan"])
    assert (b.status(mine1.id), b.status(mine2.id)) == ("cancelled", "cancelled")
    assert (b.status(hers.id), b.status(elsewhere.id)) == ("pending", "pending")
    assert b.history_rows() == rows + 2
    assert b.history(mine1.id)[-1][:3] == ("ada", "pending", "cancelled")
    assert [u.name for u in courses.roster(b.ctx("ada"), "MATH101")] == ["kat"]
    b.refused(NotAllowed, b.send, "alan", maths1.id, None)


# -- sweep ----------------------------------------------------------------------------------------


def test_sweep_completes_ended_sessions_and_expires_started_pending_requests(b):
    early = b.slot(start=T0 + H)  # 10-11
    late = b.slot(start=T0 + 3 * H)  # 12-13
    future_ = b.slot(start=T0 + 24 * H)
    session = b.send("alan", early.id)
    b.approve(session.id)
    waiting = b.send("kat", late.id)
    untouched = b.send("kat", future_.id)
    assert requests.sweep(b.ctx("ada")) == {"completed": 0, "expired": 0}

    b.clock.advance(hours=3)  # 12:00: early ended, late just started
    before, rows = b.inboxes(), b.history_rows()
    assert requests.sweep(b.ctx("ada")) == {"completed": 1, "expired": 1}
    assert b.status(session.id) == "completed"
    got = b.request(waiting.id)
    assert (got.status, got.reason) == ("rejected", "expired")
    assert b.history(waiting.id)[-1] == ("(system)", "pending", "rejected", "expired")
    assert b.history(session.id)[-1][:3] == ("(system)", "approved", "completed")
    assert b.status(untouched.id) == "pending"
    assert b.history_rows() == rows + 2
    notes = b.new_notes(before)
    assert notes["kat"] == [("expired", waiting.id, late.id)]
    assert set(notes) <= {"alan", "kat"}

    again = snapshot(b.world.db)
    assert requests.sweep(b.ctx("ada")) == {"completed": 0, "expired": 0}
    assert requests.sweep(b.ctx("root")) == {"completed": 0, "expired": 0}
    assert snapshot(b.world.db) == again


def test_an_approved_session_is_completed_by_sweep_only_once_it_has_ended(b):
    s = b.slot(start=T0 + H)
    r = b.send("alan", s.id)
    b.approve(r.id)
    b.clock.advance(hours=1, minutes=59)  # 10:59, session still running
    assert requests.sweep(b.ctx("root")) == {"completed": 0, "expired": 0}
    assert b.status(r.id) == "approved"
    b.clock.advance(minutes=1)
    assert requests.sweep(b.ctx("root")) == {"completed": 1, "expired": 0}


def test_an_educators_sweep_touches_only_their_own_courses(b):
    courses.enroll(b.ctx("bob"), "PHYS1", ["alan"], [])
    maths = b.slot(start=T0 + H)
    physics = b.slot(start=T0 + 3 * H, who="bob", course="PHYS1")
    mine = b.send("kat", maths.id)
    theirs = b.send("alan", physics.id)
    b.clock.advance(hours=4)
    assert requests.sweep(b.ctx("ada")) == {"completed": 0, "expired": 1}
    assert (b.status(mine.id), b.status(theirs.id)) == ("rejected", "pending")
    assert requests.sweep(b.ctx("root")) == {"completed": 0, "expired": 1}
    assert b.status(theirs.id) == "rejected"


def test_a_student_may_not_sweep(b):
    s = b.slot(start=T0 + H)
    b.send("alan", s.id)
    b.clock.advance(hours=2)
    b.refused(NotAllowed, requests.sweep, b.ctx("alan"))


# -- visibility -----------------------------------------------------------------------------------


def test_slots_of_others_are_not_found(b):
    maths = b.slot()
    physics = b.slot(who="bob", course="PHYS1")
    b.refused(NotFound, slots.show_slot, b.ctx("ada"), physics.id)
    b.refused(NotFound, slots.show_slot, b.ctx("bob"), maths.id)
    b.refused(NotFound, slots.show_slot, b.ctx("alan"), physics.id)
    b.refused(NotFound, slots.show_slot, b.ctx("eve"), maths.id)
    b.refused(NotFound, slots.show_slot, b.ctx("alan"), 999)
    assert slots.show_slot(b.ctx("alan"), maths.id).id == maths.id
    assert slots.show_slot(b.ctx("root"), physics.id).id == physics.id


def test_courses_of_others_are_not_found(b):
    b.refused(NotFound, courses.show_course, b.ctx("alan"), "PHYS1")
    b.refused(NotFound, courses.show_course, b.ctx("ada"), "PHYS1")
    b.refused(NotFound, courses.show_course, b.ctx("eve"), "MATH101")
    b.refused(NotFound, slots.list_slots, b.ctx("alan"), course="PHYS1")
    b.refused(NotFound, requests.list_requests, b.ctx("bob"), None, "MATH101", None, None)
    assert courses.show_course(b.ctx("kat"), "MATH101").enrolled == 2


def test_lists_show_only_what_the_actor_may_see(b):
    maths = b.slot(start=T0 + 24 * H)
    full = b.slot(start=T0 + 26 * H)
    physics = b.slot(start=T0 + 24 * H, who="bob", course="PHYS1")
    r1 = b.send("alan", maths.id)
    r2 = b.send("kat", full.id)
    b.approve(r2.id)
    assert [s.id for s in slots.list_slots(b.ctx("alan"))] == [maths.id]  # available only
    assert slots.list_slots(b.ctx("eve")) == []
    assert [s.id for s in slots.list_slots(b.ctx("bob"))] == [physics.id]
    assert [s.id for s in slots.list_slots(b.ctx("ada"))] == [maths.id, full.id]
    assert [s.id for s in slots.list_slots(b.ctx("root"))] == [maths.id, physics.id, full.id]

    def ids(name):
        return [r.id for r in requests.list_requests(b.ctx(name), None, None, None, None)]

    assert ids("alan") == [r1.id]
    assert ids("kat") == [r2.id]
    assert ids("eve") == [] and ids("bob") == []
    assert ids("ada") == [r2.id, r1.id]  # newest first
    assert ids("root") == [r2.id, r1.id]
    # a student sees only their own requests on a slot
    assert [r.id for r in slots.show_slot(b.ctx("kat"), maths.id).requests] == []
    assert [r.id for r in slots.show_slot(b.ctx("ada"), maths.id).requests] == [r1.id]


# -- text and link limits --------------------------------------------------------------------------


def test_a_message_of_2000_characters_is_accepted_and_2001_refused(b):
    s = b.slot(capacity=2)
    b.refused(UsageError, b.send, "alan", s.id, "x" * 2001)
    assert b.send("alan", s.id, "x" * 2000).message == "x" * 2000


@pytest.mark.parametrize("bad", ["\x1b[31mred", "nul\x00byte", "bell\x07", "del\x7f", "c1\x9b2J", "cr\r"])
def test_control_characters_in_free_text_are_refused(b, bad):
    s = b.slot()
    b.refused(UsageError, b.send, "alan", s.id, bad)
    r = b.send("alan", s.id, "ok")
    b.refused(UsageError, requests.reject, b.ctx("ada"), r.id, bad)
    b.refused(UsageError, requests.cancel, b.ctx("alan"), r.id, bad)
    b.refused(UsageError, requests.approve, b.ctx("ada"), r.id, None, bad)
    b.refused(UsageError, slots.cancel_slot, b.ctx("ada"), s.id, bad)
    b.refused(UsageError, slots.update_slot, b.ctx("ada"), s.id, notes=bad)
    b.refused(UsageError, slots.add_slots, b.ctx("ada"), "MATH101", window(T0 + 48 * H), notes=bad)
    b.refused(UsageError, users.set_user, b.ctx("alan"), None, display=bad)


def test_newline_and_tab_are_allowed_in_free_text(b):
    s = b.slot(notes="line one\n\tline two")
    assert s.notes == "line one\n\tline two"
    r = b.send("alan", s.id, "hello\nthere\tfriend")
    assert b.request(r.id).message == "hello\nthere\tfriend"
    assert requests.reject(b.ctx("ada"), r.id, "not\ttoday\n").reason == "not\ttoday\n"


@pytest.mark.parametrize("field", ["notes", "reason"])
def test_other_free_text_fields_are_limited_to_2000_characters(b, field):
    s = b.slot()
    r = b.send("alan", s.id)
    if field == "notes":
        b.refused(UsageError, b.approve, r.id, notes="n" * 2001)
        assert b.approve(r.id, notes="n" * 2000).notes == "n" * 2000
    else:
        b.refused(UsageError, requests.reject, b.ctx("ada"), r.id, "r" * 2001)
        assert requests.reject(b.ctx("ada"), r.id, "r" * 2000).reason == "r" * 2000


def test_a_display_name_of_2000_characters_is_accepted(b):
    b.refused(UsageError, users.set_user, b.ctx("alan"), None, display="d" * 2001)
    assert users.set_user(b.ctx("alan"), None, display="d" * 2000).display == "d" * 2000
    view = users.add_user(b.ctx("root"), "zed", "student", "z" * 2000, None, None)
    assert view.display == "z" * 2000


@pytest.mark.parametrize("link", [
    "javascript:alert(1)", "JAVASCRIPT:alert(1)", "ftp://files.example/x", "file:///etc/passwd",
    "data:text/html,hi", "meet.example/room", "https://", "https://meet.example/a b",
    "https://meet.example/\x1b]8;;", "https://meet.example/" + "a" * 2030,
])
def test_bad_meeting_links_are_refused(b, link):
    s = b.slot()
    r = b.send("alan", s.id)
    b.refused(UsageError, b.approve, r.id, link=link)
    b.refused(UsageError, slots.add_slots, b.ctx("ada"), "MATH101", window(T0 + 48 * H), link=link)
    b.refused(UsageError, slots.update_slot, b.ctx("ada"), s.id, link=link)


@pytest.mark.parametrize("link", [
    "http://meet.example/room", "https://meet.example/room?id=1#x", "HTTPS://Meet.Example",
    "https://meet.example/" + "a" * (2048 - len("https://meet.example/")),
])
def test_http_and_https_links_are_accepted(b, link):
    s = b.slot(link=link)
    assert s.link == link
    assert slots.update_slot(b.ctx("ada"), s.id, link=link).link == link
    r = b.send("alan", s.id)
    assert b.approve(r.id, link=link).link == link


# -- the database has the last word ---------------------------------------------------------------


def test_the_schema_refuses_booked_above_capacity(b):
    s = b.slot(capacity=2)
    ctx = b.ctx("ada")
    before = snapshot(b.world.db)
    with pytest.raises(peewee.IntegrityError):
        with ctx.store.write():
            Slot.update(booked=Slot.capacity + 1).where(Slot.id == s.id).execute()
    with pytest.raises(peewee.IntegrityError):
        with ctx.store.write():
            Slot.update(booked=-1).where(Slot.id == s.id).execute()
    assert snapshot(b.world.db) == before


def test_the_schema_refuses_a_second_live_request_for_one_student_and_slot(b):
    s = b.slot(capacity=2)
    first = b.send("alan", s.id)
    ctx = b.ctx("ada")
    before = snapshot(b.world.db)
    for status in ("pending", "approved"):
        with pytest.raises(peewee.IntegrityError):
            with ctx.store.write():
                Request.create(slot=s.id, student=User.get(User.name == "alan"),
                               status=status, created_at=T0.replace(tzinfo=None),
                               updated_at=T0.replace(tzinfo=None))
    assert snapshot(b.world.db) == before
    # closed requests do not count: the same student may have any number of those
    requests.cancel(b.ctx("alan"), first.id, None)
    assert b.send("alan", s.id).status == "pending"


# -- a random walk through the whole workflow -----------------------------------------------------


class BookingMachine(RuleBasedStateMachine):
    """Random actors send, approve, reject, cancel, complete, cancel slots and sweep, while the
    clock moves. Three slots: ada 13:00-14:00 (1 seat), ada 14:00-15:00 (2 seats), bob
    13:30-14:30 (2 seats, overlapping both of ada's); alan and kat take MATH101, alan and eve
    PHYS1. The clock starts at 09:00 the same day, and five pending requests are seeded.
    Actors are drawn mostly from the people concerned (the request's student or educator, an
    admin) so that most steps do something, and sometimes from everyone, so that refusals are
    exercised too."""

    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="sessionctl-machine-")
        self.path = os.path.join(self.dir, "store.db")
        self.store = open_store(self.path, create=True)
        self.now = T0
        users.register_first_admin(self.store, "root")
        for name, role in [("ada", "educator"), ("bob", "educator"), ("alan", "student"),
                           ("kat", "student"), ("eve", "student")]:
            users.add_user(self.ctx("root"), name, role, None, None, None)
        courses.add_course(self.ctx("ada"), "MATH101", "Maths", None)
        courses.add_course(self.ctx("bob"), "PHYS1", "Physics", None)
        courses.enroll(self.ctx("ada"), "MATH101", ["alan", "kat"], [])
        courses.enroll(self.ctx("bob"), "PHYS1", ["alan", "eve"], [])
        self.slots = [
            (slots.add_slots(self.ctx(who), course, [Window(T0 + start, T0 + start + H)],
                             capacity=capacity)[0].id, who)
            for who, course, start, capacity in [
                ("ada", "MATH101", 4 * H, 1),
                ("ada", "MATH101", 5 * H, 2),
                ("bob", "PHYS1", 4 * H + 30 * MIN, 2),
            ]
        ]
        self.requests: list[tuple[int, str, str]] = []  # (id, student, educator)
        for student, slot in [("alan", 0), ("kat", 0), ("kat", 1), ("alan", 2), ("eve", 2)]:
            view = requests.send(self.ctx(student), self.slots[slot][0], None)
            self.requests.append((view.id, view.student, view.educator))

    def ctx(self, name: str) -> Context:
        with self.store.read():
            actor = find_actor(name)
        return Context(self.store, actor, UTC, lambda: self.now)

    def attempt(self, fn, actor, *args):
        context = self.ctx(actor)
        before = snapshot(self.path)
        try:
            result = fn(context, *args)
        except SessionctlError:
            assert snapshot(self.path) == before, f"a refused {fn.__name__} changed the store"
            return None
        return result

    def teardown(self):
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def on_request(self, fn, role: str, pick: int, *args) -> None:
        """``fn`` on a request sent so far, by someone in ``role``."""
        rid, student, educator = self.requests[pick % len(self.requests)]
        actor = {"student": student, "educator": educator, "root": "root"}.get(
            role, PEOPLE[pick % len(PEOPLE)])
        self.attempt(fn, actor, rid, *args)

    # One rule with weighted actions rather than one rule per action: Hypothesis enables a
    # random subset of rules per example, which left approvals and completions rare.
    @rule(
        action=st.sampled_from(
            ["send"] * 3 + ["approve"] * 4 + ["reject", "cancel", "cancel", "complete", "complete",
                                             "cancel_slot", "sweep"] + ["tick"] * 3
        ),
        role=st.sampled_from(("educator", "educator", "student", "root", "anyone")),
        pick=st.integers(0, 60),
        slot=st.integers(0, 2),
        minutes=st.sampled_from([10, 60, 120, 300]),
    )
    def step(self, action, role, pick, slot, minutes):
        slot_id, educator = self.slots[slot]
        if action == "send":
            student = ("alan", "alan", "kat", "eve", "ada")[pick % 5]
            view = self.attempt(requests.send, student, slot_id, "hi" if pick % 2 else None)
            if view is not None:
                self.requests.append((view.id, view.student, view.educator))
        elif action == "approve":
            self.on_request(requests.approve, role, pick, None, None)
        elif action == "reject":
            self.on_request(requests.reject, role, pick, "no")
        elif action == "cancel":
            self.on_request(requests.cancel, role, pick, None)
        elif action == "complete":
            self.on_request(requests.complete, role, pick)
        elif action == "cancel_slot":
            actor = {"educator": educator, "root": "root"}.get(role, PEOPLE[pick % len(PEOPLE)])
            self.attempt(slots.cancel_slot, actor, slot_id, "off")
        elif action == "sweep":
            self.attempt(requests.sweep, ("root", "ada", "bob", "alan")[pick % 4])
        else:
            self.now += timedelta(minutes=minutes)

    def approved(self):
        with self.store.read():
            return list(
                Request.select(Request, Slot).join(Slot).where(Request.status == "approved")
            )

    @invariant()
    def seats_match_approved_requests(self):
        approved = self.approved()
        with self.store.read():
            for s in Slot.select():
                taken = sum(1 for r in approved if r.slot.id == s.id)
                assert 0 <= s.booked <= s.capacity
                if s.cancelled_at is None:
                    assert s.booked == taken, (s.id, s.booked, taken)
                else:
                    assert taken == 0 and s.booked == 0

    @invariant()
    def no_student_holds_overlapping_sessions(self):
        by_student: dict[int, list] = {}
        for r in self.approved():
            by_student.setdefault(r.student_id, []).append((r.slot.starts_at, r.slot.ends_at))
        for spans in by_student.values():
            for (s1, e1), (s2, e2) in itertools.combinations(spans, 2):
                assert not (s1 < e2 and s2 < e1), spans


TestBookingMachine = BookingMachine.TestCase
TestBookingMachine.settings = settings(
    max_examples=30, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
