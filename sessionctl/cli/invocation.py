"""One run of a command: its settings, its clock and its output, and the store and acting context
it opens when a command needs them.

``Root.main`` (``cli/__init__.py``) makes an ``Invocation`` for every run, or takes the one the
demo hands in for each of its steps, and gives it to click as the root context's ``obj``: every
command receives it as ``ctx.obj``, ``output.terminal`` finds it the same way, and the root
callback configures it once with the global options. Nothing of a run lives in a module global,
so two runs in one process (the demo's steps inside ``sessionctl demo``, or tests invoking the CLI
one after another) never see each other's options, clock or store.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Callable, Mapping

from sessionctl import timeparse
from sessionctl.errors import UsageError
from sessionctl.output.terminal import Output
from sessionctl.settings import Settings


def _stderr_is_a_terminal() -> bool:
    import sys

    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _real_clock() -> datetime:
    return timeparse.utcnow()  # looked up at each call: tests move it (monkeypatch)


class Invocation:
    """A run: ``environ`` is the environment its settings read (the process's, or the demo's
    own for its steps), ``files`` whether they read the config files (and may be in the shared
    mode), ``clock`` the time it takes for now, ``out`` where it prints (the demo hands its own
    to its steps)."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, files: bool = True,
                 clock: Callable[[], datetime] | None = None, out: Output | None = None):
        self.environ = os.environ if environ is None else environ
        self.files = files
        self.clock = clock or _real_clock
        self.settings = Settings(environ=self.environ, files=files)
        self.out = out if out is not None else Output(self.settings)
        self._store = None
        self._context = None

    def configure(self, flags: Mapping[str, object], again: bool = False) -> None:
        """The root callback's: the settings with the global options, for the rest of the run
        (``again`` with those written after the command too)."""
        self.settings = Settings(flags, self.environ, files=self.files)
        self.out.configure(self.settings, again)

    # -- the store and the acting context -----------------------------------------------------

    @property
    def location(self) -> str:
        return self.settings.db

    def actor_name(self) -> str:
        """Who is acting: a well-formed user name (registered or not), else exit 2."""
        from sessionctl.domain.checks import check_name

        return check_name(self.settings.user)

    def store(self, *, create: bool = False):
        if self._store is None:
            from sessionctl.store import UnusableLocation, open_store

            location, shared = self.location, self.settings.shared
            if shared is not None:  # the service account's store: private files, made by it alone
                create = shared.secure_store(location, create)
            try:
                self._store = open_store(location, create=create,
                                         timeout=self.settings.lock_timeout)
            except UnusableLocation as exc:
                if self.settings.raw("db")[1] == "--db":  # the caller's own command line
                    raise UsageError(exc.message, exc.hint) from None
                raise
            if _stderr_is_a_terminal():
                self._store.waiting = lambda: self.out.stderr(
                    "waiting for the store: another sessionctl is writing to it…\n")
        return self._store

    def context(self):
        """The store, the acting user, the display zone and the clock, for a domain call."""
        if self._context is None:
            from sessionctl.domain.context import Context, find_actor

            store = self.store()
            actor = find_actor(self.actor_name())
            self._context = Context(store, actor, self.display_zone(actor.tz), self.now)
        return self._context

    def display_zone(self, user_tz: str | None = None):
        """``--tz``, then SESSIONCTL_TZ, then the user's stored zone, then the system zone."""
        name = self.settings.tz or user_tz
        return timeparse.zone(name) if name else timeparse.system_zone()

    def now(self) -> datetime:
        return self.clock()

    def viewer(self) -> str:
        """The acting user's name: lists leave out columns that would only repeat it."""
        return self.context().actor.name

    def when(self, text: str | None, *, until: bool = False) -> datetime | None:
        """WHEN in the display zone; ``until``: a bare date means the end of that day."""
        if text is None:
            return None
        ctx = self.context()
        parse = timeparse.parse_until if until else timeparse.parse_when
        return parse(text, tz=ctx.tz, now=ctx.now())

    def day(self, text: str):
        """A local calendar day in the display zone (``--except``)."""
        ctx = self.context()
        return timeparse.parse_date(text, tz=ctx.tz, now=ctx.now())

    @staticmethod
    def duration(text: str | None) -> timedelta | None:
        return None if text is None else timeparse.parse_duration(text)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
