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

Nothing here is wired into the migrations or the domain yet (phase 2 of issue 21).
"""

from __future__ import annotations

from sessionctl.errors import Conflict, NotFound, Unavailable, UsageError

GROUPS = {"admin": "sessionctl_admin", "educator": "sessionctl_educator",
          "student": "sessionctl_student"}
DEFINER = "sessionctl_definer"  # owns the definer functions: NOLOGIN, no members
ROLEMAKER = "sessionctl_rolemaker"  # owns login_role: NOLOGIN CREATEROLE, nothing else
SCHEMA = "sessionctl"  # the functions' schema (the tables stay in the store's own)
IDLE_TIMEOUT = "30s"  # idle_in_transaction_session_timeout of the store's database
TABLES = ("users", "courses", "enrollments", "slots", "requests", "history", "notifications",
          "store_info", "leases", "schema_migrations")

_PINNED = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
_NOW = "(date_trunc('second', now() AT TIME ZONE 'UTC'))"  # the store's naive UTC instants

# -- roles ---------------------------------------------------------------------------------------

_ROLES = f"""
DO $$
DECLARE
    name text;
    r pg_roles%ROWTYPE;
    maker boolean;
BEGIN
    FOREACH name IN ARRAY ARRAY['{GROUPS["admin"]}', '{GROUPS["educator"]}',
                                '{GROUPS["student"]}', '{DEFINER}', '{ROLEMAKER}'] LOOP
        maker := name = '{ROLEMAKER}';
        SELECT * INTO r FROM pg_roles WHERE rolname = name;
        IF NOT FOUND THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN %s', name,
                           CASE WHEN maker THEN 'CREATEROLE' ELSE '' END);
            CONTINUE;
        END IF;
        IF r.rolsuper OR r.rolbypassrls OR r.rolreplication THEN
            RAISE EXCEPTION 'the role % exists with powers it must not have (superuser, '
                'bypassrls or replication); a superuser must drop or fix it', name
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF r.rolcanlogin OR r.rolcreatedb OR r.rolcreaterole <> maker THEN
            EXECUTE format('ALTER ROLE %I NOLOGIN NOCREATEDB %s', name,
                           CASE WHEN maker THEN 'CREATEROLE' ELSE 'NOCREATEROLE' END);
        END IF;
        EXECUTE format('ALTER ROLE %I PASSWORD NULL', name);
    END LOOP;
END $$"""


def _memberships_cleared() -> str:
    """Nobody may become the definer or the rolemaker, and they belong to no role (the
    rolemaker's admin option on the groups, PostgreSQL 16 on, is made without INHERIT or SET)."""
    return f"""
DO $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT r.rolname AS role, u.rolname AS member FROM pg_auth_members a
             JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles u ON u.oid = a.member
             WHERE (r.rolname IN ('{DEFINER}', '{ROLEMAKER}')
                    OR u.rolname IN ('{DEFINER}', '{ROLEMAKER}'))
               AND NOT (u.rolname = '{ROLEMAKER}' AND r.rolname LIKE 'sessionctl\\_%'
                        AND current_setting('server_version_num')::int >= 160000)
    LOOP
        EXECUTE format('REVOKE %I FROM %I', m.role, m.member);
    END LOOP;
END $$"""


def _rolemaker_admin() -> str:
    """PostgreSQL 16 on: CREATEROLE alone no longer grants membership in other roles; the
    rolemaker holds the admin option on the three groups, without their privileges."""
    grants = "".join(
        f"EXECUTE 'GRANT {group} TO {ROLEMAKER} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE';\n"
        for group in GROUPS.values())
    return f"""
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 160000 THEN
        {grants}
    END IF;
END $$"""


# -- who is asking ------------------------------------------------------------------------------
# Every helper is a definer function (it reads rows the caller may not see) returning one fact.
# ``me``: the users.id of the connected session_user, when that login is in the group of its
# user's role; otherwise NULL: a login that is not a user of this store (or whose group does not
# match, e.g. after a failed move) is nobody.

_HELPERS = f"""
CREATE FUNCTION {SCHEMA}.me() RETURNS integer LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT u.id FROM STORE.users u
    WHERE u.name = session_user::text
      AND u.role IN ('admin', 'educator', 'student')
      AND pg_catalog.pg_has_role(session_user, 'sessionctl_' || u.role, 'MEMBER')
$$;
CREATE FUNCTION {SCHEMA}.my_role() RETURNS text LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT u.role::text FROM STORE.users u WHERE u.id = {SCHEMA}.me()
$$;
CREATE FUNCTION {SCHEMA}.role_of(who integer) RETURNS text LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT u.role::text FROM STORE.users u WHERE u.id = who
$$;
-- the ids a person's rows hang on, each read once per statement (a hashed subplan)
CREATE FUNCTION {SCHEMA}.my_courses() RETURNS SETOF integer LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT c.id FROM STORE.courses c WHERE c.educator_id = {SCHEMA}.me()
$$;
CREATE FUNCTION {SCHEMA}.my_slots() RETURNS SETOF integer LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT s.id FROM STORE.slots s WHERE s.educator_id = {SCHEMA}.me()
$$;
CREATE FUNCTION {SCHEMA}.my_enrolments() RETURNS SETOF integer LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT e.course_id FROM STORE.enrollments e WHERE e.student_id = {SCHEMA}.me()
$$;
-- the people a student may read: themselves, the educators of their courses, and whoever
-- acted on their requests (an admin who approved one: request show names them)
CREATE FUNCTION {SCHEMA}.my_people() RETURNS SETOF integer LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT {SCHEMA}.me()
    UNION SELECT c.educator_id FROM STORE.courses c
          JOIN STORE.enrollments e ON e.course_id = c.id WHERE e.student_id = {SCHEMA}.me()
    UNION SELECT h.actor_id FROM STORE.history h JOIN STORE.requests r ON r.id = h.request_id
          WHERE r.student_id = {SCHEMA}.me() AND h.actor_id IS NOT NULL
$$;
CREATE FUNCTION {SCHEMA}.manages_course(course integer) RETURNS boolean LANGUAGE sql STABLE
    {_PINNED} AS $$
    SELECT {SCHEMA}.my_role() = 'admin' OR EXISTS (
        SELECT 1 FROM STORE.courses c WHERE c.id = course AND c.educator_id = {SCHEMA}.me())
$$;
CREATE FUNCTION {SCHEMA}.manages_slot(slot integer) RETURNS boolean LANGUAGE sql STABLE
    {_PINNED} AS $$
    SELECT {SCHEMA}.my_role() = 'admin' OR EXISTS (
        SELECT 1 FROM STORE.slots s WHERE s.id = slot AND s.educator_id = {SCHEMA}.me())
$$;
CREATE FUNCTION {SCHEMA}.sees_slot(slot integer) RETURNS boolean LANGUAGE sql STABLE
    {_PINNED} AS $$
    SELECT {SCHEMA}.manages_slot(slot) OR EXISTS (
        SELECT 1 FROM STORE.slots s JOIN STORE.enrollments e ON e.course_id = s.course_id
        WHERE s.id = slot AND e.student_id = {SCHEMA}.me())
$$;
CREATE FUNCTION {SCHEMA}.sees_request(request integer) RETURNS boolean LANGUAGE sql STABLE
    {_PINNED} AS $$
    SELECT {SCHEMA}.my_role() = 'admin' OR EXISTS (
        SELECT 1 FROM STORE.requests r JOIN STORE.slots s ON s.id = r.slot_id
        WHERE r.id = request AND {SCHEMA}.me() IN (r.student_id, s.educator_id))
$$;
-- a history row written in this very transaction by this very login: what makes a change
-- someone else is told about (or a seat freed for the waitlist) the caller's own doing
CREATE FUNCTION {SCHEMA}.changed_now(request integer) RETURNS boolean LANGUAGE sql STABLE
    {_PINNED} AS $$
    SELECT EXISTS (SELECT 1 FROM STORE.history h WHERE h.request_id = request
                   AND h.recorded_in = txid_current() AND h.recorded_by = session_user::text)
$$;
"""

# -- checks the policies call ---------------------------------------------------------------------

_CHECKS = f"""
-- INSERT INTO requests: a student's own request (a send, a move of their own), or a move made
-- by the slot's educator (or an admin) for a student of the course; every rule of
-- 'request send' and 'request move' that the row alone can show
CREATE FUNCTION {SCHEMA}.may_request(slot integer, student integer, wanted text,
                                     opted integer, replaces integer, given_link text,
                                     given_notes text)
    RETURNS boolean LANGUAGE plpgsql STABLE {_PINNED} AS $$
DECLARE
    me integer := {SCHEMA}.me();
    role text := {SCHEMA}.my_role();
    s STORE.slots%ROWTYPE;
    c STORE.courses%ROWTYPE;
    old STORE.requests%ROWTYPE;
    now_ timestamp := {_NOW};
    held integer;
BEGIN
    SELECT * INTO s FROM STORE.slots WHERE id = slot;
    IF NOT FOUND OR me IS NULL OR s.cancelled_at IS NOT NULL OR s.starts_at <= now_ THEN
        RETURN false;
    END IF;
    SELECT * INTO c FROM STORE.courses WHERE id = s.course_id;
    IF NOT EXISTS (SELECT 1 FROM STORE.enrollments e
                   WHERE e.course_id = c.id AND e.student_id = student)
       OR {SCHEMA}.role_of(student) IS DISTINCT FROM 'student' THEN
        RETURN false;
    END IF;
    IF replaces IS NOT NULL THEN
        SELECT * INTO old FROM STORE.requests WHERE id = replaces;
        IF NOT FOUND OR old.student_id <> student
           OR old.status NOT IN ('pending', 'approved', 'waiting')
           OR (SELECT x.course_id FROM STORE.slots x WHERE x.id = old.slot_id) <> c.id THEN
            RETURN false;
        END IF;
    END IF;
    IF role = 'admin' OR (role = 'educator' AND s.educator_id = me) THEN
        -- a move the educator makes: never a request nobody asked for
        RETURN replaces IS NOT NULL AND wanted IN ('pending', 'approved', 'waiting');
    END IF;
    IF role <> 'student' OR student <> me OR given_link IS NOT NULL OR given_notes IS NOT NULL THEN
        RETURN false;
    END IF;
    -- a seat: pending on a slot with a free one, waiting (opted in) on a full one
    IF NOT ((wanted = 'pending' AND s.booked < s.capacity)
            OR (wanted = 'waiting' AND opted = 1 AND s.booked >= s.capacity)) THEN
        RETURN false;
    END IF;
    IF c.min_notice IS NOT NULL AND s.starts_at - now_ < make_interval(mins => c.min_notice) THEN
        RETURN false;
    END IF;
    IF c.horizon IS NOT NULL AND s.starts_at - now_ > make_interval(mins => c.horizon) THEN
        RETURN false;
    END IF;
    IF c.max_active IS NOT NULL THEN  -- policy.bookings: a move and its booking count once
        SELECT count(*) INTO held FROM STORE.requests r JOIN STORE.slots x ON x.id = r.slot_id
        WHERE r.student_id = me AND r.status IN ('pending', 'approved', 'waiting')
          AND x.course_id = c.id AND x.starts_at > now_
          AND r.id IS DISTINCT FROM replaces
          AND r.id IS DISTINCT FROM old.replaces_id
          AND NOT (r.status = 'pending' AND r.replaces_id IN (
              SELECT q.id FROM STORE.requests q WHERE q.student_id = me
              AND q.status IN ('pending', 'approved', 'waiting')));
        IF held >= c.max_active THEN
            RETURN false;
        END IF;
    END IF;
    -- no approved session of theirs at that time (the booking being moved aside)
    RETURN NOT EXISTS (SELECT 1 FROM STORE.requests r
        WHERE r.student_id = me AND r.status = 'approved' AND r.starts_at < s.ends_at
          AND r.ends_at > s.starts_at AND r.id IS DISTINCT FROM replaces);
END $$;

-- INSERT INTO history: a row about a request the caller may see, telling its current state;
-- in the caller's own name, or the system's (no actor) where the caller manages the slot
CREATE FUNCTION {SCHEMA}.may_record(request integer, actor integer, state text)
    RETURNS boolean LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT EXISTS (
        SELECT 1 FROM STORE.requests r JOIN STORE.slots s ON s.id = r.slot_id
        WHERE r.id = request AND r.status = state
          AND {SCHEMA}.sees_request(r.id)
          AND ((actor = {SCHEMA}.me()) OR (actor IS NULL AND {SCHEMA}.manages_slot(s.id))))
$$;

-- INSERT INTO notifications for someone else: a party of the request (its student, its slot's
-- educator), told by an admin, by the slot's educator, or by whoever changed that request in
-- this transaction (a student's send, cancel, move or rating tells the educator)
CREATE FUNCTION {SCHEMA}.may_notify(recipient integer, request integer, slot integer)
    RETURNS boolean LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT EXISTS (
        SELECT 1 FROM STORE.requests r JOIN STORE.slots s ON s.id = r.slot_id
        WHERE r.id = request AND (slot IS NULL OR slot = s.id)
          AND recipient IN (r.student_id, s.educator_id)
          AND ({SCHEMA}.manages_slot(s.id)
               OR ({SCHEMA}.me() = r.student_id AND {SCHEMA}.changed_now(r.id))
               OR ({SCHEMA}.changed_now(r.id)
                   AND (SELECT h.actor_id IS NULL FROM STORE.history h
                        WHERE h.request_id = r.id AND h.recorded_in = txid_current()
                        ORDER BY h.id DESC LIMIT 1))))
$$;

-- a sessionctl login: an ordinary login role in one of the three groups
CREATE FUNCTION {SCHEMA}.is_login(who text) RETURNS boolean LANGUAGE sql STABLE
    {_PINNED} AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_roles r WHERE r.rolname = who AND r.rolcanlogin
          AND NOT (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication
                   OR r.rolbypassrls)
          AND who NOT LIKE 'sessionctl\\_%' AND who NOT LIKE 'pg\\_%'
          AND EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                      WHERE m.member = r.oid AND g.rolname IN
                      ('{GROUPS["admin"]}', '{GROUPS["educator"]}', '{GROUPS["student"]}')))
$$;
-- INSERT INTO users by an educator (course enroll --from-csv) or an admin: never a name that
-- is a database role other than a sessionctl login (docs/database-mode.md)
CREATE FUNCTION {SCHEMA}.name_is_free(who text) RETURNS boolean LANGUAGE sql STABLE
    {_PINNED} AS $$
    SELECT NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who)
        OR {SCHEMA}.is_login(who)
$$;
"""

# -- triggers -------------------------------------------------------------------------------------

_TRIGGERS = f"""
-- who wrote a history row, and in which transaction: the connected login, whoever writes it
CREATE FUNCTION {SCHEMA}.history_stamp() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.recorded_by := session_user::text;
    NEW.recorded_in := txid_current();
    RETURN NEW;
END $$;

-- a slot's seats are its approved requests, counted by the database (the CHECK on slots
-- refuses an approval beyond the capacity)
CREATE FUNCTION {SCHEMA}.count_seats() RETURNS trigger LANGUAGE plpgsql {_PINNED} AS $$
DECLARE
    slot integer;
BEGIN
    FOR slot IN
        SELECT DISTINCT x FROM unnest(ARRAY[
            CASE WHEN TG_OP <> 'INSERT' AND OLD.status = 'approved' THEN OLD.slot_id END,
            CASE WHEN TG_OP <> 'DELETE' AND NEW.status = 'approved' THEN NEW.slot_id END]) x
        WHERE x IS NOT NULL
    LOOP
        UPDATE STORE.slots SET booked = (SELECT count(*) FROM STORE.requests r
                                         WHERE r.slot_id = slot AND r.status = 'approved')
        WHERE id = slot;
    END LOOP;
    RETURN NULL;
END $$;

-- what a person may change of a request (the definer's own changes are checked by it)
CREATE FUNCTION {SCHEMA}.request_guard() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s STORE.slots%ROWTYPE;
    c STORE.courses%ROWTYPE;
    now_ timestamp := {_NOW};
    manager boolean;
    own boolean;
BEGIN
    IF current_user = '{DEFINER}' OR {SCHEMA}.is_owner() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN  -- the server's clock orders the waitlist, not a laptop's
        NEW.created_at := now_;
        NEW.updated_at := now_;
        RETURN NEW;
    END IF;
    s := {SCHEMA}.slot_row(OLD.slot_id);
    c := {SCHEMA}.course_row(s.course_id);
    manager := {SCHEMA}.manages_slot(OLD.slot_id);
    own := OLD.student_id = {SCHEMA}.me();
    NEW.starts_at := s.starts_at;  -- the slot's times, as migration 6 keeps them
    NEW.ends_at := s.ends_at;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT (OLD.status, NEW.status) IN (
                ('pending', 'approved'), ('pending', 'rejected'), ('pending', 'cancelled'),
                ('pending', 'waiting'), ('approved', 'completed'), ('approved', 'cancelled'),
                ('waiting', 'pending'), ('waiting', 'approved'), ('waiting', 'cancelled'),
                ('waiting', 'rejected')) THEN
            RAISE EXCEPTION 'request % is %; it cannot become %', OLD.id, OLD.status, NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        IF NOT manager AND NOT (own AND NEW.status = 'cancelled') THEN
            RAISE EXCEPTION 'only the educator of slot % or an admin can make request % %',
                s.id, OLD.id, NEW.status USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.status = 'approved' AND s.starts_at <= now_ THEN
            RAISE EXCEPTION 'slot % has already started', s.id USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.status = 'completed' AND s.ends_at > now_ THEN
            RAISE EXCEPTION 'session % has not ended yet', OLD.id USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.status = 'approved' AND NEW.status = 'cancelled' AND s.ends_at <= now_ THEN
            RAISE EXCEPTION 'session % has ended', OLD.id USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.status = 'approved' AND NEW.status = 'cancelled' AND NOT manager
           AND c.cancel_notice IS NOT NULL
           AND s.starts_at - now_ < make_interval(mins => c.cancel_notice) THEN
            RAISE EXCEPTION '% needs % minutes notice to cancel a session (cancel-notice)',
                c.code, c.cancel_notice USING ERRCODE = 'check_violation';
        END IF;
    ELSIF NEW.reason IS DISTINCT FROM OLD.reason THEN
        RAISE EXCEPTION 'a reason goes with a change of state' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.replaced_by_id IS DISTINCT FROM OLD.replaced_by_id AND NOT EXISTS (
            SELECT 1 FROM STORE.requests n WHERE n.id = NEW.replaced_by_id
            AND n.replaces_id = OLD.id AND n.student_id = OLD.student_id) THEN
        RAISE EXCEPTION 'request % does not replace request %', NEW.replaced_by_id, OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.rating, NEW.rating_comment, NEW.rated_at)
            IS DISTINCT FROM (OLD.rating, OLD.rating_comment, OLD.rated_at) THEN
        IF NOT (own AND NEW.rating IS NOT NULL AND OLD.status = 'completed'
                AND now_ <= s.ends_at + interval '30 days')
           AND NOT (manager AND NEW.rating IS NULL) THEN
            RAISE EXCEPTION 'only the student rates a session, within 30 days of its end'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    IF (NEW.attendance IS DISTINCT FROM OLD.attendance OR NEW.link IS DISTINCT FROM OLD.link
        OR NEW.notes IS DISTINCT FROM OLD.notes) AND NOT manager THEN
        RAISE EXCEPTION 'only the educator of slot % or an admin can change that', s.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

-- the store's owner (its migrations) or a superuser: not bound by the guards
CREATE FUNCTION {SCHEMA}.is_owner() RETURNS boolean LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_has_role(current_user, (SELECT c.relowner FROM pg_class c
                                      WHERE c.oid = 'STORE.users'::regclass), 'USAGE')
$$;
CREATE FUNCTION {SCHEMA}.slot_row(slot integer) RETURNS STORE.slots LANGUAGE sql STABLE
    {_PINNED} AS $$ SELECT * FROM STORE.slots WHERE id = slot $$;
CREATE FUNCTION {SCHEMA}.course_row(course integer) RETURNS STORE.courses LANGUAGE sql STABLE
    {_PINNED} AS $$ SELECT * FROM STORE.courses WHERE id = course $$;

-- what the slot's educator may change of it (seats are counted, never written by people)
CREATE FUNCTION {SCHEMA}.slot_guard() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_user = '{DEFINER}' OR {SCHEMA}.is_owner() THEN
        RETURN NEW;
    END IF;
    IF OLD.cancelled_at IS NOT NULL THEN
        RAISE EXCEPTION 'slot % is cancelled', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.starts_at, NEW.ends_at) IS DISTINCT FROM (OLD.starts_at, OLD.ends_at) THEN
        IF NEW.starts_at <= {_NOW} OR OLD.ends_at <= {_NOW} THEN
            RAISE EXCEPTION 'slot % cannot move into or out of the past', OLD.id
                USING ERRCODE = 'check_violation';
        END IF;
        IF EXISTS (SELECT 1 FROM STORE.requests r WHERE r.slot_id = OLD.id
                   AND r.status IN ('pending', 'approved', 'waiting')) THEN
            RAISE EXCEPTION 'slot % has active requests; its time cannot move', OLD.id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;

-- a user's name is their login; only an admin changes a role (login_role then moves it)
CREATE FUNCTION {SCHEMA}.user_guard() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.name IS DISTINCT FROM OLD.name THEN
        RAISE EXCEPTION 'a user name cannot change' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.role IS DISTINCT FROM OLD.role AND {SCHEMA}.my_role() IS DISTINCT FROM 'admin'
       AND current_user <> '{DEFINER}' AND NOT {SCHEMA}.is_owner() THEN
        RAISE EXCEPTION 'only admins can change roles' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""

_TRIGGER_BINDINGS = [
    ("history", "history_stamp", "BEFORE INSERT", "history_stamp"),
    ("requests", "requests_seats", "AFTER INSERT OR DELETE OR UPDATE OF status, slot_id",
     "count_seats"),
    ("requests", "requests_guard", "BEFORE INSERT OR UPDATE", "request_guard"),
    ("slots", "slots_guard", "BEFORE UPDATE", "slot_guard"),
    ("users", "users_guard", "BEFORE UPDATE", "user_guard"),
]

# -- what the CLI does on others' behalf --------------------------------------------------------
# The system's changes (the fill rule, the waitlist's offer of a freed seat, auto-approve, a
# move proposal that gives way, expiry and completion) go through ``system_change``: the slot's
# educator or an admin may make any of them (they could make it in person); anyone else only
# what the rules demand as the consequence of their own change in this transaction. It writes
# the system's history row and tells the parties (texts from ``say``: the other person's zone
# and name never reach the caller).

_ON_BEHALF = f"""
CREATE FUNCTION {SCHEMA}.when_for(instant timestamp, recipient integer) RETURNS text
    LANGUAGE plpgsql VOLATILE {_PINNED} AS $$
DECLARE
    zone text := coalesce((SELECT u.tz FROM STORE.users u WHERE u.id = recipient), 'UTC');
    was text := current_setting('TimeZone');
    said text;
BEGIN
    BEGIN
        PERFORM set_config('TimeZone', zone, true);
    EXCEPTION WHEN others THEN
        PERFORM set_config('TimeZone', 'UTC', true);
    END;
    said := to_char((instant AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI TZ');
    PERFORM set_config('TimeZone', was, true);
    RETURN said;
END $$;

-- the system's words, as requests._text words them for a system change
CREATE FUNCTION {SCHEMA}.say(kind text, request integer, recipient integer) RETURNS text
    LANGUAGE plpgsql VOLATILE {_PINNED} AS $$
DECLARE
    r STORE.requests%ROWTYPE;
    s STORE.slots%ROWTYPE;
    code text;
    what text;
    link text;
    student text;
    reason text;
BEGIN
    SELECT * INTO r FROM STORE.requests WHERE id = request;
    SELECT * INTO s FROM STORE.slots WHERE id = r.slot_id;
    SELECT c.code INTO code FROM STORE.courses c WHERE c.id = s.course_id;
    SELECT coalesce(u.display, u.name) INTO student FROM STORE.users u WHERE u.id = r.student_id;
    what := code || ' on ' || {SCHEMA}.when_for(s.starts_at, recipient);
    link := CASE WHEN coalesce(r.link, s.link) IS NULL THEN ''
                 ELSE '; join at ' || coalesce(r.link, s.link) END;
    reason := CASE WHEN r.reason IS NULL OR r.reason = '' THEN '' ELSE ': ' || r.reason END;
    RETURN CASE
        WHEN kind = 'approved' THEN
            format('(system) approved your request %s for %s%s', r.id, what, link)
        WHEN kind = 'expired' THEN
            format('your request %s for %s expired: the slot started before approval', r.id, what)
        WHEN kind = 'completed' THEN format('your session %s for %s is completed', r.id, what)
        WHEN kind = 'waiting' THEN
            format('slot %s (%s) is full: your request %s is on its waitlist and moves up when '
                   'a seat frees', s.id, what, r.id)
        WHEN kind = 'promoted' AND r.status = 'approved' THEN
            format('a seat is free in slot %s (%s): %s %s left the waitlist and is approved '
                   '(auto-approve)%s', s.id, what,
                   CASE WHEN recipient = r.student_id THEN 'your request'
                        ELSE 'request of ' || student END, r.id, link)
        WHEN kind = 'promoted' AND recipient = r.student_id THEN
            format('a seat is free in slot %s (%s): your request %s left the waitlist and '
                   'awaits approval', s.id, what, r.id)
        WHEN kind = 'promoted' THEN
            format('a seat is free in slot %s (%s): request %s of %s left the waitlist and '
                   'awaits your decision', s.id, what, r.id, student)
        WHEN kind = 'rejected' THEN
            format('your request %s for %s was rejected%s', r.id, what, reason)
        ELSE format('(system) %s request %s for %s%s', kind, r.id, what, reason)
    END;
END $$;

-- seats freed, and waiting requests offered one, in this transaction by this login
CREATE FUNCTION {SCHEMA}.changes_now(slot integer, was text, became text[])
    RETURNS bigint LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT count(*) FROM STORE.history h JOIN STORE.requests r ON r.id = h.request_id
    WHERE r.slot_id = slot AND h.recorded_in = txid_current()
      AND h.recorded_by = session_user::text
      AND h.from_status = was AND h.to_status = ANY (became)
$$;

CREATE FUNCTION {SCHEMA}.system_change(request integer, to_status text, reason text DEFAULT NULL,
                                       note text DEFAULT NULL, replaced_by integer DEFAULT NULL,
                                       kind text DEFAULT NULL,
                                       tell text[] DEFAULT ARRAY['student'])
    RETURNS void LANGUAGE plpgsql VOLATILE {_PINNED} AS $$
DECLARE
    r STORE.requests%ROWTYPE;
    s STORE.slots%ROWTYPE;
    c STORE.courses%ROWTYPE;
    me integer := {SCHEMA}.me();
    now_ timestamp := {_NOW};
    pending bigint;
    ok boolean := false;
    recipient integer;
    party text;
BEGIN
    SELECT * INTO r FROM STORE.requests WHERE id = request FOR UPDATE;
    IF NOT FOUND OR me IS NULL OR NOT {SCHEMA}.sees_request(request) AND NOT
            {SCHEMA}.sees_slot(r.slot_id) THEN
        RAISE EXCEPTION 'no request %', request USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO s FROM STORE.slots WHERE id = r.slot_id;
    SELECT * INTO c FROM STORE.courses WHERE id = s.course_id;
    IF NOT (r.status, to_status) IN (
            ('pending', 'approved'), ('pending', 'rejected'), ('pending', 'cancelled'),
            ('pending', 'waiting'), ('approved', 'completed'), ('approved', 'cancelled'),
            ('waiting', 'pending'), ('waiting', 'approved'), ('waiting', 'cancelled'),
            ('waiting', 'rejected')) THEN
        RAISE EXCEPTION 'request % is %; it cannot become %', r.id, r.status, to_status
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*) INTO pending FROM STORE.requests x
    WHERE x.slot_id = s.id AND x.status = 'pending';
    IF {SCHEMA}.manages_slot(s.id) THEN
        ok := true;  -- the educator (or an admin) could make this change in person
    ELSIF r.status = 'pending' AND to_status IN ('waiting', 'rejected') THEN
        -- the fill rule: a full slot's pending requests wait (opted in) or are turned down
        ok := s.booked >= s.capacity AND ((to_status = 'waiting' AND r.waitlist = 1)
              OR (to_status = 'rejected' AND r.waitlist = 0 AND reason = 'slot is full'));
    ELSIF r.status = 'waiting' AND to_status IN ('pending', 'approved') THEN
        -- the offer rule: the oldest waiting request of a live, future slot with a free seat
        ok := s.cancelled_at IS NULL AND s.starts_at > now_ AND s.booked < s.capacity
              AND NOT EXISTS (SELECT 1 FROM STORE.requests o WHERE o.slot_id = s.id
                              AND o.status = 'waiting' AND (o.created_at, o.id) < (r.created_at, r.id))
              AND (s.capacity - s.booked - pending > 0
                   OR {SCHEMA}.changes_now(s.id, 'approved', ARRAY['cancelled'])
                      > {SCHEMA}.changes_now(s.id, 'waiting', ARRAY['pending', 'approved']))
              AND (to_status = 'pending' OR (c.auto_approve = 1
                   AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.clashes(r.student_id, s.starts_at, s.ends_at, 0))));
    ELSIF r.status = 'pending' AND to_status = 'approved' THEN
        -- auto-approve of the caller's own request, sent (or moved) in this transaction
        ok := r.student_id = me AND c.auto_approve = 1 AND {SCHEMA}.changed_now(r.id)
              AND s.cancelled_at IS NULL AND s.starts_at > now_ AND s.booked < s.capacity
              AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.clashes(r.student_id, s.starts_at, s.ends_at,
                                                             coalesce(r.replaces_id, 0)));
    ELSIF r.status = 'approved' AND to_status = 'cancelled' AND replaced_by IS NOT NULL THEN
        -- the booking that the caller's own proposal, approved at once, replaces
        ok := r.student_id = me AND c.auto_approve = 1 AND EXISTS (
            SELECT 1 FROM STORE.requests n WHERE n.id = replaced_by AND n.replaces_id = r.id
            AND n.status = 'pending' AND n.student_id = me AND {SCHEMA}.changed_now(n.id));
    ELSIF r.status = 'pending' AND to_status = 'cancelled' AND r.replaces_id IS NOT NULL THEN
        -- a proposal to move a booking that the caller just changed: it goes with it
        ok := EXISTS (SELECT 1 FROM STORE.requests b WHERE b.id = r.replaces_id
                      AND b.status <> 'approved' AND {SCHEMA}.changed_now(b.id));
    END IF;
    IF NOT ok THEN
        RAISE EXCEPTION 'request % cannot become % by the system now', r.id, to_status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE STORE.requests SET status = to_status, reason = coalesce(system_change.reason, r.reason),
        updated_at = now_, replaced_by_id = coalesce(system_change.replaced_by, r.replaced_by_id)
    WHERE id = r.id;
    INSERT INTO STORE.history (request_id, at, actor_id, from_status, to_status, note)
    VALUES (r.id, now_, NULL, r.status, to_status, coalesce(note, system_change.reason));
    FOREACH party IN ARRAY coalesce(tell, ARRAY[]::text[]) LOOP
        recipient := CASE party WHEN 'student' THEN r.student_id
                                WHEN 'educator' THEN s.educator_id END;
        IF recipient IS NULL THEN
            RAISE EXCEPTION 'unknown party %', party USING ERRCODE = 'invalid_parameter_value';
        END IF;
        INSERT INTO STORE.notifications (user_id, kind, request_id, slot_id, text, created_at)
        VALUES (recipient, coalesce(kind, to_status), r.id, s.id,
                {SCHEMA}.say(coalesce(kind, to_status), r.id, recipient), now_);
    END LOOP;
END $$;

-- the fill rule on a slot (requests.settle_full): anyone who sees the slot may ask for it
CREATE FUNCTION {SCHEMA}.settle(slot integer) RETURNS integer LANGUAGE plpgsql VOLATILE
    {_PINNED} AS $$
DECLARE
    r STORE.requests%ROWTYPE;
    done integer := 0;
BEGIN
    IF NOT {SCHEMA}.sees_slot(slot) THEN
        RAISE EXCEPTION 'no slot %', slot USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (SELECT s.booked < s.capacity FROM STORE.slots s WHERE s.id = slot) THEN
        RETURN 0;
    END IF;
    FOR r IN SELECT * FROM STORE.requests x WHERE x.slot_id = slot AND x.status = 'pending'
             ORDER BY x.created_at, x.id LOOP
        IF r.waitlist = 1 THEN
            PERFORM {SCHEMA}.system_change(r.id, 'waiting', kind => 'waiting');
        ELSE
            PERFORM {SCHEMA}.system_change(r.id, 'rejected', reason => 'slot is full');
        END IF;
        done := done + 1;
    END LOOP;
    RETURN done;
END $$;

-- the offer rule on a slot (requests.offer_free_seats); ``freed``: seats the caller's own
-- changes in this transaction freed (system_change holds them to it)
CREATE FUNCTION {SCHEMA}.offer(slot integer, freed integer DEFAULT 0) RETURNS integer
    LANGUAGE plpgsql VOLATILE {_PINNED} AS $$
DECLARE
    s STORE.slots%ROWTYPE;
    r STORE.requests%ROWTYPE;
    offers bigint;
    done integer := 0;
BEGIN
    IF NOT {SCHEMA}.sees_slot(slot) THEN
        RAISE EXCEPTION 'no slot %', slot USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO s FROM STORE.slots WHERE id = slot;
    IF s.cancelled_at IS NOT NULL OR s.starts_at <= {_NOW} THEN
        RETURN 0;
    END IF;
    offers := greatest(freed, s.capacity - s.booked - (SELECT count(*) FROM STORE.requests x
                                     WHERE x.slot_id = slot AND x.status = 'pending'));
    FOR r IN SELECT * FROM STORE.requests x WHERE x.slot_id = slot AND x.status = 'waiting'
             ORDER BY x.created_at, x.id LIMIT greatest(offers, 0) LOOP
        IF (SELECT c.auto_approve = 1 FROM STORE.courses c WHERE c.id = s.course_id)
           AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.clashes(r.student_id, s.starts_at, s.ends_at, 0)) THEN
            PERFORM {SCHEMA}.system_change(r.id, 'approved', note => 'a seat is free (auto-approve)',
                                           kind => 'promoted', tell => ARRAY['student', 'educator']);
            PERFORM {SCHEMA}.settle(slot);
        ELSE
            PERFORM {SCHEMA}.system_change(r.id, 'pending', note => 'a seat is free',
                                           kind => 'promoted', tell => ARRAY['student', 'educator']);
        END IF;
        done := done + 1;
    END LOOP;
    RETURN done;
END $$;
"""

# -- reads of rows the caller may not see: only what the rule needs ------------------------------

_READS = f"""
-- a student's approved session overlapping [starts, ends), but for request ``besides``
CREATE FUNCTION {SCHEMA}.clashes(student integer, starts timestamp, ends timestamp,
                                 besides integer)
    RETURNS TABLE (request_id integer, slot_id integer) LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT r.id, r.slot_id FROM STORE.requests r
    WHERE r.student_id = student AND r.status = 'approved' AND r.starts_at < ends
      AND r.ends_at > starts AND r.id <> besides
    ORDER BY r.id LIMIT 1
$$;
-- the same for the domain (requests.overlapping_session): the student themself, an admin, or
-- an educator of a course the student is enrolled in
CREATE FUNCTION {SCHEMA}.clash(student integer, starts timestamp, ends timestamp,
                               besides integer DEFAULT 0)
    RETURNS TABLE (request_id integer, slot_id integer) LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT * FROM {SCHEMA}.clashes(student, starts, ends, coalesce(besides, 0))
    WHERE student = {SCHEMA}.me() OR {SCHEMA}.my_role() = 'admin'
       OR EXISTS (SELECT 1 FROM STORE.enrollments e WHERE e.student_id = student
                  AND e.course_id IN (SELECT {SCHEMA}.my_courses()))
$$;
-- the waitlist places of the waiting requests the caller sees (requests.waitlist_positions)
CREATE FUNCTION {SCHEMA}.waitlist(slot_ids integer[])
    RETURNS TABLE (request_id integer, place bigint, length bigint)
    LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT x.id, x.place, x.length FROM (
        SELECT r.id, r.student_id, r.slot_id,
               row_number() OVER (PARTITION BY r.slot_id ORDER BY r.created_at, r.id) AS place,
               count(*) OVER (PARTITION BY r.slot_id) AS length
        FROM STORE.requests r WHERE r.slot_id = ANY (slot_ids) AND r.status = 'waiting') x
    WHERE x.student_id = {SCHEMA}.me() OR {SCHEMA}.manages_slot(x.slot_id)
$$;
-- how many wait for a slot the caller sees (the hint of a refused send)
CREATE FUNCTION {SCHEMA}.waiting_count(slot integer) RETURNS bigint LANGUAGE sql STABLE
    {_PINNED} AS $$
    SELECT count(*) FROM STORE.requests r WHERE r.slot_id = slot AND r.status = 'waiting'
    AND {SCHEMA}.sees_slot(slot)
$$;
-- enrolment counts of the courses the caller sees (course list, course show)
CREATE FUNCTION {SCHEMA}.enrolled_counts(course_ids integer[])
    RETURNS TABLE (course_id integer, enrolled bigint) LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT e.course_id, count(*) FROM STORE.enrollments e
    WHERE e.course_id = ANY (course_ids)
      AND ({SCHEMA}.manages_course(e.course_id)
           OR e.course_id IN (SELECT {SCHEMA}.my_enrolments()))
    GROUP BY e.course_id
$$;
-- whether a course code is taken (course add's refusal), for those who may add courses
CREATE FUNCTION {SCHEMA}.code_taken(code text) RETURNS boolean LANGUAGE sql STABLE
    {_PINNED} AS $$
    SELECT EXISTS (SELECT 1 FROM STORE.courses c WHERE c.code = code_taken.code)
    WHERE {SCHEMA}.my_role() IN ('admin', 'educator')
$$;
"""

# -- login roles ------------------------------------------------------------------------------------

_LOGINS = f"""
-- the right to make or move ``who``'s login into ``role``'s group: the store's owner (its
-- conversion), an admin, or an educator registering a student (course enroll --from-csv);
-- always for a user of this store of that role (the change that causes it)
CREATE FUNCTION {SCHEMA}.may_make_login(who text, wanted text) RETURNS boolean
    LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT EXISTS (SELECT 1 FROM STORE.users u WHERE u.name = who AND u.role = wanted)
       AND (EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = session_user AND r.rolsuper)
            OR pg_has_role(session_user, (SELECT c.relowner FROM pg_class c
                                          WHERE c.oid = 'STORE.users'::regclass), 'MEMBER')
            OR {SCHEMA}.my_role() = 'admin'
            OR ({SCHEMA}.my_role() = 'educator' AND wanted = 'student'
                AND (NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who)
                     OR NOT EXISTS (SELECT 1 FROM pg_auth_members m
                                    JOIN pg_roles g ON g.oid = m.roleid
                                    JOIN pg_roles u ON u.oid = m.member
                                    WHERE u.rolname = who AND g.rolname IN
                                    ('{GROUPS["admin"]}', '{GROUPS["educator"]}')))))
$$;

-- make ``who``'s login role (LOGIN, no password: authentication is the DBA's choice) in the
-- group of ``role``, or move an existing sessionctl login there. A name that is a role but not
-- a sessionctl login (a superuser, the DBA's own, a group) is refused, unless ``adopt`` (the
-- conversion, run by the owner) finds an ordinary login role. Returns created, moved or kept.
CREATE FUNCTION {SCHEMA}.login_role(who text, wanted text, adopt boolean DEFAULT false)
    RETURNS text LANGUAGE plpgsql VOLATILE {_PINNED} AS $$
DECLARE
    target text := 'sessionctl_' || wanted;
    existing pg_roles%ROWTYPE;
    other text;
    owner_ boolean;
BEGIN
    IF who IS NULL OR octet_length(who) > 63 OR who = '' THEN
        RAISE EXCEPTION 'the user name % is longer than a database role name can be (63 bytes)',
            who USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF wanted IS NULL OR wanted NOT IN ('admin', 'educator', 'student') THEN
        RAISE EXCEPTION 'unknown role %', wanted USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT {SCHEMA}.may_make_login(who, wanted) THEN
        RAISE EXCEPTION 'you may not make % a % login', who, wanted
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO existing FROM pg_roles WHERE rolname = who;
    IF NOT FOUND THEN
        EXECUTE format('CREATE ROLE %I LOGIN INHERIT IN ROLE %I', who, target);
        RETURN 'created';
    END IF;
    owner_ := {SCHEMA}.my_role() IS NULL;  -- may_make_login let in the owner or a superuser
    IF NOT {SCHEMA}.is_login(who) AND NOT (adopt AND owner_ AND existing.rolcanlogin
            AND NOT (existing.rolsuper OR existing.rolcreaterole OR existing.rolcreatedb
                     OR existing.rolreplication OR existing.rolbypassrls)
            AND who NOT LIKE 'sessionctl\\_%' AND who NOT LIKE 'pg\\_%'
            AND NOT EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = existing.oid)) THEN
        RAISE EXCEPTION 'a database role named % exists and is not a sessionctl login', who
            USING ERRCODE = 'duplicate_object';
    END IF;
    FOR other IN SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                 WHERE m.member = existing.oid AND g.rolname IN
                 ('{GROUPS["admin"]}', '{GROUPS["educator"]}', '{GROUPS["student"]}')
                 AND g.rolname <> target LOOP
        EXECUTE format('REVOKE %I FROM %I', other, who);
    END LOOP;
    IF pg_has_role(who, target, 'MEMBER') AND EXISTS (
            SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
            WHERE m.member = existing.oid AND g.rolname = target) THEN
        RETURN 'kept';
    END IF;
    EXECUTE format('GRANT %I TO %I', target, who);
    RETURN 'moved';
END $$;
"""

# -- privileges and policies -----------------------------------------------------------------------

_EVERYONE = ", ".join(GROUPS.values())
_STAFF = f"{GROUPS['admin']}, {GROUPS['educator']}"
_ME = f"(SELECT {SCHEMA}.me())"
_ROLE = f"(SELECT {SCHEMA}.my_role())"
_ADMIN = f"{_ROLE} = 'admin'"
_MY_SLOTS = f"(SELECT {SCHEMA}.my_slots())"
_TEACHES = f"{_ADMIN} OR educator_id = {_ME}"  # a course's or slot's own educator, or an admin

# (table, privileges, to whom): a column list in the privilege limits it to those columns
_GRANTS = [
    ("users", "SELECT", _EVERYONE),
    ("users", "INSERT (name, role, display, email, tz, created_at)", _STAFF),
    ("users", "UPDATE (display, email, tz)", _EVERYONE),
    ("users", "UPDATE (role)", GROUPS["admin"]),
    ("courses", "SELECT", _EVERYONE),
    ("courses", "INSERT (code, title, educator_id, created_at, min_notice, cancel_notice, "
                "horizon, max_active, auto_approve)", _STAFF),
    ("courses", "UPDATE (title, min_notice, cancel_notice, horizon, max_active, auto_approve)",
     _STAFF),
    ("enrollments", "SELECT", _EVERYONE),
    ("enrollments", "INSERT (course_id, student_id, created_at), DELETE", _STAFF),
    ("slots", "SELECT", _EVERYONE),
    ("slots", "INSERT (course_id, educator_id, starts_at, ends_at, capacity, booked, notes, link, "
              "created_at, updated_at), DELETE", _STAFF),
    ("slots", "UPDATE (starts_at, ends_at, capacity, notes, link, cancelled_at, updated_at)",
     _STAFF),
    ("requests", "SELECT", _EVERYONE),
    ("requests", "INSERT (slot_id, student_id, status, message, link, notes, created_at, "
                 "updated_at, waitlist, replaces_id)", _EVERYONE),
    ("requests", "UPDATE (status, reason, updated_at, replaced_by_id, rating, rating_comment, "
                 "rated_at)", _EVERYONE),
    ("requests", "UPDATE (link, notes, attendance, starts_at, ends_at)", _STAFF),
    ("history", "SELECT, INSERT (request_id, at, actor_id, from_status, to_status, note)",
     _EVERYONE),
    ("notifications", "SELECT, INSERT (user_id, kind, request_id, slot_id, text, created_at, "
                      "mail_state), UPDATE (read_at)", _EVERYONE),
    ("notifications", "UPDATE (mail_state, sent_at)", GROUPS["admin"]),
    ("store_info", "SELECT", _EVERYONE),
    ("schema_migrations", "SELECT", _EVERYONE),
    ("leases", "SELECT, INSERT, UPDATE, DELETE", GROUPS["admin"]),
    # the definer functions' own reads and writes (its policies let it see every row)
    *((table, "SELECT", DEFINER) for table in TABLES),
    ("requests", "UPDATE", DEFINER),
    ("slots", "UPDATE (booked)", DEFINER),
    ("history", "INSERT", DEFINER),
    ("notifications", "INSERT", DEFINER),
]

# (table, name, command, to whom, USING, WITH CHECK)
_POLICIES = [
    ("users", "read", "SELECT", _EVERYONE,
     f"{_ROLE} IN ('admin', 'educator') OR id IN (SELECT {SCHEMA}.my_people())", None),
    ("users", "add", "INSERT", _STAFF, None,
     f"({_ADMIN} OR ({_ROLE} = 'educator' AND role = 'student')) AND {SCHEMA}.name_is_free(name)"),
    ("users", "change", "UPDATE", _EVERYONE, f"id = {_ME} OR {_ADMIN}", f"id = {_ME} OR {_ADMIN}"),
    ("courses", "read", "SELECT", _EVERYONE,
     f"{_TEACHES} OR id IN (SELECT {SCHEMA}.my_enrolments())", None),
    ("courses", "add", "INSERT", _STAFF, None,
     f"({_ADMIN} AND {SCHEMA}.role_of(educator_id) = 'educator') "
     f"OR ({_ROLE} = 'educator' AND educator_id = {_ME})"),
    ("courses", "change", "UPDATE", _STAFF, _TEACHES, _TEACHES),
    ("enrollments", "read", "SELECT", _EVERYONE,
     f"{_ADMIN} OR student_id = {_ME} OR course_id IN (SELECT {SCHEMA}.my_courses())", None),
    ("enrollments", "add", "INSERT", _STAFF, None,
     f"{SCHEMA}.manages_course(course_id) AND {SCHEMA}.role_of(student_id) = 'student'"),
    ("enrollments", "remove", "DELETE", _STAFF, f"{SCHEMA}.manages_course(course_id)", None),
    ("slots", "read", "SELECT", _EVERYONE,
     f"{_TEACHES} OR course_id IN (SELECT {SCHEMA}.my_enrolments())", None),
    ("slots", "add", "INSERT", _STAFF, None,
     f"{SCHEMA}.manages_course(course_id) AND booked = 0 AND cancelled_at IS NULL "
     f"AND educator_id = ({SCHEMA}.course_row(course_id)).educator_id"),
    ("slots", "change", "UPDATE", _STAFF, _TEACHES, _TEACHES),
    ("slots", "remove", "DELETE", _STAFF, _TEACHES, None),
    ("requests", "read", "SELECT", _EVERYONE,
     f"{_ADMIN} OR student_id = {_ME} OR slot_id IN {_MY_SLOTS}", None),
    ("requests", "add", "INSERT", _EVERYONE, None,
     f"{SCHEMA}.may_request(slot_id, student_id, status, waitlist, replaces_id, link, notes)"),
    ("requests", "change", "UPDATE", _EVERYONE,
     f"{_ADMIN} OR student_id = {_ME} OR slot_id IN {_MY_SLOTS}",
     f"{_ADMIN} OR student_id = {_ME} OR slot_id IN {_MY_SLOTS}"),
    ("history", "read", "SELECT", _EVERYONE, f"{SCHEMA}.sees_request(request_id)", None),
    ("history", "add", "INSERT", _EVERYONE, None,
     f"{SCHEMA}.may_record(request_id, actor_id, to_status)"),
    ("notifications", "read", "SELECT", _EVERYONE, f"user_id = {_ME} OR {_ADMIN}", None),
    ("notifications", "add", "INSERT", _EVERYONE, None,
     f"(user_id = {_ME} OR {_ADMIN} OR {SCHEMA}.may_notify(user_id, request_id, slot_id)) "
     "AND mail_state = 'queued'"),
    ("notifications", "change", "UPDATE", _EVERYONE, f"user_id = {_ME} OR {_ADMIN}",
     f"user_id = {_ME} OR {_ADMIN}"),
    ("store_info", "read", "SELECT", _EVERYONE, "true", None),
    ("schema_migrations", "read", "SELECT", _EVERYONE, "true", None),
    ("leases", "admin", "ALL", GROUPS["admin"], _ADMIN, _ADMIN),
    *((table, "definer", "ALL", DEFINER, "true", "true") for table in TABLES),
]

_INVOKER = ("history_stamp", "request_guard", "slot_guard", "user_guard", "is_owner")


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
    *(f"DROP TRIGGER IF EXISTS {name} ON STORE.{table}" for table, name, _, _ in _TRIGGER_BINDINGS),
    f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE",
    _all_tables(f"REVOKE ALL ON STORE.%I FROM PUBLIC, {_EVERYONE}, {DEFINER}, {ROLEMAKER}"),
    f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA STORE_SCHEMA FROM PUBLIC, {_EVERYONE}, {DEFINER}",
]


def _statements_before_logins() -> list[str]:
    return [
        *_UNGUARDED,
        f"CREATE SCHEMA {SCHEMA}",
        f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {_EVERYONE}, {DEFINER}, {ROLEMAKER}",
        f"GRANT CREATE ON SCHEMA {SCHEMA} TO {DEFINER}, {ROLEMAKER}",  # to own functions there
        f"GRANT USAGE ON SCHEMA STORE_SCHEMA TO {_EVERYONE}, {DEFINER}",
        "REVOKE CREATE ON SCHEMA STORE_SCHEMA FROM PUBLIC",
        "ALTER TABLE STORE.history ADD COLUMN IF NOT EXISTS recorded_by TEXT",
        "ALTER TABLE STORE.history ADD COLUMN IF NOT EXISTS recorded_in BIGINT",
        *_texts(_HELPERS), *_texts(_CHECKS), *_texts(_TRIGGERS), *_texts(_ON_BEHALF),
        *_texts(_READS), *_texts(_LOGINS),
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
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO {_EVERYONE}, {DEFINER}', f.sig);
        IF f.proname IN ('me', 'my_role', 'may_make_login', 'is_login') THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO {ROLEMAKER}', f.sig);
        END IF;
    END LOOP;
END $$""",
        f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM {DEFINER}, {ROLEMAKER}",
        *(f"CREATE TRIGGER {name} {when} ON STORE.{table} FOR EACH ROW "
          f"EXECUTE FUNCTION {SCHEMA}.{function}()"
          for table, name, when, function in _TRIGGER_BINDINGS),
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


def _for(schema: str, statement: str) -> str:
    quoted = '"' + schema.replace('"', '""') + '"'
    return (statement.replace("STORE_NAME", schema.replace("'", "''"))
            .replace("STORE_SCHEMA", quoted).replace("STORE.", quoted + "."))


# -- applying it --------------------------------------------------------------------------------------


def enable(store, admin: str) -> dict[str, list[str]]:
    """Turn ``store`` (PostgreSQL, at the latest schema) into a database-mode store, in one
    transaction that holds the store's write lock, and give every user a login role. ``admin``
    must be a registered admin: the first one who logs in with their own role. The caller must
    be a superuser, or own the store's tables and hold CREATEROLE.

    Returns the users by what happened to their login (``created``, ``moved``, ``kept``) and
    those left without one (``skipped``: a name that is a database role but no sessionctl login,
    or longer than a role name can be), each as ``name (why)``."""
    if store.dialect != "postgresql":
        raise UsageError("the database mode needs a PostgreSQL store")
    done: dict[str, list[str]] = {"created": [], "moved": [], "kept": [], "skipped": []}
    with store.write():
        run = _runner(store)
        found = run("SELECT role FROM STORE.users WHERE name = %s", (admin,)).fetchone()
        if found is None:
            raise NotFound(f"no user named {admin!r}",
                           hint=f"register them first: sessionctl user add {admin} --role admin")
        if found[0] != "admin":
            raise Conflict(f"{admin} is {found[0]!r}, not an admin")
        superuser = run("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        for statement in (_ROLES, _rolemaker_admin()):
            run(statement)
        if not superuser:  # to hand the functions to their owners (PostgreSQL wants membership)
            run(f"GRANT {DEFINER}, {ROLEMAKER} TO CURRENT_USER")
        for statement in _statements_before_logins():
            run(statement)
        users = run("SELECT name, role FROM STORE.users ORDER BY id").fetchall()
        for name, role in users:
            outcome = _login(store, run, name, role)
            if outcome[0] == "skipped" and name == admin:
                raise Conflict(f"{admin} cannot be given a login: {outcome[1]}")
            done[outcome[0]].append(name if outcome[0] != "skipped" else f"{name} ({outcome[1]})")
        for statement in _statements_after_logins():
            run(statement)
        run(_memberships_cleared())
    return done


def _login(store, run, name: str, role: str) -> tuple[str, str | None]:
    import peewee as pw

    try:
        with store.db.atomic():  # a savepoint: a refused name leaves the rest intact
            return run(f"SELECT {SCHEMA}.login_role(%s, %s, true)", (name, role)).fetchone()[0], None
    except pw.DatabaseError as exc:
        return "skipped", str(getattr(exc, "orig", exc)).strip().splitlines()[0]


def disable(store) -> None:
    """Turn a database-mode store back (``init --identity login|sudo``): no policies, no
    definer functions, no group privileges, no idle timeout; the tables are their owner's
    alone again. The login and group roles stay (they are the cluster's, and may serve another
    store); history keeps who recorded each row."""
    if store.dialect != "postgresql":
        raise UsageError("the database mode needs a PostgreSQL store")
    with store.write():
        run = _runner(store)
        for statement in _UNGUARDED:
            run(statement)
        run("""
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET idle_in_transaction_session_timeout',
                   current_database());
END $$""")


def _runner(store):
    schema = store.db.execute_sql("SELECT current_schema()").fetchone()[0]
    if schema is None:
        raise Unavailable("the store's connection has no schema to work in")

    def run(statement: str, params=None):
        text = _for(schema, statement)  # the driver reads % as a placeholder, even with no values
        return store.db.execute_sql(text if params else text.replace("%", "%%"), params)

    return run

