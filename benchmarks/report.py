"""``course report`` on a store of 1M slots against the same report on a store of 1k slots.

Each store is built with bulk SQL (recursive CTEs, no Python loop per row): N courses, each
with its own educator and 1,000 one-hour slots 17 hours apart (about two years, ending four
weeks from now, so the default 12-week range holds about 120 slots of the measured course),
half of them requested: a third of those completed (with attendance and a rating for some),
a third approved, the rest cancelled by the student with their history row. The measured
course is the same on both stores; only the number of other courses differs (1 vs 1,000).

Then it times the report (the domain call, what ``sessionctl course report C00000 --json``
runs after start-up), interleaved between the two stores, and prints the medians and the
ratio (SPEC §9: within 1.3× of the 1k time). Usage:

    python benchmarks/report.py [RUNS] [--keep DIR]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

UTC = timezone.utc
SLOTS_PER_COURSE = 1000
STEP_HOURS = 17


def build(path: str, courses: int, now: datetime) -> None:
    from sessionctl.domain import users
    from sessionctl.store import open_store

    store = open_store(path, create=True)
    users.register_first_admin(store, "root")
    store.close()
    import sqlite3

    first = (now + timedelta(weeks=4) - timedelta(hours=STEP_HOURS * SLOTS_PER_COURSE)).replace(
        minute=0, second=0, microsecond=0, tzinfo=None)
    stamp = now.replace(tzinfo=None, microsecond=0).isoformat(" ")
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous = OFF")
    con.execute("BEGIN")
    con.execute(f"""
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {courses} - 1)
        INSERT INTO users (name, role, created_at)
        SELECT printf('e%05d', i), 'educator', '{stamp}' FROM n
        UNION ALL SELECT printf('s%05d', i), 'student', '{stamp}' FROM n WHERE i < 200""")
    con.execute(f"""
        INSERT INTO courses (code, title, educator_id, created_at)
        SELECT printf('C%05d', CAST(substr(name, 2) AS INTEGER)), 'Course', id, '{stamp}'
        FROM users WHERE role = 'educator' ORDER BY id""")
    con.execute(f"""
        INSERT INTO enrollments (course_id, student_id, created_at)
        SELECT c.id, u.id, '{stamp}' FROM courses c JOIN users u ON u.role = 'student'
        WHERE c.code = 'C00000'""")
    con.execute(f"""
        WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < {SLOTS_PER_COURSE} - 1)
        INSERT INTO slots (course_id, educator_id, starts_at, ends_at, capacity, booked,
                           created_at, updated_at)
        SELECT c.id, c.educator_id,
               datetime('{first}', printf('+%d hours', j * {STEP_HOURS})),
               datetime('{first}', printf('+%d hours', j * {STEP_HOURS} + 1)),
               1 + j % 2, 0, '{stamp}', '{stamp}'
        FROM courses c, k ORDER BY c.id, j""")
    # half the slots requested by a student, two days ahead; by thirds completed, approved, cancelled
    con.execute("""
        INSERT INTO requests (slot_id, student_id, status, created_at, updated_at, attendance,
                              rating, rated_at)
        SELECT s.id, (SELECT MIN(id) FROM users WHERE role = 'student') + s.id % 200,
               CASE s.id % 3 WHEN 0 THEN 'completed' WHEN 1 THEN 'approved' ELSE 'cancelled' END,
               datetime(s.starts_at, '-2 days'), s.starts_at,
               CASE WHEN s.id % 3 = 0 THEN CASE s.id % 4 WHEN 0 THEN 'no-show' WHEN 1 THEN 'attended' END END,
               CASE WHEN s.id % 3 = 0 AND s.id % 4 = 1 THEN 1 + s.id % 5 END,
               CASE WHEN s.id % 3 = 0 AND s.id % 4 = 1 THEN s.ends_at END
        FROM slots s WHERE s.id % 2 = 0""")
    con.execute("UPDATE slots SET booked = 1 WHERE id IN "
                "(SELECT slot_id FROM requests WHERE status = 'approved')")
    con.execute(f"""
        INSERT INTO history (request_id, at, actor_id, from_status, to_status)
        SELECT id, '{stamp}', student_id, 'approved', 'cancelled' FROM requests
        WHERE status = 'cancelled'""")
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()


def timed(path: str, now: datetime) -> float:
    from sessionctl.domain import report
    from sessionctl.domain.context import Context, find_actor
    from sessionctl.store import open_store

    store = open_store(path)
    try:
        ctx = Context(store, find_actor("e00000"), UTC, lambda: now)
        begin = time.perf_counter()
        found = report.report(ctx, "C00000")
        spent = time.perf_counter() - begin
        assert found.slots_offered > 100 and found.seats_booked > 0, found
        return spent
    finally:
        store.close()


def main() -> None:
    args = sys.argv[1:]
    keep = None
    if "--keep" in args:
        at = args.index("--keep")
        keep = args[at + 1]
        del args[at:at + 2]
    runs = int(args[0]) if args else 15
    now = datetime.now(UTC).replace(microsecond=0)
    folder = Path(keep or tempfile.mkdtemp(prefix="sessionctl-report-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    stores = {}
    for label, courses in (("1k slots", 1), ("1M slots", 1000)):
        path = str(folder / f"{courses}.db")
        if not Path(path).exists():
            begin = time.perf_counter()
            build(path, courses, now)
            print(f"built {label} ({courses} course(s) x {SLOTS_PER_COURSE} slots) in "
                  f"{time.perf_counter() - begin:.1f} s: {path}")
        stores[label] = path
    times = {label: [] for label in stores}
    for _ in range(runs):  # interleaved, so a machine slowing down slows both alike
        for label, path in stores.items():
            times[label].append(timed(path, now))
    floor = statistics.median(times["1k slots"])
    for label, spent in times.items():
        median = statistics.median(spent)
        print(f"{label:9}  median {median * 1000:7.2f} ms  ({median / floor:.2f}x the 1k store)")
    largest = max(statistics.median(spent) for spent in times.values())
    print(f"ratio: the 1M store takes {largest / floor:.2f}x the 1k store's time (target <= 1.3x)")


if __name__ == "__main__":
    main()
