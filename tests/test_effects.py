"""docs/reference/lifecycle.md#changes-that-reach-booked-sessions: slot cancel, slot update,
course unenroll and an educator's request cancel print one line per person affected
(``kat: approved session cancelled, told``); a refused change prints none."""

from __future__ import annotations

import json

from conftest import future, iso, snapshot


def setup(world):
    [slot] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(48)),
                        "--duration", "1h", user="ada")
    kat = world.json("request", "send", str(slot["id"]), user="kat")["id"]
    world.json("request", "approve", str(kat), user="ada")
    alan = world.json("request", "send", str(slot["id"]), "--waitlist", user="alan")["id"]
    return slot["id"], kat, alan


def tail(result, n):
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()[-n:]


def test_slot_cancel_names_everyone_it_reached(world):
    slot, _, _ = setup(world)
    result = world("slot", "cancel", str(slot), "--reason", "ill", user="ada")
    assert tail(result, 2) == ["kat: approved session cancelled, told",
                               "alan: waiting request cancelled, told"]
    assert "cancelled, told" not in world("slot", "list", user="ada").stdout


def test_slot_update_names_who_was_told_of_a_new_link(world):
    slot, _, _ = setup(world)
    result = world("slot", "update", str(slot), "--link", "https://meet.example.edu/new", user="ada")
    assert tail(result, 1) == ["kat: approved session's link changed, told"]
    quiet = world("slot", "update", str(slot), "--capacity", "1", user="ada")
    assert "told" not in quiet.stdout  # nobody's session changed


def test_an_educators_request_cancel_names_the_student_and_who_moved_up(world):
    _, kat, _ = setup(world)
    result = world("request", "cancel", str(kat), user="ada")
    assert tail(result, 2) == ["kat: approved session cancelled, told",
                               "alan: waiting request offered a seat, told"]


def test_a_students_own_cancel_names_nobody(world):
    _, kat, alan = setup(world)
    result = world("request", "cancel", str(kat), user="kat")
    assert result.exit_code == 0 and "alan" not in result.stdout  # not another student's news


def test_course_unenroll_names_the_requests_it_cancelled(world):
    _, _, alan = setup(world)
    result = world("course", "unenroll", "MATH101", "alan", user="ada")
    assert tail(result, 1) == ["alan: waiting request cancelled, told"]


def test_json_stays_the_objects_alone(world):
    slot, _, _ = setup(world)
    result = world("slot", "cancel", str(slot), "--json", user="ada")
    assert json.loads(result.stdout)["status"] == "cancelled"


def test_an_id_refused_among_several_names_nobody_for_it(world):
    slot, _, _ = setup(world)
    [other] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(72)),
                         "--duration", "1h", user="ada")
    world.json("slot", "cancel", str(other["id"]), user="ada")
    before = snapshot(world.db)
    result = world("slot", "cancel", str(other["id"]), "999", user="ada")
    assert result.exit_code == 5 and "told" not in result.stdout
    assert snapshot(world.db) == before
    names = world("user", "add", "zo\u202eé\nx", "--role", "student", user="root")
    assert names.exit_code == 2  # a name with a line break never reaches these lines
