"""``agenda`` (docs/reference/after-the-session.md#the-agenda) through the command line, on the test clock (Sunday 2027-01-10
09:00 UTC): what each role sees, the days it spans, JSON, and one line per row from 80 columns
up under a heading for each local day."""

from __future__ import annotations

import re

from datetime import timedelta

import pytest

from test_lifecycle import ok, refused, students

LINK = "https://meet.example.edu/ada/" + "a-very-long-room-name-" * 4


@pytest.fixture
def week(world, booked, clock):
    """A running session, today's, tomorrow's and next week's slots, in states of every kind."""
    students(world, "sam", "bartholomew-the-very-long-named")
    now = clock.now
    ids = {}
    ids["running"] = booked.approved(now + timedelta(minutes=10), link=LINK)  # alan, 09:10-10:10
    ids["open"] = booked.slot(now + timedelta(hours=3))  # 12:00, nobody
    ids["group"] = booked.slot(now + timedelta(days=1, hours=1), timedelta(minutes=30))
    ok(world, "slot", "update", str(ids["group"]), "--capacity", "3", user="ada")
    for who in ("kat", "bartholomew-the-very-long-named"):
        r = ok(world, "request", "send", str(ids["group"]), user=who)
        ok(world, "request", "approve", str(r["id"]), user="ada")
    ids["pending"] = booked.pending(now + timedelta(days=1, hours=3), "alan", message="hi")
    full = booked.slot(now + timedelta(days=2))
    ids["full_request"] = ok(world, "request", "send", str(full), user="sam")["id"]
    ok(world, "request", "approve", str(ids["full_request"]), user="ada")
    ids["waiting"] = ok(world, "request", "send", str(full), "--waitlist", user="alan")["id"]
    ids["full"] = full
    ids["later"] = booked.approved(now + timedelta(days=8), "kat")  # beyond 7 days
    ids["ended"] = booked.approved(now + timedelta(minutes=1), "sam", length=timedelta(minutes=5))
    clock.advance(minutes=30)  # 09:30: the first session is running, "ended" (09:01-09:06) is over
    return ids


def test_a_students_agenda(world, week):
    items = ok(world, "agenda", user="alan")
    assert [i["request"] for i in items] == [week["running"], week["pending"], week["waiting"]]
    assert [i["status"] for i in items] == ["approved", "pending", "waiting"]
    assert items[0]["link"] == LINK and items[1]["link"] is None
    assert set(items[0]) == {"start", "end", "course", "slot", "request", "with", "status", "link"}
    assert items[0]["start"] == "2027-01-10T09:10:00Z" and items[0]["end"] == "2027-01-10T10:10:00Z"
    table = world("agenda", user="alan").stdout
    assert "waiting, 1 of 1" in table


def test_an_educators_agenda_lists_each_slot_with_who_is_booked_and_what_waits(world, week):
    items = ok(world, "agenda", user="ada")
    rows = [(i["slot"], i["request"], i["with"], i["status"]) for i in items]
    group = [r for r in rows if r[0] == week["group"]]
    assert group == [(week["group"], None, "kat, bartholomew-the-very-long-named", "available")]
    assert (week["open"], None, None, "available") in rows
    pending_slot = next(i["slot"] for i in ok(world, "agenda", user="alan")
                        if i["request"] == week["pending"])
    assert (pending_slot, None, None, "available") in rows
    assert (pending_slot, week["pending"], "alan", "pending") in rows
    assert (week["full"], week["full_request"], "sam", "booked") in rows
    assert not any(r[1] == week["waiting"] for r in rows)  # waiting is no decision of hers
    assert not any(r[1] in (week["later"], week["ended"]) for r in rows)
    starts = [i["start"] for i in items]
    assert starts == sorted(starts)
    assert ok(world, "agenda", user="bob") == []
    assert ok(world, "agenda", user="root") == []
    assert world("agenda", user="root").stdout == "nothing ahead in the next 7 days\n"


def test_days_bounds_the_agenda_by_local_days(world, week):
    today = ok(world, "agenda", "--days", "1", user="ada")
    assert {i["start"][:10] for i in today} == {"2027-01-10"}
    assert len(ok(world, "agenda", "--days", "9", user="ada")) > len(ok(world, "agenda", user="ada"))
    tokyo = ok(world, "--tz", "Asia/Tokyo", "agenda", "--days", "1", user="ada")
    assert {i["start"][:10] for i in tokyo} == {"2027-01-10"}  # Sunday in Tokyo ends 15:00Z
    assert all(i["start"] < "2027-01-10T15:00:00Z" for i in tokyo)


def test_the_agenda_is_grouped_by_day_one_line_per_row(world, week):
    for columns in (80, 100, 120, 200):
        result = world("agenda", user="ada", env={"COLUMNS": str(columns)})
        assert result.exit_code == 0, result.stderr
        lines = result.stdout.splitlines()
        assert all(len(line) <= columns for line in lines), (columns, lines)
        assert lines[0].split() == ["Time", "Course", "Slot", "Request", "With", "Status", "Link"][
            : len(lines[0].split())]
        assert "Sun 01-10 (today)" in lines and "Mon 01-11 (tomorrow)" in lines
        assert "Tue 01-12" in lines and lines[-1] == "times in UTC"
        rows = [line for line in lines[2:-1] if line[:3] not in ("Sun", "Mon", "Tue")]
        assert len(rows) == len(ok(world, "agenda", user="ada"))
        assert sum("open" in row for row in rows) == 2
    wide = world("agenda", user="alan", env={"COLUMNS": "200"}).stdout
    assert LINK in wide
    narrow = world("agenda", user="alan", env={"COLUMNS": "80"}).stdout
    assert LINK not in narrow and re.search(r"approved +https://meet\.\S+…$", narrow, re.M), narrow


def test_colour_on_a_terminal(world, week):
    coloured = world("--color", "always", "agenda", user="alan").stdout
    assert "\x1b[32mapproved\x1b[0m" in coloured and "\x1b[33mpending\x1b[0m" in coloured


@pytest.mark.parametrize("days", ["0", "-1", "367", "99999999999999999999", "x", "1.5", ""])
def test_hostile_days_are_usage_errors(world, days):
    refused(world, 2, "agenda", "--days", days, user="alan")


def test_a_partly_booked_slot_shows_its_seats(world, week):
    """docs/reference/after-the-session.md#the-agenda: 2 of 3 seats taken reads ``2/3 booked``;
    JSON keeps the slot's status."""
    table = world("agenda", user="ada", env={"COLUMNS": "200"}).stdout
    [row] = [line for line in table.splitlines() if "kat, bartholomew" in line]
    assert "2/3 booked" in row
    assert [i["status"] for i in ok(world, "agenda", user="ada") if i["slot"] == week["group"]] == [
        "available"]
    [full] = [line for line in table.splitlines() if f" {week['full_request']} " in line]
    assert "booked" in full and "/" not in full.split("booked")[0][-6:]
