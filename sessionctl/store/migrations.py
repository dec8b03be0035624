"""Numbered schema migrations. Each one and its record run in one transaction.

The DDL is portable: ``{pk}``, ``{ts}`` and ``{random_id}`` are the only dialect
differences between SQLite and PostgreSQL. Constraints state the integrity rules (``docs/reference/store.md#many-writers-at-once``) so that the
database, not only Python, has the last word.
"""

from __future__ import annotations

DIALECT = {
    "sqlite": {
        "pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "ts": "DATETIME",
        "random_id": "lower(hex(randomblob(16)))",
    },
    "postgresql": {
        "pk": "SERIAL PRIMARY KEY", "ts": "TIMESTAMP",
        "random_id": "md5(random()::text || clock_timestamp()::text)",
    },
}

M001_BASE = """
CREATE TABLE schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at {ts} NOT NULL
);
CREATE TABLE users (
    id {pk},
    name VARCHAR(64) NOT NULL UNIQUE,
    role VARCHAR(16) NOT NULL CHECK (role IN ('admin', 'educator', 'student')),
    display TEXT,
    email TEXT,
    tz TEXT,
    created_at {ts} NOT NULL
);
CREATE TABLE courses (
    id {pk},
    code VARCHAR(32) NOT NULL UNIQUE,
    title TEXT NOT NULL,
    educator_id INTEGER NOT NULL REFERENCES users (id),
    created_at {ts} NOT NULL
);
CREATE TABLE enrollments (
    id {pk},
    course_id INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    student_id INTEGER NOT NULL REFERENCES users (id),
    created_at {ts} NOT NULL,
    UNIQUE (course_id, student_id)
);
CREATE INDEX enrollments_student ON enrollments (student_id);
CREATE TABLE slots (
    id {pk},
    course_id INTEGER NOT NULL REFERENCES courses (id),
    educator_id INTEGER NOT NULL REFERENCES users (id),
    starts_at {ts} NOT NULL,
    ends_at {ts} NOT NULL,
    capacity INTEGER NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 1 AND 100),
    booked INTEGER NOT NULL DEFAULT 0,
    cancelled_at {ts},
    notes TEXT,
    link TEXT,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    CHECK (ends_at > starts_at),
    CHECK (booked >= 0 AND booked <= capacity)
);
CREATE INDEX slots_educator_start ON slots (educator_id, starts_at);
CREATE INDEX slots_course_start ON slots (course_id, starts_at);
CREATE TABLE requests (
    id {pk},
    slot_id INTEGER NOT NULL REFERENCES slots (id),
    student_id INTEGER NOT NULL REFERENCES users (id),
    status VARCHAR(16) NOT NULL
        CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled', 'completed')),
    message TEXT,
    reason TEXT,
    link TEXT,
    notes TEXT,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE UNIQUE INDEX requests_one_active ON requests (slot_id, student_id)
    WHERE status IN ('pending', 'approved');
CREATE INDEX requests_slot_status ON requests (slot_id, status);
CREATE INDEX requests_student_status ON requests (student_id, status);
CREATE TABLE history (
    id {pk},
    request_id INTEGER NOT NULL REFERENCES requests (id),
    at {ts} NOT NULL,
    actor_id INTEGER NOT NULL REFERENCES users (id),
    from_status VARCHAR(16),
    to_status VARCHAR(16) NOT NULL,
    note TEXT
);
CREATE INDEX history_request ON history (request_id, id);
CREATE TABLE notifications (
    id {pk},
    user_id INTEGER NOT NULL REFERENCES users (id),
    kind VARCHAR(32) NOT NULL,
    request_id INTEGER REFERENCES requests (id),
    slot_id INTEGER REFERENCES slots (id),
    text TEXT NOT NULL,
    created_at {ts} NOT NULL,
    read_at {ts}
);
CREATE INDEX notifications_user ON notifications (user_id, id);
"""

# The outbox for `notify send`: a notification is queued until a mail server accepted it,
# or marked undeliverable when its user has no e-mail address.
M002_OUTBOX = """
ALTER TABLE notifications ADD COLUMN mail_state VARCHAR(16) NOT NULL DEFAULT 'queued'
    CHECK (mail_state IN ('queued', 'sent', 'undeliverable'));
ALTER TABLE notifications ADD COLUMN sent_at {ts};
CREATE INDEX notifications_mail_state ON notifications (mail_state);
"""

# Cron and calendars (issue 4):
# - at most one reminder per (request, user), whoever runs `remind` and however often, is
#   the database's rule: a partial unique index that `remind`'s INSERT … ON CONFLICT DO
#   NOTHING runs into;
# - a random id per store, made once, so calendar UIDs and e-mail Message-IDs never change
#   for an object and never collide with another store's (a demo store's request 1);
# - named leases with an expiry, so two overlapping `notify send` runs never mail the same
#   notification twice (a crashed run's lease simply expires).
M003_CRON = """
CREATE UNIQUE INDEX notifications_one_reminder ON notifications (request_id, user_id)
    WHERE kind = 'reminder';
CREATE TABLE store_info (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    uuid VARCHAR(32) NOT NULL
);
INSERT INTO store_info (id, uuid) VALUES (1, {random_id});
CREATE TABLE leases (
    name VARCHAR(32) PRIMARY KEY,
    owner VARCHAR(32) NOT NULL,
    expires_at {ts} NOT NULL
);
"""

# The booking lifecycle (issue 10):
# - a new request state, `waiting` (a waitlist), in the status CHECK and in the one-active
#   index (pending, approved and waiting now hold or wait for a seat: one per slot and student);
# - `waitlist`: the student opted in, so a filling slot makes the request wait, not fail;
# - `replaces_id`/`replaced_by_id`: a moved booking and its successor; one pending move
#   (proposal) per request is the database's rule;
# - history rows may have no actor: automatic changes are the system's, `(system)`;
# - a request approved without a link of its own follows its slot's link (resolved when
#   read): approved requests that stored a copy of the slot's link are made to follow it
#   (finished ones keep the link they had).
# SQLite cannot alter a CHECK or a NOT NULL in place: those two tables are rebuilt (the
# migration runner turns foreign key enforcement off around it and checks every key before
# it commits). PostgreSQL alters them.
_M004_REQUESTS_COLUMNS = (
    "id, slot_id, student_id, status, message, reason, link, notes, created_at, updated_at"
)
_STATUSES = "'pending', 'approved', 'waiting', 'rejected', 'cancelled', 'completed'"
_M004_COMMON = """
CREATE UNIQUE INDEX requests_one_active ON requests (slot_id, student_id)
    WHERE status IN ('pending', 'approved', 'waiting');
CREATE UNIQUE INDEX requests_one_move ON requests (replaces_id) WHERE status = 'pending';
UPDATE requests SET link = NULL
    WHERE status = 'approved'
    AND link = (SELECT slots.link FROM slots WHERE slots.id = requests.slot_id);
"""
def _replace(table: str) -> str:
    """SQLite: ``TABLE_new`` takes the place of ``table``, with its AUTOINCREMENT counter (the
    copy's own row, made by the INSERT … SELECT, would hand out the ids of deleted rows)."""
    return f"""DELETE FROM sqlite_sequence WHERE name = '{table}_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT '{table}_new', seq FROM sqlite_sequence WHERE name = '{table}';
DROP TABLE {table};
ALTER TABLE {table}_new RENAME TO {table};"""


M004_LIFECYCLE = {
    "sqlite": f"""
CREATE TABLE requests_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slot_id INTEGER NOT NULL REFERENCES slots (id),
    student_id INTEGER NOT NULL REFERENCES users (id),
    status VARCHAR(16) NOT NULL CHECK (status IN ({_STATUSES})),
    message TEXT,
    reason TEXT,
    link TEXT,
    notes TEXT,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    waitlist INTEGER NOT NULL DEFAULT 0 CHECK (waitlist IN (0, 1)),
    replaces_id INTEGER REFERENCES requests (id),
    replaced_by_id INTEGER REFERENCES requests (id)
);
INSERT INTO requests_new ({_M004_REQUESTS_COLUMNS})
    SELECT {_M004_REQUESTS_COLUMNS} FROM requests;
{_replace('requests')}
CREATE INDEX requests_slot_status ON requests (slot_id, status);
CREATE INDEX requests_student_status ON requests (student_id, status);
CREATE TABLE history_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL REFERENCES requests (id),
    at DATETIME NOT NULL,
    actor_id INTEGER REFERENCES users (id),
    from_status VARCHAR(16),
    to_status VARCHAR(16) NOT NULL,
    note TEXT
);
INSERT INTO history_new SELECT id, request_id, at, actor_id, from_status, to_status, note
    FROM history;
{_replace('history')}
CREATE INDEX history_request ON history (request_id, id);
""" + _M004_COMMON,
    "postgresql": f"""
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN ({_STATUSES}));
ALTER TABLE requests ADD COLUMN waitlist INTEGER NOT NULL DEFAULT 0 CHECK (waitlist IN (0, 1));
ALTER TABLE requests ADD COLUMN replaces_id INTEGER REFERENCES requests (id);
ALTER TABLE requests ADD COLUMN replaced_by_id INTEGER REFERENCES requests (id);
DROP INDEX requests_one_active;
ALTER TABLE history ALTER COLUMN actor_id DROP NOT NULL;
""" + _M004_COMMON,
}

# Course policies and what happened in a session (issue 11):
# - a course's policies (docs/reference/policies.md): notice periods and the horizon in whole minutes, the most
#   active requests per student, NULL when off; auto-approve 0 or 1;
# - a completed session's attendance (NULL: unknown, as `sweep` leaves it) and the student's
#   rating (1 to 5 stars, a comment, when). Attendance belongs to completed sessions only, and a
#   rating to a completed session that was not a no-show: the database's rules too.
# Only columns are added (SQLite's ADD COLUMN may carry a CHECK over other columns of the row;
# PostgreSQL states those as table constraints), so no table is rebuilt.
_M005_COURSES = """
ALTER TABLE courses ADD COLUMN min_notice INTEGER CHECK (min_notice > 0);
ALTER TABLE courses ADD COLUMN cancel_notice INTEGER CHECK (cancel_notice > 0);
ALTER TABLE courses ADD COLUMN horizon INTEGER CHECK (horizon > 0);
ALTER TABLE courses ADD COLUMN max_active INTEGER CHECK (max_active > 0);
ALTER TABLE courses ADD COLUMN auto_approve INTEGER NOT NULL DEFAULT 0 CHECK (auto_approve IN (0, 1));
ALTER TABLE requests ADD COLUMN rating_comment TEXT;
"""
_ATTENDED = "attendance IS NULL OR (attendance IN ('attended', 'no-show') AND status = 'completed')"
_RATED = ("rating IS NULL OR (rating BETWEEN 1 AND 5 AND status = 'completed' "
          "AND (attendance IS NULL OR attendance <> 'no-show'))")
M005_OUTCOMES = {
    "sqlite": _M005_COURSES + f"""
ALTER TABLE requests ADD COLUMN attendance VARCHAR(16) CHECK ({_ATTENDED});
ALTER TABLE requests ADD COLUMN rating INTEGER CHECK ({_RATED});
ALTER TABLE requests ADD COLUMN rated_at DATETIME CHECK ((rated_at IS NULL) = (rating IS NULL));
""",
    "postgresql": _M005_COURSES + f"""
ALTER TABLE requests ADD COLUMN attendance VARCHAR(16);
ALTER TABLE requests ADD COLUMN rating INTEGER;
ALTER TABLE requests ADD COLUMN rated_at TIMESTAMP;
ALTER TABLE requests ADD CONSTRAINT requests_attendance_check CHECK ({_ATTENDED});
ALTER TABLE requests ADD CONSTRAINT requests_rating_check CHECK ({_RATED});
ALTER TABLE requests ADD CONSTRAINT requests_rated_at_check CHECK ((rated_at IS NULL) = (rating IS NULL));
""",
}

# Cron at any size (issue 12): `sweep` and `remind` find what is due without reading the
# store's history. Each request carries its slot's times (`starts_at`, `ends_at`), which the
# schema keeps: a trigger copies them when a request is made (whoever inserts it) and another
# follows a slot whose time changes. (A slot's time cannot move while it has active requests,
# so for the requests these indexes hold the copy is the slot's time by the rules too.) Three
# partial indexes hold only the live requests, ordered by time: pending and waiting ones by
# start (expiry), approved ones by start (reminders) and by end (completion). Being partial,
# they never tempt the planner away from a list's own indexes (an educator's slots, a
# student's requests), and they stay small: a swept store's past requests are in none of them.
_M006_INDEXES = """
CREATE INDEX requests_open_start ON requests (starts_at) WHERE status IN ('pending', 'waiting');
CREATE INDEX requests_booked_start ON requests (starts_at) WHERE status = 'approved';
CREATE INDEX requests_booked_end ON requests (ends_at) WHERE status = 'approved';
"""
M006_DUE = {
    "sqlite": """
ALTER TABLE requests ADD COLUMN starts_at DATETIME;
ALTER TABLE requests ADD COLUMN ends_at DATETIME;
UPDATE requests SET (starts_at, ends_at) =
    (SELECT slots.starts_at, slots.ends_at FROM slots WHERE slots.id = requests.slot_id);
CREATE TRIGGER requests_slot_times AFTER INSERT ON requests BEGIN
    UPDATE requests SET (starts_at, ends_at) =
        (SELECT slots.starts_at, slots.ends_at FROM slots WHERE slots.id = NEW.slot_id)
        WHERE id = NEW.id;
END;
CREATE TRIGGER slots_times_to_requests AFTER UPDATE OF starts_at, ends_at ON slots BEGIN
    UPDATE requests SET starts_at = NEW.starts_at, ends_at = NEW.ends_at WHERE slot_id = NEW.id;
END;
""" + _M006_INDEXES,
    # a list: PostgreSQL's CREATE TRIGGER has no BEGIN ... END, which SQLite's tokenizer (the
    # splitter of the texts) would wait for
    "postgresql": [
        "ALTER TABLE requests ADD COLUMN starts_at TIMESTAMP",
        "ALTER TABLE requests ADD COLUMN ends_at TIMESTAMP",
        "UPDATE requests SET starts_at = slots.starts_at, ends_at = slots.ends_at"
        " FROM slots WHERE slots.id = requests.slot_id",
        """CREATE FUNCTION sessionctl_request_times() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT slots.starts_at, slots.ends_at INTO NEW.starts_at, NEW.ends_at
        FROM slots WHERE slots.id = NEW.slot_id;
    RETURN NEW;
END $$""",
        "CREATE TRIGGER requests_slot_times BEFORE INSERT OR UPDATE OF slot_id ON requests"
        " FOR EACH ROW EXECUTE FUNCTION sessionctl_request_times()",
        """CREATE FUNCTION sessionctl_slot_times() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE requests SET starts_at = NEW.starts_at, ends_at = NEW.ends_at
        WHERE slot_id = NEW.id;
    RETURN NULL;
END $$""",
        "CREATE TRIGGER slots_times_to_requests AFTER UPDATE OF starts_at, ends_at ON slots"
        " FOR EACH ROW EXECUTE FUNCTION sessionctl_slot_times()",
        *(line.rstrip(";") for line in _M006_INDEXES.strip().splitlines()),
    ],
}

# Calendars that stay current (issue 19, docs/reference/calendars.md): what a queued
# notification's e-mail needs of its booking, frozen when it is queued (its thread, and the
# invitation's method and event, as JSON), and each user's secret feed token (a table of its
# own: a user's row is seen by many, the token is its owner's and the admins' alone).
M007_CALENDARS = """
ALTER TABLE notifications ADD COLUMN mail_data TEXT;
CREATE TABLE feed_tokens (
    user_id INTEGER NOT NULL PRIMARY KEY REFERENCES users (id),
    token TEXT NOT NULL UNIQUE CHECK (length(token) = 40)
);
"""

# Busy times (issue 19, docs/reference/busy-times.md): the calendars an educator stores with
# `user set --busy`, in their order. A table of its own, not a column of `users`, because its
# URLs are secrets (a Google or Nextcloud secret address): the rows are their owner's and the
# admins' alone, where a user's name and e-mail are seen by many.
M008_BUSY = """
CREATE TABLE busy_sources (
    id {pk},
    user_id INTEGER NOT NULL REFERENCES users (id),
    position INTEGER NOT NULL CHECK (position BETWEEN 1 AND 20),
    source TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 2048),
    UNIQUE (user_id, position)
);
"""

# Meeting rooms, hooks and buffers (issue 20, docs/reference/meeting-rooms-and-hooks.md):
# - a course's own link template (checked when set) and its buffer in whole minutes (NULL: off);
# - ``slots.batch``: the slots one ``slot add`` made together (a split or a series) share a
#   random token, which exempts them from each other's buffer; NULL for a slot made alone;
# - ``hooks``: the event hooks a ``hooks run`` has found (one per event name), from when;
# - ``events``: the outbox of the hooks. An event is written in the transaction that caused it
#   when its hook is registered, with its JSON frozen then; ``hooks run`` delivers it and marks
#   it (``queued`` until its hook took it, then ``delivered``; ``dropped`` when the hook went
#   away). ``booking`` is the first request of the booking's chain: the order that counts is per
#   hook and booking. A partial index holds the queued ones;
# - a lease's owner names its process (``PID:TOKEN@HOST``), so a run killed on this machine is
#   known dead at once: PostgreSQL's column grows (SQLite does not enforce the length).
_M009_COMMON = """
ALTER TABLE courses ADD COLUMN link_template TEXT;
ALTER TABLE courses ADD COLUMN buffer INTEGER CHECK (buffer > 0);
ALTER TABLE slots ADD COLUMN batch VARCHAR(32);
CREATE TABLE hooks (
    name VARCHAR(32) PRIMARY KEY,
    since {ts} NOT NULL
);
CREATE TABLE events (
    id {pk},
    kind VARCHAR(32) NOT NULL,
    at {ts} NOT NULL,
    request_id INTEGER REFERENCES requests (id),
    booking INTEGER NOT NULL,
    payload TEXT NOT NULL,
    state VARCHAR(16) NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'delivered', 'dropped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at {ts},
    error TEXT,
    delivered_at {ts}
);
CREATE INDEX events_queued ON events (id) WHERE state = 'queued';
"""
M009_HOOKS = {
    "sqlite": _M009_COMMON.format(**DIALECT["sqlite"]),
    "postgresql": _M009_COMMON.format(**DIALECT["postgresql"])
    + "ALTER TABLE leases ALTER COLUMN owner TYPE VARCHAR(200);\n",
}

# 10 (issue 21): the store's mode of identity. 'login' (the personal and shared modes: the
# client says who acts) or 'database' (every person their own PostgreSQL login, the server
# guarding every row: docs/reference/database-mode.md); set by `init --identity`. Its number also
# makes every older client refuse the store.
IDENTITY = 10  # its number: from it on, a store may be in the database mode
M010_IDENTITY = """
ALTER TABLE store_info ADD COLUMN identity VARCHAR(16) NOT NULL DEFAULT 'login';
"""

# 11 (issue 21's second attack pass): migration 6's trigger functions run as whoever inserts
# a request or moves a slot, and read ``slots`` (and write ``requests``) by bare name: with no
# search_path of their own, the caller's ``pg_temp`` came first, so a student's
# ``CREATE TEMP TABLE slots`` gave their request false times. Each now names the store's schema
# and pins its search_path, ``pg_temp`` last (docs/database-mode.md). SQLite has no such path.
_M011_TIMES = {
    "sessionctl_request_times": """
BEGIN
    SELECT s.starts_at, s.ends_at INTO NEW.starts_at, NEW.ends_at
        FROM SCHEMA.slots s WHERE s.id = NEW.slot_id;
    RETURN NEW;
END""",
    "sessionctl_slot_times": """
BEGIN
    UPDATE SCHEMA.requests SET starts_at = NEW.starts_at, ends_at = NEW.ends_at
        WHERE slot_id = NEW.id;
    RETURN NULL;
END""",
}
M011_PINNED = {
    "sqlite": "",
    "postgresql": [
        "DO $m$\nDECLARE\n    here text := quote_ident(current_schema());\nBEGIN\n" + "".join(
            f"    EXECUTE 'CREATE OR REPLACE FUNCTION ' || here || '.{name}() RETURNS trigger "
            f"LANGUAGE plpgsql SET search_path = pg_catalog, ' || here || ', pg_temp AS $f$' || "
            f"replace($b${body}$b$, 'SCHEMA.', here || '.') || '$f$';\n"
            for name, body in _M011_TIMES.items())
        + "END $m$",
    ],
}

MIGRATIONS: list[tuple[int, str, str | dict[str, str | list[str]]]] = [
    (1, "base", M001_BASE),
    (2, "outbox", M002_OUTBOX),
    (3, "cron", M003_CRON),
    (4, "lifecycle", M004_LIFECYCLE),
    (5, "outcomes", M005_OUTCOMES),
    (6, "due", M006_DUE),
    (7, "calendars", M007_CALENDARS),
    (8, "busy", M008_BUSY),
    (9, "hooks", M009_HOOKS),
    (IDENTITY, "identity", M010_IDENTITY),
    (11, "pinned", M011_PINNED),
]

LATEST = MIGRATIONS[-1][0]


def statements(sql: str | dict[str, str | list[str]], dialect: str) -> list[str]:
    """One migration as statements for ``dialect``, split where SQLite's own tokenizer says a
    statement is complete (never inside a string, a comment or a trigger body). ``sql`` is
    portable DDL with ``{pk}``-style holes, or one text (or list of statements) per dialect."""
    import sqlite3

    text = sql[dialect] if isinstance(sql, dict) else sql.format(**DIALECT[dialect])
    if isinstance(text, list):
        return list(text)
    found, current = [], ""
    for line in text.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip().rstrip(";").rstrip())
            current = ""
    if current.strip():
        raise ValueError(f"a migration ends inside a statement: {current.strip()[:60]!r}")
    return found
