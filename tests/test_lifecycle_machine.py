"""The booking lifecycle (docs/reference/lifecycle.md) as a random walk: a Hypothesis state machine on
the domain layer with a test clock.

Random actors (the people concerned, an admin, and anyone at all, so that refusals are
exercised too) send requests with and without ``--waitlist``, approve, reject, cancel,
complete, move requests (as their student and as their educator), raise and lower capacities,
cancel slots, add slots, enrol and unenrol students, sweep, and let time pass (each tick is
followed by the cron ``sweep``). After every step the whole store is read back and checked:

- seats: ``booked`` equals the approved requests of each slot, never above its capacity; a
  cancelled slot holds no seat;
- no student holds two overlapping approved sessions; one active request per slot and student;
- the waitlist: a slot with waiting requests is live, has not started, and every free seat is
  offered (booked + pending >= capacity); every waiting request opted in; positions are 1..n
  in (created, id) order; a request the system promoted is older than every request still
  waiting on its slot (FIFO);
- enrolment: no pending request of a student who is not enrolled in its course;
- moves: at most one pending proposal per request, and none for a booking that is no longer
  approved (no orphan proposal); a replaced request is cancelled, and the
  two ends of a chain name each other;
- history: every request's status is the last row of its history, each row continues the
  previous one, final states never change again, every change of a step is one history row,
  and automatic changes (fill, offer, expiry) are the system's and told to the student (and a
  promotion to the educator too);
- a refused step (any ``SessionctlError``) changed nothing at all (``snapshot``).

The CI budget is set in ``TestLifecycleMachine.settings``; ``SESSIONCTL_MACHINE_EXAMPLES``
(and ``SESSIONCTL_MACHINE_STEPS``) run it longer to hunt for bugs, e.g.
``SESSIONCTL_MACHINE_EXAMPLES=2000 pytest tests/test_lifecycle_machine.py``; with
``SESSIONCTL_MACHINE_PG=1`` (and SESSIONCTL_TEST_PG) it walks a PostgreSQL store instead.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import tempfile
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from conftest import PG_SERVER, snapshot
from sessionctl.domain import courses, moves, requests, slots, users
from sessionctl.domain.context import Context, find_actor
from sessionctl.domain.window import Window
from sessionctl.errors import SessionctlError
from sessionctl.store import open_store

UTC = timezone.utc
T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
MIN = timedelta(minutes=1)

EDUCATORS = {"MATH101": "ada", "PHYS1": "bob"}
ENROLLED = {"MATH101": ["alan", "kat", "eve", "max"], "PHYS1": ["alan", "eve", "sue"]}
STUDENTS = ("alan", "kat", "eve", "max", "sue")
PEOPLE = ("root", "ada", "bob") + STUDENTS
ACTIVE = ("pending", "approved", "waiting")
FINAL = ("rejected", "cancelled", "completed")
# Every transition the state machine allows (sessionctl/statuses.py), and the creations.
ALLOWED = {
    (None, "pending"), (None, "waiting"), (None, "approved"),
    ("pending", "approved"), ("pending", "rejected"), ("pending", "cancelled"),
    ("pending", "waiting"),
    ("approved", "completed"), ("approved", "cancelled"), ("approved", "approved"),
    ("pending", "pending"),  # a link or notes change on a request writes a same-state row
    ("waiting", "pending"), ("waiting", "approved"), ("waiting", "cancelled"),
    ("waiting", "rejected"),
}

# The slots the walk starts with: (course, start offset from T0, length, capacity). ada's
# never overlap each other, nor do bob's; bob's overlap ada's, so a student in both courses
# can run into the overlap rule. The clock starts at 09:00; sessions from 12:00 on.
SEED_SLOTS = [
    ("MATH101", 3 * H, H, 1),
    ("MATH101", 4 * H, H, 2),
    ("MATH101", 5 * H, H, 3),
    ("MATH101", 25 * H, H, 1),
    ("PHYS1", 3 * H + 30 * MIN, H, 2),
    ("PHYS1", 5 * H + 30 * MIN, H, 1),
    ("PHYS1", 25 * H + 30 * MIN, H, 2),
]


def _db_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class LifecycleMachine(RuleBasedStateMachine):
    """See the module docstring. ``self.requests`` lists every request id created so far;
    ``self.slots`` every slot id; both only grow."""

    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="sessionctl-lifecycle-")
        self.path = os.path.join(self.dir, "store.db")
        self.pg = None
        if os.environ.get("SESSIONCTL_MACHINE_PG") and PG_SERVER:  # hunting on PostgreSQL
            import uuid

            import psycopg

            self.pg = f"sessionctl_machine_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(PG_SERVER, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.pg}"')
            self.path = f"{PG_SERVER.rpartition('/')[0]}/{self.pg}"
        self.store = open_store(self.path, create=True)
        self.now = T0
        self.contexts: dict[str, Context] = {}
        users.register_first_admin(self.store, "root")
        for name, role in [("ada", "educator"), ("bob", "educator")] + [
                (s, "student") for s in STUDENTS]:
            users.add_user(self.ctx("root"), name, role, None, None, None)
        for code, educator in EDUCATORS.items():
            courses.add_course(self.ctx(educator), code, code.title(), None)
            courses.enroll(self.ctx(educator), code, ENROLLED[code], [])
        self.slots: list[int] = []
        for code, offset, length, capacity in SEED_SLOTS:
            [view] = slots.add_slots(self.ctx(EDUCATORS[code]), code,
                                     [Window(T0 + offset, T0 + offset + length)],
                                     capacity=capacity)
            self.slots.append(view.id)
        self.requests: list[int] = []
        self.last_history = 0
        self.last_notification = 0
        self.statuses: dict[int, str] = {}
        self.steps: list[str] = []

    # -- plumbing -----------------------------------------------------------------------------

    def ctx(self, name: str) -> Context:
        if name not in self.contexts:
            with self.store.read():
                actor = find_actor(name)
            self.contexts[name] = Context(self.store, actor, UTC, lambda: self.now)
        return self.contexts[name]

    def teardown(self):
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.pg:
            import psycopg

            with psycopg.connect(PG_SERVER, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.pg}" WITH (FORCE)')

    def sql(self, query: str, *args):
        """Rows of ``query`` (``?`` placeholders); instants as SQLite stores them (text)."""
        if self.pg:
            import psycopg

            with psycopg.connect(self.path) as con:
                rows = con.execute(query.replace("?", "%s"), args).fetchall()
            return [tuple(_db_time(v.replace(tzinfo=UTC)) if isinstance(v, datetime) else v
                          for v in row) for row in rows]
        con = sqlite3.connect(self.path)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()

    def attempt(self, what: str, fn, actor: str, *args, **kwargs):
        """``fn(ctx(actor), *args)``; a refusal must leave the store exactly as it was."""
        before = snapshot(self.path)
        self.steps.append(f"{what} by {actor}: {args} {kwargs}")
        try:
            result = fn(self.ctx(actor), *args, **kwargs)
        except SessionctlError as exc:
            after = snapshot(self.path)
            changed = [t for t in before if before[t] != after[t]]
            assert not changed, f"a refused {what} ({exc.message}) changed {changed}"
            self.steps[-1] += f" -> refused {exc.code}: {exc.message}"
            return None
        self.steps[-1] += " -> done"
        if hasattr(result, "id") and hasattr(result, "status") and what in ("send", "move"):
            self.requests.append(result.id)
        return result

    def request_row(self, pick: int):
        """(id, student, educator, slot) of a request sent so far, or None."""
        if not self.requests:
            return None
        # mostly an active request (closed ones only get refusals), sometimes any
        live = [rid for (rid,) in self.sql(
            "SELECT id FROM requests WHERE status IN ('pending', 'approved', 'waiting') "
            "ORDER BY id")]
        pool = live if live and pick % 4 else self.requests
        rid = pool[(pick // 4) % len(pool)]
        [(student, educator, slot)] = self.sql(
            "SELECT st.name, ed.name, r.slot_id FROM requests r JOIN slots s ON s.id = r.slot_id "
            "JOIN users st ON st.id = r.student_id JOIN users ed ON ed.id = s.educator_id "
            "WHERE r.id = ?", rid)
        return rid, student, educator, slot

    @staticmethod
    def who(role: str, pick: int, student: str | None, educator: str) -> str:
        return {"student": student or STUDENTS[pick % len(STUDENTS)], "educator": educator,
                "root": "root"}.get(role, PEOPLE[pick % len(PEOPLE)])

    def slot_of(self, pick: int) -> tuple[int, str, str]:
        slot_id = self.slots[pick % len(self.slots)]
        [(educator, code)] = self.sql(
            "SELECT u.name, c.code FROM slots s JOIN users u ON u.id = s.educator_id "
            "JOIN courses c ON c.id = s.course_id WHERE s.id = ?", slot_id)
        return slot_id, educator, code

    @initialize()
    def seed(self):
        """A few requests to start from: pending ones, and a full slot with a waitlist."""
        for student, slot, waitlist in [("alan", 0, False), ("kat", 0, True), ("kat", 1, True),
                                        ("alan", 4, False), ("eve", 4, True)]:
            view = requests.send(self.ctx(student), self.slots[slot], None, waitlist=waitlist)
            self.requests.append(view.id)
        requests.approve(self.ctx("ada"), self.requests[0], None, None)  # kat waits on slot 0
        view = requests.send(self.ctx("max"), self.slots[0], None, waitlist=True)
        self.requests.append(view.id)
        self.check_step()

    # -- the walk -------------------------------------------------------------------------------

    # One rule with weighted actions rather than one rule per action (as in test_domain.py):
    # Hypothesis enables a random subset of rules per example, which left some actions rare.
    @rule(
        action=st.sampled_from(
            ["send"] * 4 + ["approve"] * 4 + ["reject", "cancel", "cancel", "cancel"]
            + ["move"] * 4 + ["capacity"] * 2
            + ["complete", "cancel_slot", "add_slot", "unenroll", "enroll", "sweep", "tick"]
        ),
        role=st.sampled_from(("educator", "educator", "student", "student", "root", "anyone")),
        pick=st.integers(0, 200),
        other=st.integers(0, 200),
        flag=st.booleans(),
        amount=st.integers(1, 4),
    )
    def step(self, action, role, pick, other, flag, amount):
        getattr(self, f"do_{action}")(role, pick, other, flag, amount)
        self.check_step()

    def do_send(self, role, pick, other, flag, amount):
        slot_id, educator, _ = self.slot_of(other)
        student = self.who(role, pick, None, educator) if role == "anyone" else \
            STUDENTS[pick % len(STUDENTS)]
        self.attempt("send", requests.send, student, slot_id, "hi" if pick % 3 else None,
                     waitlist=flag)

    def _on_request(self, what, fn, role, pick, *args):
        found = self.request_row(pick)
        if found is not None:
            rid, student, educator, _ = found
            self.attempt(what, fn, self.who(role, pick, student, educator), rid, *args)

    def do_approve(self, role, pick, other, flag, amount):
        link = "https://meet.example.edu/own" if flag and other % 4 == 0 else None
        self._on_request("approve", requests.approve, role, pick, link, None)

    def do_reject(self, role, pick, other, flag, amount):
        self._on_request("reject", requests.reject, role, pick, "no")

    def do_cancel(self, role, pick, other, flag, amount):
        self._on_request("cancel", requests.cancel, role, pick, None)

    def do_complete(self, role, pick, other, flag, amount):
        self._on_request("complete", requests.complete, role, pick)

    def do_move(self, role, pick, other, flag, amount):
        found = self.request_row(pick)
        if found is None:
            return
        rid, student, educator, slot_id = found
        [(course,)] = self.sql("SELECT course_id FROM slots WHERE id = ?", slot_id)
        # mostly a slot of the same course (the only ones a booking can move to)
        same = [s for (s,) in self.sql("SELECT id FROM slots WHERE course_id = ? AND id != ? "
                                       "ORDER BY id", course, slot_id)]
        pool = self.slots if other % 7 == 0 or not same else same
        target = pool[other % len(pool)]
        self.attempt("move", moves.move, self.who(role, pick, student, educator), rid, target,
                     "moving" if flag else None)

    def do_capacity(self, role, pick, other, flag, amount):
        slot_id, educator, _ = self.slot_of(other)
        self.attempt("capacity", slots.update_slot, self.who(role, pick, None, educator),
                     slot_id, capacity=amount)

    def do_cancel_slot(self, role, pick, other, flag, amount):
        if pick % 3:  # slot cancellation ends a lot of the walk: do it a third of the time
            return
        slot_id, educator, _ = self.slot_of(other)
        self.attempt("cancel_slot", slots.cancel_slot, self.who(role, pick, None, educator),
                     slot_id, "off")

    def do_add_slot(self, role, pick, other, flag, amount):
        """A new slot some hours ahead of now (it may collide with the educator's others)."""
        code = ("MATH101", "PHYS1")[other % 2]
        educator = EDUCATORS[code]
        start = self.now + (1 + pick % 30) * H + (30 * MIN if flag else timedelta(0))
        actor = self.who(role, pick, None, educator)
        made = self.attempt("add_slot", slots.add_slots, actor, code,
                            [Window(start, start + H)], capacity=amount)
        if made:
            self.slots.append(made[0].id)

    def do_unenroll(self, role, pick, other, flag, amount):
        code = ("MATH101", "PHYS1")[other % 2]
        student = ENROLLED[code][pick % len(ENROLLED[code])]
        self.attempt("unenroll", courses.unenroll, self.who(role, pick, None, EDUCATORS[code]),
                     code, [student])

    def do_enroll(self, role, pick, other, flag, amount):
        code = ("MATH101", "PHYS1")[other % 2]
        student = ENROLLED[code][pick % len(ENROLLED[code])]
        self.attempt("enroll", courses.enroll, self.who(role, pick, None, EDUCATORS[code]),
                     code, [student], [])

    def do_sweep(self, role, pick, other, flag, amount):
        self.attempt("sweep", requests.sweep, ("root", "ada", "bob", "alan")[pick % 4])

    def do_tick(self, role, pick, other, flag, amount):
        """Time passes, and cron sweeps (as an admin), as on a real installation."""
        self.now += timedelta(minutes=(10, 30, 60, 120, 300)[pick % 5])
        self.steps.append(f"tick to {self.now:%d %H:%M}")
        self.attempt("sweep", requests.sweep, "root")

    # -- the checks -------------------------------------------------------------------------------

    def load(self):
        reqs = {
            row[0]: dict(zip(("id", "slot", "student", "status", "created", "waitlist",
                              "replaces", "replaced_by", "link"), row))
            for row in self.sql(
                "SELECT id, slot_id, student_id, status, created_at, waitlist, replaces_id, "
                "replaced_by_id, link FROM requests")
        }
        slot_rows = {
            row[0]: dict(zip(("id", "course", "start", "end", "capacity", "booked", "cancelled"),
                             row))
            for row in self.sql(
                "SELECT id, course_id, starts_at, ends_at, capacity, booked, cancelled_at "
                "FROM slots")
        }
        history = self.sql("SELECT id, request_id, actor_id, from_status, to_status, note "
                           "FROM history ORDER BY id")
        return reqs, slot_rows, history

    def fail(self, message: str):
        trail = "\n".join(self.steps[-25:])
        raise AssertionError(f"{message}\nlast steps:\n{trail}")

    def check(self, condition, message):
        if not condition:
            self.fail(message)

    def check_step(self):
        """What must hold after every step, including the per-step history checks."""
        reqs, slot_rows, history = self.load()
        now = _db_time(self.now)
        by_slot: dict[int, list[dict]] = defaultdict(list)
        for r in reqs.values():
            by_slot[r["slot"]].append(r)

        # seats
        for s in slot_rows.values():
            approved = sum(1 for r in by_slot[s["id"]] if r["status"] == "approved")
            self.check(0 <= s["booked"] <= s["capacity"], f"slot {s['id']}: {s}")
            self.check(s["booked"] == approved,
                       f"slot {s['id']} has booked={s['booked']} but {approved} approved")
            if s["cancelled"] is not None:
                live = [r["id"] for r in by_slot[s["id"]] if r["status"] in ACTIVE]
                self.check(not live, f"cancelled slot {s['id']} still has active {live}")

        # one active request per slot and student; no overlapping approved sessions
        active = Counter((r["slot"], r["student"]) for r in reqs.values() if r["status"] in ACTIVE)
        self.check(max(active.values(), default=0) <= 1, f"two active requests: {active}")
        spans = defaultdict(list)
        for r in reqs.values():
            if r["status"] == "approved":
                s = slot_rows[r["slot"]]
                spans[r["student"]].append((s["start"], s["end"], r["id"]))
        for student, theirs in spans.items():
            for (s1, e1, a), (s2, e2, b) in itertools.combinations(theirs, 2):
                self.check(not (s1 < e2 and s2 < e1),
                           f"student {student} holds overlapping sessions {a} and {b}")

        # the waitlist: every free seat is offered; the line is live, future, FIFO, opted in
        for slot_id, line in by_slot.items():
            waiting = sorted((r["created"], r["id"]) for r in line if r["status"] == "waiting")
            if not waiting:
                continue
            s = slot_rows[slot_id]
            pending = sum(1 for r in line if r["status"] == "pending")
            self.check(s["cancelled"] is None, f"cancelled slot {slot_id} has waiting {waiting}")
            self.check(s["start"] > now, f"started slot {slot_id} still has waiting {waiting}")
            self.check(s["booked"] + pending >= s["capacity"],
                       f"slot {slot_id}: a free seat is not offered (capacity {s['capacity']}, "
                       f"booked {s['booked']}, pending {pending}, waiting {waiting})")
            for _, rid in waiting:
                self.check(reqs[rid]["waitlist"] == 1, f"request {rid} waits without opting in")

        # FIFO: every promotion of this step took the oldest in line
        system_promoted = {}
        for hid, rid, actor, was, to, note in history:
            if hid > self.last_history and was == "waiting" and to == "pending":
                self.check(actor is None, f"promotion of request {rid} is not the system's")
                system_promoted[rid] = hid
        for rid in system_promoted:
            mine = (reqs[rid]["created"], rid)
            still = [(c, i) for c, i in ((r["created"], r["id"]) for r in by_slot[reqs[rid]["slot"]]
                                         if r["status"] == "waiting")]
            self.check(all(mine < w for w in still),
                       f"request {rid} was promoted ahead of older waiting requests {still}")

        # unenrolling cancels a student's pending requests in the course, and only
        # enrolled students may ask (§4): no pending request of someone not enrolled, not even
        # one the waitlist brought back
        enrolled = set(self.sql("SELECT course_id, student_id FROM enrollments"))
        for r in reqs.values():
            if r["status"] == "pending":
                self.check((slot_rows[r["slot"]]["course"], r["student"]) in enrolled,
                           f"request {r['id']} is pending for a student not enrolled")

        # moves: one pending proposal per request; a replaced request is cancelled
        proposals = Counter(r["replaces"] for r in reqs.values()
                            if r["status"] == "pending" and r["replaces"] is not None)
        self.check(max(proposals.values(), default=0) <= 1, f"two pending moves: {proposals}")
        for r in reqs.values():
            if r["replaces"] is not None:  # a chain is one student's, within one course
                booking = reqs[r["replaces"]]
                self.check(booking["student"] == r["student"] and slot_rows[booking["slot"]][
                    "course"] == slot_rows[r["slot"]]["course"] and booking["id"] < r["id"],
                           f"request {r['id']} replaces request {booking['id']}: {booking}")
            if r["status"] == "pending" and r["replaces"] is not None:
                # a proposal lives only as long as the booking it would move (requests.cancel:
                # "a pending proposal to move it goes with it"); or the move took effect
                booking = reqs[r["replaces"]]
                self.check(booking["status"] == "approved" or booking["replaced_by"] == r["id"],
                           f"request {r['id']} proposes to move request {booking['id']}, "
                           f"which is {booking['status']}: an orphan proposal")
            if r["replaced_by"] is not None:
                self.check(r["status"] == "cancelled",
                           f"request {r['id']} was replaced by {r['replaced_by']} but is "
                           f"{r['status']}")
                self.check(reqs[r["replaced_by"]]["replaces"] == r["id"],
                           f"request {r['replaced_by']} does not name {r['id']} as replaced")

        # history: a chain of rows per request that ends in its status; final states stay
        rows = defaultdict(list)
        for hid, rid, actor, was, to, note in history:
            rows[rid].append((hid, actor, was, to, note))
        for rid, r in reqs.items():
            chain = rows.get(rid, [])
            self.check(chain, f"request {rid} has no history")
            self.check(chain[0][2] is None, f"request {rid} history starts from {chain[0]}")
            for (_, _, _, to, _), (_, _, was, _, _) in zip(chain, chain[1:]):
                self.check(was == to, f"request {rid} history is broken: {chain}")
            for _, _, was, to, _ in chain:
                self.check((was, to) in ALLOWED, f"request {rid}: {was} -> {to} is not allowed")
            self.check(chain[-1][3] == r["status"],
                       f"request {rid} is {r['status']} but its history ends in {chain[-1]}")
            before = self.statuses.get(rid)
            if before in FINAL:
                self.check(r["status"] == before, f"final request {rid} went {before} -> "
                           f"{r['status']}")
            if before is not None and before != r["status"]:
                fresh = [c for c in chain if c[0] > self.last_history]
                self.check(fresh and fresh[-1][3] == r["status"],
                           f"request {rid} changed {before} -> {r['status']} without history")
        # automatic changes are the system's (docs/reference/lifecycle.md#automatic-changes-are-the-systems): fill, offer and expiry
        for hid, rid, actor, was, to, note in history:
            if hid <= self.last_history:
                continue
            if (was, to) in (("pending", "waiting"), ("waiting", "pending")) or note in (
                    "slot is full", "expired"):
                self.check(actor is None, f"automatic change {was} -> {to} of request {rid} "
                           f"is recorded as user {actor}")

        # ... and told (docs/reference/lifecycle.md#the-waitlist): the student of each, and the educator of a promotion
        told = {(rid, user, kind) for rid, user, kind in self.sql(
            "SELECT request_id, user_id, kind FROM notifications WHERE id > ?",
            self.last_notification)}
        educator_of = dict(self.sql("SELECT id, educator_id FROM slots"))
        for hid, rid, actor, was, to, note in history:
            if hid <= self.last_history or actor is not None:
                continue
            if (was, to) not in (("pending", "waiting"), ("waiting", "pending")) and note not in (
                    "slot is full", "expired"):
                continue  # e.g. a proposal overtaken by a move: the move is told, once
            student, educator = reqs[rid]["student"], educator_of[reqs[rid]["slot"]]
            kinds = {kind for r, u, kind in told if r == rid and u == student}
            self.check(kinds, f"the student of request {rid} was not told of {was} -> {to}")
            if (was, to) == ("waiting", "pending"):
                self.check(any(r == rid and u == educator for r, u, _ in told),
                           f"the educator was not told that request {rid} left the waitlist")

        self.statuses = {rid: r["status"] for rid, r in reqs.items()}
        self.last_history = history[-1][0] if history else 0
        self.last_notification = self.sql("SELECT COALESCE(MAX(id), 0) FROM notifications")[0][0]

    @invariant()
    def views_agree(self):
        """What ``request list`` shows: contiguous waitlist positions in FIFO order,
        ``replaces``/``replaced_by`` as stored (or the pending proposal of an approved one)."""
        shown = requests.list_requests(self.ctx("root"), "all", None, None, None)
        reqs, _, _ = self.load()
        lines = defaultdict(list)
        for view in shown:
            r = reqs[view.id]
            self.check(view.status == r["status"], f"request {view.id} shows {view.status}")
            self.check(view.replaces == r["replaces"], f"request {view.id}: replaces")
            if view.status == "waiting":
                lines[view.slot].append(((r["created"], view.id), view.waitlist_position,
                                         view.waitlist_length))
            else:
                self.check(view.waitlist_position is None,
                           f"{view.status} request {view.id} has a waitlist position")
            if r["replaced_by"] is not None:
                self.check(view.replaced_by == r["replaced_by"], f"request {view.id}: replaced_by")
            elif view.replaced_by is not None:
                proposal = reqs[view.replaced_by]
                self.check(view.status == "approved" and proposal["status"] == "pending"
                           and proposal["replaces"] == view.id,
                           f"request {view.id} shows replaced_by {view.replaced_by}")
        for slot_id, line in lines.items():
            line.sort()
            self.check([p for _, p, _ in line] == list(range(1, len(line) + 1)),
                       f"slot {slot_id}: waitlist positions {line}")
            self.check({n for _, _, n in line} == {len(line)}, f"slot {slot_id}: lengths {line}")


TestLifecycleMachine = LifecycleMachine.TestCase
TestLifecycleMachine.settings = settings(
    max_examples=int(os.environ.get("SESSIONCTL_MACHINE_EXAMPLES", 50)),
    stateful_step_count=int(os.environ.get("SESSIONCTL_MACHINE_STEPS", 40)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # shrinking a failing walk can take Hypothesis's full five minutes: CI reports the walk as
    # found (each failure names its last 25 steps); a local run shrinks it to a replayable case
    phases=[p for p in Phase if p is not Phase.shrink] if os.environ.get("CI") else list(Phase),
)


# -- walks the machine found: replayed on every run ------------------------------------------------


def replay(*steps: dict) -> None:
    """Run the machine through these ``step`` arguments after its seed (a failing case as
    Hypothesis prints it), checking everything after each step."""
    machine = LifecycleMachine()
    try:
        machine.seed()
        for step in steps:
            machine.step(**{"role": "educator", "pick": 0, "other": 0, "flag": False,
                            "amount": 1, **step})
            machine.views_agree()
    finally:
        machine.teardown()


def test_an_unenrolled_students_place_on_the_waitlist_is_not_offered_a_seat():
    """kat waits for slot 0 (seed); ada unenrols her from MATH101, which cancels her pending
    requests (README.md#command-reference) but leaves the waiting one; a seat frees (capacity 1 -> 2) and the
    system offers it to kat: a pending request of a student not enrolled, which ada can then
    approve."""
    replay(dict(action="unenroll", other=0, pick=89),  # MATH101, kat
           dict(action="capacity", other=0, amount=2))  # slot 0


def test_a_move_proposal_goes_with_a_booking_whose_slot_is_cancelled():
    """eve's booking on slot 5 (PHYS1, bob) has a pending proposal to move to slot 7; bob
    cancels slot 5. ``request cancel`` of the booking would cancel the proposal with it, but the
    slot's cancellation leaves it pending: approving it later books eve as a plain new request
    that still ``replaces`` a booking nothing replaced."""
    replay(dict(action="approve", pick=16),  # bob approves eve's request 5 on slot 5
           dict(action="move", role="student", pick=16, other=1),  # eve proposes slot 7
           dict(action="cancel_slot", other=4))  # bob cancels slot 5


def test_a_move_proposal_does_not_outlive_a_completed_session():
    """The same proposal, but the booked session happens first and ``sweep`` completes it: the
    proposal stays pending, and approving it gives eve a second session instead of moving the
    one she already had."""
    replay(dict(action="approve", pick=16),
           dict(action="move", role="student", pick=16, other=1),
           dict(action="tick", pick=4))  # 09:00 -> 14:00: slot 5 (12:30-13:30) has ended
