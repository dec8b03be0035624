"""SPEC §9's bulk work as whole processes, each against its target (and a one-item run of the
same command, same run, for scale):

- `course enroll CODE --from-csv FILE` of 3,000 new students (target <= 0.5 s), on a fresh
  copy of the store each run (the copy is untimed);
- `notify send` of 1,000 queued messages to a local aiosmtpd server on one connection
  (target <= 3 s); the messages are queued again after each run, untimed;
- lists of 10,000 rows as tables (target <= 1 s each): `user list` (10,000 users), `slot list
  --status all` (an educator's 10,000 slots), `request list` (their 10,000 requests), `inbox
  --all --peek` (10,000 notifications). Output to /dev/null, COLUMNS=200.

Runs are interleaved round-robin; figures are medians. Needs the test extra (aiosmtpd).

Usage: python benchmarks/bulk.py [RUNS]      (default 5)
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EXE, Sink, free_port, installed_env, interleaved, machine, median, run  # noqa: E402

UTC = timezone.utc
ROWS = 10_000
CSV_ROWS = 3_000
MAIL = 1_000


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


SERIES = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"


def build(path: Path, env: dict) -> None:
    """root; educator ada with course ADA1 and 10,000 future slots, each with a request of one
    of 10,000 students (user list shows them all); ada has 10,000 notifications, of which the
    newest 1,000 are queued for mail; course CSV1 (ada's) for the CSV import."""
    run([EXE, "init"], {**env, "SESSIONCTL_DB": str(path), "SESSIONCTL_USER": "root"})
    now = datetime.now(UTC).replace(microsecond=0)
    t = stamp(now)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN")
    ada = con.execute("INSERT INTO users (name, role, display, email, tz, created_at) VALUES "
                      "('ada', 'educator', 'Ada Lovelace', 'ada@example.edu', 'Europe/Berlin', ?)",
                      (t,)).lastrowid
    course = con.execute("INSERT INTO courses (code, title, educator_id, created_at) VALUES "
                         "('ADA1', 'Analytical engines', ?, ?)", (ada, t)).lastrowid
    con.execute("INSERT INTO courses (code, title, educator_id, created_at) VALUES "
                "('CSV1', 'Imported', ?, ?)", (ada, t))
    first = con.execute("SELECT MAX(id) FROM users").fetchone()[0] + 1
    con.execute(f"{SERIES} INSERT INTO users (name, role, display, email, created_at) SELECT "
                "'s' || i, 'student', 'Student ' || i, 's' || i || '@example.edu', ? FROM n",
                (ROWS - 1, t))
    con.execute(f"{SERIES} INSERT INTO enrollments (course_id, student_id, created_at) "
                "SELECT ?, ? + i, ? FROM n", (ROWS - 1, course, first, t))
    con.execute(f"{SERIES} INSERT INTO slots (course_id, educator_id, starts_at, ends_at, "
                "capacity, booked, link, created_at, updated_at) SELECT ?, ?, "
                "datetime(?, '+' || (i * 3600) || ' seconds'), "
                "datetime(?, '+' || (i * 3600 + 2700) || ' seconds'), 1, 0, "
                "'https://meet.example.edu/ada', ?, ? FROM n",
                (ROWS - 1, course, ada, stamp(now + timedelta(days=2)),
                 stamp(now + timedelta(days=2)), t, t))
    con.execute("INSERT INTO requests (slot_id, student_id, status, message, created_at, "
                "updated_at) SELECT s.id, ? + s.id % ?, 'pending', 'Could we go over the "
                "exercises?', ?, ? FROM slots s", (first, ROWS, t, t))
    con.execute("INSERT INTO notifications (user_id, kind, request_id, slot_id, text, "
                "created_at, read_at, mail_state, sent_at) SELECT ?, 'request', r.id, r.slot_id, "
                "'a student requests a slot of ADA1', ?, ?, 'sent', ? FROM requests r",
                (ada, t, t, t))
    con.execute("UPDATE notifications SET mail_state = 'queued', sent_at = NULL "
                "WHERE id > (SELECT MAX(id) FROM notifications) - ?", (MAIL,))
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def main() -> None:
    from aiosmtpd.controller import Controller

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    env = {**installed_env(), "SESSIONCTL_TZ": "UTC", "COLUMNS": "200"}
    folder = Path(tempfile.mkdtemp(prefix="sessionctl-bulk-"))
    template = folder / "template.db"
    build(template, env)
    lists, work = folder / "lists.db", folder / "work.db"
    shutil.copy(template, lists)
    rows = "\n".join(f"n{i},n{i}@example.edu,New Student {i}" for i in range(CSV_ROWS))
    (folder / "3000.csv").write_text(f"name,email,display\n{rows}\n")
    (folder / "1.csv").write_text("name,email,display\nn0,n0@example.edu,New Student 0\n")

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    mail = {"SESSIONCTL_SMTP": f"smtp://127.0.0.1:{port}",
            "SESSIONCTL_MAIL_FROM": "Sessions <sessions@example.edu>"}
    on = {"lists": {**env, "SESSIONCTL_DB": str(lists)}, "work": {**env, "SESSIONCTL_DB": str(work)}}
    as_ = {name: {"SESSIONCTL_USER": name} for name in ("root", "ada")}
    commands = {  # name: (arguments, store, user, extra env, target ms)
        f"course enroll --from-csv ({CSV_ROWS:,} rows)":
            (["course", "enroll", "CSV1", "--from-csv", str(folder / "3000.csv")], "work", "ada",
             {}, 500),
        "course enroll --from-csv (1 row)":
            (["course", "enroll", "CSV1", "--from-csv", str(folder / "1.csv")], "work", "ada", {},
             None),
        f"notify send ({MAIL:,} messages)": (["notify", "send"], "work", "root", mail, 3000),
        "user list (10,000 rows)": (["user", "list"], "lists", "root", {}, 1000),
        "slot list --status all (10,000 rows)":
            (["slot", "list", "--status", "all"], "lists", "ada", {}, 1000),
        "request list (10,000 rows)": (["request", "list"], "lists", "ada", {}, 1000),
        "inbox --all --peek (10,000 rows)": (["inbox", "--all", "--peek"], "lists", "ada", {}, 1000),
        "user list --json (10,000 rows)": (["user", "list", "--json"], "lists", "root", {}, None),
    }
    plan = {name: ([EXE, *args], {**on[store], **as_[user], **extra})
            for name, (args, store, user, extra, _) in commands.items()}

    def before(name):  # each write starts from the template: 1,000 queued, no CSV students
        if commands[name][1] == "work":
            for suffix in ("-wal", "-shm"):
                Path(f"{work}{suffix}").unlink(missing_ok=True)
            shutil.copy(template, work)
            os.sync()  # the copy's dirty pages are not the timed command's to flush

    try:
        times = interleaved(plan, runs, before=before)
    finally:
        controller.stop()
    expected = (runs + 1) * MAIL
    assert sink.count == expected, f"the server accepted {sink.count} messages, not {expected}"
    print(f"median of {runs} whole-process runs each, interleaved; {machine()}")
    summary = []
    for name, (_, _, _, _, target) in commands.items():
        ms = median(times.wall[name])
        note = f"  target <= {target} ms: {ms / target:.2f} of it" if target else ""
        print(f"{name:<44} {ms:8.1f} ms{note}")
        if target:
            summary.append(f"{name.split(' (')[0]} {ms / target:.2f}")
    shutil.rmtree(folder, ignore_errors=True)
    print("ratio to target (<= 1 meets it): " + ", ".join(summary))


if __name__ == "__main__":
    main()
