"""Opening stores, schema versions and the migration runner."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import snapshot
from runkit import proc, refused_plainly, run_module, unusable_paths
from sessionctl.cli import app

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
    assert [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY 1")] == [
        number for number, _, _ in migrations.MIGRATIONS]
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


# -- found by the fuzzer: store paths and a stray migrations table --------------------------------

def test_init_over_a_stray_empty_schema_migrations_table(tmp_path):
    """The file has schema_migrations and nothing else. init must not crash ('table
    schema_migrations already exists'): it is either not a sessionctl store (exit 6, file
    untouched) or an empty one it may migrate (exit 0 and a working store)."""
    db = tmp_path / "stray.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at DATETIME NOT NULL)")
    con.commit()
    con.close()
    before = snapshot(db)
    result = proc("init", user="root", db=db)
    if result.returncode == 0:
        assert proc("whoami", user="root", db=db).returncode == 0
    else:
        refused_plainly(result, 6)
        assert snapshot(db) == before


@pytest.mark.parametrize("command", [["whoami"], ["init"]])
@pytest.mark.parametrize("which", ["300-char name", "a link to itself", "inside a looping link"])
def test_a_store_path_that_cannot_exist_is_unavailable(tmp_path, command, which):
    """``--db`` naming a file name too long for the file system (Path.exists raises
    ENAMETOOLONG in store._sqlite) or a symlink loop is exit 6 (cannot open/create the store),
    or 2, never a crash."""
    paths = unusable_paths(tmp_path)
    path = {"300-char name": tmp_path / ("n" * 300 + ".db"), "a link to itself": paths["a link to itself"],
            "inside a looping link": paths["a link to itself"] / "x.db"}[which]
    refused_plainly(proc("--db", str(path), *command, user="root", db=tmp_path / "unused.db"), {2, 6})


# -- found by the second attack pass: a PostgreSQL role without the grants ------------------------

def test_a_postgresql_role_without_the_grants_is_exit_6(location):
    if not location.startswith("postgresql://"):
        pytest.skip("PostgreSQL's grants")
    import uuid

    import psycopg
    from typer.testing import CliRunner

    from sessionctl.cli import app

    env = {"SESSIONCTL_DB": location, "SESSIONCTL_USER": "root", "SESSIONCTL_TZ": "UTC"}
    assert CliRunner().invoke(app, ["init"], env=env).exit_code == 0
    role, password = f"reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    base, _, name = location.rpartition("/")
    with psycopg.connect(location, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        url = location.replace("postgresql://postgres@", f"postgresql://{role}:{password}@")
        before = snapshot(location)
        result = CliRunner().invoke(app, ["user", "add", "zed", "--role", "student"],
                                    env={**env, "SESSIONCTL_DB": url})
        assert result.exit_code == 6, (result.stdout, result.stderr)
        assert "this database role may not do that" in result.stderr
        assert password not in result.stderr and "this is a bug" not in result.stderr
        assert snapshot(location) == before
    finally:
        with psycopg.connect(location, autocommit=True) as admin:
            admin.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


# -- found by the third attack pass: a PostgreSQL URL that cannot be used never shows its password ---

SECRET = "Tr0ub4dor"


def pg_urls(url: str) -> dict[str, str]:
    """Broken forms of the working URL ``url`` (the test server's database), each holding
    SECRET in its password: what an administrator's slip gives."""
    head, rest = url.split("://", 1)
    authority, _, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    user = authority.rpartition("@")[0].partition(":")[0] or "postgres"

    def with_password(password: str, where: str = host, tail: str = path) -> str:
        return f"{head}://{user}:{password}@{where}/{tail}"

    return {
        "a bad percent-escape": with_password(f"{SECRET}%3"),
        "a broken IPv6 host": with_password(SECRET, "[::1", path),
        "a port out of range": with_password(SECRET, host.partition(":")[0] + ":99999"),
        "a port that is no number": with_password(SECRET, host.partition(":")[0] + ":abc"),
        "an unknown parameter": with_password(SECRET, tail=path + "?bogus=1"),
        "an unknown sslmode": with_password(SECRET, tail=path + "?sslmode=bogus"),
        "an unescaped @ in it": with_password(f"{SECRET}@x"),
        "an unescaped / in it": with_password(f"x/{SECRET}"),
        "a bad escape in ?password=": f"{head}://{user}@{host}/{path}?password={SECRET}%zz",
    }


@pytest.mark.parametrize("form", list(pg_urls("postgresql://u@h:1/d")))
def test_a_postgresql_url_that_cannot_be_used_is_exit_6_or_2_and_never_shows_its_password(
        pg_location, form, tmp_path):
    url = pg_urls(pg_location)[form]
    before = snapshot(pg_location)
    config = tmp_path / "user" / "sessionctl"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(f'db = "{url}"\n', encoding="utf-8")
    cases = [(["--db", url], {}, 2), ([], {"SESSIONCTL_DB": url}, 6),
             ([], {"XDG_CONFIG_HOME": str(tmp_path / "user"), "SESSIONCTL_DEBUG": "1"}, 6)]
    for command in (["whoami"], ["init"], ["slot", "list", "--json"]):
        for flags, env, code in cases:
            if form == "an unescaped @ in it":  # libpq reads another host: unreachable
                code = 6
            result = run_module([*flags, *command], SESSIONCTL_LOCK_TIMEOUT="2", **env)
            said = result.stdout + result.stderr
            assert SECRET not in said, (form, command, env, said)
            assert result.returncode == code and result.stdout == "", (form, command, env, said)
            if "SESSIONCTL_DEBUG" not in env:  # one error line and its hint, no traceback
                assert result.stderr.startswith("error: cannot "), said
                assert "internal error" not in said and len(result.stderr.splitlines()) <= 2, said
    assert snapshot(pg_location) == before


def test_config_show_masks_the_password_of_a_url_that_cannot_be_parsed(cli):
    for form, url in pg_urls("postgresql://u:p@127.0.0.1:5432/db").items():
        result = cli("--db", url, "config", "show")
        assert result.exit_code == 0 and SECRET not in result.stdout + result.stderr, (form, result.stdout)
        assert ":***@" in result.stdout or "password=***" in result.stdout, (form, result.stdout)


def test_a_driver_error_that_quotes_the_url_is_masked_at_the_root(monkeypatch, cli):
    """Whatever layer a driver's message comes from, the mapper's last branch included
    (``internal error: …``), the store URL's password does not reach the screen."""
    url = f"postgresql://app:{SECRET}@db.example.edu/sessions"

    def leaky(*args, **kwargs):
        raise RuntimeError(f'could not use "{url}" (password "{SECRET}")')

    monkeypatch.setattr("sessionctl.store.open_store", leaky)  # what a run opens its store with
    result = cli("--db", url, "whoami")
    assert result.exit_code == 1 and "internal error" in result.stderr
    assert SECRET not in result.stderr and "postgresql://app:***@db.example.edu/sessions" in result.stderr


def test_an_unknown_store_scheme_is_exit_6_from_the_environment_and_2_from_the_flag(cli):
    url = f"mysql://app:{SECRET}@db.example.edu/sessions"
    for flags, env, code in ((["--db", url], {}, 2), ([], {"SESSIONCTL_DB": url}, 6)):
        result = cli(*flags, "whoami", env=env)
        assert result.exit_code == code and SECRET not in result.stderr, result.stderr
        assert "unknown store location 'mysql://app:***@db.example.edu/sessions'" in result.stderr


def test_in_the_shared_mode_no_caller_sees_the_password_of_a_broken_service_url(pg_location, tmp_path,
                                                                                monkeypatch):
    from test_shared import fake_pwd  # the fake machine of tests/test_shared.py

    from sessionctl import configfile, shared

    home = tmp_path / "svc-home"
    config = home / ".config" / "sessionctl"
    config.mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    (config / "config.toml").write_text(f'db = "{pg_urls(pg_location)["a bad percent-escape"]}"\n')
    (config / "config.toml").chmod(0o600)
    site = tmp_path / "etc" / "config.toml"
    site.parent.mkdir(mode=0o755)
    site.write_text('identity = "sudo"\naccount = "svc"\ncommand = "/usr/local/bin/sessionctl"\n')
    site.chmod(0o644)
    _, getpwnam, getpwuid = fake_pwd(home)
    monkeypatch.setattr("pwd.getpwnam", getpwnam)
    monkeypatch.setattr("pwd.getpwuid", getpwuid)
    monkeypatch.setattr(configfile, "SITE_FILE", str(site))
    monkeypatch.setattr(shared, "ROOT", os.getuid())
    monkeypatch.setattr(shared, "SUPERUSER", -1)
    before = snapshot(pg_location)
    for sudo in ("alice", None):
        env = {"SESSIONCTL_DB": None, "SESSIONCTL_USER": None, "SESSIONCTL_DEBUG": None,
               "SUDO_USER": sudo, "SUDO_UID": sudo and "70001"}
        for args in (["whoami"], ["init"], ["config", "show"], ["slot", "list"]):
            result = CliRunner().invoke(app, args, env=env)
            assert SECRET not in result.stdout + result.stderr, (sudo, args, result.stderr)
            assert result.exit_code == (0 if args[0] == "config" else 6), (sudo, args, result.stderr)
    assert snapshot(pg_location) == before


@pytest.mark.parametrize("location", [
    "host=127.0.0.1 password=TopSecret dbname=x",  # libpq's keyword form
    "dbname=x password='Top Secret'",
    "postgresql:/u:TopSecret@127.0.0.1/db",  # a slash short of a URL
    "postgres:u:TopSecret@127.0.0.1/db",
])
def test_a_server_written_another_way_is_no_file_path_and_its_password_is_hidden(tmp_path, location):
    """Taken for a file, it would be created (init) and printed whole (whoami)."""
    for flags, env, code in ((["--db", location], {}, 2), ([], {"SESSIONCTL_DB": location}, 6)):
        for command in (["whoami"], ["init"]):
            result = subprocess.run([sys.executable, "-m", "sessionctl", *flags, *command],
                                    capture_output=True, text=True, cwd=tmp_path, timeout=60,
                                    env={**{k: v for k, v in os.environ.items()
                                            if not k.startswith("SESSIONCTL_")},
                                         "SESSIONCTL_USER": "root", **env})
            assert result.returncode == code and result.stdout == "", result.stderr
            assert "Secret" not in result.stderr and "unknown store location" in result.stderr
    assert os.listdir(tmp_path) == []
