"""The database mode on PostgreSQL: every person connects with their own login, and the server
guards every row (docs/database-mode.md).

``enable(store, admin)`` turns a store made by ``sessionctl init`` into one where:

- three group roles (``sessionctl_admin``, ``sessionctl_educator``, ``sessionctl_student``) hold
  the table and column privileges of each sessionctl role, and every user of the store gets a
  login role of their own name in the group of their role;
- every table of the store's schema has row-level security enabled and forced; the policies
  key on ``session_user``, looked up in the store's own ``users`` table (a login that is not a
  user of this store, or is not in the group of its user's role, is nobody, and sees nothing);
- what a person may not do themselves but their action causes (seat counts, the system's
  history rows, a waitlist promotion, a filling rejection) is done by ``SECURITY DEFINER``
  functions owned by ``sessionctl_definer`` (NOLOGIN, no members, ``search_path`` pinned), which
  re-check that the caller's own change justifies it; what a rule must read of rows the caller
  may not see (a waitlist place, a student's clashing session, a course's enrolment count)
  comes from definer functions that return only that;
- login roles are made and moved only by ``sessionctl.login_role``, owned by
  ``sessionctl_rolemaker`` (NOLOGIN, CREATEROLE and nothing else);
- history rows record the connected ``session_user`` and transaction, whoever writes them;
- the server ends transactions left idle (``idle_in_transaction_session_timeout``).

``disable(store)`` turns it back (the login roles stay: they are the cluster's). Both run in
one transaction and may run again (after a migration adds a table, say): every table of the
schema gets row-level security, so one without policies here is closed to everyone.
"""

from __future__ import annotations

import random
import time

from sessionctl.errors import Conflict, NotAllowed, NotFound, Unavailable, UsageError
from sessionctl.store.rls_behalf import LOGINS, ON_BEHALF, READS, TEXTS_TABLE
from sessionctl.store.rls_guards import (
    CHANGES_TABLE, CHECKS, DEFINER, GROUPS, HELPERS, IDLE_TIMEOUT, ROLEMAKER, ROLES, SCHEMA,
    TRIGGER_BINDINGS, TRIGGERS, memberships_cleared, rolemaker_admin,
)


# -- privileges and policies -----------------------------------------------------------------------

_EVERYONE = ", ".join(GROUPS.values())
_STAFF = f"{GROUPS['admin']}, {GROUPS['educator']}"
_ME = f"(SELECT {SCHEMA}.me())"
_ROLE = f"(SELECT {SCHEMA}.my_role())"
_ADMIN = f"{_ROLE} = 'admin'"
_MY_SLOTS = f"(SELECT {SCHEMA}.my_slots())"
_TEACHES = f"{_ADMIN} OR educator_id = {_ME}"  # a course's or slot's own educator, or an admin

class Access:
    """One table's entry: ``grants`` as (privileges, to whom), a column list in a privilege
    limiting it to those columns; ``policies`` as (name, command, to whom, USING, WITH CHECK).
    A table a migration adds needs one entry in ``ACCESS`` (a test fails until it has one)."""

    def __init__(self, grants: list[tuple[str, str]], policies: list[tuple]):
        self.grants, self.policies = grants, policies


_OWN = f"user_id = {_ME} OR {_ADMIN}"  # a row of the caller's own, or any for an admin
_CHANGE_OWN_REQUEST = f"{_ADMIN} OR student_id = {_ME} OR slot_id IN {_MY_SLOTS}"

ACCESS = {
    "users": Access(
        [("SELECT", _EVERYONE),
         ("INSERT (name, role, display, email, tz, created_at)", _STAFF),
         ("UPDATE (display, email, tz)", _EVERYONE),
         ("UPDATE (role)", GROUPS["admin"])],
        [("read", "SELECT", _EVERYONE,
          f"{_ROLE} IN ('admin', 'educator') OR id IN (SELECT {SCHEMA}.my_people())", None),
         ("add", "INSERT", _STAFF, None,
          f"({_ADMIN} OR ({_ROLE} = 'educator' AND role = 'student')) "
          f"AND {SCHEMA}.name_is_free(name)"),
         ("change", "UPDATE", _EVERYONE, f"id = {_ME} OR {_ADMIN}", f"id = {_ME} OR {_ADMIN}")]),
    "courses": Access(
        [("SELECT", _EVERYONE),
         ("INSERT (code, title, educator_id, created_at, min_notice, cancel_notice, horizon, "
          "max_active, auto_approve, link_template, buffer)", _STAFF),
         ("UPDATE (title, min_notice, cancel_notice, horizon, max_active, auto_approve, "
          "link_template, buffer)", _STAFF)],
        [("read", "SELECT", _EVERYONE,
          f"{_TEACHES} OR id IN (SELECT {SCHEMA}.my_enrolments())", None),
         ("add", "INSERT", _STAFF, None,
          f"({_ADMIN} AND {SCHEMA}.role_of(educator_id) = 'educator') "
          f"OR ({_ROLE} = 'educator' AND educator_id = {_ME})"),
         ("change", "UPDATE", _STAFF, _TEACHES, _TEACHES)]),
    "enrollments": Access(
        [("SELECT", _EVERYONE),
         ("INSERT (course_id, student_id, created_at), DELETE", _STAFF)],
        [("read", "SELECT", _EVERYONE,
          f"{_ADMIN} OR student_id = {_ME} OR course_id IN (SELECT {SCHEMA}.my_courses())", None),
         ("add", "INSERT", _STAFF, None,
          f"{SCHEMA}.manages_course(course_id) AND {SCHEMA}.role_of(student_id) = 'student'"),
         ("remove", "DELETE", _STAFF, f"{SCHEMA}.manages_course(course_id)", None)]),
    "slots": Access(
        [("SELECT", _EVERYONE),
         ("INSERT (course_id, educator_id, starts_at, ends_at, capacity, booked, notes, link, "
          "created_at, updated_at, batch), DELETE", _STAFF),
         ("UPDATE (starts_at, ends_at, capacity, notes, link, cancelled_at, updated_at)", _STAFF)],
        [("read", "SELECT", _EVERYONE,
          f"{_TEACHES} OR course_id IN (SELECT {SCHEMA}.my_enrolments())", None),
         ("add", "INSERT", _STAFF, None,
          f"{SCHEMA}.manages_course(course_id) AND booked = 0 AND cancelled_at IS NULL "
          f"AND educator_id = ({SCHEMA}.course_row(course_id)).educator_id"),
         ("change", "UPDATE", _STAFF, _TEACHES, _TEACHES),
         ("remove", "DELETE", _STAFF, _TEACHES, None)]),
    "requests": Access(
        [("SELECT", _EVERYONE),
         ("INSERT (slot_id, student_id, status, message, link, notes, created_at, updated_at, "
          "waitlist, replaces_id)", _EVERYONE),
         ("UPDATE (status, reason, updated_at, replaced_by_id, rating, rating_comment, "
          "rated_at)", _EVERYONE),
         ("UPDATE (link, notes, attendance, starts_at, ends_at)", _STAFF)],
        [("read", "SELECT", _EVERYONE, _CHANGE_OWN_REQUEST, None),
         ("add", "INSERT", _EVERYONE, None,
          f"{SCHEMA}.may_request(slot_id, student_id, status, waitlist, replaces_id, link, notes)"),
         ("change", "UPDATE", _EVERYONE, _CHANGE_OWN_REQUEST, _CHANGE_OWN_REQUEST)]),
    "history": Access(
        [("SELECT, INSERT (request_id, at, actor_id, from_status, to_status, note)", _EVERYONE)],
        [("read", "SELECT", _EVERYONE, f"{SCHEMA}.sees_request(request_id)", None),
         ("add", "INSERT", _EVERYONE, None,
          f"{SCHEMA}.may_record(request_id, actor_id, to_status)")]),
    "notifications": Access(
        [("SELECT, INSERT (user_id, kind, request_id, slot_id, text, created_at, mail_state, "
          "mail_data), UPDATE (read_at)", _EVERYONE),
         ("UPDATE (mail_state, sent_at)", GROUPS["admin"])],
        [("read", "SELECT", _EVERYONE, f"user_id = {_ME} OR {_ADMIN}", None),
         ("add", "INSERT", _EVERYONE, None,
          f"(user_id = {_ME} OR {_ADMIN} OR {SCHEMA}.may_notify(user_id, request_id, slot_id)) "
          # the request a mail is written from: one the writer sees, or its mail would tell
          # them of anyone's booking (to themselves)
          f"AND (request_id IS NULL OR {SCHEMA}.sees_request(request_id)) "
          "AND mail_state = 'queued'"),
         ("change", "UPDATE", _EVERYONE, f"user_id = {_ME} OR {_ADMIN}",
          f"user_id = {_ME} OR {_ADMIN}")]),
    # the schema's version and the mode, read at start-up by anyone who connects (the owner,
    # who reads no other row, too; a login that is nobody here learns it is nobody: exit 4)
    "store_info": Access([("SELECT", "PUBLIC")], [("read", "SELECT", "PUBLIC", "true", None)]),
    "schema_migrations": Access([("SELECT", "PUBLIC")],
                                [("read", "SELECT", "PUBLIC", "true", None)]),
    # an educator's busy calendars (docs/reference/busy-times.md): secret URLs, read and
    # replaced by their owner, and read by an admin acting on the educator's course
    "busy_sources": Access(
        [("SELECT, INSERT (user_id, position, source), DELETE", _EVERYONE)],
        [("own", "ALL", _EVERYONE, _OWN, _OWN)]),
    # the secret names of the users' feeds (docs/reference/calendars.md): made and reset by
    # their owner, read by the admin whose cron job writes the feed files
    "feed_tokens": Access(
        [("SELECT, INSERT (user_id, token), UPDATE (token)", _EVERYONE)],
        [("own", "ALL", _EVERYONE, _OWN, _OWN)]),
    # the event hooks `hooks run` found (docs/reference/meeting-rooms-and-hooks.md): read by
    # every writer (an event is recorded only for a hook there is), kept by the admins' runs
    "hooks": Access([("SELECT", _EVERYONE), ("INSERT, UPDATE, DELETE", GROUPS["admin"])],
                    [("read", "SELECT", _EVERYONE, "true", None),
                     ("admin", "ALL", GROUPS["admin"], _ADMIN, _ADMIN)]),
    # the hooks' outbox: written by whoever makes a change, about a request they may see (the
    # trigger events_guard holds it to a change of theirs and writes what it says); read and
    # marked by the admins' `hooks run`
    "events": Access(
        [("INSERT (kind, at, request_id, booking, payload, state, attempts)", _EVERYONE),
         ("SELECT, UPDATE, DELETE", GROUPS["admin"])],
        [("add", "INSERT", _EVERYONE, None,
          f"{_ADMIN} OR (request_id IS NOT NULL AND {SCHEMA}.sees_request(request_id) "
          "AND state = 'queued' AND attempts = 0 AND delivered_at IS NULL "
          "AND (payload::json ->> 'actor') = session_user)"),
         ("admin", "ALL", GROUPS["admin"], _ADMIN, _ADMIN)]),
    "leases": Access([("SELECT, INSERT, UPDATE, DELETE", GROUPS["admin"])],
                     [("admin", "ALL", GROUPS["admin"], _ADMIN, _ADMIN)]),
}
TABLES = tuple(ACCESS)

# (table, privileges, to whom) and (table, name, command, to whom, USING, WITH CHECK); the
# definer functions' own reads and writes (their policies let them see every row) besides
_GRANTS = [
    *((table, *grant) for table, entry in ACCESS.items() for grant in entry.grants),
    *((table, "SELECT", DEFINER) for table in TABLES),
    ("requests", "UPDATE", DEFINER),
    ("slots", "UPDATE (booked)", DEFINER),
    ("history", "INSERT", DEFINER),
    ("notifications", "INSERT", DEFINER),
    ("events", "INSERT", DEFINER),  # the system's changes' events (system_change)
]
_POLICIES = [
    *((table, *policy) for table, entry in ACCESS.items() for policy in entry.policies),
    *((table, "definer", "ALL", DEFINER, "true", "true") for table in TABLES),
]

_INVOKER = ("history_stamp", "notification_guard", "event_guard", "request_guard", "slot_guard",
            "user_guard", "is_owner")
# what only the definer functions call (their owner's right suffices) and triggers fire: no
# group may call them itself (they would read past the policies: another student's session,
# a user's zone, the words about any request)
_INTERNAL = ("say", "when_for", "piece", "changes_now", "changed_now", "clashes", "is_login",
             "may_make_login", "count_seats", "journal", "slot_journal", "event_payload",
             "booking_of")


def _policy(table: str, name: str, command: str, to: str, using: str | None,
            check: str | None) -> str:
    return (f"CREATE POLICY sessionctl_{name} ON STORE.{table} FOR {command} TO {to}"
            + (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else ""))


def _texts(text: str) -> list[str]:
    """The statements of a text of ``;``-separated ones, none of them inside ``$$`` quotes."""
    found, current, quoted = [], [], False
    for line in text.strip().splitlines():
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if not quoted and line.rstrip().endswith(";") and not line.lstrip().startswith("--"):
            found.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        found.append("\n".join(current))
    return [statement for statement in found if statement.strip()
            and not all(line.strip().startswith("--") for line in statement.splitlines())]


def _all_tables(word: str) -> str:
    """One statement per table of the store's schema: ``word`` with ``%I`` for the table."""
    return f"""
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'STORE_NAME' LOOP
        EXECUTE format('{word}', t);
    END LOOP;
END $$"""


_UNGUARDED = [  # every table open to its owner again, and no policy left (ours, or anyone's)
    _all_tables("ALTER TABLE STORE.%I NO FORCE ROW LEVEL SECURITY"),
    _all_tables("ALTER TABLE STORE.%I DISABLE ROW LEVEL SECURITY"),
    """
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'STORE_NAME' LOOP
        EXECUTE format('DROP POLICY %I ON STORE.%I', p.policyname, p.tablename);
    END LOOP;
END $$""",
    *(f"DROP TRIGGER IF EXISTS {name} ON STORE.{table}" for table, name, _, _ in TRIGGER_BINDINGS),
    f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE",
    _all_tables(f"REVOKE ALL ON STORE.%I FROM PUBLIC, {_EVERYONE}, {DEFINER}, {ROLEMAKER}"),
    f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA STORE_SCHEMA FROM PUBLIC, {_EVERYONE}, {DEFINER}",
]


def _statements_before_logins(texts: dict[str, str]) -> list[str]:
    return [
        *_UNGUARDED,
        f"CREATE SCHEMA {SCHEMA}",
        f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {_EVERYONE}, {DEFINER}, {ROLEMAKER}",
        f"GRANT CREATE ON SCHEMA {SCHEMA} TO {DEFINER}, {ROLEMAKER}",  # to own functions there
        f"GRANT USAGE ON SCHEMA STORE_SCHEMA TO PUBLIC, {_EVERYONE}, {DEFINER}",
        "REVOKE CREATE ON SCHEMA STORE_SCHEMA FROM PUBLIC",
        "ALTER TABLE STORE.history ADD COLUMN IF NOT EXISTS recorded_by TEXT",
        "ALTER TABLE STORE.history ADD COLUMN IF NOT EXISTS recorded_in BIGINT",
        f"CREATE TABLE {TEXTS_TABLE} (key text PRIMARY KEY, template text NOT NULL)",
        *(f"INSERT INTO {TEXTS_TABLE} VALUES ({_literal(key)}, {_literal(template)})"
          for key, template in texts.items()),
        f"GRANT SELECT ON {TEXTS_TABLE} TO {DEFINER}",
        f"CREATE TABLE {CHANGES_TABLE} (id bigserial PRIMARY KEY, tx bigint NOT NULL, "
        "login text NOT NULL, request_id integer NOT NULL, from_status text, "
        "to_status text NOT NULL, by_person boolean, told integer[] NOT NULL DEFAULT '{}', "
        "evented text[] NOT NULL DEFAULT '{}')",
        f"CREATE INDEX ON {CHANGES_TABLE} (login, tx)",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {CHANGES_TABLE} TO {DEFINER}",
        f"GRANT USAGE ON SEQUENCE {CHANGES_TABLE}_id_seq TO {DEFINER}",
        *_texts(HELPERS), *_texts(CHECKS), *_texts(TRIGGERS), *_texts(ON_BEHALF),
        *_texts(READS), *_texts(LOGINS),
        f"""
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig, p.proname FROM pg_proc p
             WHERE p.pronamespace = '{SCHEMA}'::regnamespace LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.sig);
        IF f.proname = 'login_role' THEN
            EXECUTE format('ALTER FUNCTION %s OWNER TO {ROLEMAKER}', f.sig);
        ELSIF f.proname NOT IN ({", ".join(f"'{name}'" for name in _INVOKER)}) THEN
            EXECUTE format('ALTER FUNCTION %s OWNER TO {DEFINER}', f.sig);
        END IF;
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO {DEFINER}', f.sig);
        IF f.proname NOT IN ({", ".join(f"'{name}'" for name in _INTERNAL)}) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO {_EVERYONE}', f.sig);
        END IF;
        IF f.proname IN ('me', 'my_role', 'may_make_login', 'is_login') THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO {ROLEMAKER}', f.sig);
        END IF;
    END LOOP;
END $$""",
        f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM {DEFINER}, {ROLEMAKER}",
        *(f"CREATE TRIGGER {name} {when} ON STORE.{table} FOR EACH ROW "
          f"EXECUTE FUNCTION {SCHEMA}.{function}()"
          for table, name, when, function in TRIGGER_BINDINGS),
        *(f"GRANT {privileges} ON STORE.{table} TO {to}" for table, privileges, to in _GRANTS),
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA STORE_SCHEMA TO {_EVERYONE}, {DEFINER}",
    ]


def _statements_after_logins() -> list[str]:
    return [
        *(_policy(*policy) for policy in _POLICIES),
        _all_tables("ALTER TABLE STORE.%I ENABLE ROW LEVEL SECURITY"),
        _all_tables("ALTER TABLE STORE.%I FORCE ROW LEVEL SECURITY"),
        f"""
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L',
                   current_database(), '{IDLE_TIMEOUT}');
END $$""",
    ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _for(schema: str, statement: str) -> str:
    quoted = '"' + schema.replace('"', '""') + '"'
    return (statement.replace("STORE_NAME", schema.replace("'", "''"))
            .replace("STORE_SCHEMA", quoted).replace("STORE.", quoted + "."))


# -- applying it --------------------------------------------------------------------------------------


def enable(store, admin: str, texts: dict[str, str]) -> dict[str, list[str]]:
    """Turn ``store`` (PostgreSQL, at the latest schema) into a database-mode store, in one
    transaction that holds the store's write lock, give every user a login role and record
    the mode. ``admin`` must be a registered admin: the first one who logs in with their own
    role. The caller must be a superuser, or own the store's tables and hold CREATEROLE.
    ``texts``: the system's notification texts as format() patterns
    (``domain/texts.templates()``), for the server's own changes. Run again, it re-applies
    everything.

    Returns the users by what happened to their login (``created``, ``moved``, ``kept``) and
    those left without one (``skipped``: a name that is a database role but no sessionctl login,
    or longer than a role name can be), each as ``name (why)``."""
    if store.dialect != "postgresql":
        raise UsageError("the database mode needs a PostgreSQL store")
    with store.write():
        lift(store)  # a store in the mode already: its owner reads its rows again
        run = _runner(store)
        found = run("SELECT role FROM STORE.users WHERE name = %s", (admin,)).fetchone()
        if found is None:
            raise NotFound(f"no user named {admin!r}",
                           hint=f"register them first: sessionctl user add {admin} --role admin")
        if found[0] != "admin":
            raise Conflict(f"{admin} is {found[0]!r}, not an admin")
        # recorded before apply() forces the policies, under which not even the owner may
        # change store_info (a superuser could, and so tests run as one did not see it)
        run("UPDATE STORE.store_info SET identity = 'database'")
        done = apply(store, texts, admin)
    return done


# Roles are the cluster's: two stores of one cluster converting (or migrating) at once change
# the same role rows, and PostgreSQL refuses the second change of a row ("tuple concurrently
# updated") or a second CREATE ROLE of one name rather than wait, or the two deadlock; advisory
# locks are per database, so they cannot line the two up. Each statement on roles runs in a
# savepoint, and again (a few times) once the other has committed.
_TRIES = 5
_RACES = ("tuple concurrently updated", "pg_authid_rolname_index", "pg_auth_members",
          "deadlock detected")


def _again(store, step):
    """``step()`` in a savepoint, run again while another transaction changes the same roles."""
    import peewee as pw

    for attempt in range(_TRIES):
        try:
            with store.db.atomic():
                return step()
        except pw.DatabaseError as exc:
            if attempt + 1 == _TRIES or not _cluster_race(exc):
                raise
            time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _cluster_race(exc: BaseException) -> bool:
    while exc is not None:
        if any(word in str(exc) for word in _RACES):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def apply(store, texts: dict[str, str], admin: str | None = None) -> dict[str, list[str]]:
    """The roles, functions, grants, logins and policies, on a store without them (``lift``),
    inside the caller's transaction; ``admin`` must get a login."""
    done: dict[str, list[str]] = {"created": [], "moved": [], "kept": [], "skipped": []}
    run = _runner(store)
    superuser = run("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    roles = [ROLES, rolemaker_admin()]
    if not superuser:  # to hand the functions to their owners (PostgreSQL wants membership)
        roles.append(f"GRANT {DEFINER}, {ROLEMAKER} TO CURRENT_USER")
    for statement in roles:
        _again(store, lambda: run(statement))
    for statement in _statements_before_logins(texts):
        run(statement)
    users = run("SELECT name, role FROM STORE.users ORDER BY id").fetchall()
    for name, role in users:
        outcome = _login(store, run, name, role)
        if outcome[0] == "skipped" and name == admin:
            raise Conflict(f"{admin} cannot be given a login: {outcome[1]}")
        done[outcome[0]].append(name if outcome[0] != "skipped" else f"{name} ({outcome[1]})")
    for statement in _statements_after_logins():
        run(statement)
    _again(store, lambda: run(memberships_cleared()))
    return done


def _login(store, run, name: str, role: str) -> tuple[str, str | None]:
    import peewee as pw

    try:  # a savepoint: a refused name leaves the rest intact
        return _again(store, lambda: run(f"SELECT {SCHEMA}.login_role(%s, %s, true)",
                                         (name, role)).fetchone()[0]), None
    except pw.DatabaseError as exc:
        return "skipped", str(getattr(exc, "orig", exc)).strip().splitlines()[0]


def lift(store) -> dict[str, str]:
    """No policies, definer functions or group privileges (inside the caller's transaction):
    the tables are their owner's alone, for a migration or ``disable``. Returns the texts the
    functions used (``apply`` puts them back), if any."""
    run = _runner(store)
    if run(f"SELECT to_regclass('{TEXTS_TABLE}')").fetchone()[0] is None:
        return {}  # never in the mode (its roles may not even exist in this cluster)
    texts = dict(run(f"SELECT key, template FROM {TEXTS_TABLE}").fetchall())
    for statement in _UNGUARDED:
        run(statement)
    return texts


def check_owner(store) -> None:
    """Only the store's owner (the owner of its tables) or a superuser turns the mode on or
    off: anyone else is exit 4, said plainly (not a permission error from half-way)."""
    if store.dialect != "postgresql":
        return
    owner = store.db.execute_sql(
        "SELECT r.rolsuper OR pg_has_role(current_user, c.relowner, 'USAGE') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_roles r ON r.rolname = current_user "
        "WHERE c.relname = 'store_info' AND n.nspname = current_schema()").fetchone()
    if owner is not None and not owner[0]:
        raise NotAllowed("only the store's owner (the owner of its tables) or a superuser may "
                         "run init --identity", hint="ask the store's DBA")


def disable(store) -> None:
    """Turn a database-mode store back (``init --identity login|sudo``): no policies, no
    definer functions, no group privileges, no idle timeout; the tables are their owner's
    alone again, and the mode recorded is "login". The login and group roles stay (they are
    the cluster's, and may serve another store); history keeps who recorded each row."""
    if store.dialect != "postgresql":
        raise UsageError("the database mode needs a PostgreSQL store")
    with store.write():
        lift(store)
        run = _runner(store)
        run("""
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET idle_in_transaction_session_timeout',
                   current_database());
END $$""")
        run("UPDATE STORE.store_info SET identity = 'login'")


def _runner(store):
    schema = store.db.execute_sql("SELECT current_schema()").fetchone()[0]
    if schema is None:
        raise Unavailable("the store's connection has no schema to work in")

    def run(statement: str, params=None):
        text = _for(schema, statement)  # the driver reads % as a placeholder, even with no values
        return store.db.execute_sql(text if params else text.replace("%", "%%"), params)

    return run
