"""A `slot add --repeat` writer SIGKILLed mid-series leaves the whole series or none of it.

The installed ``sessionctl`` runs as a separate process against a SQLite store. A lock probe
(``BEGIN IMMEDIATE`` with timeout 0, rolled back at once) shows when the writer is inside its
one write transaction; the writer is then killed at several points of that transaction. The
transaction of a 500-slot series lasts only ~50-100 ms (on the 2-core project machine: ~1 ms of
overlap check, ~20 ms building the INSERT, ~20 ms reading the 500 rows back, COMMIT), so the
probe polls every half millisecond, and the kill points are fractions of a window measured in
the same run rather than fixed delays: the early ones land before the INSERT runs, the later
ones after all 500 rows are inserted and before COMMIT. That window is wide enough to catch
without pre-filling the store or holding it back: nothing in sessionctl is slowed or patched.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("sessionctl")
COUNT = 500
POLL = 0.0005  # seconds between lock probes: the probe holds the lock for microseconds only


def _env(db: Path, user: str) -> dict:
    environment = {
        **os.environ, "SESSIONCTL_DB": str(db), "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC",
    }
    environment.pop("SESSIONCTL_DEBUG", None)
    environment.pop("SESSIONCTL_LOCK_TIMEOUT", None)
    return environment


def sh(*args: str, user: str, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], env=_env(db, user), capture_output=True, text=True,
                          timeout=60, check=False)


def ok(*args: str, user: str, db: Path):
    result = sh(*args, user=user, db=db)
    assert result.returncode == 0, (args, result.returncode, result.stderr)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def series_args(year: int) -> list[str]:
    # 500 daily slots span 1 year and 4 months: a series starting every other year never overlaps
    return ["slot", "add", "--course", "CRASH", "--start", f"{year}-01-01T10:00Z",
            "--duration", "1h", "--repeat", "daily", "--count", str(COUNT)]


class Probe:
    """A connection that asks SQLite, without waiting, whether someone holds the write lock."""

    def __init__(self, db: Path):
        self.con = sqlite3.connect(db, timeout=0, isolation_level=None)

    def locked(self) -> bool:
        try:
            self.con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc), exc
            return True
        self.con.execute("ROLLBACK")  # at once, so the writer's own BEGIN IMMEDIATE hardly waits
        return False

    def wait_for_lock(self, writer: subprocess.Popen, limit: float = 20.0) -> float | None:
        """The moment the writer is seen inside its transaction; None if it ended unseen."""
        deadline = time.monotonic() + limit
        while writer.poll() is None and time.monotonic() < deadline:
            if self.locked():
                return time.monotonic()
            time.sleep(POLL)
        return None

    def close(self) -> None:
        self.con.close()


def spawn(db: Path, year: int) -> subprocess.Popen:
    return subprocess.Popen([str(BIN), *series_args(year)], env=_env(db, "ada"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def inspect(db: Path, year: int) -> tuple[int, int]:
    """(slots of the series starting in [year, year + 2), all slots); checks the file first."""
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        in_range = con.execute(
            "SELECT COUNT(*) FROM slots WHERE starts_at >= ? AND starts_at < ?",
            (f"{year}-01-01", f"{year + 2}-01-01"),
        ).fetchone()[0]
        total = con.execute("SELECT COUNT(*) FROM slots").fetchone()[0]
    finally:
        con.close()
    return in_range, total


def test_a_series_writer_killed_mid_transaction_leaves_all_or_nothing(tmp_path):
    """SIGKILL a 500-slot `slot add --repeat daily` at several points: never part of a series."""
    db = tmp_path / "s.db"
    ok("init", user="root", db=db)
    ok("user", "add", "ada", "--role", "educator", user="root", db=db)
    ok("course", "add", "CRASH", "--title", "Crash", user="ada", db=db)
    rng = random.Random(11)
    years = iter(range(2031, 2200, 2))
    series_in_store = 0

    def settle(year: int, label: str) -> int:
        """After a round: all or nothing, a sound file, and a store that still takes writes."""
        nonlocal series_in_store
        in_range, total = inspect(db, year)
        assert in_range in (0, COUNT), (label, in_range)
        assert total == COUNT * (series_in_store + (in_range == COUNT)), (label, total)
        again = sh(*series_args(year), "--json", user="ada", db=db)
        if in_range == 0:
            assert again.returncode == 0, (label, again.returncode, again.stderr)
            assert len(json.loads(again.stdout)) == COUNT
        else:
            assert again.returncode == 5, (label, again.returncode, again.stderr)
            assert "nothing was created" in again.stderr
        assert inspect(db, year) == (COUNT, COUNT * (series_in_store + 1))
        series_in_store += 1
        return in_range

    # Calibration, and the "whole series" case: unkilled writers, watched until they commit.
    # The shorter of two windows, so that a writer slowed down once does not push every kill
    # point past the COMMIT.
    windows = []
    for _ in range(2):
        year = next(years)
        probe = Probe(db)
        writer = spawn(db, year)
        seen = probe.wait_for_lock(writer)
        assert seen is not None, "the probe never saw the writer inside its transaction"
        while probe.locked():
            time.sleep(POLL)
        windows.append(time.monotonic() - seen)
        probe.close()
        assert writer.wait(timeout=60) == 0, writer.stderr.read()
        assert settle(year, "unkilled") == COUNT
    window = min(windows)

    # Killed after the probe saw the lock, at fractions of the window just measured; the lock
    # is probed again right before the kill, so "inside" means inside when the signal was sent.
    outcomes = []
    for fraction in (0.0, 0.15, 0.3, 0.45, 0.6, 0.7):
        year = next(years)
        probe = Probe(db)
        writer = spawn(db, year)
        seen = probe.wait_for_lock(writer)
        if seen is not None and fraction:
            time.sleep(fraction * window)
        inside = seen is not None and probe.locked()
        writer.send_signal(signal.SIGKILL)
        code = writer.wait(timeout=60)
        probe.close()
        label = f"probe at {fraction:.2f} of {window * 1000:.0f} ms"
        outcomes.append((label, inside, code, settle(year, label)))

    # Killed at random short delays after start, without a probe: before, inside or after the
    # transaction, wherever the signal happens to land.
    for _ in range(2):
        year = next(years)
        writer = spawn(db, year)
        delay = rng.uniform(0.1, 0.4)
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        code = writer.wait(timeout=60)
        label = f"blind at {delay * 1000:.0f} ms"
        outcomes.append((label, None, code, settle(year, label)))

    for outcome in outcomes:  # shown by pytest -rP, and on failure
        label, inside, code, left = outcome
        print(f"{label:<26} inside={inside!s:<5} exit={code} slots left={left}")
    killed_inside = [o for o in outcomes if o[1]]
    assert all(code == -signal.SIGKILL for _, _, code, _ in killed_inside), outcomes
    assert len(killed_inside) >= 3, ("too few kills landed inside the transaction", outcomes)
    assert any(left == 0 for *_, left in killed_inside), outcomes
