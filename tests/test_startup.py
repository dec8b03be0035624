"""Start-up, what it rests on (benchmarks/README.md): a command imports only its own group, the
root's --help, help and --version load neither Typer nor Rich nor the store nor the domain,
--json loads no Rich, and the root's help drawn without Typer (``sessionctl/front.py``) is the
one drawn through Typer, byte for byte (both by ``helpscreen.py``).

Nothing here is timed (benchmarks/startup.py measures); these are the facts the timings need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from conftest import Cli, future, iso
from sessionctl import front
from sessionctl.cli import COMMANDS, app

BIN = Path(sys.executable).with_name("sessionctl")

# Runs the installed entry point as the ``sessionctl`` script does, then prints the modules
# it loaded (as JSON, on stderr's last line) whatever the exit.
PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["sessionctl", *sys.argv[1:]]
from sessionctl.launch import main
main()
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    cli = Cli(tmp_path_factory.mktemp("startup") / "store.db")
    for args, user in [(("init",), "root"), (("user", "add", "ada", "--role", "educator"), "root"),
                       (("course", "add", "C1", "--title", "Course"), "ada"),
                       (("slot", "add", "--course", "C1", "--start", iso(future(48)),
                         "--duration", "1h"), "ada")]:
        assert cli(*args, user=user).exit_code == 0
    return cli.db


def env_for(db, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SESSIONCTL_", "_SESSIONCTL_", "FORCE_COLOR", "NO_COLOR",
                                "TERMINAL_WIDTH", "COLUMNS"))}
    env.update(SESSIONCTL_DB=str(db), SESSIONCTL_USER="ada", SESSIONCTL_TZ="UTC", **extra)
    return env


def loaded(db, *args: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env_for(db),
                          capture_output=True, text=True, timeout=60)
    return done.returncode, set(json.loads(done.stderr.strip().splitlines()[-1]))


def ours(modules: set[str], prefix: str) -> set[str]:
    return {m for m in modules if m == prefix or m.startswith(prefix + ".")}


CLI_MODULES = {f"sessionctl.cli.{module}" for module, _ in COMMANDS.values()}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["-h"], ["help"]])
def test_version_and_help_load_no_typer_store_or_domain(store, args):
    code, modules = loaded(store, *args)
    assert code == 0
    for heavy in ("typer", "peewee", "dateutil", "sessionctl.cli", "sessionctl.store",
                  "sessionctl.domain"):
        assert not ours(modules, heavy), heavy
    assert not ours(modules, "rich")  # help is plain text, drawn by helpscreen.py
    assert "sessionctl.shared" not in modules


def test_help_after_a_global_option_goes_through_typer_without_the_store(store):
    code, modules = loaded(store, "--no-pager", "--help")
    assert code == 0 and "typer" in modules
    assert not ours(modules, "peewee") and not ours(modules, "sessionctl.domain")
    assert not modules & CLI_MODULES  # the commands are listed from the table


@pytest.mark.parametrize("args, group", [
    (["slot", "list", "--json"], "sessionctl.cli.slot"),
    (["slot", "list"], "sessionctl.cli.slot"),
    (["request", "list", "--json"], "sessionctl.cli.request"),
    (["inbox", "--peek", "--json"], "sessionctl.cli.top"),
    (["course", "list", "--json"], "sessionctl.cli.course"),
])
def test_a_command_loads_only_its_own_group(store, args, group):
    code, modules = loaded(store, *args)
    assert code == 0
    assert modules & CLI_MODULES == {group}
    assert not ours(modules, "dateutil")  # no date given, none parsed
    # what only creating or moving a slot needs: series expansion and the slot's window
    assert not modules & {"sessionctl.domain.series", "sessionctl.domain.window"}
    assert "sessionctl.shared" not in modules  # no site file claims the shared mode
    assert "dataclasses" not in modules  # the records are plain classes (sessionctl/_plain.py)
    # JSON needs no Rich at all; lists draw themselves, and cells of printable ASCII (all
    # of this store's) are measured by their length, without rich.cells
    assert not ours(modules, "rich")


def test_a_group_builds_only_the_command_looked_up():
    """A group's commands are named at once and built one by one: ``slot list`` reads the
    signature of ``list`` only; the group's help still lists them all, in their order."""
    from sessionctl.cli import load_command, slot

    group = load_command("slot")
    names = [info.name for info in slot.app.registered_commands]
    assert list(group.commands) == names and len(names) > 1
    assert not [name for name in names if group.commands.built(name)]
    ctx = group.make_context("slot", ["list"], resilient_parsing=True)
    assert group.get_command(ctx, "list").name == "list"
    assert [name for name in names if group.commands.built(name)] == ["list"]
    assert group.get_command(ctx, "nosuch") is None
    assert [group.commands[name].name for name in names] == names


def test_the_table_of_commands_is_the_tree():
    """``COMMANDS`` lists every command of the root, in the order of its help, each with the
    first paragraph of its own help; ``front.OPTIONS`` lists the root's options."""
    root = get_command(app)
    assert list(root.commands) == list(COMMANDS)
    for name, (module, text) in COMMANDS.items():
        command = root.commands[name]
        assert command.name == name
        assert hasattr(command, "commands") == (module == name)  # a group, or one of top.py's
        assert (command.help or "").split("\n\n")[0].strip() == text, name
    ctx = root.make_context("sessionctl", ["--help"], resilient_parsing=True)
    assert [sorted(param.opts) for param in root.get_params(ctx)] == [
        sorted(opt for opt in (long, short) if opt) for long, short, _, _ in front.OPTIONS]


def _help(args, **extra) -> bytes:
    done = subprocess.run([str(BIN), *args], env=env_for("/nonexistent/store.db", **extra),
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    return done.stdout


@pytest.mark.parametrize("extra", [
    {}, {"FORCE_COLOR": "1"}, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, {"TERMINAL_WIDTH": "70"},
])
@pytest.mark.parametrize("columns", ["1", "12", "33", "40", "61", "80", "97", "120", "200",
                                     "333", "abc", "99999999999"])
def test_the_root_help_drawn_without_typer_is_the_one_through_typer(columns, extra):
    """``sessionctl --help`` (front.py) against the same help through Typer, which a global
    option before ``--help`` makes it take."""
    fast = _help(["--help"], COLUMNS=columns, **extra)
    assert fast == _help(["-h"], COLUMNS=columns, **extra) == _help(["help"], COLUMNS=columns, **extra)
    assert fast == _help(["--no-pager", "--help"], COLUMNS=columns, **extra)
    assert fast == _help(["--no-pager", "help"], COLUMNS=columns, **extra)
    if not extra and columns in ("120", "200", "abc"):
        assert b"Commands" in fast and b"--install-completion" in fast


def test_version_and_help_to_a_closed_pipe_end_quietly():
    """As through Typer: the same exit for --version and for --help."""
    def status(args):
        done = subprocess.run(f"'{BIN}' {' '.join(args)} | head -c 1 >/dev/null; "
                              'echo "${PIPESTATUS[0]}"', shell=True, executable="/bin/bash",
                              env=env_for("/nonexistent/store.db", COLUMNS="100"),
                              capture_output=True, text=True, timeout=60)
        assert done.stderr == ""
        return done.stdout.strip()

    assert status(["--version"]) == status(["--no-pager", "--version"]) == "0"
    assert status(["--help"]) == status(["--no-pager", "--help"])


def test_a_shell_asking_for_completions_is_never_answered_with_help(store):
    env = env_for(store, _SESSIONCTL_COMPLETE="complete_bash", COMP_WORDS="sessionctl --help",
                  COMP_CWORD="1")
    done = subprocess.run([str(BIN), "--help"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "Usage" not in done.stdout
