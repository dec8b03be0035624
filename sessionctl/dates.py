"""The written forms of a day that are not ISO 8601, read only when they can be read one way
(``docs/reference/time.md#when``): a day and month as numbers (``25/12``, ``12.07.2027``,
``12-25 14:00``), a month by name (``Dec 1 2027 2pm``, ``1 December``, ``3rd of July at
9:30``), each with an optional weekday in front (checked) and an optional time of day and
offset. A leaf: it imports only ``errors``.

Nothing is guessed. A form some people read day first and others month first is refused
when both readings are dates, naming both (``12/07``: 12 July or 7 December); a two-digit
year may also be the first number (``25/12/26``: 25 December 2026 or 26 December 2025); a day
and month without a year are their next occurrence, today included. A time of day needs a
colon or am/pm (``10`` alone could be a day, a year or an hour); anything else (a word that
is no month, a number nobody placed) is refused rather than left out, as python-dateutil
would (``12.07 16:00`` was its 12th of the current month).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from sessionctl.errors import UsageError

WEEKDAYS = {
    name: index
    for index, names in enumerate((
        ("mon", "monday"), ("tue", "tues", "tuesday"), ("wed", "wednesday"),
        ("thu", "thur", "thurs", "thursday"), ("fri", "friday"), ("sat", "saturday"),
        ("sun", "sunday"),
    ))
    for name in names
}
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")
MONTHS = {
    **{name.lower(): number for number, name in enumerate(MONTH_NAMES, 1)},
    **{name[:3].lower(): number for number, name in enumerate(MONTH_NAMES, 1)},
    "sept": 9,
}
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Patterns as text (``re`` compiles and caches each on first use, not at start-up).
# A time of day: H:MM[:SS] [am|pm], or H am|pm.
_TIME = (r"(?P<h>[0-9]{1,2})(?:(?::(?P<mi>[0-9]{2}))(?::(?P<s>[0-9]{2}))?[ ]*(?P<ap>[ap]\.?m\.?)?"
         r"|[ ]*(?P<ap2>[ap]\.?m\.?))")
_ZONE = r"[ ]*(?P<z>z|utc|gmt|[+-][0-9]{2}(?::?[0-9]{2})?)"
_AFTER_DATE = rf"(?P<date>.+?)(?:[ ]+(?:at[ ]+)?|[ ]*,[ ]*|[ ]*t[ ]*){_TIME}(?:{_ZONE})?"
_BEFORE_DATE = rf"{_TIME}(?:{_ZONE})?(?:[ ]+(?:on[ ]+)?|[ ]*,[ ]*)(?P<date>.+)"
_UNKNOWN_ZONE = rf".*[0-9](?:[ ]*[ap]\.?m\.?)?[ ]+(?P<name>[a-z]{{2,6}})"
_WEEKDAY_FIRST = r"(?P<wd>[a-z]+)\.?[ ]*,?[ ]+(?P<rest>.+)"
# a day and month as numbers, then perhaps the year: 12/03, 12.03., 12-03-2027, 12/03/27
_NUMERIC = r"(?P<a>[0-9]{1,2})(?P<sep>[/.-])(?P<b>[0-9]{1,2})(?:(?P=sep)(?P<y>[0-9]{4}|[0-9]{2}))?"
_NUMERIC_ALONE = _NUMERIC + r"(?P<dot>\.)?"
_YEAR_FIRST = r"(?P<y>[0-9]{4})(?P<sep>[/.-])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})"
_ORDINAL = r"(?:st|nd|rd|th)?"
_NAMED = (rf"(?:(?P<d1>[0-9]{{1,2}}){_ORDINAL}\.?(?:[ ]+of)?[ ./-]*(?P<m1>[a-z]+)\.?"
          rf"|(?P<m2>[a-z]+)\.?[ ./-]*(?P<d2>[0-9]{{1,2}}){_ORDINAL})(?:[ ]*,?[ ./-]+(?P<y>[0-9]{{4}}))?")


class Written:
    """What a form names: a local ``day``, perhaps a wall-clock ``time`` (h, m, s), perhaps an
    ``offset`` (then the time is that exact instant)."""

    __slots__ = ("day", "time", "offset")

    def __init__(self, day: date, time: tuple[int, int, int] | None, offset: timedelta | None):
        self.day, self.time, self.offset = day, time, offset

    def value(self) -> date | datetime:
        """The day alone, a naive wall-clock time, or an aware instant."""
        if self.time is None:
            return self.day
        wall = datetime(self.day.year, self.day.month, self.day.day, *self.time)
        return wall if self.offset is None else wall.replace(tzinfo=timezone(self.offset))


def read(raw: str, today: date, hint: str) -> Written:
    """The day (and time) ``raw`` names, ``today`` being the local date (for a day without a
    year); exit 2 when it is no such form, or could be read more than one way."""
    text = raw.strip()
    weekday, found = None, re.fullmatch(_WEEKDAY_FIRST, text, re.IGNORECASE | re.DOTALL)
    if found and found["wd"].lower() in WEEKDAYS:
        weekday, text = WEEKDAYS[found["wd"].lower()], found["rest"]
    _refuse_swappable(raw, text, today)
    time_first = re.fullmatch(_BEFORE_DATE, text, re.IGNORECASE)
    if time_first:  # 10:00 12/07
        _refuse_swappable(raw, time_first["date"], today, text[:time_first.start("date")])
    written = _form(text, today)
    if written is None:
        zone = re.fullmatch(_UNKNOWN_ZONE, text, re.IGNORECASE)
        if zone and zone["name"].lower() not in MONTHS:
            raise UsageError(f"unknown time zone name in {raw!r}",
                             hint="give an offset instead, e.g. 2027-01-11 10:00-08:00")
        raise UsageError(f"cannot read {raw!r} as a date/time", hint=hint)
    if weekday is not None and written.day.weekday() != weekday:
        raise UsageError(f"{raw!r} names a {DAY_NAMES[weekday]}, but {_said(written.day)} is a "
                         f"{DAY_NAMES[written.day.weekday()]}",
                         hint=f"write {written.day.isoformat()}{_clock_text(written)} alone")
    return written


def _form(text: str, today: date) -> Written | None:
    """A date, a date then a time, or a time then a date; None when it is none of these."""
    for pattern in (_AFTER_DATE, _BEFORE_DATE):
        found = re.fullmatch(pattern, text, re.IGNORECASE)
        if found:
            day = _date(found["date"], today)
            if day is not None:
                return Written(day, _time(found, text), _offset(found["z"], text))
    _refuse_a_time_with_a_dot(text, today)
    day = _date(text, today)
    return None if day is None else Written(day, None, None)


def _refuse_a_time_with_a_dot(text: str, today: date) -> None:
    """``10.30`` alone is half past ten to many (H.MM is how British English writes a time) and
    30 October by the day-and-month rule: a dotted pair without a year that reads as both is
    refused, naming both (``25.12`` is no time, ``10.30 16:00`` holds its time)."""
    found = re.fullmatch(_NUMERIC, text)
    if not found or found["sep"] != "." or found["y"] or len(found["b"]) != 2:
        return
    hour, minute = int(found["a"]), int(found["b"])
    if hour > 23 or minute > 59:
        return
    clock, example = f"{hour}:{minute:02d}", f"{today.isoformat()} {hour}:{minute:02d}"
    try:
        days = _readings(found, today, every=True)
    except UsageError:  # 10.45: no date at all
        raise UsageError(f"{text!r} is no date; a time is written {clock}",
                         hint=f"write a date and time, e.g. {example}") from None
    said = _or([f"{day.day} {MONTH_NAMES[day.month - 1]}" for day in days])
    raise UsageError(f"{text!r} could be the time {clock} or the date {said}",
                     hint=f"write a date and time (e.g. {example}) or the date as "
                     f"{days[0].isoformat()}")


def _date(text: str, today: date) -> date | None:
    found = re.fullmatch(_YEAR_FIRST, text)
    if found:
        return _valid(int(found["y"]), int(found["m"]), int(found["d"]), text)
    found = re.fullmatch(_NUMERIC_ALONE, text)
    if found and (found["dot"] is None or found["sep"] == "."):
        [day] = _readings(found, today)  # more than one was refused before
        return day
    found = re.fullmatch(_NAMED, text, re.IGNORECASE)
    if found:
        name, number = (found["m1"], found["d1"]) if found["m1"] else (found["m2"], found["d2"])
        month = MONTHS.get(name.lower())
        if month is None:
            return None
        if found["y"]:
            return _valid(int(found["y"]), month, int(number), text)
        if not _exists(month, int(number)):
            raise UsageError(f"{text!r} is not a date: {MONTH_NAMES[month - 1]} has no day "
                             f"{int(number)}")
        return next_occurrence(month, int(number), today)
    return None


def _time(found: re.Match, text: str) -> tuple[int, int, int]:
    hour, minute, second = int(found["h"]), int(found["mi"] or 0), int(found["s"] or 0)
    marker = (found["ap"] or found["ap2"] or "").lower()
    if marker:
        if not 1 <= hour <= 12:
            raise UsageError(f"cannot read the time of day in {text!r}: {hour} {marker} is no "
                             "hour", hint="write it like 14:00, 9:30 or 2pm")
        hour = hour % 12 + (12 if marker.startswith("p") else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise UsageError(f"cannot read the time of day in {text!r}",
                         hint="write it like 14:00, 9:30 or 2pm")
    return hour, minute, second


def _offset(zone: str | None, text: str) -> timedelta | None:
    if zone is None:
        return None
    if zone.lower() in ("z", "utc", "gmt"):
        return timedelta(0)
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise UsageError(f"cannot read {text!r} as a date/time: the offset {zone} is out of "
                         "range (-23:59 to +23:59)")
    offset = timedelta(hours=hours, minutes=minutes)
    return -offset if zone[0] == "-" else offset


# -- a day and month as numbers ---------------------------------------------------------------


def _refuse_swappable(raw: str, text: str, today: date, before: str = "") -> None:
    """A text that starts with a numeric date read more than one way is refused, whatever
    follows, naming every reading and its ISO form (what is ``before`` it and the rest
    repeated when printable)."""
    found = re.match(_NUMERIC + r"(?P<dot>\.)?(?![0-9/.-])", text)
    if not found or (found["dot"] and found["sep"] != "."):  # 12.07. is German; 12/07. no form
        return
    readings = _readings(found, today, every=True)
    if len(readings) < 2:
        return
    rest = text[found.end():]
    if not (rest + before).isprintable():  # a line break or bidi mark is not repeated
        rest = before = ""
    rest = rest[1:] if rest[:1] == "." and found["sep"] == "." else rest  # 12.07. 10:00
    years = {day.year for day in readings}
    if len(years) == 1 and found["y"]:
        said = " or ".join(f"{day.day} {MONTH_NAMES[day.month - 1]}" for day in readings)
        said += f" {readings[0].year}"
    elif found["y"]:
        said = _or([_said(day) for day in readings])
    else:
        said = " or ".join(f"{day.day} {MONTH_NAMES[day.month - 1]}" for day in readings)
    iso = _or([f"{before}{day.isoformat()}{rest}" for day in readings])
    raise UsageError(f"{raw.strip()!r} could be {said}", hint=f"write {iso}")


def _readings(found: re.Match, today: date, every: bool = False) -> list[date]:
    """The dates a numeric day and month (and year) can be: day first, month first, and for
    a two-digit year the year first too; without a year, each one's next occurrence. Exit 2
    when it is no date at all."""
    a, b, year = int(found["a"]), int(found["b"]), found["y"]
    candidates = []
    if year is None:
        for day, month in ((a, b), (b, a)):
            if _exists(month, day):
                candidates.append(next_occurrence(month, day, today))
    else:
        full = _full_year(int(year), today) if len(year) == 2 else int(year)
        candidates = [_valid(full, month, day) for day, month in ((a, b), (b, a))]
        if len(year) == 2:
            candidates.append(_valid(_full_year(a, today), b, int(year)))
    found_days = list(dict.fromkeys(day for day in candidates if day is not None))
    if not found_days:
        raise UsageError(f"{found.group(0)!r} is not a date",
                         hint="write the date as YYYY-MM-DD, e.g. 2027-03-12")
    if len(found_days) > 1 and not every:  # pragma: no cover - refused before
        raise UsageError(f"{found.group(0)!r} could be read more than one way")
    return found_days


def _full_year(two_digits: int, today: date) -> int:
    """A two-digit year as the one within 50 years of today (python-dateutil's rule)."""
    year = today.year // 100 * 100 + two_digits
    if year >= today.year + 50:
        year -= 100
    elif year < today.year - 50:
        year += 100
    return year


# -- the calendar ---------------------------------------------------------------------------------


def _exists(month: int, day: int) -> bool:
    """A day of the month that some year has (29 February included)."""
    return 1 <= month <= 12 and _valid(2000, month, day) is not None


def _valid(year: int, month: int, day: int, text: str | None = None) -> date | None:
    """That date, else None (with ``text``: exit 2 naming it)."""
    try:
        return date(year, month, day)
    except ValueError:
        if text is None:
            return None
        raise UsageError(f"{text!r} is not a date", hint="check the day and the month") from None


def next_occurrence(month: int, day: int, today: date) -> date:
    """The next ``day`` of ``month`` from ``today`` on, today included (29 February: the next
    leap year's)."""
    year = today.year
    while True:
        found = _valid(year, month, day)
        if found is not None and found >= today:
            return found
        year += 1


def _said(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _clock_text(written: Written) -> str:
    if written.time is None:
        return ""
    hour, minute, second = written.time
    return f" {hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")
