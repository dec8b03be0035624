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

from sessionctl._plain import Later
from sessionctl.errors import UsageError
from sessionctl.output.terminal import Output
from sessionctl.settings import Settings

timeparse = Later("sessionctl.timeparse")


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
        """Who is acting: a well-formed user name (registered or not), else exit 2. In the
        database mode, the connection's login (``database_actor``)."""
        from sessionctl.domain.checks import check_name

        if self._store is not None and self._store.identity == "database":
            return self.database_actor()
        return check_name(self.settings.user)

    def database_actor(self) -> str:
        """The database mode's actor: the store's ``session_user`` whatever the config says
        (docs/reference/database-mode.md#who-is-acting); SESSIONCTL_USER (or ``user``) naming
        anyone else, or the shared mode's service account, is exit 4."""
        from sessionctl.errors import NotAllowed

        name, grouped = self._store.session_user()
        if self.settings.shared is not None:
            raise NotAllowed("this store is in the database mode: the shared mode's service "
                             "account cannot act for everyone there",
                             hint="connect with your own database login, without the site file")
        configured, origin = self.settings.raw("user")
        if configured is not None and configured != name:
            raise NotAllowed(f"this store is in the database mode: you act as your database "
                             f"login {name!r}, not {configured!r} ({origin})",
                             hint=f"unset {origin}, or connect as {configured}'s own login")
        if not grouped:  # in none of the mode's groups: it may not even read the users
            from sessionctl.domain.context import stray_login

            raise stray_login(name)
        return name

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
                    "waiting for the store: another sessionctl is writing to it…\n", now=True)
        return self._store

    def context(self):
        """The store, the acting user, the display zone and the clock, for a domain call."""
        if self._context is None:
            from sessionctl.domain.context import Context, find_actor

            store = self.store()
            actor = find_actor(self.actor_name(), self.database_mode())
            self._context = Context(store, actor, self.display_zone(actor.tz), self.now,
                                    self.settings.links(site_only=self.database_mode()))
        return self._context

    def database_mode(self) -> bool:
        """Whether the store is in the database mode (docs/reference/database-mode.md): there
        programs come from the site file alone
        (docs/reference/meeting-rooms-and-hooks.md#who-may-set-them)."""
        return self.store().identity == "database"

    def busy(self, ignore: bool = False):
        """The busy-times settings for a slot's check (None with ``--ignore-busy``)."""
        if ignore:
            return None
        from sessionctl.domain.busy import BusyConfig

        settings = self.settings
        sources, origin = settings.busy_setting()
        return BusyConfig(sources, origin, restricted=self.restricted(),
                          allow=settings.busy_allow, timeout=settings.busy_timeout,
                          ttl=timedelta(seconds=settings.busy_ttl),
                          directory=settings.busy_cache())

    def restricted(self) -> bool:
        """Whether this process fetches for someone else: the shared mode (the service
        account) and the database mode (docs/reference/busy-times.md#the-shared-and-database-modes)."""
        return self.settings.shared is not None or self.database_mode()

    def display_zone(self, user_tz: str | None = None):
        """``--tz``, then SESSIONCTL_TZ, then the user's stored zone, then the system zone."""
        name = self.settings.tz or user_tz
        return timeparse.zone(name) if name else timeparse.system_zone()

    def now(self) -> datetime:
        return self.clock()

    def viewer(self) -> str:
        """The acting user's role: lists leave out columns that would only repeat them (an
        educator's lists hold only their own slots, a student's only their own requests)."""
        return self.context().actor.role

    def when(self, text: str | None, *, until: bool = False) -> datetime | None:
        """WHEN in the display zone; ``until``: a bare date means the end of that day."""
        if text is None:
            return None
        ctx = self.context()
        parse = timeparse.parse_until if until else timeparse.parse_when
        return parse(text, tz=ctx.tz, now=ctx.now())

    def between(self, start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
        """``--from`` and ``--to``: an empty range (``--to`` at or before ``--from``) is exit 2."""
        lo, hi = self.when(start), self.when(end)
        if lo is not None and hi is not None and hi <= lo:
            raise UsageError(f"--to {end.strip()!r} is not after --from {start.strip()!r}",
                             hint="--to is the end of the range: things starting before it")
        return lo, hi

    def days(self, given) -> tuple:
        """``--except``: local calendar days in the display zone, each option a day or days
        separated by commas (a day written with a comma, ``Feb 8, 2027``, is read whole)."""
        ctx = self.context()

        def day(text: str):
            return timeparse.parse_date(text, tz=ctx.tz, now=ctx.now())

        found = []
        for text in given or ():
            if "," in text:
                try:
                    found.append(day(text))
                    continue
                except UsageError:
                    pass
            for piece in text.split(","):
                if not piece.strip():
                    raise UsageError(f"--except {text!r} has an empty day",
                                     hint="write days like 2027-02-08,2027-02-15")
                found.append(day(piece))
        return tuple(found)

    @staticmethod
    def duration(text: str | None) -> timedelta | None:
        return None if text is None else timeparse.parse_duration(text)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
