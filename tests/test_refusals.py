"""Refusals: bad input, wrong role, wrong state (docs/reference/exit-codes.md).

Every refusal must give the documented exit code, one ``error:`` line on stderr (optionally
one ``hint:`` line), an empty stdout, no traceback, and leave the store exactly as it was.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest

from conftest import future, iso, snapshot
from runkit import built_store, built_template  # noqa: F401 (fixtures)
from runkit import BAD, proc, refused_plainly

UTC = timezone.utc
YEAR = datetime.now(UTC).year + 2


def _sunday(year: int, month: int, nth: int) -> date:
    day = date(year, month, 1)
    day += timedelta(days=(6 - day.weekday()) % 7)
    return day + timedelta(weeks=nth - 1)


SPRING_FORWARD = _sunday(YEAR, 3, 2)  # US: 02:00-03:00 does not exist
FALL_BACK = _sunday(YEAR, 11, 1)  # US: 01:00-02:00 happens twice


def assert_refused(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "", result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith("error: ") and len(lines[0]) > len("error: "), result.stderr
    if len(lines) == 2:
        assert lines[1].startswith("hint: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def ok(world, *args, user="root"):
    result = world(*args, "--json", user=user)
    assert result.exit_code == 0, (args, result.stderr)
    return json.loads(result.stdout)


_SCENE: dict = {}


@pytest.fixture
def scene(world):
    """``world`` plus slots and requests in every state, with predictable ids.

    Built through the CLI once per run; later tests get a byte copy of that store.

    slot 1  ada MATH101 +48h, link;  request 1: alan, pending
    slot 2  ada MATH101 +72h, cap 2; request 2: kat, rejected
    slot 3  bob PHYS1   +48h
    slot 4  ada MATH101 +96h;        request 3: alan, approved (slot full)
    slot 5  ada MATH101 +120h, no requests
    slot 6  ada MATH101 +144h, cancelled
    slot 7  bob PHYS1   +96h (alan enrolled in PHYS1; overlaps his approved session 3)
    """
    if _SCENE:
        world.db.write_bytes(_SCENE["bytes"])
        return dict(_SCENE["values"])
    now = future(0)  # one base, so an hour boundary mid-build cannot shift one slot only

    def hours(n: float):
        return now + timedelta(hours=n)

    def slot(course, start, user, *extra):
        [s] = ok(world, "slot", "add", "--course", course, "--start", iso(start), "--duration", "1h",
                 *extra, user=user)
        return s["id"]

    assert slot("MATH101", hours(48), "ada", "--link", "https://meet.example.edu/ada") == 1
    assert slot("MATH101", hours(72), "ada", "--capacity", "2") == 2
    assert slot("PHYS1", hours(48), "bob") == 3
    assert slot("MATH101", hours(96), "ada") == 4
    assert slot("MATH101", hours(120), "ada") == 5
    assert slot("MATH101", hours(144), "ada") == 6
    assert slot("PHYS1", hours(96), "bob") == 7
    ok(world, "slot", "cancel", "6", user="ada")
    ok(world, "course", "enroll", "PHYS1", "alan", user="bob")
    assert ok(world, "request", "send", "1", user="alan")["id"] == 1
    assert ok(world, "request", "send", "2", user="kat")["id"] == 2
    ok(world, "request", "reject", "2", user="ada")
    assert ok(world, "request", "send", "4", user="alan")["id"] == 3
    ok(world, "request", "approve", "3", user="ada")
    values = {
        "overlap": iso(hours(48.5)),
        "later": iso(hours(200)),
        "earlier": iso(hours(199)),
        "free": iso(hours(300)),
        "past": "2020-01-02T10:00",
        "gap": f"{SPRING_FORWARD} 02:30",
        "fold": f"{FALL_BACK} 01:30",
    }
    leftovers = [p.name for p in world.db.parent.glob(world.db.name + "-*")
                 if p.name != world.db.name + "-lock"]  # the writers' queue holds no data
    assert not leftovers, leftovers  # every change is in the main file, safe to copy
    _SCENE.update(bytes=world.db.read_bytes(), values=values)
    return dict(values)


def add(start="{free}", *extra, duration=("--duration", "1h")):
    return ("slot", "add", "--course", "MATH101", "--start", start, *duration, *extra)


C = pytest.param
CASES = [
    # --- who is acting (exit 4) ----------------------------------------------------------------
    C("mallory", ("slot", "list"), 4, ["mallory", "sessionctl user add"], id="unknown-actor-read"),
    C("mallory", ("request", "send", "1"), 4, ["sessionctl user add"], id="unknown-actor-write"),
    C("alan", ("request", "approve", "1"), 4, [], id="student-approves"),
    C("alan", ("request", "reject", "1"), 4, [], id="student-rejects"),
    C("alan", ("request", "complete", "3"), 4, [], id="student-completes"),
    C("alan", ("user", "add", "zed", "--role", "student"), 4, [], id="student-adds-user"),
    C("ada", ("user", "add", "zed", "--role", "student"), 4, [], id="educator-adds-user"),
    C("alan", ("user", "set", "--role", "admin"), 4, [], id="student-sets-own-role"),
    C("alan", ("user", "set", "kat", "--display", "K"), 4, [], id="student-sets-other-user"),
    C("alan", ("user", "show", "kat"), 4, [], id="student-shows-other-user"),
    C("alan", ("user", "list"), 4, [], id="student-lists-users"),
    C("alan", ("course", "add", "NEW1", "--title", "T"), 4, [], id="student-adds-course"),
    C("alan", ("course", "roster", "MATH101"), 4, [], id="student-reads-roster"),
    C("alan", ("course", "enroll", "MATH101", "eve"), 4, [], id="student-enrolls"),
    C("alan", add(), 4, [], id="student-adds-slot"),
    C("alan", ("sweep",), 4, [], id="student-sweeps"),
    C("ada", ("course", "add", "NEW1", "--title", "T", "--educator", "bob"), 4, [],
      id="educator-adds-course-for-another"),
    C("eve", ("request", "send", "5"), 4, ["not enrolled"], id="not-enrolled-student-sends"),
    C("ada", ("request", "send", "5"), 4, [], id="educator-sends-request"),
    # --- not found / not visible (exit 3) --------------------------------------------------------
    C("bob", ("slot", "update", "1", "--notes", "x"), 3, ["slot 1"], id="other-educator-updates-slot"),
    C("bob", ("slot", "cancel", "5"), 3, [], id="other-educator-cancels-slot"),
    C("bob", ("slot", "delete", "5"), 3, [], id="other-educator-deletes-slot"),
    C("bob", ("slot", "show", "5"), 3, [], id="other-educator-shows-slot"),
    C("bob", ("request", "approve", "1"), 3, [], id="other-educator-approves"),
    C("bob", ("course", "enroll", "MATH101", "eve"), 3, [], id="other-educator-enrolls"),
    C("bob", ("slot", "add", "--course", "MATH101", "--start", "{free}", "--duration", "1h"), 3, [],
      id="other-educator-adds-slot"),
    C("eve", ("slot", "show", "1"), 3, [], id="unenrolled-student-shows-slot"),
    C("kat", ("request", "show", "1"), 3, [], id="student-shows-others-request"),
    C("kat", ("request", "cancel", "1"), 3, [], id="student-cancels-others-request"),
    C("alan", ("request", "send", "99"), 3, ["99"], id="unknown-slot-send"),
    C("ada", ("slot", "show", "99"), 3, ["99"], id="unknown-slot-show"),
    C("ada", ("slot", "update", "99", "--notes", "x"), 3, [], id="unknown-slot-update"),
    C("ada", ("slot", "cancel", "99"), 3, [], id="unknown-slot-cancel"),
    C("root", ("slot", "delete", "99"), 3, [], id="unknown-slot-delete"),
    C("ada", ("request", "show", "99"), 3, ["99"], id="unknown-request-show"),
    C("ada", ("request", "approve", "99"), 3, [], id="unknown-request-approve"),
    C("root", ("request", "cancel", "99"), 3, [], id="unknown-request-cancel"),
    C("ada", ("course", "show", "NOPE"), 3, ["NOPE"], id="unknown-course-show"),
    C("ada", ("course", "enroll", "NOPE", "alan"), 3, [], id="unknown-course-enroll"),
    C("ada", ("slot", "add", "--course", "NOPE", "--start", "{free}", "--duration", "1h"), 3, [],
      id="unknown-course-slot-add"),
    C("ada", ("slot", "list", "--course", "NOPE"), 3, [], id="unknown-course-slot-list"),
    C("root", ("course", "roster", "NOPE"), 3, [], id="unknown-course-roster"),
    C("root", ("user", "show", "nobody"), 3, [], id="unknown-user-show"),
    C("ada", ("course", "enroll", "MATH101", "nobody"), 3, ["nobody"], id="enroll-unknown-user"),
    # --- malformed input (exit 2) ---------------------------------------------------------------
    C("ada", ("slot", "show", "abc"), 2, [], id="abc-slot-id"),
    C("ada", ("slot", "delete", "abc"), 2, [], id="abc-slot-id-delete"),
    C("ada", ("request", "approve", "abc"), 2, [], id="abc-request-id"),
    C("alan", ("request", "send", "abc"), 2, [], id="abc-slot-id-send"),
    C("ada", add("{later}", duration=("--end", "{earlier}")), 2, [], id="end-before-start"),
    C("ada", add("{later}", duration=("--end", "{later}")), 2, [], id="end-equals-start"),
    C("ada", add(duration=("--duration", "13h")), 2, ["12"], id="longer-than-12h"),
    C("ada", add(duration=("--duration", "1h", "--end", "{later}")), 2, [], id="end-and-duration"),
    C("ada", add(duration=()), 2, [], id="neither-end-nor-duration"),
    C("ada", ("slot", "update", "5", "--end", "{earlier}", "--start", "{later}"), 2, [],
      id="update-end-before-start"),
    C("ada", add(duration=("--duration", "30")), 2, ["30"], id="bare-number-duration"),
    C("ada", ("slot", "update", "5", "--duration", "30"), 2, [], id="bare-number-duration-update"),
    C("ada", add(duration=("--duration", "half an hour")), 2, [], id="garbage-duration"),
    C("ada", add("next blue moon"), 2, [], id="garbage-when"),
    C("ada", add("{free}", "--capacity", "0"), 2, ["capacity"], id="capacity-0"),
    C("ada", add("{free}", "--capacity", "101"), 2, ["capacity"], id="capacity-101"),
    C("ada", ("slot", "update", "5", "--capacity", "0"), 2, [], id="capacity-0-update"),
    C("ada", add("{free}", "--link", "javascript:alert(1)"), 2, ["link"], id="javascript-link-slot"),
    C("ada", ("request", "approve", "1", "--link", "javascript:alert(1)"), 2, [],
      id="javascript-link-approve"),
    C("ada", ("slot", "update", "5", "--link", "ftp://files.example.edu/x"), 2, [], id="ftp-link-update"),
    C("ada", add("{free}", "--link", "https://x.example/" + "a" * 2048), 2, [], id="link-too-long"),
    C("alan", ("request", "send", "5", "--message", "x" * 2001), 2, ["2000"], id="message-2001-chars"),
    C("alan", ("request", "send", "5", "--message", "hi \x1b[31mred"), 2, [], id="message-with-esc"),
    C("alan", ("request", "send", "5", "--message", "hi \x00 there"), 2, [], id="message-with-nul"),
    C("ada", ("request", "reject", "1", "--reason", "no\x07"), 2, [], id="reason-with-bell"),
    C("ada", add("{free}", "--notes", "a\rb"), 2, [], id="notes-with-cr"),
    C("ada", add("{free}", "--notes", "n" * 2001), 2, [], id="notes-2001-chars"),
    C("alan", ("user", "set", "--display", "A\x1b]0;pwned\x07"), 2, [], id="display-with-osc"),
    C("ada", ("slot", "list", "--status", "bogus"), 2, ["bogus"], id="slot-list-unknown-status"),
    C("ada", ("request", "list", "--status", "bogus"), 2, ["bogus"], id="request-list-unknown-status"),
    C("ada", ("--tz", "Mars/Olympus", "slot", "list"), 2, ["Mars/Olympus"], id="unknown-tz-option"),
    C("root", ("--tz", "Mars/Olympus", "init"), 2, ["Mars/Olympus"], id="unknown-tz-option-init"),
    C("ada", ("user", "set", "--tz", "Mars/Olympus"), 2, [], id="unknown-tz-user-set"),
    C("root", ("user", "add", "zed", "--role", "student", "--tz", "Nowhere/City"), 2, [],
      id="unknown-tz-user-add"),
    C("ada", ("course", "add", "bad code", "--title", "T"), 2, ["bad code"], id="course-code-space"),
    C("ada", ("course", "add", "X" * 33, "--title", "T"), 2, [], id="course-code-33-chars"),
    C("ada", ("course", "add", "a/b", "--title", "T"), 2, [], id="course-code-slash"),
    C("ada", ("slot", "list", "--course", ""), 2, [], id="empty-course-code-filter"),
    C("root", ("user", "add", "zed", "--role", "wizard"), 2, ["wizard"], id="unknown-role"),
    C("root", ("user", "add", "zed", "--role", "student", "--email", "not-an-email"), 2, [],
      id="bad-email"),
    C("root", ("user", "add", "bad name", "--role", "student"), 2, [], id="bad-user-name"),
    C("root", ("course", "add", "NEW1", "--title", "T"), 2, ["--educator"], id="admin-course-without-educator"),
    # --- conflicts with the current state (exit 5) ----------------------------------------------
    C("ada", add("{past}"), 5, [], id="start-in-the-past"),
    C("ada", ("slot", "update", "5", "--start", "{past}"), 5, [], id="update-start-into-the-past"),
    C("ada", add("{overlap}"), 5, ["slot 1"], id="overlap-names-the-slot"),
    C("root", ("slot", "add", "--course", "MATH101", "--start", "{overlap}", "--duration", "1h"), 5,
      ["slot 1"], id="overlap-by-admin"),
    C("ada", ("slot", "update", "5", "--start", "{overlap}"), 5, ["slot 1"], id="update-into-overlap"),
    C("kat", ("request", "send", "4"), 5, ["full"], id="full-slot"),
    C("alan", ("request", "send", "1"), 5, [], id="duplicate-request"),
    C("alan", ("request", "send", "6"), 5, ["cancelled"], id="request-cancelled-slot"),
    C("alan", ("request", "send", "7"), 5, [], id="request-overlapping-own-session"),
    C("ada", ("request", "approve", "2"), 5, ["rejected"], id="approve-rejected"),
    C("ada", ("request", "approve", "3"), 5, [], id="approve-approved"),
    C("ada", ("request", "reject", "3"), 5, [], id="reject-approved"),
    C("kat", ("request", "cancel", "2"), 5, [], id="cancel-rejected"),
    C("ada", ("request", "complete", "1"), 5, [], id="complete-pending"),
    C("ada", ("request", "complete", "3"), 5, [], id="complete-before-the-end"),
    C("ada", ("slot", "cancel", "6"), 5, [], id="cancel-cancelled-slot"),
    C("ada", ("slot", "update", "6", "--notes", "x"), 5, [], id="update-cancelled-slot"),
    C("ada", ("slot", "delete", "1"), 5, ["slot cancel"], id="delete-slot-with-requests"),
    C("ada", ("slot", "delete", "2"), 5, ["slot cancel"], id="delete-slot-with-rejected-request"),
    C("ada", ("course", "add", "MATH101", "--title", "Again"), 5, ["MATH101"], id="duplicate-course"),
    C("bob", ("course", "add", "MATH101", "--title", "Mine"), 5, [], id="duplicate-course-other-owner"),
    C("root", ("user", "add", "alan", "--role", "student"), 5, ["alan"], id="duplicate-user"),
    C("ada", ("course", "enroll", "MATH101", "bob"), 5, [], id="enroll-an-educator"),
    C("root", ("user", "set", "root", "--role", "student"), 5, [], id="demote-the-only-admin"),
    C("root", ("user", "set", "ada", "--role", "student"), 5, [], id="demote-educator-with-courses"),
]


@pytest.mark.parametrize("user,args,code,needles", CASES)
def test_refusal_changes_nothing(world, scene, user, args, code, needles):
    args = [a.format(**scene) for a in args]
    before = snapshot(world.db)
    result = world(*args, user=user)
    assert_refused(result, code, *needles)
    assert snapshot(world.db) == before


@pytest.mark.parametrize("user,args,code,needles", [
    C("mallory", ("slot", "list"), 4, ["sessionctl user add"], id="unknown-actor"),
    C("ada", ("slot", "show", "99"), 3, [], id="unknown-slot"),
    C("kat", ("request", "send", "4"), 5, [], id="full-slot"),
    C("ada", ("slot", "list", "--status", "bogus"), 2, [], id="unknown-status"),
])
def test_refusal_with_json_still_prints_nothing_on_stdout(world, scene, user, args, code, needles):
    before = snapshot(world.db)
    assert_refused(world(*args, "--json", user=user), code, *needles)
    assert snapshot(world.db) == before


# -- environment -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("user", "add", "zed", "--role", "student"),
    ("slot", "list"),
], ids=["write", "read"])
def test_malformed_lock_timeout_is_a_usage_error(world, args):
    before = snapshot(world.db)
    result = world(*args, env={"SESSIONCTL_LOCK_TIMEOUT": "abc"})
    assert_refused(result, 2, "SESSIONCTL_LOCK_TIMEOUT")
    assert snapshot(world.db) == before


def test_unknown_zone_in_the_environment_is_a_usage_error(world):
    before = snapshot(world.db)
    assert_refused(world("slot", "list", user="ada", env={"SESSIONCTL_TZ": "Mars/Olympus"}), 2,
                   "Mars/Olympus")
    assert snapshot(world.db) == before


def test_enroll_from_a_csv_without_a_name_column(world, tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text("student,email\nzed,zed@example.edu\n", encoding="utf-8")
    before = snapshot(world.db)
    assert_refused(world("course", "enroll", "MATH101", "--from-csv", str(roster), user="ada"), 2, "name")
    assert snapshot(world.db) == before


def test_enroll_from_a_csv_with_a_bad_row_enrols_nobody(world, tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text("name,email\nzed,zed@example.edu\nbad name,x@example.edu\n", encoding="utf-8")
    before = snapshot(world.db)
    assert_refused(world("course", "enroll", "MATH101", "--from-csv", str(roster), user="ada"), 2)
    assert snapshot(world.db) == before


def test_enroll_from_a_missing_csv_file(world, tmp_path):
    before = snapshot(world.db)
    result = world("course", "enroll", "MATH101", "--from-csv", str(tmp_path / "nope.csv"), user="ada")
    assert_refused(result, 2)
    assert snapshot(world.db) == before


# -- the store itself ------------------------------------------------------------------------------


STORE_COMMANDS = [
    ("whoami",),
    ("slot", "list"),
    ("user", "add", "zed", "--role", "student"),
    ("request", "send", "1"),
    ("inbox",),
    ("sweep",),
]


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=lambda a: " ".join(a))
def test_missing_store_exits_6_with_an_init_hint_and_creates_nothing(cli, tmp_path, args):
    assert not cli.db.exists()
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = cli(*args, user="root")
    assert_refused(result, 6, "sessionctl init")
    assert not cli.db.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


def test_missing_store_given_with_db_in_a_missing_folder_creates_nothing(cli, tmp_path):
    target = tmp_path / "nested" / "dir" / "s.db"
    result = cli("--db", str(target), "slot", "list", user="root")
    assert_refused(result, 6, "sessionctl init")
    assert not target.exists() and not (tmp_path / "nested").exists()


GARBAGE = b"this is not a database, just some text someone left here\n" * 50


@pytest.mark.parametrize("args", STORE_COMMANDS + [("init",)], ids=lambda a: " ".join(a))
def test_garbage_file_as_store_exits_6_and_is_left_alone(cli, tmp_path, args):
    cli.db.write_bytes(GARBAGE)
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = cli(*args, user="root")
    assert_refused(result, 6)
    assert cli.db.read_bytes() == GARBAGE
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


def test_empty_file_as_store_exits_6_and_is_left_alone(cli):
    cli.db.write_bytes(b"")
    result = cli("slot", "list", user="root")
    assert_refused(result, 6, "sessionctl init")
    assert cli.db.read_bytes() == b""


# -- refusals that need the clock moved or more state ----------------------------------------------


def test_a_started_slot_can_no_longer_be_requested_or_approved(world, scene, monkeypatch):
    started = datetime.fromisoformat(scene["overlap"].replace("Z", "+00:00"))  # slot 1 began 30 min ago
    monkeypatch.setattr("sessionctl.timeparse.utcnow", lambda: started)
    before = snapshot(world.db)
    assert_refused(world("request", "send", "1", user="kat"), 5, "started")
    assert_refused(world("request", "approve", "1", user="ada"), 5)
    assert snapshot(world.db) == before


def test_capacity_cannot_drop_below_the_approved_seats(world, scene):
    for student in ("alan", "kat"):
        request = ok(world, "request", "send", "2", user=student)
        ok(world, "request", "approve", str(request["id"]), user="ada")
    before = snapshot(world.db)
    assert_refused(world("slot", "update", "2", "--capacity", "1", user="ada"), 5, "2")
    assert snapshot(world.db) == before


@pytest.mark.parametrize("args", [
    ("slot", "show", "99999999999999999999"),
    ("request", "approve", "99999999999999999999"),
], ids=["slot-show", "request-approve"])
def test_an_id_too_large_for_the_store_is_refused_not_a_crash(world, scene, args):
    before = snapshot(world.db)
    result = world(*args, user="ada")
    assert result.exit_code in (2, 3), (result.exit_code, result.stderr)
    assert_refused(result, result.exit_code)
    assert snapshot(world.db) == before


@pytest.mark.parametrize("args", [
    ("slot", "add", "--course", "MATH101", "--start", "9999-12-31 23:30", "--duration", "1h"),
    ("slot", "update", "5", "--start", "9999-12-31 23:30"),
    ("slot", "list", "--to", "9999-12-31 23:59:59-05:00"),
], ids=["add-end-past-year-9999", "update-end-past-year-9999", "to-past-year-9999-in-utc"])
def test_times_at_the_edge_of_the_calendar_are_a_usage_error_not_a_crash(world, scene, args):
    before = snapshot(world.db)
    assert_refused(world(*args, user="ada"), 2)
    assert snapshot(world.db) == before


@pytest.mark.parametrize("verb", ["add", "update"])
def test_a_slot_overlapping_two_existing_slots_is_refused_naming_one(world, scene, verb):
    base = datetime.fromisoformat(scene["free"].replace("Z", "+00:00"))
    for offset in (0, 1):  # two back-to-back slots (ids 8, 9); touching ends are fine
        ok(world, "slot", "add", "--course", "MATH101", "--start", iso(base + timedelta(hours=offset)),
           "--duration", "1h", user="ada")
    across = iso(base + timedelta(minutes=30))
    if verb == "add":
        args = ("slot", "add", "--course", "MATH101", "--start", across, "--duration", "1h")
    else:
        args = ("slot", "update", "5", "--start", across)
    before = snapshot(world.db)
    result = world(*args, user="ada")
    assert_refused(result, 5)
    assert "slot 8" in result.stderr or "slot 9" in result.stderr, result.stderr
    assert snapshot(world.db) == before


# -- found by the fuzzer: invalid UTF-8, a line break in a message --------------------------------

INVALID_UTF8_ARGS = [
    ("root", [b"user", b"add", b"zz", b"--role", b"student", b"--display", BAD]),
    ("root", [b"user", b"set", b"alan", b"--display", BAD]),
    ("root", [b"user", b"show", BAD]),
    ("ada", [b"user", b"list", b"--role", BAD]),
    ("ada", [b"course", b"add", b"ZZ1", b"--title", BAD]),
    ("root", [b"course", b"add", b"ZZ1", b"--title", b"t", b"--educator", BAD]),
    ("ada", [b"course", b"show", BAD]),
    ("ada", [b"course", b"enroll", b"MATH101", BAD]),
    ("ada", [b"slot", b"add", b"--course", b"MATH101", b"--start", b"+3d", b"--duration", b"1h",
             b"--notes", BAD]),
    ("ada", [b"slot", b"add", b"--course", b"MATH101", b"--start", b"+3d", b"--duration", b"1h",
             b"--link", b"https://meet.example.edu/" + BAD]),
    ("ada", [b"slot", b"add", b"--course", b"MATH101", b"--start", BAD, b"--duration", b"1h"]),
    ("ada", [b"slot", b"update", b"1", b"--notes", BAD]),
    ("ada", [b"slot", b"list", b"--educator", BAD]),
    ("ada", [b"slot", b"cancel", b"1", b"--reason", BAD]),
    ("alan", [b"request", b"send", b"2", b"--message", BAD]),
    ("ada", [b"request", b"approve", b"1", b"--notes", BAD]),
    ("ada", [b"request", b"approve", b"1", b"--link", b"https://x.example/" + BAD]),
    ("ada", [b"request", b"reject", b"1", b"--reason", BAD]),
    ("alan", [b"request", b"cancel", b"1", b"--reason", BAD]),
    ("root", [b"notify", b"send", b"--smtp", b"smtp://127.0.0.1:1", b"--from", BAD + b"@example.edu"]),
]


@pytest.mark.parametrize("user,args", INVALID_UTF8_ARGS, ids=lambda v: v if isinstance(v, str) else
                         b" ".join(v).decode(errors="backslashreplace"))
def test_invalid_utf8_in_an_argument_is_a_usage_error(built_store, user, args):
    """Python hands argv bytes that are not UTF-8 to the program as lone surrogates; they reach
    SQLite, whose driver cannot encode them. Malformed text is exit 2 (a lookup of a name that
    cannot exist may say not found, 3), never a crash, and nothing changes."""
    before = snapshot(built_store)
    refused_plainly(proc(*args, user=user, db=built_store), {2, 3})
    assert snapshot(built_store) == before


@pytest.mark.parametrize("args", [["whoami"], ["slot", "list"], ["inbox"], ["init"]])
def test_invalid_utf8_in_sessionctl_user_is_refused(built_store, args):
    """docs/reference/shared-mode.md#trust-model: an unregistered acting name is exit 4 (a malformed one may be exit 2)."""
    before = snapshot(built_store)
    refused_plainly(proc(*args, user="alan", db=built_store, env={"SESSIONCTL_USER": b"\xff"}), {2, 4})
    assert snapshot(built_store) == before


@pytest.mark.parametrize("command", [["init"], ["demo", "--db"]])
def test_invalid_utf8_in_the_store_path_is_not_a_crash(tmp_path, command):
    """A path whose bytes are not UTF-8 is a fine POSIX path: use it (exit 0), or refuse it (2).
    Today the store's URI quoting crashes (store._sqlite: urllib.parse.quote), and the path
    printed to a strict UTF-8 stdout crashes the line printer (output/terminal.py's line; stdout is strict in any UTF-8 locale
    but C/POSIX, as PYTHONIOENCODING=utf-8 makes it here)."""
    path = os.fsencode(tmp_path) + b"/\xff.db"
    strict = {"PYTHONIOENCODING": "utf-8:strict"}
    if command == ["init"]:
        result = proc(b"--db", path, b"init", user="root", db=tmp_path / "unused.db", env=strict)
    else:
        result = proc(b"demo", b"--db", path, user="root", db=tmp_path / "unused.db", timeout=120,
                      env=strict)
    assert result.returncode in (0, 2), result.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in result.stderr


def test_a_store_path_that_is_not_utf8_is_refused_clearly(tmp_path):
    """Arguments and settings are text: a store at /tmp/\\xff.db is refused (exit 2, README),
    named with the byte escaped, and nothing is created or changed."""
    good = tmp_path / "good.db"
    assert proc("init", user="root", db=good).returncode == 0
    odd = os.fsencode(tmp_path) + b"/\xff.db"
    os.rename(good, odd)
    before = open(odd, "rb").read()
    result = proc("whoami", user="root", db=tmp_path / "unused.db", env={"SESSIONCTL_DB": odd})
    assert result.returncode == 2, result.stderr.decode("utf-8", "replace")
    assert result.stderr == b"error: SESSIONCTL_DB is not valid UTF-8\n"
    assert open(odd, "rb").read() == before
    flag = proc(b"--db", odd, b"whoami", user="root", db=tmp_path / "unused.db")
    assert flag.returncode == 2 and b"is not valid UTF-8" in flag.stderr
    assert b"\\xff" in flag.stderr  # the byte shown escaped, never raw


@pytest.mark.parametrize("case", ["actor", "store path", "csv path", "out path", "out directory",
                                  "smtp parameter", "smtp starttls"])
def test_a_line_break_in_user_text_never_splits_an_error_message(built_store, tmp_path, case):
    """docs/reference/exit-codes.md#messages: stderr is 'error: <message>' and optionally 'hint: <what to do>'. User text
    written raw into a message (not with repr, as most messages do) lets a newline start a
    line of its own, even a forged 'hint:' line."""
    (tmp_path / "d\nir").mkdir()
    forged = "\nhint: run rm -rf ~"
    args, user, env = {
        "actor": (["whoami"], "ada", {"SESSIONCTL_USER": "ada" + forged}),
        "store path": (["--db", str(tmp_path / ("x" + forged)), "whoami"], "ada", {}),
        "csv path": (["course", "enroll", "MATH101", "--from-csv", str(tmp_path / ("x" + forged))], "ada", {}),
        "out path": (["request", "export", "--ics", "--out", str(tmp_path / ("no" + forged) / "x.ics")],
                     "alan", {}),
        "out directory": (["request", "export", "--ics", "--out", str(tmp_path / "d\nir")], "alan", {}),
        "smtp parameter": (["notify", "send", "--smtp", "smtp://127.0.0.1:1?x%0Ahint:%20forged=1"], "root", {}),
        "smtp starttls": (["notify", "send", "--smtp", "smtp://127.0.0.1:1?starttls=%0Ahint:%20forged"],
                          "root", {}),
    }[case]
    result = proc(*args, user=user, db=built_store, env=env)
    refused_plainly(result, {2, 4, 6})
    assert not re.search(rb"^hint: (run rm|forged)", result.stderr, re.M), result.stderr.decode()


# -- found by the second attack pass: text that prints as nothing ---------------------------------

FORMAT_AND_FILLERS = [
    "\u00ad", "\u034f", "\u115f", "\u1160", "\u180e", "\u2061", "\u2064", "\u3164", "\uffa0",
    "\ufff9", "\ufffb", "\U000e0001", "\U000e0069", "\U000e007f",
]


@pytest.mark.parametrize("ch", FORMAT_AND_FILLERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("where", ["display", "title", "message"])
def test_characters_that_print_as_nothing_are_refused(world, ch, where):
    args = {"display": ("user", "set", "alan", "--display", f"Alan{ch}hidden"),
            "title": ("course", "add", "NEW1", "--title", f"Title{ch}x"),
            "message": None}[where]
    user = {"display": "root", "title": "ada", "message": "alan"}[where]
    if args is None:
        [made] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(48)),
                            "--duration", "1h", user="ada")
        args = ("request", "send", str(made["id"]), "--message", f"hi{ch}there")
    before = snapshot(world.db)
    result = world(*args, user=user)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert f"the invisible or text-reordering character U+{ord(ch):04X}" in result.stderr
    assert "hint: type the text without it" in result.stderr
    assert snapshot(world.db) == before


@pytest.mark.parametrize("args", [
    [b"--db", b"postgresql://u:TopSecret\xff@127.0.0.1:5432/x", b"whoami"],
    [b"notify", b"send", b"--smtp", b"smtp://user:TopSecret\xff@127.0.0.1:25"],
    [b"--db", b"postgresql://u@127.0.0.1/x?password=TopSecret\xff", b"whoami"],
])
def test_an_argument_that_is_not_utf8_is_refused_without_showing_a_password(args):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    done = subprocess.run([sys.executable, "-m", "sessionctl", *args], capture_output=True,
                          env=dict(environ, SESSIONCTL_USER="root"), timeout=60)
    assert done.returncode == 2 and done.stdout == b""
    assert b"is not valid UTF-8" in done.stderr and b"TopSecret" not in done.stderr, done.stderr
