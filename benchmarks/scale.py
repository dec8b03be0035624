"""Every everyday command on stores of 1k, 100k and 1M slots, with the measured users' own
data the same at every size (SPEC §9: each within 1.3x of its time on the 1k store).

Each store is made by the installed `sessionctl init`, then filled with bulk SQL:

- the measured users, the same at every size: educator `ada` (course ADA1, 290 slots: 60 in
  the past month, 20 sessions that ended in the last hours and are still `approved`, 10
  `pending` requests whose slots started, 20 approved sessions in the next 24 hours, 100 future
  slots of which 30 have requests, and the pools below), student `stu` and 20 more students
  of ADA1, and 300 notifications (100 unread) for each of ada and stu;
- everybody else, which is what grows: one educator and course per 500 slots, one student
  per 20 slots, each enrolled in two courses; their slots spread over the past year and the
  next (starting at least two days from now, so that the work an admin's `remind --within
  24h` and `sweep` have is ada's alone at every size); requests on 40% of past slots
  (completed, cancelled, rejected: all swept) and 25% of future ones (approved, pending,
  cancelled), each with its history and notifications (read and mailed).

Then every command in ``COMMANDS`` runs as a whole process, round-robin over commands and
store sizes together, so a machine that slows down slows every size alike. A command that
changes something takes the next item of its own pool on each store (a slot to request, a
request to approve, to move, a booking to cancel with a waiting request behind it), so every
run does the same work; `sweep` and `remind` find the same due sessions every time (the
store is put back after each run, untimed); `notify send` mails, to a local aiosmtpd (the test
extra), what the other commands queued on that store since its last run, the same at every
size. Output goes to /dev/null.

Needs the test extra (aiosmtpd). Usage: python benchmarks/scale.py [RUNS] [--sizes 1000,100000,1000000] [--keep DIR]
(RUNS: timed runs per command and size, default 7; --keep: build the stores in DIR and
reuse them if already there.)
"""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EXE, Sink, free_port, installed_env, interleaved, machine, median, run  # noqa: E402

# name, actor, arguments. "{pool}" takes the next item of that pool (each store has its own).
# Adding a command is one line; one that this build of sessionctl does not have is skipped.
COMMANDS = [
    ("slot list", "ada", ["slot", "list"]),
    ("slot list (student)", "stu", ["slot", "list"]),
    ("request list", "ada", ["request", "list"]),
    ("request list (student)", "stu", ["request", "list"]),
    ("inbox --peek", "ada", ["inbox", "--peek"]),
    ("inbox --peek (student)", "stu", ["inbox", "--peek"]),
    ("course list", "ada", ["course", "list"]),
    ("request export --ics", "ada", ["request", "export", "--ics"]),
    ("request export --ics (student)", "stu", ["request", "export", "--ics"]),
    ("request send", "stu", ["request", "send", "{send}"]),
    ("request approve", "ada", ["request", "approve", "{approve}"]),
    ("request move", "stu", ["request", "move", "{move}", "--to", "{move_to}"]),
    ("waitlist promotion (cancel)", "ada", ["request", "cancel", "{promote}"]),
    ("sweep (admin)", "root", ["sweep"]),
    ("sweep (educator)", "ada", ["sweep"]),
    ("remind --within 24h (admin)", "root", ["remind", "--within", "24h"]),
    ("remind --within 24h (educator)", "ada", ["remind", "--within", "24h"]),
    # mails what the commands above queued on this store since its last run (to aiosmtpd)
    ("notify send (admin)", "root", ["notify", "send"]),
    # SPEC §7.5/§7.6 (another branch): timed here as soon as the installed build has them.
    ("agenda", "ada", ["agenda"]),
    ("agenda (student)", "stu", ["agenda"]),
    ("course report", "ada", ["course", "report", "ADA1"]),
]
SIZES = (1_000, 100_000, 1_000_000)
UTC = timezone.utc
STEP = timedelta(minutes=50)  # ada's slots are 45 minutes, so this many apart never overlap


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class Store:
    """One store: its path, the ids the measured commands need, and how to put it back."""

    def __init__(self, path: Path, runs: int, now: datetime):
        self.path, self.runs, self.now = path, runs, now
        self.pools: dict[str, list[int]] = {}
        self.due: dict[str, list[int]] = {}
        self.marks: tuple[int, int] = (0, 0)

    # -- building ----------------------------------------------------------------------------

    def build(self, size: int, env: dict) -> None:
        for leftover in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            leftover.unlink(missing_ok=True)
        run([EXE, "init"], {**env, "SESSIONCTL_DB": str(self.path), "SESSIONCTL_USER": "root"})
        con = sqlite3.connect(self.path, isolation_level=None)
        con.execute("PRAGMA synchronous = OFF")
        con.execute("BEGIN")
        mine = self._measured(con)
        self._background(con, size - mine)
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()

    def _user(self, con, name: str, role: str) -> int:
        return con.execute(
            "INSERT INTO users (name, role, display, email, tz, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (name, role, name.title(), f"{name}@example.edu", "Europe/Berlin", stamp(self.now)),
        ).lastrowid

    def _slot(self, con, course: int, educator: int, start: datetime, booked: int = 0) -> int:
        return con.execute(
            "INSERT INTO slots (course_id, educator_id, starts_at, ends_at, capacity, booked, link,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, 'https://meet.example.edu/ada', ?, ?)",
            (course, educator, stamp(start), stamp(start + timedelta(minutes=45)), booked,
             stamp(self.now - timedelta(days=40)), stamp(self.now - timedelta(days=40))),
        ).lastrowid

    def _request(self, con, slot: int, student: int, status: str, educator: int,
                 waitlist: int = 0) -> int:
        made = stamp(self.now - timedelta(days=35))
        request = con.execute(
            "INSERT INTO requests (slot_id, student_id, status, message, created_at, updated_at,"
            " waitlist) VALUES (?, ?, ?, 'Could we go over the exercises?', ?, ?, ?)",
            (slot, student, status, made, made, waitlist),
        ).lastrowid
        con.execute("INSERT INTO history (request_id, at, actor_id, from_status, to_status)"
                    " VALUES (?, ?, ?, NULL, 'pending')", (request, made, student))
        if status != "pending":
            con.execute("INSERT INTO history (request_id, at, actor_id, from_status, to_status)"
                        " VALUES (?, ?, ?, 'pending', ?)", (request, made, educator, status))
        return request

    def _measured(self, con) -> int:
        """ada, stu and 20 more students, the same at every size; returns ada's slot count."""
        now = self.now.replace(second=0, microsecond=0)
        ada, stu = self._user(con, "ada", "educator"), self._user(con, "stu", "student")
        others = [self._user(con, f"m{i:02d}", "student") for i in range(20)]
        course = con.execute("INSERT INTO courses (code, title, educator_id, created_at) VALUES"
                             " ('ADA1', 'Analytical engines', ?, ?)", (ada, stamp(now))).lastrowid
        for student in (stu, *others):
            con.execute("INSERT INTO enrollments (course_id, student_id, created_at) VALUES (?, ?, ?)",
                        (course, student, stamp(now)))
        people = [stu, *others]
        count = 0

        def slot(start, booked=0):
            nonlocal count
            count += 1
            return self._slot(con, course, ada, start, booked)

        for k in range(60):  # the past month: 40 completed sessions, 10 cancelled requests
            s = slot(now - timedelta(days=30) + k * timedelta(hours=11))
            if k < 50:
                self._request(con, s, people[k % 21], "completed" if k < 40 else "cancelled", ada)
        self.due["complete"] = []
        for k in range(20):  # ended in the last hours, still approved: sweep completes them
            s = slot(now - timedelta(minutes=70) - k * STEP, booked=1)
            self.due["complete"].append(self._request(con, s, people[k % 21], "approved", ada))
        self.due["expire"] = []
        for k in range(10):  # pending on slots that started: sweep expires them
            s = slot(now - timedelta(hours=18) - k * STEP)
            self.due["expire"].append(self._request(con, s, people[(k + 5) % 21], "pending", ada))
        for k in range(20):  # approved, starting in the next 24 hours: remind
            s = slot(now + timedelta(hours=1) + k * STEP, booked=1)
            self._request(con, s, people[k % 21], "approved", ada)
        start = now + timedelta(days=2)
        for k in range(100):  # ada's future: 30 with requests (10 of them stu's)
            s = slot(start + k * STEP, booked=int(k % 10 == 1))
            if k % 10 in (0, 1, 2):
                self._request(con, s, people[k % 21], "approved" if k % 10 == 1 else "pending", ada)
        start += 100 * STEP
        pools = {name: [] for name in ("send", "approve", "move", "move_to", "promote")}
        for _ in range(self.runs + 1):
            pools["send"].append(slot(start))
            pools["move_to"].append(slot(start + STEP))
            s = slot(start + 2 * STEP)
            pools["approve"].append(self._request(con, s, others[0], "pending", ada))
            s = slot(start + 3 * STEP)
            pools["move"].append(self._request(con, s, stu, "pending", ada))
            s = slot(start + 4 * STEP, booked=1)
            pools["promote"].append(self._request(con, s, others[1], "approved", ada))
            self._request(con, s, others[2], "waiting", ada, waitlist=1)
            start += 5 * STEP
        self.pools = pools
        for user in (ada, stu):  # 300 notifications each, the newest 100 unread
            for k in range(300):
                at = stamp(now - timedelta(days=30) + k * timedelta(hours=2))
                con.execute(
                    "INSERT INTO notifications (user_id, kind, text, created_at, read_at, mail_state)"
                    " VALUES (?, 'request', 'stu requests slot 1 (ADA1 on 2027-01-01 10:00 CET)',"
                    " ?, ?, 'sent')", (user, at, at if k < 200 else None))
        return count

    def _background(self, con, count: int) -> None:
        """Everybody else: ``count`` slots, with courses, people, requests, history and mail."""
        if count <= 0:
            return
        courses = max(1, count // 500)
        students = max(20, count // 20)
        per_course = -(-count // courses)
        now = stamp(self.now)
        series = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        base = con.execute("SELECT MAX(id) FROM users").fetchone()[0]
        con.execute(f"{series} INSERT INTO users (name, role, display, email, tz, created_at) "
                    "SELECT 'e' || i, 'educator', 'Educator ' || i, 'e' || i || '@example.edu', "
                    "'Europe/Paris', ? FROM n", (courses - 1, now))
        first_student = base + courses + 1
        con.execute(f"{series} INSERT INTO users (name, role, display, email, tz, created_at) "
                    "SELECT 's' || i, 'student', 'Student ' || i, 's' || i || '@example.edu', "
                    "NULL, ? FROM n", (students - 1, now))
        first_course = con.execute("SELECT MAX(id) FROM courses").fetchone()[0] + 1
        con.execute(f"{series} INSERT INTO courses (code, title, educator_id, created_at) "
                    "SELECT 'C' || i, 'Course ' || i, ? + i, ? FROM n", (courses - 1, base + 1, now))
        for second in (0, 1):  # each student in two courses
            pick = "i % ?" if not second else "(i * 7 + 3) % ?"
            con.execute(f"{series} INSERT OR IGNORE INTO enrollments (course_id, student_id, "
                        f"created_at) SELECT ? + {pick}, ? + i, ? FROM n",
                        (students - 1, first_course, courses, first_student, now))
        # slot k of a course: even k in the past year, odd k in the next one, two days clear
        # of now; a course's slots a day or more apart, its start shifted by its number
        half_year = 365 * 86400 // max(1, per_course // 2)
        con.execute(
            f"{series} INSERT INTO slots (course_id, educator_id, starts_at, ends_at, capacity, "
            "booked, link, created_at, updated_at) "
            "SELECT ? + c, ? + c, t, datetime(t, '+45 minutes'), 1, 0, "
            "'https://meet.example.edu/c' || c, ?, ? FROM ("
            "  SELECT i % ? AS c, datetime(?, CASE WHEN (i / ?) % 2 = 0 "
            "    THEN '-' || (2 * 86400 + (i / ? / 2) * ? + (i % ?) % 1440 * 60) "
            "    ELSE '+' || (2 * 86400 + (i / ? / 2) * ? + (i % ?) % 1440 * 60) END "
            "    || ' seconds') AS t FROM n)",
            (count - 1, first_course, base + 1, now, now, courses, now, courses, courses,
             half_year, courses, courses, half_year, courses))
        # requests: on 40% of past slots (swept long ago), 25% of future ones
        hashed = "(s.id * 2654435761) % 1000003 % 100"
        status = (f"CASE WHEN s.starts_at < ? THEN (CASE WHEN {hashed} < 30 THEN 'completed' "
                  f"WHEN {hashed} < 35 THEN 'cancelled' WHEN {hashed} < 40 THEN 'rejected' END) "
                  f"ELSE (CASE WHEN {hashed} < 15 THEN 'approved' WHEN {hashed} < 22 THEN "
                  f"'pending' WHEN {hashed} < 25 THEN 'cancelled' END) END")
        per = max(1, students // courses)
        first_request = con.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0] + 1
        con.execute(
            "INSERT INTO requests (slot_id, student_id, status, message, created_at, updated_at) "
            f"SELECT id, student, status, 'Hello', created, created FROM ("
            f"  SELECT s.id, ? + (s.course_id - ?) + ? * ((s.id * 31) % ?) AS student, "
            f"  {status} AS status, datetime(s.starts_at, '-3 days') AS created "
            "  FROM slots s WHERE s.course_id >= ?) WHERE status IS NOT NULL",
            (first_student, first_course, courses, per, now, first_course))
        con.execute("UPDATE slots SET booked = 1 WHERE id IN (SELECT slot_id FROM requests "
                    "WHERE id >= ? AND status = 'approved')", (first_request,))
        con.execute(
            "INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
            "SELECT id, created_at, student_id, NULL, 'pending' FROM requests WHERE id >= ?",
            (first_request,))
        con.execute(
            "INSERT INTO history (request_id, at, actor_id, from_status, to_status) "
            "SELECT r.id, r.created_at, CASE WHEN r.status = 'completed' THEN NULL "
            "ELSE s.educator_id END, 'pending', r.status FROM requests r "
            "JOIN slots s ON s.id = r.slot_id WHERE r.id >= ? AND r.status != 'pending'",
            (first_request,))
        con.execute(
            "INSERT INTO notifications (user_id, kind, request_id, slot_id, text, created_at, "
            "read_at, mail_state, sent_at) SELECT CASE WHEN h.from_status IS NULL "
            "THEN s.educator_id ELSE r.student_id END, CASE WHEN h.from_status IS NULL "
            "THEN 'request' ELSE h.to_status END, r.id, "
            "s.id, 'a request changed', h.at, h.at, 'sent', h.at FROM history h "
            "JOIN requests r ON r.id = h.request_id JOIN slots s ON s.id = r.slot_id "
            "WHERE r.id >= ?", (first_request,))

    # -- running -----------------------------------------------------------------------------

    def arguments(self, args: list[str], used: dict[str, int]) -> list[str]:
        """``args`` with each ``{pool}`` replaced by that pool's next item."""
        out = []
        for arg in args:
            if arg.startswith("{"):
                name = arg.strip("{}")
                out.append(str(self.pools[name][used[name]]))
            else:
                out.append(arg)
        return out

    def mark(self) -> None:
        with sqlite3.connect(self.path) as con:
            self.marks = tuple(con.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
                               for table in ("history", "notifications"))

    def put_back(self) -> None:
        """Undo a sweep or remind run: ada's due sessions are due again, its rows gone."""
        con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        con.execute("BEGIN IMMEDIATE")
        done = ",".join(map(str, self.due["complete"]))
        expired = ",".join(map(str, self.due["expire"]))
        con.execute(f"UPDATE slots SET booked = 1 WHERE id IN "
                    f"(SELECT slot_id FROM requests WHERE id IN ({done}) AND status != 'approved')")
        con.execute(f"UPDATE requests SET status = 'approved' WHERE id IN ({done})")
        con.execute(f"UPDATE requests SET status = 'pending', reason = NULL WHERE id IN ({expired})")
        con.execute("DELETE FROM history WHERE id > ?", (self.marks[0],))
        con.execute("DELETE FROM notifications WHERE id > ?", (self.marks[1],))
        con.execute("COMMIT")
        con.close()


def has(env: dict, args: list[str]) -> bool:
    """Whether the installed sessionctl has the command ``args`` names (its first words)."""
    words = []
    for arg in args[:2]:
        if arg.startswith(("-", "{")):
            break
        words.append(arg)
    return run([EXE, *words, "--help"], env, check=False).returncode == 0


def main() -> None:
    argv = sys.argv[1:]
    sizes = SIZES
    if "--sizes" in argv:
        sizes = tuple(int(s) for s in argv[argv.index("--sizes") + 1].split(","))
    keep = Path(argv[argv.index("--keep") + 1]) if "--keep" in argv else None
    runs = int(argv[0]) if argv and argv[0].isdigit() else 7
    env = {**installed_env(), "SESSIONCTL_TZ": "UTC", "COLUMNS": "200"}
    import tempfile

    from aiosmtpd.controller import Controller


    port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    env.update({"SESSIONCTL_SMTP": f"smtp://127.0.0.1:{port}",
                "SESSIONCTL_MAIL_FROM": "Sessions <sessions@example.edu>"})

    folder = keep or Path(tempfile.mkdtemp(prefix="sessionctl-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    stores = {}
    for size in sizes:
        store = Store(folder / f"scale-{size}.db", runs, now)
        began = time.perf_counter()
        store.build(size, env)
        mb = store.path.stat().st_size / 2**20
        print(f"# built {size:,} slots in {time.perf_counter() - began:.1f} s ({mb:.0f} MB)",
              flush=True)
        stores[size] = store
    commands = [(name, actor, args) for name, actor, args in COMMANDS
                if has({**env, "SESSIONCTL_DB": str(stores[sizes[0]].path)}, args)]
    skipped = [name for name, _, _ in COMMANDS if name not in {c[0] for c in commands}]
    plan, used = {}, {}
    for name, actor, args in commands:
        for size, store in stores.items():
            plan[(name, size)] = ([EXE, *args], {**env, "SESSIONCTL_DB": str(store.path),
                                                 "SESSIONCTL_USER": actor})
            used[(name, size)] = {pool: 0 for pool in store.pools}
    table = {key: key for key in plan}  # interleaved() keys by name: use the pair

    def before(key):
        name, size = key
        store, (cmd, _) = stores[size], plan[key]
        if cmd[1] in ("sweep", "remind"):
            store.mark()
        args = store.arguments(cmd[1:], used[key])
        for arg in cmd[1:]:
            if arg.startswith("{"):
                used[key][arg.strip("{}")] += 1
        return [EXE, *args]

    def after(key):
        name, size = key
        if plan[key][0][1] in ("sweep", "remind"):
            stores[size].put_back()

    try:
        times = interleaved({key: plan[key] for key in table}, runs, before=before, after=after)
    finally:
        smtp.stop()
    print(f"\nmedian of {runs} whole-process runs per command and store, interleaved; {machine()}")
    print("wall clock (CPU time of the process in brackets)")
    head = "".join(f"{size:>20,}" for size in sizes)
    print(f"{'command':<32}{head}   largest / {sizes[0]:,}")
    worst, worst_cpu = (0.0, ""), (0.0, "")
    for name, _, _ in commands:
        ms = [median(times.wall[(name, size)]) for size in sizes]
        cpu = [median(times.cpu[(name, size)]) for size in sizes]
        ratio = max(ms[1:]) / ms[0] if len(ms) > 1 else 1.0
        ratio_cpu = max(cpu[1:]) / cpu[0] if len(cpu) > 1 else 1.0
        worst, worst_cpu = max(worst, (ratio, name)), max(worst_cpu, (ratio_cpu, name))
        cells = "".join(f"{w:9.1f} ({c:5.1f}) ms" for w, c in zip(ms, cpu))
        print(f"{name:<32}{cells}   {ratio:5.2f}x ({ratio_cpu:4.2f}x)")
    for name in skipped:
        print(f"{name:<32}  (not in this build of sessionctl: skipped)")
    print(f"worst by CPU time: {worst_cpu[0]:.2f}x ({worst_cpu[1]})")
    print(f"flatness: the worst command takes {worst[0]:.2f}x its {sizes[0]:,}-slot time "
          f"({worst[1]}; target <= 1.3x)")


if __name__ == "__main__":
    main()
