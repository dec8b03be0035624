"""Start-up cost of `sessionctl` on a 20-slot store, against `python -c pass`.

Times `slot list` (table and --json), `--version`, `--help`, and one shell completion request
(what a TAB after `sessionctl slot show ` costs in bash).

Whole-process runs, median of N (default 10), all measured in this one run so the
ratios compare like with like. Usage: python benchmarks/startup.py [N]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


def run(cmd: list[str], env: dict) -> None:
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)


def bash_completion(env: dict, line: str) -> dict:
    """The environment bash's completion function gives the program for ``line``."""
    words = line.split(" ")
    return {**env, "_SESSIONCTL_COMPLETE": "complete_bash", "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1)}


def medians_ms(commands: dict[str, tuple[list[str], dict]], n: int) -> dict[str, float]:
    """Round-robin over the commands, so a machine that slows down mid-run slows all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd, env in commands.values():
        run(cmd, env)  # warm the page cache and .pyc files
    for _ in range(n):
        for name, (cmd, env) in commands.items():
            start = time.perf_counter()
            run(cmd, env)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    # measure what an installed copy does: with .pyc files (this machine sets the opposite)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    exe = str(Path(sys.executable).with_name("sessionctl"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SESSIONCTL_DB": f"{tmp}/s.db", "SESSIONCTL_USER": "root",
               "SESSIONCTL_TZ": "UTC", "COLUMNS": "200"}
        run([exe, "init"], env)
        run([exe, "user", "add", "ada", "--role", "educator"], env)
        env_ada = {**env, "SESSIONCTL_USER": "ada"}
        run([exe, "course", "add", "C1", "--title", "Course"], env_ada)
        day = datetime.now(timezone.utc).replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=2)
        for i in range(20):
            start = (day + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%MZ")
            run([exe, "slot", "add", "--course", "C1", "--start", start, "--duration", "30m"], env_ada)
        results = medians_ms({
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "sessionctl slot list": ([exe, "slot", "list"], env_ada),
            "sessionctl slot list --json": ([exe, "slot", "list", "--json"], env_ada),
            "sessionctl --version": ([exe, "--version"], env),
            "sessionctl --help": ([exe, "--help"], env),
            "TAB: slot show <ids>": ([exe], bash_completion(env_ada, "sessionctl slot show ")),
        }, n)
    floor = results["python -c pass"]
    print(f"median of {n} whole-process runs, interleaved; 20 slots in the store")
    for name, ms in results.items():
        print(f"{name:<28} {ms:7.1f} ms  {ms / floor:4.1f}x")


if __name__ == "__main__":
    main()
