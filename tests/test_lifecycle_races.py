"""Races of the booking lifecycle between real processes of the installed command (issue 10):
16 students joining one waitlist while seats free and fill, and a student's move proposal
approved while the educator moves the same booking and the student withdraws the proposal.

Each round starts every racer first (interpreter and sessionctl imported), holds the store's
write lock while they are released together by a starting gun, so that they queue up for the
lock at the same moment, then lets them go. Both run on SQLite and, with SESSIONCTL_TEST_PG
set, on PostgreSQL (``location``).
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from typer.testing import CliRunner

from conftest import future, iso
from sessionctl.cli import app
from test_processes import BIN, _HeldLock
from test_races import RACER

WAITLIST_ROUNDS = 3
MOVE_ROUNDS = 6


# An educator working through the slot's requests during the burst, one command at a time as
# from a shell: approve the oldest pending request, cancel a booked seat, a few times over.
# Prints one JSON list of (command, exit code, stderr).
CHURN = """
import json, os, subprocess, sys, time
ready, gun, binary, slot = sys.argv[1:5]
open(ready, "w").close()
while not os.path.exists(gun):
    time.sleep(0.001)
done = []
def run(*args):
    p = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)
    done.append((list(args), p.returncode, p.stderr))
    return json.loads(p.stdout) if p.returncode == 0 and "--json" in args else None
for _ in range(3):
    mine = run("request", "list", "--json") or []
    mine = [r for r in mine if r["slot"] == int(slot)]
    pending = sorted((r for r in mine if r["status"] == "pending"), key=lambda r: r["id"])
    if pending:
        run("request", "approve", str(pending[0]["id"]))
    booked = [r for r in mine if r["status"] == "approved"]
    if len(booked) >= 2:
        run("request", "cancel", str(booked[-1]["id"]), "--reason", "sorry")
print(json.dumps(done))
"""


def _env(db: str, user: str) -> dict:
    env = {**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC",
           "NO_COLOR": "1"}
    env.pop("SESSIONCTL_DEBUG", None)
    return env


def race(db: str, tmp_path, name: str, racers: list[tuple[str, str, list[str]]]):
    """Run each (user, script, args) as its own process, all released together behind a held
    write lock; returns [(exit code, stdout, stderr)] in the order given."""
    gun = tmp_path / f"go-{name}"
    ready, procs = [], []
    with _HeldLock(db):
        for index, (user, script, args) in enumerate(racers):
            ready.append(tmp_path / f"ready-{name}-{index}")
            procs.append(subprocess.Popen(
                [sys.executable, "-c", script, str(ready[-1]), str(gun), *args],
                env=_env(db, user), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in ready) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(r.exists() for r in ready), "a racer did not start"
        gun.touch()
        time.sleep(0.5)  # each has read what it reads before the lock and waits for the lock
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        outcomes.append((p.returncode, out, err))
    for code, out, err in outcomes:
        assert "Traceback" not in err and "internal error" not in err, (code, err)
    return outcomes


class Cli:
    """The command in-process (set-up and read-back only; the races are real processes)."""

    def __init__(self, db: str):
        self.db, self.runner = db, CliRunner()

    def __call__(self, user: str, *args: str):
        env = {"SESSIONCTL_DB": self.db, "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC",
               "SESSIONCTL_DEBUG": None}
        result = self.runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, (args, result.exit_code, result.stderr)
        return json.loads(result.stdout) if "--json" in args else result.stdout


def rows(db: str, query: str, *params) -> list[dict]:
    """Rows of ``query`` as dicts, on either backend (``?`` placeholders)."""
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as con:
            cur = con.execute(query.replace("?", "%s"), params)
            names = [d.name for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
    con = sqlite3.connect(db)
    try:
        cur = con.execute(query, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


def check_store(db: str) -> None:
    """The invariants of the whole store (the same ones as tests/test_lifecycle_machine.py)."""
    slots = {s["id"]: s for s in rows(db, "SELECT * FROM slots")}
    reqs = rows(db, "SELECT * FROM requests")
    by_slot: dict[int, list[dict]] = {s: [] for s in slots}
    for r in reqs:
        by_slot[r["slot_id"]].append(r)
    for slot_id, line in by_slot.items():
        s = slots[slot_id]
        count = Counter(r["status"] for r in line)
        assert s["booked"] == count["approved"] <= s["capacity"], (slot_id, s, count)
        if count["waiting"]:
            assert s["cancelled_at"] is None, (slot_id, count)
            assert s["booked"] + count["pending"] >= s["capacity"], (
                f"slot {slot_id}: a free seat is not offered", s, count)
    active = Counter((r["slot_id"], r["student_id"]) for r in reqs
                     if r["status"] in ("pending", "approved", "waiting"))
    assert max(active.values(), default=0) <= 1, active
    spans: dict[int, list] = {}
    for r in reqs:
        if r["status"] == "approved":
            s = slots[r["slot_id"]]
            spans.setdefault(r["student_id"], []).append((s["starts_at"], s["ends_at"], r["id"]))
    for theirs in spans.values():
        for (s1, e1, a), (s2, e2, b) in itertools.combinations(theirs, 2):
            assert not (s1 < e2 and s2 < e1), ("overlapping sessions", a, b)
    proposals = Counter(r["replaces_id"] for r in reqs
                        if r["status"] == "pending" and r["replaces_id"] is not None)
    assert max(proposals.values(), default=0) <= 1, proposals
    by_id = {r["id"]: r for r in reqs}
    for r in reqs:
        if r["replaced_by_id"] is not None:
            assert r["status"] == "cancelled", r
            assert by_id[r["replaced_by_id"]]["replaces_id"] == r["id"], r
    # history: each request's status is where its history ends
    last = {}
    for h in rows(db, "SELECT request_id, to_status FROM history ORDER BY id"):
        last[h["request_id"]] = h["to_status"]
    assert {r["id"]: r["status"] for r in reqs} == last
    if not db.startswith("postgresql://"):
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        con.close()


def check_fifo(db: str, cli: Cli, slot_id: int) -> None:
    """Positions on the slot's waitlist are 1..n in (created, id) order, and every request
    the system promoted from it and that is still pending is older than all still waiting."""
    line = rows(db, "SELECT id, created_at FROM requests WHERE slot_id = ? AND status = "
                    "'waiting' ORDER BY created_at, id", slot_id)
    shown = {r["id"]: r for r in cli("root", "request", "list", "--status", "waiting", "--json")
             if r["slot"] == slot_id}
    assert sorted(shown) == sorted(r["id"] for r in line)
    assert [shown[r["id"]]["waitlist_position"] for r in line] == list(range(1, len(line) + 1))
    oldest_waiting = min(((r["created_at"], r["id"]) for r in line), default=None)
    promoted = rows(db, "SELECT DISTINCT r.id, r.created_at FROM requests r JOIN history h ON "
                        "h.request_id = r.id WHERE r.slot_id = ? AND r.status = 'pending' AND "
                        "h.from_status = 'waiting' AND h.to_status = 'pending' "
                        "AND h.actor_id IS NULL", slot_id)
    for p in promoted:
        if oldest_waiting is not None:
            assert (p["created_at"], p["id"]) < oldest_waiting, (p, line)


def _world(db: str, students: int, tmp_path) -> Cli:
    cli = Cli(db)
    cli("root", "init")
    cli("root", "user", "add", "ada", "--role", "educator")
    cli("ada", "course", "add", "RACE", "--title", "Race")
    roster = tmp_path / "roster.csv"  # unknown names in a roster are registered as students
    roster.write_text("name\n" + "".join(f"s{i:02d}\n" for i in range(students)))
    cli("ada", "course", "enroll", "RACE", "--from-csv", str(roster))
    return cli


def _slot(cli: Cli, hours: float, capacity: int = 1) -> int:
    [slot] = cli("ada", "slot", "add", "--course", "RACE", "--start", iso(future(hours=hours)),
                 "--duration", "1h", "--capacity", str(capacity), "--json")
    return slot["id"]


def test_sixteen_students_join_one_waitlist_while_seats_free_and_fill(location, tmp_path):
    db = location
    cli = _world(db, 20, tmp_path)
    for round_ in range(WAITLIST_ROUNDS):
        slot = _slot(cli, 5 + 2 * round_, capacity=2)
        # s16 is booked, s17 waits for a decision (opted in), s18 asks without opting in
        booked = cli("s16", "request", "send", str(slot), "--json")["id"]
        cli("ada", "request", "approve", str(booked))
        opted = cli("s17", "request", "send", str(slot), "--waitlist", "--json")["id"]
        plain = cli("s18", "request", "send", str(slot), "--json")["id"]
        racers = [(f"s{i:02d}", RACER, ["request", "send", str(slot), "--waitlist", "--json"])
                  for i in range(16)]
        racers += [
            ("ada", RACER, ["request", "approve", str(opted)]),      # fills the slot
            ("ada", RACER, ["request", "cancel", str(booked)]),     # frees a seat
            ("ada", RACER, ["request", "reject", str(plain)]),      # a pending one goes
            ("ada", CHURN, [str(BIN), str(slot)]),                  # approves and cancels on
        ]
        outcomes = race(db, tmp_path, f"w{round_}", racers)
        codes = [code for code, _, _ in outcomes]
        assert set(codes) <= {0, 5}, outcomes
        churn = json.loads(outcomes[-1][1])
        assert {code for _, code, _ in churn} <= {0, 5}, churn
        assert all("Traceback" not in err for _, _, err in churn), churn
        # every student who got in holds exactly one request on the slot, as it said
        for (code, out, _), (student, _, _) in zip(outcomes[:16], racers[:16]):
            theirs = rows(db, "SELECT r.id, r.status FROM requests r JOIN users u ON "
                              "u.id = r.student_id WHERE r.slot_id = ? AND u.name = ?",
                          slot, student)
            if code == 0:
                said = json.loads(out)
                assert said["status"] in ("waiting", "pending"), said
                assert [r["id"] for r in theirs] == [said["id"]], (student, theirs)
            else:
                assert theirs == [], (student, theirs)
        check_store(db)
        check_fifo(db, cli, slot)
        statuses = Counter(r["status"] for r in rows(
            db, "SELECT status FROM requests WHERE slot_id = ?", slot))
        assert statuses["waiting"] >= 1, statuses  # 16 joined a 2-seat slot: a line remains


def test_a_move_proposal_approved_while_the_educator_moves_the_booking(location, tmp_path):
    db = location
    cli = _world(db, 1, tmp_path)
    winners = Counter()
    for round_ in range(MOVE_ROUNDS):
        base = 5 + 4 * round_
        here, proposed, elsewhere = (_slot(cli, base + k) for k in (0, 1, 2))
        booking = cli("s00", "request", "send", str(here), "--json")["id"]
        cli("ada", "request", "approve", str(booking))
        proposal = cli("s00", "request", "move", str(booking), "--to", str(proposed),
                       "--json")
        assert (proposal["status"], proposal["replaces"]) == ("pending", booking)
        assert cli("root", "request", "show", str(booking), "--json")["status"] == "approved"
        outcomes = race(db, tmp_path, f"m{round_}", [
            ("ada", RACER, ["request", "approve", str(proposal["id"])]),
            ("ada", RACER, ["request", "move", str(booking), "--to", str(elsewhere), "--json"]),
            ("s00", RACER, ["request", "cancel", str(proposal["id"])]),
        ])
        (approved, _, _), (moved, moved_out, _), (withdrawn, _, _) = outcomes
        assert {approved, moved, withdrawn} <= {0, 5}, outcomes
        # exactly one of the two ways the booking moves wins
        assert (approved, moved).count(0) == 1, outcomes
        winners[(approved, moved, withdrawn)] += 1
        chain = rows(db, "SELECT id, slot_id, status, replaces_id, replaced_by_id FROM requests "
                         "WHERE slot_id IN (?, ?, ?) ORDER BY id", here, proposed, elsewhere)
        by_id = {r["id"]: r for r in chain}
        live = [r for r in chain if r["status"] == "approved"]
        assert by_id[booking]["status"] == "cancelled", chain
        if approved == 0:
            # the proposal took effect; the student's cancel came after it (and so ended the
            # session it had become) or before it (and then the approval was refused)
            assert by_id[booking]["replaced_by_id"] == proposal["id"], chain
            if withdrawn == 0:
                assert by_id[proposal["id"]]["status"] == "cancelled" and live == [], chain
            else:
                assert [r["id"] for r in live] == [proposal["id"]], chain
        else:
            new = json.loads(moved_out)
            assert by_id[booking]["replaced_by_id"] == new["id"], chain
            assert (new["status"], new["replaces"], new["slot"]) == ("approved", booking,
                                                                     elsewhere)
            assert [r["id"] for r in live] == [new["id"]], chain
            assert by_id[proposal["id"]]["status"] == "cancelled", chain
        # no orphan proposal, seats where the sessions are
        assert not [r for r in chain if r["status"] == "pending"], chain
        check_store(db)
    assert sum(winners.values()) == MOVE_ROUNDS
    print(f"move race outcomes (approve, move, cancel): {dict(winners)}")
