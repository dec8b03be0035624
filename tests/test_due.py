"""Migration 6: each request carries its slot's times, kept by the schema, so that ``sweep`` and
``remind`` find what is due through small partial indexes of the live requests instead of
reading every request the store ever had (flat with the store: benchmarks/README.md, benchmarks/scale.py).

Runs on SQLite and, with SESSIONCTL_TEST_PG set, on PostgreSQL; the query plans on SQLite.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta

import pytest

from conftest import Clock, UTC
from cronkit import Sessions
from sessionctl.domain import courses, reminders, requests, slots, users
from sessionctl.store.edge import to_db
from sessionctl.store import open_store
from sessionctl.store.models import Request, Slot

H = timedelta(hours=1)


@pytest.fixture
def cast(location):
    """root; ada teaching MATH101 with alan and kat enrolled; a clock."""
    from datetime import datetime

    clock = Clock(datetime(2027, 1, 10, 9, 0, tzinfo=UTC))
    store = open_store(location, create=True)
    users.register_first_admin(store, "root")
    booked = Sessions(store, clock)
    for name, role in [("ada", "educator"), ("alan", "student"), ("kat", "student")]:
        users.add_user(booked.ctx("root"), name, role, None, None, None)
    courses.add_course(booked.ctx("ada"), "MATH101", "Maths", None)
    courses.enroll(booked.ctx("ada"), "MATH101", ["alan", "kat"], [])
    yield booked, clock
    store.close()


def times(request_id: int) -> tuple:
    request = Request.get_by_id(request_id)
    return request.starts_at, request.ends_at


def slot_times(slot_id: int) -> tuple:
    slot = Slot.get_by_id(slot_id)
    return slot.starts_at, slot.ends_at


def test_a_request_carries_its_slots_times_however_it_is_made(cast):
    booked, clock = cast
    sent = booked.pending(clock.now + 5 * H)
    assert times(sent) == slot_times(Request.get_by_id(sent).slot_id) != (None, None)
    other = booked.slot(clock.now + 8 * H)
    db = Request._meta.database
    made = Request.insert(slot=other, student=Request.get_by_id(sent).student_id, status="pending",
                          created_at=to_db(clock.now), updated_at=to_db(clock.now)).execute()
    assert times(made) == slot_times(other)  # a row written by anyone, not only by the domain
    assert db is Slot._meta.database


def test_the_times_follow_a_slot_that_moves(cast):
    booked, clock = cast
    request_id = booked.pending(clock.now + 5 * H)
    slot_id = Request.get_by_id(request_id).slot_id
    requests.cancel(booked.ctx("alan"), request_id, None)  # a slot moves only when no one waits
    slots.update_slot(booked.ctx("ada"), slot_id, start=clock.now + 30 * H)
    assert times(request_id) == slot_times(slot_id)
    assert times(request_id)[0] == to_db(clock.now + 30 * H)


def test_sweep_and_remind_still_find_exactly_what_is_due(cast):
    booked, clock = cast
    ended = booked.approved(clock.now + H, "alan")
    started = booked.pending(clock.now + 2 * H, "kat")
    soon = booked.approved(clock.now + 20 * H, "kat")
    later = booked.approved(clock.now + 50 * H, "alan")
    clock.now += 3 * H
    assert reminders.remind(booked.ctx("root"), timedelta(hours=24)) == {"reminded": 1}
    assert requests.sweep(booked.ctx("ada")) == {"completed": 1, "expired": 1}
    status = {i: Request.get_by_id(i).status for i in (ended, started, soon, later)}
    assert status == {ended: "completed", started: "rejected", soon: "approved", later: "approved"}


def test_sweep_and_remind_read_only_the_live_requests(tmp_path, caplog):
    """On SQLite: every query sweep and remind make is an index search, never a scan of the
    requests (or the slots) a store has accumulated: for an admin and for an educator."""
    location = str(tmp_path / "store.db")
    store = open_store(location, create=True)
    users.register_first_admin(store, "root")
    from datetime import datetime

    clock = Clock(datetime(2027, 1, 10, 9, 0, tzinfo=UTC))
    booked = Sessions(store, clock)
    users.add_user(booked.ctx("root"), "ada", "educator", None, None, None)
    users.add_user(booked.ctx("root"), "alan", "student", None, None, None)
    courses.add_course(booked.ctx("ada"), "MATH101", "Maths", None)
    courses.enroll(booked.ctx("ada"), "MATH101", ["alan"], [])
    booked.approved(clock.now + H)
    booked.pending(clock.now + 3 * H)
    clock.now += 4 * H
    caplog.set_level(logging.DEBUG, logger="peewee")
    for who in ("root", "ada"):
        reminders.remind(booked.ctx(who), timedelta(hours=24))
        requests.sweep(booked.ctx(who))
    logged = [r.msg for r in caplog.records if isinstance(r.msg, tuple) and len(r.msg) == 2]
    queries = [(sql, [str(p) for p in params]) for sql, params in logged
               if sql.startswith("SELECT") and 'FROM "requests"' in sql
               and ("starts_at" in sql.split("WHERE")[-1] or "ends_at" in sql.split("WHERE")[-1])]
    assert len(queries) >= 6
    con = sqlite3.connect(location)
    for sql, params in queries:
        plan = [row[3] for row in con.execute("EXPLAIN QUERY PLAN " + sql, params)]
        assert not [step for step in plan if step.startswith("SCAN")], (sql, plan)
        assert any("requests_open_start" in s or "requests_booked_" in s or "slots_educator" in s
                   for s in plan), (sql, plan)
    con.close()
    store.close()
