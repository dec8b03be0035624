"""Every command through the CLI, in-process: exit codes, tables and ``--json`` (README.md#command-reference,
docs/reference/output.md#json).

Each test drives the product the way a user or a cron script does and checks what they see:
the exit code, the exact JSON field names of docs/reference/output.md#json, UTC ``Z`` times, and what the tables
print. Refusals live in ``test_refusals.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

import sessionctl
from conftest import future, iso, snapshot
from runkit import proc, refused_plainly, refused_unchanged, unusable_paths

UTC = timezone.utc

USER = {"name", "role", "display", "email", "tz"}
ONE_USER = USER | {"busy"}  # one user shown alone: their busy sources (docs/reference/busy-times.md#sources)
COURSE = {"code", "title", "educator", "enrolled", "policy", "buffer", "link_template"}
SLOT = {"id", "course", "educator", "start", "end", "capacity", "booked", "status", "notes", "link"}
REQUEST = {"id", "slot", "course", "student", "educator", "status", "message", "reason", "link",
           "notes", "start", "end", "created", "updated", "replaces", "replaced_by",
           "waitlist_position", "attendance", "rating"}
HISTORY = {"at", "actor", "from", "to", "note"}
NO_POLICY = {"min_notice": None, "cancel_notice": None, "horizon": None, "max_active": None,
             "auto_approve": False}
NOTIFICATION = {"id", "kind", "request", "slot", "text", "created", "read"}

Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
YEAR = datetime.now(UTC).year + 2  # a fixed calendar date that stays in the future


class Checked:
    """The conftest runner plus the output hygiene every invocation must keep (docs/reference/exit-codes.md#messages)."""

    def __init__(self, cli):
        self.cli = cli
        self.db = cli.db

    def __call__(self, *args, **kwargs):
        result = self.cli(*args, **kwargs)
        assert "Traceback" not in result.stdout + result.stderr, (args, result.stderr)
        if result.exit_code != 0:
            assert result.stdout == "", (args, result.stdout)
            assert result.stderr.startswith("error: "), (args, result.stderr)
        return result

    def json(self, *args, user="root", **kwargs):
        result = self(*args, "--json", user=user, **kwargs)
        assert result.exit_code == 0, (args, result.exit_code, result.stderr)
        return json.loads(result.stdout)

    def ok(self, *args, user="root", **kwargs) -> str:
        result = self(*args, user=user, **kwargs)
        assert result.exit_code == 0, (args, result.exit_code, result.stderr)
        return result.stdout


@pytest.fixture
def w(world) -> Checked:
    return Checked(world)


@pytest.fixture
def c(cli) -> Checked:
    return Checked(cli)


def at(monkeypatch, when: datetime) -> None:
    """Move the CLI's clock (it reads ``sessionctl.timeparse.utcnow``)."""
    monkeypatch.setattr("sessionctl.timeparse.utcnow", lambda: when.replace(microsecond=0))


def add_slot(w, start: datetime, *, duration="1h", course="MATH101", user="ada", extra=()) -> dict:
    [slot] = w.json("slot", "add", "--course", course, "--start", iso(start), "--duration",
                    duration, *extra, user=user)
    return slot


def send(w, slot_id: int, user: str, message: str | None = None) -> dict:
    args = ["request", "send", str(slot_id)] + (["--message", message] if message else [])
    return w.json(*args, user=user)


def assert_slot(obj: dict) -> None:
    assert set(obj) == SLOT
    assert Z.match(obj["start"]) and Z.match(obj["end"]), obj


def assert_request(obj: dict, extra: set = frozenset()) -> None:
    assert set(obj) == REQUEST | extra
    for key in ("start", "end", "created", "updated"):
        assert Z.match(obj[key]), (key, obj[key])


# -- top level -------------------------------------------------------------------------------------


def test_version_prints_the_package_version(c):
    out = c.ok("--version")
    assert out.strip() == f"sessionctl {sessionctl.__version__}"


def test_init_creates_the_store_and_makes_the_first_caller_admin(c):
    assert not c.db.exists()
    out = c.ok("init", user="root")
    assert c.db.exists()
    assert str(c.db) in out and "root" in out
    me = c.json("whoami", user="root")
    assert me["role"] == "admin"


def test_init_is_idempotent_and_never_makes_a_second_admin(c):
    first = c.json("init", user="root")
    assert first["admin"] == "root" and first["store"] == str(c.db)
    before = snapshot(c.db)
    again = c.json("init", user="root")
    assert again["admin"] is None
    other = c.json("init", user="zed")  # another login on an initialised store
    assert other["admin"] is None
    assert snapshot(c.db) == before
    assert [u["name"] for u in c.json("user", "list", "--role", "admin")] == ["root"]
    assert c.json("whoami", user="zed")["registered"] is False  # init registered nobody


def test_init_promotes_nobody_when_an_admin_exists_even_for_a_registered_user(w):
    w.json("init", user="ada")
    assert w.json("whoami", user="ada")["role"] == "educator"
    assert [u["name"] for u in w.json("user", "list", "--role", "admin")] == ["root"]


def test_whoami_shows_identity_and_store_location(w):
    me = w.json("whoami", user="alan")
    assert set(me) == USER | {"registered", "unread", "store"}
    assert me == {"name": "alan", "role": "student", "display": "Alan", "email": "alan@example.edu",
                  "tz": None, "registered": True, "unread": 0, "store": str(w.db)}
    table = w.ok("whoami", user="alan")
    for text in ("alan", "student", "Alan", "alan@example.edu", str(w.db)):
        assert text in table


# -- user ------------------------------------------------------------------------------------------


def test_user_add_prints_the_new_user(w):
    user = w.json("user", "add", "zoe", "--role", "educator", "--display", "Zoe Z",
                  "--email", "zoe@example.edu", "--tz", "Europe/Berlin")
    assert set(user) == ONE_USER
    assert user == {"name": "zoe", "role": "educator", "display": "Zoe Z",
                    "email": "zoe@example.edu", "tz": "Europe/Berlin", "busy": []}
    assert w.json("user", "show", "zoe") == user


def test_user_list_for_admin_and_educator_with_role_filter(w):
    everyone = w.json("user", "list")
    assert all(set(u) == USER for u in everyone)
    assert {u["name"] for u in everyone} == {"root", "ada", "bob", "alan", "kat", "eve"}
    assert {u["name"] for u in w.json("user", "list", user="ada")} == {u["name"] for u in everyone}
    students = w.json("user", "list", "--role", "student", user="ada")
    assert sorted(u["name"] for u in students) == ["alan", "eve", "kat"]
    table = w.ok("user", "list", "--role", "educator")
    assert "ada@example.edu" in table and "bob" in table and "alan" not in table


def test_user_show_self_by_default_and_anyone_for_admin(w):
    me = w.json("user", "show", user="kat")
    assert set(me) == ONE_USER and me["name"] == "kat" and me["role"] == "student"
    assert w.json("user", "show", "kat", user="kat") == me
    assert w.json("user", "show", "kat", user="root") == me
    assert "kat@example.edu" in w.ok("user", "show", "kat")


def test_user_set_own_fields_but_not_own_role(w):
    changed = w.json("user", "set", "--display", "Alan T", "--email", "at@example.edu",
                     "--tz", "Europe/London", user="alan")
    assert set(changed) == ONE_USER
    assert changed == {"busy": [], "name": "alan", "role": "student", "display": "Alan T",
                       "email": "at@example.edu", "tz": "Europe/London"}
    before = snapshot(w.db)
    refused = w("user", "set", "--role", "admin", user="alan")
    assert refused.exit_code == 4
    assert snapshot(w.db) == before
    cleared = w.json("user", "set", "alan", "--email", "", user="alan")
    assert cleared["email"] is None


def test_admin_sets_role_and_fields_of_another_user(w):
    changed = w.json("user", "set", "eve", "--role", "educator", "--display", "Eve E")
    assert changed["role"] == "educator" and changed["display"] == "Eve E"
    assert w.json("whoami", user="eve")["role"] == "educator"


def test_stored_user_tz_is_the_display_zone_when_no_tz_is_given(w):
    w.json("user", "set", "--tz", "Asia/Tokyo", user="ada")
    start = datetime(YEAR, 12, 1, 14, 0, tzinfo=UTC)
    slot = add_slot(w, start)
    out = w.ok("slot", "show", str(slot["id"]), user="ada", env={"SESSIONCTL_TZ": None})
    assert f"{YEAR}-12-01 23:00" in out and "Asia/Tokyo" in out


# -- course ----------------------------------------------------------------------------------------


def test_course_add_by_educator_and_by_admin_for_an_educator(w):
    mine = w.json("course", "add", "CS-1.a_b", "--title", "Programming", user="ada")
    assert set(mine) == COURSE
    assert mine == {"code": "CS-1.a_b", "title": "Programming", "educator": "ada", "enrolled": 0,
                    "policy": NO_POLICY, "buffer": None, "link_template": None}
    theirs = w.json("course", "add", "CHEM2", "--title", "Chemistry", "--educator", "bob")
    assert theirs["educator"] == "bob"
    assert "CHEM2" in [c["code"] for c in w.json("course", "list", user="bob")]


def test_course_list_per_role(w):
    assert [c["code"] for c in w.json("course", "list")] == ["MATH101", "PHYS1"]
    own = w.json("course", "list", user="ada")
    assert [c["code"] for c in own] == ["MATH101"] and set(own[0]) == COURSE
    assert own[0]["enrolled"] == 2 and own[0]["educator"] == "ada"
    assert [c["code"] for c in w.json("course", "list", user="bob")] == ["PHYS1"]
    assert [c["code"] for c in w.json("course", "list", user="alan")] == ["MATH101"]
    assert w.json("course", "list", user="eve") == []
    table = w.ok("course", "list", user="kat")
    assert "MATH101" in table and "Maths" in table and "PHYS1" not in table


def test_course_show_for_owner_enrolled_student_and_admin(w):
    expected = {"code": "MATH101", "title": "Maths", "educator": "ada", "enrolled": 2,
                "policy": NO_POLICY, "buffer": None, "link_template": None}
    for who in ("ada", "alan", "root"):
        shown = w.json("course", "show", "MATH101", user=who)
        assert set(shown) == COURSE and shown == expected
    table = w.ok("course", "show", "MATH101", user="alan")
    assert "Ada (ada)" in table and "Maths" in table


def test_course_enroll_unenroll_and_roster(w):
    roster = w.json("course", "enroll", "MATH101", "eve", user="ada")
    assert all(set(u) == USER for u in roster)
    assert [u["name"] for u in roster] == ["alan", "eve", "kat"]
    before = snapshot(w.db)
    assert [u["name"] for u in w.json("course", "enroll", "MATH101", "eve", user="ada")] == ["alan", "eve", "kat"]
    assert snapshot(w.db) == before  # idempotent
    assert w.json("course", "show", "MATH101", user="eve")["enrolled"] == 3

    slot = add_slot(w, future(48))
    pending = send(w, slot["id"], "kat")
    left = w.json("course", "unenroll", "MATH101", "kat", user="ada")
    assert [u["name"] for u in left] == ["alan", "eve"]
    assert [u["name"] for u in w.json("course", "roster", "MATH101", user="root")] == ["alan", "eve"]
    assert "kat" not in w.ok("course", "roster", "MATH101", user="ada")
    assert w.json("request", "show", str(pending["id"]), user="ada")["status"] == "cancelled"
    assert w.json("course", "list", user="kat") == []


def test_course_enroll_from_csv_registers_unknown_students_and_is_idempotent(w, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "name,email,display\n"
        "alan,alan@example.edu,Alan\n"
        "grace,grace@example.edu,Grace Hopper\n"
        "linus,,\n",
        encoding="utf-8",
    )
    enrolled = w.json("course", "enroll", "MATH101", "--from-csv", str(roster), user="ada")
    assert [u["name"] for u in enrolled] == ["alan", "grace", "kat", "linus"]
    grace = w.json("user", "show", "grace")
    assert grace == {"name": "grace", "role": "student", "display": "Grace Hopper",
                     "email": "grace@example.edu", "tz": None, "busy": []}
    assert w.json("user", "show", "linus")["role"] == "student"
    assert w.json("course", "list", user="grace")[0]["code"] == "MATH101"

    before = snapshot(w.db)
    again = w.json("course", "enroll", "MATH101", "--from-csv", str(roster), user="ada")
    assert again == enrolled
    assert snapshot(w.db) == before


def test_course_enroll_csv_without_a_name_column_is_refused(w, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("login,email\nzed,zed@example.edu\n", encoding="utf-8")
    before = snapshot(w.db)
    result = w("course", "enroll", "MATH101", "--from-csv", str(roster), user="ada")
    assert result.exit_code == 2
    assert "name" in result.stderr
    assert snapshot(w.db) == before


# -- slot add --------------------------------------------------------------------------------------


def test_slot_add_with_end(w):
    start = future(48)
    [slot] = w.json("slot", "add", "--course", "MATH101", "--start", iso(start),
                    "--end", iso(start + timedelta(minutes=45)), "--capacity", "3",
                    "--notes", "bring questions", "--link", "https://meet.example.edu/a", user="ada")
    assert_slot(slot)
    assert slot == {"id": slot["id"], "course": "MATH101", "educator": "ada", "start": iso(start),
                    "end": iso(start + timedelta(minutes=45)), "capacity": 3, "booked": 0,
                    "status": "available", "notes": "bring questions",
                    "link": "https://meet.example.edu/a"}


@pytest.mark.parametrize("duration,minutes", [("30m", 30), ("1h", 60), ("1h30m", 90), ("90m", 90)])
def test_slot_add_with_duration(w, duration, minutes):
    start = future(48)
    slot = add_slot(w, start, duration=duration)
    assert_slot(slot)
    assert slot["start"] == iso(start) and slot["end"] == iso(start + timedelta(minutes=minutes))
    assert slot["capacity"] == 1 and slot["notes"] is None and slot["link"] is None


def test_slot_add_always_prints_a_list_and_a_table_with_its_zone(w):
    start = future(48)
    out = w.ok("slot", "add", "--course", "MATH101", "--start", iso(start), "--duration", "1h",
               user="ada")
    this_year = start.year == datetime.now(UTC).year  # lists print the year of other years only
    assert start.strftime("%a %m-%d %H:%M" if this_year else "%a %Y-%m-%d %H:%M") in out
    assert "MATH101" in out
    assert "times in UTC" in out


def test_slot_add_by_admin_in_any_course(w):
    slot = add_slot(w, future(48), course="PHYS1", user="root")
    assert slot["educator"] == "bob" and slot["course"] == "PHYS1"


def test_slot_add_iso_start_with_offset(w):
    [slot] = w.json("slot", "add", "--course", "MATH101", "--start", f"{YEAR}-12-01T14:00+02:00",
                    "--duration", "1h", user="ada")
    assert slot["start"] == f"{YEAR}-12-01T12:00:00Z" and slot["end"] == f"{YEAR}-12-01T13:00:00Z"


@pytest.mark.parametrize("how", ["--tz", "SESSIONCTL_TZ"])
@pytest.mark.parametrize("text", [f"{YEAR}-12-01T14:00", f"{YEAR}-12-01 14:00"])
def test_slot_add_start_without_offset_is_read_in_the_display_zone(w, how, text):
    if how == "--tz":
        args, env = ["--tz", "America/New_York"], None
    else:
        args, env = [], {"SESSIONCTL_TZ": "America/New_York"}
    [slot] = w.json(*args, "slot", "add", "--course", "MATH101", "--start", text,
                    "--duration", "1h", user="ada", env=env)
    assert slot["start"] == f"{YEAR}-12-01T19:00:00Z"  # 14:00 EST = 19:00 UTC
    assert slot["end"] == f"{YEAR}-12-01T20:00:00Z"
    table = w.ok(*args, "slot", "list", user="ada", env=env)
    assert f"{YEAR}-12-01 14:00" in table and "America/New_York" in table


def test_slot_add_start_in_a_form_dateutil_reads(w):
    [slot] = w.json("slot", "add", "--course", "MATH101", "--start", f"Dec 1 {YEAR} 2pm",
                    "--duration", "1h", user="ada")
    assert slot["start"] == f"{YEAR}-12-01T14:00:00Z"


# -- slot list / show ------------------------------------------------------------------------------


@pytest.fixture
def slots(w, monkeypatch):
    """Slots of every kind, by name; ``base`` is the instant their times count from."""
    base = future(0)

    def hours(n: float) -> datetime:
        return base + timedelta(hours=n)

    free = add_slot(w, hours(48), extra=["--notes", "office hour"])
    full = add_slot(w, hours(50))
    gone = add_slot(w, hours(52))
    soon = add_slot(w, hours(30), duration="2h")
    phys = add_slot(w, hours(48), course="PHYS1", user="bob")
    req = send(w, full["id"], "kat")
    w.json("request", "approve", str(req["id"]), user="ada")
    w.json("slot", "cancel", str(gone["id"]), user="ada")
    at(monkeypatch, hours(30.5))  # `soon` has started, nothing has ended
    return {"free": free["id"], "full": full["id"], "gone": gone["id"], "soon": soon["id"],
            "phys": phys["id"], "hours": hours}


def test_slot_list_student_sees_available_future_slots_of_enrolled_courses(w, slots):
    listed = w.json("slot", "list", user="alan")
    assert [s["id"] for s in listed] == [slots["free"]]
    assert set(listed[0]) == SLOT and listed[0]["status"] == "available"
    table = w.ok("slot", "list", user="alan")
    assert "Ada" in table and "ada@example.edu" in table and "office hour" in table
    assert "times in UTC" in table
    assert w.json("slot", "list", user="eve") == []


def test_slot_list_educator_sees_own_live_slots_not_ended(w, slots):
    ada = w.json("slot", "list", user="ada")
    assert sorted(s["id"] for s in ada) == sorted([slots["free"], slots["full"], slots["soon"]])
    assert all(set(s) == SLOT for s in ada)
    assert [s["id"] for s in w.json("slot", "list", user="bob")] == [slots["phys"]]


def test_slot_list_admin_sees_everyone(w, slots):
    ids = {s["id"] for s in w.json("slot", "list")}
    assert ids == {slots["free"], slots["full"], slots["soon"], slots["phys"]}
    everything = {s["id"] for s in w.json("slot", "list", "--status", "all")}
    assert everything == {slots[k] for k in ("free", "full", "gone", "soon", "phys")}


def test_slot_list_filters(w, slots):
    def ids(*args, user="root"):
        return sorted(s["id"] for s in w.json("slot", "list", *args, user=user))

    assert ids("--course", "PHYS1") == [slots["phys"]]
    assert ids("--educator", "bob") == [slots["phys"]]
    assert ids("--educator", "ada", "--status", "all") == sorted(
        [slots["free"], slots["full"], slots["gone"], slots["soon"]])
    assert ids("--status", "booked") == [slots["full"]]
    assert ids("--status", "cancelled") == [slots["gone"]]
    assert ids("--status", "available", "--course", "MATH101") == sorted([slots["free"], slots["soon"]])
    hours = slots["hours"]
    window = ["--from", iso(hours(49)), "--to", iso(hours(51))]
    assert ids(*window, "--status", "all") == [slots["full"]]
    assert ids("--from", iso(hours(47)), "--to", iso(hours(48.5))) == sorted(
        [slots["free"], slots["phys"]])
    assert ids("--course", "MATH101", "--status", "all", user="alan") == sorted(
        [slots["free"], slots["full"], slots["gone"], slots["soon"]])


def test_slot_list_table_marks_full_and_cancelled(w, slots):
    table = w.ok("slot", "list", "--status", "all", user="ada")
    assert "booked" in table and "cancelled" in table and "1/1" in table


def test_slot_list_ended_slot_is_shown_as_ended_but_keeps_status(w, monkeypatch):
    slot = add_slot(w, future(30))
    at(monkeypatch, future(40))
    listed = w.json("slot", "list", "--status", "all", user="ada")
    assert [s["status"] for s in listed if s["id"] == slot["id"]] == ["available"]
    assert w.json("slot", "list", user="ada") == []  # default hides ended slots
    assert "ended" in w.ok("slot", "show", str(slot["id"]), user="ada")


def test_slot_show_with_requests_students_see_only_their_own(w):
    slot = add_slot(w, future(48), extra=["--capacity", "2"])
    mine = send(w, slot["id"], "alan", "question 3")
    theirs = send(w, slot["id"], "kat", "loops")
    shown = w.json("slot", "show", str(slot["id"]), user="ada")
    assert set(shown) == SLOT | {"requests"}
    assert [r["id"] for r in shown["requests"]] == [mine["id"], theirs["id"]]
    for r in shown["requests"]:
        assert_request(r)
    alan = w.json("slot", "show", str(slot["id"]), user="alan")
    assert [r["id"] for r in alan["requests"]] == [mine["id"]]
    table = w.ok("slot", "show", str(slot["id"]), user="alan")
    assert "question 3" in table and "loops" not in table and "kat" not in table
    assert "(UTC)" in table
    assert [r["student"] for r in w.json("slot", "show", str(slot["id"]))["requests"]] == ["alan", "kat"]


# -- slot update / cancel / delete -----------------------------------------------------------------


def test_slot_update_fields_and_times(w):
    start = future(48)
    slot = add_slot(w, start, duration="45m")
    sid = str(slot["id"])
    moved = w.json("slot", "update", sid, "--start", iso(start + timedelta(hours=2)), user="ada")
    assert SLOT <= set(moved) <= SLOT | {"requests"}
    assert moved["start"] == iso(start + timedelta(hours=2))
    assert moved["end"] == iso(start + timedelta(hours=2, minutes=45))  # --start alone keeps the length
    longer = w.json("slot", "update", sid, "--duration", "1h30m", user="ada")
    assert longer["end"] == iso(start + timedelta(hours=3, minutes=30))
    ended = w.json("slot", "update", sid, "--end", iso(start + timedelta(hours=3)), user="ada")
    assert ended["end"] == iso(start + timedelta(hours=3))
    other = w.json("slot", "update", sid, "--capacity", "4", "--notes", "room 2",
                   "--link", "https://meet.example.edu/x", user="root")
    assert (other["capacity"], other["notes"], other["link"]) == (4, "room 2", "https://meet.example.edu/x")
    cleared = w.json("slot", "update", sid, "--notes", "", "--link", "", user="ada")
    assert cleared["notes"] is None and cleared["link"] is None
    assert "room 2" not in w.ok("slot", "show", sid, user="ada")


def test_slot_cancel_cancels_requests_and_notifies_students(w):
    slot = add_slot(w, future(48), extra=["--capacity", "2"])
    approved = send(w, slot["id"], "alan")
    w.json("request", "approve", str(approved["id"]), user="ada")
    pending = send(w, slot["id"], "kat")
    for student in ("alan", "kat"):
        w.json("inbox", user=student)  # read what came before

    cancelled = w.json("slot", "cancel", str(slot["id"]), "--reason", "I am ill", user="ada")
    assert SLOT <= set(cancelled) <= SLOT | {"requests"}
    assert cancelled["status"] == "cancelled" and cancelled["id"] == slot["id"]
    for request, student in ((approved, "alan"), (pending, "kat")):
        shown = w.json("request", "show", str(request["id"]), user=student)
        assert shown["status"] == "cancelled" and shown["reason"] == "I am ill"
        news = w.json("inbox", user=student)
        assert len(news) == 1 and set(news[0]) == NOTIFICATION
        assert news[0]["request"] == request["id"] and news[0]["slot"] == slot["id"]
        assert "I am ill" in news[0]["text"]
    assert w.json("slot", "show", str(slot["id"]), user="ada")["booked"] == 0
    assert w.json("slot", "list", user="alan") == []


def test_slot_delete_a_slot_without_requests(w):
    slot = add_slot(w, future(48))
    out = w.ok("slot", "delete", str(slot["id"]), user="ada")
    assert str(slot["id"]) in out and "deleted" in out
    assert w("slot", "show", str(slot["id"]), user="ada").exit_code == 3
    again = add_slot(w, future(48))
    deleted = w.json("slot", "delete", str(again["id"]), user="root")
    assert set(deleted) == SLOT and deleted["id"] == again["id"]
    assert w.json("slot", "list", "--status", "all") == []


# -- requests --------------------------------------------------------------------------------------


def test_request_send_notifies_the_educator(w):
    slot = add_slot(w, future(48))
    request = send(w, slot["id"], "alan", "Can we go over question 3?")
    assert_request(request)
    assert {k: request[k] for k in ("slot", "course", "student", "educator", "status", "message")} == {
        "slot": slot["id"], "course": "MATH101", "student": "alan", "educator": "ada",
        "status": "pending", "message": "Can we go over question 3?"}
    assert (request["start"], request["end"]) == (slot["start"], slot["end"])
    news = w.json("inbox", user="ada")
    assert len(news) == 1 and news[0]["request"] == request["id"]
    assert "question 3" in news[0]["text"]


def test_request_list_per_role_newest_first_and_filters(w):
    a = add_slot(w, future(48), extra=["--capacity", "2"])
    b = add_slot(w, future(60))
    p = add_slot(w, future(48), course="PHYS1", user="bob")
    w.ok("course", "enroll", "PHYS1", "alan", user="bob")
    r1 = send(w, a["id"], "alan")
    r2 = send(w, a["id"], "kat")
    r3 = send(w, b["id"], "alan")
    r4 = send(w, p["id"], "alan")
    w.json("request", "reject", str(r3["id"]), user="ada")

    def ids(*args, user="root"):
        listed = w.json("request", "list", *args, user=user)
        for r in listed:
            assert_request(r)
        return [r["id"] for r in listed]

    assert ids() == [r4["id"], r3["id"], r2["id"], r1["id"]]
    assert ids(user="alan") == [r4["id"], r3["id"], r1["id"]]
    assert ids(user="kat") == [r2["id"]]
    assert ids(user="ada") == [r3["id"], r2["id"], r1["id"]]
    assert ids(user="bob") == [r4["id"]]
    assert ids("--status", "pending", user="alan") == [r4["id"], r1["id"]]
    assert ids("--status", "rejected", user="alan") == [r3["id"]]
    assert ids("--status", "all", user="kat") == [r2["id"]]
    assert ids("--course", "PHYS1", user="alan") == [r4["id"]]
    assert ids("--from", iso(future(50)), user="alan") == [r3["id"]]
    assert ids("--to", iso(future(50)), user="ada") == [r2["id"], r1["id"]]
    table = w.ok("request", "list", user="alan")
    assert "MATH101" in table and "PHYS1" in table and "times in UTC" in table


def test_request_show_has_its_history(w):
    slot = add_slot(w, future(48), extra=["--link", "https://meet.example.edu/ada"])
    request = send(w, slot["id"], "alan", "hello")
    w.json("request", "approve", str(request["id"]), "--notes", "see you", user="ada")
    for who in ("alan", "ada", "root"):
        shown = w.json("request", "show", str(request["id"]), user=who)
        assert_request(shown, {"history"})
        assert shown["status"] == "approved"
        history = shown["history"]
        assert all(set(h) == HISTORY for h in history)
        assert all(Z.match(h["at"]) for h in history)
        assert [(h["actor"], h["from"], h["to"]) for h in history] == [
            ("alan", None, "pending"), ("ada", "pending", "approved")]
        assert history[1]["note"] == "see you"
    table = w.ok("request", "show", str(request["id"]), user="alan")
    assert "history" in table and "pending" in table and "approved" in table


def test_request_approve_uses_the_slot_link_by_default(w):
    slot = add_slot(w, future(48), extra=["--link", "https://meet.example.edu/ada"])
    request = send(w, slot["id"], "alan")
    approved = w.json("request", "approve", str(request["id"]), user="ada")
    assert_request(approved)
    assert approved["status"] == "approved" and approved["link"] == "https://meet.example.edu/ada"
    slot_now = w.json("slot", "show", str(slot["id"]), user="ada")
    assert slot_now["booked"] == 1 and slot_now["status"] == "booked"
    news = w.json("inbox", user="alan")
    assert news[0]["request"] == request["id"] and "https://meet.example.edu/ada" in news[0]["text"]


def test_request_approve_filling_the_slot_rejects_the_other_pending_requests(w):
    slot = add_slot(w, future(48))
    first = send(w, slot["id"], "alan")
    second = send(w, slot["id"], "kat")
    approved = w.json("request", "approve", str(first["id"]), "--link", "https://meet.example.edu/x",
                      "--notes", "bring paper", user="ada")
    assert approved["link"] == "https://meet.example.edu/x" and approved["notes"] == "bring paper"
    other = w.json("request", "show", str(second["id"]), user="kat")
    assert other["status"] == "rejected" and other["reason"] == "slot is full"
    news = w.json("inbox", user="kat")
    assert [n["request"] for n in news] == [second["id"]] and "slot is full" in news[0]["text"]


def test_request_reject_with_reason_notifies_the_student(w):
    slot = add_slot(w, future(48))
    request = send(w, slot["id"], "alan")
    rejected = w.json("request", "reject", str(request["id"]), "--reason", "book next week", user="ada")
    assert_request(rejected)
    assert rejected["status"] == "rejected" and rejected["reason"] == "book next week"
    news = w.json("inbox", user="alan")
    assert news[0]["request"] == request["id"] and "book next week" in news[0]["text"]
    assert w.json("slot", "show", str(slot["id"]), user="ada")["booked"] == 0


def test_request_cancel_by_student_frees_the_seat_and_notifies_the_educator(w):
    slot = add_slot(w, future(48))
    request = send(w, slot["id"], "alan")
    w.json("request", "approve", str(request["id"]), user="ada")
    w.json("inbox", user="ada")
    cancelled = w.json("request", "cancel", str(request["id"]), "--reason", "clash", user="alan")
    assert cancelled["status"] == "cancelled" and cancelled["reason"] == "clash"
    freed = w.json("slot", "show", str(slot["id"]), user="ada")
    assert freed["booked"] == 0 and freed["status"] == "available"
    news = w.json("inbox", user="ada")
    assert [n["request"] for n in news] == [request["id"]] and "clash" in news[0]["text"]
    again = send(w, slot["id"], "kat")  # the seat is free for someone else
    assert again["status"] == "pending"


def test_request_cancel_by_educator_notifies_the_student(w):
    slot = add_slot(w, future(48))
    request = send(w, slot["id"], "alan")
    w.json("inbox", user="alan")
    cancelled = w.json("request", "cancel", str(request["id"]), user="ada")
    assert cancelled["status"] == "cancelled"
    assert [n["request"] for n in w.json("inbox", user="alan")] == [request["id"]]


def test_request_complete_after_the_slot_has_ended(w, monkeypatch):
    start = future(30)
    slot = add_slot(w, start)
    request = send(w, slot["id"], "alan")
    w.json("request", "approve", str(request["id"]), user="ada")
    at(monkeypatch, start + timedelta(hours=1, minutes=5))
    done = w.json("request", "complete", str(request["id"]), user="ada")
    assert_request(done)
    assert done["status"] == "completed"
    history = w.json("request", "show", str(request["id"]), user="alan")["history"]
    assert (history[-1]["actor"], history[-1]["from"], history[-1]["to"]) == ("ada", "approved", "completed")
    assert history[-1]["at"] == iso(start + timedelta(hours=1, minutes=5))


# -- inbox -----------------------------------------------------------------------------------------


def test_inbox_peek_all_and_read_marking(w):
    slot = add_slot(w, future(48), extra=["--capacity", "2"])
    first = send(w, slot["id"], "alan", "one")
    second = send(w, slot["id"], "kat", "two")
    peeked = w.json("inbox", "--peek", user="ada")
    assert all(set(n) == NOTIFICATION for n in peeked)
    assert [n["request"] for n in peeked] == [second["id"], first["id"]]  # newest first
    assert all(n["read"] is False and Z.match(n["created"]) for n in peeked)
    assert all(n["slot"] == slot["id"] for n in peeked)
    before = snapshot(w.db)
    assert w.json("inbox", "--peek", user="ada") == peeked  # still unread
    assert snapshot(w.db) == before

    table = w.ok("inbox", user="ada")  # shows them and marks them read
    assert "one" in table and "two" in table and "new" in table and "times in UTC" in table
    assert w.json("inbox", user="ada") == []
    assert "no new notifications" in w.ok("inbox", user="ada")
    everything = w.json("inbox", "--all", user="ada")
    assert [n["id"] for n in everything] == [n["id"] for n in peeked]
    assert all(n["read"] is True for n in everything)

    third = w.json("request", "cancel", str(first["id"]), user="alan")
    mixed = w.json("inbox", "--all", "--peek", user="ada")
    assert [(n["request"], n["read"]) for n in mixed] == [
        (third["id"], False), (second["id"], True), (first["id"], True)]


# -- sweep -----------------------------------------------------------------------------------------


def test_sweep_completes_ended_sessions_and_expires_started_pending_requests(w, monkeypatch):
    early = add_slot(w, future(30))
    later = add_slot(w, future(32))
    session = send(w, early["id"], "alan")
    w.json("request", "approve", str(session["id"]), user="ada")
    waiting = send(w, later["id"], "kat")
    w.json("inbox", user="kat")
    assert w.json("sweep") == {"completed": 0, "expired": 0}

    at(monkeypatch, future(32, minute=30))
    counts = w.json("sweep")
    assert counts == {"completed": 1, "expired": 1}
    assert w.json("request", "show", str(session["id"]), user="alan")["status"] == "completed"
    expired = w.json("request", "show", str(waiting["id"]), user="kat")
    assert expired["status"] == "rejected" and expired["reason"] == "expired"
    assert [n["request"] for n in w.json("inbox", user="kat")] == [waiting["id"]]
    before = snapshot(w.db)
    assert w.json("sweep") == {"completed": 0, "expired": 0}
    assert snapshot(w.db) == before
    out = w.ok("sweep", user="ada")
    assert "completed" in out and "expired" in out and "0" in out


def test_sweep_by_an_educator_touches_only_their_courses(w, monkeypatch):
    mine = add_slot(w, future(30))
    theirs = add_slot(w, future(30), course="PHYS1", user="bob")
    w.ok("course", "enroll", "PHYS1", "kat", user="bob")
    a = send(w, mine["id"], "alan")
    b = send(w, theirs["id"], "kat")
    at(monkeypatch, future(30, minute=30))
    assert w.json("sweep", user="ada") == {"completed": 0, "expired": 1}
    assert w.json("request", "show", str(a["id"]), user="alan")["status"] == "rejected"
    assert w.json("request", "show", str(b["id"]), user="kat")["status"] == "pending"


# -- demo ------------------------------------------------------------------------------------------


def test_demo_walks_through_the_workflow(c, tmp_path):
    path = tmp_path / "demo" / "demo.db"
    result = c("demo", "--db", str(path))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    commands = [line for line in out.splitlines() if line.startswith("$ SESSIONCTL_USER=")]
    assert len(commands) >= 10
    assert any("sessionctl request approve" in line for line in commands)
    assert any("sessionctl request send" in line for line in commands)
    assert re.search(r"^status\s+approved\b", out, re.M), out
    assert path.exists()
    rows = snapshot(path)
    assert any("approved" in row for row in rows["requests"])


def test_demo_in_a_fresh_temp_dir_by_default(c, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    result = c("demo")
    assert result.exit_code == 0, result.stderr
    assert "$ SESSIONCTL_USER=" in result.stdout
    assert list(tmp_path.glob("sessionctl-demo-*/demo.db"))
    assert not c.db.exists()  # it never touched the configured store


def test_demo_refuses_an_existing_path(c, tmp_path):
    path = tmp_path / "existing.db"
    path.write_bytes(b"keep me")
    result = c("demo", "--db", str(path))
    assert result.exit_code == 5
    assert result.stdout == "" and result.stderr.startswith("error: ")
    assert path.read_bytes() == b"keep me"


# -- free text limits ------------------------------------------------------------------------------


def test_free_text_of_exactly_2000_characters_with_newline_and_tab_is_accepted(w):
    text = ("line one\tcolumn\n" + "x" * 2000)[:2000]
    slot = add_slot(w, future(48), extra=["--notes", text])
    assert slot["notes"] == text
    request = send(w, slot["id"], "alan", text)
    assert request["message"] == text
    rejected = w.json("request", "reject", str(request["id"]), "--reason", text, user="ada")
    assert rejected["reason"] == text
    approved = send(w, slot["id"], "kat")
    assert w.json("request", "approve", str(approved["id"]), "--notes", text,
                  user="ada")["notes"] == text


def test_display_name_is_free_text_up_to_2000_characters(w):
    """docs/reference/input.md: lists display with message, notes and reason: at most 2,000 characters."""
    display = "D" * 2000
    result = w("user", "set", "--display", display, "--json", user="alan")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["display"] == display


# -- output hygiene --------------------------------------------------------------------------------


MARKUP = "[bold]x[/bold] [red]y[/red] [link=https://evil.example]z[/link]"


def test_user_text_with_rich_markup_is_printed_literally(w):
    w.ok("user", "set", "--display", MARKUP, user="alan")
    w.ok("course", "add", "ART1", "--title", MARKUP, user="ada")
    slot = add_slot(w, future(48), extra=["--notes", MARKUP])
    request = send(w, slot["id"], "alan", MARKUP)
    outputs = {
        "slot list": w.ok("slot", "list", user="alan"),
        "slot show": w.ok("slot", "show", str(slot["id"]), user="ada"),
        "request list": w.ok("request", "list", user="ada"),
        "request show": w.ok("request", "show", str(request["id"]), user="ada"),
        "user list": w.ok("user", "list"),
        "whoami": w.ok("whoami", user="alan"),
        "course list": w.ok("course", "list", user="ada"),
        "inbox": w.ok("inbox", user="ada"),
    }
    for name, out in outputs.items():
        assert "[bold]x[/bold]" in out, (name, out)
        assert "\x1b" not in out, name


def test_tables_are_plain_when_stdout_is_not_a_terminal_even_without_no_color(w):
    slot = add_slot(w, future(48), extra=["--notes", "plain"])
    for args, expected in ((("slot", "list"), "plain"), (("slot", "show", str(slot["id"])), "plain"),
                           (("user", "list"), "ada@example.edu")):
        out = w.ok(*args, user="ada", env={"NO_COLOR": None})
        assert "\x1b" not in out, args
        assert expected in out, args


def test_tables_name_the_display_zone(w):
    slot = add_slot(w, datetime(YEAR, 7, 1, 12, 0, tzinfo=UTC))
    send(w, slot["id"], "alan")
    ny = ["--tz", "America/New_York"]
    for args, user in ((["slot", "list"], "ada"), (["request", "list"], "ada"), (["inbox", "--peek"], "ada")):
        assert "times in UTC" in w.ok(*args, user=user)
        local = w.ok(*ny, *args, user=user)
        assert "times in America/New_York" in local
    local = w.ok(*ny, "slot", "list", user="ada")
    assert f"{YEAR}-07-01 08:00" in local  # 12:00 UTC is 08:00 EDT
    assert "(America/New_York)" in w.ok(*ny, "slot", "show", str(slot["id"]), user="ada")
    # JSON stays in UTC whatever the display zone
    assert w.json(*ny, "slot", "show", str(slot["id"]), user="ada")["start"] == f"{YEAR}-07-01T12:00:00Z"


@pytest.mark.parametrize("args", [
    ("slot", "list", "--bogus"),
    ("--bogus", "whoami"),
    ("bogus",),
    ("slot", "bogus"),
    ("request", "approve"),  # missing ID
    ("slot", "add", "--course", "MATH101"),  # missing --start
])
def test_unknown_option_or_subcommand_is_a_usage_error(w, args):
    before = snapshot(w.db)
    result = w(*args, user="ada")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert snapshot(w.db) == before


@pytest.mark.parametrize("args,user,code", [
    (("slot", "show", "999"), "ada", 3),
    (("request", "approve", "1"), "alan", 3),
    (("user", "add", "x", "--role", "student"), "alan", 4),
    (("slot", "add", "--course", "MATH101", "--start", "2020-01-01T10:00", "--duration", "1h"), "ada", 5),
])
def test_errors_go_to_stderr_with_an_empty_stdout(w, args, user, code):
    result = w(*args, user=user)
    assert result.exit_code == code
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2
    assert all(line.startswith(("error: ", "hint: ")) for line in lines)


def test_errors_go_to_stderr_also_with_json(w):
    result = w("slot", "show", "999", "--json", user="ada")
    assert result.exit_code == 3 and result.stdout == "" and result.stderr.startswith("error: ")


# -- internal errors -------------------------------------------------------------------------------


def _explode(*args, **kwargs):
    raise ZeroDivisionError("a bug")


def test_an_internal_error_is_one_line_and_exit_1(w, monkeypatch):
    monkeypatch.setattr("sessionctl.domain.slots.list_slots", _explode)
    result = w.cli("slot", "list", user="ada")
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: internal error: ZeroDivisionError: a bug"
    assert lines[1].startswith("hint:") and "SESSIONCTL_DEBUG=1" in lines[1]
    assert len(lines) == 2 and "Traceback" not in result.stderr


def test_sessionctl_debug_shows_the_traceback(w, monkeypatch):
    monkeypatch.setattr("sessionctl.domain.slots.list_slots", _explode)
    result = w.cli("slot", "list", user="ada", env={"SESSIONCTL_DEBUG": "1"})
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "ZeroDivisionError: a bug" in result.stderr
    assert result.stderr.rstrip().splitlines()[-2].startswith("error: internal error")


# -- one run, one object: runs in one process do not see each other ----------------------------------


def test_two_runs_in_one_process_never_see_each_others_options(w, tmp_path):
    """Each run has its own settings, clock and output (cli/invocation.py): a run's global
    options, its zone and its colour are gone when the next run in the same process starts."""
    other = tmp_path / "other.db"
    first = w.json("--db", str(other), "--tz", "Asia/Tokyo", "--color", "always", "--no-pager",
                   "config", "show")["settings"]
    assert (first["db"]["value"], first["db"]["origin"]) == (str(other), "--db")
    assert (first["tz"]["value"], first["color"]["value"]) == ("Asia/Tokyo", "always")
    second = w.json("config", "show")["settings"]
    assert (second["db"]["value"], second["db"]["origin"]) == (str(w.db), "SESSIONCTL_DB")
    assert (second["tz"]["value"], second["color"]["value"]) == ("UTC", "never")
    assert second["pager"]["origin"] != "--no-pager"
    coloured = w.ok("--color", "always", "user", "list")
    plain = w.ok("user", "list")
    assert "\x1b[" in coloured and "\x1b[" not in plain


def test_a_run_inside_a_run_leaves_the_outer_runs_settings_as_they_were(tmp_path, monkeypatch):
    """The demo runs its steps as runs of their own, inside its own: each step's store, user
    and clock are its own, and the demo's run keeps its settings, its clock and the process's
    environment unchanged."""
    from typer.main import get_command

    from sessionctl.cli import app
    from sessionctl.cli.invocation import Invocation

    monkeypatch.setenv("SESSIONCTL_USER", "outer")
    monkeypatch.setenv("SESSIONCTL_DB", str(tmp_path / "outer.db"))
    environ_before = dict(os.environ)
    outer = Invocation()
    command = get_command(app)
    assert command.main(["--tz", "Europe/Paris", "demo", "--db", str(tmp_path / "demo.db")],
                        standalone_mode=False, obj=outer) == 0
    assert dict(os.environ) == environ_before
    assert (outer.settings.user, outer.settings.tz) == ("outer", "Europe/Paris")
    assert outer.settings.db == str(tmp_path / "outer.db")
    assert abs((outer.now() - datetime.now(UTC)).total_seconds()) < 60  # not moved ahead
    assert (tmp_path / "demo.db").exists() and not (tmp_path / "outer.db").exists()


# -- found by the fuzzer: CSV fields over the limit, the demo's paths -----------------------------

@pytest.mark.parametrize("via", ["file", "stdin"])
def test_a_csv_field_over_the_csv_field_limit_is_a_usage_error(world, tmp_path, via):
    text = "name,email,display\nnewbie,n@example.edu," + "x" * 131_073 + "\n"
    before = snapshot(world.db)
    if via == "file":
        roster = tmp_path / "roster.csv"
        roster.write_text(text, encoding="utf-8")
        result = world("course", "enroll", "MATH101", "--from-csv", str(roster), user="ada")
    else:
        result = world("course", "enroll", "MATH101", "--from-csv", "-", user="ada", input=text)
    refused_plainly(result)
    assert snapshot(world.db) == before


def test_an_unterminated_quote_running_past_the_field_limit_is_a_usage_error(world, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text('name\n"newbie' + "x" * 200_000, encoding="utf-8")
    before = snapshot(world.db)
    refused_plainly(world("course", "enroll", "MATH101", "--from-csv", str(roster), user="ada"))
    assert snapshot(world.db) == before


def test_demo_never_overwrites_a_file_next_to_its_store(tmp_path, monkeypatch):
    """demo --db DIR/new.db writes its sample roster to DIR/roster.csv, replacing whatever the
    user had there. The demo must only create new files (a name of its own or a temp dir)."""
    mine = tmp_path / "roster.csv"
    mine.write_text("name\nmy,real,roster\n")
    result = proc("demo", "--db", str(tmp_path / "new.db"), user="root", db=tmp_path / "unused.db",
                  timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert mine.read_text() == "name\nmy,real,roster\n"


@pytest.mark.parametrize("which", ["300-char name", "a link to itself", "two links in a ring",
                                   "a file inside a looping link"])
def test_demo_at_a_path_that_cannot_be_used_is_refused(tmp_path, which):
    """demo --db checks Path(db).exists() and Path(db).resolve(): a 300-char name raises
    OSError (ENAMETOOLONG), a symlink loop RuntimeError; both are exit 1 today. Expected: a
    refusal (2, 5 or 6) and nothing written next to it."""
    paths = unusable_paths(tmp_path)
    paths["300-char name"] = tmp_path / ("n" * 300 + ".db")
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = proc("demo", "--db", str(paths[which]), user="root", db=tmp_path / "unused.db")
    refused_plainly(result, {2, 5, 6})
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


# -- found by the third attack pass: an oversized CSV field ---------------------------------------

@pytest.mark.parametrize("text, line", [
    ("name\n" + "x" * 200_000 + "\n", 2),
    ("name,email\nalan,alan@example.edu\n\"" + "x" * 200_000 + "\"\n", 3),
    ("name\nalan\n\"a\nb\n" + "x" * 200_000 + "\"\n", 5),
])
def test_an_oversized_csv_field_is_reported_on_its_own_line(world, tmp_path, text, line):
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    refused_unchanged(world, ["course", "enroll", "MATH101", "--from-csv", str(roster)], 2,
            f"error: CSV line {line}: field larger than field limit", env={"SESSIONCTL_USER": "ada"})


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_a_demo_stopped_by_a_signal_removes_its_temp_folders(tmp_path, signal_name):
    """As Ctrl-C does: in the shared mode its store too (it would belong to the service
    account); here, in the personal mode, the store is kept by design and its inputs go."""
    import signal

    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    environ["TMPDIR"] = str(tmp_path)
    demo = subprocess.Popen([sys.executable, "-m", "sessionctl", "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environ)
    assert demo.stdout.readline().startswith(b"# a throwaway store")
    demo.send_signal(getattr(signal, signal_name))
    assert demo.wait(timeout=60) == 130  # as for Ctrl-C
    assert b"Traceback" not in demo.stderr.read()
    assert [p.name.startswith("sessionctl-demo-input-") for p in tmp_path.iterdir()] == [False]
