"""Busy times from an educator's own calendars (``docs/reference/busy-times.md``): whose sources
are read, storing them (``user set --busy``), and the check ``slot add`` and ``slot update``
make before they take the write lock.

The sources are the slot educator's: those stored with ``user set --busy``, and, when the
educator acts themselves, the ``busy`` key of their own config file. They are read (fetched or
taken from the cache, ``busytimes/cache.py``) before the write lock is taken; under the lock
only the compiled events already in memory are consulted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sessionctl._plain import Record
from sessionctl.busytimes import sources as sourcing
from sessionctl.domain.context import Context, store_id
from sessionctl.errors import Conflict, NotAllowed, Unavailable, UsageError
from sessionctl.store.models import BusySource, User

if TYPE_CHECKING:
    from sessionctl.domain.window import Window

HINT = "--ignore-busy creates it anyway"


class BusyConfig(Record):
    """What the run knows of busy times: ``sources`` from the acting user's config file (and
    where they came from), whether the run is ``restricted`` (the shared and database modes)
    and the addresses ``allow``ed there, the fetch ``timeout``, the ``ttl``, the cache
    ``directory``; the warnings a stale copy gave are collected in ``warnings`` for the
    command to print."""

    _fields = ("sources", "origin", "restricted", "allow", "timeout", "ttl", "directory",
               "warnings")

    def __init__(self, sources: tuple[str, ...], origin: str, *, restricted: bool,
                 allow: tuple[str, ...], timeout: float, ttl: timedelta, directory: str):
        self.sources = sources
        self.origin = origin
        self.restricted = restricted
        self.allow = allow
        self.timeout = timeout
        self.ttl = ttl
        self.directory = directory
        self.warnings: list[str] = []

    def rules(self):
        """How to fetch (``busytimes/fetch.py``), built only when a source is read."""
        from sessionctl.busytimes.fetch import Rules

        return Rules(restricted=self.restricted, allow=self.allow, timeout=self.timeout)


# -- storing them -----------------------------------------------------------------------------


def checked_sources(given: list[str], restricted: bool) -> list[str]:
    """``user set --busy``'s sources, checked; one empty string clears them."""
    if given == [""]:
        return []
    if len(given) > sourcing.MAX_SOURCES:
        raise UsageError(f"at most {sourcing.MAX_SOURCES} busy sources, not {len(given)}")
    found = []
    for source in given:
        try:
            source = sourcing.checked(source)
        except sourcing.BadSource as exc:
            raise UsageError(str(exc)) from None
        if restricted and not sourcing.is_url(source):
            raise NotAllowed(f"busy source {source} is a path; in the shared and database modes "
                             "sources are http(s) URLs only",
                             hint="give the calendar's ICS address (https://…)")
        found.append(source)
    if len(set(found)) != len(found):
        raise UsageError("a busy source is given twice")
    return found


def store_sources(user: User, sources: list[str]) -> None:
    """Replace ``user``'s stored sources (inside the caller's write transaction)."""
    BusySource.delete().where(BusySource.user == user.id).execute()
    for position, source in enumerate(sources, 1):
        BusySource.insert(user=user.id, position=position, source=source).execute()


def stored(user_id: int) -> list[str]:
    return [row.source for row in BusySource.select(BusySource.source)
            .where(BusySource.user == user_id).order_by(BusySource.position)]


def shown(user_id: int) -> list[str]:
    """A user's stored sources as ``user show`` shows them: URLs masked."""
    return [sourcing.shown(s) for s in stored(user_id)]


# -- checking a slot ----------------------------------------------------------------------------


class Busy:
    """The busy events of one educator, read before the lock; ``overlaps`` consults them."""

    def __init__(self, indexes: list, store: str, tell_summary: bool):
        self.indexes = indexes
        self.store = store
        self.tell_summary = tell_summary

    def overlaps(self, window: Window):
        for compiled in self.indexes:
            found = next(compiled.overlapping(window.start, window.end, self.store), None)
            if found is not None:
                return found
        return None

    def refuse(self, windows: list[Window], tz, single: bool) -> None:
        """Conflict (exit 5) naming each window that overlaps a busy event."""
        found = [(w, hit) for w in windows if (hit := self.overlaps(w)) is not None]
        if not found:
            return
        if single:
            raise Conflict(f"the slot overlaps a busy time in the educator's calendar: "
                           f"{self._what(found[0][1], tz)}", hint=HINT)
        raise Conflict(f"{len(found)} slot(s) of the series overlap busy times in the "
                       "educator's calendar; nothing was created:",
                       details=[f"{w.label(tz)} overlaps {self._what(hit, tz)}"
                                for w, hit in found], hint=HINT)

    def _what(self, hit, tz) -> str:
        from sessionctl.domain.window import Window

        start, end, summary = hit
        label = _label(Window(start, end), tz)
        return f"{label} ({summary!r})" if self.tell_summary and summary else label


def _label(window: Window, tz) -> str:
    start, end = window.start.astimezone(tz), window.end.astimezone(tz)
    if start.date() == end.date():
        return window.label(tz)
    return f"{start:%Y-%m-%d %H:%M} {start:%Z}–{end:%Y-%m-%d %H:%M} {end:%Z}"


def read(ctx: Context, config: BusyConfig | None, educator_id: int,
         windows: list[Window]) -> Busy | None:
    """The educator's busy events over ``windows`` (None: none to check, or ``--ignore-busy``).

    Called outside the write lock: it may fetch."""
    if config is None or not windows:
        return None
    with ctx.read():
        educator = User.get_by_id(educator_id)
        mine = ctx.actor.id == educator_id
        wanted = stored(educator_id)
        store = store_id()
    if mine:
        for source in config.sources:
            if config.restricted:
                raise NotAllowed(f"{config.origin}: busy sources in a config file are not read "
                                 "in the shared and database modes",
                                 hint="store them with 'sessionctl user set --busy URL…'")
            if source not in wanted:
                wanted.append(source)
    if not wanted:
        return None
    from sessionctl.busytimes import cache
    from sessionctl.timeparse import zone, zone_name

    tz = zone(educator.tz) if educator.tz else ctx.tz
    lo = min(w.start for w in windows)
    hi = max(w.end for w in windows)
    indexes, rules = [], config.rules()
    for source in wanted:
        try:
            indexes.append(cache.load(
                config.directory, source, rules, now=ctx.now(), ttl=config.ttl,
                zone=tz, zone_name=zone_name(tz), lo=lo, hi=hi, warnings=config.warnings))
        except cache.Unreadable as exc:
            raise Unavailable(str(exc), hint=f"{HINT}; or fix the source: "
                              "sessionctl user set --busy …") from None
        except cache.NotPrivate as exc:
            raise Unavailable(str(exc)) from None
    return Busy(indexes, store, tell_summary=mine)


def blocks(ctx: Context, config: BusyConfig | None, start: datetime, end: datetime):
    """``slot calendar``'s busy blocks for an educator looking at their own week: (start, end)
    pairs, summaries left out; none for anyone else."""
    if config is None or ctx.role != "educator":
        return []
    from sessionctl.domain.window import Window

    busy = read(ctx, config, ctx.actor.id, [Window(start, end)])
    if busy is None:
        return []
    found = []
    for compiled in busy.indexes:
        found += [(a, b) for a, b, _ in compiled.overlapping(start, end, busy.store)]
    return sorted(set(found))
