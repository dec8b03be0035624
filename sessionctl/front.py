"""What the command line shows before Typer is loaded: the root's table of commands, and the
two answers that need nothing else, ``sessionctl --version`` and ``sessionctl --help``.

Typer with its click costs about as much as the interpreter itself at every start-up, and its
help is drawn by ``typer.rich_utils``, which loads all of Rich, Markdown and tracebacks
included. ``launch.py`` answers ``--version`` here without either, and the root's ``--help``
with Rich's console, panel and table alone, building the very renderables Typer's help builds,
so the output is Typer's byte for byte (``tests/test_startup.py`` compares the two at many
widths, with and without colour). Anything else on the command line, a global option before
``--help`` included, goes through Typer as before.

Why the root's help keeps this second renderer (issue 17 weighed dropping it for click's plain
formatter, which needs no Rich): typer 0.28 vendors its click as ``typer._click``, without a
``Group``, and depends on no click package, so the only plain formatter a user's install has is
Typer's own, behind ``import typer``: measured, the root's help drawn that way takes 2.56× the
floor, against 2.58× for this copy and a 2× target (benchmarks/README.md#the-roots-help-one-renderer-or-two).
Dropping the copy would change what every user sees for no gain in speed; it goes when the
help screens get one renderer of their own for every command.

The tables here are the root's: ``cli/__init__.py`` takes its global options' help from
``OPTIONS`` and builds its commands lazily from ``COMMANDS``.
"""

from __future__ import annotations

import os
import sys

from sessionctl import __version__

PROG = "sessionctl"
HELP = "Book one-on-one live sessions between educators and students."
COMPLETE_VAR = "_SESSIONCTL_COMPLETE"  # set by the completion scripts when a shell asks
# What the shells' completion scripts (Typer's) pass in the environment, and the first argument
# that carries those variables through the shared mode's sudo hop, which drops them.
COMPLETE_ENV = (COMPLETE_VAR, "COMP_WORDS", "COMP_CWORD", "_TYPER_COMPLETE_ARGS",
                "_TYPER_COMPLETE_WORD_TO_COMPLETE", "_TYPER_COMPLETE_FISH_ACTION")
COMPLETE_HOP = "--complete-through-sudo"
USAGE = f"Usage: {PROG} [OPTIONS] COMMAND [ARGS]..."

# The root's commands in the order its help lists them: name -> (the module of sessionctl.cli
# that defines it, the first paragraph of its help). A command's module is imported only when
# that command runs; the root's help lists them from here, importing none of them.
COMMANDS = {
    "init": ("top", "Create (or migrate) the store; the first caller becomes admin. Idempotent."),
    "whoami": ("top", "Show who you are acting as (registered or not), and which store."),
    "demo": ("top", "Build a throwaway store and walk through the whole educator/student workflow."),
    "sweep": ("top", "For cron: complete ended sessions, expire pending requests whose slot started."),
    "remind": ("top", "For cron: remind student and educator of approved sessions starting soon, once each."),
    "inbox": ("top", "Your notifications, newest first; shown unread ones become read unless --peek."),
    "agenda": ("top", "What is ahead for you, by day: your sessions and requests, or your slots and who booked them."),
    "user": ("user", "Register users and change their details (admins)."),
    "course": ("course", "Create courses and manage who is enrolled."),
    "slot": ("slot", "Publish availability slots and browse them."),
    "request": ("request", "Request slots and decide on requests."),
    "notify": ("notify", "E-mail notifications."),
    "hooks": ("hooks", "Event hooks: programs that receive each booking's events."),
    "config": ("config", "The settings in effect and the config files they come from."),
}

# The root's options as its help lists them: (long name, short name, metavar, help).
OPTIONS = [
    ("--db", "", "PATH_OR_URL",
     "The store (default: SESSIONCTL_DB, the config files, else the user data dir)."),
    ("--tz", "", "ZONE",
     "Display zone, an IANA name (default: SESSIONCTL_TZ, your stored zone, the system zone)."),
    ("--color", "", "auto|always|never",
     "Colour statuses: on a terminal (auto, the default; NO_COLOR turns it off, FORCE_COLOR "
     "on), always or never."),
    ("--no-pager", "", "", "Never page output taller than the terminal."),
    ("--version", "", "", "Print the version and exit."),
    ("--install-completion", "", "",
     "Install completion for bash, zsh or fish (name it after the option; default: your shell)."),
    ("--show-completion", "", "",
     "Print the completion script for bash, zsh or fish, to install it by hand."),
    ("--help", "-h", "", "Show this message and exit."),
]


def option_help(name: str) -> str:
    return next(text for long, _, _, text in OPTIONS if long == name)


def answer(args: list[str]) -> int | None:
    """The exit code after answering ``sessionctl --version`` or ``sessionctl --help`` (``-h``)
    here, or None for any other command line (Typer's, then)."""
    if os.environ.get(COMPLETE_VAR):  # a shell asks for completions
        return None
    if args == ["--version"]:
        return _out(lambda: sys.stdout.write(f"{PROG} {__version__}\n"))
    if args in (["--help"], ["-h"]):
        return _out(root_help)
    return None


def _out(write) -> int:
    """Write, and end quietly when the reader of stdout went away (``| head``); any other
    failed write (a full disk) is exit 6, as for every command."""
    try:
        write()
        sys.stdout.flush()
    except BrokenPipeError:
        discard_stdout()
    except OSError as exc:
        discard_stdout()
        sys.stderr.write(f"error: cannot write the output: {exc.strerror or exc}\n")
        return 6
    return 0


def discard_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered (after a reader went away,
    or a write failed) is dropped, and Python's own flush at exit cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


MAX_COLUMNS = 10_000  # a larger COLUMNS is taken for a mistake and ignored


def usable_columns(text: str | None) -> int | None:
    """COLUMNS when it is a usable width (a whole number from 1 to 10,000), else None."""
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_COLUMNS:
        return int(text)
    return None


def tame_columns() -> None:
    """A COLUMNS that is no usable width is ignored by everything we print, help included
    (which would otherwise crash on COLUMNS=abc or allocate COLUMNS=99999999999)."""
    if usable_columns(os.environ.get("COLUMNS")) is None:
        os.environ.pop("COLUMNS", None)


def root_help() -> None:
    """The root's help as ``typer.rich_utils.rich_format_help`` draws it (typer 0.28): the
    same console, the same renderables, so the same bytes."""
    import re

    from rich.align import Align
    from rich.columns import Columns
    from rich.console import Console, Group
    from rich.highlighter import RegexHighlighter
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text
    from rich.theme import Theme

    class OptionHighlighter(RegexHighlighter):
        highlights = [
            r"(^|\W)(?P<switch>\-\w+)(?![a-zA-Z0-9])",
            r"(^|\W)(?P<option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
            r"(?P<types>\<[^\>]+\>)",
            r"(?P<usage>Usage: )",
        ]

    class NegativeOptionHighlighter(RegexHighlighter):
        highlights = [
            r"(^|\W)(?P<negative_switch>\-\w+)(?![a-zA-Z0-9])",
            r"(^|\W)(?P<negative_option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
        ]

    class TypesHighlighter(RegexHighlighter):
        highlights = [
            r"^(?P<types_sep>(\[|<))",
            r"(?P<types_sep>\|)",
            r"(?P<types_sep>(\]|>))(\.\.\.)?$",
        ]

    tame_columns()
    highlight, negative, types = OptionHighlighter(), NegativeOptionHighlighter(), TypesHighlighter()
    force = True if (os.getenv("GITHUB_ACTIONS") or os.getenv("FORCE_COLOR")
                     or os.getenv("PY_COLORS")) else None
    if os.getenv("_TYPER_FORCE_DISABLE_TERMINAL"):
        force = False
    width = os.getenv("TERMINAL_WIDTH")
    console = Console(
        theme=Theme({
            "option": "bold cyan", "switch": "bold green", "negative_option": "bold magenta",
            "negative_switch": "bold red", "types": "bold yellow", "types_sep": "dim",
            "usage": "yellow",
        }),
        highlighter=highlight, color_system="auto", force_terminal=force,
        width=int(width) if width else None,
    )

    def emoji(text: str) -> bool:
        """Whether ``text`` may hold an emoji code (``:name:``, replaced as in Typer's help):
        without one, Rich's replacement changes nothing, and its table of emoji codes is
        never loaded."""
        return re.search(r":\S*:", text) is not None

    def markup(text: str) -> Text:
        return highlight(Text.from_markup(text, style="", emoji=emoji(text)))

    def panel(table, title: str):
        return Panel(table, border_style="dim", title=Text.from_markup(title, emoji=emoji(title)),
                     title_align="left")

    styles = dict(show_header=False, expand=True, box=None, show_lines=False, leading=0,
                  border_style=None, row_styles=None, pad_edge=False, padding=(0, 1))
    console.print(Padding(highlight(USAGE), 1), style="bold")
    console.print(Padding(Align(Group(markup(HELP)), pad=False), (0, 1, 1, 1)))
    options = Table(highlight=True, **styles)
    for long, short, metavar, text in OPTIONS:
        options.add_row(highlight(long), highlight(short), negative(""), negative(""),
                        types(Text(metavar, style="bold yellow", overflow="fold")),
                        Columns([markup(text)]))
    console.print(panel(options, "Options"))
    commands = Table(highlight=False, **styles)
    commands.add_column(style="bold cyan", no_wrap=True, width=max(len(n) for n in COMMANDS))
    commands.add_column("Description", justify="left", no_wrap=False, ratio=10)
    for name, (_, text) in COMMANDS.items():
        commands.add_row(Text(name), markup(text))
    console.print(panel(commands, "Commands"))
    sys.stdout.write("\n")  # click echoes the (empty) text Typer's help returns
