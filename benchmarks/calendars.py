"""Issue 19's figures: `feed write` for 10,000 users (all written, then nothing changed) and
`notify send` of 1,000 mails that carry calendar parts, with the installed command, against
the floor of `_common.py` timed in the same run, and the file system's share of an all-new
write (``FILES_FLOOR``: 10,000 files written, synced and renamed by a bare script).

The feed store (SQLite, rows written with SQL after the schema is made, so building it takes
seconds): 10,000 users with a feed token: 100 educators with 2 courses each and 9,900
students; 20,000 approved sessions of one hour (two per student and 200 per educator, from 20
days ago to 60 days ahead) with their history, and 2,000 open slots. The mail store, built
through the domain: 500 approved sessions starting within a day; what that queued is marked
sent, then `remind --within 24h` queues 1,000 reminders, each carrying the session's REQUEST.
`notify send` delivers them to an aiosmtpd sink on a free loopback port.

Usage: python benchmarks/calendars.py [RUNS]   (default 3; prints medians)
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EXE, Sink, free_port, installed_env, write_scripts  # noqa: E402

UTC = timezone.utc
H = timedelta(hours=1)


def feed_store(path: str, now: datetime) -> None:
    import secrets

    from sessionctl.domain import users
    from sessionctl.store import open_store

    store = open_store(path, create=True)
    users.register_first_admin(store, "root")
    store.close()
    con = sqlite3.connect(path)
    ts = lambda d: d.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    t = ts(now)
    educators = [(f"edu{i}", "educator", f"Educator {i}", f"edu{i}@example.edu", t)
                 for i in range(100)]
    students = [(f"stu{i}", "student", f"Student {i}", f"stu{i}@example.edu", t)
                for i in range(9900)]
    con.executemany("INSERT INTO users (name, role, display, email, created_at) "
                    "VALUES (?,?,?,?,?)", educators + students)
    ids = {name: i for i, name in con.execute("SELECT id, name FROM users")}
    con.executemany("INSERT INTO feed_tokens (user_id, token) VALUES (?,?)",
                    [(ids[row[0]], secrets.token_hex(20)) for row in educators + students])
    for e in range(100):
        for c in range(2):
            con.execute("INSERT INTO courses (code, title, educator_id, created_at) VALUES (?,?,?,?)",
                        (f"C{e}X{c}", f"Course {e}.{c}", ids[f"edu{e}"], t))
    courses = {code: i for i, code in con.execute("SELECT id, code FROM courses")}
    slots, requests = [], []
    start = now - timedelta(days=20)
    for n in range(22000):
        e = n % 100
        when = start + timedelta(hours=(n // 100) * 2 + 1, minutes=(n % 7) * 5)
        slots.append((courses[f"C{e}X{n % 2}"], ids[f"edu{e}"], ts(when), ts(when + H), 1,
                      0 if n >= 20000 else 1, t, t))
    con.executemany("INSERT INTO slots (course_id, educator_id, starts_at, ends_at, capacity, "
                    "booked, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)", slots)
    slot_ids = [i for (i,) in con.execute("SELECT id FROM slots ORDER BY id")]
    for n in range(20000):
        requests.append((slot_ids[n], ids[f"stu{n % 9900}"], "approved", t, t))
    con.executemany("INSERT INTO requests (slot_id, student_id, status, created_at, updated_at) "
                    "VALUES (?,?,?,?,?)", requests)
    con.execute("INSERT INTO history (request_id, at, from_status, to_status) "
                "SELECT id, created_at, 'pending', 'approved' FROM requests")
    con.commit()
    con.close()


def mail_store(path: str, now: datetime) -> None:
    from sessionctl.domain import courses, requests, slots, users
    from sessionctl.domain.context import Context, find_actor
    from sessionctl.domain.window import Window
    from sessionctl.store import open_store
    from sessionctl.store.models import Notification

    store = open_store(path, create=True)
    users.register_first_admin(store, "root")

    def ctx(name: str) -> Context:
        return Context(store, find_actor(name), UTC, lambda: now)

    users.add_user(ctx("root"), "ada", "educator", "Ada Lovelace", "ada@example.edu", "Europe/Berlin")
    courses.add_course(ctx("ada"), "MATH101", "Analytical Engines", None)
    names = [f"s{i:03d}" for i in range(500)]
    for i, name in enumerate(names):
        users.add_user(ctx("root"), name, "student", f"Student {i}", f"{name}@example.edu",
                       "America/New_York")
    courses.enroll(ctx("ada"), "MATH101", names, [])
    windows = [Window(now + timedelta(hours=2, minutes=2 * i), now + timedelta(hours=2, minutes=2 * i + 1))
               for i in range(500)]
    made = slots.add_slots(ctx("ada"), "MATH101", windows)
    for slot, name in zip(made, names):
        request = requests.send(ctx(name), slot.id, None)
        requests.approve(ctx("ada"), request.id, "https://meet.example.edu/x", None)
    with store.write():
        Notification.update(mail_state="sent").execute()
    store.close()


# The file system's share of an all-new feed write, timed in the same run: 10,000 files of a
# feed's size written to temporary names, flushed with one sync and renamed into place, as
# feed write does, by a bare Python script (on a machine shared with others' disk traffic,
# creating files costs from 0.5 s to several seconds).
FILES_FLOOR = r"""
import os, secrets, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
made = []
for _ in range(10000):
    name = f"{secrets.token_hex(20)}.ics"
    temp = f".{name}.{secrets.token_hex(6)}.tmp"
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
    os.write(handle, b"x" * 3000)
    os.fchmod(handle, 0o644)
    os.close(handle)
    made.append((temp, name))
os.sync()
for temp, name in made:
    os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
os.fsync(fd)
"""


def timed(cmd: list[str], env: dict) -> float:
    began = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}")
    return took


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    env = installed_env()
    now = datetime.now(UTC).replace(microsecond=0)
    folder = Path(tempfile.mkdtemp(prefix="sessionctl-bench-"))
    floor = write_scripts(folder)["floor: argparse + sqlite3, 20 rows"]
    files_floor = folder / "files_floor.py"
    files_floor.write_text(FILES_FLOOR)
    figures: dict[str, list[float]] = {"floor": [], "files floor (10,000 written, renamed)": [],
                                       "feed write (10,000 users, all new)": [],
                                       "feed write (nothing changed)": [],
                                       "notify send (1,000 mails with calendar parts)": []}
    try:
        feed_db = str(folder / "feeds.db")
        feed_store(feed_db, now)
        env_feed = {**env, "SESSIONCTL_DB": feed_db, "SESSIONCTL_USER": "root", "SESSIONCTL_TZ": "UTC"}
        from aiosmtpd.controller import Controller

        for _ in range(runs):
            figures["floor"].append(timed(floor, env_feed))
            out = folder / "out"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(mode=0o711)
            figures["files floor (10,000 written, renamed)"].append(
                timed([sys.executable, str(files_floor), str(out)], env_feed))
            shutil.rmtree(out)
            out.mkdir(mode=0o711)
            figures["feed write (10,000 users, all new)"].append(
                timed([EXE, "feed", "write", "-q", str(out)], env_feed))
            figures["feed write (nothing changed)"].append(
                timed([EXE, "feed", "write", "-q", str(out)], env_feed))
            assert len(list(out.iterdir())) == 10000
            mail_db = str(folder / "mail.db")
            for suffix in ("", "-wal", "-shm"):
                Path(mail_db + suffix).unlink(missing_ok=True)
            mail_store(mail_db, now)
            env_mail = {**env, "SESSIONCTL_DB": mail_db, "SESSIONCTL_USER": "root", "SESSIONCTL_TZ": "UTC"}
            timed([EXE, "remind", "--within", "24h"], env_mail)
            sink, port = Sink(), free_port()
            server = Controller(sink, hostname="127.0.0.1", port=port)
            server.start()
            try:
                figures["notify send (1,000 mails with calendar parts)"].append(timed(
                    [EXE, "notify", "send", "--smtp", f"smtp://127.0.0.1:{port}",
                     "--from", "sessions@example.edu"], env_mail))
            finally:
                server.stop()
            assert sink.count == 1000, sink.count
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base = statistics.median(figures["floor"])
    print(f"load average {os.getloadavg()[0]:.1f}; {runs} runs; medians")
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"{name:50} {median * 1000:9.0f} ms  {median / base:7.1f}x the floor")


if __name__ == "__main__":
    main()
