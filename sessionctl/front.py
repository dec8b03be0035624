"""What the command line shows before Typer is loaded: the root's table of commands, and the
answers that need nothing else, ``sessionctl --version`` and ``sessionctl --help`` (or ``help``).

Typer with its click costs about as much as the interpreter itself at every start-up.
``launch.py`` answers ``--version`` here without it, and the root's help with
``root_screen``, drawn by ``helpscreen.py``, the one renderer of every help screen; when the
root's help comes through Typer (a global option before ``--help``), ``cli.Root`` draws it with
the same ``root_screen``, so the screen exists once (issue 17 kept a copy of Typer's Rich help
here, kept in step by tests: it is gone). Anything else on the command line goes through Typer.

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
    "feed": ("feed", "Your calendar as a feed to subscribe to."),
    "hooks": ("hooks", "Event hooks: programs that receive each booking's events."),
    "config": ("config", "The settings in effect and the config files they come from."),
    "help": ("top", "Show the help of sessionctl or of a command: the same as COMMAND --help."),
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
    if args in (["--help"], ["-h"], ["help"]):
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


HELP_WIDTH = 100  # help reads best at most this wide, however wide the terminal


def help_look() -> tuple[int, bool]:
    """A help screen's width (``COLUMNS`` when usable, else the terminal's, else 80; at most
    100) and whether its headings are bold: on a terminal only, not under ``NO_COLOR`` (click's
    echo, which prints the help of commands, strips styles from anything but a terminal)."""
    found = usable_columns(os.environ.get("COLUMNS"))
    tty = False
    try:
        tty = sys.stdout.isatty()
        if found is None and tty:
            found = os.get_terminal_size(sys.stdout.fileno()).columns or None
    except (OSError, ValueError, AttributeError):
        pass
    return max(20, min(found or 80, HELP_WIDTH)), tty and not os.environ.get("NO_COLOR")


def root_screen() -> str:
    """The root's help screen, from ``COMMANDS`` and ``OPTIONS``: ``sessionctl --help`` here,
    and through Typer (``--db X --help``, ``help``) by ``cli.Root``, drawn by the one renderer."""
    from sessionctl.examples import EXAMPLES
    from sessionctl.helpscreen import Entry, render

    options = [Entry(", ".join(n for n in (short, long) if n) + (f" {metavar}" if metavar else ""), text)
               for long, short, metavar, text in OPTIONS]
    screen, bold = help_look()
    return render(USAGE[len("Usage: "):], HELP, options=options,
                  commands=[Entry(name, text) for name, (_, text) in COMMANDS.items()],
                  examples=EXAMPLES[""], screen=screen, bold=bold)


def root_help() -> None:
    sys.stdout.write(root_screen())
