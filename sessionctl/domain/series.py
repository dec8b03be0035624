"""Series expansion (``docs/reference/time.md#series``): repeat a slot in local wall-clock time, then cut it with --split.

Occurrences are computed on naive wall-clock times in the display zone and converted one by
one, so a weekly 10:00 slot stays at 10:00 when the zone changes its offset. Each occurrence
keeps the first slot's length in elapsed time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sessionctl.domain.window import MAX_SERIES, Window, check_order
from sessionctl.errors import UsageError
from sessionctl.timeparse import (
    REPEATS, UTC, LocalTimeError, localize, recurrence, rrule_parts, zone_name,
)


@dataclass(frozen=True)
class Series:
    """How to repeat and cut a slot; the defaults make a single slot."""

    repeat: str | None = None
    rrule: str | None = None
    count: int | None = None
    until: datetime | None = None
    split: timedelta | None = None
    skip: tuple[date, ...] = ()  # --except: local dates whose occurrences are left out

    def rule(self) -> str | None:
        """The RRULE body this series repeats by (None: no repetition); checks the options."""
        if self.repeat is not None and self.repeat not in REPEATS:
            raise UsageError(f"unknown --repeat {self.repeat!r}", hint="use daily, weekdays or weekly")
        if self.repeat is not None and self.rrule is not None:
            raise UsageError("give --repeat or --rrule, not both")
        if self.count is not None and self.until is not None:
            raise UsageError("give --count or --until, not both")
        bounded = self.count is not None or self.until is not None
        if self.repeat is None and self.rrule is None:
            if bounded:
                raise UsageError("--count and --until go with --repeat or --rrule")
            return None
        if self.count is not None and not 1 <= self.count <= MAX_SERIES:
            raise UsageError(f"--count must be from 1 to {MAX_SERIES}, not {self.count}")
        if self.repeat is not None:
            if not bounded:
                raise UsageError("--repeat needs --count N or --until WHEN")
            body = REPEATS[self.repeat]
        else:
            body = self.rrule
            if bounded and {"COUNT", "UNTIL"} & set(rrule_parts(body)):
                raise UsageError("the RRULE has its own COUNT or UNTIL; drop --count/--until")
        if self.count is not None:
            body += f";COUNT={self.count}"
        return body


def windows(start: datetime, end: datetime, tz: tzinfo, series: Series = Series()) -> list[Window]:
    """Every slot of the series as a window, in time order; refuses what docs/reference/time.md#series refuses."""
    check_order(start, end)  # the range --split cuts may be longer than one slot
    length, pieces = end - start, 1
    if series.split is not None:
        pieces, rest = divmod(length, series.split)
        if rest:
            raise UsageError(
                f"{_span(length)} does not divide into {_span(series.split)} slots "
                f"({_span(rest)} would be left over)"
            )
        if pieces > MAX_SERIES:
            raise UsageError(f"the series has {pieces} slots; the limit is {MAX_SERIES}")
    body = series.rule()
    if series.skip and body is None:
        raise UsageError("--except goes with --repeat or --rrule")
    starts = [start] if body is None else _occurrences(start, tz, series, body, MAX_SERIES // pieces)
    if series.skip and len(starts) <= MAX_SERIES // pieces:
        starts = _skipping(starts, series.skip, tz)
    if len(starts) * pieces > MAX_SERIES:
        raise UsageError(
            f"the series has more than {MAX_SERIES} slots",
            hint="use a smaller --count, an earlier --until, or COUNT/UNTIL in the RRULE",
        )
    if not starts:
        raise UsageError("the series has no slots", hint="check the rule against --start and --until")
    step = length / pieces
    return [Window(s + i * step, s + (i + 1) * step) for s in starts for i in range(pieces)]


def _occurrences(start: datetime, tz: tzinfo, series: Series, body: str, limit: int) -> list[datetime]:
    first = start.astimezone(tz).replace(tzinfo=None)
    if series.until is not None:
        body += ";UNTIL=" + series.until.astimezone(tz).strftime("%Y%m%dT%H%M%S")
    starts, refused = [], []
    for wall in recurrence(body, first, tz, limit):
        if wall == first:
            starts.append(start)  # the instant typed, even if its wall-clock time is ambiguous
            continue
        try:
            starts.append(localize(wall, tz).astimezone(UTC))
        except LocalTimeError as exc:
            refused.append(exc)
    if refused:
        raise UsageError(
            f"{len(refused)} occurrence(s) fall into a daylight saving change in {zone_name(tz)}; "
            "nothing was created:",
            hint="start the series at another time of day, or end it before the change",
            details=[f"{e.wall:%Y-%m-%d %H:%M} " + ("does not exist" if e.gap else "is ambiguous")
                     for e in refused],
        )
    return starts


def _skipping(starts: list[datetime], skip: tuple[date, ...], tz: tzinfo) -> list[datetime]:
    """The starts not on a skipped local date; a skipped date with no occurrence is refused."""
    days = {s.astimezone(tz).date() for s in starts}
    unmatched = sorted(set(skip) - days)
    if unmatched:
        listed = ", ".join(f"{d:%a %Y-%m-%d}" for d in unmatched)
        raise UsageError(f"--except {listed}: the series has no slot on that day",
                         hint="check the dates against the series' days")
    return [s for s in starts if s.astimezone(tz).date() not in skip]


def _span(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")
