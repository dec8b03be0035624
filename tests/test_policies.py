"""Course policies (docs/reference/policies.md) through the command line.

``course set`` and what it shows; each policy's refusal (exit 5, the message names the policy
and its value, nothing changed) and its edge under a moved clock (the ``booked``/``clock``
fixtures move the CLI's clock; ``faketime`` moves a whole process's); auto-approve with every
approval rule, including the fill rule, the waitlist and 16 real processes racing for one
auto-approved seat on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import iso, snapshot
from cronkit import BIN
from test_lifecycle import inbox, ok, refused, show, students

UTC = timezone.utc
LINK = "https://meet.example.edu/ada"


def at(booked, clock, **delta) -> int:
    """A MATH101 slot (ada's, one hour) starting ``delta`` from the test clock's now."""
    return booked.slot(clock.now + timedelta(**delta))


def policy(world, *options):
    return ok(world, "course", "set", "MATH101", *options, user="ada")["policy"]


# -- course set and course show -------------------------------------------------------------------


def test_course_set_shows_every_policy_and_off_turns_one_off(world):
    got = policy(world, "--min-notice", "2h", "--cancel-notice", "1d", "--horizon", "30d",
                 "--max-active", "3", "--auto-approve")
    assert got == {"min_notice": 120, "cancel_notice": 1440, "horizon": 43200, "max_active": 3,
                   "auto_approve": True}
    shown = world("course", "show", "MATH101", user="alan").stdout.splitlines()
    for line in ("min-notice     2h", "cancel-notice  1d", "horizon        30d",
                 "max-active     3", "auto-approve   on"):
        assert line in shown, shown
    assert ok(world, "course", "list", user="kat")[0]["policy"] == got
    got = policy(world, "--min-notice", "off", "--max-active", "OFF", "--no-auto-approve",
                 "--title", "Maths II")
    assert got == {"min_notice": None, "cancel_notice": 1440, "horizon": 43200,
                   "max_active": None, "auto_approve": False}
    assert ok(world, "course", "show", "MATH101", user="root")["title"] == "Maths II"
    assert policy(world, "--min-notice", "1h30m")["min_notice"] == 90
    assert "min-notice     1h 30m" in world("course", "show", "MATH101", user="ada").stdout


@pytest.mark.parametrize("user, code", [("kat", 4), ("bob", 3), ("eve", 3)])
def test_only_the_educator_or_an_admin_sets_policies(world, user, code):
    refused(world, code, "course", "set", "MATH101", "--min-notice", "1h", user=user)
    ok(world, "course", "set", "MATH101", "--min-notice", "1h", user="root")


@pytest.mark.parametrize("args, says", [
    ((), "nothing to change"),
    (("--min-notice", "0m"), "duration '0m' must be longer than zero"),
    (("--min-notice", "-1h"), "invalid duration"),
    (("--min-notice", "2"), "invalid duration"),
    (("--horizon", "367d"), "horizon is longer than 366 days"),
    (("--cancel-notice", "99999999999999999999d"), "longer than"),
    (("--cancel-notice", "1h\n2h"), "invalid duration"),
    (("--min-notice", "o\u200bff"), "invalid duration"),
    (("--max-active", "0"), "max-active must be from 1 to 1000, not 0"),
    (("--max-active", "1001"), "max-active must be from 1 to 1000"),
    (("--max-active", "-1"), "--max-active takes a whole number or 'off'"),
    (("--max-active", "99999999999999999999"), "--max-active takes a whole number or 'off'"),
    (("--max-active", "\u0661\u0662"), "--max-active takes a whole number or 'off'"),
    (("--max-active", "2\u202e"), "--max-active takes a whole number or 'off'"),
    (("--title", "a\nb"), "title contains a line break"),
    (("--title", "a\u202eb"), "invisible or text-reordering"),
    (("--title", " "), "title must be one non-empty line"),
])
def test_hostile_policy_values_are_usage_errors_and_change_nothing(world, args, says):
    refused(world, 2, "course", "set", "MATH101", *args, user="ada", says=[says])


def test_changing_a_policy_never_rewrites_existing_requests(world, booked, clock):
    early = at(booked, clock, minutes=30)
    mine = ok(world, "request", "send", str(early), user="alan")
    before = snapshot(world.db)["requests"]
    policy(world, "--min-notice", "2h", "--max-active", "1", "--auto-approve")
    assert snapshot(world.db)["requests"] == before
    assert show(world, mine["id"])["status"] == "pending"


# -- min-notice and horizon ---------------------------------------------------------------------


def test_min_notice_refuses_a_slot_starting_too_soon_and_names_the_policy(world, booked, clock):
    policy(world, "--min-notice", "2h")
    s = at(booked, clock, hours=1, minutes=10)
    err = refused(world, 5, "request", "send", str(s), user="alan")
    assert err.splitlines()[0] == (f"error: MATH101 needs 2h notice (min-notice): slot {s} "
                                   "starts in 1h 10m")
    refused(world, 5, "request", "send", str(s), "--waitlist", user="alan", says=["(min-notice)"])


def test_min_notice_edge_exactly_the_notice_is_enough(world, booked, clock):
    policy(world, "--min-notice", "2h")
    first, second = at(booked, clock, hours=2), at(booked, clock, hours=3)
    assert ok(world, "request", "send", str(first), user="alan")["status"] == "pending"
    clock.advance(hours=1, seconds=1)  # second now starts in 1h 59m 59s
    refused(world, 5, "request", "send", str(second), user="kat",
            says=[f"slot {second} starts in 1h 59m"])
    clock.advance(seconds=-1)  # exactly 2h again
    assert ok(world, "request", "send", str(second), user="kat")["status"] == "pending"


def test_horizon_refuses_a_slot_too_far_ahead_at_its_edge(world, booked, clock):
    policy(world, "--horizon", "30d")
    far = at(booked, clock, days=30)
    clock.advance(seconds=-1)  # far now starts in 30 days and a second
    refused(world, 5, "request", "send", str(far), user="alan",
            says=["MATH101 takes requests at most 30d ahead (horizon): "
                  f"slot {far} starts in 30d 1m"])
    clock.advance(seconds=1)
    assert ok(world, "request", "send", str(far), user="alan")["status"] == "pending"


def test_min_notice_and_horizon_bind_a_students_move_but_not_the_educators(world, booked, clock):
    a, soon, far = at(booked, clock, hours=10), at(booked, clock, hours=1), at(booked, clock, days=20)
    mine = ok(world, "request", "send", str(a), user="alan")
    policy(world, "--min-notice", "2h", "--horizon", "7d")
    refused(world, 5, "request", "move", str(mine["id"]), "--to", str(soon), user="alan",
            says=["(min-notice)"])
    refused(world, 5, "request", "move", str(mine["id"]), "--to", str(far), user="alan",
            says=["(horizon)"])
    moved = ok(world, "request", "move", str(mine["id"]), "--to", str(soon), user="ada")
    assert (moved["slot"], moved["status"]) == (soon, "pending")


# -- max-active ---------------------------------------------------------------------------------


def test_max_active_counts_pending_approved_and_waiting_requests_for_future_slots(world, booked, clock):
    students(world, "sam")
    a, b, c, full = (at(booked, clock, hours=h) for h in (5, 7, 9, 11))
    ok(world, "request", "approve", str(ok(world, "request", "send", str(full), user="sam")["id"]),
       user="ada")
    policy(world, "--max-active", "2")
    r1 = ok(world, "request", "send", str(a), user="alan")
    ok(world, "request", "approve", str(r1["id"]), user="ada")
    r2 = ok(world, "request", "send", str(full), "--waitlist", user="alan")
    assert r2["status"] == "waiting"
    err = refused(world, 5, "request", "send", str(b), user="alan")
    assert err.splitlines()[0] == ("error: MATH101 allows 2 active requests per student "
                                   f"(max-active): you hold 2 (requests {r1['id']}, {r2['id']})")
    ok(world, "request", "send", str(b), user="kat")  # kat holds none: hers is her own count
    ok(world, "request", "cancel", str(r2["id"]), user="alan")  # a cancelled one no longer counts
    ok(world, "request", "send", str(c), user="alan")
    clock.advance(hours=6)  # slot a has started: it is no longer ahead
    ok(world, "request", "send", str(b), user="alan")


def test_max_active_ignores_other_courses(world, booked, clock):
    ok(world, "course", "enroll", "PHYS1", "alan", user="bob")
    ok(world, "course", "set", "PHYS1", "--max-active", "1", user="bob")
    ok(world, "request", "send", str(at(booked, clock, hours=5)), user="alan")  # MATH101
    p = booked.slot(clock.now + timedelta(hours=8), course="PHYS1", educator="bob")
    ok(world, "request", "send", str(p), user="alan")


def test_a_move_does_not_count_twice_against_max_active(world, booked, clock):
    a, b, c = (at(booked, clock, hours=h) for h in (5, 7, 9))
    pending = ok(world, "request", "send", str(a), user="alan")
    policy(world, "--max-active", "1")
    moved = ok(world, "request", "move", str(pending["id"]), "--to", str(b), user="alan")
    ok(world, "request", "approve", str(moved["id"]), user="ada")
    proposal = ok(world, "request", "move", str(moved["id"]), "--to", str(c), user="alan")
    assert proposal["status"] == "pending"  # the booking and its proposal count once
    again = ok(world, "request", "move", str(proposal["id"]), "--to", str(a), user="alan")
    assert again["replaces"] == moved["id"]
    refused(world, 5, "request", "send", str(c), user="alan", says=["(max-active): you hold 1"])


# -- cancel-notice ------------------------------------------------------------------------------


def test_cancel_notice_refuses_a_students_cancel_or_move_of_an_approved_session(world, booked, clock):
    s, later = at(booked, clock, hours=3), at(booked, clock, days=3)
    r = ok(world, "request", "send", str(s), user="alan")
    ok(world, "request", "approve", str(r["id"]), user="ada")
    policy(world, "--cancel-notice", "24h")
    err = refused(world, 5, "request", "cancel", str(r["id"]), user="alan")
    assert err.splitlines() == [
        f"error: MATH101 needs 1d notice to cancel a session (cancel-notice): session {r['id']} "
        "starts in 3h",
        "hint: ask ada (the educator) to cancel it",
    ]
    refused(world, 5, "request", "move", str(r["id"]), "--to", str(later), user="alan",
            says=["needs 1d notice to move a session (cancel-notice)"])
    pending = ok(world, "request", "send", str(later), user="kat")  # not approved: not bound
    ok(world, "request", "cancel", str(pending["id"]), user="kat")
    assert ok(world, "request", "cancel", str(r["id"]), user="ada")["status"] == "cancelled"


def test_cancel_notice_edge_and_a_started_session(world, booked, clock):
    s, t = at(booked, clock, hours=24), at(booked, clock, hours=26)
    first = ok(world, "request", "send", str(s), user="alan")
    second = ok(world, "request", "send", str(t), user="kat")
    for r in (first, second):
        ok(world, "request", "approve", str(r["id"]), user="ada")
    policy(world, "--cancel-notice", "1d")
    assert ok(world, "request", "cancel", str(first["id"]), user="alan")["status"] == "cancelled"
    clock.advance(hours=2, seconds=1)  # t starts in 23h 59m 59s
    refused(world, 5, "request", "cancel", str(second["id"]), user="kat", says=["starts in 23h 59m"])
    clock.advance(hours=24)  # running now
    refused(world, 5, "request", "cancel", str(second["id"]), user="kat",
            says=[f"session {second['id']} has started"])


def test_an_ended_session_names_complete_and_no_show(world, booked, clock):
    r = booked.approved(clock.now + timedelta(hours=1))
    clock.advance(hours=3)
    err = refused(world, 5, "request", "cancel", str(r), user="alan")
    assert err.splitlines()[1] == ("hint: complete it, or record that the student did not "
                                   f"come: sessionctl request complete {r} --no-show")


# -- auto-approve -------------------------------------------------------------------------------


def test_auto_approve_approves_at_once_as_the_system_and_tells_both(world, booked, clock):
    s = booked.slot(clock.now + timedelta(hours=5), link=LINK)
    policy(world, "--auto-approve")
    r = ok(world, "request", "send", str(s), "-m", "hi", user="alan")
    assert (r["status"], r["link"]) == ("approved", LINK)
    history = show(world, r["id"])["history"]
    assert [(h["actor"], h["from"], h["to"], h["note"]) for h in history] == [
        ("alan", None, "pending", None), ("(system)", "pending", "approved", "auto-approve")]
    [told] = [n for n in inbox(world, "ada") if n["request"] == r["id"]]
    assert told["kind"] == "booked" and "approved at once (auto-approve)" in told["text"]
    [mine] = [n for n in inbox(world, "alan") if n["request"] == r["id"]]
    assert mine["kind"] == "approved" and LINK in mine["text"]
    seats = ok(world, "slot", "show", str(s), user="ada")
    assert (seats["booked"], seats["status"]) == (1, "booked")


def test_auto_approve_keeps_the_fill_rule(world, booked, clock):
    students(world, "sam")
    s = booked.slot(clock.now + timedelta(hours=5))
    waits = ok(world, "request", "send", str(s), "--waitlist", user="kat")
    plain = ok(world, "request", "send", str(s), user="sam")
    policy(world, "--auto-approve")
    assert ok(world, "request", "send", str(s), user="alan")["status"] == "approved"
    assert show(world, waits["id"])["status"] == "waiting"
    gone = show(world, plain["id"])
    assert (gone["status"], gone["reason"], gone["history"][-1]["actor"]) == (
        "rejected", "slot is full", "(system)")


def test_auto_approve_keeps_the_overlap_rule(world, booked, clock):
    ok(world, "course", "enroll", "PHYS1", "alan", user="bob")
    p = booked.slot(clock.now + timedelta(hours=5), course="PHYS1", educator="bob")
    ok(world, "request", "approve", str(ok(world, "request", "send", str(p), user="alan")["id"]),
       user="bob")
    s = booked.slot(clock.now + timedelta(hours=5, minutes=30))
    policy(world, "--auto-approve")
    refused(world, 5, "request", "send", str(s), user="alan", says=["overlaps your approved session"])


def test_a_full_auto_approved_slot_still_has_a_waitlist_and_a_freed_seat_is_approved(world, booked, clock):
    s = booked.slot(clock.now + timedelta(hours=5), link=LINK)
    policy(world, "--auto-approve")
    first = ok(world, "request", "send", str(s), user="alan")
    refused(world, 5, "request", "send", str(s), user="kat", says=[f"slot {s} is full"])
    line = ok(world, "request", "send", str(s), "--waitlist", user="kat")
    assert line["status"] == "waiting"
    ok(world, "request", "cancel", str(first["id"]), user="alan")
    promoted = show(world, line["id"])
    assert (promoted["status"], promoted["link"]) == ("approved", LINK)
    assert promoted["history"][-1] == {**promoted["history"][-1], "actor": "(system)",
                                       "from": "waiting", "to": "approved",
                                       "note": "a seat is free (auto-approve)"}
    for user in ("kat", "ada"):
        [told] = [n for n in inbox(world, user) if n["kind"] == "promoted"]
        assert "is approved (auto-approve)" in told["text"]


def test_a_promotion_that_would_overlap_stays_pending_for_the_educator(world, booked, clock):
    ok(world, "course", "enroll", "PHYS1", "kat", user="bob")
    s = booked.slot(clock.now + timedelta(hours=5))
    policy(world, "--auto-approve")
    first = ok(world, "request", "send", str(s), user="alan")
    line = ok(world, "request", "send", str(s), "--waitlist", user="kat")
    p = booked.slot(clock.now + timedelta(hours=5), course="PHYS1", educator="bob")
    ok(world, "request", "approve", str(ok(world, "request", "send", str(p), user="kat")["id"]),
       user="bob")
    ok(world, "request", "cancel", str(first["id"]), user="alan")
    assert show(world, line["id"])["status"] == "pending"


def test_a_students_move_under_auto_approve_takes_effect_at_once(world, booked, clock):
    a, b = at(booked, clock, hours=5), at(booked, clock, hours=8)
    r = ok(world, "request", "send", str(a), user="alan")
    ok(world, "request", "approve", str(r["id"]), user="ada")
    policy(world, "--auto-approve")
    new = ok(world, "request", "move", str(r["id"]), "--to", str(b), user="alan")
    assert (new["status"], new["replaces"]) == ("approved", r["id"])
    assert show(world, r["id"])["status"] == "cancelled"
    seats = {s["id"]: s["booked"] for s in ok(world, "slot", "list", "--status", "all", user="ada")}
    assert (seats[a], seats[b]) == (0, 1)


# -- whole processes: faketime and racing ---------------------------------------------------------

FAKETIME = shutil.which("faketime")


def _process(db, user, *args, when=None):
    env = {**os.environ, "SESSIONCTL_DB": str(db), "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC"}
    env.pop("SESSIONCTL_DEBUG", None)
    command = [str(BIN), *args]
    if when is not None:  # a frozen clock for the whole process (libfaketime)
        command = [FAKETIME, "-f", when.strftime("%Y-%m-%d %H:%M:%S"), *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(FAKETIME is None, reason="faketime is not installed (apt-get install faketime; .ci/run does)")
def test_the_notice_edge_in_a_whole_process_under_faketime(world):
    start = datetime(2030, 1, 10, 11, 0, tzinfo=UTC)
    [s] = ok(world, "slot", "add", "--course", "MATH101", "--start", iso(start), "--duration", "1h",
             user="ada")
    policy(world, "--min-notice", "2h")
    late = _process(world.db, "alan", "request", "send", str(s["id"]),
                    when=start - timedelta(hours=2) + timedelta(seconds=1))
    assert (late.returncode, late.stdout) == (5, "")
    assert late.stderr.splitlines()[0] == (f"error: MATH101 needs 2h notice (min-notice): slot "
                                           f"{s['id']} starts in 1h 59m")
    edge = _process(world.db, "alan", "request", "send", str(s["id"]), "--json",
                    when=start - timedelta(hours=2))
    assert edge.returncode == 0, edge.stderr
    assert json.loads(edge.stdout)["status"] == "pending"


RACER = """
import os, sys, time
from sessionctl.cli import app
gun = sys.argv[1]
while not os.path.exists(gun):
    time.sleep(0.001)
sys.argv = ["sessionctl", "request", "send", *sys.argv[2:]]
app()
"""


def _race_store(db: str, n: int) -> int:
    """RACE with ``n`` students, auto-approve and max-active 1, and one one-seat slot."""
    from test_processes import race_course

    run, _ = race_course(db, n)
    run("ada", "course", "set", "RACE", "--auto-approve", "--max-active", "1")
    start = (datetime.now(UTC) + timedelta(hours=5)).replace(second=0, microsecond=0)
    [slot] = json.loads(run("ada", "slot", "add", "--course", "RACE", "--start", iso(start),
                            "--duration", "1h", "--json"))
    return slot["id"]


@pytest.mark.parametrize("round_", range(2))
def test_sixteen_processes_race_for_one_auto_approved_seat(location, tmp_path, round_):
    """Half of the racers opt in to the waitlist: one racer is approved, every other one that
    opted in waits, every other one that did not is refused (exit 5); one seat is taken."""
    slot = _race_store(location, 16)
    gun = tmp_path / "go"
    env = {**os.environ, "SESSIONCTL_DB": location, "SESSIONCTL_TZ": "UTC"}
    env.pop("SESSIONCTL_DEBUG", None)
    racers = []
    for i in range(16):
        extra = ["--waitlist"] if i % 2 else []
        racers.append((f"s{i:02d}", bool(extra), subprocess.Popen(
            [sys.executable, "-c", RACER, str(gun), str(slot), *extra, "--json"],
            env={**env, "SESSIONCTL_USER": f"s{i:02d}"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    time.sleep(1.0)
    gun.touch()
    outcomes = {}
    for name, waits, p in racers:
        code = p.wait(timeout=120)
        out, err = p.stdout.read(), p.stderr.read()
        assert "Traceback" not in err, err
        outcomes[name] = (waits, code, json.loads(out)["status"] if code == 0 else err)
    approved = [n for n, (_, code, status) in outcomes.items() if status == "approved"]
    assert len(approved) == 1, outcomes
    for name, (waits, code, status) in outcomes.items():
        if name in approved:
            continue
        if waits:
            assert (code, status) == (0, "waiting"), outcomes
        else:
            assert code == 5 and f"slot {slot} is full" in status, outcomes
    runner_env = {"SESSIONCTL_DB": location, "SESSIONCTL_USER": "ada", "SESSIONCTL_TZ": "UTC"}
    from typer.testing import CliRunner

    from sessionctl.cli import app

    shown = json.loads(CliRunner().invoke(app, ["slot", "show", str(slot), "--json"],
                                          env=runner_env).stdout)
    assert (shown["booked"], shown["status"]) == (1, "booked")
    assert sorted(r["status"] for r in shown["requests"]) == ["approved"] + ["waiting"] * (
        8 - (approved[0] in {f"s{i:02d}" for i in range(1, 16, 2)}))
