"""Event hooks (docs/reference/meeting-rooms-and-hooks.md#event-hooks): ``hooks run`` hands each
event to the executable of ``hooks_dir`` named after it, at least once, in order per hook and
booking, with retries, a lease, and nothing lost when a hook or the run dies.

Hooks are real scripts written by each test; ``hooks run`` runs in-process (Typer's runner)
or as the installed command where processes race or die. The store is conftest.py's ``world``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import future, iso, snapshot
from runkit import proc


class Hooks:
    """A hooks_dir and its config file; each hook logs what it gets to ``log``."""

    def __init__(self, world, tmp_path: Path):
        self.world = world
        self.dir = tmp_path / "hooks"
        self.dir.mkdir()
        self.log = tmp_path / "log.jsonl"
        self.config = tmp_path / "xdg"
        (self.config / "sessionctl").mkdir(parents=True)
        self.settings('hook_timeout = 2\n')

    def settings(self, extra: str = "") -> None:
        (self.config / "sessionctl" / "config.toml").write_text(
            f'hooks_dir = "{self.dir}"\n{extra}', encoding="utf-8")

    @property
    def env(self) -> dict:
        return {"XDG_CONFIG_HOME": str(self.config)}

    def add(self, event: str, body: str | None = None, mode: int = 0o755) -> Path:
        path = self.dir / event
        path.write_text("#!/bin/sh\n" + (body if body is not None else
                                         f'cat >> "{self.log}"\necho >> "{self.log}"\n'))
        path.chmod(mode)
        return path

    def run(self, *args, user="root"):
        return self.world("hooks", "run", *args, user=user, env=self.env)

    def counts(self) -> dict:
        result = self.run("--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    def got(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@pytest.fixture
def hooks(world, tmp_path) -> Hooks:
    return Hooks(world, tmp_path)


def ok(world, *args, user="root"):
    result = world(*args, "--json", user=user)
    assert result.exit_code == 0, (args, result.stderr)
    return json.loads(result.stdout)


def slot(world, hours=24, capacity=1):
    [made] = ok(world, "slot", "add", "--course", "MATH101", "--start", iso(future(hours)),
                "--duration", "1h", "--capacity", str(capacity), user="ada")
    return made["id"]


def booking(world, hours=24, student="alan", approve=True):
    request = ok(world, "request", "send", str(slot(world, hours)), user=student)["id"]
    if approve:
        ok(world, "request", "approve", str(request), user="ada")
    return request


def register(hooks: Hooks, *events: str) -> None:
    """Add the hooks and let a run find them (no events yet: a new hook sees no history)."""
    for event in events:
        hooks.add(event)
    assert hooks.counts() == {"delivered": 0, "failed": 0, "pending": 0}


# -- what a hook receives ---------------------------------------------------------------------


def test_each_event_reaches_its_hook_as_one_json_object(hooks, world):
    register(hooks, "requested", "approved", "moved", "cancelled", "changed", "rejected",
             "waitlisted", "promoted", "slot-cancelled")
    first = booking(world)
    other = slot(world, 30)
    moved = ok(world, "request", "move", str(first), "--to", str(other), user="ada")["id"]
    ok(world, "request", "update", str(moved), "--link", "https://meet.example.edu/x", user="ada")
    ok(world, "request", "cancel", str(moved), user="alan")
    full = slot(world, 40)
    seat = ok(world, "request", "send", str(full), user="alan")["id"]
    waiting = ok(world, "request", "send", str(full), "--waitlist", user="kat")["id"]
    ok(world, "request", "approve", str(seat), user="ada")  # kat's pending request waits
    ok(world, "request", "cancel", str(seat), user="alan")  # and is promoted
    rejected = ok(world, "request", "send", str(slot(world, 45)), user="kat")["id"]
    ok(world, "request", "reject", str(rejected), user="ada")
    ok(world, "slot", "cancel", str(full), user="ada")
    result = hooks.run("--json")
    got = hooks.got()
    assert [(g["event"], g["request"]["id"]) for g in got] == [
        ("requested", first), ("approved", first), ("moved", moved), ("changed", moved),
        ("cancelled", moved), ("requested", seat), ("requested", waiting), ("approved", seat),
        ("waitlisted", waiting), ("cancelled", seat), ("promoted", waiting),
        ("requested", rejected), ("rejected", rejected), ("slot-cancelled", waiting)], result.stderr
    assert json.loads(result.stdout) == {"delivered": len(got), "failed": 0, "pending": 0}
    first_event = got[0]
    assert set(first_event) == {"id", "event", "at", "actor", "request", "course", "slot"}
    assert first_event["actor"] == "alan" and first_event["request"]["id"] == first
    assert first_event["course"] == {"code": "MATH101", "title": "Maths", "educator": "ada"}
    assert first_event["slot"]["educator"] == "ada"
    promoted = next(g for g in got if g["event"] == "promoted")
    assert promoted["actor"] is None and promoted["request"]["id"] == waiting
    assert len({g["id"] for g in got}) == len(got)


def test_completed_and_reminder_events(hooks, world, booked, clock):
    register(hooks, "completed", "reminder")
    request = booked.approved(clock.now + timedelta(hours=2), "alan")
    assert world("remind", "--within", "24h", user="root").exit_code == 0
    assert world("remind", "--within", "24h", user="root").exit_code == 0  # once only
    clock.advance(hours=4)
    assert world("sweep", user="root").exit_code == 0
    assert hooks.counts()["delivered"] == 2
    assert [(g["event"], g["request"]["id"]) for g in hooks.got()] == [
        ("reminder", request), ("completed", request)]


def test_hostile_text_reaches_a_hook_only_inside_valid_json(hooks, world):
    register(hooks, "requested")
    message = 'line one\nline two "quoted" \\ </script> \t $(rm -rf /) `id` \u2603'
    ok(world, "user", "set", "alan", "--display", 'Al "the" \\ $(id)')
    ok(world, "request", "send", str(slot(world)), "--message", message, user="alan")
    hooks.counts()
    [got] = hooks.got()
    assert got["request"]["message"] == message


def test_a_hook_added_later_starts_with_the_events_after_it_appears(hooks, world):
    register(hooks, "requested")
    booking(world, 24)
    hooks.add("approved")
    assert hooks.counts() == {"delivered": 1, "failed": 0, "pending": 0}  # no replay
    booking(world, 30, student="kat")
    assert hooks.counts() == {"delivered": 2, "failed": 0, "pending": 0}
    assert [g["event"] for g in hooks.got()] == ["requested", "requested", "approved"]


def test_no_hooks_no_events(hooks, world):
    booking(world)
    assert hooks.counts() == {"delivered": 0, "failed": 0, "pending": 0}
    assert snapshot(world.db)["events"] == []


# -- failures --------------------------------------------------------------------------------


def _events(db) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT id, kind, booking, state, attempts FROM events ORDER BY id").fetchall()


def _due_now(db) -> None:
    with sqlite3.connect(db) as con:
        con.execute("UPDATE events SET next_at = '2000-01-01 00:00:00' WHERE next_at IS NOT NULL")


def test_a_failing_hook_holds_back_only_its_own_later_events_of_that_booking(hooks, world):
    register(hooks, "approved", "cancelled")
    hooks.add("cancelled", f'cat >> "{hooks.log}"\necho >> "{hooks.log}"\n'
                           'echo "the channel is down" >&2\nexit 1\n')
    a = booking(world, 24)
    b = booking(world, 30, student="kat")
    ok(world, "request", "cancel", str(a), user="alan")
    ok(world, "request", "cancel", str(b), user="kat")
    result = hooks.run("--json")
    assert json.loads(result.stdout) == {"delivered": 2, "failed": 2, "pending": 2}
    assert "hook cancelled failed" in result.stderr and "the channel is down" in result.stderr
    states = [(kind, state, attempts) for _, kind, _, state, attempts in _events(world.db)]
    assert states == [("approved", "delivered", 0), ("approved", "delivered", 0),
                      ("cancelled", "queued", 1), ("cancelled", "queued", 1)]
    # not due yet: the next run waits (backoff), the hook is not run again
    assert hooks.counts() == {"delivered": 0, "failed": 0, "pending": 2}
    hooks.add("cancelled")  # mended
    _due_now(world.db)
    assert hooks.counts() == {"delivered": 2, "failed": 0, "pending": 0}


def test_a_booking_s_later_event_waits_behind_its_failed_one(hooks, world):
    register(hooks, "approved")
    flag = hooks.dir / "fail"
    flag.touch()
    hooks.add("approved", f'[ -e "{flag}" ] && exit 1\ncat >> "{hooks.log}"\necho >> "{hooks.log}"\n')
    a = booking(world, 24)
    ok(world, "request", "cancel", str(a), user="ada")
    [other] = ok(world, "slot", "add", "--course", "MATH101", "--start", iso(future(50)),
                 "--duration", "1h", user="ada")
    ok(world, "request", "send", str(other["id"]), user="alan")
    again = ok(world, "request", "approve", str(a + 1), user="ada")["id"]
    assert hooks.counts() == {"delivered": 0, "failed": 2, "pending": 2}  # two bookings
    flag.unlink()
    _due_now(world.db)
    assert hooks.counts() == {"delivered": 2, "failed": 0, "pending": 0}
    assert [g["request"]["id"] for g in hooks.got()] == [a, again]


@pytest.mark.parametrize("body, says", [
    ("sleep 30\n", "no answer within 1 s"),
    ("kill -9 $$\n", "signal 9"),
    ("exit 7\n", "exit 7"),
])
def test_a_hook_that_hangs_or_dies_is_reported_and_retried(hooks, world, body, says):
    hooks.settings("hook_timeout = 1\n")
    register(hooks, "requested")
    hooks.add("requested", body)
    booking(world, approve=False)
    started = time.monotonic()
    result = hooks.run("--json")
    assert time.monotonic() - started < 10
    assert result.exit_code == 0 and json.loads(result.stdout)["failed"] == 1
    assert says in result.stderr


def test_a_hook_that_prints_megabytes_is_delivered(hooks, world):
    register(hooks, "requested")
    hooks.add("requested", "head -c 20000000 /dev/zero\nhead -c 5000000 /dev/zero >&2\n")
    booking(world, approve=False)
    assert hooks.counts() == {"delivered": 1, "failed": 0, "pending": 0}


def test_a_hook_that_is_not_executable(hooks, world):
    hooks.add("requested", mode=0o644)
    result = hooks.run("--json")
    assert result.exit_code == 0 and "not executable: ignored" in result.stderr
    booking(world, approve=False)
    assert hooks.counts()["delivered"] == 0 and snapshot(world.db)["events"] == []
    (hooks.dir / "requested").chmod(0o755)
    hooks.counts()
    booking(world, 30, student="kat", approve=False)
    (hooks.dir / "requested").chmod(0o644)  # registered, then no longer executable: it fails
    result = hooks.run("--json")
    assert json.loads(result.stdout)["failed"] == 1 and "not executable" in result.stderr


def test_a_hook_removed_takes_its_waiting_events_with_it(hooks, world):
    register(hooks, "requested")
    hooks.add("requested", "exit 1\n")
    booking(world, approve=False)
    assert hooks.counts()["failed"] == 1
    (hooks.dir / "requested").unlink()
    assert hooks.counts() == {"delivered": 0, "failed": 0, "pending": 0}
    assert [state for _, _, _, state, _ in _events(world.db)] == ["dropped"]


# -- the command -------------------------------------------------------------------------------


def test_quiet_prints_nothing_on_success(hooks, world):
    register(hooks, "requested")
    booking(world, approve=False)
    for flag in ("-q", "--quiet"):
        result = hooks.run(flag)
        assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    assert len(hooks.got()) == 1


@pytest.mark.parametrize("user", ["ada", "alan"])
def test_only_admins_run_hooks(hooks, world, user):
    register(hooks, "requested")
    booking(world, approve=False)
    before = snapshot(world.db)
    result = hooks.run(user=user)
    assert result.exit_code == 4 and "only admins" in result.stderr
    assert snapshot(world.db) == before and hooks.got() == []


def test_without_hooks_dir_it_says_what_to_set(world):
    result = world("hooks", "run")
    assert result.exit_code == 2 and "hooks_dir" in result.stderr


@pytest.mark.parametrize("value", ['"hooks"', '"/no/such/dir"'])
def test_a_bad_hooks_dir(world, tmp_path, value):
    folder = tmp_path / "xdg" / "sessionctl"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(f"hooks_dir = {value}\n")
    result = world("hooks", "run", env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert result.exit_code in (2, 6) and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


# -- processes: two runs at once, a run killed --------------------------------------------------


def _many(world, count: int) -> None:
    for n in range(count):
        ok(world, "request", "send", str(slot(world, 24 + n, capacity=2)), user="alan")


def test_two_runs_at_once_deliver_each_event_once(hooks, world):
    register(hooks, "requested")
    hooks.add("requested", f'sleep 0.05\ncat >> "{hooks.log}"\necho >> "{hooks.log}"\n')
    _many(world, 12)
    env = {**hooks.env, "SESSIONCTL_LOCK_TIMEOUT": "30"}
    runs = [subprocess.Popen(["sessionctl", "hooks", "run", "--json"], env={
        **{k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")},
        "SESSIONCTL_DB": str(world.db), "SESSIONCTL_USER": "root", **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in runs]
    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    assert sorted(json.loads(out)["delivered"] for _, out, _ in outcomes) == [0, 12]
    ids = [g["id"] for g in hooks.got()]
    assert len(ids) == len(set(ids)) == 12


def test_a_run_killed_in_the_middle_loses_nothing(hooks, world):
    register(hooks, "requested")
    hooks.add("requested", f'cat >> "{hooks.log}"\necho >> "{hooks.log}"\nsleep 0.2\n')
    _many(world, 15)
    victim = subprocess.Popen(["sessionctl", "hooks", "run"], env={
        **{k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")},
        "SESSIONCTL_DB": str(world.db), "SESSIONCTL_USER": "root", **hooks.env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(hooks.got()) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    time.sleep(0.5)  # the hook it was running finishes on its own
    result = proc("hooks", "run", "--json", user="root", db=world.db, env=hooks.env)
    assert result.returncode == 0, result.stderr  # the dead run's lease is no obstacle
    ids = [g["id"] for g in hooks.got()]
    assert sorted(set(ids)) == sorted({e[0] for e in _events(world.db)})  # nothing lost
    assert len(ids) - len(set(ids)) <= 1  # at most one delivered twice
    assert all(state == "delivered" for _, _, _, state, _ in _events(world.db))


# -- the shared mode ---------------------------------------------------------------------------

from test_shared import machine, seeded  # noqa: E402,F401 - the fake machine's fixtures


def test_in_the_shared_mode_hooks_must_be_the_service_accounts(seeded, tmp_path):
    m = seeded
    folder = tmp_path / "site-hooks"
    folder.mkdir(mode=0o755)
    log = tmp_path / "log"
    hook = folder / "approved"
    hook.write_text(f'#!/bin/sh\ncat >> "{log}"\n')
    hook.chmod(0o755)
    m.standard(f'hooks_dir = "{folder}"\n')
    m.ok("hooks", "run", sudo="grace")
    m.ok("request", "approve", "1", sudo="prof")
    for loose in (lambda: hook.chmod(0o777), lambda: folder.chmod(0o777)):
        loose()
        before = snapshot(m.db)
        result = m.run("hooks", "run", sudo="grace")
        assert result.exit_code == 4 and "writable by no one else" in result.stderr, result.stderr
        assert snapshot(m.db) == before and not log.exists()
        hook.chmod(0o755)
        folder.chmod(0o755)
    assert "delivered: 1" in m.ok("hooks", "run", sudo="grace")
    assert json.loads(log.read_text())["event"] == "approved"
