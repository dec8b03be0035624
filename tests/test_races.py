"""Races between real processes over who the actor is (issue 8: the actor is read inside the transaction, domain/context.py).

Each round holds the store's write lock while two installed-command processes start, read
what they need and queue up for the lock; then it lets them go. Whichever writes second would,
if it had read its actor before the lock, act on a stale copy. The actor is read inside the
transaction, and ``user set`` writes only the columns it changes, so every round ends in a
state that one of the two orders would produce.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


from test_processes import BIN, _HeldLock, ok

ROUNDS = 8

RACER = """
import os, sys, time
from sessionctl.cli import app
ready, gun = sys.argv[1:3]
open(ready, "w").close()
while not os.path.exists(gun):
    time.sleep(0.001)
sys.argv = ["sessionctl", *sys.argv[3:]]
app()
"""


def _race(db: str, tmp_path, round_: int, *commands: tuple[str, list[str]]) -> list[tuple[int, str]]:
    """Run each (user, args) as its own process, released together behind a held write lock."""
    gun = tmp_path / f"go{round_}"
    racers, ready = [], []
    with _HeldLock(db):
        for index, (user, args) in enumerate(commands):
            env = {**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC"}
            env.pop("SESSIONCTL_DEBUG", None)
            ready.append(tmp_path / f"ready{round_}.{index}")
            racers.append(subprocess.Popen(
                [sys.executable, "-c", RACER, str(ready[-1]), str(gun), *args], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 30
        while not all(r.exists() for r in ready) and time.monotonic() < deadline:
            time.sleep(0.01)  # imported, waiting for the gun
        gun.touch()
        time.sleep(0.4)  # each has read what it reads before the lock, and waits for the lock
    outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in racers]
    assert all("Traceback" not in err for _, err in outcomes), outcomes
    return outcomes


def test_a_demotion_racing_a_self_edit_is_never_undone(location, tmp_path):
    db = location
    ok("init", user="root", db=db)
    for round_ in range(ROUNDS):
        name = f"admin{round_}"
        ok("user", "add", name, "--role", "admin", user="root", db=db)
        (demoted, _), (edited, _) = _race(
            db, tmp_path, round_,
            ("root", ["user", "set", name, "--role", "educator"]),
            (name, ["user", "set", "--tz", "Europe/Berlin", "--display", f"Admin {round_}"]),
        )
        user = ok("user", "show", name, "--json", user="root", db=db)
        assert demoted == 0, round_
        assert user["role"] == "educator", (round_, user)  # the demotion stands
        if edited == 0:
            assert (user["tz"], user["display"]) == ("Europe/Berlin", f"Admin {round_}")
        else:  # it ran after the demotion: still allowed (one's own details), or refused cleanly
            assert (user["tz"], user["display"]) == (None, None)


def test_a_demoted_educator_never_ends_up_a_student_who_owns_a_course(location, tmp_path):
    db = location
    ok("init", user="root", db=db)
    outcomes = set()
    for round_ in range(ROUNDS):
        name = f"ed{round_}"
        ok("user", "add", name, "--role", "educator", user="root", db=db)
        (demoted, _), (added, _) = _race(
            db, tmp_path, round_,
            ("root", ["user", "set", name, "--role", "student"]),
            (name, ["course", "add", f"C{round_}", "--title", "Racing"]),
        )
        outcomes.add((demoted, added))
        role = ok("user", "show", name, "--json", user="root", db=db)["role"]
        owned = [c for c in ok("course", "list", "--json", user="root", db=db)
                 if c["educator"] == name]
        # one order: demoted, then the course refused (exit 4); the other: the course, then the
        # demotion refused because they own a course (exit 5)
        assert (demoted, added) in {(0, 4), (5, 0)}, (round_, demoted, added)
        assert (role, len(owned)) in {("student", 0), ("educator", 1)}, (round_, role, owned)
    students = [u for u in ok("user", "list", "--role", "student", "--json", user="root", db=db)]
    courses = ok("course", "list", "--json", user="root", db=db)
    assert not {c["educator"] for c in courses} & {u["name"] for u in students}


def test_racing_inits_on_a_new_path_all_succeed(tmp_path):
    """Eight ``init`` at once on a path that does not exist yet: every racer succeeds (none is
    turned away as "busy" by SQLite's deadlock avoidance), and exactly one becomes admin."""
    for round_ in range(15):
        db = tmp_path / f"new{round_}" / "store.db"
        env = {**os.environ, "SESSIONCTL_DB": str(db)}
        env.pop("SESSIONCTL_DEBUG", None)
        racers = [subprocess.Popen([str(BIN), "init", "--json"],
                                   env={**env, "SESSIONCTL_USER": f"u{i}"},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for i in range(8)]
        outcomes = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in racers]
        assert [code for code, _, _ in outcomes] == [0] * 8, (round_, outcomes)
        admins = [json.loads(out)["admin"] for _, out, _ in outcomes]
        assert len([a for a in admins if a]) == 1, admins
