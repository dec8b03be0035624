"""`slot add` with a cached busy calendar of 5,000 events against `slot add` without one
(target ≤ 1.3×; docs/reference/busy-times.md#caching).

The calendar: 4,500 one-off events over the next 400 days and 500 weekly series (each
expanding to ~57 occurrences in the cached span), some with an EXDATE, served by a local HTTP
server and stored as ada's busy source with `user set --busy`; fetched and compiled once,
untimed, then cached (busy_ttl one day). Whole-process runs of the installed command,
round-robin, each on a fresh copy of its prepared store (copied before the clock starts),
median of N (default 15), `python -c pass` as the floor. Every timed run creates its slot
(exit 0): the slot lies in a free hour. Usage: python benchmarks/busy.py [N]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import EXE, installed_env, interleaved, machine, median, run  # noqa: E402


def calendar(now: datetime) -> bytes:
    """5,000 events, all from 06:00 to 18:00 UTC, so 20:00 is always free."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//busy//EN"]
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    for i in range(4500):
        start = day0 + timedelta(days=i % 400, hours=6 + i % 11)
        lines += ["BEGIN:VEVENT", f"UID:one-{i}@bench", f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
                  f"DTEND:{start + timedelta(minutes=45):%Y%m%dT%H%M%SZ}",
                  f"SUMMARY:Meeting {i}", "END:VEVENT"]
    for i in range(500):
        start = day0 + timedelta(days=i % 7, hours=6 + i % 12)
        lines += ["BEGIN:VEVENT", f"UID:weekly-{i}@bench",
                  f"DTSTART;TZID=Europe/Paris:{start:%Y%m%dT%H%M%S}",
                  f"DTEND;TZID=Europe/Paris:{start + timedelta(hours=1):%Y%m%dT%H%M%S}",
                  "RRULE:FREQ=WEEKLY", f"SUMMARY:Weekly {i}"]
        if i % 5 == 0:
            lines.append(f"EXDATE;TZID=Europe/Paris:{start + timedelta(days=14):%Y%m%dT%H%M%S}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/secret/calendar.ics"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    env = installed_env()
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = tmp / "config" / "sessionctl"
        config.mkdir(parents=True)
        (config / "config.toml").write_text("busy_ttl = 86400\n")
        body = calendar(now)
        httpd, url = serve(body)
        base = {**env, "SESSIONCTL_USER": "root", "SESSIONCTL_TZ": "UTC",
                "XDG_CONFIG_HOME": str(tmp / "config"), "XDG_CACHE_HOME": str(tmp / "cache")}
        templates = {}
        for name in ("plain", "busy"):
            db = tmp / f"{name}.db"
            e = {**base, "SESSIONCTL_DB": str(db)}
            run([EXE, "init"], e)
            run([EXE, "user", "add", "ada", "--role", "educator"], e)
            run([EXE, "course", "add", "C1", "--title", "Course", "--educator", "ada"], e)
            if name == "busy":
                run([EXE, "user", "set", "ada", "--busy", url], e)
            templates[name] = db
        slot = (now + timedelta(days=200)).replace(hour=20, minute=0, second=0, microsecond=0)
        add = [EXE, "slot", "add", "--course", "C1", "--start", f"{slot:%Y-%m-%dT%H:%MZ}",
               "--duration", "30m"]
        ada = {**base, "SESSIONCTL_USER": "ada"}
        # the check really runs: a slot over a busy event is refused (and the cache filled)
        busy_at = (now + timedelta(days=200)).replace(hour=6, minute=0, second=0, microsecond=0)
        scratch = tmp / "scratch.db"
        shutil.copyfile(templates["busy"], scratch)
        refused = run([EXE, "slot", "add", "--course", "C1", "--start",
                       f"{busy_at:%Y-%m-%dT%H:%MZ}", "--duration", "6h"],
                      {**ada, "SESSIONCTL_DB": str(scratch)}, check=False)
        assert refused.returncode == 5, refused.stderr
        commands = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "slot add, no busy source": (add, {**ada, "SESSIONCTL_DB": str(tmp / "run-plain.db")}),
            "slot add, 5,000 cached busy events": (
                add, {**ada, "SESSIONCTL_DB": str(tmp / "run-busy.db")}),
        }

        def fresh(name: str):
            if name.startswith("slot add"):
                which = "busy" if "busy events" in name else "plain"
                target = tmp / f"run-{which}.db"
                for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
                    leftover.unlink(missing_ok=True)
                shutil.copyfile(templates[which], target)

        times = interleaved(commands, n, before=fresh)
        httpd.shutdown()
        served = len(body)
    print(f"{machine()}; median of {n} whole-process runs, interleaved; "
          f"calendar {served / 2**20:.1f} MiB, cached")
    floor = median(times.wall["python -c pass"])
    for name in commands:
        wall, cpu = median(times.wall[name]), median(times.cpu[name])
        print(f"{name:<36} {wall:7.1f} ms wall {cpu:7.1f} ms cpu  {wall / floor:4.1f}x floor")
    busy, plain = "slot add, 5,000 cached busy events", "slot add, no busy source"
    wall = median(times.wall[busy]) / median(times.wall[plain])
    cpu = median(times.cpu[busy]) / median(times.cpu[plain])
    print(f"with busy / without: {wall:.2f}x wall, {cpu:.2f}x cpu (target <= 1.3x)")


if __name__ == "__main__":
    main()
