"""The installed ``sessionctl`` as separate processes: the seed scenario, races, a held lock.

The scenario, the race and the held lock run on SQLite and on PostgreSQL (``location``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import future, iso

BIN = Path(sys.executable).with_name("sessionctl")


def sh(*args: str, user: str, db, **env) -> subprocess.CompletedProcess:
    environment = {
        **os.environ, "SESSIONCTL_DB": str(db), "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC",
        **env,
    }
    environment.pop("SESSIONCTL_DEBUG", None)
    return subprocess.run(
        [str(BIN), *args], env=environment, capture_output=True, text=True, timeout=60
    )


def ok(*args: str, user: str, db, **env):
    result = sh(*args, user=user, db=db, **env)
    assert result.returncode == 0, (args, result.returncode, result.stderr)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_seed_scenario_end_to_end(location):
    """Educator offers a slot an hour from now; student asks; educator approves with a link."""
    db = location
    ok("init", user="root", db=db)
    ok("user", "add", "ada", "--role", "educator", "--email", "ada@example.edu", user="root", db=db)
    ok("user", "add", "sam", "--role", "student", user="root", db=db)
    ok("course", "add", "CS1", "--title", "Programming", user="ada", db=db)
    ok("course", "enroll", "CS1", "sam", user="ada", db=db)
    start = future(hours=1, minute=0)
    [slot] = ok("slot", "add", "--course", "CS1", "--start", iso(start), "--duration", "45m",
                "--json", user="ada", db=db)
    assert slot["start"] == iso(start) and slot["status"] == "available"

    listed = ok("slot", "list", user="sam", db=db)
    assert "CS1" in listed and "ada@example.edu" in listed

    request = ok("request", "send", str(slot["id"]), "--message", "Help with recursion, please",
                 "--json", user="sam", db=db)
    assert request["status"] == "pending"
    assert "Help with recursion" in ok("inbox", user="ada", db=db)

    link = "https://meet.example.edu/ada-sam"
    ok("request", "approve", str(request["id"]), "--link", link, user="ada", db=db)

    [mine] = ok("request", "list", "--json", user="sam", db=db)
    assert (mine["status"], mine["link"], mine["start"]) == ("approved", link, iso(start))
    shown = ok("request", "show", str(request["id"]), user="sam", db=db)
    assert "approved" in shown and link in shown
    [note] = ok("inbox", "--json", user="sam", db=db)
    assert note["kind"] == "approved" and note["request"] == request["id"] and link in note["text"]
    [booked] = ok("slot", "list", "--status", "booked", "--json", user="ada", db=db)
    assert booked["booked"] == 1 and booked["status"] == "booked"


def _race_store(db: str, n: int) -> list[int]:
    """A one-seat slot with ``n`` pending requests from ``n`` students; returns request ids."""
    run, students = race_course(db, n)
    [slot] = json.loads(run("ada", "slot", "add", "--course", "RACE", "--start",
                            iso(future(hours=5)), "--duration", "1h", "--json"))
    return [json.loads(run(s, "request", "send", str(slot["id"]), "--json"))["id"] for s in students]


def race_course(db: str, n: int):
    """A new store with ada's course RACE and ``n`` students enrolled in it (s00, s01, …);
    returns ``run(user, *args)`` (in-process, exit 0 asserted) and the students' names."""
    from typer.testing import CliRunner

    from sessionctl.cli import app

    runner = CliRunner()

    def run(user, *args):
        env = {"SESSIONCTL_DB": str(db), "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC"}
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    run("root", "init")
    run("root", "user", "add", "ada", "--role", "educator")
    run("ada", "course", "add", "RACE", "--title", "Race")
    students = [f"s{i:02d}" for i in range(n)]
    for name in students:
        run("root", "user", "add", name, "--role", "student")
    run("ada", "course", "enroll", "RACE", *students)
    return run, students


# Each racer imports everything first, then waits for the starting gun, so all 16 really
# hit the store at the same moment rather than staggered by interpreter start-up.
RACER = """
import os, sys, time
from sessionctl.cli import app
gun = sys.argv[1]
while not os.path.exists(gun):
    time.sleep(0.001)
sys.argv = ["sessionctl", "request", "approve", sys.argv[2]]
app()
"""


@pytest.mark.parametrize("round_", range(3))
def test_sixteen_processes_race_for_one_seat(location, tmp_path, round_):
    db = location
    ids = _race_store(db, 16)
    gun = tmp_path / "go"
    env = {**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": "ada", "SESSIONCTL_TZ": "UTC"}
    env.pop("SESSIONCTL_DEBUG", None)
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(gun), str(rid)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rid in ids
    ]
    time.sleep(1.0)
    gun.touch()
    outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in racers]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0] + [5] * 15, outcomes
    assert all("Traceback" not in err for _, err in outcomes)
    statuses = [r["status"] for r in ok("request", "list", "--json", user="root", db=db)]
    assert sorted(statuses) == ["approved"] + ["rejected"] * 15
    [slot] = ok("slot", "list", "--status", "all", "--json", user="root", db=db)
    assert (slot["booked"], slot["capacity"], slot["status"]) == (1, 1, "booked")
    if not db.startswith("postgresql://"):
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()


class _HeldLock:
    """Another connection holding the store's write lock, the way a busy writer would."""

    def __init__(self, db: str):
        self.db = db

    def __enter__(self):
        if self.db.startswith("postgresql://"):
            import psycopg

            from sessionctl.store import PG_WRITE_LOCK

            self.con = psycopg.connect(self.db, autocommit=True)
            self.con.execute("SELECT pg_advisory_lock(%s)", (PG_WRITE_LOCK,))
        else:
            self.con = sqlite3.connect(self.db, isolation_level=None)
            self.con.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc):
        if not self.db.startswith("postgresql://"):
            self.con.execute("ROLLBACK")
        self.con.close()


def test_held_write_lock_gives_exit_6_and_changes_nothing(location):
    db = location
    ok("init", user="root", db=db)
    ok("user", "add", "ada", "--role", "educator", user="root", db=db)
    before = ok("course", "list", "--json", user="root", db=db)
    with _HeldLock(db):
        started = time.monotonic()
        result = sh("course", "add", "LOCK1", "--title", "Locked", user="ada", db=db,
                    SESSIONCTL_LOCK_TIMEOUT="1")
        waited = time.monotonic() - started
        # readers are not blocked by a writer
        assert ok("course", "list", "--json", user="root", db=db) == before
    assert result.returncode == 6, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: the store is busy")
    assert 1.0 <= waited < 10, waited
    assert ok("course", "list", "--json", user="root", db=db) == before == []
    # and once the lock is gone the same command goes through
    ok("course", "add", "LOCK1", "--title", "Locked", user="ada", db=db)


def test_closed_pipe_ends_quietly(tmp_path):
    """`sessionctl user list | head -n 2` on far more output than a pipe buffer holds."""
    db = tmp_path / "s.db"
    ok("init", user="root", db=db)
    con = sqlite3.connect(db)
    con.executemany(
        "INSERT INTO users (name, role, display, created_at) VALUES (?, 'student', ?, '2026-01-01 00:00:00')",
        [(f"user{i:05d}", "x" * 60) for i in range(4000)],
    )
    con.commit()
    con.close()
    env = {**os.environ, "SESSIONCTL_DB": str(db), "SESSIONCTL_USER": "root"}
    for command in ("user list", "user list --json"):
        pipeline = subprocess.run(
            f"'{BIN}' {command} | head -n 2; exit ${{PIPESTATUS[0]}}", shell=True,
            executable="/bin/bash", env=env, capture_output=True, text=True, timeout=60,
        )
        assert pipeline.stderr == "", pipeline.stderr
        assert pipeline.returncode == 0
        assert len(pipeline.stdout.splitlines()) == 2


def test_python_dash_m_runs_the_same_command(tmp_path):
    import sessionctl

    result = subprocess.run([sys.executable, "-m", "sessionctl", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, f"sessionctl {sessionctl.__version__}\n")


def test_default_store_lives_in_the_user_data_dir(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), SESSIONCTL_USER="root")
    expected = tmp_path / "data" / "sessionctl" / "sessionctl.db"
    missing = subprocess.run([str(BIN), "whoami"], env=env, capture_output=True, text=True)
    assert missing.returncode == 6 and "sessionctl init" in missing.stderr
    assert not expected.exists() and not expected.parent.exists()
    created = subprocess.run([str(BIN), "init"], env=env, capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    assert expected.exists() and str(expected) in created.stdout
    who = subprocess.run([str(BIN), "whoami", "--json"], env=env, capture_output=True, text=True)
    assert json.loads(who.stdout)["store"] == str(expected)


def test_a_writer_killed_mid_transaction_leaves_all_or_nothing(tmp_path):
    """SIGKILL a large `course enroll --from-csv` inside its transaction: never half an enrolment."""
    ROWS = 10_000  # the largest file enrol takes
    import random
    import signal

    db = tmp_path / "s.db"
    ok("init", user="root", db=db)
    ok("user", "add", "ada", "--role", "educator", user="root", db=db)
    ok("course", "add", "BIG", "--title", "Big", user="ada", db=db)
    env = {**os.environ, "SESSIONCTL_DB": str(db), "SESSIONCTL_USER": "ada"}
    rng = random.Random(7)
    killed_inside = 0
    for round_ in range(5):
        csv = tmp_path / f"roster{round_}.csv"
        csv.write_text("name,email\n" + "".join(
            f"r{round_}s{i:05d},r{round_}s{i}@example.edu\n" for i in range(ROWS)))
        writer = subprocess.Popen([str(BIN), "course", "enroll", "BIG", "--from-csv", str(csv)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # batched enrolment is quick: watch for the moment the writer holds the write lock
        probe = sqlite3.connect(db, timeout=0, isolation_level=None)
        inside, deadline = False, time.monotonic() + 60
        while writer.poll() is None and time.monotonic() < deadline:
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
            except sqlite3.OperationalError:  # the writer holds the write lock: mid-transaction
                inside = True
                break
        probe.close()
        time.sleep(rng.uniform(0, 0.05))  # somewhere in the transaction, not always its start
        killed_inside += inside
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        users = con.execute("SELECT COUNT(*) FROM users WHERE name LIKE ?", (f"r{round_}s%",)).fetchone()[0]
        enrolled = con.execute(
            "SELECT COUNT(*) FROM enrollments JOIN users ON users.id = student_id WHERE name LIKE ?",
            (f"r{round_}s%",)).fetchone()[0]
        con.close()
        assert (users, enrolled) in {(0, 0), (ROWS, ROWS)}, (round_, users, enrolled)
        # the store is still fully usable afterwards
        assert ok("course", "show", "BIG", "--json", user="ada", db=db)["code"] == "BIG"
    assert killed_inside >= 3, "too few kills landed inside the transaction to prove anything"
