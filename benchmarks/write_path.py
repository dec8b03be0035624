"""The write path in-process: approvals through the domain against raw SQL of the same shape.

One approval (``requests.approve``) takes the write lock, reads the request with its slot,
course and people, checks the student's other sessions, takes a seat and changes the
request by compare-and-swap, writes a history row and a notification, and commits. The raw
figure is the same transaction shape written by hand with the driver (sqlite3, psycopg):
take the lock, read the request and its slot, compare-and-swap its status, insert the
history row and the notification, commit. Both run in this one process on the same store,
on pending requests of their own, in interleaved batches; the ratio is domain / raw.

Then the lock under contention: the same number of approvals by one process, and by eight
processes at once (each approving its own educator's requests), as throughput. And SPEC's
bulk jobs as whole processes: `sweep` of 1,000 ended sessions, `remind` of 1,000 sessions,
one `request approve` of 1,000 ids.

With --database-mode, only the contention figure, on a PostgreSQL server of its own (as
``rush.py`` starts one) whose store is in the database mode: each educator approves as their
own login (docs/reference/database-mode.md).

Usage: python benchmarks/write_path.py [ROUNDS] [--pg URL | --database-mode]
(ROUNDS of 50 approvals each way, default 10; --pg: also on a new database on that server,
e.g. postgresql://postgres@127.0.0.1:55432/postgres.)
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EXE, installed_env, machine, median  # noqa: E402

UTC = timezone.utc
BATCH = 50
WRITERS = 8
PER_WRITER = 100
BULK = 1000


def stamp(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0)


# -- the store ---------------------------------------------------------------------------------


def build(location: str, courses: int, per_course: int, first: datetime,
          spacing: timedelta = timedelta(hours=1)) -> dict[str, list[int]]:
    """root; educators e0..; each with course Ci of ``per_course`` one-seat slots of 45
    minutes, ``spacing`` apart from ``first``, each with one pending request (50 students per
    course, one slot in 50 each). Returns each educator's pending request ids, in slot order."""
    from sessionctl.domain import users
    from sessionctl.store import open_store

    store = open_store(location, create=True)
    users.register_first_admin(store, "root")
    db, p = store.db, store.db.param
    made = stamp(datetime.now(UTC))
    pending: dict[str, list[int]] = {}
    with db.atomic():
        for c in range(courses):
            educator = db.execute_sql(
                f"INSERT INTO users (name, role, email, created_at) VALUES ({p}, 'educator', {p}, {p})"
                " RETURNING id", (f"e{c}", f"e{c}@example.edu", made)).fetchone()[0]
            course = db.execute_sql(
                f"INSERT INTO courses (code, title, educator_id, created_at) VALUES ({p}, {p}, {p}, {p})"
                " RETURNING id", (f"C{c}", f"Course {c}", educator, made)).fetchone()[0]
            students = []
            for s in range(50):
                students.append(db.execute_sql(
                    f"INSERT INTO users (name, role, email, created_at) VALUES ({p}, 'student', {p}, {p})"
                    " RETURNING id", (f"s{c}_{s}", f"s{c}_{s}@example.edu", made)).fetchone()[0])
                db.execute_sql(f"INSERT INTO enrollments (course_id, student_id, created_at) "
                               f"VALUES ({p}, {p}, {p})", (course, students[-1], made))
            ids = []
            for k in range(per_course):
                start = stamp(first + k * spacing)
                slot = db.execute_sql(
                    "INSERT INTO slots (course_id, educator_id, starts_at, ends_at, capacity, booked,"
                    f" link, created_at, updated_at) VALUES ({p}, {p}, {p}, {p}, 1, 0, {p}, {p}, {p})"
                    " RETURNING id", (course, educator, start, start + timedelta(minutes=45),
                                      "https://meet.example.edu/x", made, made)).fetchone()[0]
                ids.append(db.execute_sql(
                    "INSERT INTO requests (slot_id, student_id, status, message, created_at, "
                    f"updated_at) VALUES ({p}, {p}, 'pending', 'hello', {p}, {p}) RETURNING id",
                    (slot, students[k % 50], made, made)).fetchone()[0])
            pending[f"e{c}"] = ids
    store.close()
    return pending


# -- one approval each way ---------------------------------------------------------------------


def domain_approver(location: str, educator: str):
    from sessionctl.domain import requests
    from sessionctl.domain.context import Context, find_actor
    from sessionctl.store import open_store

    if os.environ.get("WRITE_PATH_LOGINS"):  # the database mode: the educator's own login
        location = f"postgresql://{educator}@{location.split('@', 1)[1]}"
    store = open_store(location, timeout=30)
    ctx = Context(store, find_actor(educator), UTC)
    return lambda request_id: requests.approve(ctx, request_id, None, None), store.close


def raw_approver(location: str, educator: str):
    """The same transaction shape with the bare driver: lock, read, compare-and-swap, two
    inserts, commit."""
    if location.startswith("postgresql://"):
        import psycopg

        con = psycopg.connect(location, autocommit=True)
        p, begin = "%s", ["BEGIN", "SELECT pg_advisory_xact_lock(1582633159)"]
    else:
        import sqlite3

        con = sqlite3.connect(location, isolation_level=None, timeout=30)
        con.execute("PRAGMA foreign_keys = ON")
        p, begin = "?", ["BEGIN IMMEDIATE"]
    actor = con.execute(f"SELECT id FROM users WHERE name = {p}", (educator,)).fetchone()[0]

    def approve(request_id: int) -> None:
        now = stamp(datetime.now(UTC))
        for statement in begin:
            con.execute(statement)
        row = con.execute(
            "SELECT r.status, r.student_id, s.id, s.starts_at, c.code FROM requests r "
            f"JOIN slots s ON s.id = r.slot_id JOIN courses c ON c.id = s.course_id WHERE r.id = {p}",
            (request_id,)).fetchone()
        swapped = con.execute(f"UPDATE requests SET status = 'approved', updated_at = {p} "
                              f"WHERE id = {p} AND status = 'pending'", (now, request_id)).rowcount
        assert swapped == 1 and row[0] == "pending"
        con.execute("INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
                    f"VALUES ({p}, {p}, {p}, 'pending', 'approved')", (request_id, now, actor))
        con.execute("INSERT INTO notifications (user_id, kind, request_id, slot_id, text, "
                    f"created_at) VALUES ({p}, 'approved', {p}, {p}, {p}, {p})",
                    (row[1], request_id, row[2], f"approved your request {request_id} for "
                     f"{row[4]} on {row[3]}", now))
        con.execute("COMMIT")

    return approve, con.close


def in_process(location: str, pending: dict[str, list[int]], rounds: int) -> tuple[float, float]:
    """Milliseconds per approval, domain and raw: medians over interleaved batches."""
    domain, close_domain = domain_approver(location, "e0")
    raw, close_raw = raw_approver(location, "e1")
    mine, theirs = iter(pending["e0"]), iter(pending["e1"])
    per = {"domain": [], "raw": []}
    for round_ in range(rounds + 1):  # round 0 warms up
        for name, approve, ids in (("domain", domain, mine), ("raw", raw, theirs)):
            batch = [next(ids) for _ in range(BATCH)]
            start = time.perf_counter()
            for request_id in batch:
                approve(request_id)
            if round_:
                per[name].append((time.perf_counter() - start) * 1000 / BATCH)
    close_domain()
    close_raw()
    return median(per["domain"]), median(per["raw"])


# -- contention ----------------------------------------------------------------------------------


def _writer(location: str, educator: str, ids: list[int], gun, out) -> None:
    approve, close = domain_approver(location, educator)
    gun.wait()
    start = time.perf_counter()
    for request_id in ids:
        approve(request_id)
    out.put(time.perf_counter() - start)
    close()


def throughput(location: str, jobs: list[tuple[str, list[int]]]) -> float:
    """Approvals per second with one process per job, all started together."""
    ctx = multiprocessing.get_context("spawn")
    gun, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(location, e, ids, gun, out)) for e, ids in jobs]
    for proc in procs:
        proc.start()
    time.sleep(1.5)  # every writer has its store open and waits for the gun
    start = time.perf_counter()
    gun.set()
    for proc in procs:
        proc.join()
        assert proc.exitcode == 0
    wall = time.perf_counter() - start
    return sum(len(ids) for _, ids in jobs) / wall


# -- bulk jobs as whole processes ---------------------------------------------------------------


def bulk(tmp: Path, now: datetime) -> dict[str, float]:
    """sweep of 1,000 ended sessions, remind of 1,000, approve of 1,000 ids: milliseconds."""
    from sessionctl.store import open_store

    env = {**installed_env(), "SESSIONCTL_TZ": "UTC"}
    jobs = {  # name: (courses, per course, first start, spacing, arguments, user)
        "sweep": (1, BULK, now - timedelta(days=45), timedelta(hours=1), ["sweep"], "root"),
        "remind --within 24h": (50, BULK // 50, now + timedelta(hours=1), timedelta(minutes=70),
                                ["remind", "--within", "24h"], "root"),
        "request approve": (1, BULK, now + timedelta(days=2), timedelta(hours=1), None, "e0"),
    }
    results = {}
    for name, (courses, per_course, first, spacing, args, user) in jobs.items():
        location = str(tmp / f"bulk-{name.split()[0]}.db")
        ids = [i for c in build(location, courses, per_course, first, spacing).values() for i in c]
        if args is not None:  # booked sessions: approved, each with its seat taken
            store = open_store(location)
            with store.db.atomic():
                store.db.execute_sql("UPDATE requests SET status = 'approved'")
                store.db.execute_sql("UPDATE slots SET booked = 1")
            store.close()
        else:
            args = ["request", "approve", *map(str, ids)]
        start = time.perf_counter()
        done = subprocess.run([EXE, *args], capture_output=True, text=True,
                              env={**env, "SESSIONCTL_DB": location, "SESSIONCTL_USER": user})
        results[f"{name} ({len(ids):,} items)"] = (time.perf_counter() - start) * 1000
        assert done.returncode == 0, done.stderr[-500:]
        assert name == "request approve" or f": {BULK}" in done.stdout, done.stdout
    return results


def database_mode() -> None:
    """One writer against eight at once, each educator their own login."""
    from rush import postgres_server

    with postgres_server(WRITERS + 10) as server:
        if server is None:
            sys.exit("no PostgreSQL server programs: apt-get install postgresql")
        location = _new_pg_database(server)
        pending = build(location, WRITERS + 2, 2 * PER_WRITER, datetime.now(UTC) + timedelta(days=2))
        done = subprocess.run([EXE, "init", "--identity", "database", "--admin", "root"],
                              capture_output=True, text=True,
                              env={**installed_env(), "SESSIONCTL_DB": location,
                                   "SESSIONCTL_USER": "root"})
        assert done.returncode == 0, done.stderr
        os.environ["WRITE_PATH_LOGINS"] = "1"  # the spawned writers read it
        spare = {f"e{c}": pending[f"e{c}"][-2 * PER_WRITER:] for c in range(2, WRITERS + 2)}
        one = throughput(location, [("e2", spare["e2"][:PER_WRITER])])
        eight = throughput(location, [(e, ids[PER_WRITER:]) for e, ids in spare.items()])
        print(f"PostgreSQL, database mode: one writer {one:.0f} approvals/s; {WRITERS} writers "
              f"at once {eight:.0f}/s: {eight / one:.2f}x one (target >= 0.9x)")


def main() -> None:
    argv = sys.argv[1:]
    if "--database-mode" in argv:
        print(f"# {machine()}")
        return database_mode()
    rounds = int(argv[0]) if argv and argv[0].isdigit() else 10
    pg = argv[argv.index("--pg") + 1] if "--pg" in argv else None
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    now = datetime.now(UTC)
    per_course = BATCH * (rounds + 1)
    print(f"# {machine()}")
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        locations = [("SQLite", str(tmp / "write.db"))]
        if pg:
            locations.append(("PostgreSQL", _new_pg_database(pg)))
        summary = []
        for label, location in locations:
            pending = build(location, WRITERS + 2, max(per_course, 2 * PER_WRITER),
                            now + timedelta(days=2))
            domain, raw = in_process(location, pending, rounds)
            print(f"{label}: one approval in-process: domain {domain:.2f} ms ({1000 / domain:.0f}/s), "
                  f"raw {raw:.2f} ms ({1000 / raw:.0f}/s): domain / raw = {raw / domain:.1%} "
                  "(target >= 25%)")
            spare = {f"e{c}": pending[f"e{c}"][-2 * PER_WRITER:] for c in range(2, WRITERS + 2)}
            one = throughput(location, [("e2", spare["e2"][:PER_WRITER])])
            eight = throughput(location, [(e, ids[PER_WRITER:]) for e, ids in spare.items()])
            print(f"{label}: one writer {one:.0f} approvals/s; {WRITERS} writers at once "
                  f"{eight:.0f}/s: {eight / one:.2f}x one (target >= 0.9x)")
            summary.append(f"{label}: {raw / domain:.1%} of raw, {WRITERS} writers "
                           f"{eight / one:.2f}x one")
        for name, ms in bulk(tmp, now).items():
            print(f"SQLite, whole process: {name}: {ms:.0f} ms (target <= 2000 ms)")
            summary.append(f"{name.split(' (')[0]} {ms / 1000:.2f} s")
        if pg:
            _drop_pg_database(pg, locations[1][1])
    print("ratio: " + "; ".join(summary))


def _new_pg_database(server: str) -> str:
    import uuid

    import psycopg

    name = f"sessionctl_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{server.rpartition('/')[0]}/{name}"


def _drop_pg_database(server: str, location: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{location.rpartition("/")[2]}" WITH (FORCE)')


if __name__ == "__main__":
    main()
