"""A registration rush: N students, each a separate `sessionctl request send` process, released at
the same moment onto S one-seat slots of an auto-approve course, against the same N sends made
one after another (the floor of this benchmark, run in the same process tree).

Checks what a student trusts (every process exits 0 or 5, never 1 or 6; no slot over
capacity) and prints the throughput of the rush against the sends in a row (goal >= 0.8x) and
the rush's latencies (median and 95th percentile, from start to exit of each process).

Runs on a new SQLite store, and on a PostgreSQL server this benchmark starts itself (initdb in
a temp folder, on loopback, with room for N connections at once) when the server's programs
are installed (Debian: postgresql); or on the server of --pg URL (a new database there).

The PostgreSQL run is made twice: as the shared mode's one role, and in the database mode
(``init --identity database``), where every student is a separate process with their own login.

Usage: python benchmarks/rush.py [N] [S] [--sqlite-only | --database-only] [--pg URL]
       (default 200 50)
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EXE, free_port, installed_env, machine  # noqa: E402


def as_user(env: dict, user: str, database: bool) -> dict:
    """The environment of ``user``'s process: SESSIONCTL_USER, or in the database mode their
    own login in the URL (the throwaway server trusts loopback: no password to check)."""
    if not database:
        return dict(env, SESSIONCTL_USER=user)
    rest = env["SESSIONCTL_DB"].split("://", 1)[1].split("@", 1)[-1]
    return {**{k: v for k, v in env.items() if k != "SESSIONCTL_USER"},
            "SESSIONCTL_DB": f"postgresql://{user}@{rest}"}


def run(env: dict, user: str, *args: str, stdin: str | None = None, database: bool = False) -> str:
    done = subprocess.run([EXE, *args], env=as_user(env, user, database), input=stdin,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"setup failed: {args}: {done.stderr.strip()[:300]}")
    return done.stdout


def course(env: dict, code: str, n: int, slots: int, day: int) -> list[int]:
    """A course with n enrolled students (s0…), auto-approve, and its one-seat slots."""
    run(env, "prof", "course", "add", code, "--title", "Rush")
    roster = "name,email\n" + "".join(f"s{i},s{i}@example.edu\n" for i in range(n))
    run(env, "prof", "course", "enroll", code, "--from-csv", "-", stdin=roster)
    run(env, "prof", "course", "set", code, "--auto-approve")
    start = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=day)).replace(
        hour=8, minute=0, second=0, microsecond=0)
    made = run(env, "prof", "slot", "add", "--course", code, "--start",
               start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--duration", "10m", "--repeat", "daily",
               "--count", str(slots), "--json")
    return [s["id"] for s in json.loads(made)]


def rush(location: str, n: int, slots: int, database: bool = False) -> dict:
    """``database``: the store in the database mode, each student their own login."""
    env = dict(installed_env(), SESSIONCTL_DB=location, SESSIONCTL_TZ="UTC", NO_COLOR="1")
    run(env, "root", "init")
    run(env, "root", "user", "add", "prof", "--role", "educator")
    at_once, in_a_row = course(env, "A", n, slots, 3), course(env, "B", n, slots, 3 + slots)
    if database:  # the DBA converts the store: a login role for every user
        run(env, "root", "init", "--identity", "database", "--admin", "root")

    started = time.perf_counter()
    row_codes = [subprocess.run([EXE, "request", "send", str(in_a_row[i % slots])],
                                env=as_user(env, f"s{i}", database), capture_output=True).returncode
                 for i in range(n)]
    in_a_row_s = time.perf_counter() - started

    procs, starts = [], []
    started = time.perf_counter()
    for i in range(n):
        starts.append(time.perf_counter())
        procs.append(subprocess.Popen([EXE, "request", "send", str(at_once[i % slots])],
                                      env=as_user(env, f"s{i}", database),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    latencies, codes, said = [], [], []
    for proc, began in zip(procs, starts):
        _, err = proc.communicate()
        latencies.append(time.perf_counter() - began)
        codes.append(proc.returncode)
        if proc.returncode not in (0, 5):
            said.append(err.decode().strip()[:200])
    at_once_s = time.perf_counter() - started

    listed = json.loads(run(env, "root", "slot", "list", "--status", "all", "--course", "A", "--json",
                            database=database))
    return {
        "in a row": in_a_row_s, "rush": at_once_s, "row exits": sorted(set(row_codes)),
        "exit 0": codes.count(0), "exit 5": codes.count(5),
        "other exits": len(codes) - codes.count(0) - codes.count(5), "said": said[:3],
        "over capacity": sum(s["booked"] > s["capacity"] for s in listed),
        "booked": sum(s["booked"] for s in listed),
        "median": statistics.median(latencies), "p95": statistics.quantiles(latencies, n=20)[18],
    }


def report(backend: str, n: int, slots: int, r: dict) -> bool:
    ratio = r["in a row"] / r["rush"]
    print(f"{backend}: {n} sends in a row {r['in a row']:.1f} s (exits {r['row exits']}); "
          f"at once on {slots} slots {r['rush']:.1f} s")
    print(f"  throughput at once / in a row: {ratio:.2f}x (goal >= 0.8x)")
    print(f"  latency at once: median {r['median']:.1f} s, p95 {r['p95']:.1f} s")
    print(f"  exit 0: {r['exit 0']}, exit 5: {r['exit 5']}, other: {r['other exits']} (goal 0); "
          f"slots over capacity: {r['over capacity']} (goal 0); seats booked {r['booked']} of {slots}")
    for line in r["said"]:
        print(f"  e.g. {line}")
    return ratio >= 0.8 and not r["other exits"] and not r["over capacity"]


@contextmanager
def postgres_server(n: int):
    """A throwaway PostgreSQL server on loopback with room for ``n`` clients at once."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        yield None
        return
    bin_dir = Path(bins[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="rush-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(folder, "postgres")
    port = free_port()
    subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(folder / "data"), "-A", "trust",
                    "-U", "postgres"], check=True, capture_output=True)
    subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-w", "-l",
                    str(folder / "log"), "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 "
                    f"-c max_connections={n + 50}", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m",
                        "fast", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server: str) -> str:
    import psycopg

    name = f"rush_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{server.rpartition('/')[0]}/{name}"


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 200
    slots = int(args[1]) if len(args) > 1 else 50
    pg = sys.argv[sys.argv.index("--pg") + 1] if "--pg" in sys.argv else None
    print(machine())
    good = True
    only_database = "--database-only" in sys.argv
    if not only_database:
        with tempfile.TemporaryDirectory() as folder:
            good &= report("SQLite", n, slots, rush(os.path.join(folder, "rush.db"), n, slots))
    if "--sqlite-only" not in sys.argv:
        with (postgres_server(n) if pg is None else _given(pg)) as server:
            if server is None:
                print("PostgreSQL: skipped (no server programs: apt-get install postgresql)")
            else:
                if not only_database:
                    good &= report("PostgreSQL", n, slots, rush(new_database(server), n, slots))
                good &= report("PostgreSQL, database mode", n, slots,
                               rush(new_database(server), n, slots, database=True))
    sys.exit(0 if good else 1)


@contextmanager
def _given(url: str):
    yield url


if __name__ == "__main__":
    main()
