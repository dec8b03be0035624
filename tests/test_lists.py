"""docs/reference/output.md#choosing-rows: --limit N, --status with several states, request list
--student, and ranges of ids (5-9, at most 1,000 in all) for the commands that take several."""

from __future__ import annotations

import pytest
from conftest import future, iso, snapshot


@pytest.fixture
def listed(world):
    """Four MATH101 slots of ada's; alan requested the first two (one approved), kat the third."""
    ids = [world.json("slot", "add", "--course", "MATH101", "--start", iso(future(24 * (n + 1))),
                      "--duration", "1h", user="ada")[0]["id"] for n in range(4)]
    requests = {
        "approved": world.json("request", "send", str(ids[0]), user="alan")["id"],
        "pending": world.json("request", "send", str(ids[1]), user="alan")["id"],
        "kat": world.json("request", "send", str(ids[2]), user="kat")["id"],
    }
    world.json("request", "approve", str(requests["approved"]), user="ada")
    return {"slots": ids, "requests": requests}


def test_limit_keeps_the_first_rows_of_the_list(world, listed):
    slots = world.json("slot", "list", "--limit", "2", user="ada")
    assert [s["id"] for s in slots] == listed["slots"][:2]  # soonest first
    newest = world.json("request", "list", "--limit", "1", user="ada")
    assert [r["id"] for r in newest] == [listed["requests"]["kat"]]  # newest first
    everything = world.json("slot", "list", "--limit", "9" * 30, user="ada")
    assert [s["id"] for s in everything] == listed["slots"]


def test_status_takes_several(world, listed):
    req = listed["requests"]
    got = world.json("request", "list", "--status", "pending,approved", user="ada")
    assert sorted(r["id"] for r in got) == sorted([req["approved"], req["pending"], req["kat"]])
    got = world.json("request", "list", "--status", "approved, waiting", user="ada")
    assert [r["id"] for r in got] == [req["approved"]]
    world.json("slot", "cancel", str(listed["slots"][3]), user="ada")
    got = world.json("slot", "list", "--status", "booked,cancelled", user="ada")
    assert [s["id"] for s in got] == [listed["slots"][0], listed["slots"][3]]
    assert len(world.json("slot", "list", "--status", "cancelled,all", user="ada")) == 4
    # repeated, as comma-separated: every value counts, not only the last
    got = world.json("slot", "list", "--status", "booked", "--status", "cancelled", user="ada")
    assert [s["id"] for s in got] == [listed["slots"][0], listed["slots"][3]]
    got = world.json("request", "list", "--status", "pending", "--status", "approved", user="ada")
    assert sorted(r["id"] for r in got) == sorted([req["approved"], req["pending"], req["kat"]])


def test_request_list_student(world, listed):
    req = listed["requests"]
    for user in ("ada", "root"):
        got = world.json("request", "list", "--student", "alan", user=user)
        assert sorted(r["id"] for r in got) == sorted([req["approved"], req["pending"]])
    assert world.json("request", "list", "--student", "eve", user="ada") == []
    own = world.json("request", "list", "--student", "kat", user="kat")
    assert [r["id"] for r in own] == [req["kat"]]
    assert world.json("request", "list", "--student", "alan", "--status", "pending",
                      "--limit", "5", user="ada")[0]["id"] == req["pending"]


@pytest.mark.parametrize("args, user, code, says", [
    (("slot", "list", "--limit", "0"), "ada", 2, "--limit takes a whole number from 1, not 0"),
    (("slot", "list", "--limit", "-1"), "ada", 2, "--limit takes a whole number from 1"),
    (("request", "list", "--limit", "2\n"), "ada", 2, "--limit takes a whole number"),
    (("request", "list", "--limit", "\u0663"), "ada", 2, "--limit takes a whole number"),
    (("request", "list", "--limit", "1" * 5000), "ada", 2, "--limit takes a whole number"),
    (("request", "list", "--status", "pending,,waiting"), "ada", 2, "unknown status ''"),
    (("request", "list", "--status", "pending,\u202ewaiting"), "ada", 2, "unknown status"),
    (("slot", "list", "--status", "available,pending"), "ada", 2, "unknown status 'pending'"),
    (("request", "list", "--student", "alan"), "kat", 4, "only their own requests"),
    (("request", "list", "--student", "ada"), "root", 3, "no student named 'ada'"),
    (("request", "list", "--student", "nobody\n"), "ada", 3, "no student named 'nobody\\n'"),
    (("slot", "cancel", "3-1"), "ada", 2, "write the smaller id first: 1-3"),
    (("slot", "cancel", "1-1001"), "ada", 2, "names 1001 slot ids; at most 1000"),
    (("slot", "delete", "1-600", "601-1001"), "ada", 2, "1001 slot ids given; at most 1000"),
    (("request", "reject", "1-x"), "ada", 2, "'x' is not a request id"),
    (("request", "reject", "1-99999999999999999999"), "ada", 2, "is not a request id"),
    (("request", "reject", "1–3"), "ada", 2, "is not a request id"),  # an en dash
])
def test_list_and_range_refusals_change_nothing(world, listed, args, user, code, says):
    before = snapshot(world.db)
    result = world(*args, user=user)
    assert (result.exit_code, result.stdout) == (code, ""), (args, result.stderr)
    assert says in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert snapshot(world.db) == before


def test_a_range_runs_each_id_on_its_own(world, listed):
    first, second, third, _ = listed["slots"]
    result = world("slot", "cancel", f"{first}-{third}", "--reason", "ill", "--json", user="ada")
    assert result.exit_code == 0, result.stderr
    statuses = {s["id"]: s["status"] for s in world.json("slot", "list", "--status", "all", user="ada")}
    assert [statuses[i] for i in (first, second, third)] == ["cancelled"] * 3
    # ids that are not there are refused (a run of them in one line); a repeated id is done once
    result = world("slot", "delete", f"{third}-{third + 9}", str(third), user="ada")
    assert result.exit_code == 5, result.stderr  # it had a request: refused (the rest: 3)
    said = result.stdout + result.stderr
    assert said.count(f"slot {third}:") == 1
    assert said.count(f"no slots {third + 2}-{third + 9}") == 1


def test_exactly_a_thousand_ids_are_taken(world, listed):
    result = world("request", "reject", "1-1000", user="ada")
    assert result.exit_code == 5  # most are not there, one is approved; none refused for the count
    assert "at most" not in result.stderr + result.stdout
