"""The attack pass on the database mode (docs/database-mode.md): raw psycopg as a student's own
login, and real processes racing, each with their own login. Every refusal leaves the store as
it was (``snapshot``, read as the superuser).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import timedelta

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


# -- hook events: a change of one's own, in the server's words ----------------------------------

EVENT = ("INSERT INTO events (kind, at, request_id, booking, payload) "
         "VALUES (%s, %s, %s, %s, %s)")
HOOKED = ("requested", "approved", "cancelled", "changed", "completed", "moved", "promoted",
          "rejected", "reminder", "slot-cancelled", "waitlisted")


def hooked(w) -> None:
    """Every event has a hook (as ``hooks run`` registers the ones it finds)."""
    with w.superuser() as con:
        for event in HOOKED:
            con.execute("INSERT INTO hooks (name, since) VALUES (%s, now())", (event,))


def forged(w, who: str, event: str, request: int) -> tuple:
    """EVENT's values in ``who``'s own name, lying: a time, booking, link, status of its own."""
    payload = {
        "event": event, "at": "2000-01-01T00:00:00Z", "actor": w.name[who],
        "request": {"id": request, "status": "approved", "link": "https://evil.example/pay",
                    "start": "2000-01-01T00:00:00Z", "student": w.name["eve"]},
        "course": {"code": "PHYS", "title": "Free money\u202e", "educator": w.name["bob"]},
        "slot": {"id": request, "capacity": 99, "link": "https://evil.example/pay"}}
    return (event, "2000-01-01", request, 999999, json.dumps(payload))


def test_a_student_cannot_record_an_event_of_a_change_they_did_not_make(converted):
    """A forged kind on a request nobody changed; once a change of his own is made, an event of
    another student's request, a kind that is not that change, a second event of it: each
    refused."""
    import psycopg

    w = converted
    hooked(w)
    alan = w.connect("alan")
    mine, kats, eves = w.request["alan-s1"], w.request["kat-s2"], w.request["eve-s3"]
    before = snapshot(w.url)
    with alan.transaction():
        for kind in (*HOOKED, "no-such-event"):
            said = attempt(alan, EVENT, forged(w, "alan", kind, mine))
            assert "change you made" in said, (kind, said)
        raise psycopg.Rollback
    with alan.transaction():
        alan.execute("UPDATE requests SET status = 'cancelled' WHERE id = %s", (mine,))
        for request in (kats, eves):  # his own change vouches for no one else's request
            said = attempt(alan, EVENT, forged(w, "alan", "cancelled", request))
            assert "row-level security" in said or "change you made" in said, said
        for kind in set(HOOKED) - {"cancelled"}:  # not the change he made (nor a slot's cancel)
            said = attempt(alan, EVENT, forged(w, "alan", kind, mine))
            assert "change you made" in said, (kind, said)
        alan.execute(EVENT, forged(w, "alan", "cancelled", mine))
        assert "change you made" in attempt(alan, EVENT, forged(w, "alan", "cancelled", mine))
        raise psycopg.Rollback  # (the change itself was his to make)
    assert snapshot(w.url) == before


def test_a_students_event_of_their_own_change_says_what_the_rows_say(converted):
    """A real change with a forged time, booking, link, status, student, course and slot: the
    event is written, in the server's words."""
    w = converted
    hooked(w)
    kat = w.connect("kat")
    hers, s2 = w.request["kat-s2"], w.slot["s2"]  # pending
    before = snapshot(w.url)
    with kat.transaction():
        kat.execute("UPDATE requests SET status = 'cancelled' WHERE id = %s", (hers,))
        kat.execute(EVENT, forged(w, "kat", "cancelled", hers))
    with w.superuser() as con:
        [(kind, recent, booking, payload)] = rows(
            con, "SELECT kind, at > now() AT TIME ZONE 'UTC' - interval '1 hour', booking, "
                 "payload FROM events")
        starts, ends = rows(con, "SELECT starts_at, ends_at FROM slots WHERE id = %s", (s2,))[0]
    assert (kind, recent, booking) == ("cancelled", True, hers)
    said = json.loads(payload)
    assert said["event"] == "cancelled" and said["actor"] == w.name["kat"]
    assert said["at"] > "2020" and said["request"]["id"] == hers
    assert {k: said["request"][k] for k in ("status", "link", "student", "slot", "course",
                                             "educator", "start", "end", "message")} == {
        "status": "cancelled", "link": None, "student": w.name["kat"], "slot": s2,
        "course": "MATH", "educator": w.name["ada"], "start": iso_z(starts),
        "end": iso_z(ends), "message": "hi"}
    assert said["course"] == {"code": "MATH", "title": "Maths", "educator": w.name["ada"]}
    assert {k: said["slot"][k] for k in ("id", "capacity", "booked", "status", "link")} == {
        "id": s2, "capacity": 2, "booked": 0, "status": "available", "link": None}
    after = snapshot(w.url)
    assert {t for t in after if after[t] != before[t]} == {"requests", "events"}


def test_a_store_converted_before_the_events_guard_gets_it_from_init_again(converted):
    w = converted
    with w.superuser() as con:  # as a store converted by the previous release was
        con.execute("DROP TRIGGER events_guard ON events")
    w.convert()
    with w.superuser() as con:
        assert rows(con, "SELECT count(*) FROM pg_trigger WHERE tgname = 'events_guard'") == [(1,)]
    hooked(w)
    alan = w.connect("alan")
    said = attempt(alan, EVENT, forged(w, "alan", "cancelled", w.request["alan-s1"]))
    assert "change you made" in said, said


def iso_z(instant) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_cli_in_the_database_mode_delivers_each_change_to_a_real_hook(converted, tmp_path):
    """Each person through the CLI as their own login, and the server's own changes (a waiting
    request promoted when a seat frees): ``hooks run`` by an admin hands each event, once, to
    its hook, saying what happened, with hostile text intact."""
    from test_database_cli import as_login
    from test_hooks import Hooks

    w = converted

    def cli(*args, user="root", env=None):  # the hooks' config as the site file (the mode's)
        return as_login(w, user, *args, env={"XDG_CONFIG_DIRS": env["XDG_CONFIG_HOME"]})

    hooks = Hooks(cli, tmp_path)
    for event in HOOKED:
        hooks.add(event)
    assert hooks.counts() == {"delivered": 0, "failed": 0, "pending": 0}

    def run(who, *args):
        done = as_login(w, who, *args, "--json")
        assert done.exit_code == 0, (who, args, done.stderr)
        return json.loads(done.stdout)

    hostile = 'line\nbreak "quoted" \\ {"actor": "root"} Zoë ✓'  # (bidi: refused at send)
    sent = run("kat", "request", "send", str(w.slot["s4"]), "--message", hostile)["id"]
    run("ada", "request", "approve", str(sent))
    run("ada", "request", "update", str(sent), "--link", "https://meet.example.edu/x")
    run("alan", "request", "cancel", str(w.request["alan-s1"]))  # lin's waiting request: promoted
    run("root", "request", "reject", str(w.request["kat-s2"]))
    run("ada", "remind", "--within", "200h")  # an educator's remind: her login is its actor
    result = hooks.run("--json")
    assert result.exit_code == 0, result.stderr
    got = hooks.got()
    lin = w.request["lin-s1"]
    assert [(g["event"], g["request"]["id"], g["actor"], g["request"]["status"]) for g in got] == [
        ("requested", sent, w.name["kat"], "pending"),
        ("approved", sent, w.name["ada"], "approved"),
        ("changed", sent, w.name["ada"], "approved"),
        ("cancelled", w.request["alan-s1"], w.name["alan"], "cancelled"),
        ("promoted", lin, None, "pending"),
        ("rejected", w.request["kat-s2"], w.name["root"], "rejected"),
        ("reminder", sent, w.name["ada"], "approved")]
    assert json.loads(result.stdout) == {"delivered": len(got), "failed": 0, "pending": 0}
    assert got[0]["request"]["message"] == hostile
    assert got[2]["request"]["link"] == "https://meet.example.edu/x"
    # the server's words (students, educators, the system) and the client's (an admin) alike
    admins = got[-2]
    for event in got:
        assert set(event) == set(admins) and set(event["slot"]) == set(admins["slot"])
        assert set(event["request"]) == set(admins["request"])
        assert event["course"] == {"code": "MATH", "title": "Maths", "educator": w.name["ada"]}
    shared = ("id", "slot", "course", "student", "educator", "start", "end", "created",
              "replaces", "waitlist_position", "attendance", "rating")
    again = as_login(w, "root", "request", "show", str(w.request["kat-s2"]), "--json")
    shown = json.loads(again.stdout)
    assert {k: admins["request"][k] for k in shared} == {k: shown.get(k) for k in shared}


def test_the_servers_own_changes_record_their_events_as_the_personal_mode_does(converted, tmp_path):
    """Under auto-approve a student's move is approved by the server, the booking it replaces
    gives way (no event of its own: the new request's ``moved`` tells it) and the freed seat is
    offered to the waitlist: the system's events, with no actor, as in the personal mode."""
    from test_database_cli import as_login
    from test_hooks import Hooks

    w = converted
    hooks = Hooks(lambda *args, user="root", env=None: as_login(
        w, user, *args, env={"XDG_CONFIG_DIRS": env["XDG_CONFIG_HOME"]}), tmp_path)
    for event in HOOKED:
        hooks.add(event)
    assert hooks.counts() == {"delivered": 0, "failed": 0, "pending": 0}
    assert as_login(w, "ada", "course", "set", "MATH", "--auto-approve").exit_code == 0
    old = w.request["alan-s1"]
    moved = as_login(w, "alan", "request", "move", str(old), "--to", str(w.slot["s4"]), "--json")
    assert moved.exit_code == 0, moved.stderr
    new = json.loads(moved.stdout)["id"]
    assert hooks.run().exit_code == 0
    got = [(g["event"], g["request"]["id"], g["actor"], g["request"]["status"])
           for g in hooks.got()]
    assert got == [("requested", new, w.name["alan"], "pending"),
                   ("promoted", w.request["lin-s1"], None, "approved"),
                   ("moved", new, None, "approved")], got


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
        "event_of", "mail_thread", "check_change", "history_stamp", "notification_guard",
        "event_guard", "request_guard", "slot_guard", "user_guard",
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


# -- the second attack pass: temp tables, races, the server's clock, invitations -----------------


def test_a_students_temp_table_cannot_give_their_request_false_times(converted):
    """``CREATE TEMP TABLE slots`` (pg_temp comes first in a search_path that does not name it)
    does not reach the trigger that copies a slot's times into a request: it reads the store's
    own table."""
    w = converted
    alan = w.connect("alan")
    s4 = w.slot["s4"]
    with alan.transaction():
        alan.execute("CREATE TEMP TABLE slots (id integer, starts_at timestamp, "
                     "ends_at timestamp)")
        alan.execute("INSERT INTO slots VALUES (%s, '2000-01-01', '2000-01-01 01:00')", (s4,))
        made = rows(alan, "INSERT INTO requests (slot_id, student_id, status, created_at, "
                          "updated_at, waitlist) VALUES (%s, %s, 'pending', now(), now(), 0) "
                          "RETURNING id", (s4, w.id["alan"]))[0][0]
        alan.execute(HISTORY, (made, "2000-01-01", w.id["alan"], None, "pending", None))
    with w.superuser() as con:
        assert rows(con, "SELECT r.starts_at = s.starts_at AND r.ends_at = s.ends_at FROM "
                         "requests r JOIN slots s ON s.id = r.slot_id WHERE r.id = %s",
                    (made,)) == [(True,)]


def test_every_function_of_the_store_pins_its_search_path_with_pg_temp_last(converted):
    """The definer functions, the guards and migration 6's triggers alike: none runs with the
    caller's search_path."""
    w = converted
    with w.superuser() as con:
        found = rows(con, "SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p "
                          "WHERE p.pronamespace IN ('sessionctl'::regnamespace, "
                          "'public'::regnamespace)")
    assert {"sessionctl_request_times()", "sessionctl_slot_times()"} <= {f for f, _ in found}
    for function, config in found:
        path = [c for c in config or [] if c.startswith("search_path=")]
        assert path and path[0].startswith("search_path=pg_catalog, ") \
            and path[0].endswith(", pg_temp"), (function, config)


def at_once(w, steps: dict) -> dict:
    """Each of ``steps`` ({who: step(con)}) in its own transaction on its own login and thread,
    all let go together (a barrier); each holds its transaction open a moment before commit.
    Returns {who: "committed" or the server's refusal}."""
    import threading

    import psycopg

    gate, said = threading.Barrier(len(steps)), {}

    def run(who, step):
        con = psycopg.connect(w.url_of(who))
        try:
            step(con, gate)
            time.sleep(0.5)
            con.commit()
            said[who] = "committed"
        except psycopg.Error as exc:
            said[who] = str(exc).splitlines()[0]
        finally:
            con.close()

    threads = [threading.Thread(target=run, args=item) for item in steps.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return said


def seats(w, slot: int) -> list:
    with w.superuser() as con:
        return rows(con, "SELECT s.booked, (SELECT count(*) FROM requests r WHERE r.slot_id = "
                         "s.id AND r.status = 'approved') FROM slots s WHERE s.id = %s", (slot,))


def test_three_students_auto_approving_at_once_take_one_seat_between_them(converted):
    """Raw transactions, each a send and the auto-approve system_change of an auto-approve
    course's one-seat slot, let go together: one commits, the others are refused."""
    w = converted
    s4 = w.slot["s4"]
    with w.superuser() as con:
        con.execute("UPDATE courses SET auto_approve = 1 WHERE code = 'MATH'")

    def book(who):
        def step(con, gate):
            made = rows(con, "INSERT INTO requests (slot_id, student_id, status, created_at, "
                             "updated_at, waitlist) VALUES (%s, %s, 'pending', now(), now(), 0) "
                             "RETURNING id", (s4, w.id[who]))[0][0]
            con.execute(HISTORY, (made, "2000-01-01", w.id[who], None, "pending", None))
            gate.wait()
            con.execute("SELECT sessionctl.system_change(%s, 'approved')", (made,))
        return step

    said = at_once(w, {who: book(who) for who in ("alan", "kat", "lin")})
    assert len(said) == 3 and list(said.values()).count("committed") == 1, said
    assert seats(w, s4) == [(1, 1)]


def test_an_educator_and_an_admin_approving_at_once_take_one_seat_between_them(converted):
    """Two raw UPDATEs approving two pending requests of a one-seat slot, let go together: the
    second waits for the first, counts its seat, and is refused."""
    w = converted
    s4 = w.slot["s4"]
    made = {}
    for who in ("alan", "kat"):
        made[who] = rows(w.connect(who), "INSERT INTO requests (slot_id, student_id, status, "
                         "created_at, updated_at, waitlist) VALUES (%s, %s, 'pending', now(), "
                         "now(), 0) RETURNING id", (s4, w.id[who]))[0][0]

    def approve(request):
        def step(con, gate):
            gate.wait()
            con.execute("UPDATE requests SET status = 'approved' WHERE id = %s", (request,))
        return step

    said = at_once(w, {"ada": approve(made["alan"]), "root": approve(made["kat"])})
    assert len(said) == 2 and list(said.values()).count("committed") == 1, said
    assert seats(w, s4) == [(1, 1)]


def test_a_transaction_held_open_neither_backdates_a_request_nor_books_a_started_slot(converted):
    """The server's clock is each statement's, not the transaction's start: a slot that starts
    a second into a student's transaction cannot be booked in it two seconds on, and a request
    made late in a long transaction is stamped (its place on the waitlist, its history) when
    it is made."""
    import psycopg

    w = converted
    s2, s4 = w.slot["s2"], w.slot["s4"]
    alan = w.connect("alan")
    with alan.transaction():
        alan.execute("SELECT 1")
        with w.superuser() as con:  # s4 starts a second into alan's transaction
            con.execute("UPDATE slots SET starts_at = date_trunc('second', clock_timestamp() "
                        "AT TIME ZONE 'UTC') + interval '1 second', ends_at = date_trunc("
                        "'second', clock_timestamp() AT TIME ZONE 'UTC') + interval '1 hour' "
                        "WHERE id = %s", (s4,))
        before = snapshot(w.url)
        time.sleep(2)
        said = attempt(alan, "INSERT INTO requests (slot_id, student_id, status, created_at, "
                             "updated_at, waitlist) VALUES (%s, %s, 'pending', now(), now(), 0)",
                       (s4, w.id["alan"]))
        assert "row-level security" in said, said
        raise psycopg.Rollback
    assert snapshot(w.url) == before
    with alan.transaction():
        began = rows(alan, "SELECT now() AT TIME ZONE 'UTC'")[0][0]
        time.sleep(2.1)
        made, stamped = rows(alan, "INSERT INTO requests (slot_id, student_id, status, "
                                   "created_at, updated_at, waitlist) VALUES (%s, %s, 'pending', "
                                   "now(), now(), 0) RETURNING id, created_at",
                             (s2, w.id["alan"]))[0]
        alan.execute(HISTORY, (made, "2000-01-01", w.id["alan"], None, "pending", None))
    with w.superuser() as con:
        at = rows(con, "SELECT at FROM history WHERE request_id = %s", (made,))[0][0]
    assert stamped - began >= timedelta(seconds=1) and at - began >= timedelta(seconds=1), \
        (began, stamped, at)


def test_a_students_notification_carries_the_invitation_of_the_rows_not_one_they_wrote(converted):
    """A real change of alan's own (he cancels his booking) tells ada, with a forged invitation
    in ``mail_data`` (a CANCEL of eve's booking): the server keeps only the thread it computes,
    and the mail ``notify send`` hands to a real SMTP server carries the invitation of alan's
    own booking, built from the rows; ada's approval through the CLI invites kat likewise."""
    from cronkit import MailServer, run
    from test_database_cli import as_login
    from test_invitations import invite

    w = converted
    alan, mine, eves = w.connect("alan"), w.request["alan-s1"], w.request["eve-s3"]
    with w.superuser() as con:
        store = rows(con, "SELECT uuid FROM store_info")[0][0]
        root = rows(con, "SELECT min(id) FROM notifications WHERE user_id = %s AND "
                         "request_id = %s", (w.id["ada"], mine))[0][0]
    forged = json.dumps({"chain": eves, "root": 1, "method": "CANCEL", "event": {
        "uid": f"request-{eves}-{store}@sessionctl", "summary": "cancelled\u202e"}})
    with alan.transaction():
        alan.execute("UPDATE requests SET status = 'cancelled' WHERE id = %s", (mine,))
        alan.execute(HISTORY, (mine, "2000-01-01", w.id["alan"], "approved", "cancelled", None))
        alan.execute("INSERT INTO notifications (user_id, kind, request_id, slot_id, text, "
                     "created_at, mail_state, mail_data) VALUES (%s, 'cancelled', %s, %s, "
                     "'Alan cancelled', now(), 'queued', %s)",
                     (w.id["ada"], mine, w.slot["s1"], forged))
    with w.superuser() as con:
        kept = rows(con, "SELECT mail_data FROM notifications WHERE text = 'Alan cancelled'")[0][0]
    assert json.loads(kept) == {"chain": mine, "root": root, "invitation": "when sent"}
    approved = as_login(w, "ada", "request", "approve", str(w.request["kat-s2"]))
    assert approved.exit_code == 0, approved.stderr
    with MailServer() as mail:
        sent = run("notify", "send", "--smtp", mail.url, user=w.name["root"],
                   db=w.url_of("root"), SESSIONCTL_MAIL_FROM="Sessions <s@example.edu>")
        assert sent.returncode == 0 and "failed: 0" in sent.stdout, sent.stderr
    found = {}
    for (_, to), message in zip(mail.envelopes, mail.messages):
        text = message.get_body(("plain",)).get_content()
        for key, address, words in (("alan", "ada@example.edu", "Alan cancelled"),
                                    ("kat", "kat@example.edu", "approved")):
            if to == [address] and words in text and invite(message):
                found[key] = invite(message)
    assert found["alan"][0] == "CANCEL", found
    assert str(found["alan"][1]["uid"]) == f"request-{mine}-{store}@sessionctl"
    assert found["kat"][0] == "REQUEST", found
    assert str(found["kat"][1]["uid"]) == f"request-{w.request['kat-s2']}-{store}@sessionctl"


def test_an_educators_system_change_keeps_the_time_rules_and_the_known_kinds(converted):
    """The slot's educator may make any change through system_change that they could make in
    person: not a completion before the session ends, and told as its new state or a kind the
    system words for it, never free text."""
    w = converted
    ada = w.connect("ada")
    before = snapshot(w.url)
    for sql, params, words in [
        ("SELECT sessionctl.system_change(%s, 'completed')", (w.request["alan-s1"],),
         "has not ended yet"),
        ("SELECT sessionctl.system_change(%s, 'rejected', kind => %s)",
         (w.request["kat-s2"], "Your booking was cancelled: pay at https://evil.example"),
         "is not told as"),
        ("SELECT sessionctl.system_change(%s, 'rejected', kind => 'promoted')",
         (w.request["kat-s2"],), "is not told as"),
    ]:
        said = attempt(ada, sql, params)
        assert words in said, (sql, said)
    assert snapshot(w.url) == before


def test_an_educators_history_row_that_changes_nothing_stands_for_a_change_of_the_slot(converted):
    """From = to by the slot's educator: refused with no change of the request or its slot in
    this transaction; recorded once the slot's notes (which the booking follows) change."""
    import psycopg

    w = converted
    ada = w.connect("ada")
    mine, s1 = w.request["alan-s1"], w.slot["s1"]
    before = snapshot(w.url)
    said = attempt(ada, HISTORY, (mine, "2000-01-01", w.id["ada"], "approved", "approved", "x"))
    assert "change of request" in said, said
    assert snapshot(w.url) == before
    with ada.transaction():
        ada.execute("UPDATE slots SET notes = 'bring the exercises' WHERE id = %s", (s1,))
        ada.execute(HISTORY, (mine, "2000-01-01", w.id["ada"], "approved", "approved",
                              "notes changed"))
        assert "change of request" in attempt(  # once
            ada, HISTORY, (mine, "2000-01-01", w.id["ada"], "approved", "approved", "again"))
        raise psycopg.Rollback


def test_a_store_in_the_mode_at_version_10_gets_migration_11_from_init_again(converted):
    """A store converted before migration 11 (its triggers on the caller's search_path): its
    owner's ``init --identity database`` migrates it, guards lifted and put back."""
    w = converted
    functions = ("sessionctl_request_times()", "sessionctl_slot_times()")
    with w.superuser() as con:
        for function in functions:
            con.execute(f"ALTER FUNCTION {function} RESET search_path")
        con.execute("DELETE FROM schema_migrations WHERE version = 11")
    w.convert()
    with w.superuser() as con:
        assert rows(con, "SELECT max(version) FROM schema_migrations") == [(11,)]
        assert rows(con, "SELECT proconfig FROM pg_proc WHERE oid = ANY (%s::regprocedure[])",
                    (list(functions),)) == [(["search_path=pg_catalog, public, pg_temp"],)] * 2


def test_a_notification_names_only_a_request_its_writer_sees(converted):
    """A notification to oneself naming someone else's request was mailed (by the admin's
    notify send) with that booking's course, time, names and addresses: refused."""
    w = converted
    before = snapshot(w.url)
    for who, theirs in (("alan", w.request["kat-s2"]), ("alan", w.request["eve-s3"]),
                        ("ada", w.request["eve-s3"])):
        con = w.connect(who)
        with con.transaction():
            said = attempt(con, TELL, (w.id[who], "approved", theirs, None, "peek", "2000-01-01"))
            assert "row-level security" in said, (who, said)
    assert snapshot(w.url) == before


def test_an_educators_event_needs_a_change_or_an_approved_session_to_remind_of(converted):
    """The slot's educator may tell hooks of a change of theirs (a slot moved: moved, changed)
    and remind of an approved session; not a change that never happened, not a reminder of a
    request that is no session."""
    import psycopg

    w = converted
    hooked(w)
    ada = w.connect("ada")
    before = snapshot(w.url)
    with ada.transaction():
        for kind, request in (("changed", w.request["alan-s1"]), ("moved", w.request["alan-s1"]),
                              ("reminder", w.request["kat-s2"])):  # kat-s2 is pending
            said = attempt(ada, EVENT, forged(w, "ada", kind, request))
            assert "change you made" in said, (kind, said)
        ada.execute(EVENT, forged(w, "ada", "reminder", w.request["alan-s1"]))  # approved
        raise psycopg.Rollback
    assert snapshot(w.url) == before
