"""The attack pass on the database mode (docs/database-mode.md): raw psycopg as a student's own
login, and real processes racing, each with their own login. Every refusal leaves the store as
it was (``snapshot``, read as the superuser).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import PG_SERVER, future, iso, snapshot
from runkit import BIN
from sessionctl.store import PG_WRITE_LOCK
from test_database_mode import PASSWORD, converted, refused, rows, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not PG_SERVER, reason="SESSIONCTL_TEST_PG is not set (.ci/run sets it)")


def as_process(w, who: str, *args: str) -> subprocess.Popen:
    """``sessionctl ARGS`` as its own process, connected as ``who``'s own login."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    env.update(SESSIONCTL_DB=w.url_of(who), SESSIONCTL_TZ="UTC", NO_COLOR="1")
    return subprocess.Popen([BIN, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# -- a rush of sends by different logins --------------------------------------------------------


def test_a_rush_of_sends_by_many_logins_exits_only_0_or_5_and_overfills_nothing(world):
    """Twelve students, each their own process and login, send at once to a one-seat and a
    three-seat slot of an auto-approve course: every process exits 0 (booked) or 5 (full)."""
    w = world
    students = [f"r{i}_{w.suffix}" for i in range(12)]
    for name in students:
        w.cli("user", "add", name, "--role", "student")
        w.name[name] = name
    w.cli("course", "enroll", "MATH", *students, who="ada")
    w.cli("course", "set", "MATH", "--auto-approve", who="ada")
    slots = [w.json("slot", "add", "--course", "MATH", "--start", iso(future(hours)),
                    "--duration", "1h", "--capacity", str(capacity), who="ada")[0]["id"]
             for hours, capacity in ((100, 1), (110, 3))]
    w.convert()
    with w.superuser() as con:
        for name in students:
            con.execute(f'ALTER ROLE "{name}" PASSWORD \'{PASSWORD}\'')
    gate = w.superuser()  # the store's write lock held: every sender waits in the queue, and
    with gate.transaction():  # so gets ready while it waits (prepared.prime), then all go
        gate.execute("SELECT pg_advisory_xact_lock(%s)", (PG_WRITE_LOCK,))
        procs = [as_process(w, name, "request", "send", str(slots[i % 2]))
                 for i, name in enumerate(students)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and rows(
                gate, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )[0][0] < len(students) and all(p.poll() is None for p in procs):
            time.sleep(0.1)
    gate.close()
    done = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert {code for code, _ in done} <= {0, 5}, done
    with w.superuser() as con:
        seats = rows(con, "SELECT booked, capacity FROM slots WHERE id = ANY (%s) ORDER BY id",
                     (slots,))
    assert seats == [(1, 1), (3, 3)]
    assert sum(code == 0 for code, _ in done) == 4
