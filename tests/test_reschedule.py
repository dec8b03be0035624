"""docs/reference/lifecycle.md#changes-that-reach-booked-sessions: slot update --start on a
slot with requests moves them with it in one transaction (UID kept, SEQUENCE up, each student
told, history ``slot moved from … to …``); refused (exit 5, naming who) when a booked student
would hold two overlapping sessions; capacity never below the seats taken."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar

from conftest import future, iso, snapshot


def booked_slot(world, hours=48, capacity="2"):
    [slot] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(hours)),
                        "--duration", "1h", "--capacity", capacity, user="ada")
    kat = world.json("request", "send", str(slot["id"]), user="kat")["id"]
    world.json("request", "approve", str(kat), user="ada")
    alan = world.json("request", "send", str(slot["id"]), user="alan")["id"]
    return slot["id"], kat, alan


def event(world, user, request):
    data = world("request", "export", "--ics", user=user).stdout_bytes
    [found] = [e for e in Calendar.from_ical(data).walk("VEVENT")
               if str(e["uid"]).startswith(f"request-{request}-") or f"-{request}@" in str(e["uid"])
               or str(request) in str(e["uid"]).split("@")[0].split("-")]
    return found


def test_a_booked_slot_moves_with_its_requests(world):
    slot, kat, alan = booked_slot(world)
    before_event = event(world, "kat", kat)
    later = future(72)
    result = world("slot", "update", str(slot), "--start", iso(later), user="ada")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["kat: approved session moved, told",
                                               "alan: pending request moved, told"]
    for request, status in ((kat, "approved"), (alan, "pending")):
        shown = world.json("request", "show", str(request), user="ada")
        assert (shown["status"], shown["start"], shown["slot"]) == (status, iso(later), slot)
        assert shown["history"][-1]["note"].startswith("slot moved from ")
    after_event = event(world, "kat", kat)
    assert after_event["uid"] == before_event["uid"]
    assert after_event["sequence"] == before_event["sequence"] + 1
    told = world.json("inbox", "--peek", user="kat")[0]
    assert told["kind"] == "moved" and "moved your MATH101 session from" in told["text"]
    assert world.json("inbox", "--peek", user="alan")[0]["kind"] == "moved"


def test_a_move_that_would_double_book_a_student_names_them_and_changes_nothing(world):
    slot, kat, _ = booked_slot(world)
    assert world("course", "enroll", "PHYS1", "kat", user="bob").exit_code == 0
    [other] = world.json("slot", "add", "--course", "PHYS1", "--start", iso(future(96)),
                         "--duration", "1h", user="bob")
    clash = world.json("request", "send", str(other["id"]), user="kat")["id"]
    world.json("request", "approve", str(clash), user="bob")
    [mine] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(120)),
                        "--duration", "1h", user="ada")
    before = snapshot(world.db)
    result = world("slot", "update", str(slot), "--start", iso(future(96, 30)), user="ada")
    assert (result.exit_code, result.stdout) == (5, "")
    assert f"kat (request {kat}) has approved session {clash}" in result.stderr
    assert snapshot(world.db) == before
    # onto the educator's own other slot: the educator's overlap rule, as before
    refused = world("slot", "update", str(slot), "--start", iso(future(120)), user="ada")
    assert refused.exit_code == 5 and snapshot(world.db) == before


def test_capacity_never_drops_below_the_seats_taken(world):
    slot, kat, alan = booked_slot(world)
    world.json("request", "approve", str(alan), user="ada")
    before = snapshot(world.db)
    result = world("slot", "update", str(slot), "--capacity", "1", "--start", iso(future(80)),
                   user="ada")
    assert result.exit_code == 5 and "capacity cannot drop to 1" in result.stderr
    assert snapshot(world.db) == before


def test_dry_run_of_a_move_changes_nothing_and_no_one_is_told(world):
    slot, kat, _ = booked_slot(world)
    before = snapshot(world.db)
    result = world("slot", "update", str(slot), "--start", iso(future(60)), "--dry-run", user="ada")
    assert result.exit_code == 0 and "kat: approved session moved, told" in result.stdout
    assert snapshot(world.db) == before


def test_hostile_starts_are_refused_before_anything_moves(world):
    slot, _, _ = booked_slot(world)
    before = snapshot(world.db)
    for start in ("12/07 10:00", iso(future(-5)), "+1w 2", "\u202e+2d", "+99999999w"):
        result = world("slot", "update", str(slot), "--start", start, user="ada")
        assert result.exit_code in (2, 5) and result.stdout == "", (start, result.stderr)
    assert snapshot(world.db) == before


def test_on_a_terminal_a_move_of_booked_sessions_is_asked_first(world):
    from test_effects import on_terminal

    slot, kat, _ = booked_slot(world)
    before = snapshot(world.db)
    code, shown = on_terminal(world, ["slot", "update", str(slot), "--start", iso(future(60))],
                              b"n\n")
    assert code == 4 and "This moves 1 approved session of other people. Go on? [y/N]" in shown
    assert snapshot(world.db) == before
    code, shown = on_terminal(world, ["slot", "update", str(slot), "--start", iso(future(60))],
                              b"y\n")
    assert code == 0, shown
    assert world.json("request", "show", str(kat), user="ada")["start"] == iso(future(60))


def test_a_moved_booking_shows_when_it_was_moved(world, monkeypatch):
    """A move changes each booking that follows the slot: its ``updated`` (and its event's
    LAST-MODIFIED) is the time of the move, not of the approval before it."""
    from datetime import datetime, timezone

    slot, kat, _ = booked_slot(world)
    approved = world.json("request", "show", str(kat), user="ada")["updated"]
    later = datetime.fromisoformat(approved.replace("Z", "+00:00")) + timedelta(hours=1)
    monkeypatch.setattr("sessionctl.timeparse.utcnow", lambda: later)
    assert world("slot", "update", str(slot), "--start", iso(future(72)), user="ada").exit_code == 0
    assert world.json("request", "show", str(kat), user="ada")["updated"] == iso(later)
    assert event(world, "kat", kat)["last-modified"].dt == later
