"""The attack pass on the database mode (docs/database-mode.md): raw psycopg as a student's own
login, and real processes racing, each with their own login. Every refusal leaves the store as
it was (``snapshot``, read as the superuser).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import PG_SERVER, future, iso, snapshot
from runkit import BIN
from sessionctl.store import PG_WRITE_LOCK
from test_database_mode import PASSWORD, converted, rows, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not PG_SERVER, reason="SESSIONCTL_TEST_PG is not set (.ci/run sets it)")


def as_process(w, who: str, *args: str) -> subprocess.Popen:
    """``sessionctl ARGS`` as its own process, connected as ``who``'s own login."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    env.update(SESSIONCTL_DB=w.url_of(who), SESSIONCTL_TZ="UTC", NO_COLOR="1")
    return subprocess.Popen([BIN, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# -- a rush of sends by different logins --------------------------------------------------------


def test_a_rush_of_sends_by_many_logins_exits_only_0_or_5_and_overfills_nothing(world):
    """Twelve students, each their own process and login, send at once to a one-seat and a
    three-seat slot of an auto-approve course: every process exits 0 (booked) or 5 (full)."""
    w = world
    students = [f"r{i}_{w.suffix}" for i in range(12)]
    for name in students:
        w.cli("user", "add", name, "--role", "student")
        w.name[name] = name
    w.cli("course", "enroll", "MATH", *students, who="ada")
    w.cli("course", "set", "MATH", "--auto-approve", who="ada")
    slots = [w.json("slot", "add", "--course", "MATH", "--start", iso(future(hours)),
                    "--duration", "1h", "--capacity", str(capacity), who="ada")[0]["id"]
             for hours, capacity in ((100, 1), (110, 3))]
    w.convert()
    with w.superuser() as con:
        for name in students:
            con.execute(f'ALTER ROLE "{name}" PASSWORD \'{PASSWORD}\'')
    gate = w.superuser()  # the store's write lock held: every sender waits in the queue, and
    with gate.transaction():  # so gets ready while it waits (prepared.prime), then all go
        gate.execute("SELECT pg_advisory_xact_lock(%s)", (PG_WRITE_LOCK,))
        procs = [as_process(w, name, "request", "send", str(slots[i % 2]))
                 for i, name in enumerate(students)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and rows(
                gate, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                      "AND database = (SELECT oid FROM pg_database WHERE datname = "
                      "current_database())")[0][0] < len(students) \
                and all(p.poll() is None for p in procs):
            time.sleep(0.1)
    gate.close()
    done = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert {code for code, _ in done} <= {0, 5}, done
    with w.superuser() as con:
        seats = rows(con, "SELECT booked, capacity FROM slots WHERE id = ANY (%s) ORDER BY id",
                     (slots,))
    assert seats == [(1, 1), (3, 3)]
    assert sum(code == 0 for code, _ in done) == 4


# -- history and notifications: a real change of one's own, told once --------------------------


def attempt(con, sql: str, params=()) -> str:
    """Run ``sql`` in a savepoint of the caller's transaction; it must fail. Returns what the
    server said."""
    import psycopg

    try:
        with con.transaction():
            cursor = con.execute(sql, params)
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]
    raise AssertionError(f"{sql} was not refused ({cursor.rowcount} rows)")


HISTORY = ("INSERT INTO history (request_id, at, actor_id, from_status, to_status, note) "
           "VALUES (%s, %s, %s, %s, %s, %s)")
TELL = ("INSERT INTO notifications (user_id, kind, request_id, slot_id, text, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)")


def test_a_student_cannot_record_a_change_they_did_not_make_nor_tell_of_one(converted):
    """A history row that changes nothing (from = to), or a change made in an earlier
    transaction, is refused whatever its time and note; so then is a notification to the
    educator in the name of such a row."""
    w = converted
    alan = w.connect("alan")
    mine, s1 = w.request["alan-s1"], w.slot["s1"]  # approved, in an earlier transaction
    before = snapshot(w.url)
    with alan.transaction():
        for was, to in (("approved", "approved"), ("pending", "approved"), (None, "approved")):
            said = attempt(alan, HISTORY, (mine, "2000-01-01", w.id["alan"], was, to, "pay here"))
            assert "change of request" in said, (was, to, said)
        said = attempt(alan, TELL, (w.id["ada"], "request", mine, s1,
                                    "urgent: log in at https://evil.example", "2000-01-01"))
        assert "violates row-level security" in said or "change you made" in said, said
    assert snapshot(w.url) == before


def test_a_students_own_change_is_recorded_once_at_the_servers_time_and_told_once(converted):
    w = converted
    kat = w.connect("kat")
    hers, s2 = w.request["kat-s2"], w.slot["s2"]  # pending
    before = snapshot(w.url)
    with kat.transaction():
        kat.execute("UPDATE requests SET status = 'cancelled' WHERE id = %s", (hers,))
        for was in ("approved", "cancelled"):  # not the status it had
            assert "change of request" in attempt(
                kat, HISTORY, (hers, "2000-01-01", w.id["kat"], was, "cancelled", None))
        kat.execute(HISTORY, (hers, "2000-01-01", w.id["kat"], "pending", "cancelled", "ill"))
        assert "change of request" in attempt(  # once
            kat, HISTORY, (hers, "2000-01-01", w.id["kat"], "pending", "cancelled", "again"))
        kat.execute(TELL, (w.id["ada"], "cancelled", hers, s2, "Kat cancelled", "2000-01-01"))
        assert "change you made" in attempt(  # once per recipient and change
            kat, TELL, (w.id["ada"], "cancelled", hers, s2, "Kat cancelled", "2000-01-01"))
    with w.superuser() as con:
        assert rows(con, "SELECT at > now() AT TIME ZONE 'UTC' - interval '1 hour', note FROM "
                         "history WHERE request_id = %s AND to_status = 'cancelled'",
                    (hers,)) == [(True, "ill")]
        assert rows(con, "SELECT count(*), bool_and(created_at > '2020-01-01') FROM "
                         "notifications WHERE request_id = %s AND kind = 'cancelled'",
                    (hers,)) == [(1, True)]
    after = snapshot(w.url)
    assert {t for t in after if after[t] != before[t]} == {"requests", "history", "notifications"}


# -- the definer functions' own reach ---------------------------------------------------------


def test_the_helpers_give_a_student_nothing_of_another_course(converted):
    """The definer functions read past the policies; called raw by a student about another
    course (PHYS: eve's booking, bob's slot), each gives nothing or is refused."""
    w = converted
    alan = w.connect("alan")
    s3, eves, phys = w.slot["s3"], w.request["eve-s3"], w.course["PHYS"]
    when = rows(w.superuser(), "SELECT starts_at, ends_at FROM slots WHERE id = %s", (s3,))[0]
    before = snapshot(w.url)
    for sql, params in [
        ("SELECT (sessionctl.slot_row(%s)).id", (s3,)),
        ("SELECT (sessionctl.course_row(%s)).id", (phys,)),
        ("SELECT sessionctl.role_of(%s)", (w.id["eve"],)),
    ]:
        assert rows(alan, sql, params) == [(None,)], sql
    for sql, params in [
        ("SELECT sessionctl.say('approved', %s, %s)", (eves, w.id["eve"])),
        ("SELECT sessionctl.when_for(now()::timestamp, %s)", (w.id["eve"],)),
        ("SELECT sessionctl.piece('what')", ()),
        ("SELECT * FROM sessionctl.clashes(%s, %s, %s, 0)", (w.id["eve"], *when)),
        ("SELECT sessionctl.changes_now(%s, 'approved', ARRAY['cancelled'])", (s3,)),
        ("SELECT sessionctl.changed_now(%s)", (eves,)),
        ("SELECT sessionctl.is_login(%s)", (w.name["eve"],)),
        ("SELECT sessionctl.may_make_login(%s, 'student')", (w.name["eve"],)),
        ("SELECT * FROM sessionctl.changes", ()),
    ]:
        assert "permission denied" in attempt(alan, sql, params), sql
    # their own course's rows, as the policies show them
    assert rows(alan, "SELECT (sessionctl.slot_row(%s)).id", (w.slot["s1"],)) == [(w.slot["s1"],)]
    assert rows(alan, "SELECT (sessionctl.course_row(%s)).code", (w.course["MATH"],)) == [("MATH",)]
    assert rows(alan, "SELECT sessionctl.role_of(%s)", (w.id["ada"],)) == [("educator",)]
    assert snapshot(w.url) == before


def test_the_groups_may_call_only_the_functions_the_policies_guards_and_cli_call(converted):
    w = converted
    with w.superuser() as con:
        callable_ = {name for (name,) in rows(
            con, "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'sessionctl'::regnamespace"
                 " AND has_function_privilege('sessionctl_student', p.oid, 'EXECUTE')")}
    assert callable_ == {
        # who is asking, and the checks the policies and the guards call
        "me", "my_role", "role_of", "my_courses", "my_slots", "my_enrolments", "my_people",
        "manages_course", "manages_slot", "sees_slot", "sees_request", "slot_row", "course_row",
        "may_request", "may_record", "may_notify", "name_is_free", "is_owner", "recorded", "told",
        "history_stamp", "notification_guard", "request_guard", "slot_guard", "user_guard",
        # what the CLI calls (store/guarded.py, Store.made_users)
        "system_change", "settle", "offer", "waitlist", "waiting_count", "clash",
        "enrolled_counts", "code_taken", "login_role"}


# -- names and conversions -----------------------------------------------------------------------


def test_a_role_name_postgresql_reserves_is_refused_at_user_add_in_one_line(converted):
    from runkit import refused_plainly
    from test_database_cli import as_login

    w = converted
    before = snapshot(w.url)
    for name in ("public", "none", f"pg_{w.suffix}"):
        refused = as_login(w, "root", "user", "add", name, "--role", "student")
        refused_plainly(refused, 2)
        assert "reserves" in refused.stderr, refused.stderr
    assert snapshot(w.url) == before


@pytest.fixture
def two_stores():
    """Two stores of one cluster, each with its admin: their URLs (the superuser's)."""
    import uuid

    import psycopg

    from conftest import Cli

    suffix = uuid.uuid4().hex[:8]
    names = [f"sessionctl_test_{suffix}_{i}" for i in (1, 2)]
    base = PG_SERVER.rpartition("/")[0]
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    urls, root = [f"{base}/{name}" for name in names], f"root_{suffix}"
    for i, url in enumerate(urls):
        assert Cli(url)("init", user=root).exit_code == 0  # root: the first admin
        assert Cli(url)("user", "add", f"s{i}_{suffix}", "--role", "student",
                        user=root).exit_code == 0
    yield urls, root
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for (role,) in admin.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                                     (f"%\\_{suffix}",)).fetchall():
            admin.execute(f'DROP ROLE "{role}"')


def test_two_stores_of_one_cluster_convert_at_once(two_stores):
    """Their conversions share the cluster's group roles: each waits for the other, none fails."""
    from runkit import proc

    urls, root = two_stores
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    for _ in range(3):  # a first conversion, and conversions run again
        procs = [subprocess.Popen([BIN, "init", "--identity", "database", "--admin", root],
                                  env={**env, "SESSIONCTL_DB": url, "SESSIONCTL_USER": root},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for url in urls]
        done = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        assert [code for code, _ in done] == [0, 0], done
    for url in urls:  # in the mode: the superuser is nobody there
        assert proc("whoami", user=root, db=url).returncode == 4
