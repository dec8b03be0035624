"""Where one run's output goes: the terminal's width, colour and pager, stdout held back to be
paged, and the lines of text and errors that every command prints.

Each run has its own ``Output`` (held by its ``Invocation``, ``cli/invocation.py``), configured
once with the run's settings (global options, environment, config files); the demo hands its
own to each of its steps, so the whole tour is one screen to page. What prints finds the
run it prints for through ``current()``: the ``Invocation`` click's context holds for the
command being run (click pushes one context per invocation and pops it after), else one made
for this process's environment, for the errors said before any command starts.

User text never goes through Rich markup, and any control character that reached the store
before input checks existed is shown escaped (``columns.clean``).
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import contextmanager
from datetime import datetime

from sessionctl._plain import Frozen
from sessionctl.columns import Look, cell_len, clean
from sessionctl.errors import OutputLost
from sessionctl.front import usable_columns

NOT_A_TERMINAL_WIDTH = 200  # tables written to a file or a pipe, unless COLUMNS says otherwise


class Screen(Frozen):
    """Where output goes: a terminal or not, its width and height, colour, the pager."""

    _fields = ("tty", "width", "height", "colour", "pager")

    def __init__(self, tty: bool, width: int, height: int | None, colour: bool,
                 pager: list[str] | None):
        self.__dict__.update(tty=tty, width=width, height=height, colour=colour, pager=pager)

    @property
    def links(self) -> bool:
        """OSC 8 hyperlinks on cut links: only on a terminal."""
        return self.tty


def _isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """One run's output: its settings (``settings.Settings``: the environment's until the root
    command configures the run's own), whether a command is running, and the stdout held back
    while it runs on a terminal (to page it if it is taller than the screen)."""

    def __init__(self, settings):
        self.settings = settings
        self.configured = False
        self.running = False
        self.held: io.StringIO | None = None
        self.later: list[str] = []  # stderr held back until the held stdout is shown
        self.wide = False  # a --wide list was printed: less scrolls it sideways

    def configure(self, settings, again: bool = False) -> None:
        """Take the run's settings, once (``again``: once more, for a global option written
        after the command): the demo's own steps keep its terminal. A malformed ``--color`` is
        exit 2 here."""
        if not self.configured or again:
            settings.color_setting()
            self.settings, self.configured = settings, True

    def screen(self) -> Screen:
        """The width, colour and pager for what is printed now."""
        settings = self.settings
        tty = _isatty()
        size = None
        if tty:
            try:
                size = os.get_terminal_size(sys.stdout.fileno())
            except (OSError, ValueError):
                size = None
        width = usable_columns(settings.columns) or (
            size.columns if size and size.columns > 0 else None)
        mode = settings.color
        if mode == "auto":
            colour = not settings.no_color and (settings.force_color or tty)
        else:
            colour = mode == "always"
        return Screen(
            tty=tty, width=width or (80 if tty else NOT_A_TERMINAL_WIDTH),
            height=size.lines if size and size.lines > 0 else None, colour=colour,
            pager=settings.pager if tty else None,
        )

    def stream(self):
        """Where stdout goes: on a terminal (pager on), a buffer that ``session`` pages or prints."""
        if self.held is not None:
            return self.held
        if self.running and _isatty() and self.screen().pager:
            self.held = io.StringIO()
            return self.held
        return sys.stdout

    def write(self, text: str) -> None:
        out = self.stream()
        out.write(text)
        out.flush()

    def session(self, call):
        """Run one whole command: on a terminal its stdout held back, then paged if taller than
        the screen, else printed; what it says on stderr meanwhile (errors, a dry run's note)
        comes after it, so the pager never hides it and a list never scrolls it away (a
        question, and the note that it waits for the lock, are said at once). A write to stdout that fails
        (not a reader gone away) is ``OutputLost`` (exit 6). Inside a running command (the
        demo's steps) it only calls."""
        if self.running:
            return call()
        self.running, self.held, self.wide, self.later = True, None, False, []
        real, sys.stdout = sys.stdout, _Stdout(sys.stdout)  # click's own output (help) included
        try:
            return call()
        finally:
            self.running = False
            held, self.held = self.held, None
            try:
                if held is not None and held.tell():
                    self._show(held.getvalue())
            finally:
                sys.stdout = real
                later, self.later = "".join(self.later), []
                if later:
                    self.stderr(later)

    def _show(self, text: str) -> None:
        now = self.screen()
        tall = now.height is not None and (
            text.count("\n") > now.height or _rows(text, now.width) > now.height
        )
        if not (tall and now.pager and _page(text, now.pager, wide=self.wide)):
            sys.stdout.write(text)
            sys.stdout.flush()

    def stderr(self, text: str, *, now: bool = False) -> None:
        """Write to stderr with every password of a server URL in the settings hidden, whatever
        layer the text comes from (a driver's message may quote the URL it could not read).
        While a command's stdout is held (``stream``), it waits for it, unless said ``now``."""
        from sessionctl.urls import conceal

        if sys.stderr is None:  # closed (2>&-): nowhere to say it
            return
        if not now and self.running and (self.held is not None or (
                _isatty() and self.screen().pager)):
            self.later.append(text)
            return
        try:
            urls = self.settings.server_urls()
        except Exception:  # noqa: BLE001 - settings that cannot even be read hold no URL to hide
            urls = []
        sys.stderr.write(conceal(text, urls))
        sys.stderr.flush()

    def error(self, message: str, hint: str | None = None, details=()) -> None:
        """``error: …``, the indented lines of a list if any, then ``hint: …`` (stderr)."""
        lines = [f"error: {_one_line(message)}"] + [f"  {_one_line(d)}" for d in details]
        if hint:
            lines.append(f"hint: {_one_line(hint)}")
        self.stderr("\n".join(lines) + "\n")


class _Stdout:
    """The real stdout, through which a failed write (a full disk, an I/O error) is
    ``OutputLost``, not an internal error; a reader that went away (``| head``) stays
    ``BrokenPipeError``, a quiet end."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def write(self, text):
        with guarded():
            return self._stream.write(text)

    def flush(self):
        with guarded():
            self._stream.flush()


class guarded:
    """Around a write to stdout: an ``OSError`` but a broken pipe is ``OutputLost`` (exit 6)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            raise OutputLost(f"cannot write the output: {exc.strerror or exc}") from None
        return False


def _rows(text: str, width: int) -> int:
    """Screen rows ``text`` takes, long lines wrapping."""
    import re

    plain = re.sub(r"\x1b\[[0-9;]*m|\x1b\]8;;[^\x1b]*\x1b\\", "", text)
    return sum(max(1, -(-cell_len(line) // width)) for line in plain.rstrip("\n").split("\n"))


def pager_environment(command: list[str], wide: bool, environ=None) -> dict[str, str]:
    """The pager's environment: ``LESS=FRX`` when ``LESS`` is unset (as git does: colour
    shown, not its codes; quit at once when it fits; left on the screen), and for ``--wide``
    output ``S`` added to ``LESS`` when the pager is less, so long lines scroll sideways
    instead of wrapping (``docs/reference/output.md#the-pager``)."""
    env = dict(os.environ if environ is None else environ)
    if "LESS" not in env:
        env["LESS"] = "FRX"
    less = env["LESS"]
    if wide and os.path.basename(command[0]) == "less":
        if not less or " " in less or "--" in less:  # long options: -S as an option of its own
            env["LESS"] = f"{less} -S".strip()
        elif "S" not in less:
            env["LESS"] = less + "S"
    return env


def _page(text: str, command: list[str], *, wide: bool = False) -> bool:
    """Send ``text`` through the pager; False when it cannot be started (print directly).
    A pager quit before the end (``q`` in less) is a normal end."""
    import subprocess

    sys.stdout.flush()
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE,
                                 env=pager_environment(command, wide))
    except (OSError, ValueError):
        return False
    try:
        pager.stdin.write(text.encode(sys.stdout.encoding or "utf-8", "replace"))
        pager.stdin.close()
    except OSError:  # the reader went away early
        pass
    while True:
        try:
            pager.wait()
            return True
        except KeyboardInterrupt:  # Ctrl-C belongs to the pager while it runs
            continue


def _one_line(text: str) -> str:
    """A message line: user text in it can break no line (a line break shows as \\n)."""
    return clean(text).replace("\n", "\\n").replace("\t", " ")


# -- the run being printed for ---------------------------------------------------------------------


class _Alone:
    """A run outside any command (an error before one starts): the process's environment and
    config files, the real clock."""

    def __init__(self):
        from sessionctl.settings import Settings

        self.out = Output(Settings())

    @staticmethod
    def now() -> datetime:
        from sessionctl.timeparse import utcnow

        return utcnow()


def current():
    """The run being printed for: the ``Invocation`` of the command click is running (its root
    context's ``obj``, found through ``cli/_typer.py``, loaded whenever a command runs), else
    one for this process alone."""
    shim = sys.modules.get("sessionctl.cli._typer")
    ctx = shim.current_context() if shim is not None else None
    run = ctx.find_root().obj if ctx is not None else None
    return run if hasattr(run, "out") else _Alone()


def out() -> Output:
    return current().out


def now() -> datetime:
    """The run's clock (the demo runs its own ahead)."""
    return current().now()


def write(text: str) -> None:
    out().write(text)


def line(text: str) -> None:
    """A plain line of output (confirmations, empty results)."""
    write(clean(text) + "\n")


def lines(texts: list[str]) -> None:
    write("".join(text + "\n" for text in texts))


def error(message: str, hint: str | None = None, details=()) -> None:
    out().error(message, hint, details)


def warning(message: str) -> None:
    """Something the user should know although the command succeeded (stderr)."""
    out().stderr(f"warning: {_one_line(message)}\n")


def note(text: str, *, now: bool = False) -> None:
    """A line for the user on stderr (not a warning: what a dry run did, what it asks);
    ``now``: at once, not after the command's output."""
    out().stderr(f"{text}\n", now=now)


def ask(question: str) -> bool:
    """Ask on stderr, read the answer from stdin: True only for y or yes (EOF is no)."""
    out().stderr(question, now=True)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        out().stderr("\n", now=True)  # Ctrl-C: the shell's prompt starts on a line of its own
        raise
    except (OSError, ValueError):
        answer = ""
    if not answer.endswith("\n"):
        out().stderr("\n", now=True)  # EOF: the next line starts on a line of its own
    return answer.strip().lower() in ("y", "yes")


@contextmanager
def unseen():
    """Whatever is printed inside goes nowhere (a dry run done to see what a change reaches)."""
    printing = out()
    held, printing.held = printing.held, io.StringIO()
    later, printing.later = printing.later, []
    stderr, sys.stderr = sys.stderr, io.StringIO()
    try:
        yield
    finally:
        printing.held, printing.later, sys.stderr = held, later, stderr


def look():
    """The width, colour and links of what is printed now, for the column model."""
    now_ = out().screen()
    return Look(now_.width, now_.colour, now_.links)


def console(width: int | None = None):
    """A Rich console on the run's stdout (tables that wrap, the chart)."""
    from rich.console import Console

    seen = look()
    return Console(
        file=out().stream(), markup=False, highlight=False, emoji=False,
        width=width or seen.width, soft_wrap=False, force_terminal=seen.colour,
        no_color=not seen.colour, color_system="standard" if seen.colour else None,
    )
