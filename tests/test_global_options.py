"""docs/reference/settings.md: the global options (--db, --tz, --color, --no-pager) are taken
before the command and after it alike; a command's own option of the same name wins."""

from __future__ import annotations

import json

import pytest
from conftest import future, iso, snapshot


@pytest.fixture
def slot(world):
    start = future(48).replace(hour=10)
    [made] = world.json("slot", "add", "--course", "MATH101", "--start", iso(start),
                        "--duration", "1h", user="ada")
    return made


def test_tz_after_the_command_is_the_same_as_before_it(world, slot):
    before = world("--tz", "Asia/Tokyo", "slot", "list", user="ada")
    after = world("slot", "list", "--tz", "Asia/Tokyo", user="ada")
    assert (after.exit_code, after.stderr) == (0, "")
    assert after.stdout == before.stdout and "times in Asia/Tokyo" in after.stdout
    assert "19:00" in after.stdout  # 10:00 UTC
    last = world("--tz", "UTC", "slot", "list", "--tz", "Asia/Tokyo", user="ada")
    assert last.stdout == before.stdout  # the last one written wins


def test_every_global_option_after_the_command(world, slot, tmp_path):
    coloured = world("slot", "list", "--color", "always", "--no-pager", user="ada",
                     env={"NO_COLOR": None})
    assert coloured.exit_code == 0 and "\x1b[" in coloured.stdout
    other = tmp_path / "other.db"
    made = world("init", "--db", str(other), "--json")
    assert made.exit_code == 0 and json.loads(made.stdout)["store"] == str(other)
    assert other.exists()
    listed = world("slot", "list", "--db", str(other), "--json", user="root")
    assert (listed.exit_code, json.loads(listed.stdout)) == (0, [])


def test_a_commands_own_option_of_the_same_name_wins(world):
    made = world.json("--tz", "Asia/Tokyo", "user", "add", "lee", "--role", "student",
                      "--tz", "Europe/Paris")
    assert made["tz"] == "Europe/Paris"  # the user's home zone, not the display zone
    shown = world.json("user", "show", "lee", "--tz", "Asia/Tokyo")
    assert shown["tz"] == "Europe/Paris"
    helped = world("demo", "--help")
    assert "Where to build the demo store" in helped.stdout  # demo --db is the demo's own


@pytest.mark.parametrize("args, says", [
    (("--tz", "Nowhere/Land"), "unknown time zone 'Nowhere/Land'"),
    (("--tz", "Europe/Berlin\n"), "unknown time zone"),
    (("--tz", "\u202eUTC"), "unknown time zone"),
    (("--tz", "../../etc/passwd"), "unknown time zone"),
    (("--tz", "9" * 5000), "unknown time zone"),
    (("--tz",), "requires an argument"),
    (("--color", "sometimes"), "--color"),
    (("--no-pager=yes",), "does not take a value"),
])
def test_a_bad_global_option_after_the_command_is_refused_and_changes_nothing(world, slot, args, says):
    before = snapshot(world.db)
    for command in (("slot", "cancel", str(slot["id"])), ("slot", "list")):
        result = world(*command, *args, user="ada")
        assert (result.exit_code, result.stdout) == (2, ""), (command, args, result.stderr)
        assert says in result.stderr and "Traceback" not in result.stderr
    assert snapshot(world.db) == before


def test_a_late_db_that_is_no_store_changes_nothing(world, slot, tmp_path):
    before = snapshot(world.db)
    missing = tmp_path / "nowhere" / "x.db"
    result = world("slot", "cancel", str(slot["id"]), "--db", str(missing), user="ada")
    assert result.exit_code in (2, 6) and result.stdout == ""
    assert not missing.exists() and snapshot(world.db) == before


def test_an_option_value_that_looks_like_a_global_option_stays_a_value(world, slot):
    result = world("slot", "cancel", str(slot["id"]), "--reason", "--tz", "--json", user="ada")
    assert result.exit_code == 0, result.stderr
    assert world.json("slot", "show", str(slot["id"]), user="ada")["status"] == "cancelled"
