"""Start-up cost of `sessionctl slot list` on a 20-slot store, against `python -c pass`.

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


def median_ms(cmd: list[str], env: dict, n: int) -> float:
    run(cmd, env)  # warm the page cache and .pyc files
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run(cmd, env)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
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
        floor = median_ms([sys.executable, "-c", "pass"], env, n)
        table = median_ms([exe, "slot", "list"], env_ada, n)
        as_json = median_ms([exe, "slot", "list", "--json"], env_ada, n)
    print(f"median of {n} whole-process runs")
    print(f"python -c pass               {floor:7.1f} ms   1.0x")
    print(f"sessionctl slot list         {table:7.1f} ms  {table / floor:4.1f}x")
    print(f"sessionctl slot list --json  {as_json:7.1f} ms  {as_json / floor:4.1f}x")


if __name__ == "__main__":
    main()
