"""Buffers between an educator's slots (docs/reference/meeting-rooms-and-hooks.md#buffers):
``course set CODE --buffer DURATION`` widens the overlap rule; the larger of two courses'
buffers counts; the slots one ``slot add`` makes together are exempt from each other's.

The store is the ``world`` of conftest.py: ada teaches MATH101, bob PHYS1.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest

from conftest import future, iso, snapshot
from runkit import BIN

BASE = future(72, minute=0).replace(hour=10)


def at(minutes: int) -> str:
    return iso(BASE + timedelta(minutes=minutes))


def add(world, start: int, length: int = 60, course="MATH101", *extra, user="ada"):
    return world("slot", "add", "--course", course, "--start", at(start), "--duration",
                 f"{length}m", *extra, "--json", user=user)


def made(world, *args, **kwargs):
    result = add(world, *args, **kwargs)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def refused(world, *args, says="buffer", code=5, **kwargs):
    before = snapshot(world.db)
    result = add(world, *args, **kwargs)
    assert result.exit_code == code and result.stdout == "", (result.stdout, result.stderr)
    assert says in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert snapshot(world.db) == before
    return result.stderr


def buffer(world, value, course="MATH101", user="ada"):
    result = world("course", "set", course, "--buffer", value, "--json", user=user)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["buffer"]


def test_off_by_default_back_to_back_slots_are_fine(world):
    made(world, 0)
    made(world, 60)
    assert json.loads(world("course", "show", "MATH101", "--json").stdout)["buffer"] is None


def test_a_buffer_keeps_time_free_before_and_after(world):
    assert buffer(world, "15m") == 15
    [first] = made(world, 0)
    stderr = refused(world, 70)  # starts 10 minutes after the first ends
    assert f"within the 15-minute buffer of slot {first['id']}" in stderr
    refused(world, -70)  # ends 10 minutes before it starts
    made(world, 75)
    made(world, -75)


def test_the_buffer_reaches_the_educators_slots_of_other_courses(world):
    ok = world("course", "add", "MATH2", "--title", "More maths", user="ada")
    assert ok.exit_code == 0
    buffer(world, "30m")
    buffer(world, "10m", course="MATH2")
    made(world, 0)
    refused(world, 80, 60, "MATH2")  # MATH2's 10 minutes are kept, MATH101's 30 are not
    made(world, 90, 60, "MATH2")
    made(world, 160, 60, "MATH2")  # 10 minutes after a MATH2 slot: MATH2's buffer alone


def test_another_educators_slots_are_not_affected(world):
    buffer(world, "1h")
    made(world, 0)
    made(world, 60, 60, "PHYS1", user="bob")


def test_the_slots_of_one_split_or_series_are_exempt_from_each_others_buffer(world):
    buffer(world, "20m")
    result = world("slot", "add", "--course", "MATH101", "--start", at(0), "--end", at(120),
                   "--split", "30m", "--json", user="ada")
    assert result.exit_code == 0, result.stderr
    split = json.loads(result.stdout)
    assert len(split) == 4
    refused(world, 130)  # but a later slot keeps its distance from them
    made(world, 140)
    # moving one of the split within the others' buffer is still fine; away from it, not
    moved = world("slot", "update", str(split[-1]["id"]), "--duration", "25m", user="ada")
    assert moved.exit_code == 0, moved.stderr


def test_moving_a_slot_into_the_buffer_is_refused(world):
    buffer(world, "15m")
    made(world, 0)
    [other] = made(world, 180)
    before = snapshot(world.db)
    result = world("slot", "update", str(other["id"]), "--start", at(65), user="ada")
    assert result.exit_code == 5 and "buffer" in result.stderr, result.stderr
    assert snapshot(world.db) == before
    assert world("slot", "update", str(other["id"]), "--start", at(75), user="ada").exit_code == 0


def test_off_removes_the_buffer(world):
    buffer(world, "15m")
    made(world, 0)
    assert buffer(world, "off") is None
    made(world, 60)


@pytest.mark.parametrize("value", ["0", "0m", "-5m", "90s", "2d", "25h", "99999999999999h",
                                   "1e3m", "\u202e15m", "1\u200b5m", "", "forever"])
def test_a_bad_buffer_is_refused_and_nothing_changes(world, value):
    before = snapshot(world.db)
    result = world("course", "set", "MATH101", "--buffer", value, user="ada")
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.stderr, \
        (value, result.stderr)
    assert snapshot(world.db) == before


def test_only_the_educator_or_an_admin_sets_it(world):
    before = snapshot(world.db)
    assert world("course", "set", "MATH101", "--buffer", "15m", user="alan").exit_code == 4
    assert snapshot(world.db) == before


def test_two_processes_racing_into_each_others_buffer_one_wins(world):
    buffer(world, "30m")
    env = {"SESSIONCTL_DB": str(world.db), "SESSIONCTL_USER": "ada", "SESSIONCTL_TZ": "UTC",
           "PATH": "/usr/bin:/bin"}
    runs = [subprocess.Popen([BIN, "slot", "add", "--course", "MATH101", "--start", at(start),
                              "--duration", "1h"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for start in (0, 75)]
    codes = sorted(p.wait(timeout=60) for p in runs)
    assert codes == [0, 5], [p.stderr.read() for p in runs]
    listed = json.loads(world("slot", "list", "--json", user="ada").stdout)
    assert len(listed) == 1
