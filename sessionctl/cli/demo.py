"""``sessionctl demo``: the whole workflow on a throwaway store, command by command."""

from __future__ import annotations

import os
import shlex
import tempfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sessionctl import timeparse
from sessionctl.errors import Conflict, UsageError
from sessionctl.output import terminal

ROSTER = "name,email,display\nalan,alan@example.edu,Alan Turing\nkat,kat@example.edu,Katherine Johnson\n"


def _steps(day: str, roster: str) -> list[tuple[str, list[str] | str]]:
    """(user, command) to run, or ("#", text) to say what comes next."""
    return [
        ("grace", ["init"]),
        ("grace", ["user", "add", "ada", "--role", "educator", "--display", "Ada Lovelace",
                   "--email", "ada@example.edu"]),
        ("ada", ["course", "add", "MATH101", "--title", "Analytical Engines"]),
        ("ada", ["course", "enroll", "MATH101", "--from-csv", roster]),
        ("ada", ["slot", "add", "--course", "MATH101", "--start", f"{day} 10:00",
                 "--duration", "1h", "--link", "https://meet.example.edu/ada",
                 "--notes", "Office hour: bring your questions"]),
        ("ada", ["slot", "add", "--course", "MATH101", "--start", f"{day} 11:00",
                 "--duration", "30m", "--capacity", "2"]),
        ("ada", ["slot", "add", "--course", "MATH101", "--start", f"{day} 14:00",
                 "--end", f"{day} 15:00", "--split", "30m", "--repeat", "weekly", "--count", "3"]),
        ("alan", ["slot", "list"]),
        ("alan", ["request", "send", "1", "--message", "Can we go over question 3?"]),
        ("kat", ["request", "send", "1", "--waitlist", "--message", "I'd like to discuss loops."]),
        ("ada", ["inbox"]),
        ("#", "approving alan fills slot 1: kat opted in, so she waits in line, not turned away"),
        ("ada", ["request", "approve", "1"]),
        ("kat", ["request", "list"]),
        ("#", "alan asks to move to 11:00; he keeps his 10:00 seat until ada approves the move"),
        ("alan", ["request", "move", "1", "--to", "2", "--message", "Could we do 11:00 instead?"]),
        ("ada", ["request", "approve", "3"]),
        ("#", "the 10:00 seat is free again: the first in line moves up, and ada decides"),
        ("kat", ["inbox"]),
        ("ada", ["request", "approve", "2"]),
        ("#", "a new link for slot 2 reaches alan's session, which follows the slot's link"),
        ("ada", ["slot", "update", "2", "--link", "https://meet.example.edu/ada-room-2"]),
        ("alan", ["inbox"]),
        ("alan", ["request", "show", "3"]),
        ("ada", ["slot", "list", "--status", "all"]),
        ("alan", ["slot", "calendar", "--week", "tomorrow"]),
        ("grace", ["remind", "--within", "2d"]),
        ("grace", ["sweep"]),
    ]


def run_demo(ctx, db: str | None, tz, *, keep: bool = True) -> int:
    """Run the workflow on a new store at ``db`` (a temp dir if None); ``tz`` picks tomorrow.
    ``keep`` False (the shared mode): a temp dir's store is removed at the end, since it
    belongs to the service account and its caller could never delete it. ``ctx``: the demo
    command's click context (its run, and the root command its steps run through)."""
    folder = None
    if db is None:
        folder = tempfile.mkdtemp(prefix="sessionctl-demo-")
        db = str(Path(folder) / "demo.db")
    else:
        if "://" in db:
            raise UsageError("the demo builds a SQLite store: give --db a file path")
        db = str(Path(db).expanduser())
        _claim(db)
    removed = folder is not None and not keep
    try:
        # The demo's own inputs live in a private folder of their own, never beside the store.
        with _stopped_cleanly(), tempfile.TemporaryDirectory(prefix="sessionctl-demo-input-") as inputs:
            roster = Path(inputs) / "roster.csv"
            roster.write_text(ROSTER, encoding="utf-8")
            code = _walk(ctx, db, tz, str(roster))
    finally:
        if removed:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    if not code:
        terminal.line("")
        terminal.line(f"# done; the store at {db} was removed: in the shared mode it would belong to "
                    "the service account, and you could not delete it" if removed else
                    f"# done; the store stays at {db} until you delete it")
    return code


@contextmanager
def _stopped_cleanly():
    """A demo stopped by SIGTERM or SIGHUP (a closed terminal, ``kill``, sudo passing either
    on) ends like one interrupted with Ctrl-C: its temp folders are removed on the way out."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _claim(db: str) -> None:
    """Create the new store's (empty) file, or refuse: O_EXCL never follows a symlink and never
    opens what exists, so the demo cannot touch any file but the one it makes."""
    import errno

    from sessionctl.store import private_dirs

    try:
        private_dirs(Path(os.path.dirname(db) or "."))  # new folders 0700, the store 0600
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise Conflict(f"{db!r} already exists; the demo builds a new store",
                           hint="pick a new path") from None
        raise UsageError(f"cannot create the demo store {db!r}: {exc.strerror}",
                         hint="pick a path in a folder you can write") from None


class _Tour:
    """Where the demo's steps run: the root command, the demo's own run (its output, its
    clock), and the environment each step's settings read: this process's, with the demo's
    store and zone (and each step's user) in it. Each step is a run of its own (an
    ``Invocation``) that reads no config file and is never in the shared mode."""

    def __init__(self, ctx, db: str, tz):
        self.command = ctx.find_root().command
        self.run = ctx.obj
        self.clock = self.run.clock
        self.environ = {**self.run.environ, "SESSIONCTL_DB": db,
                        "SESSIONCTL_TZ": timeparse.zone_name(tz)}

    def step(self, user: str, args: list[str]) -> int:
        from sessionctl.cli.invocation import Invocation

        run = Invocation({**self.environ, "SESSIONCTL_USER": user}, files=False,
                         clock=self.clock, out=self.run.out)
        return self.command.main(args=args, prog_name="sessionctl", standalone_mode=False,
                                 obj=run)


def _walk(ctx, db: str, tz, roster: str) -> int:
    tour = _Tour(ctx, db, tz)
    day = (tour.clock().astimezone(tz) + timedelta(days=1)).strftime("%Y-%m-%d")
    terminal.line("# a throwaway store and a display zone; every command below uses both")
    terminal.line(f"$ export SESSIONCTL_DB={shlex.quote(db)} SESSIONCTL_TZ={timeparse.zone_name(tz)}")
    return _run(tour, _steps(day, roster)) or _after_the_sessions(tour, tz)


def _outcomes(day: str) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    """Course policies and an agenda now; then, the day after tomorrow, a session's
    attendance, its rating and the course report. Slot 9 and request 4 are the next ones
    after the tour's."""
    now = [
        ("#", "course policies: 2h notice to book, 12h to cancel, at most 2 active requests per "
              "student, and a request on a free seat is approved at once"),
        ("ada", ["course", "set", "MATH101", "--min-notice", "2h", "--cancel-notice", "12h",
                 "--max-active", "2", "--auto-approve"]),
        ("ada", ["slot", "add", "--course", "MATH101", "--start", f"{day} 16:00",
                 "--duration", "45m", "--link", "https://meet.example.edu/ada"]),
        ("alan", ["request", "send", "9", "--message", "One more question on loops"]),
        ("alan", ["agenda"]),
        ("ada", ["agenda", "--days", "2"]),
    ]
    later = [
        ("ada", ["request", "complete", "4", "--attended", "--notes", "Loops and recursion"]),
        ("alan", ["request", "rate", "4", "--stars", "5", "--comment", "Clear and patient"]),
        ("ada", ["course", "report", "MATH101"]),
    ]
    return now, later


def _after_the_sessions(tour: _Tour, tz) -> int:
    """The policies, the agenda, and what happens after a session. Sessions end only when
    their time has passed, so for the last steps the demo runs its own clock (its steps' only)
    forward to the day after tomorrow, 09:00, and says so: nothing is written into the past."""
    real = tour.clock
    today = real().astimezone(tz).date()
    day = (today + timedelta(days=1)).strftime("%Y-%m-%d")
    now, later = _outcomes(day)
    code = _run(tour, now)
    if code:
        return code
    then = timeparse.midnight(today + timedelta(days=2), tz) + timedelta(hours=9)
    ahead = then - real()
    tour.clock = lambda: real() + ahead
    return _run(tour, [("#", f"{then.astimezone(tz):%a %Y-%m-%d %H:%M}, the day after "
                        "tomorrow: the demo moves its own clock there, past the end of "
                        "tomorrow's sessions")] + later)


def _run(tour: _Tour, steps) -> int:
    """Run each (user, command) step as that user, printing it first; ("#", text) says what
    the next steps show. Stops at the first that fails, with its exit code."""
    for user, args in steps:
        terminal.line("")
        if user == "#":
            terminal.line(f"# {args}")
            continue
        terminal.line(f"$ SESSIONCTL_USER={user} sessionctl {shlex.join(args)}")
        code = tour.step(user, args)
        if code:
            return code
    return 0
