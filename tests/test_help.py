"""Help screens (docs/reference/help.md): one renderer for every screen, readable at 80
columns (no word broken, no example cut, defaults shown, an Examples section everywhere), and
``sessionctl help [COMMAND…]`` the same as ``--help``."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from conftest import Cli
from sessionctl.cli import app
from sessionctl.cli._typer import operands
from sessionctl.examples import EXAMPLES

BIN = Path(sys.executable).with_name("sessionctl")


def tree(command, path=()):
    """Every command and group below ``command``, as (path, click command)."""
    yield path, command
    for name in getattr(command, "commands", {}) or {}:
        yield from tree(command.commands[name], (*path, name))


ROOT = get_command(app)
PATHS = [path for path, _ in tree(ROOT)]


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Cli:
    return Cli(tmp_path_factory.mktemp("help") / "store.db")


def screen(cli, *args, columns=80) -> str:
    result = cli(*args, env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, (args, result.stderr)
    return result.stdout


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "root")
def test_help_is_the_same_screen_as_dash_dash_help_and_fits_80_columns(cli, path):
    shown = screen(cli, *path, "--help")
    assert screen(cli, "help", *path) == shown
    lines = shown.rstrip("\n").split("\n")
    assert lines[0].startswith("Usage: sessionctl")
    examples = EXAMPLES[" ".join(path)]
    assert examples and "Examples:" in lines
    joined = shown.replace(" \\\n    ", " ")
    for example in examples:  # each whole, at most continued with a backslash at a space
        assert f"  {example}\n" in joined, example
    words = set(shown.split())
    command = dict(tree(ROOT))[path]
    for param in command.params:  # no word of any option's help broken across lines
        for word in (getattr(param, "help", None) or "").split():
            assert word in words, (path, word)
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, too_wide


def test_defaults_and_required_options_are_shown(cli):
    add = screen(cli, "slot", "add", "--help")
    assert re.search(r"--capacity N\s+Seats, 1-100\. \[default: 1\]", add)
    assert re.search(r"--course CODE\s+The course\. \[required\]", add)
    assert "[default: 7]" in screen(cli, "agenda", "--help")


def test_long_choices_go_above_their_text_and_break_after_a_bar():
    from sessionctl.helpscreen import Entry, render

    drawn = render("sessionctl x", "Text.", options=[
        Entry("--status " + "|".join(["pending", "approved", "waiting", "rejected"] * 4), "Only.")],
        screen=40, bold=False)
    lines = drawn.split("\n")
    assert all(len(line) <= 40 for line in lines)
    assert all(line.rstrip().endswith("|") for line in lines[5:9])
    assert "".join(line.strip() for line in lines[5:10]).startswith("--status pending|approved|")
    assert lines[10].strip() == "Only."


def test_every_example_parses(cli):
    for path, examples in EXAMPLES.items():
        for example in examples:
            args = shlex.split(example)
            assert args[0] == "sessionctl", example
            ctx = ROOT.make_context("sessionctl", args[1:], resilient_parsing=True)
            command, rest = ROOT, operands(ctx)
            while hasattr(command, "commands") and rest:
                command = command.commands[rest[0]]
                group = hasattr(command, "commands")
                # a command's own options and arguments must parse: an unknown one raises here
                ctx = command.make_context(rest[0], rest[1:], parent=ctx, resilient_parsing=group)
                rest = operands(ctx) if group else []
            shown = " ".join(ctx.command_path.split()[1:])
            assert path in ("", "help") or shown == path or shown.startswith(path + " "), (path, example)


def test_help_of_an_unknown_command_is_a_usage_error(cli):
    result = cli("help", "slot", "nope")
    assert result.exit_code == 2 and "no such command: sessionctl slot nope" in result.stderr
    assert result.stdout == "" and "hint: see 'sessionctl slot --help'" in result.stderr
    typo = cli("help", "slto")
    assert typo.exit_code == 2 and "did you mean 'slot'?" in typo.stderr


def test_the_root_help_loads_no_typer_and_no_rich_and_help_is_it():
    done = [subprocess.run([str(BIN), *args], capture_output=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "COLUMNS": "80"})
            for args in (["--help"], ["help"], ["--no-pager", "--help"], ["--no-pager", "help"])]
    assert all(d.returncode == 0 and d.stderr == b"" for d in done)
    assert len({d.stdout for d in done}) == 1
    assert b"help     Show the help" in done[0].stdout


@pytest.mark.parametrize("name", ["\x1b[31mred", "sl\u202eot", "x" * 5000, "slot\nadd", "🙂"])
def test_help_of_a_hostile_name_is_a_usage_error_said_safely(cli, name):
    result = cli("help", name)
    assert result.exit_code == 2 and result.stdout == ""
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert result.stderr.count("\n") == 2  # error and hint, each one line


@pytest.mark.parametrize("path", [(), *[p for p, c in tree(ROOT) if len(p) == 1 and hasattr(c, "commands")]])
def test_a_group_without_its_command_shows_its_help_as_a_usage_error(tmp_path, path):
    """``sessionctl`` or ``sessionctl slot`` alone: the help on stderr, exit 2, stdout empty
    (the installed command, as a new user first types it)."""
    result = subprocess.run([str(BIN), *path], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "SESSIONCTL_DB": str(tmp_path / "s.db"),
                                 "HOME": str(tmp_path)})
    assert (result.returncode, result.stdout) == (2, "")
    usage = " ".join(("sessionctl", *path))
    assert result.stderr.startswith(f"Usage: {usage} [OPTIONS] COMMAND"), result.stderr
    assert "Commands:" in result.stderr and "Traceback" not in result.stderr
