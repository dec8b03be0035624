"""The booking lifecycle of docs/reference/lifecycle.md through the command line.

Each test drives ``sessionctl`` (Typer's CliRunner on the ``world`` store: educators ada and
bob, students alan and kat enrolled in MATH101, eve in nothing) and checks what users see:
JSON fields, history (automatic changes as ``(system)``), notifications, exit codes, and for
every refusal an unchanged store.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import future, iso, snapshot

LINK = "https://meet.example.edu/ada"


def ok(world, *args, user="root"):
    result = world(*args, "--json", user=user)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return json.loads(result.stdout)


def refused(world, code, *args, user="root", says=(), env=None):
    before = snapshot(world.db)
    result = world(*args, user=user, env=env)
    assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    for needle in says:
        assert needle in result.stderr, (needle, result.stderr)
    assert snapshot(world.db) == before
    return result.stderr


def slot(world, hours, *extra, course="MATH101", who="ada"):
    [made] = ok(world, "slot", "add", "--course", course, "--start", iso(future(hours)),
                "--duration", "1h", *extra, user=who)
    return made["id"]


def show(world, request_id, user="root"):
    return ok(world, "request", "show", str(request_id), user=user)


def inbox(world, user):
    return ok(world, "inbox", "--all", "--peek", user=user)


def students(world, *names):
    for name in names:
        ok(world, "user", "add", name, "--role", "student", "--email", f"{name}@example.edu")
    ok(world, "course", "enroll", "MATH101", *names, user="ada")


# -- the waitlist (docs/reference/lifecycle.md#the-waitlist) ---------------------------------------


def test_a_full_slot_refuses_a_plain_request_and_names_the_waitlist(world):
    s = slot(world, 48)
    ok(world, "request", "approve", str(ok(world, "request", "send", str(s), user="alan")["id"]),
       user="ada")
    students(world, "sam")
    ok(world, "request", "send", str(s), "--waitlist", user="sam")
    err = refused(world, 5, "request", "send", str(s), user="kat", says=[f"slot {s} is full"])
    assert err.splitlines()[1] == (f"hint: join its waitlist (1 waiting): "
                                   f"sessionctl request send {s} --waitlist")


def test_waiting_requests_queue_in_order_and_a_freed_seat_goes_to_the_oldest(world):
    students(world, "sam", "tia")
    s = slot(world, 48)
    first = ok(world, "request", "send", str(s), user="alan")
    ok(world, "request", "approve", str(first["id"]), user="ada")
    kat = ok(world, "request", "send", str(s), "--waitlist", "-m", "me next", user="kat")
    sam = ok(world, "request", "send", str(s), "--waitlist", user="sam")
    tia = ok(world, "request", "send", str(s), "--waitlist", user="tia")
    assert [r["status"] for r in (kat, sam, tia)] == ["waiting"] * 3
    assert [show(world, r["id"])["waitlist_position"] for r in (kat, sam, tia)] == [1, 2, 3]
    assert show(world, first["id"])["waitlist_position"] is None
    assert "joined waitlist" in world("inbox", "--peek", user="ada").stdout
    table = world("request", "list", user="sam").stdout
    assert "waiting, 2 of 3" in table

    ok(world, "request", "cancel", str(first["id"]), user="alan")  # the seat frees
    promoted = show(world, kat["id"])
    assert (promoted["status"], promoted["waitlist_position"]) == ("pending", None)
    assert promoted["history"][-1] == {**promoted["history"][-1], "actor": "(system)",
                                       "from": "waiting", "to": "pending"}
    assert [show(world, r["id"])["waitlist_position"] for r in (sam, tia)] == [1, 2]
    [told] = [n for n in inbox(world, "kat") if n["kind"] == "promoted"]
    assert "left the waitlist" in told["text"]
    assert any(n["kind"] == "promoted" and n["request"] == kat["id"] for n in inbox(world, "ada"))

    ok(world, "request", "approve", str(kat["id"]), user="ada")  # full again: the line waits on
    assert [show(world, r["id"])["status"] for r in (sam, tia)] == ["waiting", "waiting"]


def test_an_opted_in_pending_request_waits_when_the_slot_fills_and_the_others_are_rejected(world):
    students(world, "sam")
    s = slot(world, 48)
    alan = ok(world, "request", "send", str(s), user="alan")
    kat = ok(world, "request", "send", str(s), "--waitlist", user="kat")
    sam = ok(world, "request", "send", str(s), user="sam")
    assert kat["status"] == "pending"  # a free seat: pending as usual
    ok(world, "request", "approve", str(alan["id"]), user="ada")
    waiting, rejected = show(world, kat["id"]), show(world, sam["id"])
    assert (waiting["status"], waiting["waitlist_position"]) == ("waiting", 1)
    assert (rejected["status"], rejected["reason"]) == ("rejected", "slot is full")
    for history in (waiting["history"][-1], rejected["history"][-1]):
        assert history["actor"] == "(system)"  # the educator rejected nobody
    [note] = [n for n in inbox(world, "sam") if n["kind"] == "rejected"]
    assert note["text"].startswith(f"your request {sam['id']} for MATH101") and "Ada" not in note["text"]


def test_raising_capacity_offers_one_seat_per_new_seat_to_the_oldest(world):
    students(world, "sam", "tia")
    s = slot(world, 48)
    ok(world, "request", "approve", str(ok(world, "request", "send", str(s), user="alan")["id"]),
       user="ada")
    line = [ok(world, "request", "send", str(s), "--waitlist", user=u)["id"] for u in ("kat", "sam", "tia")]
    ok(world, "slot", "update", str(s), "--capacity", "3", user="ada")
    assert [show(world, r)["status"] for r in line] == ["pending", "pending", "waiting"]
    # a promoted request the educator turns down frees its offer: the next one moves up
    ok(world, "request", "reject", str(line[0]), user="ada")
    assert show(world, line[2])["status"] == "pending"


def test_lowering_capacity_to_the_approved_seats_puts_opted_in_requests_back_in_line(world):
    s = slot(world, 48, "--capacity", "2")
    ok(world, "request", "approve", str(ok(world, "request", "send", str(s), user="alan")["id"]),
       user="ada")
    kat = ok(world, "request", "send", str(s), "--waitlist", user="kat")
    ok(world, "slot", "update", str(s), "--capacity", "1", user="ada")
    assert show(world, kat["id"])["status"] == "waiting"
    moved = ok(world, "slot", "update", str(s), "--capacity", "1", "--start", iso(future(50)),
               user="ada")  # its requests move with it (tests/test_reschedule.py)
    assert moved["start"] == iso(future(50)) and show(world, kat["id"])["status"] == "waiting"


def test_sweep_expires_waiting_requests_and_slot_cancel_cancels_them(world, booked, clock):
    start = clock.now.replace(microsecond=0)
    s = booked.slot(start + timedelta(hours=2))
    ok(world, "request", "approve", str(ok(world, "request", "send", str(s), user="alan")["id"]), user="ada")
    kat = ok(world, "request", "send", str(s), "--waitlist", user="kat")
    clock.advance(hours=2, minutes=1)
    assert ok(world, "sweep", user="ada") == {"completed": 0, "expired": 1}
    expired = show(world, kat["id"])
    assert (expired["status"], expired["reason"], expired["history"][-1]["actor"]) == (
        "rejected", "expired", "(system)")

    other = booked.slot(clock.now + timedelta(hours=5))
    ok(world, "request", "approve", str(ok(world, "request", "send", str(other), user="alan")["id"]), user="ada")
    waiting = ok(world, "request", "send", str(other), "--waitlist", user="kat")
    ok(world, "slot", "cancel", str(other), "--reason", "ill", user="ada")
    assert (show(world, waiting["id"])["status"], show(world, waiting["id"])["reason"]) == ("cancelled", "ill")


def test_one_active_request_per_slot_and_student_counts_waiting_too(world):
    s = slot(world, 48)
    ok(world, "request", "approve", str(ok(world, "request", "send", str(s), user="alan")["id"]), user="ada")
    mine = ok(world, "request", "send", str(s), "--waitlist", user="kat")
    refused(world, 5, "request", "send", str(s), "--waitlist", user="kat",
            says=[f"already have waiting request {mine['id']}"])


def test_slot_show_lists_the_line_for_its_educator(world):
    students(world, "sam")
    s = slot(world, 48)
    ok(world, "request", "approve", str(ok(world, "request", "send", str(s), user="alan")["id"]), user="ada")
    ok(world, "request", "send", str(s), "--waitlist", user="kat")
    ok(world, "request", "send", str(s), "--waitlist", user="sam")
    shown = world("slot", "show", str(s), user="ada").stdout
    assert "waiting, 1 of 2" in shown and "waiting, 2 of 2" in shown
    mine = ok(world, "slot", "show", str(s), user="sam")["requests"]
    assert [(r["student"], r["waitlist_position"]) for r in mine] == [("sam", 2)]


# -- moving a booking (docs/reference/lifecycle.md#moving-a-booking) -------------------------------


def test_a_pending_request_moves_at_once(world):
    a, b = slot(world, 48), slot(world, 72)
    old = ok(world, "request", "send", str(a), "-m", "recursion please", user="alan")
    new = ok(world, "request", "move", str(old["id"]), "--to", str(b), user="alan")
    assert (new["status"], new["slot"], new["replaces"], new["message"]) == (
        "pending", b, old["id"], "recursion please")
    gone = show(world, old["id"])
    assert (gone["status"], gone["replaced_by"]) == ("cancelled", new["id"])
    assert gone["history"][-1]["note"] == f"moved to request {new['id']}"
    assert show(world, new["id"])["history"][0]["note"] == f"moved from request {old['id']}"
    moved = [n for n in inbox(world, "ada") if n["kind"] == "moved"]
    assert len(moved) == 1 and f"moved request {old['id']} to slot {b}" in moved[0]["text"]
    shown = world("request", "show", str(new["id"]), user="alan").stdout.splitlines()
    assert f"replaces  request {old['id']}" in shown


def test_an_educator_moves_an_approved_session_at_once_and_the_student_is_told_once(world):
    a, b = slot(world, 48, "--link", LINK), slot(world, 72)
    old = ok(world, "request", "send", str(a), user="alan")
    ok(world, "request", "approve", str(old["id"]), user="ada")
    line = ok(world, "request", "send", str(a), "--waitlist", user="kat")
    before = len(inbox(world, "alan"))
    new = ok(world, "request", "move", str(old["id"]), "--to", str(b), user="ada")
    assert (new["status"], new["replaces"]) == ("approved", old["id"])
    seats = {s["id"]: s["booked"] for s in ok(world, "slot", "list", "--status", "all", user="ada")}
    assert (seats[a], seats[b]) == (0, 1)
    told = inbox(world, "alan")[: len(inbox(world, "alan")) - before]
    assert [n["kind"] for n in told] == ["moved"]
    assert "moved your MATH101 session from" in told[0]["text"] and " to " in told[0]["text"]
    assert show(world, line["id"])["status"] == "pending"  # the freed seat went to the line


@pytest.mark.parametrize("who", ["alan", "ada"])
def test_a_bookings_own_link_follows_it_through_every_move(world, who):
    """docs/reference/lifecycle.md#moving-a-booking: a link given at approval or by request
    update stays the booking's, whoever moves it, unless the move's approval gives another."""
    own, other = "https://meet.example.edu/alan-own", "https://meet.example.edu/other​room"
    a, b, c, d = (slot(world, hours, "--link", LINK) for hours in (48, 72, 96, 120))
    old = ok(world, "request", "send", str(a), user="alan")
    ok(world, "request", "approve", str(old["id"]), "--link", own, user="ada")
    moved = ok(world, "request", "move", str(old["id"]), "--to", str(b), user=who)
    if moved["status"] == "pending":  # alan's proposal: approved without --link
        moved = ok(world, "request", "approve", str(moved["id"]), user="ada")
    assert (moved["status"], moved["link"]) == ("approved", own)
    updated = ok(world, "request", "update", str(moved["id"]), "--link", own + "-2", user="ada")
    again = ok(world, "request", "move", str(updated["id"]), "--to", str(c), user=who)
    if again["status"] == "pending":
        again = ok(world, "request", "approve", str(again["id"]), user="ada")
    assert again["link"] == own + "-2"
    if who == "alan":  # the approval of a move may give another link (not a hostile one)
        proposal = ok(world, "request", "move", str(again["id"]), "--to", str(d), user="alan")
        refused(world, 2, "request", "approve", str(proposal["id"]), "--link", other, user="ada")
        given = ok(world, "request", "approve", str(proposal["id"]), "--link", LINK + "/new",
                   user="ada")
        assert given["link"] == LINK + "/new"


def test_auto_approved_moves_and_pending_moves_keep_the_link_too(world):
    own = "https://meet.example.edu/kat-own"
    a, b, c = slot(world, 48), slot(world, 72), slot(world, 96)
    pending = ok(world, "request", "send", str(a), user="kat")
    ok(world, "request", "update", str(pending["id"]), "--link", own, user="ada")
    moved = ok(world, "request", "move", str(pending["id"]), "--to", str(b), user="kat")
    assert (moved["status"], moved["link"]) == ("pending", own)
    approved = ok(world, "request", "approve", str(moved["id"]), user="ada")
    assert approved["link"] == own
    ok(world, "course", "set", "MATH101", "--auto-approve", user="ada")
    auto = ok(world, "request", "move", str(approved["id"]), "--to", str(c), user="kat")
    assert (auto["status"], auto["link"]) == ("approved", own)


def test_a_students_move_of_an_approved_session_is_a_proposal_until_approved(world):
    a, b, c = slot(world, 48), slot(world, 72), slot(world, 96)
    old = ok(world, "request", "send", str(a), user="alan")
    ok(world, "request", "approve", str(old["id"]), user="ada")
    proposal = ok(world, "request", "move", str(old["id"]), "--to", str(b), user="alan")
    assert (proposal["status"], proposal["replaces"]) == ("pending", old["id"])
    kept = show(world, old["id"])
    assert (kept["status"], kept["replaced_by"]) == ("approved", proposal["id"])
    refused(world, 5, "request", "move", str(old["id"]), "--to", str(c), user="alan",
            says=[f"already has a pending move (request {proposal['id']})"])
    assert [n["kind"] for n in inbox(world, "ada")][0] == "move"

    ok(world, "request", "approve", str(proposal["id"]), user="ada")
    assert show(world, old["id"])["status"] == "cancelled"
    assert show(world, old["id"])["replaced_by"] == proposal["id"]
    seats = {s["id"]: s["booked"] for s in ok(world, "slot", "list", "--status", "all", user="ada")}
    assert (seats[a], seats[b]) == (0, 1)
    [told] = [n for n in inbox(world, "alan") if n["request"] == proposal["id"]]
    assert told["kind"] == "approved" and "moved your MATH101 session" in told["text"]


def test_a_rejected_or_withdrawn_proposal_leaves_the_booking_alone(world):
    a, b = slot(world, 48), slot(world, 72)
    old = ok(world, "request", "send", str(a), user="alan")
    ok(world, "request", "approve", str(old["id"]), user="ada")
    first = ok(world, "request", "move", str(old["id"]), "--to", str(b), user="alan")
    ok(world, "request", "reject", str(first["id"]), "--reason", "keep yours", user="ada")
    second = ok(world, "request", "move", str(old["id"]), "--to", str(b), user="alan")
    ok(world, "request", "cancel", str(second["id"]), user="alan")
    kept = show(world, old["id"])
    assert (kept["status"], kept["replaced_by"]) == ("approved", None)
    assert {s["id"]: s["booked"] for s in ok(world, "slot", "list", "--status", "all", user="ada")}[a] == 1


def test_an_educators_move_overtakes_the_students_proposal(world):
    a, b, c = slot(world, 48), slot(world, 72), slot(world, 96)
    old = ok(world, "request", "send", str(a), user="alan")
    ok(world, "request", "approve", str(old["id"]), user="ada")
    proposal = ok(world, "request", "move", str(old["id"]), "--to", str(b), user="alan")
    new = ok(world, "request", "move", str(old["id"]), "--to", str(c), user="ada")
    assert show(world, proposal["id"])["status"] == "cancelled"
    assert show(world, proposal["id"])["history"][-1]["actor"] == "(system)"
    assert [r["status"] for r in ok(world, "request", "list", "--status", "approved", user="alan")] == ["approved"]
    assert new["slot"] == c


@pytest.mark.parametrize("case", ["other-course", "same-slot", "cancelled", "full", "finished",
                                  "invisible", "not-mine", "overlap"])
def test_move_refusals_change_nothing(world, case):
    ok(world, "course", "enroll", "PHYS1", "alan", user="bob")
    a, b = slot(world, 48), slot(world, 72)
    old = ok(world, "request", "send", str(a), user="alan")
    rid, target, user, code, says = old["id"], b, "alan", 5, []
    if case == "other-course":
        target, says = slot(world, 80, course="PHYS1", who="bob"), ["a booking moves within its course"]
    elif case == "same-slot":
        target, says = a, ["already for slot"]
    elif case == "cancelled":
        ok(world, "slot", "cancel", str(b), user="ada")
        says = [f"slot {b} is cancelled"]
    elif case == "full":
        ok(world, "request", "approve", str(ok(world, "request", "send", str(b), user="kat")["id"]), user="ada")
        says = [f"slot {b} is full"]
    elif case == "finished":
        ok(world, "request", "reject", str(rid), user="ada")
        says = ["only pending, waiting or approved requests can be moved"]
    elif case == "invisible":
        target, code = slot(world, 80, course="PHYS1", who="bob"), 3
        ok(world, "course", "unenroll", "PHYS1", "alan", user="bob")
    elif case == "not-mine":
        user, code = "kat", 3
    elif case == "overlap":  # alan's approved PHYS1 session overlaps the MATH101 target
        c = slot(world, 100, course="PHYS1", who="bob")
        ok(world, "request", "approve", str(ok(world, "request", "send", str(c), user="alan")["id"]), user="bob")
        target, says = slot(world, 100.5), ["overlaps your approved session"]
    refused(world, code, "request", "move", str(rid), "--to", str(target), user=user, says=says)


# -- changes that reach the booked (docs/reference/lifecycle.md#changes-that-reach-booked-sessions) ---


def test_a_new_slot_link_reaches_the_sessions_that_follow_it(world):
    s = slot(world, 48, "--capacity", "2", "--link", LINK)
    follows = ok(world, "request", "send", str(s), user="alan")
    own = ok(world, "request", "send", str(s), user="kat")
    ok(world, "request", "approve", str(follows["id"]), user="ada")
    ok(world, "request", "approve", str(own["id"]), "--link", "https://meet.example.edu/kat", user="ada")
    new = "https://meet.example.edu/room-2"
    ok(world, "slot", "update", str(s), "--link", new, user="ada")
    assert show(world, follows["id"])["link"] == new
    assert show(world, own["id"])["link"] == "https://meet.example.edu/kat"
    [told] = [n for n in inbox(world, "alan") if n["kind"] == "changed"]
    assert new in told["text"]
    assert not [n for n in inbox(world, "kat") if n["kind"] == "changed"]
    assert show(world, follows["id"])["history"][-1]["note"] == "link changed"


def test_request_update_changes_one_sessions_link_and_notes(world):
    s = slot(world, 48, "--link", LINK)
    r = ok(world, "request", "send", str(s), user="alan")
    ok(world, "request", "approve", str(r["id"]), user="ada")
    mine = "https://meet.example.edu/alan"
    updated = ok(world, "request", "update", str(r["id"]), "--link", mine, "--notes", "bring it", user="ada")
    assert (updated["link"], updated["notes"]) == (mine, "bring it")
    [told] = [n for n in inbox(world, "alan") if n["kind"] == "changed"]
    assert mine in told["text"] and "bring it" in told["text"]
    back = ok(world, "request", "update", str(r["id"]), "--link", "", user="ada")
    assert back["link"] == LINK  # follows the slot again
    refused(world, 4, "request", "update", str(r["id"]), "--notes", "x", user="alan")
    refused(world, 2, "request", "update", str(r["id"]), "--link", "ftp://x", user="ada")
    refused(world, 2, "request", "update", str(r["id"]), "--notes", "a\u202eb", user="ada")


# -- several at once (docs/reference/lifecycle.md#several-at-once) ---------------------------------


def test_several_ids_each_their_own_transaction_exit_code_the_highest(world):
    a, b = slot(world, 48, "--capacity", "2"), slot(world, 72)
    r1 = ok(world, "request", "send", str(a), user="alan")
    r2 = ok(world, "request", "send", str(a), user="kat")
    result = world("request", "approve", str(r1["id"]), "999", str(r2["id"]), str(r1["id"]),
                   "--json", user="ada")
    assert result.exit_code == 3, result.stderr
    data = json.loads(result.stdout)
    assert [d.get("status") for d in data] == ["approved", None, "approved"]
    assert data[1] == {"id": 999, "error": "no request 999", "exit": 3}
    plain = world("request", "cancel", str(r1["id"]), "998", user="alan")
    assert plain.exit_code == 3
    assert plain.stdout.startswith(f"request {r1['id']}: cancelled (MATH101")
    assert plain.stderr.startswith("error: request 998: no request 998")
    deleted = world("slot", "delete", str(b), str(a), user="ada")
    assert deleted.exit_code == 5
    assert deleted.stdout == f"deleted slot {b}\n" and f"slot {a}: slot {a} has requests" in deleted.stderr


# -- series with exceptions (docs/reference/lifecycle.md#several-at-once) --------------------------


def test_except_leaves_out_the_series_days_named(world):
    start = future(48).replace(hour=10)
    day = lambda n: (start + timedelta(days=n)).strftime("%Y-%m-%d")  # noqa: E731
    made = ok(world, "slot", "add", "--course", "MATH101", "--start", iso(start), "--duration", "1h",
              "--repeat", "daily", "--count", "5", "--except", f"{day(1)},{day(3)}", user="ada")
    assert [m["start"][:10] for m in made] == [day(0), day(2), day(4)]
    refused(world, 2, "slot", "add", "--course", "MATH101", "--start", iso(start + timedelta(days=30)),
            "--duration", "1h", "--repeat", "daily", "--count", "2", "--except", day(40), user="ada",
            says=["the series has no slot on that day"])
    refused(world, 2, "slot", "add", "--course", "MATH101", "--start", iso(start + timedelta(days=30)),
            "--duration", "1h", "--except", day(30), user="ada", says=["--except goes with --repeat"])
    refused(world, 2, "slot", "add", "--course", "MATH101", "--start", iso(start + timedelta(days=30)),
            "--duration", "1h", "--repeat", "daily", "--count", "2", "--except", "someday", user="ada")


def test_unenrolling_cancels_waiting_requests_too(world):
    s = slot(world, 48)
    ok(world, "request", "approve", str(ok(world, "request", "send", str(s), user="alan")["id"]), user="ada")
    waiting = ok(world, "request", "send", str(s), "--waitlist", user="kat")
    ok(world, "course", "unenroll", "MATH101", "kat", user="ada")
    gone = show(world, waiting["id"])
    assert (gone["status"], gone["reason"]) == ("cancelled", "unenrolled from MATH101")


# -- found by the attack pass --------------------------------------------------------------------


def test_sweep_completes_a_booking_whose_proposal_target_has_started(world, booked, clock):
    """A student proposed to move a session to a slot that starts later the same day; nobody
    decided. The nightly sweep completes the session (its proposal goes with it, by the
    system) and must not trip over the proposal it just cancelled: every run exit 0."""
    start = clock.now.replace(microsecond=0)
    first, later = booked.slot(start + timedelta(hours=1)), booked.slot(start + timedelta(hours=5))
    other = booked.slot(start + timedelta(hours=7))
    session = ok(world, "request", "send", str(first), user="alan")["id"]
    ok(world, "request", "approve", str(session), user="ada")
    kats = ok(world, "request", "send", str(other), user="kat")["id"]
    ok(world, "request", "approve", str(kats), user="ada")
    proposal = ok(world, "request", "move", str(session), "--to", str(later), user="alan")["id"]
    clock.advance(hours=14)
    assert ok(world, "sweep", user="ada") == {"completed": 2, "expired": 0}
    assert show(world, session)["status"] == show(world, kats)["status"] == "completed"
    gone = show(world, proposal)
    assert (gone["status"], gone["history"][-1]["actor"]) == ("cancelled", "(system)")
    assert ok(world, "sweep", user="ada") == {"completed": 0, "expired": 0}


def test_an_ended_session_cannot_be_proposed_to_move(world, booked, clock):
    start = clock.now.replace(microsecond=0)
    first, later = booked.slot(start + timedelta(hours=1)), booked.slot(start + timedelta(days=2))
    session = ok(world, "request", "send", str(first), user="alan")["id"]
    ok(world, "request", "approve", str(session), user="ada")
    clock.advance(hours=2, minutes=30)
    for who in ("alan", "ada"):
        refused(world, 5, "request", "move", str(session), "--to", str(later), user=who,
                says=[f"session {session} has ended; it can no longer be moved"])


def test_a_new_slot_link_reaches_completed_sessions_calendar_too(world, booked, clock):
    start = clock.now.replace(microsecond=0)
    s = booked.slot(start + timedelta(hours=1))
    ok(world, "slot", "update", str(s), "--link", LINK, user="ada")
    session = ok(world, "request", "send", str(s), user="alan")["id"]
    ok(world, "request", "approve", str(session), user="ada")
    clock.advance(hours=2, minutes=30)
    ok(world, "request", "complete", str(session), "--attended", user="ada")
    before = world("request", "export", "--ics", user="alan").stdout
    ok(world, "slot", "update", str(s), "--link", "https://meet.example.edu/recording", user="ada")
    after = world("request", "export", "--ics", user="alan").stdout
    assert "SEQUENCE:2" in before and "SEQUENCE:3" in after
    assert "LOCATION:https://meet.example.edu/recording" in after
    assert show(world, session)["history"][-1]["note"] == "link changed"
    assert [n for n in inbox(world, "alan") if n["kind"] == "changed"]


@pytest.mark.parametrize("args", [
    ["agenda", "--days", "3_0"], ["agenda", "--days", "３"], ["agenda", "--days", " 3"],
    ["slot", "add", "--course", "MATH101", "--start", "2027-03-01 10:00", "--duration", "1h",
     "--capacity", "１_0"],
    ["slot", "add", "--course", "MATH101", "--start", "2027-03-01 10:00", "--duration", "1h",
     "--capacity", "+2"],
])
def test_whole_number_options_take_ascii_digits_only(world, args):
    user = "ada" if args[0] == "slot" else "alan"
    refused(world, 2, *args, user=user, says=["takes a whole number"])


def test_stars_take_ascii_digits_only(world, booked, clock):
    start = clock.now.replace(microsecond=0)
    s = booked.slot(start + timedelta(hours=1))
    session = ok(world, "request", "send", str(s), user="alan")["id"]
    ok(world, "request", "approve", str(session), user="ada")
    clock.advance(hours=3)
    ok(world, "request", "complete", str(session), user="ada")
    for stars in ("３", "+4", " 2", "0_5", "4.0"):
        refused(world, 2, "request", "rate", str(session), "--stars", stars, user="alan",
                says=["--stars takes a whole number"])
    assert ok(world, "request", "rate", str(session), "--stars", "04", user="alan")["rating"][
        "stars"] == 4


def test_report_range_messages_name_what_was_given(world, booked, clock):
    refused(world, 2, "course", "report", "MATH101", "--from", "2027-06-01", user="ada",
            says=["--from is after the default --to, the end of the fourth week from now", "give --to"])
    refused(world, 2, "course", "report", "MATH101", "--from", "1970-01-01", "--to",
            "1970-02-01", user="ada", says=["after 1970-01-01 00:00 UTC"])
