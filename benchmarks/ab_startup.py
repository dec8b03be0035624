"""Start-up of two installs of sessionctl side by side: the same commands, interleaved.

    python benchmarks/ab_startup.py OLD_VENV NEW_VENV [N]

Each VENV is a virtualenv with sessionctl installed (not editable: an editable install adds
its own finder to every import). For each, N times round-robin: the import time of
``sessionctl.cli`` (``python -X importtime``, sessionctl's own figure, free of process start)
and whole-process runs of ``sessionctl --version``, ``--help`` and ``slot list --json`` on a
20-slot store, by wall clock and by the CPU time the process used. Prints medians, the
fastest run (the least disturbed, on a shared machine) and the new/old ratios. Used to show that shell completion costs
an ordinary command nothing measurable (benchmarks/README.md).
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

COMMANDS = (["--version"], ["--help"], ["slot", "list", "--json"])


def main() -> None:
    old, new = (Path(a) for a in sys.argv[1:3])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        env.update(SESSIONCTL_DB=f"{tmp}/s.db", SESSIONCTL_USER="root", SESSIONCTL_TZ="UTC",
                   COLUMNS="200")
        exe = str(new / "bin" / "sessionctl")
        subprocess.run([exe, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        day = datetime.now(timezone.utc).replace(hour=8, minute=0, second=0, microsecond=0)
        subprocess.run([exe, "user", "add", "ada", "--role", "educator"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        env_ada = {**env, "SESSIONCTL_USER": "ada"}
        subprocess.run([exe, "course", "add", "C2", "--title", "C"], env=env_ada, check=True,
                       stdout=subprocess.DEVNULL)
        start = (day + timedelta(days=2)).strftime("%Y-%m-%dT%H:%MZ")
        subprocess.run([exe, "slot", "add", "--course", "C2", "--start", start, "--duration",
                        "30m", "--repeat", "daily", "--count", "20"], env=env_ada, check=True,
                       stdout=subprocess.DEVNULL)
        results = {venv: {"import": [], **{" ".join(c): [] for c in COMMANDS}} for venv in (old, new)}
        cpu = {venv: {" ".join(c): [] for c in COMMANDS} for venv in (old, new)}
        for venv in (old, new):  # warm .pyc files
            subprocess.run([str(venv / "bin" / "python"), "-c", "import sessionctl.cli"], env=env, check=True)
        for _ in range(n):
            for venv in (old, new):
                out = subprocess.run([str(venv / "bin" / "python"), "-X", "importtime", "-c",
                                      "import sessionctl.cli"], env=env, capture_output=True,
                                     text=True, cwd=tmp).stderr
                own = re.findall(r"\|\s+(\d+) \| sessionctl\.cli$", out, re.M)
                results[venv]["import"].append(int(own[-1]) / 1000)
                for command in COMMANDS:
                    used, began = _children_cpu(), time.perf_counter()
                    subprocess.run([str(venv / "bin" / "sessionctl"), *command], env=env_ada,
                                   check=True, stdout=subprocess.DEVNULL, cwd=tmp)
                    results[venv][" ".join(command)].append((time.perf_counter() - began) * 1000)
                    cpu[venv][" ".join(command)].append((_children_cpu() - used) * 1000)
    print(f"{n} interleaved runs each (ms): median, and the fastest run (least disturbed by")
    print("other work on a shared machine; CPU = user + system time of the process)")
    head = ["old", "new", "new/old", "min old", "min new", "new/old", "CPU old", "CPU new", "new/old"]
    print(f"{'':<28}" + "".join(f"{h:>9}" for h in head))
    for name in results[old]:
        a, b = results[old][name], results[new][name]
        cells = [statistics.median(a), statistics.median(b), min(a), min(b)]
        line = f"{_label(name):<28}" + _pair(cells[0], cells[1]) + _pair(cells[2], cells[3])
        if name in cpu[old]:
            line += _pair(statistics.median(cpu[old][name]), statistics.median(cpu[new][name]))
        print(line)
    ratios = ", ".join(
        f"{_label(name)} {statistics.median(results[new][name]) / statistics.median(results[old][name]):.2f}x"
        for name in results[old])
    print(f"ratio new/old (medians): {ratios}")


def _label(name: str) -> str:
    return "import sessionctl.cli" if name == "import" else f"sessionctl {name}"


def _pair(a: float, b: float) -> str:
    return f"{a:9.1f}{b:9.1f}{b / a:9.3f}"


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


if __name__ == "__main__":
    main()
