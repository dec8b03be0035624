"""Opening stores, schema versions and the migration runner."""

from __future__ import annotations

import sqlite3

import pytest

from sessionctl.errors import Unavailable
from sessionctl.store import migrations, open_store


def columns(db, table):
    con = sqlite3.connect(db)
    try:
        return [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
    finally:
        con.close()


def make_v1_store(path):
    """A store exactly as sessionctl with schema version 1 left it, with some data."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN")
    for statement in migrations.statements(migrations.M001_BASE, "sqlite"):
        con.execute(statement)
    con.execute("INSERT INTO schema_migrations VALUES (1, 'base', '2026-01-01 00:00:00')")
    con.execute("INSERT INTO users (name, role, created_at) VALUES ('root', 'admin', '2026-01-01 00:00:00')")
    con.execute("INSERT INTO notifications (user_id, kind, text, created_at) "
                "VALUES (1, 'request', 'old news', '2026-01-01 00:00:00')")
    con.execute("COMMIT")
    con.close()


def test_a_version_1_store_is_migrated_forward_on_first_use(tmp_path, cli):
    make_v1_store(cli.db)
    assert "mail_state" not in columns(cli.db, "notifications")
    result = cli("inbox", "--json", user="root")
    assert result.exit_code == 0, result.stderr
    assert [n["text"] for n in __import__("json").loads(result.stdout)] == ["old news"]
    assert {"mail_state", "sent_at"} <= set(columns(cli.db, "notifications"))
    con = sqlite3.connect(cli.db)
    assert [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY 1")] == list(
        range(1, migrations.LATEST + 1))
    assert con.execute("SELECT mail_state FROM notifications").fetchone() == ("queued",)
    con.close()


def test_a_failing_migration_leaves_the_store_at_its_old_version(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    make_v1_store(path)
    broken = "ALTER TABLE notifications ADD COLUMN mail_state TEXT; THIS IS NOT SQL"
    monkeypatch.setattr(migrations, "MIGRATIONS", [migrations.MIGRATIONS[0], (2, "broken", broken)])
    monkeypatch.setattr(migrations, "LATEST", 2)
    with pytest.raises(Exception):
        open_store(str(path))
    assert "mail_state" not in columns(path, "notifications")
    con = sqlite3.connect(path)
    assert con.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (1,)
    con.close()


def test_a_newer_store_is_refused_and_left_alone(cli):
    assert cli("init").exit_code == 0
    con = sqlite3.connect(cli.db)
    con.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01 00:00:00')")
    con.commit()
    con.close()
    before = cli.db.read_bytes()
    for args in (["whoami"], ["init"], ["slot", "list"]):
        result = cli(*args)
        assert result.exit_code == 6
        assert "schema version 99" in result.stderr and result.stdout == ""
    assert cli.db.read_bytes() == before
    with pytest.raises(Unavailable):
        open_store(str(cli.db))


def test_init_is_idempotent_and_keeps_data(cli):
    assert cli("init", user="root").exit_code == 0
    assert cli("user", "add", "ada", "--role", "educator").exit_code == 0
    second = cli("init", "--json", user="ada")
    assert second.exit_code == 0
    data = __import__("json").loads(second.stdout)
    assert data["admin"] is None and data["schema"] == migrations.LATEST
    users = cli.json("user", "list")
    assert [(u["name"], u["role"]) for u in users] == [("ada", "educator"), ("root", "admin")]


def test_an_sqlite_file_that_is_not_a_sessionctl_store_is_refused(cli):
    con = sqlite3.connect(cli.db)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    before = cli.db.read_bytes()
    for args in (["init"], ["whoami"]):
        result = cli(*args)
        assert result.exit_code == 6
        assert "not a sessionctl store" in result.stderr
    assert cli.db.read_bytes() == before


def test_sqlite_url_form_is_accepted(tmp_path, cli):
    target = tmp_path / "via-url.db"
    result = cli("--db", f"sqlite:///{target}", "init")
    assert result.exit_code == 0, result.stderr
    assert target.exists()


def test_a_full_disk_is_exit_6_and_changes_nothing(world, domain, clock):
    """SQLite's max_page_count stands in for a full disk (docs/architecture.md#tests)."""
    from datetime import timedelta

    from conftest import snapshot
    from sessionctl.domain import slots
    from sessionctl.domain.window import Window
    from sessionctl.store import translate

    ada = domain("ada")
    before = snapshot(world.db)
    pages = ada.store.db.execute_sql("PRAGMA page_count").fetchone()[0]
    ada.store.db.execute_sql(f"PRAGMA max_page_count = {pages}")
    start = clock.now + timedelta(days=3)
    windows = [Window(start + timedelta(hours=i), start + timedelta(hours=i, minutes=30))
               for i in range(200)]
    with pytest.raises(Exception) as raised:
        slots.add_slots(ada, "MATH101", windows, notes="n" * 2000)
    mapped = translate(raised.value)
    assert mapped is not None and mapped.code == 6 and "full" in mapped.message
    assert snapshot(world.db) == before


def test_version_1_migrates_forward_on_both_backends(location):
    """The same migrations run on SQLite and PostgreSQL, each step with its record."""
    postgres = location.startswith("postgresql://")
    if postgres:
        import psycopg

        con = psycopg.connect(location, autocommit=True)
    else:
        con = sqlite3.connect(location, isolation_level=None)
    dialect = "postgresql" if postgres else "sqlite"
    for statement in migrations.statements(migrations.M001_BASE, dialect):
        con.execute(statement)
    con.execute("INSERT INTO schema_migrations VALUES (1, 'base', '2026-01-01 00:00:00')")
    con.close()

    store = open_store(location)
    try:
        assert store.version() == migrations.LATEST
        names = {c.name for c in store.db.get_columns("notifications")}
        assert {"mail_state", "sent_at"} <= names
    finally:
        store.close()


def test_schema_constraints_hold_on_both_backends(location):
    """Seats within capacity and one active request per (slot, student) are the database's rules."""
    from datetime import datetime

    import peewee

    from sessionctl.store.models import Course, Request, Slot, User

    store = open_store(location, create=True)
    t = datetime(2027, 1, 1, 10, 0)
    try:
        with store.write():
            ada = User.create(name="ada", role="educator", created_at=t)
            sam = User.create(name="sam", role="student", created_at=t)
            course = Course.create(code="C", title="C", educator=ada, created_at=t)
            slot = Slot.create(course=course, educator=ada, starts_at=t, ends_at=t.replace(hour=11),
                               capacity=1, created_at=t, updated_at=t)
            Request.create(slot=slot, student=sam, status="pending", created_at=t, updated_at=t)
        refused = [
            lambda: Slot.update(booked=2).where(Slot.id == slot.id).execute(),
            lambda: Slot.update(booked=-1).where(Slot.id == slot.id).execute(),
            lambda: Slot.update(ends_at=t).where(Slot.id == slot.id).execute(),
            lambda: Slot.update(capacity=101).where(Slot.id == slot.id).execute(),
            lambda: Request.create(slot=slot, student=sam, status="approved", created_at=t, updated_at=t),
            lambda: Request.update(status="lost").where(Request.slot == slot).execute(),
            lambda: User.create(name="x", role="superuser", created_at=t),
            lambda: Request.create(slot=999, student=sam, status="pending", created_at=t, updated_at=t),
        ]
        for change in refused:
            with pytest.raises(peewee.IntegrityError):
                with store.write():
                    change()
        # a finished request does not block a new one for the same seat
        with store.write():
            Request.update(status="cancelled").where(Request.slot == slot).execute()
            Request.create(slot=slot, student=sam, status="pending", created_at=t, updated_at=t)
        assert Request.select().count() == 2
        assert Slot.get_by_id(slot.id).booked == 0
    finally:
        store.close()


def test_an_unreachable_postgresql_server_is_exit_6_without_the_password(cli):
    result = cli("--db", "postgresql://ada:s3cret@127.0.0.1:1/sessionctl", "whoami",
                 env={"SESSIONCTL_LOCK_TIMEOUT": "1"})
    assert result.exit_code == 6 and result.stdout == ""
    assert result.stderr.startswith("error: cannot reach the PostgreSQL store")
    assert len(result.stderr.splitlines()) == 1 and "s3cret" not in result.stderr
