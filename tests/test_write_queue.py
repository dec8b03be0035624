"""Writers take turns: the queue in front of SQLite's lock, PostgreSQL's narrow locks, and a
lock timeout that counts time without progress (README: "Many writers at once").

Everything here runs real processes: the installed ``sessionctl``, and small Python holders
that take a turn (or a PostgreSQL lock) and keep it.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PG_SERVER, future, iso, snapshot
from test_processes import BIN, ok, sh

HOLDER = """
import sys, time
from sessionctl.store import open_store
store = open_store(sys.argv[1], timeout=60)
with store.write():
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(db: str, seconds: float) -> subprocess.Popen:
    """A process that takes a writer's turn on ``db`` and keeps it for ``seconds``."""
    return subprocess.Popen([sys.executable, "-c", HOLDER, db, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _tickets(db: str) -> int:
    """How many tickets the writers' queue of a SQLite store has handed out."""
    try:
        data = Path(db + "-lock").read_bytes()[:16]
    except FileNotFoundError:
        return 0
    return struct.unpack("<QQ", data)[0] if len(data) == 16 else 0


def _until(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _course(db: str, students: int, slots: int, *, auto: bool = True) -> list[int]:
    """A course of ``students`` enrolled students (s0…) and ``slots`` one-seat slots."""
    ok("init", user="root", db=db)
    ok("user", "add", "prof", "--role", "educator", user="root", db=db)
    ok("course", "add", "RUSH", "--title", "Rush", user="prof", db=db)
    roster = "name\n" + "".join(f"s{i}\n" for i in range(students))
    result = subprocess.run([str(BIN), "course", "enroll", "RUSH", "--from-csv", "-"], input=roster,
                            env={**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": "prof"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if auto:
        ok("course", "set", "RUSH", "--auto-approve", user="prof", db=db)
    made = ok("slot", "add", "--course", "RUSH", "--start", iso(future(hours=72)), "--duration",
              "10m", "--repeat", "daily", "--count", str(slots), "--json", user="prof", db=db)
    return [s["id"] for s in made]


def _send(db: str, student: str, slot: int, **env) -> subprocess.Popen:
    environment = {**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": student,
                   "SESSIONCTL_TZ": "UTC", **env}
    environment.pop("SESSIONCTL_DEBUG", None)
    return subprocess.Popen([str(BIN), "request", "send", str(slot), "--json"], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- a registration rush, on both backends ---------------------------------------------------------


def test_a_rush_of_forty_students_on_ten_slots_is_never_busy_and_never_overbooked(location):
    db = location
    slots = _course(db, 40, 10)
    racers = [_send(db, f"s{i}", slots[i % 10]) for i in range(40)]
    outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in racers]
    assert sorted({code for code, _ in outcomes}) == [0, 5], outcomes
    assert all("Traceback" not in err and "busy" not in err for _, err in outcomes), outcomes
    listed = ok("slot", "list", "--status", "all", "--course", "RUSH", "--json", user="root", db=db)
    assert [s["booked"] for s in listed] == [1] * 10  # every seat taken, none twice
    approved = ok("request", "list", "--status", "approved", "--json", user="root", db=db)
    assert len(approved) == 10 == len({r["slot"] for r in approved})
    assert sum(code == 0 for code, _ in outcomes) == 10


# -- SQLite: the writers' queue --------------------------------------------------------------------


def test_writers_are_served_in_the_order_they_came(tmp_path):
    db = str(tmp_path / "q.db")
    slots = _course(db, 6, 6, auto=False)
    holder = _holder(db, 60)
    try:
        assert holder.stdout.readline() == "holding\n"
        racers = []
        for i in range(6):  # each one takes its ticket before the next starts
            seen = _tickets(db)
            racers.append(_send(db, f"s{i}", slots[i]))
            _until(lambda: _tickets(db) > seen, f"writer {i} to line up")
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=30)
    assert [p.wait(timeout=60) for p in racers] == [0] * 6
    made = [json.loads(p.stdout.read())["id"] for p in racers]
    assert made == sorted(made)  # served first come, first served


def test_a_queue_that_moves_is_not_busy_however_long_it_is(tmp_path):
    """Four writers ahead keep their turn 0.6 s each: a writer with a 1 s lock timeout waits
    about 2.4 s and is served, because the queue moved all along."""
    db = str(tmp_path / "q.db")
    slots = _course(db, 1, 1, auto=False)
    ahead = []
    for _ in range(4):
        seen = _tickets(db)
        ahead.append(_holder(db, 0.6))
        _until(lambda: _tickets(db) > seen, "a holder to line up")
    started = time.monotonic()
    mine = _send(db, "s0", slots[0], SESSIONCTL_LOCK_TIMEOUT="1")
    assert mine.wait(timeout=60) == 0, mine.stderr.read()
    assert time.monotonic() - started >= 1.5  # it did wait behind them
    assert all(h.wait(timeout=30) == 0 for h in ahead)


def test_a_writer_that_makes_no_progress_turns_the_others_away_with_what_happened(tmp_path):
    db = str(tmp_path / "q.db")
    slots = _course(db, 2, 1, auto=False)
    holder = _holder(db, 60)
    try:
        assert holder.stdout.readline() == "holding\n"
        seen = _tickets(db)
        second = _send(db, "s1", slots[0], SESSIONCTL_LOCK_TIMEOUT="30")
        _until(lambda: _tickets(db) > seen, "a writer to line up")
        before = snapshot(db)
        started = time.monotonic()
        mine = _send(db, "s0", slots[0], SESSIONCTL_LOCK_TIMEOUT="1")
        assert mine.wait(timeout=60) == 6
        waited = time.monotonic() - started
        assert mine.stdout.read() == ""
        assert mine.stderr.read().splitlines() == [
            "error: the store is busy: waited 1 s in line with 2 writers ahead, and the one being "
            "served made no progress for 1 s; nothing changed",
            "hint: try again, or raise SESSIONCTL_LOCK_TIMEOUT",
        ]
        assert 1 <= waited < 8
        assert snapshot(db) == before
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=30)
    # the writer behind the one that gave up was served when the holder went
    assert second.wait(timeout=60) == 0, second.stderr.read()


def test_a_writer_killed_in_its_turn_lets_the_next_one_go_at_once(tmp_path):
    db = str(tmp_path / "q.db")
    slots = _course(db, 1, 1, auto=False)
    holder = _holder(db, 60)
    assert holder.stdout.readline() == "holding\n"
    seen = _tickets(db)
    mine = _send(db, "s0", slots[0], SESSIONCTL_LOCK_TIMEOUT="30")
    _until(lambda: _tickets(db) > seen, "a writer to line up")
    holder.kill()
    holder.wait(timeout=30)
    killed = time.monotonic()
    assert mine.wait(timeout=60) == 0, mine.stderr.read()
    assert time.monotonic() - killed < 5  # not the lock timeout
    assert sqlite_ok(db)


def sqlite_ok(db: str) -> bool:
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


@pytest.mark.parametrize("store, queue", [(0o600, 0o600), (0o644, 0o600), (0o640, 0o600),
                                          (0o660, 0o660), (0o666, 0o666)])
def test_only_those_who_may_write_the_store_may_open_its_queue_file(tmp_path, store, queue):
    """A lock needs only read access: a reader of the store who could read the queue file
    could hold a lock in it and stop every writer."""
    db = str(tmp_path / "q.db")
    _course(db, 1, 1)
    os.chmod(db, store)
    os.unlink(db + "-lock")
    ok("request", "send", "1", user="s0", db=db)
    assert stat.S_IMODE(os.stat(db + "-lock").st_mode) == queue


def test_a_queue_file_of_someone_else_is_not_used_nor_touched(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file away")
    db = str(tmp_path / "q.db")
    slots = _course(db, 1, 1)
    os.unlink(db + "-lock")
    Path(db + "-lock").write_bytes(b"")
    os.chown(db + "-lock", 65534, 65534)
    os.chmod(db + "-lock", 0o666)
    assert ok("request", "send", str(slots[0]), "--json", user="s0", db=db)["status"] == "approved"
    assert Path(db + "-lock").read_bytes() == b""


STOPPED_AT_THE_DISPENSER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_SH, 1, 1 << 40)
print("holding", flush=True)
time.sleep(60)
"""


def test_a_dispenser_that_stays_taken_is_waited_for_no_longer_than_the_timeout(tmp_path):
    db = str(tmp_path / "q.db")
    slots = _course(db, 1, 1)
    holder = subprocess.Popen([sys.executable, "-c", STOPPED_AT_THE_DISPENSER, db + "-lock"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        before = snapshot(db)
        started = time.monotonic()
        result = sh("request", "send", str(slots[0]), user="s0", db=db, SESSIONCTL_LOCK_TIMEOUT="1")
        assert result.returncode == 6 and result.stdout == ""
        assert result.stderr.startswith("error: the store is busy: waited 1 s in line")
        assert time.monotonic() - started < 8
        assert snapshot(db) == before
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("stuck", ["a sessionctl writer", "a writer outside the queue"])
def test_behind_a_stuck_writer_everybody_gives_up_after_the_timeout_not_one_after_another(
        tmp_path, stuck):
    db = str(tmp_path / "q.db")
    slots = _course(db, 4, 4, auto=False)
    if stuck == "a sessionctl writer":
        holder = _holder(db, 60)
        assert holder.stdout.readline() == "holding\n"
    else:
        import sqlite3

        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    try:
        writers, started = [], []
        for i in range(4):
            seen = _tickets(db)
            writers.append(_send(db, f"s{i}", slots[i], SESSIONCTL_LOCK_TIMEOUT="2"))
            _until(lambda: _tickets(db) > seen, f"writer {i} to line up")
            started.append(time.monotonic())  # in line: its start-up (slow on a busy machine) is over
        ended = []
        for writer in writers:
            assert writer.wait(timeout=60) == 6, writer.stderr.read()
            ended.append(time.monotonic())
            assert writer.stderr.read().startswith("error: the store is busy")
        waits = [end - start for start, end in zip(started, ended)]
        assert all(1.5 <= w < 4.5 for w in waits), waits  # not 2, 4, 6, 8 s
    finally:
        if stuck == "a sessionctl writer":
            holder.kill()
            holder.wait()
        else:
            holder.execute("ROLLBACK")
            holder.close()


def test_the_ticket_counter_wraps_around(tmp_path):
    db = str(tmp_path / "q.db")
    slots = _course(db, 2, 2)
    Path(db + "-lock").write_bytes(struct.pack("<QQ", 2**64 - 1, 2**64 - 1))
    for i in range(2):
        assert ok("request", "send", str(slots[i]), "--json", user=f"s{i}", db=db)["status"] == "approved"
    assert struct.unpack("<QQ", Path(db + "-lock").read_bytes()) == (1, 1)


@pytest.mark.parametrize("planted", ["symlink", "dangling-symlink", "directory", "fifo", "big-file"])
def test_whatever_sits_where_the_queue_file_goes_is_left_alone(tmp_path, planted):
    """A symlink is never followed (its target is not touched), and what is not a small
    regular file is not used: writers then go straight to SQLite's lock."""
    db = str(tmp_path / "q.db")
    slots = _course(db, 1, 1)
    os.unlink(db + "-lock")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    if planted == "symlink":
        os.symlink(victim, db + "-lock")
    elif planted == "dangling-symlink":
        os.symlink(tmp_path / "nowhere", db + "-lock")
    elif planted == "directory":
        os.mkdir(db + "-lock")
    elif planted == "fifo":
        os.mkfifo(db + "-lock")
    else:
        Path(db + "-lock").write_bytes(b"x" * 100_000)
    made = ok("request", "send", str(slots[0]), "--json", user="s0", db=db)
    assert made["status"] == "approved"
    assert victim.read_bytes() == b"precious\n"
    assert not (tmp_path / "nowhere").exists()
    if planted == "big-file":
        assert Path(db + "-lock").read_bytes() == b"x" * 100_000


# -- PostgreSQL: narrow locks, and their timeout ---------------------------------------------------

needs_pg = pytest.mark.skipif(not PG_SERVER, reason="SESSIONCTL_TEST_PG is not set (.ci/run sets it)")


@pytest.fixture
def pg(location):
    if not location.startswith("postgresql://"):
        pytest.skip("PostgreSQL only")
    return location


def _pg_hold(db: str, *key: int):
    import psycopg

    con = psycopg.connect(db, autocommit=True)
    con.execute(f"SELECT pg_advisory_lock({', '.join(['%s'] * len(key))})", key)
    return con


def _pg_waiting(db: str) -> int:
    import psycopg

    with psycopg.connect(db, autocommit=True) as con:
        return con.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                           "AND NOT granted").fetchone()[0]


def test_postgresql_bookings_of_other_slots_do_not_wait_for_a_held_slot(pg):
    from sessionctl.store import _PG_SLOT

    db = pg
    slots = _course(db, 2, 2)
    held = _pg_hold(db, _PG_SLOT, slots[0])
    try:
        other = ok("request", "send", str(slots[1]), "--json", user="s1", db=db,
                   SESSIONCTL_LOCK_TIMEOUT="1")
        assert other["status"] == "approved"
        before = snapshot(db)
        blocked = sh("request", "send", str(slots[0]), user="s0", db=db, SESSIONCTL_LOCK_TIMEOUT="1")
        assert blocked.returncode == 6 and blocked.stdout == ""
        assert blocked.stderr.startswith("error: the store is busy: waited 1 s in line with 1 "
                                         "writer ahead, and the one being served made no "
                                         "progress for 1 s; nothing changed\n")
        assert snapshot(db) == before
    finally:
        held.close()
    assert ok("request", "send", str(slots[0]), "--json", user="s0", db=db)["status"] == "approved"


def test_postgresql_a_lock_that_changes_hands_is_waited_for_past_the_timeout(pg):
    import threading

    from sessionctl.store import _PG_SLOT

    db = pg
    slots = _course(db, 1, 1, auto=False)
    first = _pg_hold(db, _PG_SLOT, slots[0])
    second = []

    def queue_then_hold():
        con = _pg_hold(db, _PG_SLOT, slots[0])  # waits behind the first
        second.append(con)
        time.sleep(0.8)
        con.close()

    waiter = threading.Thread(target=queue_then_hold)
    waiter.start()
    _until(lambda: _pg_waiting(db) == 1, "the second holder to queue")
    mine = _send(db, "s0", slots[0], SESSIONCTL_LOCK_TIMEOUT="1")
    _until(lambda: _pg_waiting(db) == 2, "sessionctl to queue")
    time.sleep(0.8)
    first.close()  # the second takes it for 0.8 s more: 1.6 s in all, progress at 0.8 s
    waiter.join(timeout=30)
    assert mine.wait(timeout=60) == 0, mine.stderr.read()
    assert json.loads(mine.stdout.read())["status"] == "pending"


def test_postgresql_the_busy_message_counts_only_those_ahead(pg):
    import threading

    from sessionctl.store import _PG_SLOT

    db = pg
    slots = _course(db, 2, 1, auto=False)
    held = _pg_hold(db, _PG_SLOT, slots[0])
    behind = []
    try:
        first = _send(db, "s1", slots[0], SESSIONCTL_LOCK_TIMEOUT="30")
        _until(lambda: _pg_waiting(db) == 1, "the first writer to queue")
        mine = _send(db, "s0", slots[0], SESSIONCTL_LOCK_TIMEOUT="2")
        _until(lambda: _pg_waiting(db) == 2, "this writer to queue")
        threading.Thread(target=lambda: behind.append(_pg_hold(db, _PG_SLOT, slots[0])),
                         daemon=True).start()
        _until(lambda: _pg_waiting(db) == 3, "a writer behind to queue")
        assert mine.wait(timeout=60) == 6
        assert mine.stderr.read().startswith(
            "error: the store is busy: waited 2 s in line with 2 writers ahead, and the one "
            "being served made no progress for 2 s; nothing changed\n")
    finally:
        held.close()
    assert first.wait(timeout=60) == 0, first.stderr.read()
    _until(lambda: bool(behind), "the writer behind to get the lock")
    behind[0].close()


# -- a writer that waits says so on a terminal (docs/reference/store.md) ---------------------------


def _send_on_tty(db: str, student: str, slot: int) -> tuple[int, str]:
    """``request send`` with its stderr on a pseudo-terminal: the exit code and what it showed."""
    from runkit import on_terminal

    environment = {**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": student,
                   "SESSIONCTL_TZ": "UTC"}
    environment.pop("SESSIONCTL_DEBUG", None)
    return on_terminal(["request", "send", str(slot), "--json"], environment, stderr_only=True)


WAITING = "waiting for the store: another sessionctl is writing to it…\n"


def test_a_writer_waiting_more_than_a_second_says_so_on_a_terminal_only(tmp_path):
    db = str(tmp_path / "q.db")
    slots = _course(db, 2, 2, auto=False)
    holder = _holder(db, 2.5)
    assert holder.stdout.readline() == "holding\n"
    code, shown = _send_on_tty(db, "s0", slots[0])
    assert (code, shown) == (0, WAITING)  # once, and then it went on
    holder.wait(timeout=30)
    holder = _holder(db, 2.5)
    assert holder.stdout.readline() == "holding\n"
    piped = _send(db, "s1", slots[1])
    assert piped.wait(timeout=60) == 0 and piped.stderr.read() == ""  # not a terminal: quiet
    holder.wait(timeout=30)
    quick_code, quick = _send_on_tty(db, "s1", slots[0])  # nobody ahead: nothing said
    assert (quick_code, quick) == (0, "")


@needs_pg
def test_postgresql_a_writer_waiting_more_than_a_second_says_so_on_a_terminal(pg):
    import threading

    from sessionctl.store import _PG_SLOT

    db = pg
    slots = _course(db, 1, 1, auto=False)
    held = _pg_hold(db, _PG_SLOT, slots[0])
    threading.Timer(2.5, held.close).start()
    code, shown = _send_on_tty(db, "s0", slots[0])
    assert (code, shown) == (0, WAITING)
