"""The database mode on PostgreSQL (docs/database-mode.md): a store built by the CLI, converted
by ``init --identity database``, then raw connections as each person's own login role.

Every attack runs as a student's (or an educator's) own login with a password, straight
through psycopg, the way ``psql`` on their laptop would; every refusal leaves the store as it
was (``snapshot``, read as the superuser). The positive tests do by hand what each command
does, so phase 2 can point the domain at them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from conftest import PG_SERVER, Cli, future, iso, snapshot
from sessionctl.store import open_store, rls

pytestmark = pytest.mark.skipif(not PG_SERVER, reason="SESSIONCTL_TEST_PG is not set (.ci/run sets it)")

PASSWORD = "correct horse battery staple"


class World:
    """A converted store: ``w.url`` (the superuser's), ``w.name['alan']`` (the real login name),
    ``w.id['alan']``, ``w.slot['s1']``, ``w.request['alan-s1']``, ``w.course['MATH']``, and
    ``w.connect('alan')``: a connection as alan's own login (autocommit)."""

    CAST = [("ada", "educator"), ("bob", "educator"), ("alan", "student"), ("kat", "student"),
            ("eve", "student"), ("lin", "student")]

    def __init__(self, url: str, suffix: str):
        self.url, self.suffix = url, suffix
        self.name = {who: f"{who}_{suffix}" for who in ["root"] + [w for w, _ in self.CAST]}
        self.connections = []

    def cli(self, *args, who="root"):
        result = Cli(self.url)(*args, user=self.name[who])
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args, who="root"):
        return Cli(self.url).json(*args, user=self.name[who])

    def build(self) -> None:
        self.cli("init")
        for who, role in self.CAST:
            self.cli("user", "add", self.name[who], "--role", role, "--display", who.title(),
                     "--email", f"{who}@example.edu", "--tz", "Europe/Berlin")
        self.cli("course", "add", "MATH", "--title", "Maths", who="ada")
        self.cli("course", "add", "PHYS", "--title", "Physics", who="bob")
        self.cli("course", "enroll", "MATH", self.name["alan"], self.name["kat"],
                 self.name["lin"], who="ada")
        self.cli("course", "enroll", "PHYS", self.name["eve"], who="bob")
        self.slot = {}
        for key, course, who, hours, capacity in [("s1", "MATH", "ada", 24, 1),
                                                  ("s2", "MATH", "ada", 48, 2),
                                                  ("s3", "PHYS", "bob", 24, 1),
                                                  ("s4", "MATH", "ada", 72, 1)]:
            made = self.json("slot", "add", "--course", course, "--start", iso(future(hours)),
                             "--duration", "1h", "--capacity", str(capacity), who=who)
            self.slot[key] = made[0]["id"]
        self.request = {}
        for key, who, slot, extra in [("alan-s1", "alan", "s1", ()), ("kat-s1", "kat", "s1", ()),
                                      ("kat-s2", "kat", "s2", ()), ("eve-s3", "eve", "s3", ())]:
            made = self.json("request", "send", str(self.slot[slot]), "--message", "hi", *extra,
                             who=who)
            self.request[key] = made["id"]
        self.cli("request", "approve", str(self.request["alan-s1"]), who="ada")  # kat-s1: rejected
        self.cli("request", "approve", str(self.request["eve-s3"]), who="bob")
        made = self.json("request", "send", str(self.slot["s1"]), "--waitlist", who="lin")
        self.request["lin-s1"] = made["id"]  # waiting: s1 is full
        with self.superuser() as con:
            rows = con.execute("SELECT name, id FROM users").fetchall()
            self.id = {who: dict(rows)[name] for who, name in self.name.items()}
            self.course = dict(con.execute("SELECT code, id FROM courses").fetchall())

    def superuser(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def convert(self) -> dict:
        """``init --identity database`` by the DBA (the store's owner or a superuser); then a
        password for every login."""
        made = Cli(self.url).json("init", "--identity", "database", "--admin", self.name["root"],
                                  user=self.name["root"])
        assert made["identity"] == "database", made
        done = made["logins"]
        with self.superuser() as con:
            for name in self.name.values():
                con.execute(f'ALTER ROLE "{name}" PASSWORD \'{PASSWORD}\'')
        return done

    def url_of(self, who: str) -> str:
        from urllib.parse import quote

        rest = self.url.split("@", 1)[1]
        return f"postgresql://{quote(self.name.get(who, who))}:{quote(PASSWORD)}@{rest}"

    def connect(self, who: str):
        import psycopg

        con = psycopg.connect(self.url_of(who), autocommit=True)
        self.connections.append(con)
        return con

    def close(self) -> None:
        for con in self.connections:
            con.close()


@pytest.fixture
def world():
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    database = f"sessionctl_test_{suffix}"
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    base = PG_SERVER.rpartition("/")[0]
    w = World(f"{base}/{database}", suffix)
    w.build()
    yield w
    w.close()
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for (role,) in admin.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                                     (f"%\\_{suffix}",)).fetchall():
            admin.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def converted(world):
    done = world.convert()
    assert sorted(done["created"]) == sorted(world.name.values()), done
    return world


def refused(con, sql: str, params=()) -> str:
    """Run ``sql``; it must fail (or change no row). Returns what the server said."""
    import psycopg

    try:
        cursor = con.execute(sql, params)
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]
    assert cursor.rowcount == 0 or (cursor.description and not cursor.fetchall()), sql
    return "0 rows"


def rows(con, sql: str, params=()) -> list:
    return con.execute(sql, params).fetchall()


def record(con, request: int, actor: int, was, to: str, tell: int, slot: int, note=None):
    """What ``requests.record`` writes after a change: the history row, the other party told."""
    con.execute("INSERT INTO history (request_id, at, actor_id, from_status, to_status, note) "
                "VALUES (%s, now(), %s, %s, %s, %s)", (request, actor, was, to, note))
    con.execute("INSERT INTO notifications (user_id, kind, request_id, slot_id, text, created_at,"
                " mail_state) VALUES (%s, %s, %s, %s, 'told', now(), 'queued')",
                (tell, to, request, slot))


def ids(con, table: str, column: str = "id") -> set:
    return {r[0] for r in rows(con, f"SELECT {column} FROM {table}")}


# -- a student's own login ---------------------------------------------------------------------------


def test_a_student_reads_only_their_own_rows_and_their_courses(converted):
    w = converted
    alan = w.connect("alan")
    me = w.id["alan"]
    assert rows(alan, "SELECT sessionctl.me(), sessionctl.my_role()") == [(me, "student")]
    assert ids(alan, "users", "name") == {w.name["alan"], w.name["ada"]}  # and ada's e-mail:
    assert rows(alan, "SELECT email FROM users WHERE name = %s", (w.name["ada"],)) == [
        ("ada@example.edu",)]
    assert ids(alan, "courses", "code") == {"MATH"}
    assert ids(alan, "enrollments", "student_id") == {me}
    assert ids(alan, "slots") == {w.slot["s1"], w.slot["s2"], w.slot["s4"]}
    assert ids(alan, "requests") == {w.request["alan-s1"]}
    assert ids(alan, "history", "request_id") == {w.request["alan-s1"]}
    assert ids(alan, "notifications", "user_id") == {me}
    assert rows(alan, "SELECT count(*) FROM store_info") == [(1,)]
    assert refused(alan, "SELECT * FROM requests WHERE id = %s", (w.request["kat-s2"],)) == "0 rows"
    assert refused(alan, "SELECT * FROM users WHERE id = %s", (w.id["kat"],)) == "0 rows"
    assert "permission denied" in refused(alan, "SELECT * FROM leases")


def test_a_student_cannot_change_or_delete_anything_of_anyone_else(converted):
    w = converted
    alan = w.connect("alan")
    before = snapshot(w.url)
    kat_request, lin_request = w.request["kat-s2"], w.request["lin-s1"]
    attempts = [
        ("UPDATE requests SET status = 'cancelled' WHERE id = %s", (kat_request,)),
        ("UPDATE requests SET reason = 'x' WHERE id = %s", (lin_request,)),
        ("UPDATE users SET email = 'evil@example.com' WHERE name = %s", (w.name["kat"],)),
        ("UPDATE users SET display = 'Evil' WHERE id <> %s", (w.id["alan"],)),
        ("UPDATE notifications SET read_at = now() WHERE user_id <> %s", (w.id["alan"],)),
        ("UPDATE slots SET notes = 'x' WHERE id = %s", (w.slot["s1"],)),
        ("UPDATE slots SET booked = 0 WHERE id = %s", (w.slot["s1"],)),
        ("UPDATE slots SET capacity = 100 WHERE id = %s", (w.slot["s1"],)),
        ("UPDATE courses SET auto_approve = 1", ()),
        ("UPDATE store_info SET uuid = 'x'", ()),
        ("UPDATE schema_migrations SET version = 99", ()),
        ("INSERT INTO enrollments (course_id, student_id, created_at) VALUES (%s, %s, now())",
         (w.course["PHYS"], w.id["alan"])),
        ("INSERT INTO courses (code, title, educator_id, created_at) VALUES ('X', 'X', %s, now())",
         (w.id["alan"],)),
        ("INSERT INTO slots (course_id, educator_id, starts_at, ends_at, created_at, updated_at)"
         " VALUES (%s, %s, now() + interval '2 days', now() + interval '50 hours', now(), now())",
         (w.course["MATH"], w.id["ada"])),
        ("INSERT INTO users (name, role, created_at) VALUES ('mallory', 'admin', now())", ()),
        ("INSERT INTO leases (name, owner, expires_at) VALUES ('mail', 'me', now())", ()),
        # a request in someone else's name
        ("INSERT INTO requests (slot_id, student_id, status, created_at, updated_at) "
         "VALUES (%s, %s, 'pending', now(), now())", (w.slot["s4"], w.id["kat"])),
    ]
    for table in rls.TABLES:
        attempts.append((f"DELETE FROM {table}", ()))
    for sql, params in attempts:
        refused(alan, sql, params)
    assert snapshot(w.url) == before


def test_a_student_cannot_approve_their_own_request_nor_book_one_approved(converted):
    w = converted
    lin = w.connect("lin")  # lin's own pending request on the two-seat slot:
    made = rows(lin, "INSERT INTO requests (slot_id, student_id, status, message, created_at, "
                     "updated_at) VALUES (%s, %s, 'pending', 'hello', now(), now()) RETURNING id",
                (w.slot["s2"], w.id["lin"]))[0][0]
    before = snapshot(w.url)
    for sql, params in [
        ("UPDATE requests SET status = 'approved' WHERE id = %s", (made,)),
        ("UPDATE requests SET status = 'completed' WHERE id = %s", (made,)),
        ("UPDATE requests SET status = 'waiting' WHERE id = %s", (made,)),
        ("UPDATE requests SET rating = 5, rated_at = now() WHERE id = %s", (made,)),
        ("UPDATE requests SET link = 'https://evil.example' WHERE id = %s", (made,)),
        ("UPDATE requests SET slot_id = %s WHERE id = %s", (w.slot["s4"], made)),
        ("SELECT sessionctl.system_change(%s, 'approved')", (made,)),  # not an auto-approve course
        ("INSERT INTO requests (slot_id, student_id, status, created_at, updated_at) "
         "VALUES (%s, %s, 'approved', now(), now())", (w.slot["s4"], w.id["lin"])),
        ("INSERT INTO requests (slot_id, student_id, status, link, created_at, updated_at) "
         "VALUES (%s, %s, 'pending', 'https://evil.example', now(), now())",
         (w.slot["s4"], w.id["lin"])),
        ("INSERT INTO requests (slot_id, student_id, status, created_at, updated_at) "
         "VALUES (%s, %s, 'pending', now(), now())", (w.slot["s3"], w.id["lin"])),  # not enrolled
    ]:
        refused(lin, sql, params)
    assert snapshot(w.url) == before


def test_a_student_cannot_write_history_or_notifications_in_anyone_elses_name(converted):
    w = converted
    alan = w.connect("alan")
    mine, kats = w.request["alan-s1"], w.request["kat-s2"]
    before = snapshot(w.url)
    for sql, params in [
        # someone else as the actor, the system as the actor, someone else's request
        ("INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
         "VALUES (%s, now(), %s, 'approved', 'approved')", (mine, w.id["ada"])),
        ("INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
         "VALUES (%s, now(), NULL, 'approved', 'approved')", (mine,)),
        ("INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
         "VALUES (%s, now(), %s, 'pending', 'pending')", (kats, w.id["alan"])),
        # a state the request is not in
        ("INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
         "VALUES (%s, now(), %s, 'approved', 'completed')", (mine, w.id["alan"])),
        # who recorded it is the server's to say
        ("INSERT INTO history (request_id, at, actor_id, from_status, to_status, recorded_by) "
         "VALUES (%s, now(), %s, 'approved', 'approved', 'ada')", (mine, w.id["alan"])),
        # a notification for another student, for the educator without a change, for a
        # request that is not theirs, or marked sent
        ("INSERT INTO notifications (user_id, kind, request_id, slot_id, text, created_at) "
         "VALUES (%s, 'approved', %s, %s, 'join at https://evil.example', now())",
         (w.id["kat"], mine, w.slot["s1"])),
        ("INSERT INTO notifications (user_id, kind, request_id, slot_id, text, created_at) "
         "VALUES (%s, 'request', %s, %s, 'phish', now())", (w.id["ada"], mine, w.slot["s1"])),
        ("INSERT INTO notifications (user_id, kind, request_id, slot_id, text, created_at) "
         "VALUES (%s, 'request', %s, %s, 'phish', now())", (w.id["kat"], kats, w.slot["s2"])),
        ("INSERT INTO notifications (user_id, kind, text, created_at) "
         "VALUES (%s, 'request', 'phish', now())", (w.id["ada"],)),
        ("INSERT INTO notifications (user_id, kind, text, created_at, mail_state) "
         "VALUES (%s, 'x', 'x', now(), 'sent')", (w.id["alan"],)),
    ]:
        refused(alan, sql, params)
    assert snapshot(w.url) == before


def test_a_student_cannot_overfill_a_slot_nor_jump_the_waitlist(converted):
    w = converted
    kat, lin = w.connect("kat"), w.connect("lin")
    s1 = w.slot["s1"]  # one seat, alan's; lin waits
    before = snapshot(w.url)
    for con, sql, params in [
        (kat, "INSERT INTO requests (slot_id, student_id, status, created_at, updated_at) "
              "VALUES (%s, %s, 'pending', now(), now())", (s1, w.id["kat"])),
        (kat, "INSERT INTO requests (slot_id, student_id, status, waitlist, created_at, updated_at)"
              " VALUES (%s, %s, 'approved', 1, now(), now())", (s1, w.id["kat"])),
        (lin, "UPDATE requests SET status = 'pending' WHERE id = %s", (w.request["lin-s1"],)),
        (lin, "SELECT sessionctl.system_change(%s, 'pending')", (w.request["lin-s1"],)),
        (lin, "SELECT sessionctl.system_change(%s, 'approved')", (w.request["lin-s1"],)),
        (lin, "SELECT sessionctl.offer(%s, 5)", (s1,)),  # no seat of lin's freeing
        (kat, "SELECT sessionctl.system_change(%s, 'rejected', 'slot is full')",
         (w.request["alan-s1"],)),
    ]:
        refused(con, sql, params)
    assert rows(lin, "SELECT sessionctl.settle(%s)", (s1,)) == [(0,)]  # nothing pending: nothing
    # a waiting request of kat's, backdated: the server's clock stamps it
    made = rows(kat, "INSERT INTO requests (slot_id, student_id, status, waitlist, created_at, "
                     "updated_at) VALUES (%s, %s, 'waiting', 1, '2000-01-01', '2000-01-01') "
                     "RETURNING id, created_at > '2020-01-01'", (s1, w.id["kat"]))
    assert made[0][1] is True
    assert rows(kat, "SELECT place, length FROM sessionctl.waitlist(%s)", ([s1],)) == [(2, 2)]
    with w.superuser() as con:
        con.execute("DELETE FROM requests WHERE id = %s", (made[0][0],))
    assert snapshot(w.url) == before


def test_a_student_cannot_become_anyone_else(converted):
    w = converted
    alan = w.connect("alan")
    before = snapshot(w.url)
    for sql in ["SET ROLE sessionctl_admin", "SET ROLE sessionctl_educator",
                "SET ROLE sessionctl_definer", "SET ROLE sessionctl_rolemaker",
                f'SET SESSION AUTHORIZATION "{w.name["ada"]}"', f'SET ROLE "{w.name["ada"]}"']:
        assert "permission denied" in refused(alan, sql)
    for sql, params in [
        ("UPDATE users SET role = 'admin' WHERE id = %s", (w.id["alan"],)),
        ("UPDATE users SET name = %s WHERE id = %s", (w.name["ada"], w.id["alan"])),
        ("SELECT sessionctl.login_role(%s, 'admin')", (w.name["alan"],)),
        ("SELECT sessionctl.login_role('mallory', 'student')", ()),
        ("SELECT sessionctl.login_role(%s, 'student', true)", (w.name["kat"],)),
        ("CREATE ROLE mallory LOGIN", ()),
        ("CREATE FUNCTION sessionctl.me() RETURNS int LANGUAGE sql AS 'SELECT 1'", ()),
        ("CREATE TABLE public.users2 (id int)", ()),
    ]:
        refused(alan, sql, params)
    alan.execute("SET ROLE sessionctl_student")  # a group of their own: still themselves
    assert ids(alan, "requests") == {w.request["alan-s1"]}
    assert snapshot(w.url) == before


def test_the_reads_a_rule_needs_give_a_student_only_that(converted):
    w = converted
    alan, lin = w.connect("alan"), w.connect("lin")
    s1, s3 = w.slot["s1"], w.slot["s3"]
    assert rows(lin, "SELECT request_id, place, length FROM sessionctl.waitlist(%s)",
                ([s1, s3],)) == [(w.request["lin-s1"], 1, 1)]
    assert rows(alan, "SELECT * FROM sessionctl.waitlist(%s)", ([s1],)) == []  # lin's place
    assert rows(alan, "SELECT sessionctl.waiting_count(%s)", (s1,)) == [(1,)]
    assert rows(alan, "SELECT sessionctl.waiting_count(%s)", (s3,)) == [(0,)]  # not their course
    assert rows(alan, "SELECT * FROM sessionctl.enrolled_counts(%s)",
                ([w.course["MATH"], w.course["PHYS"]],)) == [(w.course["MATH"], 3)]
    slot = rows(alan, "SELECT starts_at, ends_at FROM slots WHERE id = %s", (s1,))[0]
    assert rows(alan, "SELECT * FROM sessionctl.clash(%s, %s, %s)", (w.id["alan"], *slot)) == [
        (w.request["alan-s1"], s1)]  # their own
    assert rows(lin, "SELECT * FROM sessionctl.clash(%s, %s, %s)", (w.id["alan"], *slot)) == []
    assert rows(alan, "SELECT sessionctl.code_taken('PHYS')") == [(None,)]


# -- an educator's own login -------------------------------------------------------------------------


def test_an_educator_sees_no_row_of_another_educators_courses(converted):
    w = converted
    bob = w.connect("bob")
    assert ids(bob, "courses", "code") == {"PHYS"}
    assert ids(bob, "slots") == {w.slot["s3"]}
    assert ids(bob, "requests") == {w.request["eve-s3"]}
    assert ids(bob, "enrollments", "student_id") == {w.id["eve"]}
    assert ids(bob, "history", "request_id") == {w.request["eve-s3"]}
    assert ids(bob, "notifications", "user_id") <= {w.id["bob"]}
    assert rows(bob, "SELECT * FROM sessionctl.waitlist(%s)", ([w.slot["s1"]],)) == []
    assert rows(bob, "SELECT * FROM sessionctl.enrolled_counts(%s)", ([w.course["MATH"]],)) == []
    slot = rows(w.connect("alan"), "SELECT starts_at, ends_at FROM slots WHERE id = %s",
                (w.slot["s1"],))[0]
    assert rows(bob, "SELECT * FROM sessionctl.clash(%s, %s, %s)", (w.id["alan"], *slot)) == []
    before = snapshot(w.url)
    for sql, params in [
        ("UPDATE slots SET notes = 'x' WHERE id = %s", (w.slot["s1"],)),
        ("UPDATE requests SET status = 'cancelled' WHERE id = %s", (w.request["alan-s1"],)),
        ("UPDATE courses SET title = 'x' WHERE code = 'MATH'", ()),
        ("DELETE FROM enrollments WHERE course_id = %s", (w.course["MATH"],)),
        ("DELETE FROM slots WHERE id = %s", (w.slot["s4"],)),
        ("INSERT INTO slots (course_id, educator_id, starts_at, ends_at, created_at, updated_at)"
         " VALUES (%s, %s, now() + interval '2 days', now() + interval '50 hours', now(), now())",
         (w.course["MATH"], w.id["bob"])),
        ("INSERT INTO enrollments (course_id, student_id, created_at) VALUES (%s, %s, now())",
         (w.course["MATH"], w.id["eve"])),
        ("INSERT INTO courses (code, title, educator_id, created_at) VALUES ('X', 'X', %s, now())",
         (w.id["ada"],)),
        ("INSERT INTO users (name, role, created_at) VALUES ('mallory', 'educator', now())", ()),
        ("INSERT INTO requests (slot_id, student_id, status, replaces_id, created_at, updated_at)"
         " VALUES (%s, %s, 'approved', %s, now(), now())",
         (w.slot["s4"], w.id["alan"], w.request["alan-s1"])),
        ("INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
         "VALUES (%s, now(), NULL, 'approved', 'approved')", (w.request["alan-s1"],)),
        ("INSERT INTO notifications (user_id, kind, request_id, text, created_at) "
         "VALUES (%s, 'x', %s, 'x', now())", (w.id["alan"], w.request["alan-s1"])),
        ("SELECT sessionctl.system_change(%s, 'cancelled')", (w.request["alan-s1"],)),
        ("SELECT sessionctl.login_role(%s, 'educator')", (w.name["alan"],)),
        ("SELECT sessionctl.login_role(%s, 'student')", (w.name["ada"],)),
        ("SELECT * FROM leases", ()),
    ]:
        refused(bob, sql, params)
    # a student's login stays as it is (the same answer as for one of bob's own)
    assert rows(bob, "SELECT sessionctl.login_role(%s, 'student')", (w.name["alan"],)) == [
        ("kept",)]
    assert snapshot(w.url) == before


def test_an_educator_cannot_overfill_their_own_slot(converted):
    w = converted
    ada, lin = w.connect("ada"), w.connect("lin")
    lin.execute("UPDATE requests SET status = 'cancelled' WHERE id = %s", (w.request["lin-s1"],))
    before = snapshot(w.url)
    refused(ada, "UPDATE requests SET status = 'approved' WHERE id = %s", (w.request["kat-s1"],))
    refused(ada, "UPDATE slots SET capacity = 0 WHERE id = %s", (w.slot["s1"],))
    assert snapshot(w.url) == before


# -- what each role's commands need --------------------------------------------------------------------


def test_a_student_sends_cancels_rates_and_reads_their_inbox(converted):
    """request send, request cancel (freeing a seat the waitlist gets), inbox, user set."""
    w = converted
    alan = w.connect("alan")
    s1, s2 = w.slot["s1"], w.slot["s2"]
    with alan.transaction():  # request send: the request, its history, the educator told
        made = rows(alan, "INSERT INTO requests (slot_id, student_id, status, message, waitlist,"
                          " link, notes, created_at, updated_at) VALUES (%s, %s, 'pending', "
                          "'hi', 0, NULL, NULL, now(), now()) RETURNING id",
                    (s2, w.id["alan"]))[0][0]
        record(alan, made, w.id["alan"], None, "pending", w.id["ada"], s2)
    with alan.transaction():  # request cancel of the approved session: the seat goes to lin
        alan.execute("UPDATE requests SET status = 'cancelled', reason = 'ill', updated_at = now()"
                     " WHERE id = %s AND status = 'approved'", (w.request["alan-s1"],))
        record(alan, w.request["alan-s1"], w.id["alan"], "approved", "cancelled", w.id["ada"], s1,
               "ill")
        assert rows(alan, "SELECT sessionctl.offer(%s, 1)", (s1,)) == [(1,)]
    alan.execute("UPDATE notifications SET read_at = now() WHERE user_id = %s AND read_at IS NULL",
                 (w.id["alan"],))
    alan.execute("UPDATE users SET display = 'Alan T.', tz = 'UTC' WHERE id = %s", (w.id["alan"],))
    with w.superuser() as con:
        assert rows(con, "SELECT booked FROM slots WHERE id = %s", (s1,)) == [(0,)]
        assert rows(con, "SELECT status FROM requests WHERE id = %s",
                    (w.request["lin-s1"],)) == [("pending",)]
        told = rows(con, "SELECT u.name, n.text FROM notifications n JOIN users u ON "
                         "u.id = n.user_id WHERE n.request_id = %s AND n.kind = 'promoted' "
                         "ORDER BY u.name", (w.request["lin-s1"],))
        assert [name for name, _ in told] == sorted([w.name["ada"], w.name["lin"]])
        assert any("left the waitlist and awaits your decision" in text and "Lin" in text
                   for _, text in told)
        assert told_as_the_client_words_it(w, told, "promoted", w.request["lin-s1"])
        history = rows(con, "SELECT actor_id, recorded_by FROM history WHERE request_id = %s "
                            "ORDER BY id DESC LIMIT 1", (w.request["lin-s1"],))
        assert history == [(None, w.name["alan"])]  # the system's change, alan's doing
    assert rows(alan, "SELECT display FROM users WHERE id = %s", (w.id["alan"],)) == [("Alan T.",)]


def told_as_the_client_words_it(w, told, kind: str, request_id: int) -> bool:
    """The server's texts for a system change are domain/texts.py's, word for word."""
    from sessionctl.domain.texts import text
    from sessionctl.store.models import Request, User

    store = open_store(w.url)
    try:
        request = Request.get_by_id(request_id)
        for name, said in told:
            recipient = User.get(User.name == name)
            assert said == text(recipient, kind, request, recipient, True)
    finally:
        store.close()
    return True


def test_a_student_books_at_once_on_an_auto_approve_course(converted):
    w = converted
    w.connect("ada").execute("UPDATE courses SET auto_approve = 1 WHERE code = 'MATH'")
    kat = w.connect("kat")
    s4 = w.slot["s4"]
    with kat.transaction():
        made = rows(kat, "INSERT INTO requests (slot_id, student_id, status, created_at, "
                         "updated_at) VALUES (%s, %s, 'pending', now(), now()) RETURNING id",
                    (s4, w.id["kat"]))[0][0]
        kat.execute("INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
                    "VALUES (%s, now(), %s, NULL, 'pending')", (made, w.id["kat"]))
        kat.execute("SELECT sessionctl.system_change(%s, 'approved')", (made,))
        kat.execute("SELECT sessionctl.settle(%s)", (s4,))
    assert rows(kat, "SELECT booked FROM slots WHERE id = %s", (s4,)) == [(1,)]
    # an old pending request is not approved later by the student
    refused(kat, "SELECT sessionctl.system_change(%s, 'approved')", (w.request["kat-s2"],))


def test_an_educator_decides_adds_slots_and_enrols_new_students(converted):
    w = converted
    ada = w.connect("ada")
    s2 = w.slot["s2"]
    with ada.transaction():  # request approve: a seat is taken by the approval itself
        ada.execute("UPDATE requests SET status = 'approved', link = 'https://meet.example/1', "
                    "updated_at = now() WHERE id = %s AND status = 'pending'",
                    (w.request["kat-s2"],))
        record(ada, w.request["kat-s2"], w.id["ada"], "pending", "approved", w.id["kat"], s2)
        ada.execute("SELECT sessionctl.settle(%s)", (s2,))
    assert rows(ada, "SELECT booked FROM slots WHERE id = %s", (s2,)) == [(1,)]
    with ada.transaction():  # slot add, slot update, request move of kat's booking
        new = rows(ada, "INSERT INTO slots (course_id, educator_id, starts_at, ends_at, capacity,"
                        " booked, notes, link, created_at, updated_at) VALUES (%s, %s, "
                        "(now() AT TIME ZONE 'UTC') + interval '5 days', (now() AT TIME ZONE "
                        "'UTC') + interval '5 days 1 hour', 1, 0, NULL, NULL, now(), now()) "
                        "RETURNING id", (w.course["MATH"], w.id["ada"]))[0][0]
        ada.execute("UPDATE slots SET capacity = 3, notes = 'bring paper' WHERE id = %s", (new,))
        moved = rows(ada, "INSERT INTO requests (slot_id, student_id, status, message, link, "
                          "notes, waitlist, replaces_id, created_at, updated_at) VALUES "
                          "(%s, %s, 'approved', 'hi', NULL, NULL, 0, %s, now(), now()) "
                          "RETURNING id", (new, w.id["kat"], w.request["kat-s2"]))[0][0]
        ada.execute("UPDATE requests SET status = 'cancelled', replaced_by_id = %s WHERE id = %s",
                    (moved, w.request["kat-s2"]))
    with ada.transaction():  # course enroll --from-csv: a new student and their login
        ada.execute("INSERT INTO users (name, role, display, email, created_at) "
                    "VALUES (%s, 'student', 'Max', NULL, now())", (f"max_{w.suffix}",))
        assert rows(ada, "SELECT sessionctl.login_role(%s, 'student')",
                    (f"max_{w.suffix}",)) == [("created",)]
        ada.execute("INSERT INTO enrollments (course_id, student_id, created_at) SELECT %s, id, "
                    "now() FROM users WHERE name = %s", (w.course["MATH"], f"max_{w.suffix}"))
    w.name["max"] = f"max_{w.suffix}"
    assert rows(w.connect("max"), "SELECT sessionctl.my_role()") == [("student",)]
    with w.superuser() as con:
        assert rows(con, "SELECT booked FROM slots WHERE id IN (%s, %s) ORDER BY id",
                    (s2, new)) == [(0,), (1,)]
    # an educator makes only students, and only of users registered as such
    refused(ada, "SELECT sessionctl.login_role(%s, 'educator')", (w.name["bob"],))
    refused(ada, "SELECT sessionctl.login_role(%s, 'student')", (w.name["bob"],))


def test_an_admin_reads_everything_and_moves_logins(converted):
    w = converted
    root = w.connect("root")
    with w.superuser() as con:
        everything = {t: rows(con, f"SELECT count(*) FROM {t}") for t in rls.TABLES}
    assert {t: rows(root, f"SELECT count(*) FROM {t}") for t in rls.TABLES} == everything
    with root.transaction():  # user set --role: the login follows
        root.execute("UPDATE users SET role = 'educator' WHERE name = %s", (w.name["lin"],))
        root.execute("UPDATE requests SET status = 'cancelled' WHERE id = %s",
                     (w.request["lin-s1"],))
        root.execute("DELETE FROM enrollments WHERE student_id = %s", (w.id["lin"],))
        assert rows(root, "SELECT sessionctl.login_role(%s, 'educator')",
                    (w.name["lin"],)) == [("moved",)]
    assert rows(w.connect("lin"), "SELECT sessionctl.my_role()") == [("educator",)]
    root.execute("INSERT INTO leases (name, owner, expires_at) VALUES ('mail', 'x', now())")
    root.execute("UPDATE notifications SET mail_state = 'sent', sent_at = now()")


# -- logins and identity --------------------------------------------------------------------------------


def test_a_login_that_is_no_user_of_the_store_is_nobody(converted):
    w = converted
    with w.superuser() as con:
        con.execute(f'CREATE ROLE "stranger_{w.suffix}" LOGIN PASSWORD \'{PASSWORD}\'')
        # a user whose login left its group (a revoked login) is nobody too
        con.execute(f'REVOKE sessionctl_student FROM "{w.name["kat"]}"')
    stranger = w.connect(f"stranger_{w.suffix}")
    for sql in ("SELECT sessionctl.me()", "SELECT * FROM users", "SELECT * FROM requests"):
        assert "permission denied" in refused(stranger, sql)
    kat = w.connect("kat")
    assert "permission denied" in refused(kat, "SELECT * FROM requests")
    with w.superuser() as con:
        con.execute(f'GRANT sessionctl_educator TO "{w.name["kat"]}"')  # the wrong group
    assert rows(w.connect("kat"), "SELECT sessionctl.me(), count(*) FROM requests") == [(None, 0)]


def test_login_role_refuses_long_names_and_roles_that_are_not_sessionctl_logins(converted):
    import psycopg

    w = converted
    root = w.connect("root")
    long_name = "a" * 64
    with w.superuser() as con:
        con.execute("INSERT INTO users (name, role, created_at) VALUES (%s, 'student', now())",
                    (long_name,))
        con.execute(f'CREATE ROLE "dba_{w.suffix}" LOGIN CREATEDB')
        con.execute("INSERT INTO users (name, role, created_at) VALUES (%s, 'student', now())",
                    (f"dba_{w.suffix}",))
    with pytest.raises(psycopg.Error) as too_long:
        root.execute("SELECT sessionctl.login_role(%s, 'student')", (long_name,))
    assert too_long.value.sqlstate == "22023"
    for name in (f"dba_{w.suffix}", "postgres", "sessionctl_admin", "pg_read_all_data"):
        with pytest.raises(psycopg.Error) as taken:
            root.execute("SELECT sessionctl.login_role(%s, 'student')", (name,))
        assert taken.value.sqlstate in ("42710", "42501"), name  # 42501: no such user here
    with pytest.raises(psycopg.Error) as taken:
        root.execute("SELECT sessionctl.login_role(%s, 'student')", (f"dba_{w.suffix}",))
    assert taken.value.sqlstate == "42710"
    refused(root, "INSERT INTO users (name, role, created_at) VALUES ('postgres', 'admin', now())")


def test_conversion_skips_names_no_login_can_have_and_the_admin_must_get_one(world):
    w = world
    with w.superuser() as con:
        con.execute("INSERT INTO users (name, role, created_at) VALUES (%s, 'student', now())",
                    ("b" * 64,))
        con.execute(f'CREATE ROLE "olduser_{w.suffix}" LOGIN')  # an ordinary login: adopted
        con.execute("INSERT INTO users (name, role, created_at) VALUES (%s, 'student', now())",
                    (f"olduser_{w.suffix}",))
    w.name["olduser"] = f"olduser_{w.suffix}"
    done = w.convert()
    assert w.name["olduser"] in done["moved"]
    assert [s.split(" ")[0] for s in done["skipped"]] == ["b" * 64]
    assert rows(w.connect("olduser"), "SELECT sessionctl.my_role()") == [("student",)]
    before = snapshot(w.url)
    refusal = Cli(w.url)("init", "--identity", "database", "--admin", w.name["ada"])
    assert refusal.exit_code == 5 and "not an admin" in refusal.stderr  # ada is an educator
    assert snapshot(w.url) == before


def test_a_conversion_runs_again_and_turns_back(converted):
    w = converted
    before = snapshot(w.url)
    again = w.convert()
    assert sorted(again["kept"]) == sorted(w.name.values())
    assert snapshot(w.url) == before
    assert rows(w.connect("alan"), "SHOW idle_in_transaction_session_timeout") == [("30s",)]
    back = Cli(w.url).json("init", "--identity", "login", user=w.name["root"])
    assert back["identity"] == "login" and back["turned_back"]
    after = snapshot(w.url)
    assert after.pop("store_info") != before.pop("store_info")  # the mode recorded
    assert after == before  # the data as it was (history keeps who recorded it)
    assert rows(w.connect("alan"), "SHOW idle_in_transaction_session_timeout") == [("0",)]
    assert "permission denied" in refused(w.connect("alan"), "SELECT * FROM requests")
    # the CLI works on it again, as before the conversion
    assert w.json("request", "list", "--status", "all", who="ada")
    w.cli("request", "approve", str(w.request["kat-s2"]), who="ada")


def test_a_table_without_policies_is_closed_to_everyone(world):
    w = world
    with w.superuser() as con:
        con.execute("CREATE TABLE unlisted_secrets (id serial PRIMARY KEY, token text)")
        con.execute("INSERT INTO unlisted_secrets (token) VALUES ('secret')")
    w.convert()
    alan = w.connect("alan")
    assert "permission denied" in refused(alan, "SELECT * FROM unlisted_secrets")
    with w.superuser() as con:  # a grant someone adds later opens no row either
        con.execute("GRANT SELECT ON unlisted_secrets TO sessionctl_student, sessionctl_admin")
    assert rows(alan, "SELECT count(*) FROM unlisted_secrets") == [(0,)]
    assert rows(w.connect("root"), "SELECT count(*) FROM unlisted_secrets") == [(0,)]


# -- the write path of issue 22 as a login role ------------------------------------------------------


def test_the_writers_advisory_locks_work_for_a_login_role(converted):
    from sessionctl.store import _PG_SLOT
    from sessionctl.store.queue import Busy

    w = converted
    holder = w.connect("ada")
    holder.execute("BEGIN")
    holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_PG_SLOT, w.slot["s1"]))
    store = open_store(w.url_of("kat"), timeout=1)
    try:
        assert store.version() >= 6  # a student reads the schema version
        with store.write(slots=(w.slot["s2"],), people=(w.id["kat"],)):  # another slot: at once
            pass
        pid = rows(holder, "SELECT pg_backend_pid()")[0][0]
        held, waiting, _ = store._pg_queue((_PG_SLOT, w.slot["s1"]))
        assert held == [pid] and waiting == 0  # pg_locks, as an ordinary login
        with pytest.raises(Busy):
            with store.write(slots=(w.slot["s1"],), people=(w.id["kat"],)):
                pass
    finally:
        holder.execute("ROLLBACK")
        store.close()


def test_an_idle_transaction_is_ended_by_the_server(converted):
    """A suspended laptop's transaction (and its lock) goes; the conversion sets the store's
    database to 30 s (test_a_conversion_runs_again_and_turns_back), here a role's half second."""
    import time

    import psycopg

    w = converted
    with w.superuser() as con:
        con.execute(f'ALTER ROLE "{w.name["kat"]}" SET idle_in_transaction_session_timeout = 500')
    kat = w.connect("kat")
    kat.execute("BEGIN")
    kat.execute("SELECT pg_advisory_xact_lock(1)")
    time.sleep(1.5)
    with pytest.raises(psycopg.Error):
        kat.execute("SELECT 1")


# -- the DBA's steps on a server that wants passwords ---------------------------------------------------


@pytest.fixture
def password_cluster():
    """A PostgreSQL cluster of its own whose every connection needs a password (scram), run as
    the ``postgres`` account: what the README's DBA steps start from."""
    import glob
    import os
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile
    from pathlib import Path

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins or os.geteuid() != 0 or shutil.which("su") is None:
        pytest.skip("needs root, su and PostgreSQL's initdb to start a cluster of its own")
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres account to run the cluster as")
    bindir = os.path.dirname(bins[-1])
    home = Path(tempfile.mkdtemp(prefix="sessionctl-pg-"))  # pytest's tmp is root's alone
    (home / "pw").write_text("super-secret\n")
    os.chown(home, account.pw_uid, account.pw_gid)
    os.chown(home / "pw", account.pw_uid, account.pw_gid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def as_postgres(command: str) -> None:
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command], check=True,
                       capture_output=True, timeout=120)

    as_postgres(f"{bindir}/initdb -D {home}/data -U postgres -A scram-sha-256 --pwfile={home}/pw")
    as_postgres(f"{bindir}/pg_ctl -D {home}/data -w -l {home}/log -o "
                f"'-p {port} -k {home} -c listen_addresses=127.0.0.1' start")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        as_postgres(f"{bindir}/pg_ctl -D {home}/data -m fast stop")
        shutil.rmtree(home, ignore_errors=True)


def test_the_dbas_steps_with_passwords_and_an_owner_that_is_no_superuser(password_cluster):
    """The owner role holds CREATEROLE and owns the database (no superuser), makes the store
    with today's CLI and converts it; then each person logs in with their own password."""
    import psycopg

    server = password_cluster
    superuser = f"postgresql://postgres:super-secret@{server}/postgres"
    with psycopg.connect(superuser, autocommit=True) as con:
        con.execute("CREATE ROLE sessionctl_owner LOGIN CREATEROLE PASSWORD 'owner-secret'")
        con.execute("CREATE DATABASE sessions OWNER sessionctl_owner")
    url = f"postgresql://sessionctl_owner:owner-secret@{server}/sessions"
    w = World(url, "pw")
    w.build()
    done = w.convert()
    assert sorted(done["created"]) == sorted(w.name.values())
    w.superuser = lambda: psycopg.connect(f"postgresql://postgres:super-secret@{server}/sessions",
                                          autocommit=True)
    try:
        alan = w.connect("alan")
        assert ids(alan, "requests") == {w.request["alan-s1"]}
        # the mode is recorded though the owner may not change store_info once it is on
        assert rows(alan, "SELECT identity FROM store_info") == [("database",)]
        shown = Cli(w.url_of("alan"))("whoami", "--json", env={"SESSIONCTL_USER": None})
        assert shown.exit_code == 0 and '"name": "%s"' % w.name["alan"] in shown.stdout
        with psycopg.connect(url, autocommit=True) as owner:  # the owner is nobody in the store
            assert rows(owner, "SELECT count(*) FROM requests") == [(0,)]
            assert rows(owner, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [
                (False,)]
        for wrong in (f"postgresql://{w.name['alan']}:nope@{server}/sessions",
                      f"postgresql://{w.name['alan']}@{server}/sessions"):
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(wrong, connect_timeout=5)
        # nobody can become the definer or the rolemaker, the owner included
        with w.superuser() as con:
            assert rows(con, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON "
                             "r.oid = m.roleid WHERE r.rolname IN ('sessionctl_definer', "
                             "'sessionctl_rolemaker')") == [(0,)]
    finally:
        w.close()


def test_every_table_of_the_schema_has_its_grants_and_policies_in_rls(tmp_path):
    """A table a migration adds (issues 18-20 add several) needs its entry in store/rls.py:
    without one it is closed to everyone in the database mode. This fails until it has one."""
    from sessionctl.store import open_store as opened

    store = opened(str(tmp_path / "store.db"), create=True)
    try:
        tables = {t for t in store.db.get_tables() if not t.startswith("sqlite_")}
    finally:
        store.close()
    assert tables == set(rls.ACCESS), "add the table's entry to ACCESS in store/rls.py"
    assert all(entry.grants and entry.policies for entry in rls.ACCESS.values())
