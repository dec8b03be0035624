"""A schema change is a numbered migration that upgrades a store made by the previous release in
place, tested by doing exactly that (issue 10, docs/architecture.md#add-a-migration).

The previous release is commit ``1f8e469`` of this repository (schema version 3). Its
``sessionctl`` package is extracted with ``git archive`` and run as its own process with
``PYTHONPATH`` pointing at it and the current interpreter. It builds a realistic store:
users, two courses, enrolments, single slots and a series, requests in every state it knew
(pending; approved with the slot's link, with a link of its own and without any; rejected by
the educator, because the slot filled, and expired; cancelled by a student, an educator, a
slot cancellation and an unenrolment; completed by hand and by ``sweep``), reminders,
notifications read and unread, sent and undeliverable. Then the installed (current)
``sessionctl`` opens it, which migrates it, and everything the old release stored and showed
must still be there, unchanged, while the new lifecycle works on it.

The previous release runs at chosen moments in the past, so that sessions can end before the
upgrade: its one clock, ``sessionctl.timeparse.utcnow``, is replaced in the child process.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cronkit import MailServer
from sessionctl.store import migrations
from conftest import PG_SERVER, iso
from test_processes import BIN

PREVIOUS = "1f8e469"
PREVIOUS_VERSION = 3
REPO = Path(__file__).resolve().parents[1]
UTC = timezone.utc

# How the previous release is run: its own package first on the path (checked), and its
# clock set to SESSIONCTL_OLD_NOW when given.
OLD_MAIN = """
import os, sys
import sessionctl
root = os.path.realpath(os.environ["SESSIONCTL_OLD_ROOT"])
if os.path.dirname(os.path.dirname(os.path.realpath(sessionctl.__file__))) != root:
    sys.exit(f"not the previous release: {sessionctl.__file__}")
now = os.environ.get("SESSIONCTL_OLD_NOW")
if now:
    from datetime import datetime
    from sessionctl import timeparse
    fixed = datetime.fromisoformat(now)
    timeparse.utcnow = lambda: fixed
from sessionctl.cli import main
main()
"""


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> Path:
    """The previous release's ``sessionctl`` package, extracted from git."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: the previous release cannot be extracted")
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout: the previous release cannot be extracted")
    found = subprocess.run([git, "-C", str(REPO), "cat-file", "-e", f"{PREVIOUS}^{{commit}}"],
                           capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"commit {PREVIOUS} (the previous release) is not in this clone "
                    "(a shallow clone?): fetch the history to run the upgrade test")
    archive = subprocess.run([git, "-C", str(REPO), "archive", PREVIOUS, "sessionctl"],
                             capture_output=True, check=True)
    root = tmp_path_factory.mktemp("previous-release")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, filter="data")
        else:  # pragma: no cover - Pythons before 3.11.4
            tar.extractall(root)
    where = subprocess.run([sys.executable, "-c", "import sessionctl; print(sessionctl.__file__)"],
                           env={**os.environ, "PYTHONPATH": str(root)}, cwd=root,
                           capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).resolve() == (root / "sessionctl" / "__init__.py").resolve(), \
        where.stdout
    text = (root / "sessionctl" / "store" / "migrations.py").read_text()
    assert f"({PREVIOUS_VERSION}, " in text and f"({PREVIOUS_VERSION + 1}, " not in text
    return root


class Old:
    """The previous release as a process, at a chosen moment (None: the real clock)."""

    def __init__(self, root: Path, db: str):
        self.root, self.db, self.now = root, db, None

    def run(self, *args: str, user: str = "root") -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(self.root), "SESSIONCTL_OLD_ROOT": str(self.root),
               "SESSIONCTL_DB": self.db, "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC",
               "NO_COLOR": "1"}
        for key in ("SESSIONCTL_DEBUG", "SESSIONCTL_SMTP", "SESSIONCTL_MAIL_FROM",
                    "SESSIONCTL_OLD_NOW"):
            env.pop(key, None)
        if self.now is not None:
            env["SESSIONCTL_OLD_NOW"] = self.now.isoformat()
        return subprocess.run([sys.executable, "-c", OLD_MAIN, *args], env=env, cwd=self.root,
                              capture_output=True, text=True, timeout=120)

    def __call__(self, *args: str, user: str = "root"):
        result = self.run(*args, user=user)
        assert result.returncode == 0, (args, result.returncode, result.stderr)
        return json.loads(result.stdout) if "--json" in args else result.stdout


def new(*args: str, user: str = "root", db: str, code: int = 0):
    """The current, installed ``sessionctl``."""
    env = {**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC",
           "NO_COLOR": "1"}
    for key in ("SESSIONCTL_DEBUG", "SESSIONCTL_SMTP", "SESSIONCTL_MAIL_FROM", "PYTHONPATH"):
        env.pop(key, None)
    result = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == code, (args, result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


def tables(db: str) -> dict[str, list[dict]]:
    """Every row of every table, as {column: value}, ordered by the first column."""
    if db.startswith("postgresql://"):
        import psycopg

        con = psycopg.connect(db)
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "ORDER BY 1").fetchall()]
    else:
        con = sqlite3.connect(db)
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY 1").fetchall()]
    try:
        found = {}
        for name in names:
            cur = con.execute(f"SELECT * FROM {name} ORDER BY 1")
            columns = [d[0] for d in cur.description]
            found[name] = [dict(zip(columns, row)) for row in cur.fetchall()]
        return found
    finally:
        con.close()


def columns(db: str, table: str) -> list[str]:
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as con:
            return [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                (table,)).fetchall()]
    con = sqlite3.connect(db)
    try:
        return [r[1] for r in con.execute(f"PRAGMA table_info({table})").fetchall()]
    finally:
        con.close()


L = "https://meet.example.edu/"


def build(old: Old, now: datetime) -> dict:
    """The store the previous release leaves behind; returns the ids the test needs.

    ``now`` is the real moment of the upgrade: the store is built ten days before it, and
    five days before it the ended sessions are completed and reminders sent."""
    ids: dict = {}
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    old.now = day - timedelta(days=10) + timedelta(hours=8)
    old("init")
    for name, role, extra in [
        ("ada", "educator", ["--email", "ada@example.edu", "--display", "Ada Lovelace",
                             "--tz", "Europe/Berlin"]),
        ("bob", "educator", ["--email", "bob@example.edu"]),
        ("alan", "student", ["--email", "alan@example.edu", "--tz", "America/New_York"]),
        ("kat", "student", ["--email", "kat@example.edu", "--display", "Kat"]),
        ("eve", "student", []),
        ("max", "student", ["--email", "max@example.edu"]),
        ("sue", "student", ["--email", "sue@example.edu"]),
    ]:
        old("user", "add", name, "--role", role, *extra)
    old("course", "add", "MATH101", "--title", "Maths", user="ada")
    old("course", "add", "PHYS1", "--title", "Physics", user="bob")
    old("course", "enroll", "MATH101", "alan", "kat", "eve", "max", user="ada")
    old("course", "enroll", "PHYS1", "alan", "sue", user="bob")

    def slot(name, start, course="MATH101", who="ada", *extra):
        [made] = old("slot", "add", "--course", course, "--start", iso(start), "--duration",
                     "1h", *extra, "--json", user=who)
        ids[name] = made["id"]
        return made["id"]

    def send(student, slot_name, message=None):
        args = ["request", "send", str(ids[slot_name]), "--json"]
        if message:
            args += ["--message", message]
        return old(*args, user=student)["id"]

    past, soon, later = day - timedelta(days=8), day + timedelta(days=2), day + timedelta(days=3)
    # sessions that will have ended at the upgrade
    slot("past1", past + timedelta(hours=10), "MATH101", "ada", "--link", L + "past1")
    slot("past2", past + timedelta(hours=12), "MATH101", "ada", "--capacity", "2")
    slot("past3", past + timedelta(hours=14))
    # sessions ahead of the upgrade
    slot("s1", soon + timedelta(hours=10), "MATH101", "ada", "--link", L + "s1")
    slot("s2", soon + timedelta(hours=12), "MATH101", "ada", "--link", L + "s2")
    slot("s3", soon + timedelta(hours=14))
    slot("s4", later + timedelta(hours=10), "MATH101", "ada", "--capacity", "3", "--link",
         L + "s4", "--notes", "bring the exercises")
    slot("s5", later + timedelta(hours=12), "MATH101", "ada", "--link", L + "s5")
    slot("s6", later + timedelta(hours=14))
    slot("b1", soon + timedelta(hours=10, minutes=30), "PHYS1", "bob", "--capacity", "2",
         "--link", L + "b1")
    slot("b2", later + timedelta(hours=16), "PHYS1", "bob", "--capacity", "2")
    series = old("slot", "add", "--course", "MATH101", "--start",
                 iso(day + timedelta(days=7, hours=9)), "--duration", "45m", "--repeat",
                 "weekly", "--count", "3", "--link", L + "series", "--json", user="ada")
    ids["series"] = [s["id"] for s in series]
    ids["free"] = slot("free", later + timedelta(hours=18))  # never requested

    ids["past1_alan"] = send("alan", "past1", "recursion")
    old("request", "approve", str(ids["past1_alan"]), user="ada")  # the slot's link, copied
    ids["past2_kat"] = send("kat", "past2")
    old("request", "approve", str(ids["past2_kat"]), "--link", L + "kat", "--notes", "room 2",
        user="ada")
    ids["past2_eve"] = send("eve", "past2")
    old("request", "approve", str(ids["past2_eve"]), user="ada")
    ids["past3_max"] = send("max", "past3")  # expires
    ids["s1_alan"] = send("alan", "s1", "first session")
    old("request", "approve", str(ids["s1_alan"]), user="ada")  # copy of the slot's link
    ids["s2_kat"] = send("kat", "s2")
    old("request", "approve", str(ids["s2_kat"]), "--link", L + "own-kat", user="ada")
    ids["s3_eve"] = send("eve", "s3")
    old("request", "approve", str(ids["s3_eve"]), user="ada")  # no link at all
    ids["s4_alan"] = send("alan", "s4", "pending, line one\nline two")
    ids["s4_kat"] = send("kat", "s4")
    ids["s4_eve"] = send("eve", "s4")
    old("request", "reject", str(ids["s4_eve"]), "--reason", "not this week", user="ada")
    ids["s4_max"] = send("max", "s4")
    old("request", "cancel", str(ids["s4_max"]), "--reason", "changed my mind", user="max")
    ids["s5_alan"] = send("alan", "s5")
    ids["s5_kat"] = send("kat", "s5")
    ids["s5_max"] = send("max", "s5")
    old("request", "approve", str(ids["s5_alan"]), user="ada")  # kat and max: slot is full
    ids["s6_kat"] = send("kat", "s6")
    old("request", "approve", str(ids["s6_kat"]), user="ada")
    old("request", "cancel", str(ids["s6_kat"]), "--reason", "ill", user="ada")
    ids["b1_sue"] = send("sue", "b1")
    old("request", "approve", str(ids["b1_sue"]), user="bob")
    old("slot", "update", str(ids["b1"]), "--link", L + "b1-new", user="bob")  # sue keeps b1
    ids["b2_alan"] = send("alan", "b2")
    ids["b2_sue"] = send("sue", "b2")
    old("request", "approve", str(ids["b2_sue"]), user="bob")
    old("slot", "cancel", str(ids["b2"]), "--reason", "conference", user="bob")
    ids["ser_kat"] = old("request", "send", str(ids["series"][0]), "--json", user="kat")["id"]
    old("request", "approve", str(ids["ser_kat"]), user="ada")
    ids["ser_max"] = old("request", "send", str(ids["series"][1]), "--json", user="max")["id"]

    old.now = day - timedelta(days=5) + timedelta(hours=9)
    old("request", "complete", str(ids["past2_kat"]), user="ada")
    assert old("sweep", "--json") == {"completed": 2, "expired": 1}
    old("course", "unenroll", "MATH101", "max", user="ada")  # ser_max cancelled
    assert old("remind", "--within", "30d", "--json")["reminded"] >= 5
    old("inbox", user="alan")  # read
    old("inbox", "--peek", user="kat")  # left unread
    old.now = None
    with MailServer() as server:
        old("notify", "send", "--smtp", server.url, user="root")
        assert server.messages
    return ids


SHOWN_TO = ("root", "ada", "alan", "kat", "max")


def everything_shown(run) -> dict:
    """What the command shows of the store (JSON), through ``run`` (old or new)."""
    return {
        "requests": {user: run("request", "list", "--json", user=user) for user in SHOWN_TO},
        "slots": run("slot", "list", "--status", "all", "--json", user="root"),
        "courses": run("course", "list", "--json", user="root"),
        "users": run("user", "list", "--json", user="root"),
        "inboxes": {user: run("inbox", "--all", "--peek", "--json", user=user)
                    for user in SHOWN_TO},
    }


def same_fields(before, after, where="") -> list[str]:
    """Where ``after`` (the new release's JSON) lost a field ``before`` had, or changed its
    value: a list of differences (new fields are fine)."""
    if isinstance(before, list):
        if not isinstance(after, list) or len(after) != len(before):
            return [f"{where}: {len(before)} items became {after!r:.200}"]
        return [d for k, (b, a) in enumerate(zip(before, after))
                for d in same_fields(b, a, f"{where}[{k}]")]
    if isinstance(before, dict):
        if not isinstance(after, dict):
            return [f"{where}: {after!r:.200}"]
        found = []
        for key, value in before.items():
            if key not in after:
                found.append(f"{where}.{key} is gone")
            else:
                found += same_fields(value, after[key], f"{where}.{key}")
        return found
    return [] if before == after else [f"{where}: {before!r} became {after!r}"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def upgraded(request, previous, tmp_path_factory):
    """A store the previous release built, then opened (so migrated) by the current one;
    what was stored and shown before and after. Shared by the tests below, which run in order
    (the last one changes the store)."""
    if request.param == "sqlite":
        db = str(tmp_path_factory.mktemp("upgrade") / "store.db")
    else:
        if not PG_SERVER:
            pytest.skip("SESSIONCTL_TEST_PG is not set (.ci/run sets it)")
        import uuid

        import psycopg

        name = f"sessionctl_upgrade_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_SERVER, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        db = f"{PG_SERVER.rpartition('/')[0]}/{name}"
        request.addfinalizer(lambda: _drop(name))
    old = Old(previous, db)
    ids = build(old, datetime.now(UTC).replace(microsecond=0))
    before = tables(db)
    sequence = {}
    if not db.startswith("postgresql://"):
        con = sqlite3.connect(db)
        sequence = dict(con.execute("SELECT name, seq FROM sqlite_sequence"))
        con.close()
    state = {
        "db": db, "old": old, "ids": ids, "before": before, "sequence": sequence,
        "columns": {t: columns(db, t) for t in before},
        "shown": everything_shown(old),
        "history": {rid: old("request", "show", str(ids[rid]), "--json")["history"]
                    for rid in HISTORIES},
    }
    new("whoami", db=db, user="kat")  # any command of the current release migrates the store
    state["after"] = tables(db)
    return state


def _drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# requests whose history `request show` compares: every kind of change the old release made
HISTORIES = ("past1_alan", "past2_kat", "past3_max", "s4_eve", "s4_max", "s5_kat", "s6_kat",
             "b2_sue", "ser_max")


def test_the_previous_release_built_a_version_3_store_with_every_state(upgraded):
    before = upgraded["before"]
    assert max(r["version"] for r in before["schema_migrations"]) == PREVIOUS_VERSION
    assert {r["status"] for r in before["requests"]} == {
        "pending", "approved", "rejected", "cancelled", "completed"}
    assert {r["reason"] for r in before["requests"]} >= {"slot is full", "expired",
                                                         "conference", "not this week"}
    assert {n["mail_state"] for n in before["notifications"]} == {"sent", "undeliverable"}
    assert any(n["kind"] == "reminder" for n in before["notifications"])
    assert any(n["read_at"] for n in before["notifications"])
    assert any(not n["read_at"] for n in before["notifications"])
    assert len({s["id"] for s in before["slots"]}) == 15


def test_the_schema_is_the_latest_and_every_old_row_and_value_is_kept(upgraded):
    before, after, old_columns = upgraded["before"], upgraded["after"], upgraded["columns"]
    assert max(r["version"] for r in after["schema_migrations"]) == migrations.LATEST
    slot_links = {s["id"]: s["link"] for s in before["slots"]}
    for table, rows in before.items():
        kept = [{c: row[c] for c in old_columns[table]} for row in after[table]]
        if table == "requests":
            # an approved session's copy of the slot's link becomes NULL: it follows its slot
            # now; a finished request keeps the link it had
            rows = [dict(row, link=None if row["status"] == "approved"
                         and row["link"] == slot_links[row["slot_id"]] else row["link"])
                    for row in rows]
        elif table == "schema_migrations":
            kept = kept[:len(rows)]
        assert kept == rows, table
    ids = upgraded["ids"]
    link = {r["id"]: r["link"] for r in after["requests"]}
    assert link[ids["s1_alan"]] is None and link[ids["past1_alan"]] == L + "past1"
    assert link[ids["s2_kat"]] == L + "own-kat" and link[ids["past2_kat"]] == L + "kat"
    assert link[ids["b1_sue"]] == L + "b1"  # the slot's link changed after the approval
    assert all(r["waitlist"] == 0 and r["replaces_id"] is None and r["replaced_by_id"] is None
               for r in after["requests"])


def test_statuses_and_links_shown_are_those_of_the_previous_release(upgraded):
    db, before = upgraded["db"], upgraded["shown"]["requests"]["root"]
    after = new("request", "list", "--json", db=db)
    assert [(r["id"], r["status"]) for r in after] == [(r["id"], r["status"]) for r in before]
    changed = [(r["id"], r["status"], b["link"], r["link"]) for b, r in zip(before, after)
               if b["link"] != r["link"]]
    assert changed == [], f"links shown differently after the upgrade (id, status, was, now): {changed}"


def test_everything_else_shown_is_what_the_previous_release_showed(upgraded):
    db = upgraded["db"]
    shown = everything_shown(lambda *a, user: new(*a, user=user, db=db))
    # a request's link is the test above's
    differences = [d for d in same_fields(upgraded["shown"], shown)
                   if not re.match(r"\.requests\.\w+\[\d+\]\.link:", d)]
    assert differences == []
    for name, history in upgraded["history"].items():
        now = new("request", "show", str(upgraded["ids"][name]), "--json", db=db)["history"]
        assert same_fields(history, now) == [], name


def test_the_sqlite_file_is_intact_and_ids_keep_growing(upgraded):
    db = upgraded["db"]
    if db.startswith("postgresql://"):
        pytest.skip("SQLite's own checks")
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        sequence = con.execute("SELECT name, seq FROM sqlite_sequence ORDER BY name").fetchall()
        leftovers = con.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '%\\_new' ESCAPE '\\'").fetchall()
    finally:
        con.close()
    names = [name for name, _ in sequence]
    assert sorted(set(names)) == names, f"sqlite_sequence names a table twice: {sequence}"
    for name, seq in upgraded["sequence"].items():
        assert dict(sequence)[name] >= seq, (name, sequence)
    assert leftovers == []


def test_the_lifecycle_works_on_the_upgraded_store(upgraded):
    db, ids, before = upgraded["db"], upgraded["ids"], upgraded["before"]
    old_max = max(r["id"] for r in before["requests"])
    # a full slot: refused with a hint, or joined with --waitlist
    refused = new("request", "send", str(ids["s1"]), user="kat", db=db, code=5)
    assert "--waitlist" in refused.stderr
    waiting = new("request", "send", str(ids["s1"]), "--waitlist", "--json", user="kat", db=db)
    assert waiting["id"] > old_max
    assert (waiting["status"], waiting["waitlist_position"]) == ("waiting", 1)
    # the seat frees: the system offers it to the line
    new("request", "cancel", str(ids["s1_alan"]), user="alan", db=db)
    promoted = new("request", "show", str(waiting["id"]), "--json", user="kat", db=db)
    assert promoted["status"] == "pending"
    last = promoted["history"][-1]
    assert (last["actor"], last["from"], last["to"]) == ("(system)", "waiting", "pending")
    # a move keeps the message and links both ends
    moved = new("request", "move", str(ids["s4_alan"]), "--to", str(ids["series"][1]),
                "--json", user="alan", db=db)
    assert (moved["status"], moved["replaces"], moved["slot"]) == (
        "pending", ids["s4_alan"], ids["series"][1])
    assert moved["message"] == "pending, line one\nline two"
    gone = new("request", "show", str(ids["s4_alan"]), "--json", user="alan", db=db)
    assert (gone["status"], gone["replaced_by"]) == ("cancelled", moved["id"])
    # an old approved session that copied its slot's link follows it now; one with its own
    # link keeps it
    new("slot", "update", str(ids["series"][0]), "--link", L + "series-new", user="ada", db=db)
    new("slot", "update", str(ids["s2"]), "--link", L + "s2-new", user="ada", db=db)
    assert new("request", "show", str(ids["ser_kat"]), "--json", user="kat",
               db=db)["link"] == L + "series-new"
    assert new("request", "show", str(ids["s2_kat"]), "--json", user="kat",
               db=db)["link"] == L + "own-kat"
    if not db.startswith("postgresql://"):
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        con.close()


def test_busy_sources_work_on_the_upgraded_store(upgraded, tmp_path, monkeypatch):
    """Migration 8 (docs/reference/busy-times.md#sources): an upgraded store keeps busy
    sources, and a slot over a busy event is refused."""
    db = upgraded["db"]
    cal = tmp_path / "busy.ics"
    cal.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
                   "DTSTART:20990105T100000Z\r\nDTEND:20990105T110000Z\r\nSUMMARY:Board\r\n"
                   "END:VEVENT\r\nEND:VCALENDAR\r\n")
    shown = new("user", "set", "--busy", str(cal), "--json", user="ada", db=db)
    assert shown["busy"] == [str(cal)]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    refused = new("slot", "add", "--course", "MATH101", "--start", "2099-01-05 10:30",
                  "--duration", "30m", user="ada", db=db, code=5)
    assert "2099-01-05 10:00–11:00" in refused.stderr and "Board" in refused.stderr
    new("slot", "add", "--course", "MATH101", "--start", "2099-01-05 10:30",
        "--duration", "30m", "--ignore-busy", user="ada", db=db)
def test_old_notifications_mail_plainly_and_feeds_work_on_the_upgraded_store(upgraded, tmp_path):
    """Migration 7 (docs/reference/calendars.md): notifications queued before it have no
    frozen thread or invitation and go out as plain mails; every user can have a feed."""
    db = upgraded["db"]
    old_ids = {r["id"] for r in upgraded["before"]["notifications"]}
    rows = tables(db)["notifications"]
    assert all(r["mail_data"] is None for r in rows if r["id"] in old_ids)
    with MailServer() as server:  # it reads every message strictly (tests/cronkit.py)
        new("notify", "send", "--smtp", server.url, db=db)
    assert server.messages
    for message, raw in zip(server.messages, server.raw):
        number = int(message["Message-ID"].split("-")[1].split(".")[0])
        if number in old_ids:
            assert message["In-Reply-To"] is None and b"text/calendar" not in raw
    env = {**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": "alan",
           "SESSIONCTL_FEED_BASE": "https://h.example/"}
    env.pop("PYTHONPATH", None)
    url = subprocess.run([str(BIN), "feed", "url"], env=env, capture_output=True, text=True)
    assert url.returncode == 0 and url.stdout.startswith("https://h.example/"), url.stderr
    feeds = tmp_path / "feeds"
    feeds.mkdir(mode=0o711)
    assert new("feed", "write", str(feeds), db=db).stdout.startswith("written: 1,")


def test_the_previous_release_refuses_the_upgraded_store(upgraded):
    refused = upgraded["old"].run("request", "list", "--json")
    assert refused.returncode == 6 and refused.stdout == "", refused
    assert "newer" in refused.stderr


def test_ids_never_used_again_after_the_upgrade_of_a_sqlite_store(previous, tmp_path):
    """AUTOINCREMENT's promise survives the table rebuild: ids the store handed out before the
    upgrade are never handed out again, even those of rows that are gone (here the newest
    requests and their history were deleted by hand; calendar UIDs and Message-IDs are built
    from ids, so a reused id would collide with the deleted one's)."""
    db = str(tmp_path / "store.db")
    old = Old(previous, db)
    old("init")
    old("user", "add", "ada", "--role", "educator")
    old("user", "add", "sam", "--role", "student")
    old("course", "add", "C1", "--title", "One", user="ada")
    old("course", "enroll", "C1", "sam", user="ada")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    made = [old("slot", "add", "--course", "C1", "--start", iso(start + k * timedelta(hours=2)),
                "--duration", "1h", "--json", user="ada")[0]["id"] for k in range(3)]
    sent = [old("request", "send", str(s), "--json", user="sam")["id"] for s in made]
    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM notifications WHERE request_id = ?", (sent[-1],))
        con.execute("DELETE FROM history WHERE request_id = ?", (sent[-1],))
        con.execute("DELETE FROM requests WHERE id = ?", (sent[-1],))
    used = dict(con.execute("SELECT name, seq FROM sqlite_sequence"))
    con.close()
    assert used["requests"] == sent[-1] > max(sent[:-1])

    again = new("request", "send", str(made[-1]), "--json", user="sam", db=db)
    assert again["id"] > used["requests"], (again["id"], used)
    history = tables(db)["history"]
    assert max(h["id"] for h in history) > used["history"]
    con = sqlite3.connect(db)
    rows = con.execute("SELECT name, seq FROM sqlite_sequence ORDER BY name").fetchall()
    con.close()
    assert len(rows) == len({name for name, _ in rows}), rows


def test_a_previous_release_store_turns_into_the_database_mode_and_back(previous, request):
    """``init --identity database`` on a PostgreSQL store the previous release made: migrated,
    a login for every user, each acting as their login; ``init --identity login`` turns it
    back with every row kept (docs/reference/database-mode.md)."""
    if not PG_SERVER:
        pytest.skip("SESSIONCTL_TEST_PG is not set (.ci/run sets it)")
    import uuid

    import psycopg

    suffix = uuid.uuid4().hex[:8]
    name = f"sessionctl_upgrade_{suffix}"
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db = f"{PG_SERVER.rpartition('/')[0]}/{name}"

    def drop() -> None:
        _drop(name)
        with psycopg.connect(PG_SERVER, autocommit=True) as admin:
            for (role,) in admin.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                                         (f"%\\_{suffix}",)).fetchall():
                admin.execute(f'DROP ROLE "{role}"')

    request.addfinalizer(drop)
    root, ada, sam = (f"{who}_{suffix}" for who in ("root", "ada", "sam"))
    old = Old(previous, db)
    old("init", user=root)
    old("user", "add", ada, "--role", "educator", user=root)
    old("user", "add", sam, "--role", "student", user=root)
    old("course", "add", "C1", "--title", "One", user=ada)
    old("course", "enroll", "C1", sam, user=ada)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    slot = old("slot", "add", "--course", "C1", "--start", iso(start), "--duration", "1h",
               "--json", user=ada)[0]["id"]
    sent = old("request", "send", str(slot), "--json", user=sam)["id"]
    before = tables(db)

    made = new("init", "--identity", "database", "--admin", root, "--json", db=db, user=root)
    assert made["identity"] == "database" and made["schema"] == migrations.LATEST
    assert sorted(made["logins"]["created"]) == sorted([root, ada, sam])
    with psycopg.connect(db) as con:  # migration 11: migration 6's triggers pin search_path
        pinned = con.execute("SELECT proname, proconfig FROM pg_proc WHERE proname IN "
                             "('sessionctl_request_times', 'sessionctl_slot_times') "
                             "ORDER BY 1").fetchall()
    assert pinned == [(name, ["search_path=pg_catalog, public, pg_temp"])
                      for name in ("sessionctl_request_times", "sessionctl_slot_times")]
    login = f"postgresql://{sam}@{db.split('@', 1)[1]}"  # .ci/run's server trusts 127.0.0.1
    assert new("whoami", "--json", db=login, user=sam)["name"] == sam
    shown = new("request", "list", "--json", db=login, user=sam)
    assert [r["id"] for r in shown] == [sent]
    refused = new("whoami", db=login, user=ada, code=4)
    assert "database mode" in refused.stderr and refused.stdout == ""
    assert Old(previous, login).run("request", "list", "--json").returncode == 6  # too old

    back = new("init", "--identity", "login", "--json", db=db, user=root)
    assert back["turned_back"]
    after = tables(db)
    for table, rows in before.items():
        if table not in ("schema_migrations", "store_info"):
            assert [{c: row[c] for c in rows[0]} for row in after[table]] == rows if rows \
                else after[table] == [], table
    assert [r["identity"] for r in after["store_info"]] == ["login"]
    assert new("whoami", "--json", db=db, user=ada)["name"] == ada  # the client says again
