"""The database mode's SQL, part two: what the CLI does on others' behalf (the system's changes,
the fill and offer rules), the reads of rows the caller may not see, and login roles
(docs/database-mode.md). ``rls.py`` applies it.
"""

from __future__ import annotations

import json

from sessionctl.statuses import EVENT_OF_KIND, EVENT_OF_STATE, EVENTS, SYSTEM_TOLD_AS
from sessionctl.store.rls_guards import CHANGES_TABLE, GROUPS, NOW, PINNED, SCHEMA

TEXTS_TABLE = f"{SCHEMA}.texts"  # the templates of domain/texts.py the functions fill in

# -- what the CLI does on others' behalf --------------------------------------------------------
# The system's changes (the fill rule, the waitlist's offer of a freed seat, auto-approve, a
# move proposal that gives way, expiry and completion) go through ``system_change``: the slot's
# educator or an admin may make any of them (they could make it in person); anyone else only
# what the rules demand as the consequence of their own change in this transaction. It writes
# the system's history row and tells the parties (texts from ``say``, worded by
# ``domain/texts.py``'s templates: the other person's zone and name never reach the caller) and
# records its event for the hooks, as the personal mode's ``transitions.record`` does.

_EVENT_OF_KIND, _EVENT_OF_STATE = json.dumps(EVENT_OF_KIND), json.dumps(EVENT_OF_STATE)
_ALL_EVENTS = "{" + ",".join(EVENTS) + "}"  # a journal row the system told of: no event left
_KINDS = ", ".join(f"('{kind}', '{to}')" for kind, to in SYSTEM_TOLD_AS)

ON_BEHALF = f"""
CREATE FUNCTION {SCHEMA}.when_for(instant timestamp, recipient integer) RETURNS text
    LANGUAGE plpgsql VOLATILE {PINNED} AS $$
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

-- the system's words: the template of domain/texts.py for this kind, the request's state and
-- the recipient's part in it (texts.templates(), kept in TEXTS_TABLE), filled in for them
CREATE FUNCTION {SCHEMA}.say(kind text, request integer, recipient integer) RETURNS text
    LANGUAGE plpgsql VOLATILE {PINNED} AS $$
DECLARE
    r STORE.requests%ROWTYPE;
    s STORE.slots%ROWTYPE;
    party text;
    pattern text;
    link text;
BEGIN
    SELECT * INTO r FROM STORE.requests WHERE id = request;
    SELECT * INTO s FROM STORE.slots WHERE id = r.slot_id;
    party := CASE WHEN recipient = r.student_id THEN 'student' ELSE 'educator' END;
    SELECT t.template INTO pattern FROM {TEXTS_TABLE} t
    WHERE t.key IN (kind || '/' || r.status || '/' || party, '*/' || r.status || '/' || party)
    ORDER BY t.key LIKE '*%' LIMIT 1;
    link := coalesce(nullif(r.link, ''), nullif(s.link, ''));
    RETURN format(pattern, r.id, s.id,
        format({SCHEMA}.piece('what'), (SELECT c.code FROM STORE.courses c WHERE c.id = s.course_id),
               {SCHEMA}.when_for(s.starts_at, recipient)),
        (SELECT coalesce(u.display, u.name) FROM STORE.users u WHERE u.id = r.student_id),
        CASE WHEN link IS NULL THEN '' ELSE format({SCHEMA}.piece('join'), link) END,
        CASE WHEN coalesce(r.reason, '') = '' THEN '' ELSE format({SCHEMA}.piece('reason'), r.reason) END,
        kind);
END $$;
CREATE FUNCTION {SCHEMA}.piece(name text) RETURNS text LANGUAGE sql STABLE {PINNED} AS $$
    SELECT t.template FROM {TEXTS_TABLE} t WHERE t.key = name
$$;

-- seats freed, and waiting requests offered one, in this transaction by this login
CREATE FUNCTION {SCHEMA}.changes_now(slot integer, was text, became text[])
    RETURNS bigint LANGUAGE sql STABLE {PINNED} AS $$
    SELECT count(*) FROM STORE.history h JOIN STORE.requests r ON r.id = h.request_id
    WHERE r.slot_id = slot AND h.recorded_in = txid_current()
      AND h.recorded_by = session_user::text
      AND h.from_status = was AND h.to_status = ANY (became)
$$;

CREATE FUNCTION {SCHEMA}.system_change(request integer, to_status text, reason text DEFAULT NULL,
                                       note text DEFAULT NULL, replaced_by integer DEFAULT NULL,
                                       kind text DEFAULT NULL,
                                       tell text[] DEFAULT ARRAY['student'])
    RETURNS void LANGUAGE plpgsql VOLATILE {PINNED} AS $$
DECLARE
    r STORE.requests%ROWTYPE;
    s STORE.slots%ROWTYPE;
    c STORE.courses%ROWTYPE;
    me integer := {SCHEMA}.me();
    now_ timestamp := {NOW};
    pending bigint;
    ok boolean := false;
    recipient integer;
    party text;
    named text;
BEGIN
    SELECT * INTO r FROM STORE.requests WHERE id = request FOR UPDATE;
    IF NOT FOUND OR me IS NULL OR NOT {SCHEMA}.sees_request(request) AND NOT
            {SCHEMA}.sees_slot(r.slot_id) THEN
        RAISE EXCEPTION 'no request %', request USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- the slot locked (count_seats): a racing approval on it waits, and its seats are read
    -- after the other's commit
    SELECT * INTO s FROM STORE.slots WHERE id = r.slot_id FOR NO KEY UPDATE;
    SELECT * INTO c FROM STORE.courses WHERE id = s.course_id;
    PERFORM {SCHEMA}.check_change(r.id, s, r.status, to_status);
    -- what the parties are told, as: the new state, or a kind the system words for it
    IF NOT (coalesce(kind, to_status) = to_status
            OR (kind, to_status) IN ({_KINDS})) THEN
        RAISE EXCEPTION 'a change to % is not told as %', to_status, kind
            USING ERRCODE = 'invalid_parameter_value';
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
    -- its event for the hooks, named as domain/events.py names it (a proposal approved in
    -- place of the booking it moves, cancelled just now, is "moved")
    named := CASE
        WHEN to_status = 'cancelled'
             AND coalesce(system_change.replaced_by, r.replaced_by_id) IS NOT NULL
            THEN NULL
        WHEN to_status = 'approved' AND EXISTS (SELECT 1 FROM {CHANGES_TABLE} x
            WHERE x.tx = txid_current() AND x.login = session_user::text
              AND x.request_id = r.replaces_id AND x.from_status = 'approved'
              AND x.to_status = 'cancelled') THEN 'moved'
        ELSE coalesce('{_EVENT_OF_KIND}'::json ->> system_change.kind,
                      '{_EVENT_OF_STATE}'::json ->> to_status) END;
    IF EXISTS (SELECT 1 FROM STORE.hooks h WHERE h.name = named) THEN
        INSERT INTO STORE.events (kind, at, request_id, booking, payload, state, attempts)
        VALUES (named, now_, r.id, {SCHEMA}.booking_of(r.id),
                {SCHEMA}.event_payload(named, r.id, NULL, now_), 'queued', 0);
    END IF;
    -- the system told of this change: the caller may not tell of it again, as theirs
    UPDATE {CHANGES_TABLE} j SET evented = '{_ALL_EVENTS}'::text[] WHERE j.id = (
        SELECT max(j2.id) FROM {CHANGES_TABLE} j2 WHERE j2.request_id = r.id
        AND j2.tx = txid_current() AND j2.login = session_user::text);
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
    {PINNED} AS $$
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
    LANGUAGE plpgsql VOLATILE {PINNED} AS $$
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
    IF s.cancelled_at IS NOT NULL OR s.starts_at <= {NOW} THEN
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

READS = f"""
-- a student's approved session overlapping [starts, ends), but for request ``besides``
CREATE FUNCTION {SCHEMA}.clashes(student integer, starts timestamp, ends timestamp,
                                 besides integer)
    RETURNS TABLE (request_id integer, slot_id integer) LANGUAGE sql STABLE {PINNED} AS $$
    SELECT r.id, r.slot_id FROM STORE.requests r
    WHERE r.student_id = student AND r.status = 'approved' AND r.starts_at < ends
      AND r.ends_at > starts AND r.id <> besides
    ORDER BY r.id LIMIT 1
$$;
-- the same for the domain (requests.overlapping_session): the student themself, an admin, or
-- an educator of a course the student is enrolled in
CREATE FUNCTION {SCHEMA}.clash(student integer, starts timestamp, ends timestamp,
                               besides integer DEFAULT 0)
    RETURNS TABLE (request_id integer, slot_id integer) LANGUAGE sql STABLE {PINNED} AS $$
    SELECT * FROM {SCHEMA}.clashes(student, starts, ends, coalesce(besides, 0))
    WHERE student = {SCHEMA}.me() OR {SCHEMA}.my_role() = 'admin'
       OR EXISTS (SELECT 1 FROM STORE.enrollments e WHERE e.student_id = student
                  AND e.course_id IN (SELECT {SCHEMA}.my_courses()))
$$;
-- the waitlist places of the waiting requests the caller sees (requests.waitlist_positions)
CREATE FUNCTION {SCHEMA}.waitlist(slot_ids integer[])
    RETURNS TABLE (request_id integer, place bigint, length bigint)
    LANGUAGE sql STABLE {PINNED} AS $$
    SELECT x.id, x.place, x.length FROM (
        SELECT r.id, r.student_id, r.slot_id,
               row_number() OVER (PARTITION BY r.slot_id ORDER BY r.created_at, r.id) AS place,
               count(*) OVER (PARTITION BY r.slot_id) AS length
        FROM STORE.requests r WHERE r.slot_id = ANY (slot_ids) AND r.status = 'waiting') x
    WHERE x.student_id = {SCHEMA}.me() OR {SCHEMA}.manages_slot(x.slot_id)
$$;
-- how many wait for a slot the caller sees (the hint of a refused send)
CREATE FUNCTION {SCHEMA}.waiting_count(slot integer) RETURNS bigint LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT count(*) FROM STORE.requests r WHERE r.slot_id = slot AND r.status = 'waiting'
    AND {SCHEMA}.sees_slot(slot)
$$;
-- enrolment counts of the courses the caller sees (course list, course show)
CREATE FUNCTION {SCHEMA}.enrolled_counts(course_ids integer[])
    RETURNS TABLE (course_id integer, enrolled bigint) LANGUAGE sql STABLE {PINNED} AS $$
    SELECT e.course_id, count(*) FROM STORE.enrollments e
    WHERE e.course_id = ANY (course_ids)
      AND ({SCHEMA}.manages_course(e.course_id)
           OR e.course_id IN (SELECT {SCHEMA}.my_enrolments()))
    GROUP BY e.course_id
$$;
-- whether a course code is taken (course add's refusal), for those who may add courses
CREATE FUNCTION {SCHEMA}.code_taken(code text) RETURNS boolean LANGUAGE sql STABLE
    {PINNED} AS $$
    SELECT EXISTS (SELECT 1 FROM STORE.courses c WHERE c.code = code_taken.code)
    WHERE {SCHEMA}.my_role() IN ('admin', 'educator')
$$;
"""

# -- login roles ------------------------------------------------------------------------------------

LOGINS = f"""
-- the right to make or move ``who``'s login into ``role``'s group: the store's owner (its
-- conversion), an admin, or an educator registering a student (course enroll --from-csv);
-- always for a user of this store of that role (the change that causes it)
CREATE FUNCTION {SCHEMA}.may_make_login(who text, wanted text) RETURNS boolean
    LANGUAGE sql STABLE {PINNED} AS $$
    SELECT EXISTS (SELECT 1 FROM STORE.users u WHERE u.name = who AND u.role = wanted)
       AND (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = session_user AND r.rolsuper)
            OR pg_has_role(session_user, (SELECT c.relowner FROM pg_catalog.pg_class c
                                          WHERE c.oid = 'STORE.users'::regclass), 'MEMBER')
            OR {SCHEMA}.my_role() = 'admin'
            OR ({SCHEMA}.my_role() = 'educator' AND wanted = 'student'
                AND (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = who)
                     OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                                    JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                                    JOIN pg_catalog.pg_roles u ON u.oid = m.member
                                    WHERE u.rolname = who AND g.rolname IN
                                    ('{GROUPS["admin"]}', '{GROUPS["educator"]}')))))
$$;

-- make ``who``'s login role (LOGIN, no password: authentication is the DBA's choice) in the
-- group of ``role``, or move an existing sessionctl login there. A name that is a role but not
-- a sessionctl login (a superuser, the DBA's own, a group) is refused, unless ``adopt`` (the
-- conversion, run by the owner) finds an ordinary login role. Returns created, moved or kept.
CREATE FUNCTION {SCHEMA}.login_role(who text, wanted text, adopt boolean DEFAULT false)
    RETURNS text LANGUAGE plpgsql VOLATILE {PINNED} AS $$
DECLARE
    target text := 'sessionctl_' || wanted;
    existing pg_catalog.pg_roles%ROWTYPE;
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
    SELECT * INTO existing FROM pg_catalog.pg_roles WHERE rolname = who;
    IF NOT FOUND THEN
        IF who IN ('public', 'none') OR who LIKE 'pg\\_%' THEN
            RAISE EXCEPTION 'the user name % is a role name PostgreSQL reserves (public, none, '
                'pg_…)', who USING ERRCODE = 'invalid_parameter_value';
        END IF;
        EXECUTE format('CREATE ROLE %I LOGIN INHERIT IN ROLE %I', who, target);
        RETURN 'created';
    END IF;
    owner_ := {SCHEMA}.my_role() IS NULL;  -- may_make_login let in the owner or a superuser
    IF NOT {SCHEMA}.is_login(who) AND NOT (adopt AND owner_ AND existing.rolcanlogin
            AND NOT (existing.rolsuper OR existing.rolcreaterole OR existing.rolcreatedb
                     OR existing.rolreplication OR existing.rolbypassrls)
            AND who NOT LIKE 'sessionctl\\_%' AND who NOT LIKE 'pg\\_%'
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                            WHERE m.roleid = existing.oid)) THEN
        RAISE EXCEPTION 'a database role named % exists and is not a sessionctl login', who
            USING ERRCODE = 'duplicate_object';
    END IF;
    FOR other IN SELECT g.rolname FROM pg_catalog.pg_auth_members m
                 JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                 WHERE m.member = existing.oid AND g.rolname IN
                 ('{GROUPS["admin"]}', '{GROUPS["educator"]}', '{GROUPS["student"]}')
                 AND g.rolname <> target LOOP
        EXECUTE format('REVOKE %I FROM %I', other, who);
    END LOOP;
    IF pg_has_role(who, target, 'MEMBER') AND EXISTS (
            SELECT 1 FROM pg_catalog.pg_auth_members m
            JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
            WHERE m.member = existing.oid AND g.rolname = target) THEN
        RETURN 'kept';
    END IF;
    EXECUTE format('GRANT %I TO %I', target, who);
    RETURN 'moved';
END $$;
"""
