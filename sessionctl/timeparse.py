"""WHEN / DURATION / zone parsing (a leaf: anyone may import it).

Instants leave this module as aware UTC datetimes truncated to the second.
WHEN is read here (the relative forms) and in ``dates`` (the written ones), never guessed;
dateutil is imported only for a series' rule, to keep start-up cheap.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sessionctl import dates
from sessionctl.errors import UsageError

UTC = timezone.utc

EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
RANGE = "use a time after 1970-01-01 00:00 UTC and before the year 9000"
MAX_DURATION = timedelta(days=3660)
# Patterns as text: ``re`` compiles each on its first use (and caches it), not at every start-up.
_DURATION = r"^(?:(?P<w>[0-9]+)w)?(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?$"
DURATION_HINT = "write it like 30m, 1h, 1h30m, 2d or 1w"


def utcnow() -> datetime:
    """The real clock, to the second. A run takes the time from its own clock
    (``Invocation.clock``), which is this unless the run was given another (the demo's steps)."""
    return datetime.now(UTC).replace(microsecond=0)


# files of the zone database that are no IANA zone: the machine's own setting and the
# template for POSIX rules (each means something else on another machine), and a placeholder
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


def zone(name: str) -> ZoneInfo:
    """An IANA zone by name; exit 2 if there is no such zone."""
    try:
        if not name or name != name.strip() or ".." in name or name in _NOT_ZONES:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Berlin or UTC"
        ) from None


def system_zone() -> tzinfo:
    """The machine's zone, by IANA name where it can be found."""
    for name in system_tz_candidates():
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return ZoneInfo("UTC")


def system_tz_candidates(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names the machine's zone may go by: ``TZ``, then /etc/localtime's link, /etc/timezone."""
    environ = os.environ if environ is None else environ
    candidates = []
    if environ.get("TZ"):
        candidates.append(environ["TZ"].lstrip(":"))
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            candidates.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        with open("/etc/timezone", encoding="utf-8") as fh:
            candidates.append(fh.read().strip())
    except (OSError, UnicodeDecodeError):
        pass
    return candidates


def zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def parse_duration(text: str) -> timedelta:
    """``30m``, ``1h``, ``1h30m``, ``90m``, ``2d``, ``1w``; a bare number is refused."""
    raw = text.strip().lower().replace(" ", "")
    match = re.match(_DURATION, raw)
    if not raw or not match or not any(match.groupdict().values()):
        raise UsageError(f"invalid duration {text!r}", hint=DURATION_HINT)
    if max(len(v or "") for v in match.groupdict().values()) > 9:  # far beyond the longest
        raise UsageError(f"duration {text!r} is longer than {MAX_DURATION.days} days")
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    minutes = parts["w"] * 10080 + parts["d"] * 1440 + parts["h"] * 60 + parts["m"]
    if minutes <= 0:
        raise UsageError(f"duration {text!r} must be longer than zero")
    if minutes > MAX_DURATION.total_seconds() // 60:
        raise UsageError(f"duration {text!r} is longer than {MAX_DURATION.days} days")
    return timedelta(minutes=minutes)


_DAY_WORD = r"(?i)^(?:(?P<next>next)[ ]+)?(?P<day>[a-z]+)(?:[ ]+(?P<clock>.+))?$"
_DAYS = {"yesterday": -1, "today": 0, "tomorrow": 1}
_CLOCK = r"(?i)^(?P<h>[0-9]{1,2})(?::(?P<m>[0-9]{2}))?(?::(?P<s>[0-9]{2}))?\s*(?P<ampm>am|pm)?$"
_DATE_ONLY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_HOUR_ALONE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{1,2}(?:[Zz]|[+-][0-9:]+)?$"
CLOCK_HINT = "write it like 14:00, 9:30 or 2pm"
WHEN_HINT = "use ISO 8601 (2026-12-01 14:00), today/tomorrow/mon 10:00, or +90m, +2h, +3d, +1w"


class LocalTimeError(UsageError):
    """A wall-clock time that does not exist or is ambiguous in a zone (a DST change)."""

    def __init__(self, wall: datetime, tz: tzinfo, offsets: tuple[timedelta, timedelta], gap: bool):
        self.wall, self.gap = wall, gap
        name, choices = zone_name(tz), " or ".join(format_offset(o) for o in offsets)
        what, why = (
            ("does not exist", "the clocks skip it when daylight saving time starts")
            if gap else
            ("is ambiguous", "the clocks pass it twice when daylight saving time ends")
        )
        super().__init__(
            f"{_wall_label(wall)} {what} in {name}: add {choices}",
            hint=f"{why}; write it with an offset, e.g. {_wall_label(wall)}{format_offset(offsets[0])}",
        )


def format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _wall_label(wall: datetime) -> str:
    return f"{wall:%Y-%m-%d %H:%M:%S}" if wall.second else f"{wall:%Y-%m-%d %H:%M}"


def localize(wall: datetime, tz: tzinfo) -> datetime:
    """A naive wall-clock time in ``tz`` as an aware instant; a DST gap or overlap is refused.

    PEP 495: ``fold=0`` takes the offset before a transition, ``fold=1`` the one after. They
    differ only at a transition; then the time exists twice (both round-trip) or never.
    """
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    before, after = first.utcoffset(), second.utcoffset()
    if before == after:
        return first
    round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    raise LocalTimeError(wall, tz, (before, after), gap=round_trip != wall)


def _readable(parse):
    """Whatever the calendar arithmetic of a parse raises (an offset of 24 h or more, a year
    past 9999) is a malformed WHEN: exit 2, never a crash."""
    def checked(text: str, *, tz: tzinfo, now: datetime):
        try:
            return parse(text, tz=tz, now=now)
        except (ValueError, OverflowError) as exc:
            reason = str(exc).split("\n")[0] or type(exc).__name__
            raise UsageError(f"cannot read {text.strip()!r} as a date/time: {reason}",
                             hint=WHEN_HINT) from None

    checked.__doc__ = parse.__doc__
    return checked


@_readable
def parse_when(text: str, *, tz: tzinfo, now: datetime) -> datetime:
    """An instant from WHEN (``docs/reference/time.md#when``). No offset means a wall-clock time in ``tz``; a date
    without a time of day means its first instant."""
    value = _read(text, tz, now)
    if not isinstance(value, datetime):  # a bare date
        value = midnight(value, tz)
    return _in_range(value, text)


@_readable
def parse_until(text: str, *, tz: tzinfo, now: datetime) -> datetime:
    """``--until``: like WHEN, but a date without a time of day includes the whole day."""
    value = _read(text, tz, now)
    if not isinstance(value, datetime):  # a bare date
        value = next_midnight(value, tz) - timedelta(seconds=1)
    return _in_range(value, text)


@_readable
def parse_date(text: str, *, tz: tzinfo, now: datetime) -> date:
    """A local calendar day: ``2027-12-24``, ``Dec 24 2027``, ``tomorrow``, ``fri``; a time of
    day is refused (it would be left out unseen)."""
    value = _read(text, tz, now)
    if isinstance(value, datetime):
        raise UsageError(f"{text.strip()!r} is a time; a day is wanted",
                         hint="write the day alone, e.g. 2027-02-08 or fri")
    if not EARLIEST.date() < value < LATEST.date():
        raise UsageError(f"{text.strip()!r} is out of range: {RANGE}")
    return value


def _in_range(value: datetime, text: str) -> datetime:
    if not EARLIEST < value < LATEST:
        raise UsageError(f"{text.strip()!r} is out of range: {RANGE}")
    return value.astimezone(UTC).replace(microsecond=0)


def midnight(day: date, tz: tzinfo) -> datetime:
    """The first instant of a local day. PEP 495's ``fold=0`` makes a midnight inside a DST
    gap the gap's end, and a midnight passed twice the earlier one."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def next_midnight(day: date, tz: tzinfo) -> datetime:
    return midnight(day + timedelta(days=1), tz)


def _read(text: str, tz: tzinfo, now: datetime) -> datetime | date:
    """An aware instant, or a local ``date`` when the input names no time of day."""
    raw = text.strip()
    if not raw:
        raise UsageError("empty date/time", hint=WHEN_HINT)
    if any(ch.isdigit() and not ch.isascii() for ch in raw):  # dateutil would read １０ as 10
        raise UsageError(f"cannot read {raw!r} as a date/time: write its digits as 0-9",
                         hint=WHEN_HINT)
    value = _relative(raw, tz, now)
    if value is not None:
        return value
    if re.match(_DATE_ONLY, raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise UsageError(f"cannot read {raw!r} as a date", hint=WHEN_HINT) from None
    clock = re.match(_CLOCK, raw)
    if clock and (clock["m"] or clock["ampm"]):  # 22:00, 10 pm: which day?
        raise UsageError(f"{raw!r} is a time of day without a day",
                         hint=f"give the day too: today {raw}, tomorrow {raw}, mon {raw}")
    if re.match(_HOUR_ALONE, raw):  # 2027-03-01 10: an hour is written 10:00 or 10am
        raise UsageError(f"cannot read the time of day in {raw!r}", hint=CLOCK_HINT)
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        value = dates.read(raw, now.astimezone(tz).date(), WHEN_HINT).value()
    if isinstance(value, datetime) and value.microsecond:  # kept to the second, not rounded
        raise UsageError(f"{raw!r} has a fraction of a second",
                         hint="times are kept to the second: leave the fraction out")
    if isinstance(value, datetime) and value.tzinfo is None:
        value = localize(value.replace(fold=0), tz)
    return value


def _relative(raw: str, tz: tzinfo, now: datetime) -> datetime | date | None:
    """``now``, ``±DURATION`` (elapsed time), ``yesterday|today|tomorrow [TIME]``,
    ``[next] WEEKDAY [TIME]``; None for anything else (a written date)."""
    lowered = raw.lower()
    if lowered == "now":
        return now
    if raw[0] in "+-" and raw[1:2].isdigit() and not re.match(_DATE_ONLY, raw[1:11]):
        try:
            amount = parse_duration(raw[1:])
        except UsageError:
            raise UsageError(f"cannot read {raw!r} as a date/time", hint=WHEN_HINT) from None
        return now + amount if raw[0] == "+" else now - amount
    if re.match(_DURATION, lowered) and lowered[-1:] in "wdhm":
        raise UsageError(f"{raw!r} is a duration, not a date/time", hint=f"for {raw} from now write +{raw}")
    match = re.match(_DAY_WORD, raw)
    if not match:
        return None
    word, following = match["day"].lower(), match["next"] is not None
    weekday = dates.WEEKDAYS.get(word)
    if weekday is None and (following or word not in _DAYS):
        return None
    if match["clock"] and not following and weekday is not None \
            and not re.match(_CLOCK, match["clock"]):
        return None  # a weekday before a written date (Fri 3 Dec 2027): dates checks it
    clock = _clock(match["clock"], raw) if match["clock"] else None
    today = now.astimezone(tz).date()
    if weekday is None:
        return _at(today + timedelta(days=_DAYS[word]), clock, tz)
    if following:  # the one in next week, weeks starting on Monday
        return _at(today + timedelta(days=7 - today.weekday() + weekday), clock, tz)
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    value = _at(day, clock, tz)
    if (midnight(day, tz) if clock is None else value) <= now:  # today's counts while still ahead
        value = _at(day + timedelta(days=7), clock, tz)
    return value


def _at(day: date, clock: tuple[int, int, int] | None, tz: tzinfo) -> datetime | date:
    return day if clock is None else localize(datetime(day.year, day.month, day.day, *clock), tz)


def _clock(text: str, raw: str) -> tuple[int, int, int]:
    match = re.match(_CLOCK, text.strip())
    if match:
        hour, minute, second = int(match["h"]), int(match["m"] or 0), int(match["s"] or 0)
        if not (match["m"] or match["ampm"]):  # tomorrow 1: 01:00 or 13:00? not guessed
            match = None
        elif match["ampm"]:
            if not 1 <= hour <= 12:
                match = None
            else:
                hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
        if match and hour < 24 and minute < 60 and second < 60:
            return hour, minute, second
    raise UsageError(f"cannot read the time of day in {raw!r}", hint=CLOCK_HINT)


REPEATS = {
    "daily": "FREQ=DAILY",
    "weekdays": "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
    "weekly": "FREQ=WEEKLY",
}


def rrule_parts(body: str) -> dict[str, str]:
    """The NAME=VALUE parts of an RRULE body (``RRULE:`` prefix allowed), names upper-cased."""
    text = body.strip()
    if not text.isprintable():  # line breaks could smuggle in EXDATE or other properties
        raise UsageError(f"invalid RRULE {body!r}: one line of NAME=VALUE parts, nothing else",
                         hint=RRULE_HINT)
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts: dict[str, str] = {}
    for item in filter(None, text.split(";")):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip() or name.strip().upper() in parts:
            raise UsageError(f"invalid RRULE {body!r}: {item!r} is not NAME=VALUE (once each)")
        parts[name.strip().upper()] = value.strip()
    if "FREQ" not in parts:
        raise UsageError(f"invalid RRULE {body!r}: FREQ is missing", hint="e.g. FREQ=WEEKLY;BYDAY=MO,WE;COUNT=8")
    if "INTERVAL" in parts and not (_whole(parts["INTERVAL"]) or 0) > 0:
        raise UsageError(f"invalid RRULE {body!r}: INTERVAL must be a whole number above 0")
    if "DTSTART" in parts:
        raise UsageError("put the first occurrence in --start, not DTSTART in the RRULE")
    if "COUNT" in parts and "UNTIL" in parts:
        raise UsageError(f"invalid RRULE {body!r}: COUNT and UNTIL cannot both be given "
                         "(RFC 5545)", hint=RRULE_HINT)
    freq = parts["FREQ"].upper()
    if any(day.strip()[:1] in "+-0123456789" for day in parts.get("BYDAY", "").split(",")
           if day.strip()) and freq not in ("MONTHLY", "YEARLY"):
        raise UsageError(f"invalid RRULE {body!r}: a numbered BYDAY (1MO, -1FR) needs "
                         "FREQ=MONTHLY or YEARLY (RFC 5545)", hint=RRULE_HINT)
    if "BYWEEKNO" in parts and freq != "YEARLY":
        raise UsageError(f"invalid RRULE {body!r}: BYWEEKNO needs FREQ=YEARLY (RFC 5545)",
                         hint=RRULE_HINT)
    for name, (low, high, signed) in BY_RANGES.items():
        for item in filter(None, parts.get(name, "").split(",")):
            number = item.strip().lstrip("+-")
            value = _whole(number)
            if value is None or not (low <= value <= high) or (item.strip()[0] == "-" and not signed):
                sign = "±" if signed else ""
                raise UsageError(f"invalid RRULE {body!r}: {name}={item.strip()} is out of range "
                                 f"(RFC 5545: {sign}{low} to {sign}{high})", hint=RRULE_HINT)
    return parts


def _whole(text: str) -> int | None:
    """An RRULE's number: ASCII digits (int() would take other scripts' digits, and refuse
    more than 4,300 of them with a ValueError of its own); else None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4000 else None


# RFC 5545 §3.3.10: the numeric BY parts, their magnitudes, and whether they may be negative.
BY_RANGES = {
    "BYMONTH": (1, 12, False), "BYMONTHDAY": (1, 31, True), "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True), "BYHOUR": (0, 23, False), "BYMINUTE": (0, 59, False),
    "BYSETPOS": (1, 366, True),
}


SERIES_YEARS = 10  # a series is searched, and may reach, this many years past its first start
RRULE_HINT = "e.g. FREQ=WEEKLY;BYDAY=MO,WE;COUNT=8"


def recurrence(body: str, first: datetime, tz: tzinfo, limit: int) -> list[datetime]:
    """The wall-clock starts of an RRULE body from the naive local ``first``: at most ``limit``+1.

    The rule runs on naive local times, so 10:00 stays 10:00 across DST changes; an
    ``UNTIL=…Z`` in UTC is turned into the same instant's local wall-clock time first.
    Every rule is bounded twice, whatever it says: by ``limit`` occurrences, and by a search
    horizon of SERIES_YEARS years (no clock involved), which is what stops a rule that never
    matches (``BYMONTH=2;BYMONTHDAY=30``) from being searched until the year 9999.
    """
    from itertools import islice

    from dateutil import rrule
    from dateutil.relativedelta import relativedelta

    parts = rrule_parts(body)
    if parts["FREQ"].upper() == "SECONDLY" or "BYSECOND" in parts:
        raise UsageError(f"invalid RRULE {body!r}: slots repeat at most every minute "
                         "(FREQ=SECONDLY and BYSECOND are not supported)", hint=RRULE_HINT)
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise UsageError(f"the RRULE {body!r} never ends",
                         hint="add COUNT=N or UNTIL=…, or give --count or --until")
    horizon = first + relativedelta(years=SERIES_YEARS)
    until = parts.get("UNTIL", "")
    if until[-1:] in ("Z", "z"):
        try:
            instant = datetime.strptime(until[:-1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            raise UsageError(f"invalid RRULE {body!r}: UNTIL={until} is not YYYYMMDDTHHMMSSZ") from None
        parts["UNTIL"] = instant.astimezone(tz).strftime("%Y%m%dT%H%M%S")
    text = ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        rule = rrule.rrulestr(text, dtstart=first.replace(microsecond=0))
        with _searched_until(horizon.year):
            found = list(islice(rule, limit + 1))
    except (ValueError, TypeError, OverflowError, IndexError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"invalid RRULE {body!r}: {reason}", hint=RRULE_HINT) from None
    beyond = [wall for wall in found if wall > horizon]
    wanted = _whole(parts.get("COUNT", ""))
    if len(found) <= limit and (beyond or (wanted is not None and 0 < len(found) < wanted)):
        raise UsageError(
            f"the series reaches past {SERIES_YEARS} years from its first start "
            f"({horizon:%Y-%m-%d})",
            hint="use a smaller COUNT/--count or an earlier UNTIL/--until",
        )
    return found


@contextmanager
def _searched_until(last_year: int) -> Iterator[None]:
    """Make dateutil's rrule stop searching after ``last_year``.

    rrule walks a rule period by period and stops only when the rule is exhausted or the year
    passes ``datetime.MAXYEAR``, which it reads from its module global ``datetime``. A rule
    that no period matches is therefore searched up to the year 9999 (seconds to minutes of
    CPU). A stand-in module with a nearer MAXYEAR bounds that walk; nothing else changes
    (tests/test_time.py pins this to the installed dateutil).
    """
    import datetime as real

    from dateutil import rrule

    class Bounded:
        MAXYEAR = last_year

        def __getattr__(self, name):
            return getattr(real, name)

    rrule.datetime = Bounded()
    try:
        yield
    finally:
        rrule.datetime = real


def format_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
