"""``sessionctl remind --within DURATION`` (docs/reference/cron-and-mail.md): one reminder per person per session.

Every test runs on SQLite and, with SESSIONCTL_TEST_PG set, on PostgreSQL. The CLI runs at
the test clock's time; the race runs the installed command in several processes at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import peewee
import pytest

from conftest import Clock, future, snapshot
from cronkit import BIN, Sessions, run_json
from sessionctl.domain import courses, requests, users
from sessionctl.domain.context import Context, find_actor, notify
from sessionctl.store import open_store
from sessionctl.store.models import Notification, Request

H = timedelta(hours=1)
MIN = timedelta(minutes=1)
LINK = "https://meet.example.edu/ada"


@pytest.fixture
def db(backend_db):
    return backend_db


def reminders(db) -> list[tuple[int, str, str]]:
    """(request, user name, text) of every reminder in the store."""
    rows = snapshot(db)
    names = {u[0]: u[1] for u in rows["users"]}
    notes = [dict(zip(("id", "user", "kind", "request", "slot", "text"), n)) for n in rows["notifications"]]
    return sorted((n["request"], names[n["user"]], n["text"]) for n in notes if n["kind"] == "reminder")


def remind(world, within="24h", user="root") -> int:
    result = world("remind", "--within", within, "--json", user=user)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["reminded"]


def test_each_party_is_reminded_once_of_sessions_starting_within_the_window(world, booked, clock):
    root = booked.ctx("root")
    users.set_user(root, "ada", tz="Europe/Berlin")
    courses.enroll(booked.ctx("bob"), "PHYS1", ["eve"], [])
    t0 = clock.now
    started = booked.approved(t0 + H, "kat")
    soon = booked.approved(t0 + 3 * H, "alan", link=LINK)
    theirs = booked.approved(t0 + 4 * H, "eve", course="PHYS1", educator="bob")
    edge = booked.approved(t0 + 25 * H, "kat", length=30 * MIN)
    later = booked.approved(t0 + 25 * H + 30 * MIN, "alan")
    booked.pending(t0 + 2 * H, "kat")
    cancelled = booked.approved(t0 + 5 * H, "alan")
    requests.cancel(booked.ctx("alan"), cancelled, "ill")
    clock.advance(hours=1)  # now the first session is starting: the window is (t0+1h, t0+25h]

    assert remind(world) == 3
    assert reminders(world.db) == sorted([
        (soon, "alan", f"reminder: your MATH101 session with Ada starts 2027-01-10 12:00 UTC "
                       f"(request {soon}); join at {LINK}"),
        (soon, "ada", f"reminder: your MATH101 session with Alan starts 2027-01-10 13:00 CET "
                      f"(request {soon}); join at {LINK}"),
        (theirs, "eve", f"reminder: your PHYS1 session with Bob starts 2027-01-10 13:00 UTC (request {theirs})"),
        (theirs, "bob", f"reminder: your PHYS1 session with Eve starts 2027-01-10 13:00 UTC (request {theirs})"),
        (edge, "kat", f"reminder: your MATH101 session with Ada starts 2027-01-11 10:00 UTC (request {edge})"),
        (edge, "ada", f"reminder: your MATH101 session with Kat starts 2027-01-11 11:00 CET (request {edge})"),
    ])
    assert started not in {r for r, _, _ in reminders(world.db)}

    # however often cron runs it, nothing is added for the same sessions
    before = snapshot(world.db)
    assert remind(world) == 0
    plain = world("remind", "--within", "24h")
    assert (plain.exit_code, plain.stdout, plain.stderr) == (0, "reminded: 0\n", "")
    assert snapshot(world.db) == before

    # an hour on, only the session that came into the window is new; the student sees it
    clock.advance(hours=1)
    assert remind(world) == 1
    assert [(r, u) for r, u, _ in reminders(world.db) if r == later] == [(later, "ada"), (later, "alan")]
    inbox = world.json("inbox", "--peek", user="alan")
    assert [(n["kind"], n["request"]) for n in inbox[:2]] == [("reminder", later), ("reminder", soon)]


def test_an_educator_reminds_of_their_own_sessions_and_an_admin_of_all(world, booked, clock):
    courses.enroll(booked.ctx("bob"), "PHYS1", ["eve"], [])
    mine = booked.approved(clock.now + 2 * H, "alan")
    theirs = booked.approved(clock.now + 2 * H, "eve", course="PHYS1", educator="bob")
    assert remind(world, "3h", user="ada") == 1
    assert {r for r, _, _ in reminders(world.db)} == {mine}
    assert remind(world, "3h", user="root") == 1
    assert {r for r, _, _ in reminders(world.db)} == {mine, theirs}
    assert remind(world, "3h", user="bob") == 0


@pytest.mark.parametrize("args, user, code, says", [
    (["--within", "24h"], "alan", 4, "only admins or educators can run remind"),
    (["--within", "24h"], "nobody", 4, "'nobody' is not a registered user"),
    (["--within", "24"], "root", 2, "invalid duration '24'"),
    (["--within", "soon"], "root", 2, "invalid duration 'soon'"),
    (["--within", "0m"], "root", 2, "must be longer than zero"),
    ([], "root", 2, "Missing option '--within'"),
])
def test_refusals_change_nothing(world, booked, clock, args, user, code, says):
    booked.approved(clock.now + 2 * H, "alan")
    before = snapshot(world.db)
    result = world("remind", *args, user=user)
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and says in result.stderr.splitlines()[0]
    assert snapshot(world.db) == before


@pytest.mark.parametrize("flag", ["--quiet", "-q"])
def test_quiet_cron_commands_print_nothing_on_success_and_still_do_the_work(world, booked, clock, flag):
    """docs/reference/cron-and-mail.md: --quiet leaves stdout empty (with --json
    too), and errors still reach stderr."""
    ended = booked.approved(clock.now + 2 * H, "alan")
    soon = booked.approved(clock.now + 5 * H, "kat")
    clock.advance(hours=4)
    for args in (["sweep"], ["sweep", "--json"], ["remind", "--within", "24h"],
                 ["remind", "--within", "24h", "--json"]):
        result = world(*args, flag, user="root")
        assert (result.exit_code, result.stdout, result.stderr) == (0, "", ""), args
    assert world.json("request", "show", str(ended), user="root")["status"] == "completed"
    assert {r for r, _, _ in reminders(world.db)} == {soon}
    before = snapshot(world.db)
    for args, code in ((["remind", "--within", "24h"], 4), (["sweep"], 4),
                       (["remind", "--within", "\u202e24h"], 2)):
        result = world(*args, flag, user="alan")
        assert (result.exit_code, result.stdout) == (code, ""), (args, result.stderr)
        assert result.stderr.startswith("error: ")
    refused = world("sweep", "--quiet=1", user="root")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert snapshot(world.db) == before


def test_the_schema_allows_one_reminder_per_request_and_user(world, booked, clock):
    """Not only the Python loop: the database refuses a second reminder row outright."""
    request_id = booked.approved(clock.now + 2 * H, "alan")
    store = booked.store
    request = Request.get_by_id(request_id)
    alan, ada = find_actor("alan"), find_actor("ada")

    def row(user, kind="reminder"):
        with store.write():
            Notification.create(user=user, kind=kind, request=request, text="x",
                                created_at=clock.now.replace(tzinfo=None))

    row(alan)
    row(ada)  # the other party of the same session
    before = snapshot(world.db)
    with pytest.raises(peewee.IntegrityError):
        row(alan)
    assert snapshot(world.db) == before
    row(alan, kind="approved")  # other kinds may repeat
    row(alan, kind="approved")
    # notify(once=True) runs into the same rule and reports that it added nothing
    ctx = Context(store, find_actor("root"), clock.now.tzinfo, clock)
    with store.write():
        assert notify(ctx, alan, "reminder", "again", request=request, once=True) is False
        assert notify(ctx, find_actor("kat"), "reminder", "new", request=request, once=True) is True


# Each racer imports everything, then waits for the starting gun, then runs the installed
# ``sessionctl`` script itself, so all of them hit the store at the same moment.
RACER = """
import os, runpy, sys, time
import sessionctl.cli
gun = sys.argv[1]
while not os.path.exists(gun):
    time.sleep(0.001)
sys.argv = [sys.argv[2], "remind", "--within", "24h", "--json"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("round_", range(2))
def test_processes_reminding_at_the_same_moment_add_one_reminder_per_person(location, tmp_path, round_):
    db = location
    run_json("init", user="root", db=db)
    for name, role in (("ada", "educator"), ("alan", "student"), ("kat", "student")):
        run_json("user", "add", name, "--role", role, user="root", db=db)
    run_json("course", "add", "MATH101", "--title", "Maths", user="ada", db=db)
    run_json("course", "enroll", "MATH101", "alan", "kat", user="ada", db=db)
    store = open_store(db)
    try:
        booked = Sessions(store, Clock(future(hours=0)))
        ids = [booked.approved(future(hours=3), "alan"), booked.approved(future(hours=5), "kat")]
    finally:
        store.close()

    gun = tmp_path / "go"
    env = {**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": "ada", "SESSIONCTL_TZ": "UTC"}
    env.pop("SESSIONCTL_DEBUG", None)
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(gun), str(BIN)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(8)]
    time.sleep(1.0)
    gun.touch()
    outcomes = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in racers]
    assert [code for code, _, _ in outcomes] == [0] * 8, outcomes
    counts = sorted(json.loads(out)["reminded"] for _, out, _ in outcomes)
    assert counts == [0] * 7 + [2]
    assert [(r, u) for r, u, _ in reminders(db)] == sorted(
        [(ids[0], "ada"), (ids[0], "alan"), (ids[1], "ada"), (ids[1], "kat")])
