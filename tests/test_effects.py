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


# -- --dry-run and the question (a real pseudo-terminal) -------------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import runkit  # noqa: E402

BIN = Path(sys.executable).with_name("sessionctl")
QUESTION = "This cancels 1 approved session of other people. Go on? [y/N] "


def on_terminal(world, args, answer: bytes | None, user="ada", meanwhile=None) -> tuple[int, str]:
    """``args`` as ``user`` with stdin, stdout and stderr on one pseudo-terminal."""
    env = {**os.environ, "SESSIONCTL_DB": str(world.db), "SESSIONCTL_USER": user,
           "SESSIONCTL_TZ": "UTC", "NO_COLOR": "1", "COLUMNS": "80", "SESSIONCTL_PAGER": ""}
    env.pop("SESSIONCTL_DEBUG", None)
    return runkit.on_terminal(args, env, answer=answer, meanwhile=meanwhile)


def test_dry_run_prints_what_would_happen_and_changes_nothing(world):
    slot, _, _ = setup(world)
    before = snapshot(world.db)
    for args in (("slot", "cancel", str(slot)), ("slot", "update", str(slot), "--notes", "x"),
                 ("course", "unenroll", "MATH101", "alan"),
                 ("slot", "add", "--course", "MATH101", "--start", iso(future(99)), "--duration", "1h")):
        result = world(*args, "--dry-run", user="ada")
        assert result.exit_code == 0, (args, result.stderr)
        assert result.stderr == "dry run: nothing was changed\n"
        assert snapshot(world.db) == before, args
    said = world("slot", "cancel", str(slot), "--dry-run", user="ada").stdout
    assert "status    cancelled" in said and "kat: approved session cancelled, told" in said
    refused = world("slot", "add", "--course", "MATH101", "--start", iso(future(48)),
                    "--duration", "1h", "--dry-run", user="ada")  # overlaps: the real run's 5
    assert (refused.exit_code, refused.stdout) == (5, "")
    assert snapshot(world.db) == before


def test_the_question_answered_yes_no_and_eof(world):
    slot, kat, _ = setup(world)
    before = snapshot(world.db)
    for answer in (b"n\n", b"\x04", b"\n"):
        code, shown = on_terminal(world, ["slot", "cancel", str(slot)], answer)
        assert code == 4, shown
        assert "kat: approved session cancelled, told" in shown and QUESTION in shown
        assert "error: nothing was changed: not confirmed" in shown
        assert snapshot(world.db) == before
    code, shown = on_terminal(world, ["slot", "cancel", str(slot)], b"y\n")
    assert code == 0, shown
    assert shown.count(QUESTION) == 1 and "status    cancelled" in shown
    assert world.json("request", "show", str(kat), user="ada")["status"] == "cancelled"


def test_no_question_with_yes_json_a_script_or_nobody_approved(world):
    slot, kat, alan = setup(world)
    code, shown = on_terminal(world, ["request", "cancel", str(alan)], None)  # waiting only
    assert code == 0 and "[y/N]" not in shown
    code, shown = on_terminal(world, ["request", "cancel", str(kat), "--yes"], None)
    assert code == 0 and "[y/N]" not in shown
    [other] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(72)),
                         "--duration", "1h", user="ada")
    again = world.json("request", "send", str(other["id"]), user="kat")["id"]
    world.json("request", "approve", str(again), user="ada")
    code, shown = on_terminal(world, ["slot", "cancel", str(other["id"]), "--json"], None)
    assert code == 0 and "[y/N]" not in shown
    third = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(96)),
                       "--duration", "1h", user="ada")[0]["id"]
    world.json("request", "approve", str(world.json("request", "send", str(third), user="kat")["id"]),
               user="ada")
    piped = world("slot", "cancel", str(third), user="ada")  # not a terminal: no question
    assert piped.exit_code == 0 and "[y/N]" not in piped.stdout + piped.stderr


def test_more_reached_after_the_question_is_exit_5_and_nothing_changes(world):
    """The real run is held to what was agreed: alan's request approved by another process
    while the question waits makes the answer's run exit 5, changing nothing."""
    slot, kat, alan = setup(world)
    world.json("slot", "update", str(slot), "--capacity", "2", user="ada")
    assert world.json("request", "show", str(alan), user="ada")["status"] == "pending"
    states = {}

    def approve_alan():
        env = {**os.environ, "SESSIONCTL_DB": str(world.db), "SESSIONCTL_USER": "ada"}
        done = subprocess.run([str(BIN), "request", "approve", str(alan)], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        states["before"] = snapshot(world.db)

    code, shown = on_terminal(world, ["slot", "cancel", str(slot)], b"y\n", meanwhile=approve_alan)
    assert code == 5, shown
    assert f"alan (request {alan}), which you were not asked about; nothing was changed" in shown
    assert snapshot(world.db) == states["before"]
    assert world.json("request", "show", str(kat), user="ada")["status"] == "approved"


def test_course_unenroll_names_the_sessions_it_keeps_and_asks_nothing(world):
    _, kat, _ = setup(world)
    result = world("course", "unenroll", "MATH101", "kat", user="ada")
    assert tail(result, 1) == [f"kat: approved session kept (request {kat}), not told"]
    assert world.json("request", "show", str(kat), user="ada")["status"] == "approved"
