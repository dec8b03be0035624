"""What the whole-process benchmarks share: the installed command, the floor scripts, and
interleaved timing with medians.

Every benchmark measures against something timed in the same run: the floor of SPEC §9 (an
argparse + sqlite3 script printing the same 20 rows a `slot list` prints), or the same command
on a smaller store. Runs go round-robin, so a machine that slows down mid-run (this one is
shared) slows every contender alike, and each figure is the median of its runs.
"""

from __future__ import annotations

import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("sessionctl"))

# SPEC §9's floor: argparse and sqlite3, printing the same 20 rows `slot list` prints.
FLOOR = r'''
import argparse, os, sqlite3
parser = argparse.ArgumentParser(prog="floor")
groups = parser.add_subparsers(dest="group", required=True)
listing = groups.add_parser("slot").add_subparsers(dest="command", required=True).add_parser("list")
listing.add_argument("--json", action="store_true")
args = parser.parse_args()
con = sqlite3.connect(os.environ["SESSIONCTL_DB"])
rows = con.execute(
    "SELECT s.id, c.code, s.starts_at, s.ends_at, s.booked, s.capacity FROM slots s "
    "JOIN courses c ON c.id = s.course_id ORDER BY s.starts_at, s.id LIMIT 20").fetchall()
print("ID   Course   Start                 End                   Seats")
for row in rows:
    print(f"{row[0]:<4} {row[1]:<8} {row[2]}   {row[3]}   {row[4]}/{row[5]}")
'''

# The stack's own floors: scripts that only import what a command needs (peewee as sessionctl
# imports it, with the PostgreSQL drivers hidden: store/_peewee.py).
_HIDE = "import sys\nfor _m in ('psycopg', 'psycopg2'): sys.modules[_m] = None\n"
STACK = {
    "import typer": "import typer\n",
    "import typer, peewee": _HIDE + "import typer, peewee\n",
    "import typer, peewee, rich": _HIDE + "import typer, peewee, rich.console, rich.table\n",
}


def installed_env() -> dict:
    """The environment for timed runs: what an installed copy does, with .pyc files (this
    machine sets PYTHONDONTWRITEBYTECODE), and none of the caller's sessionctl settings."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith(("SESSIONCTL_", "_SESSIONCTL_"))}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def write_scripts(folder: Path) -> dict[str, list[str]]:
    """The floor and the stack scripts as files in ``folder``: name -> command line."""
    commands = {}
    for name, text in {"floor: argparse + sqlite3, 20 rows": FLOOR, **STACK}.items():
        path = folder / f"{len(commands)}.py"
        path.write_text(text)
        commands[name] = [sys.executable, str(path)] + (["slot", "list"] if text is FLOOR else [])
    return commands


def run(cmd: list[str], env: dict, *, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
    return done


class Times:
    """Milliseconds per run of each command: by the wall clock, and the CPU time (user +
    system) the process used, which another process's load disturbs less."""

    def __init__(self, names):
        self.wall: dict = {name: [] for name in names}
        self.cpu: dict = {name: [] for name in names}


def interleaved(commands: dict[str, tuple[list[str], dict]], n: int, *, before=None,
                after=None) -> Times:
    """Run every command ``n`` times, round-robin after one untimed warm-up round (page cache,
    .pyc files). ``before(name)``/``after(name)`` run untimed around each run (pools, resets);
    ``before`` may return the command line to use instead."""
    times = Times(commands)
    for round_ in range(n + 1):
        for name, (cmd, env) in commands.items():
            if before is not None:
                cmd = before(name) or cmd
            used = _children_cpu()
            start = time.perf_counter()
            run(cmd, env)
            elapsed = (time.perf_counter() - start) * 1000
            cpu = (_children_cpu() - used) * 1000
            if after is not None:
                after(name)
            if round_:
                times.wall[name].append(elapsed)
                times.cpu[name].append(cpu)
    return times


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"Python {platform.python_version()}, {os.cpu_count()} cores, "
            f"load average {load}")


# -- a mail server that accepts everything (aiosmtpd) --------------------------------------


class Sink:
    """aiosmtpd handler that accepts and counts."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
        return "250 accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
