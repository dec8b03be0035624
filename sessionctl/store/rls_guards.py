"""The database mode's SQL, part one: the roles, who is asking, the checks the policies call, and
the guards (triggers) on what people write themselves (docs/database-mode.md). ``rls.py``
applies it; ``rls_behalf.py`` holds what the CLI does on others' behalf.

Every text names the store's schema as ``STORE`` (``rls._for`` puts the real one in).
"""

from __future__ import annotations

GROUPS = {"admin": "sessionctl_admin", "educator": "sessionctl_educator",
          "student": "sessionctl_student"}
DEFINER = "sessionctl_definer"  # owns the definer functions: NOLOGIN, no members
ROLEMAKER = "sessionctl_rolemaker"  # owns login_role: NOLOGIN CREATEROLE, nothing else
SCHEMA = "sessionctl"  # the functions' schema (the tables stay in the store's own)
IDLE_TIMEOUT = "30s"  # idle_in_transaction_session_timeout of the store's database

PINNED = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
# the server's clock as the store's naive UTC instants: the statement's time, never the
# transaction's start (now()), which a transaction held open would move into the past
NOW = "(date_trunc('second', statement_timestamp() AT TIME ZONE 'UTC'))"
CHANGES_TABLE = f"{SCHEMA}.changes"  # the requests changed in each transaction (journal())
# who a guard lets by as it is: the definer functions (their own checks are done) and the owner
_TRUSTED = f"current_user = '{DEFINER}' OR {SCHEMA}.is_owner()"

# -- roles ---------------------------------------------------------------------------------------

ROLES = f"""
DO $$
DECLARE
    name text;
    r pg_catalog.pg_roles%ROWTYPE;
    maker boolean;
BEGIN
    FOREACH name IN ARRAY ARRAY['{GROUPS["admin"]}', '{GROUPS["educator"]}',
                                '{GROUPS["student"]}', '{DEFINER}', '{ROLEMAKER}'] LOOP
        maker := name = '{ROLEMAKER}';
        SELECT * INTO r FROM pg_catalog.pg_roles WHERE rolname = name;
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


def memberships_cleared() -> str:
    """Nobody may become the definer or the rolemaker, and they belong to no role (the
    rolemaker's admin option on the groups, PostgreSQL 16 on, is made without INHERIT or SET)."""
    return f"""
DO $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT r.rolname AS role, u.rolname AS member FROM pg_catalog.pg_auth_members a
             JOIN pg_catalog.pg_roles r ON r.oid = a.roleid
             JOIN pg_catalog.pg_roles u ON u.oid = a.member
             WHERE (r.rolname IN ('{DEFINER}', '{ROLEMAKER}')
                    OR u.rolname IN ('{DEFINER}', '{ROLEMAKER}'))
               AND NOT (u.rolname = '{ROLEMAKER}' AND r.rolname LIKE 'sessionctl\\_%'
                        AND current_setting('server_version_num')::int >= 160000)
    LOOP
        EXECUTE format('REVOKE %I FROM %I', m.role, m.member);
    END LOOP;
END $$"""


def rolemaker_admin() -> str:
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

HELPERS = f"""
CREATE FUNCTION {SCHEMA}.me() RETURNS integer LANGUAGE sql STABLE {PINNED} AS $$
    SELECT u.id FROM STORE.users u
    WHERE u.name = session_user::text
      AND u.role IN ('admin', 'educator', 'student')
      AND pg_catalog.pg_has_role(session_user, 'sessionctl_' || u.role, 'MEMBER')
$$;
CREATE FUNCTION {SCHEMA}.my_role() RETURNS text LANGUAGE sql STABLE {PINNED} AS $$
    SELECT u.role::text FROM STORE.users u WHERE u.id = {SCHEMA}.me()
$$;
-- the ids a person's rows hang on, each read once per statement (a hashed subplan)
CREATE FUNCTION {SCHEMA}.my_courses() RETURNS SETOF integer LANGUAGE sql STABLE {PINNED} AS $$
    SELECT c.id FROM STORE.courses c WHERE c.educator_id = {SCHEMA}.me()
$$;
CREATE FUNCTION {SCHEMA}.my_slots() RETURNS SETOF integer LANGUAGE sql STABLE {PINNED} AS $$
    SELECT s.id FROM STORE.slots s WHERE s.educator_id = {SCHEMA}.me()
$$;
CREATE FUNCTION {SCHEMA}.my_enrolments() RETURNS SETOF integer LANGUAGE sql STABLE {PINNED} AS $$
    SELECT e.course_id FROM STORE.enrollments e WHERE e.student_id = {SCHEMA}.me()
$$;
-- the people a student may read: themselves, the educators of their courses, and whoever
-- acted on their requests (an admin who approved one: request show names them)
CREATE FUNCTION {SCHEMA}.my_people() RETURNS SETOF integer LANGUAGE sql STABLE {PINNED} AS $$
    SELECT {SCHEMA}.me()
    UNION SELECT c.educator_id FROM STORE.courses c
          JOIN STORE.enrollments e ON e.course_id = c.id WHERE e.student_id = {SCHEMA}.me()
    UNION SELECT h.actor_id FROM STORE.history h JOIN STORE.requests r ON r.id = h.request_id
          WHERE r.student_id = {SCHEMA}.me() AND h.actor_id IS NOT NULL
$$;
-- the role of a user the caller may read (the users policy: staff read everyone)
CREATE FUNCTION {SCHEMA}.role_of(who integer) RETURNS text LANGUAGE sql STABLE {PINNED} AS $$
    SELECT u.role::text FROM STORE.users u WHERE u.id = who
    AND ({SCHEMA}.my_role() IN ('admin', 'educator') OR who IN (SELECT {SCHEMA}.my_people()))
$$;
CREATE FUNCTION {SCHEMA}.manages_course(course integer) RETURNS boolean LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT {SCHEMA}.my_role() = 'admin' OR EXISTS (
        SELECT 1 FROM STORE.courses c WHERE c.id = course AND c.educator_id = {SCHEMA}.me())
$$;
CREATE FUNCTION {SCHEMA}.manages_slot(slot integer) RETURNS boolean LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT {SCHEMA}.my_role() = 'admin' OR EXISTS (
        SELECT 1 FROM STORE.slots s WHERE s.id = slot AND s.educator_id = {SCHEMA}.me())
$$;
CREATE FUNCTION {SCHEMA}.sees_slot(slot integer) RETURNS boolean LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT {SCHEMA}.manages_slot(slot) OR EXISTS (
        SELECT 1 FROM STORE.slots s JOIN STORE.enrollments e ON e.course_id = s.course_id
        WHERE s.id = slot AND e.student_id = {SCHEMA}.me())
$$;
CREATE FUNCTION {SCHEMA}.sees_request(request integer) RETURNS boolean LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT {SCHEMA}.my_role() = 'admin' OR EXISTS (
        SELECT 1 FROM STORE.requests r JOIN STORE.slots s ON s.id = r.slot_id
        WHERE r.id = request AND {SCHEMA}.me() IN (r.student_id, s.educator_id))
$$;
-- a history row written in this very transaction by this very login: what makes a change
-- someone else is told about (or a seat freed for the waitlist) the caller's own doing
CREATE FUNCTION {SCHEMA}.changed_now(request integer) RETURNS boolean LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT EXISTS (SELECT 1 FROM STORE.history h WHERE h.request_id = request
                   AND h.recorded_in = txid_current() AND h.recorded_by = session_user::text)
$$;
"""

# -- checks the policies call ---------------------------------------------------------------------

CHECKS = f"""
-- INSERT INTO requests: a student's own request (a send, a move of their own), or a move made
-- by the slot's educator (or an admin) for a student of the course; every rule of
-- 'request send' and 'request move' that the row alone can show
CREATE FUNCTION {SCHEMA}.may_request(slot integer, student integer, wanted text,
                                     opted integer, replaces integer, given_link text,
                                     given_notes text)
    RETURNS boolean LANGUAGE plpgsql STABLE {PINNED} AS $$
DECLARE
    me integer := {SCHEMA}.me();
    role text := {SCHEMA}.my_role();
    s STORE.slots%ROWTYPE;
    c STORE.courses%ROWTYPE;
    old STORE.requests%ROWTYPE;
    now_ timestamp := {NOW};
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

-- INSERT INTO history: a row about a request the caller may see, telling its current state,
-- in the caller's own name (the system's rows are system_change's); trigger history_stamp
-- holds it to a change the caller made in this transaction
CREATE FUNCTION {SCHEMA}.may_record(request integer, actor integer, state text)
    RETURNS boolean LANGUAGE sql STABLE {PINNED} AS $$
    SELECT EXISTS (
        SELECT 1 FROM STORE.requests r
        WHERE r.id = request AND r.status = state AND actor = {SCHEMA}.me()
          AND {SCHEMA}.sees_request(r.id))
$$;

-- INSERT INTO notifications for someone else: a party of the request (its student, its slot's
-- educator), told by an admin, by the slot's educator, or by the student who changed their
-- own request in this transaction (a send, cancel, move or rating tells the educator; trigger
-- notifications_guard holds it to once per recipient and change)
CREATE FUNCTION {SCHEMA}.may_notify(recipient integer, request integer, slot integer)
    RETURNS boolean LANGUAGE sql STABLE {PINNED} AS $$
    SELECT EXISTS (
        SELECT 1 FROM STORE.requests r JOIN STORE.slots s ON s.id = r.slot_id
        WHERE r.id = request AND (slot IS NULL OR slot = s.id)
          AND recipient IN (r.student_id, s.educator_id)
          AND ({SCHEMA}.manages_slot(s.id)
               OR ({SCHEMA}.me() = r.student_id AND {SCHEMA}.changed_now(r.id))))
$$;

-- a sessionctl login: an ordinary login role in one of the three groups
CREATE FUNCTION {SCHEMA}.is_login(who text) RETURNS boolean LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = who AND r.rolcanlogin
          AND NOT (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication
                   OR r.rolbypassrls)
          AND who NOT LIKE 'sessionctl\\_%' AND who NOT LIKE 'pg\\_%'
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                      JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                      WHERE m.member = r.oid AND g.rolname IN
                      ('{GROUPS["admin"]}', '{GROUPS["educator"]}', '{GROUPS["student"]}')))
$$;
-- INSERT INTO users by an educator (course enroll --from-csv) or an admin: never a name that
-- is a database role other than a sessionctl login (docs/database-mode.md)
-- (refused as a name that is taken, SQLSTATE 42710: exit 5, as login_role refuses it)
CREATE FUNCTION {SCHEMA}.name_is_free(who text) RETURNS boolean LANGUAGE plpgsql STABLE
    {PINNED} AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = who)
       AND NOT {SCHEMA}.is_login(who) THEN
        RAISE EXCEPTION 'a database role named % exists and is not a sessionctl login', who
            USING ERRCODE = 'duplicate_object';
    END IF;
    RETURN true;
END $$;
"""

# -- triggers -------------------------------------------------------------------------------------

def _utc(instant: str) -> str:
    """A naive UTC instant as format_utc writes it (2027-02-08T09:00:00Z)."""
    return f"""to_char({instant}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


# a change in the journal of request ``request`` by this login in this transaction
_MINE_NOW = ("c.tx = txid_current() AND c.login = session_user::text "
             "AND c.request_id = request")

TRIGGERS = f"""
-- the changes of requests made in each transaction, by whom (CHANGES_TABLE): what a history
-- row records and what the other party is told of. A change is a new request, a new status,
-- or new details (rating, attendance, link, notes): from = to. The login's rows of ended
-- transactions go as it makes the next.
CREATE FUNCTION {SCHEMA}.journal() RETURNS trigger LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status
       AND (NEW.rating, NEW.rating_comment, NEW.rated_at, NEW.attendance, NEW.link, NEW.notes)
           IS NOT DISTINCT FROM
           (OLD.rating, OLD.rating_comment, OLD.rated_at, OLD.attendance, OLD.link, OLD.notes) THEN
        RETURN NULL;
    END IF;
    DELETE FROM {CHANGES_TABLE} c WHERE c.login = session_user::text AND c.tx <> txid_current()
        AND coalesce(txid_status(c.tx), 'old') <> 'in progress';
    INSERT INTO {CHANGES_TABLE} (tx, login, request_id, from_status, to_status)
    VALUES (txid_current(), session_user::text, NEW.id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status);
    RETURN NULL;
END $$;

-- a change of a slot a booking follows (its time, link or notes) is a change of each of its
-- requests (from = to): what its educator's history rows about them record
CREATE FUNCTION {SCHEMA}.slot_journal() RETURNS trigger LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF (NEW.starts_at, NEW.ends_at, NEW.link, NEW.notes)
            IS NOT DISTINCT FROM (OLD.starts_at, OLD.ends_at, OLD.link, OLD.notes) THEN
        RETURN NULL;
    END IF;
    INSERT INTO {CHANGES_TABLE} (tx, login, request_id, from_status, to_status)
    SELECT txid_current(), session_user::text, r.id, r.status, r.status
    FROM STORE.requests r WHERE r.slot_id = NEW.id;
    RETURN NULL;
END $$;

-- a history row takes one change of the request by this login in this transaction, from
-- exactly its old status to its new one (``person``: by a person, not system_change)
CREATE FUNCTION {SCHEMA}.recorded(request integer, was text, became text, person boolean)
    RETURNS boolean LANGUAGE sql VOLATILE {PINNED} AS $$
    WITH taken AS (UPDATE {CHANGES_TABLE} SET by_person = person WHERE id = (
        SELECT c.id FROM {CHANGES_TABLE} c WHERE {_MINE_NOW}
          AND c.from_status IS NOT DISTINCT FROM was AND c.to_status = became
          AND c.by_person IS NULL ORDER BY c.id LIMIT 1) RETURNING id)
    SELECT EXISTS (SELECT 1 FROM taken)
$$;

-- a notification to someone else by a student: once per recipient for each change of theirs
-- recorded in this transaction
CREATE FUNCTION {SCHEMA}.told(request integer, recipient integer)
    RETURNS boolean LANGUAGE sql VOLATILE {PINNED} AS $$
    WITH taken AS (UPDATE {CHANGES_TABLE} SET told = told || recipient WHERE id = (
        SELECT c.id FROM {CHANGES_TABLE} c WHERE {_MINE_NOW}
          AND c.by_person AND NOT (recipient = ANY (c.told)) ORDER BY c.id LIMIT 1) RETURNING id)
    SELECT EXISTS (SELECT 1 FROM taken)
$$;

-- a history row: who wrote it and in which transaction (the connected login, whoever writes
-- it), the server's time, and one change of the request made in this transaction (a change of
-- the slot a booking follows is one too: slot_journal, from = to = its status)
CREATE FUNCTION {SCHEMA}.history_stamp() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    system boolean := current_user = '{DEFINER}';
BEGIN
    NEW.recorded_by := session_user::text;
    NEW.recorded_in := txid_current();
    IF {SCHEMA}.is_owner() THEN
        RETURN NEW;
    END IF;
    NEW.at := {NOW};
    IF NOT {SCHEMA}.recorded(NEW.request_id, NEW.from_status, NEW.to_status, NOT system) THEN
        RAISE EXCEPTION 'history records a change of request % made in this transaction, once '
            '(none from % to %)', NEW.request_id, coalesce(NEW.from_status, 'nothing'),
            NEW.to_status USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

-- a notification for someone else: by an admin, the slot's educator, or the system; a
-- student's only of a change of theirs in this transaction (told), at the server's time. What
-- its e-mail carries (mail_data: context.notify freezes the thread and the iTIP invitation) is
-- the server's for anyone but an admin: the thread from the rows (mail_thread), and the
-- invitation built by `notify send` from the rows when it mails it, never one the writer made
CREATE FUNCTION {SCHEMA}.notification_guard() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF {_TRUSTED} THEN
        RETURN NEW;
    END IF;
    NEW.created_at := {NOW};
    IF {SCHEMA}.my_role() IS DISTINCT FROM 'admin' THEN  -- never the writer's invitation
        NEW.mail_data := {SCHEMA}.mail_thread(NEW.user_id, NEW.request_id);
    END IF;
    IF NEW.user_id IS NOT DISTINCT FROM {SCHEMA}.me() OR {SCHEMA}.my_role() = 'admin'
       OR {SCHEMA}.manages_slot(
              (SELECT r.slot_id FROM STORE.requests r WHERE r.id = NEW.request_id))
       OR {SCHEMA}.told(NEW.request_id, NEW.user_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a notification for someone else tells them of a change you made to '
        'request % in this transaction, once', NEW.request_id
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- an event for the hooks by someone other than an admin: one per kind for each change of the
-- request this login made in this transaction (the journal), or by the slot's educator a
-- "changed" or "moved" (a booking follows its slot's link and time: as history_stamp) or a
-- "reminder" (remind); what it says, its time and its booking are the server's (event_of),
-- never the writer's
CREATE FUNCTION {SCHEMA}.event_guard() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF {_TRUSTED} OR {SCHEMA}.my_role() = 'admin' THEN
        RETURN NEW;
    END IF;
    NEW.at := {NOW};
    SELECT e.payload, e.booking INTO NEW.payload, NEW.booking
    FROM {SCHEMA}.event_of(NEW.kind, NEW.request_id) e;
    RETURN NEW;
END $$;
CREATE FUNCTION {SCHEMA}.event_of(kind text, request integer)
    RETURNS TABLE (payload text, booking integer) LANGUAGE plpgsql VOLATILE {PINNED} AS $$
BEGIN
    UPDATE {CHANGES_TABLE} c SET evented = c.evented || kind WHERE c.id = (
        SELECT c.id FROM {CHANGES_TABLE} c WHERE {_MINE_NOW} AND NOT (kind = ANY (c.evented))
          AND CASE kind  -- the changes domain/events.py names so
              WHEN 'requested' THEN c.from_status IS NULL AND c.to_status = 'pending'
              -- a move: a request that replaces another (sent, or approved), or its slot moved
              WHEN 'moved' THEN c.from_status = c.to_status OR (
                  (c.from_status IS NULL OR (c.from_status = 'pending' AND c.to_status = 'approved'))
                  AND (SELECT r.replaces_id FROM STORE.requests r WHERE r.id = request) IS NOT NULL)
              WHEN 'promoted' THEN c.from_status = 'waiting' AND c.to_status <> 'waiting'
              WHEN 'changed' THEN c.from_status = c.to_status
              WHEN 'slot-cancelled' THEN c.from_status <> 'cancelled' AND c.to_status = 'cancelled'
                  AND (SELECT s.cancelled_at FROM STORE.requests r JOIN STORE.slots s
                       ON s.id = r.slot_id WHERE r.id = request) IS NOT NULL
              WHEN 'waitlisted' THEN c.from_status IS DISTINCT FROM 'waiting'
                  AND c.to_status = 'waiting'
              ELSE c.from_status IS DISTINCT FROM kind AND c.to_status = kind END
        ORDER BY c.id LIMIT 1);
    -- a reminder changes nothing: the slot's educator sends one of an approved session
    IF NOT FOUND AND NOT (kind = 'reminder' AND EXISTS (
            SELECT 1 FROM STORE.requests r WHERE r.id = request AND r.status = 'approved'
            AND {SCHEMA}.manages_slot(r.slot_id)))
       OR NOT {SCHEMA}.sees_request(request) THEN
        RAISE EXCEPTION 'an event tells of a change you made to request % in this transaction, '
            'once (none that is %)', request, kind USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT {SCHEMA}.event_payload(kind, request, session_user::text, {NOW}),
                        {SCHEMA}.booking_of(request);
END $$;
-- what a hook receives (domain/events.py writes the same): the request, its course and slot
-- as they are now
CREATE FUNCTION {SCHEMA}.event_payload(kind text, request integer, actor text, at timestamp)
    RETURNS text LANGUAGE sql STABLE {PINNED} AS $$
    SELECT json_build_object(
        'event', kind, 'at', {_utc("at")}, 'actor', actor,
        'request', json_build_object(
            'id', r.id, 'slot', s.id, 'course', c.code, 'student', st.name, 'educator', ed.name,
            'status', r.status, 'message', r.message, 'reason', r.reason,
            'link', coalesce(nullif(r.link, ''),
                             CASE WHEN r.status IN ('approved', 'completed') THEN s.link END),
            'notes', r.notes, 'start', {_utc("s.starts_at")}, 'end', {_utc("s.ends_at")},
            'created', {_utc("r.created_at")}, 'updated', {_utc("r.updated_at")},
            'replaces', r.replaces_id, 'replaced_by', r.replaced_by_id,
            'waitlist_position', NULL, 'attendance', r.attendance,
            'rating', CASE WHEN r.rating IS NOT NULL THEN
                json_build_object('stars', r.rating, 'comment', r.rating_comment) END),
        'course', json_build_object('code', c.code, 'title', c.title, 'educator', ed.name),
        'slot', json_build_object(
            'id', s.id, 'course', c.code, 'educator', ed.name, 'start', {_utc("s.starts_at")},
            'end', {_utc("s.ends_at")}, 'capacity', s.capacity, 'booked', s.booked,
            'status', CASE WHEN s.cancelled_at IS NOT NULL THEN 'cancelled'
                           WHEN s.booked >= s.capacity THEN 'booked' ELSE 'available' END,
            'notes', s.notes, 'link', s.link))::text
    FROM STORE.requests r JOIN STORE.slots s ON s.id = r.slot_id
    JOIN STORE.courses c ON c.id = s.course_id JOIN STORE.users st ON st.id = r.student_id
    JOIN STORE.users ed ON ed.id = s.educator_id
    WHERE r.id = request
$$;
-- a notification's thread (context._mail_data): the first request of the booking chain and
-- the first notification to the recipient about it; the invitation is left to `notify send`
-- ("when sent": domain/mail.py builds it from the rows)
CREATE FUNCTION {SCHEMA}.mail_thread(recipient integer, request integer) RETURNS text
    LANGUAGE sql STABLE {PINNED} AS $$
    WITH RECURSIVE chain (id, replaces) AS (
        SELECT r.id, r.replaces_id FROM STORE.requests r WHERE r.id = request
        UNION ALL
        SELECT r.id, r.replaces_id FROM STORE.requests r JOIN chain ON r.id = chain.replaces)
    SELECT json_build_object(
        'chain', (SELECT chain.id FROM chain WHERE chain.replaces IS NULL),
        'root', (SELECT min(n.id) FROM STORE.notifications n
                 WHERE n.user_id = recipient AND n.request_id IN (SELECT chain.id FROM chain)),
        'invitation', 'when sent')::text
    WHERE {SCHEMA}.sees_request(request)
$$;
-- the first request of a booking's chain of moves (events.py's _booking)
CREATE FUNCTION {SCHEMA}.booking_of(request integer) RETURNS integer LANGUAGE sql STABLE
    {PINNED} AS $$
    WITH RECURSIVE chain (id, replaces) AS (
        SELECT r.id, r.replaces_id FROM STORE.requests r WHERE r.id = request
        UNION ALL
        SELECT r.id, r.replaces_id FROM STORE.requests r JOIN chain ON r.id = chain.replaces)
    SELECT chain.id FROM chain WHERE chain.replaces IS NULL
$$;

-- a slot's seats are its approved requests, counted by the database (the CHECK on slots
-- refuses an approval beyond the capacity). The slot's row is locked first: a second
-- transaction approving on it waits for the first to end, and its count (a statement of its
-- own, so a snapshot taken after the wait) then sees the first one's seat
CREATE FUNCTION {SCHEMA}.count_seats() RETURNS trigger LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    slot integer;
BEGIN
    FOR slot IN
        SELECT DISTINCT x FROM unnest(ARRAY[
            CASE WHEN TG_OP <> 'INSERT' AND OLD.status = 'approved' THEN OLD.slot_id END,
            CASE WHEN TG_OP <> 'DELETE' AND NEW.status = 'approved' THEN NEW.slot_id END]) x
        WHERE x IS NOT NULL ORDER BY x
    LOOP
        PERFORM 1 FROM STORE.slots s WHERE s.id = slot FOR NO KEY UPDATE;
        UPDATE STORE.slots SET booked = (SELECT count(*) FROM STORE.requests r
                                         WHERE r.slot_id = slot AND r.status = 'approved')
        WHERE id = slot;
    END LOOP;
    RETURN NULL;
END $$;

-- a change of a request's state, by a person (request_guard) or the system (system_change),
-- educators and admins included: the state machine, and its times by the server's clock
CREATE FUNCTION {SCHEMA}.check_change(request integer, s STORE.slots, was text, became text)
    RETURNS void LANGUAGE plpgsql STABLE {PINNED} AS $$
BEGIN
    IF NOT (was, became) IN (
            ('pending', 'approved'), ('pending', 'rejected'), ('pending', 'cancelled'),
            ('pending', 'waiting'), ('approved', 'completed'), ('approved', 'cancelled'),
            ('waiting', 'pending'), ('waiting', 'approved'), ('waiting', 'cancelled'),
            ('waiting', 'rejected')) THEN
        RAISE EXCEPTION 'request % is %; it cannot become %', request, was, became
            USING ERRCODE = 'check_violation';
    END IF;
    IF became = 'approved' AND s.starts_at <= {NOW} THEN
        RAISE EXCEPTION 'slot % has already started', s.id USING ERRCODE = 'check_violation';
    END IF;
    IF became = 'completed' AND s.ends_at > {NOW} THEN
        RAISE EXCEPTION 'session % has not ended yet', request USING ERRCODE = 'check_violation';
    END IF;
    IF was = 'approved' AND became = 'cancelled' AND s.ends_at <= {NOW} THEN
        RAISE EXCEPTION 'session % has ended', request USING ERRCODE = 'check_violation';
    END IF;
END $$;

-- what a person may change of a request (the definer's own changes are checked by it)
CREATE FUNCTION {SCHEMA}.request_guard() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s STORE.slots%ROWTYPE;
    c STORE.courses%ROWTYPE;
    now_ timestamp := {NOW};
    manager boolean;
    own boolean;
BEGIN
    IF {_TRUSTED} THEN
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
        PERFORM {SCHEMA}.check_change(OLD.id, s, OLD.status, NEW.status);
        IF NOT manager AND NOT (own AND NEW.status = 'cancelled') THEN
            RAISE EXCEPTION 'only the educator of slot % or an admin can make request % %',
                s.id, OLD.id, NEW.status USING ERRCODE = 'insufficient_privilege';
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
    SELECT pg_has_role(current_user, (SELECT c.relowner FROM pg_catalog.pg_class c
                                      WHERE c.oid = 'STORE.users'::regclass), 'USAGE')
$$;
-- a slot or course the caller may see (the policies' own checks), or of a request of theirs
-- (a student no longer enrolled still cancels their own request by its slot's rules)
CREATE FUNCTION {SCHEMA}.slot_row(slot integer) RETURNS STORE.slots LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT * FROM STORE.slots s WHERE s.id = slot AND ({SCHEMA}.sees_slot(slot) OR EXISTS (
        SELECT 1 FROM STORE.requests r WHERE r.slot_id = slot AND r.student_id = {SCHEMA}.me()))
$$;
CREATE FUNCTION {SCHEMA}.course_row(course integer) RETURNS STORE.courses LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT * FROM STORE.courses c WHERE c.id = course AND ({SCHEMA}.manages_course(course)
        OR course IN (SELECT {SCHEMA}.my_enrolments()) OR EXISTS (
            SELECT 1 FROM STORE.requests r JOIN STORE.slots s ON s.id = r.slot_id
            WHERE s.course_id = course AND r.student_id = {SCHEMA}.me()))
$$;

-- what the slot's educator may change of it (seats are counted, never written by people)
CREATE FUNCTION {SCHEMA}.slot_guard() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF {_TRUSTED} THEN
        RETURN NEW;
    END IF;
    IF OLD.cancelled_at IS NOT NULL THEN
        RAISE EXCEPTION 'slot % is cancelled', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.starts_at, NEW.ends_at) IS DISTINCT FROM (OLD.starts_at, OLD.ends_at) THEN
        IF NEW.starts_at <= {NOW} OR OLD.ends_at <= {NOW} THEN
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
       AND NOT ({_TRUSTED}) THEN
        RAISE EXCEPTION 'only admins can change roles' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""

TRIGGER_BINDINGS = [
    ("history", "history_stamp", "BEFORE INSERT", "history_stamp"),
    ("notifications", "notifications_guard", "BEFORE INSERT", "notification_guard"),
    ("events", "events_guard", "BEFORE INSERT", "event_guard"),
    ("requests", "requests_journal", "AFTER INSERT OR UPDATE", "journal"),
    ("requests", "requests_seats", "AFTER INSERT OR DELETE OR UPDATE OF status, slot_id",
     "count_seats"),
    ("requests", "requests_guard", "BEFORE INSERT OR UPDATE", "request_guard"),
    ("slots", "slots_guard", "BEFORE UPDATE", "slot_guard"),
    ("slots", "slots_journal", "AFTER UPDATE OF starts_at, ends_at, link, notes", "slot_journal"),
    ("users", "users_guard", "BEFORE UPDATE", "user_guard"),
]
