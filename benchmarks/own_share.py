"""sessionctl's own share of a command's start-up: its imports beyond its stack, and its work.

    python benchmarks/own_share.py [N] [-- ARGS…]     (default N 15, ARGS: slot list --json)

Run with the Python of a virtualenv where sessionctl is installed (not editable), against the
store that SESSIONCTL_DB names, as SESSIONCTL_USER. Two figures, medians of N fresh processes:

- own imports: the sum of the self times (``python -X importtime``) of every module the
  command imports that its stack script does not (the scripts of ``startup.py``: Typer and
  Peewee for ``--json``, with Rich's console and table for a table; for ``--help``, which
  loads no Typer, the Rich modules ``front.py`` draws with);
- work: the time ``sessionctl.launch.main`` takes once every module it will import is
  imported already (a first run in a fresh process: no cache of a previous run helps).

The modules with the largest self times are listed, to show where the imports go.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import STACK  # noqa: E402

PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["sessionctl", *sys.argv[1:]]
from sessionctl.launch import main
main()
"""

WORK = """
import importlib, io, json, os, sys, time
for name in json.loads(os.environ["_OWN_SHARE_MODULES"]):
    try:
        importlib.import_module(name)
    except Exception:
        pass
sys.argv = ["sessionctl", *sys.argv[1:]]
from sessionctl.launch import main
real, sys.stdout = sys.stdout, open(os.devnull, "w")
start = time.perf_counter()
try:
    main()
except SystemExit:
    pass
took = time.perf_counter() - start
sys.stdout = real
print(took * 1000)
"""

# The root's --help loads no Typer: its stack is the Rich that front.py draws with.
STACKS = {**STACK, "rich as front.py draws help": (
    "import rich.align, rich.columns, rich.console, rich.highlighter, rich.padding, "
    "rich.panel, rich.table, rich.text\n")}

RUN = "import sys\nsys.argv = ['sessionctl', *sys.argv[1:]]\nfrom sessionctl.launch import main\nmain()\n"


def self_times(cmd: list[str], env: dict) -> dict[str, int]:
    err = subprocess.run(cmd, env=env, capture_output=True, text=True).stderr
    return {m.group(2): int(m.group(1))
            for m in re.finditer(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)$", err, re.M)}


def main() -> None:
    argv = sys.argv[1:]
    args = argv[argv.index("--") + 1:] if "--" in argv else ["slot", "list", "--json"]
    head = argv[:argv.index("--")] if "--" in argv else argv
    n = int(head[0]) if head else 15
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    stack = ("rich as front.py draws help" if "--help" in args else
             "import typer, peewee" if "--json" in args else "import typer, peewee, rich")
    py = sys.executable
    base = set(self_times([py, "-X", "importtime", "-c", STACKS[stack]], env))
    probe = subprocess.run([py, "-c", PROBE, *args], env=env, capture_output=True, text=True)
    modules = [m for m in json.loads(probe.stderr.strip().splitlines()[-1]) if m != "__main__"]
    work_env = {**env, "_OWN_SHARE_MODULES": json.dumps(modules)}
    totals, work, per = [], [], defaultdict(list)
    for _ in range(n):  # interleaved, as everywhere here
        extra = {k: v for k, v in self_times([py, "-X", "importtime", "-c", RUN, *args], env).items()
                 if k not in base}
        totals.append(sum(extra.values()) / 1000)
        for name, us in extra.items():
            per[name].append(us / 1000)
        done = subprocess.run([py, "-c", WORK, *args], env=work_env, capture_output=True, text=True)
        work.append(float(done.stdout.strip().splitlines()[-1]))
    print(f"sessionctl {' '.join(args)}: medians of {n}, against `{stack}`")
    print(f"own imports {statistics.median(totals):5.1f} ms   work {statistics.median(work):5.1f} ms")
    for name, values in sorted(per.items(), key=lambda kv: -statistics.median(kv[1]))[:15]:
        print(f"  {statistics.median(values):5.2f} ms  {name}")


if __name__ == "__main__":
    main()
