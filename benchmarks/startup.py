"""Start-up of `sessionctl` (SPEC §9), whole processes, against the floor in the same run.

The floor is an argparse + sqlite3 script printing the same 20 rows `slot list` prints. The
stack's own floors are scripts that only import what a command needs: Typer; Typer and
Peewee; Typer, Peewee and Rich (console and table). Timed, round-robin: those, `python -c
pass`, and `sessionctl slot list` (a table), `slot list --json`, `--version`, `--help` and
one shell completion request (what a TAB after `sessionctl slot show ` costs in bash), on a
store with 20 slots; and a command's help two ways (`help slot add`, `slot add --help`), whose
target is Typer's own import plus 0.3 of the floor (issue 18). Output to /dev/null, as from a
script.

Usage: python benchmarks/startup.py [N]      (N runs each, default 20; medians)
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EXE, installed_env, interleaved, machine, median, run, write_scripts  # noqa: E402

# command -> SPEC §9's target (times the floor), and the stack floor it rests on
TARGETS = {
    "sessionctl slot list": (2.8, "import typer, peewee, rich"),
    "sessionctl slot list --json": (2.2, "import typer, peewee"),
    "sessionctl --help": (2.0, "import typer"),
    "sessionctl slot add --help": (None, "import typer"),  # issue 18: Typer's import + 0.3
    "sessionctl --version": (1.6, "import typer"),
}


def bash_completion(env: dict, line: str) -> dict:
    """The environment bash's completion function gives the program for ``line``."""
    words = line.split(" ")
    return {**env, "_SESSIONCTL_COMPLETE": "complete_bash", "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1)}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp:
        env = {**installed_env(), "SESSIONCTL_DB": f"{tmp}/s.db", "SESSIONCTL_USER": "root",
               "SESSIONCTL_TZ": "UTC", "COLUMNS": "200"}
        run([EXE, "init"], env)
        run([EXE, "user", "add", "ada", "--role", "educator"], env)
        ada = {**env, "SESSIONCTL_USER": "ada"}
        run([EXE, "course", "add", "C1", "--title", "Course"], ada)
        day = datetime.now(timezone.utc).replace(hour=8, minute=0, second=0, microsecond=0)
        start = (day + timedelta(days=2)).strftime("%Y-%m-%dT%H:%MZ")
        run([EXE, "slot", "add", "--course", "C1", "--start", start, "--duration", "30m",
             "--repeat", "daily", "--count", "20"], ada)
        scripts = write_scripts(Path(tmp))
        commands = {name: (cmd, ada) for name, cmd in scripts.items()}
        commands["python -c pass"] = ([sys.executable, "-c", "pass"], env)
        commands.update({
            "sessionctl slot list": ([EXE, "slot", "list"], ada),
            "sessionctl slot list --json": ([EXE, "slot", "list", "--json"], ada),
            "sessionctl --version": ([EXE, "--version"], env),
            "sessionctl --help": ([EXE, "--help"], env),
            "sessionctl help slot add": ([EXE, "help", "slot", "add"], env),
            "sessionctl slot add --help": ([EXE, "slot", "add", "--help"], env),
            "TAB: slot show <ids>": ([EXE], bash_completion(ada, "sessionctl slot show ")),
            "TAB: slot cancel <live ids>": ([EXE], bash_completion(ada, "sessionctl slot cancel ")),
            "TAB: --tz <zones>": ([EXE], bash_completion(ada, "sessionctl --tz Europe/")),
        })
        times = interleaved(commands, n)
    wall = {name: median(values) for name, values in times.wall.items()}
    floor = wall[next(iter(scripts))]
    print(f"median of {n} whole-process runs, interleaved; 20 slots in the store; {machine()}")
    for name, ms in wall.items():
        target = TARGETS.get(name)
        limit = target and (target[0] or round(wall[target[1]] / floor + 0.3, 2))
        note = f"  target <= {limit}x (its stack alone: {wall[target[1]] / floor:.2f}x)" \
            if target else ""
        print(f"{name:<38} {ms:7.1f} ms  {ms / floor:5.2f}x{note}")
    ratios = ", ".join(
        f"{name.split(' ', 1)[1]} {wall[name] / floor:.2f}x "
        f"(<= {t[0] or round(wall[t[1]] / floor + 0.3, 2)})" for name, t in TARGETS.items())
    print(f"ratio to the floor: {ratios}")


if __name__ == "__main__":
    main()
