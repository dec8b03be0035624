"""One full cron cycle on a store with 100 approved sessions, twice, with the installed command.

The store (built through the domain on a clock three days back, so some sessions are over):
4 educators, 25 students; 100 approved sessions of 45 minutes: 20 ended yesterday, 50 start
within the next 24 hours, 30 later; plus 10 pending requests whose slots have started.
The cycle, as the admin: `sweep`, `remind --within 24h`, `notify send` to an aiosmtpd
server on a free loopback port, `request export --ics --out FILE`. Then the same again, which
must find nothing to do. Prints each command, what it printed, its exit code and wall time.

Needs the test extra (aiosmtpd). Usage: python benchmarks/cron_cycle.py [--db PATH]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Sink, free_port  # noqa: E402

UTC = timezone.utc


def build(path: str, now: datetime) -> None:
    from sessionctl.domain import courses, requests, slots, users
    from sessionctl.domain.context import Context, find_actor
    from sessionctl.domain.window import Window
    from sessionctl.store import open_store

    store = open_store(path, create=True)
    users.register_first_admin(store, "root")
    back = now - timedelta(days=3)

    def ctx(name: str) -> Context:
        return Context(store, find_actor(name), UTC, lambda: back)

    educators = ["ada", "bob", "cyd", "dan"]
    students = [f"s{i:02d}" for i in range(25)]
    for name in educators:
        users.add_user(ctx("root"), name, "educator", name.title(), f"{name}@example.edu", "Europe/Berlin")
    for i, name in enumerate(students):
        zone = ("Europe/London", "America/New_York", "Asia/Tokyo", None)[i % 4]
        users.add_user(ctx("root"), name, "student", f"Student {i}", f"{name}@example.edu", zone)
    for name in educators:
        code = f"{name.upper()}101"
        courses.add_course(ctx(name), code, f"{name.title()}'s course", None)
        courses.enroll(ctx(name), code, students, [])

    hour = now.replace(minute=0, second=0, microsecond=0)
    starts = ([hour - timedelta(hours=26) + timedelta(hours=k // 4) for k in range(20)]
              + [hour + timedelta(hours=1 + j // 4) for j in range(50)]
              + [hour + timedelta(hours=30 + j // 4) for j in range(30)])

    def book(k: int, start: datetime, student: str, approve: bool) -> None:
        educator = educators[k % 4]
        [slot] = slots.add_slots(ctx(educator), f"{educator.upper()}101",
                                 [Window(start, start + timedelta(minutes=45))],
                                 link=f"https://meet.example.edu/{educator}")
        request = requests.send(ctx(student), slot.id, f"session {k}")
        if approve:
            requests.approve(ctx(educator), request.id, None, None)

    for k, start in enumerate(starts):
        book(k, start, students[k % 25], True)
    for m in range(10):
        book(m, hour - timedelta(hours=10 - m // 4), students[m], False)
    store.close()


def main() -> None:
    # measure what an installed copy does: with .pyc files (this machine sets the opposite)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    from aiosmtpd.controller import Controller

    args = sys.argv[1:]
    folder = Path(tempfile.mkdtemp(prefix="sessionctl-cron-"))
    db = args[args.index("--db") + 1] if "--db" in args else str(folder / "store.db")
    now = datetime.now(UTC)
    started = time.perf_counter()
    build(db, now)
    print(f"# built {db} in {time.perf_counter() - started:.1f} s: 100 approved sessions "
          "(20 ended, 50 in the next 24 h, 30 later), 10 pending on started slots")

    exe = str(Path(sys.executable).with_name("sessionctl"))
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = {**os.environ, "SESSIONCTL_DB": db, "SESSIONCTL_USER": "root", "SESSIONCTL_TZ": "UTC",
           "SESSIONCTL_SMTP": f"smtp://127.0.0.1:{port}",
           "SESSIONCTL_MAIL_FROM": "Sessions <sessions@example.edu>"}
    out = folder / "sessions.ics"
    cycle = [
        ["sweep"],
        ["remind", "--within", "24h"],
        ["notify", "send"],
        ["request", "export", "--ics", "--out", str(out)],
    ]
    cycles = {1: 0.0, 2: 0.0}
    try:
        for round_ in (1, 2):
            print(f"\n# cycle {round_}")
            for command in cycle:
                t = time.perf_counter()
                result = subprocess.run([exe, *command], env=env, capture_output=True, text=True)
                ms = (time.perf_counter() - t) * 1000
                cycles[round_] += ms
                print(f"$ sessionctl {' '.join(command)}    # exit {result.returncode}, {ms:.0f} ms")
                sys.stdout.write(result.stdout + result.stderr)
            print(f"# server has accepted {sink.count} messages; {out.name} is "
                  f"{out.stat().st_size} bytes with {out.read_bytes().count(b'BEGIN:VEVENT')} events")
    finally:
        controller.stop()
    print(f"ratio: the second cycle (nothing due) takes {cycles[2] / cycles[1]:.2f}x the first "
          f"({cycles[1]:.0f} ms, {cycles[2]:.0f} ms)")


if __name__ == "__main__":
    main()
