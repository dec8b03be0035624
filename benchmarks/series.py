"""A 1,000-slot `sessionctl slot add --repeat daily --count 1000` against a single `slot add`.

Whole-process runs of the installed command, median of N (default 15), interleaved, all in
this one run, with `python -c pass` as the floor. Every measured run is a successful creation
(exit 0) on its own fresh copy of the same prepared 20-slot store; the copy is made before the
clock starts. Output goes to /dev/null, as from a script. Usage: python benchmarks/series.py [N]
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SINGLE = ["slot", "add", "--course", "C1", "--start", "2035-01-01T10:00Z", "--duration", "1h"]
SERIES = [*SINGLE, "--repeat", "daily", "--count", "1000"]


def run(cmd: list[str], env: dict) -> None:
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)


def fresh(template: Path, target: Path) -> None:
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(template, target)


def medians_ms(commands: dict[str, tuple[list[str], dict]], n: int, template: Path,
               tmp: str) -> dict[str, float]:
    """Round-robin over the commands, so a machine that slows down mid-run slows all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for rep in range(n + 1):  # round 0 warms the page cache and .pyc files, untimed
        for index, (name, (cmd, env)) in enumerate(commands.items()):
            if "SESSIONCTL_DB" in env:
                target = Path(tmp) / f"run{index}.db"
                fresh(template, target)
                env = {**env, "SESSIONCTL_DB": str(target)}
            start = time.perf_counter()
            run(cmd, env)  # check=True: every measured run created its slots
            if rep:
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def prepare(exe: str, template: Path) -> dict:
    env = {**os.environ, "SESSIONCTL_DB": str(template), "SESSIONCTL_USER": "root",
           "SESSIONCTL_TZ": "UTC", "COLUMNS": "200"}
    env.pop("SESSIONCTL_DEBUG", None)
    env.pop("SESSIONCTL_LOCK_TIMEOUT", None)
    run([exe, "init"], env)
    run([exe, "user", "add", "ada", "--role", "educator"], env)
    env_ada = {**env, "SESSIONCTL_USER": "ada"}
    run([exe, "course", "add", "C1", "--title", "Course"], env_ada)
    for i in range(20):  # as in startup.py, well before the measured range
        start = f"2034-03-{1 + i // 10:02d}T{8 + i % 10:02d}:00Z"
        run([exe, "slot", "add", "--course", "C1", "--start", start, "--duration", "30m"], env_ada)
    con = sqlite3.connect(template)
    assert con.execute("SELECT COUNT(*) FROM slots").fetchone()[0] == 20
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the template is one self-contained file
    con.close()
    # what is measured really creates what it says
    for args, count in ((SINGLE, 1), (SERIES, 1000)):
        scratch = template.with_name("check.db")
        fresh(template, scratch)
        out = subprocess.run([exe, *args, "--json"], env={**env_ada, "SESSIONCTL_DB": str(scratch)},
                             check=True, capture_output=True, text=True).stdout
        assert len(json.loads(out)) == count, (args, count)
    return env_ada


def main() -> None:
    # measure what an installed copy does: with .pyc files (this machine sets the opposite)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    exe = str(Path(sys.executable).with_name("sessionctl"))
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        env_ada = prepare(exe, template)
        floor_env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
        results = medians_ms({
            "python -c pass": ([sys.executable, "-c", "pass"], floor_env),
            "slot add (1 slot)": ([exe, *SINGLE], env_ada),
            "slot add --count 1000": ([exe, *SERIES], env_ada),
            "slot add --json (1 slot)": ([exe, *SINGLE, "--json"], env_ada),
            "slot add --json --count 1000": ([exe, *SERIES, "--json"], env_ada),
        }, n, template, tmp)
    floor = results["python -c pass"]
    print(f"median of {n} whole-process runs, interleaved; each slot add on a fresh copy of a "
          "20-slot store, output to /dev/null")
    for name, ms in results.items():
        print(f"{name:<30} {ms:7.1f} ms  {ms / floor:4.1f}x")
    table = results["slot add --count 1000"] / results["slot add (1 slot)"]
    as_json = results["slot add --json --count 1000"] / results["slot add --json (1 slot)"]
    print(f"series / single: table {table:.2f}x, --json {as_json:.2f}x (target < 2x)")


if __name__ == "__main__":
    main()
