"""After the session (docs/reference/after-the-session.md) through the command line: attendance on ``request complete``,
ratings with ``request rate`` and who may see them; and a store of the previous release
(schema 4) upgraded in place to the policies and outcomes of schema 5, on both backends.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from conftest import snapshot
from test_lifecycle import inbox, ok, refused, show

H = timedelta(hours=1)


@pytest.fixture
def ended(world, booked, clock):
    """alan's approved MATH101 session, one hour long, that ended a minute ago."""
    request = booked.approved(clock.now + H)
    clock.advance(hours=2, minutes=1)
    return request


def test_complete_records_attendance_after_the_end_and_tells_the_student(world, booked, clock):
    r = booked.approved(clock.now + H)
    refused(world, 5, "request", "complete", str(r), "--attended", user="ada",
            says=[f"session {r} has not ended yet"])
    clock.advance(hours=2)
    done = ok(world, "request", "complete", str(r), "--attended", "--notes", "went well", user="ada")
    assert (done["status"], done["attendance"], done["rating"]) == ("completed", "attended", None)
    assert show(world, r)["history"][-1]["note"] == "attended; went well"
    assert "completed, attended" in world("request", "list", "--status", "all", user="alan").stdout


def test_attendance_can_be_recorded_later_and_changed_with_a_history_row_each_time(world, ended):
    assert ok(world, "sweep", user="ada") == {"completed": 1, "expired": 0}
    assert show(world, ended)["attendance"] is None  # sweep leaves it unknown
    refused(world, 5, "request", "complete", str(ended), user="ada",
            says=[f"session {ended} is already completed"])
    ok(world, "request", "complete", str(ended), "--no-show", user="ada")
    ok(world, "request", "complete", str(ended), "--no-show", user="ada")  # already so: no row
    changed = ok(world, "request", "complete", str(ended), "--attended", user="root")
    assert changed["attendance"] == "attended"
    rows = [(h["actor"], h["from"], h["to"], h["note"]) for h in show(world, ended)["history"]]
    assert rows[-3:] == [("(system)", "approved", "completed", "session ended"),
                         ("ada", "completed", "completed", "no-show"),
                         ("root", "completed", "completed", "attended")]
    told = [n["text"] for n in inbox(world, "alan") if n["kind"] == "attendance"]
    assert any("as a no-show" in t for t in told) and any("as attended" in t for t in told)
    shown = world("request", "show", str(ended), user="alan").stdout.splitlines()
    assert "attendance  attended" in shown


@pytest.mark.parametrize("args, code, user, says", [
    (("--attended", "--no-show"), 2, "ada", "not both"),
    (("--notes", "a\u202eb"), 2, "ada", "invisible or text-reordering"),
    (("--notes", "x" * 2001), 2, "ada", "the limit is 2000"),
    (("--attended",), 4, "alan", "only the educator of slot"),
    (("--attended",), 3, "bob", "no request"),
])
def test_complete_refusals_change_nothing(world, ended, args, code, user, says):
    refused(world, code, "request", "complete", str(ended), *args, user=user, says=[says])


def test_the_student_rates_a_completed_session_and_rating_again_replaces_it(world, ended):
    ok(world, "request", "complete", str(ended), "--attended", user="ada")
    rated = ok(world, "request", "rate", str(ended), "--stars", "4", "--comment", "clear\nthanks",
               user="alan")
    assert rated["rating"] == {"stars": 4, "comment": "clear\nthanks"}
    again = ok(world, "request", "rate", str(ended), "--stars", "5", user="alan")
    assert again["rating"] == {"stars": 5, "comment": None}
    told = [n["text"] for n in inbox(world, "ada") if n["kind"] == "rated"]
    assert len(told) == 2 and "5 of 5 stars" in told[0] and '4 of 5 stars: "clear\nthanks"' in told[1]
    assert not [n for n in inbox(world, "alan") if n["kind"] == "rated"]
    assert "rating      5 of 5" in world("request", "show", str(ended), user="ada").stdout


def test_ratings_are_seen_by_the_student_the_educator_and_admins_only(world, ended):
    ok(world, "request", "complete", str(ended), "--attended", user="ada")
    ok(world, "request", "rate", str(ended), "--stars", "2", "--comment", "too fast", user="alan")
    for who in ("alan", "ada", "root"):
        assert show(world, ended, user=who)["rating"] == {"stars": 2, "comment": "too fast"}
        [listed] = ok(world, "request", "list", "--status", "all", user=who)
        assert listed["rating"]["stars"] == 2
    for who in ("kat", "bob", "eve"):
        refused(world, 3, "request", "show", str(ended), user=who)
        assert "too fast" not in world("request", "list", "--status", "all", "--json", user=who).stdout
        assert "too fast" not in world("inbox", "--all", "--json", user=who).stdout
    slot = show(world, ended)["slot"]
    assert ok(world, "slot", "show", str(slot), user="kat")["requests"] == []


def test_a_no_show_cannot_be_rated_and_marking_one_withdraws_the_rating(world, ended):
    ok(world, "request", "complete", str(ended), user="ada")
    ok(world, "request", "rate", str(ended), "--stars", "5", user="alan")
    marked = ok(world, "request", "complete", str(ended), "--no-show", user="ada")
    assert (marked["attendance"], marked["rating"]) == ("no-show", None)
    assert show(world, ended)["history"][-1]["note"] == "no-show; the rating is withdrawn"
    refused(world, 5, "request", "rate", str(ended), "--stars", "5", user="alan",
            says=[f"session {ended} was recorded as a no-show"])


def test_ratings_close_thirty_days_after_the_end(world, booked, clock):
    r = booked.approved(clock.now + H)
    clock.advance(hours=2)
    ok(world, "request", "complete", str(r), user="ada")
    clock.advance(days=30)  # exactly 30 days after the end
    ok(world, "request", "rate", str(r), "--stars", "3", user="alan")
    clock.advance(seconds=1)
    refused(world, 5, "request", "rate", str(r), "--stars", "4", user="alan",
            says=["ended more than 30 days ago", "it can no longer be rated"])


@pytest.mark.parametrize("args, code, user, says", [
    (("--stars", "0"), 2, "alan", "stars must be from 1 to 5, not 0"),
    (("--stars", "6"), 2, "alan", "not 6"),
    (("--stars", "-1"), 2, "alan", ""),
    (("--stars", "99999999999999999999999"), 2, "alan", "stars must be from 1 to 5"),
    (("--stars", "4.5"), 2, "alan", ""),
    (("--stars", "3", "--comment", "a\u200bb"), 2, "alan", "invisible"),
    (("--stars", "3", "--comment", "bell\x07"), 2, "alan", "control character"),
    (("--stars", "3", "--comment", "x" * 2001), 2, "alan", "the limit is 2000"),
    (("--stars", "3"), 4, "ada", "only the student of request"),
    (("--stars", "3"), 4, "root", "only the student of request"),
    (("--stars", "3"), 3, "kat", "no request"),
    ((), 2, "alan", "--stars"),
])
def test_rate_refusals_change_nothing(world, ended, args, code, user, says):
    ok(world, "request", "complete", str(ended), user="ada")
    refused(world, code, "request", "rate", str(ended), *args, user=user, says=[says])


def test_only_a_completed_session_is_rated(world, booked, clock):
    r = booked.approved(clock.now + 3 * H)
    refused(world, 5, "request", "rate", str(r), "--stars", "4", user="alan",
            says=[f"request {r} is approved; only completed sessions can be rated"])


# -- upgrading a store of the previous release (schema 4) ---------------------------------------------


def _raw(location):
    if location.startswith("postgresql://"):
        import psycopg

        return psycopg.connect(location, autocommit=True), "%s"
    return sqlite3.connect(location, isolation_level=None), "?"


def test_a_schema_4_store_with_data_upgrades_in_place(location, cli):
    """Built by the previous release's migrations (1-4) with a course, slots and requests in
    every state; opening it migrates to 5 in one transaction, keeping every row, and the new
    columns hold the defaults: no policy, attendance and rating unknown."""
    from sessionctl.store import _postgres, _sqlite, migrations, open_store, sqlite_path

    path = sqlite_path(location)
    old = _sqlite(path, True, 5) if path is not None else _postgres(location, 5)
    old.db.connect()
    assert old.migrate(upto=4) == 4
    old.close()
    t = "2027-01-04 10:00:00"
    con, p = _raw(location)
    rows = [
        ("INSERT INTO users (name, role, created_at) VALUES ({p},{p},{p})", [
            ("root", "admin", t), ("ada", "educator", t), ("alan", "student", t), ("kat", "student", t)]),
        ("INSERT INTO courses (code, title, educator_id, created_at) VALUES ({p},{p},2,{p})",
         [("MATH101", "Maths", t)]),
        ("INSERT INTO enrollments (course_id, student_id, created_at) VALUES (1,{p},{p})",
         [(3, t), (4, t)]),
        ("INSERT INTO slots (course_id, educator_id, starts_at, ends_at, capacity, booked, "
         "created_at, updated_at) VALUES (1,2,{p},{p},{p},{p},{p},{p})",
         [("2027-01-05 10:00:00", "2027-01-05 11:00:00", 1, 0, t, t),
          ("2030-01-05 10:00:00", "2030-01-05 11:00:00", 2, 1, t, t)]),
        ("INSERT INTO requests (slot_id, student_id, status, created_at, updated_at) "
         "VALUES ({p},{p},{p},{p},{p})",
         [(1, 3, "completed", t, t), (2, 3, "approved", t, t), (2, 4, "pending", t, t)]),
        ("INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
         "VALUES ({p},{p},{p},{p},{p})", [(1, t, None, "approved", "completed")]),
    ]
    for sql, values in rows:
        for row in values:
            con.execute(sql.format(p=p), row)
    con.close()
    before = snapshot(location)

    store = open_store(location)
    assert store.version() == migrations.LATEST >= 6  # 5, then issue 12's 6, and later ones
    store.close()
    after = snapshot(location)
    for table in ("users", "slots", "history", "enrollments"):  # later columns come after
        assert [r[:len(old)] for r, old in zip(after[table], before[table])] == before[table]
        assert len(after[table]) == len(before[table])
    assert [r[:13] for r in after["requests"]] == before["requests"]
    assert [r[13:17] for r in after["requests"]] == [(None,) * 4] * 3

    env = {"SESSIONCTL_DB": location}
    shown = cli.json("course", "show", "MATH101", user="ada", env=env)
    assert shown["policy"] == {"min_notice": None, "cancel_notice": None, "horizon": None,
                               "max_active": None, "auto_approve": False}
    [done] = cli.json("request", "list", "--status", "completed", user="alan", env=env)
    assert (done["attendance"], done["rating"]) == (None, None)
    cli.json("course", "set", "MATH101", "--auto-approve", user="ada", env=env)
    assert cli.json("request", "complete", str(done["id"]), "--attended", user="ada",
                    env=env)["attendance"] == "attended"
    # the new rules are the database's too
    con, p = _raw(location)
    for bad in ("UPDATE requests SET attendance = 'late' WHERE id = 1",
                "UPDATE requests SET attendance = 'attended' WHERE id = 3",
                "UPDATE requests SET rating = 6, rated_at = updated_at WHERE id = 1",
                "UPDATE requests SET rating = 4 WHERE id = 1",
                "UPDATE courses SET max_active = 0", "UPDATE courses SET auto_approve = 2"):
        with pytest.raises(Exception) as raised:
            con.execute(bad)
        assert "check" in str(raised.value).lower(), bad
    con.close()


def test_the_demo_sets_policies_completes_a_session_rates_it_and_reports(cli, tmp_path):
    path = tmp_path / "demo.db"
    result = cli("demo", "--db", str(path))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for command in ("course set MATH101 --min-notice 2h", "sessionctl agenda",
                    "request complete 4 --attended", "request rate 4 --stars 5",
                    "course report MATH101"):
        assert f"sessionctl {command}" in out or command in out, command
    assert "the demo moves its own clock there" in out
    assert "rating      5 of 5: Clear and patient" in out
    assert "average stars           5.00 from 1 rating" in out
    rows = snapshot(path)
    assert any(r[3] == "completed" and "attended" in r for r in rows["requests"])


def test_ids_deleted_before_the_upgrade_are_not_handed_out_again(tmp_path, cli):
    """A schema-3 SQLite store whose newest requests were deleted: migration 4's rebuild left a
    second, lower sqlite_sequence row for requests; migration 5 keeps the highest, so a new
    request never gets the id of a deleted one (calendar UIDs and Message-IDs are made of ids)."""
    from sessionctl.store import _sqlite, open_store

    path = tmp_path / "old.db"
    old = _sqlite(path, True, 5)
    old.db.connect()
    old.migrate(upto=3)
    old.close()
    con = sqlite3.connect(path, isolation_level=None)
    t = "2027-01-04 10:00:00"
    con.execute("INSERT INTO users (name, role, created_at) VALUES ('root', 'admin', ?), "
                "('ada', 'educator', ?), ('alan', 'student', ?)", (t, t, t))
    con.execute("INSERT INTO courses (code, title, educator_id, created_at) VALUES ('M', 'M', 2, ?)", (t,))
    con.execute("INSERT INTO enrollments (course_id, student_id, created_at) VALUES (1, 3, ?)", (t,))
    con.execute("INSERT INTO slots (course_id, educator_id, starts_at, ends_at, created_at, "
                "updated_at) VALUES (1, 2, '2030-01-05 10:00:00', '2030-01-05 11:00:00', ?, ?)", (t, t))
    for _ in range(3):
        con.execute("INSERT INTO requests (slot_id, student_id, status, created_at, updated_at) "
                    "VALUES (1, 3, 'cancelled', ?, ?)", (t, t))
    con.execute("DELETE FROM requests WHERE id = 3")
    con.close()
    open_store(str(path)).close()
    con = sqlite3.connect(path)
    names = [n for (n,) in con.execute("SELECT name FROM sqlite_sequence")]
    assert sorted(names) == sorted(set(names))
    assert dict(con.execute("SELECT name, seq FROM sqlite_sequence"))["requests"] == 3
    con.close()
    again = cli.json("request", "send", "1", user="alan", env={"SESSIONCTL_DB": str(path)})
    assert again["id"] == 4
