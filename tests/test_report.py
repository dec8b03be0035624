"""``course report`` (docs/reference/after-the-session.md#the-course-report) on a scenario whose numbers are worked out by hand below.

The clock starts on Monday 2026-12-28 08:00 UTC (T0). ada's MATH101 slots, all in UTC:

    s1 Tue 12-29 10:00-11:00 cap 1    s4 Mon 01-04 10:00-11:00 cap 1
    s2 Wed 12-30 10:00-10:30 cap 2    s5 Tue 01-05 14:00-15:30 cap 3
    s3 Thu 12-31 10:00-11:00 cap 1    s6 Wed 01-06 09:00-10:00 cap 1
                                      s7 Thu 01-07 10:00-11:00 cap 2 (cancelled by ada)
and one PHYS1 slot of bob's (another course: never counted).

    at T0:      r1 alan→s1 approved (notice 26h = 1560 min); r2 kat→s2 approved (50h = 3000)
    T0+2h:      r3 alan→s2 approved (48h = 2880); r4 kat→s3 approved; r5 alan→s4 approved
                (7d = 10080); r6 kat→s5 approved (8d 4h = 11760); r7 alan→s5 pending
    T0+3h:      kat cancels r4 (a student's cancellation); alan cancels r7 (pending: not one)
                r8 sam→s3 approved, then cancelled by ada (an educator's cancellation)
                r9 tia→s3 approved (71h = 4260)
                r10 sam→s5 approved, then ada moves it to s6: r11 approved (8d 22h = 12840)
                r12 tia→s7 approved, then ada cancels slot s7 (an educator's cancellation)
    2027-01-10: completed: r1, r2, r6 attended; r3, r9 no-shows; sweep completes r5, r11
                ratings: r1 5 (alan), r2 4 (kat), r6 3 then 2 (kat), r11 4 (sam)

So, over the default range (the 8 weeks up to Sun 2027-01-10 and the 4 after: the 12 weeks
from Mon 2026-11-16 to Mon 2027-02-08):
- slots offered 6 (s7 is cancelled), seats offered 1+2+1 + 1+3+1 = 9;
- seats booked: r1 r2 r3 r9 | r5 r6 r11 = 7, utilisation 7/9 = 0.7778;
- completed 7: attended 3 (r1 r2 r6), no-shows 2 (r3 r9);
- cancellations of approved sessions: by students 1 (r4), by educators 2 (r8, r12); moves 1 (r10);
- ratings 4, average (5+4+2+4)/4 = 3.75;
- hours held: s1 60 + s2 30 + s4 60 + s5 90 + s6 60 (s3 had only a no-show) = 300 min = 5 h;
- median notice of the 7 booked seats: 1560 2880 3000 [4260] 10080 11760 12840 = 4260 min;
- weeks: 12-28 offered 4, booked 4, completed 4; 01-04 offered 5, booked 3, completed 3.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from test_lifecycle import ok, refused, students

UTC = timezone.utc
T0 = datetime(2026, 12, 28, 8, 0, tzinfo=UTC)


def _slot(world, start: str, length: str, capacity: int, course="MATH101", who="ada") -> int:
    [made] = ok(world, "slot", "add", "--course", course, "--start", start, "--duration", length,
                "--capacity", str(capacity), user=who)
    return made["id"]


def _booked(world, slot: int, student: str) -> int:
    r = ok(world, "request", "send", str(slot), user=student)["id"]
    ok(world, "request", "approve", str(r), user="ada")
    return r


@pytest.fixture
def scenario(world, booked, clock):
    clock.now = T0
    students(world, "sam", "tia")
    s1 = _slot(world, "2026-12-29 10:00", "1h", 1)
    s2 = _slot(world, "2026-12-30 10:00", "30m", 2)
    s3 = _slot(world, "2026-12-31 10:00", "1h", 1)
    s4 = _slot(world, "2027-01-04 10:00", "1h", 1)
    s5 = _slot(world, "2027-01-05 14:00", "1h30m", 3)
    s6 = _slot(world, "2027-01-06 09:00", "1h", 1)
    s7 = _slot(world, "2027-01-07 10:00", "1h", 2)
    ok(world, "course", "enroll", "PHYS1", "alan", user="bob")
    p1 = _slot(world, "2026-12-29 12:00", "1h", 1, course="PHYS1", who="bob")
    ok(world, "request", "approve", str(ok(world, "request", "send", str(p1), user="alan")["id"]),
       user="bob")
    r1, r2 = _booked(world, s1, "alan"), _booked(world, s2, "kat")
    clock.advance(hours=2)
    r3, r4, _, r6 = (_booked(world, s2, "alan"), _booked(world, s3, "kat"),
                     _booked(world, s4, "alan"), _booked(world, s5, "kat"))
    r7 = ok(world, "request", "send", str(s5), user="alan")["id"]
    clock.advance(hours=1)
    ok(world, "request", "cancel", str(r4), user="kat")
    ok(world, "request", "cancel", str(r7), user="alan")
    ok(world, "request", "cancel", str(_booked(world, s3, "sam")), user="ada")
    r9, r10 = _booked(world, s3, "tia"), _booked(world, s5, "sam")
    r11 = ok(world, "request", "move", str(r10), "--to", str(s6), user="ada")["id"]
    _booked(world, s7, "tia")
    ok(world, "slot", "cancel", str(s7), user="ada")
    clock.now = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    for r in (r1, r2, r6):
        ok(world, "request", "complete", str(r), "--attended", user="ada")
    for r in (r3, r9):
        ok(world, "request", "complete", str(r), "--no-show", user="ada")
    assert ok(world, "sweep", user="root") == {"completed": 3, "expired": 0}  # r5, r11, PHYS1
    for r, student, stars in ((r1, "alan", 5), (r2, "kat", 4), (r6, "kat", 3), (r6, "kat", 2),
                              (r11, "sam", 4)):
        ok(world, "request", "rate", str(r), "--stars", str(stars), user=student)
    return world


def _week(day: str, offered=0, booked=0, completed=0) -> dict:
    return {"week": day, "offered": offered, "booked": booked, "completed": completed}


def test_the_report_over_the_default_twelve_weeks(scenario):
    report = ok(scenario, "course", "report", "MATH101", user="ada")
    mondays = [(datetime(2026, 11, 16) + timedelta(weeks=i)).strftime("%Y-%m-%d") for i in range(12)]
    weeks = [_week(m) for m in mondays]
    weeks[6] = _week("2026-12-28", 4, 4, 4)
    weeks[7] = _week("2027-01-04", 5, 3, 3)
    assert report == {
        "course": "MATH101", "from": "2026-11-16T00:00:00Z", "to": "2027-02-08T00:00:00Z",
        "slots_offered": 6, "seats_offered": 9, "seats_booked": 7, "utilisation": 0.7778,
        "sessions_completed": 7, "attended": 3, "no_shows": 2, "cancelled_by_students": 1,
        "cancelled_by_educators": 2, "moves": 1, "average_stars": 3.75, "ratings": 4,
        "hours_held": 5.0, "median_notice": 4260, "weeks": weeks,
    }
    assert ok(scenario, "course", "report", "MATH101", user="root") == report


def test_the_report_over_a_range_it_is_given(scenario):
    report = ok(scenario, "course", "report", "MATH101", "--from", "2027-01-04",
                "--to", "2027-01-11", user="ada")
    assert {k: v for k, v in report.items() if k not in ("course", "from", "to")} == {
        "slots_offered": 3, "seats_offered": 5, "seats_booked": 3, "utilisation": 0.6,
        "sessions_completed": 3, "attended": 1, "no_shows": 0, "cancelled_by_students": 0,
        "cancelled_by_educators": 1, "moves": 1, "average_stars": 3.0, "ratings": 2,
        "hours_held": 3.5, "median_notice": 11760, "weeks": [_week("2027-01-04", 5, 3, 3)],
    }
    empty = ok(scenario, "course", "report", "MATH101", "--from", "2026-11-02",
               "--to", "2026-11-09", user="ada")
    assert (empty["seats_offered"], empty["utilisation"], empty["average_stars"],
            empty["median_notice"]) == (0, None, None, None)


def test_the_report_table_and_its_week_chart_at_80_columns(scenario):
    result = scenario("course", "report", "MATH101", user="ada", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    for expected in ("MATH101: Maths", "slots offered           6",
                     "seats booked            7 (78% of the seats offered)",
                     "cancelled by educators  2", "average stars           3.75 from 4 ratings",
                     "hours held              5", "median notice           2d 23h"):
        assert expected in lines, (expected, lines)
    # the fullest week (5 seats) spans the bar's 57 cells: 80 - 14 (label) - 5 (seats) - 4
    assert "Mon 2026-12-28  " + "█" * 46 + " " * 11 + "    4/4" in lines
    assert "Mon 01-04       " + "█" * 34 + "░" * 23 + "    3/5" in lines
    assert "Mon 2026-11-16  " + " " * 57 + "    0/0" in lines


@pytest.mark.parametrize("user, code", [("alan", 4), ("eve", 3), ("bob", 3)])
def test_only_the_educator_and_admins_see_the_report(world, user, code):
    refused(world, code, "course", "report", "MATH101", user=user)


@pytest.mark.parametrize("args, says", [
    (("--from", "2027-02-01", "--to", "2027-01-01"), "is not after --from"),
    (("--from", "2020-01-01", "--to", "2027-01-01"), "a report covers at most 261 weeks"),
    (("--from", "someday"), "someday"),
    (("--to", "2027-01-01 10:00+25:00"), ""),
])
def test_report_ranges_that_make_no_sense_are_usage_errors(world, args, says):
    refused(world, 2, "course", "report", "MATH101", *args, user="ada", says=[says])


def test_report_and_agenda_queries_on_both_backends(location):
    """The aggregates (GROUP BY 1 over a CASE of week edges, minutes between timestamps, the
    median's ORDER BY … OFFSET) and the agenda's bounded queries, on SQLite and PostgreSQL."""
    from conftest import Clock
    from cronkit import Sessions
    from sessionctl.domain import agenda, courses, report, requests, users
    from sessionctl.store import open_store

    clock = Clock(T0)
    store = open_store(location, create=True)
    try:
        users.register_first_admin(store, "root")
        book = Sessions(store, clock)
        for name, role in (("ada", "educator"), ("alan", "student"), ("kat", "student")):
            users.add_user(book.ctx("root"), name, role, None, None, None)
        courses.add_course(book.ctx("ada"), "MATH101", "Maths", None)
        courses.enroll(book.ctx("ada"), "MATH101", ["alan", "kat"], [])
        first = book.approved(T0 + timedelta(days=1, hours=2))  # Tue 10:00, notice 26h
        second = book.approved(T0 + timedelta(days=8), "kat", length=timedelta(minutes=30))
        third = book.approved(T0 + timedelta(days=9), "kat")  # notice 9d = 12960
        assert [i.request for i in agenda.agenda(book.ctx("kat"), 10)] == [second, third]
        assert [i.with_ for i in agenda.agenda(book.ctx("ada"), 2)] == ["alan"]
        clock.now = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
        requests.complete(book.ctx("ada"), first, "attended")
        requests.complete(book.ctx("ada"), second, "no-show")
        requests.complete(book.ctx("ada"), third)
        requests.rate(book.ctx("alan"), first, 4, "good")
        requests.rate(book.ctx("kat"), third, 1, None)
        found = report.report(book.ctx("ada"), "MATH101")
        assert (found.slots_offered, found.seats_offered, found.seats_booked,
                found.sessions_completed, found.attended, found.no_shows) == (3, 3, 3, 3, 1, 1)
        assert (found.ratings, found.average_stars, found.hours_held, found.median_notice) == (
            2, 2.5, 2.0, 11520)  # 60 + 60 minutes held; notices 1560, 11520, 12960
        assert [(w.week.isoformat(), w.offered, w.booked, w.completed) for w in found.weeks[6:8]] == [
            ("2026-12-28", 1, 1, 1), ("2027-01-04", 2, 2, 2)]
    finally:
        store.close()


# -- found by the third attack pass: a read sees one snapshot on PostgreSQL too -------------------

FLIPPER = """
import sys, time, psycopg
url, slot, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import os
with psycopg.connect(url, autocommit=True) as con:
    while not os.path.exists(stop):
        con.execute("UPDATE requests SET status = CASE status WHEN 'approved' THEN 'cancelled' "
                    "ELSE 'approved' END WHERE slot_id = %s", (slot,))
"""


READER = """
import sys
from sessionctl.cli import app
codes = [app(["course", "report", "C1", "--from", "-1d", "--to", "+30d", "--json"],
             standalone_mode=False) for _ in range(int(sys.argv[1]))]
print(" ".join(map(str, codes)))
"""


def test_course_report_on_postgresql_never_crashes_while_others_write(pg_location, tmp_path):
    """Writer processes book and free seats as fast as they can (every seat of a slot at once,
    as an educator cancelling and re-approving them would); `course report`, in processes of
    its own, reads counts in one query and the rows they count in the next. It always adds up."""
    env = {**os.environ, "SESSIONCTL_DB": pg_location, "SESSIONCTL_TZ": "UTC", "NO_COLOR": "1"}
    env.pop("SESSIONCTL_DEBUG", None)

    def cli(user, *args):
        result = subprocess.run([sys.executable, "-m", "sessionctl", *args], capture_output=True,
                                text=True, env={**env, "SESSIONCTL_USER": user}, timeout=60)
        assert result.returncode == 0, (args, result.stderr)

    cli("root", "init")
    cli("root", "user", "add", "ada", "--role", "educator")
    students = [f"s{i}" for i in range(6)]
    for name in students:
        cli("root", "user", "add", name, "--role", "student")
    cli("ada", "course", "add", "C1", "--title", "Course")
    cli("ada", "course", "enroll", "C1", *students)
    for slot, start in ((1, "tomorrow 10:00"), (2, "tomorrow 12:00")):
        cli("ada", "slot", "add", "--course", "C1", "--start", start, "--duration", "1h",
            "--capacity", "6")
        for name in students:
            cli(name, "request", "send", str(slot))
    cli("ada", "request", "approve", *map(str, range(1, 13)))
    stop = tmp_path / "stop"
    writers = [subprocess.Popen([sys.executable, "-c", FLIPPER, pg_location, str(slot), str(stop)])
               for slot in (1, 2)]
    try:
        readers = [subprocess.Popen([sys.executable, "-c", READER, "40"], env={**env, "SESSIONCTL_USER": "ada"},
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        outcomes = [(r.communicate(timeout=300), r.returncode) for r in readers]
    finally:
        stop.touch()
        for writer in writers:
            writer.wait(timeout=60)
    import json

    for (out, err), code in outcomes:
        *reports, codes = out.rstrip("\n").rsplit("\n", 1)
        assert code == 0 and set(codes.split()) == {"0"}, (codes, err[-2000:])
        decoder, text, at, seen = json.JSONDecoder(), reports[0], 0, 0
        while at < len(text):  # each report is one state: booked seats and their notice agree
            report, at = decoder.raw_decode(text, at)
            at += 1
            seen += 1
            assert report["seats_booked"] in (0, 6, 12), report
            assert (report["median_notice"] is None) == (report["seats_booked"] == 0), report
        assert seen == 40
