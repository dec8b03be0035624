"""Numbered schema migrations. Each one and its record run in one transaction.

The DDL is portable: ``{pk}``, ``{ts}`` and ``{random_id}`` are the only dialect
differences between SQLite and PostgreSQL. Constraints state the integrity rules (DESIGN §2) so that the
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

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "base", M001_BASE),
    (2, "outbox", M002_OUTBOX),
    (3, "cron", M003_CRON),
]

LATEST = MIGRATIONS[-1][0]


def statements(sql: str, dialect: str) -> list[str]:
    """One migration as statements for ``dialect``, split where SQLite's own tokenizer says a
    statement is complete (never inside a string, a comment or a trigger body)."""
    import sqlite3

    text = sql.format(**DIALECT[dialect])
    found, current = [], ""
    for line in text.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip().rstrip(";").rstrip())
            current = ""
    if current.strip():
        raise ValueError(f"a migration ends inside a statement: {current.strip()[:60]!r}")
    return found
