"""Issue 18's small things: inbox --unread and whoami's unread count
(docs/reference/after-the-session.md), the report's default range and a --to in the future
(docs/reference/after-the-session.md#the-course-report), and a new store private to its owner
(docs/reference/store.md)."""

from __future__ import annotations

import json
import os
import stat
from contextlib import contextmanager

import pytest
from conftest import future, iso, snapshot


def news(world, user="alan"):
    """Give ``user`` two notifications: a request of theirs approved, then cancelled by ada."""
    [slot] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(30)),
                        "--duration", "1h", user="ada")
    request = world.json("request", "send", str(slot["id"]), user=user)
    world.json("request", "approve", str(request["id"]), user="ada")
    world.json("request", "cancel", str(request["id"]), user="ada")


def test_inbox_unread_and_the_unread_count_in_whoami(world):
    assert world.json("whoami", user="alan")["unread"] == 0
    news(world)
    me = world.json("whoami", user="alan")
    assert me["unread"] == 2 and me["registered"] is True
    assert "unread      2 (sessionctl inbox)" in world("whoami", user="alan").stdout
    unread = world.json("inbox", "--unread", "--peek", user="alan")
    assert len(unread) == 2
    world.json("inbox", "--unread", user="alan")  # shown, so read
    assert world.json("inbox", "--unread", user="alan") == []
    assert len(world.json("inbox", "--all", user="alan")) == 2
    assert world.json("whoami", user="alan")["unread"] == 0
    stranger = world.json("whoami", user="nobody")
    assert "unread" not in stranger and stranger["registered"] is False


def test_inbox_all_with_unread_is_refused_and_reads_nothing(world):
    news(world)
    before = snapshot(world.db)
    result = world("inbox", "--all", "--unread", user="alan")
    assert (result.exit_code, result.stdout) == (2, "")
    assert "--all and --unread" in result.stderr
    assert snapshot(world.db) == before


def test_the_report_reaches_four_weeks_ahead_and_to_may_be_in_the_future(world):
    [slot] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(24 * 20)),
                        "--duration", "1h", user="ada")
    report = world.json("course", "report", "MATH101", user="ada")
    assert report["slots_offered"] == 1 and len(report["weeks"]) == 12
    ahead = world.json("course", "report", "MATH101", "--to", iso(future(24 * 60)), user="ada")
    assert ahead["slots_offered"] == 1 and ahead["to"] == iso(future(24 * 60))
    assert ahead["from"] == report["from"]  # still the last 8 weeks


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000])
def test_a_new_store_and_its_new_folders_are_the_owners_alone(cli, tmp_path, mask):
    store = tmp_path / "new" / "deeper" / "sessions.db"
    os.chmod(tmp_path, 0o755)
    with umask(mask):
        result = cli("--db", str(store), "init", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["store"] == str(store)
    assert mode(store) == 0o600
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "deeper") == 0o700
    assert mode(str(store) + "-lock") == 0o600
    assert mode(tmp_path) == 0o755  # a folder that existed is left as it was


def test_an_existing_store_keeps_its_mode(cli, tmp_path):
    store = tmp_path / "shared.db"
    assert cli("--db", str(store), "init").exit_code == 0
    os.chmod(store, 0o640)  # the owner shared it with a group on purpose
    assert cli("--db", str(store), "init").exit_code == 0
    assert mode(store) == 0o640


def test_the_demo_store_is_private_too(cli, tmp_path):
    store = tmp_path / "tour" / "demo.db"
    with umask(0o022):
        result = cli("demo", "--db", str(store))
    assert result.exit_code == 0, result.stderr
    assert (mode(store), mode(tmp_path / "tour")) == (0o600, 0o700)


# -- the third attack pass on issue 18: refusals that said the wrong thing, or nothing ----------


def refused(world, code, *args, says, user="ada"):
    before = snapshot(world.db)
    result = world(*args, user=user)
    assert (result.exit_code, result.stdout) == (code, ""), result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert snapshot(world.db) == before
    return result.stderr


@pytest.mark.parametrize("args", [
    ("slot", "list"), ("request", "list"), ("course", "report", "MATH101"),
])
def test_a_range_that_ends_before_it_starts_is_refused(world, args):
    says = "--to '2027-01-01' is not after --from '2027-02-01'"
    refused(world, 2, *args, "--from", "2027-02-01", "--to", "2027-01-01", says=says)
    refused(world, 2, *args, "--from", "2027-02-01", "--to", "2027-02-01", says="is not after")


def test_an_empty_db_flag_is_a_usage_error(world):
    refused(world, 2, "--db", "", "slot", "list", says="--db is empty")
    refused(world, 2, "slot", "list", "--db", " ", says="--db is empty")


def test_a_long_slot_is_refused_with_its_length_as_people_write_it(world):
    stderr = refused(world, 2, "slot", "add", "--course", "MATH101", "--start", iso(future(30)),
                     "--duration", "13h", says="a slot lasts at most 12 hours, not 13h")
    assert "13:00:00" not in stderr


def test_a_week_before_1970_or_after_8999_is_refused(world):
    refused(world, 2, "slot", "calendar", "--week", "1970-01-02", says="is out of range")
    refused(world, 2, "slot", "calendar", "--week", "8999-12-31", says="is out of range")
    assert world("slot", "calendar", "--week", "last", user="ada").exit_code == 0


def test_a_run_of_missing_ids_is_one_error_and_each_hint_is_said_once(world):
    [slot] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(30)),
                        "--duration", "1h", user="ada")
    result = world("slot", "cancel", "900-903", str(slot["id"]), "950", "951", "--yes", user="ada")
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        "error: no slots 900-903", "hint: see 'sessionctl slot list'",
        "error: slot 950: no slot 950", "error: slot 951: no slot 951",
    ]
    assert result.stdout.startswith(f"slot {slot['id']}: cancelled")
