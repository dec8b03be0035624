"""Shared fixtures: a fresh store with a small cast, a CLI runner, a domain context, snapshots.

The cast (see ``world``): admin ``root``; educators ``ada`` (owns MATH101) and ``bob`` (owns
PHYS1); students ``alan`` and ``kat`` (enrolled in MATH101) and ``eve`` (enrolled nowhere).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sessionctl import configfile
from sessionctl.cli import app
from sessionctl.domain.context import Context, find_actor
from sessionctl.store import open_store

UTC = timezone.utc


# -- config files: no test reads the user's or the machine's ---------------------------------------

SITE_FILE = configfile.SITE_FILE  # the real one, whatever a test monkeypatches


def _claims_sudo() -> bool:
    try:
        return configfile.read_config(SITE_FILE, "site").values.get("identity") == "sudo"
    except Exception:  # unreadable or malformed: it may say anything
        return True



def _site_file_state():
    try:
        with open(SITE_FILE, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"unreadable: {exc}"


@pytest.fixture(autouse=True, scope="session")
def _private_config_dirs(tmp_path_factory):
    """Every test, and every sessionctl it starts, finds its config files in empty temp dirs
    (XDG_CONFIG_HOME, XDG_CONFIG_DIRS), never the user's or the machine's. The one file that
    turns the shared mode on is fixed (/etc/xdg/sessionctl/config.toml): on a machine where it
    does, the tests cannot run, and they say so rather than fail one by one."""
    state = _site_file_state()
    if state is not None and _claims_sudo():
        pytest.exit(f"{SITE_FILE} exists and may turn on the shared mode; run the tests on a "
                    "machine without it", returncode=3)
    base = tmp_path_factory.mktemp("config-dirs")
    saved = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS")}
    os.environ["XDG_CONFIG_HOME"] = str(base / "user")
    os.environ["XDG_CONFIG_DIRS"] = str(base / "site")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _no_stray_site_file():
    """No test writes the machine's site file (the shared mode's end-to-end test sees its own
    in a private mount namespace). Should it change while a test runs, the test fails and the
    file is left as it is: it may be another process's (an administrator setting up the
    shared mode meanwhile), and nothing here deletes or rewrites a file it did not create."""
    before = _site_file_state()
    yield
    after = _site_file_state()
    if after != before:
        pytest.fail(f"{SITE_FILE} changed while the test ran (left as it is now)")


class Clock:
    """A clock tests can move. Starts at a fixed instant."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


class Cli:
    """Runs ``sessionctl`` in-process through Typer's CliRunner against one store."""

    def __init__(self, db: Path):
        self.db = db
        self.runner = CliRunner()

    def __call__(self, *args: str, user: str = "root", input: str | None = None, env: dict | None = None):
        environment = {
            "SESSIONCTL_DB": str(self.db), "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC",
            "SESSIONCTL_DEBUG": None, "NO_COLOR": "1", "COLUMNS": "250",
        }
        environment.update(env or {})
        return self.runner.invoke(app, list(args), env=environment, input=input)

    def json(self, *args: str, user: str = "root", **kwargs):
        result = self(*args, "--json", user=user, **kwargs)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)


def snapshot(db) -> dict:
    """Every row of every table (SQLite file or PostgreSQL URL): compare around a refusal."""
    if str(db).startswith("postgresql://"):
        import psycopg

        con = psycopg.connect(str(db))
        tables_sql = ("SELECT table_name FROM information_schema.tables "
                      "WHERE table_schema = 'public' ORDER BY 1")
    else:
        con = sqlite3.connect(db)
        tables_sql = ("SELECT name FROM sqlite_master WHERE type='table' "
                      "AND name NOT LIKE 'sqlite_%' ORDER BY name")
    try:
        tables = [r[0] for r in con.execute(tables_sql).fetchall()]
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        con.close()


def future(hours: float = 24, minute: int = 0) -> datetime:
    """A whole-minute UTC instant some hours from now."""
    base = datetime.now(UTC).replace(second=0, microsecond=0, minute=minute)
    return base + timedelta(hours=hours)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "store.db"
    monkeypatch.setenv("SESSIONCTL_DB", str(path))
    monkeypatch.setenv("SESSIONCTL_TZ", "UTC")
    monkeypatch.delenv("SESSIONCTL_LOCK_TIMEOUT", raising=False)
    return path


@pytest.fixture
def cli(db) -> Cli:
    return Cli(db)


@pytest.fixture
def world(cli) -> Cli:
    """An initialised store with the cast described at the top of this file."""
    assert cli("init", user="root").exit_code == 0
    for name, role in [("ada", "educator"), ("bob", "educator"), ("alan", "student"),
                       ("kat", "student"), ("eve", "student")]:
        r = cli("user", "add", name, "--role", role, "--email", f"{name}@example.edu",
                "--display", name.title())
        assert r.exit_code == 0, r.stderr
    assert cli("course", "add", "MATH101", "--title", "Maths", user="ada").exit_code == 0
    assert cli("course", "add", "PHYS1", "--title", "Physics", user="bob").exit_code == 0
    assert cli("course", "enroll", "MATH101", "alan", "kat", user="ada").exit_code == 0
    return cli


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2027, 1, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def domain(world, clock):
    """``domain('ada')`` is a Context acting as ada on the world store, with the test clock."""
    store = open_store(str(world.db))

    def make(name: str) -> Context:
        return Context(store, find_actor(name), UTC, clock)

    yield make
    store.close()


# -- both backends ---------------------------------------------------------------------------------
# Tests that take the ``location`` fixture run on SQLite and, when SESSIONCTL_TEST_PG names a
# PostgreSQL server (a URL whose user may create databases; .ci/run starts one), on a new
# PostgreSQL database too.

PG_SERVER = os.environ.get("SESSIONCTL_TEST_PG")


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    if not PG_SERVER:
        pytest.skip("SESSIONCTL_TEST_PG is not set (.ci/run sets it)")
    import uuid

    import psycopg

    name = f"sessionctl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_SERVER.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def backend_db(location, monkeypatch):
    """The store of a test that runs on SQLite and, when SESSIONCTL_TEST_PG is set, PostgreSQL
    (modules that run on both name it ``db``)."""
    monkeypatch.setenv("SESSIONCTL_DB", location)
    monkeypatch.setenv("SESSIONCTL_TZ", "UTC")
    monkeypatch.delenv("SESSIONCTL_LOCK_TIMEOUT", raising=False)
    return location


@pytest.fixture
def booked(world, clock, monkeypatch):
    """Approved sessions booked on the ``world`` store (tests/cronkit.py); the CLI's clock is
    the test clock."""
    from cronkit import Sessions

    monkeypatch.setattr("sessionctl.timeparse.utcnow", lambda: clock.now)
    store = open_store(str(world.db))
    yield Sessions(store, clock)
    store.close()


# -- only on PostgreSQL ---------------------------------------------------------------------------

@pytest.fixture
def pg_location(location):
    if not location.startswith("postgresql://"):
        pytest.skip("a PostgreSQL URL")
    return location
