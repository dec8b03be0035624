"""A busy source's events, expanded and kept compiled (``docs/reference/busy-times.md#caching``).

``compile_`` parses iCalendar text with ``icalendar`` and expands recurrences (RRULE, RDATE,
EXDATE, RECURRENCE-ID) with ``recurring-ical-events`` over a span of time; all-day and floating
events are placed in the educator's zone; ``TRANSP:TRANSPARENT`` and ``STATUS:CANCELLED`` events
are left out. The result, an ``Index``, is plain data (UTC seconds, sorted) that is written to
the cache as JSON beside the source's bytes, so a cached source costs a ``json.load`` and a
binary search, never a parse: both libraries are imported only when a source is read anew.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from datetime import datetime, time, timedelta, timezone, tzinfo

SPAN_BEFORE = timedelta(days=1)
SPAN_AFTER = timedelta(days=400)  # slots are rarely published further ahead; beyond, recompiled
MAX_SUMMARY = 200
# A calendar that unfolds into more events than this (FREQ=SECONDLY without an end makes 34
# million in 400 days, and the expansion walks every one from DTSTART on) is refused before it
# is expanded, not expanded until time and memory run out.
MAX_OCCURRENCES = 100_000
_EVERY = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 7 * 86400,
          "MONTHLY": 28 * 86400, "YEARLY": 365 * 86400}
# a BYxxx list multiplies the occurrences of a coarser FREQ by its length (at most)
_BY = (("BYSECOND", 1), ("BYMINUTE", 60), ("BYHOUR", 3600), ("BYDAY", 86400),
       ("BYMONTHDAY", 86400), ("BYYEARDAY", 86400), ("BYWEEKNO", 7 * 86400),
       ("BYMONTH", 28 * 86400))
MINTED = "@sessionctl"  # the end of every UID sessionctl makes (request export --ics, feeds)


class NotCalendar(ValueError):
    """The bytes are not iCalendar."""


class Index:
    """Busy intervals: ``starts``/``ends`` in UTC seconds sorted by start, the index of each
    one's summary in ``summaries``, the UIDs sessionctl minted (``minted``: interval -> UID),
    and the span ``[lo, hi)`` they were expanded over, in the zone ``zone``."""

    def __init__(self, lo: int, hi: int, zone: str, starts, ends, which, summaries, minted,
                 longest: int):
        self.lo, self.hi, self.zone = lo, hi, zone
        self.starts, self.ends, self.which = starts, ends, which
        self.summaries, self.minted, self.longest = summaries, minted, longest

    def covers(self, lo: datetime, hi: datetime, zone: str) -> bool:
        return zone == self.zone and self.lo <= lo.timestamp() and hi.timestamp() <= self.hi

    def overlapping(self, start: datetime, end: datetime, store_uid: str):
        """Each busy (start, end, summary) overlapping ``[start, end)``, leaving out the
        events this store minted (UIDs ending ``-STORE@sessionctl``)."""
        a, b = int(start.timestamp()), int(end.timestamp())
        mine = f"-{store_uid}{MINTED}"
        first = bisect_left(self.starts, a - self.longest)
        for i in range(first, len(self.starts)):
            s = self.starts[i]
            if s >= b:
                break
            if self.ends[i] > a and not self.minted.get(str(i), "").endswith(mine):
                yield (datetime.fromtimestamp(s, timezone.utc),
                       datetime.fromtimestamp(self.ends[i], timezone.utc),
                       self.summaries[self.which[i]])

    FIELDS = ("lo", "hi", "zone", "starts", "ends", "which", "summaries", "minted", "longest")

    def dumps(self) -> str:
        return json.dumps({name: getattr(self, name) for name in self.FIELDS},
                          separators=(",", ":"))

    @classmethod
    def of(cls, fields: dict) -> "Index":
        return cls(*(fields[name] for name in cls.FIELDS))


def span(now: datetime, lo: datetime | None = None, hi: datetime | None = None):
    """The span to expand over: from a day before now to 400 days ahead, widened to hold
    ``[lo, hi)`` when a slot lies beyond."""
    start, end = now - SPAN_BEFORE, now + SPAN_AFTER
    if lo is not None:
        start = min(start, lo - SPAN_BEFORE)
    if hi is not None:
        end = max(end, hi + SPAN_BEFORE)
    return start, end


def calendars(data: bytes):
    """The calendars in a source's bytes (a vdir's files are joined by NUL)."""
    import icalendar

    found = []
    for part in data.split(b"\0"):
        if not part.strip():
            continue
        part = part.strip().removeprefix(b"\xef\xbb\xbf")  # a byte order mark (Outlook, Windows)
        try:
            text = part.decode("utf-8")
        except UnicodeDecodeError:
            text = part.decode("latin-1")  # some servers still send Latin-1; never fatal
        if "BEGIN:VCALENDAR" not in text[:4096].upper():
            raise NotCalendar("it is not iCalendar (no BEGIN:VCALENDAR)")
        try:
            found.extend(icalendar.Calendar.from_ical(text, multiple=True))
        except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
            raise NotCalendar(f"it is not well-formed iCalendar ({type(exc).__name__})") from None
    if not found:
        raise NotCalendar("it holds no calendar (empty, or cut short)")
    return found


def _estimate(calendar, hi_ts: int, zone: tzinfo) -> float:
    """At most how many occurrences expanding ``calendar`` up to ``hi_ts`` walks through:
    every series from its DTSTART on (what the expansion itself iterates), each event once."""
    total = 0.0
    for event in calendar.walk("VEVENT"):
        total += 1
        rules = event.get("RRULE") or []
        for rule in rules if isinstance(rules, list) else [rules]:  # RRULE may come twice
            try:
                every = _EVERY[str(rule.get("FREQ", ["DAILY"])[0]).upper()]
                interval = max(1, int(rule.get("INTERVAL", [1])[0]))
                start = _moment(event.decoded("DTSTART"), zone)
            except Exception:  # noqa: BLE001 - a series the expansion will refuse or skip
                continue
            many = max(0, hi_ts - start) / (every * interval) + 1
            for key, unit in _BY:
                if unit < every * interval and rule.get(key):
                    many *= len(rule[key])
            if rule.get("COUNT"):
                try:
                    many = min(many, int(rule["COUNT"][0]))
                except (TypeError, ValueError):
                    pass
            total += many
    return total


class TooMany(Exception):
    """More occurrences than ``MAX_OCCURRENCES``."""


def compile_(data: bytes, lo: datetime, hi: datetime, zone: tzinfo, zone_name: str) -> Index:
    """Expand every busy event of ``data`` over ``[lo, hi)``."""
    import recurring_ical_events

    intervals: list[tuple[int, int, int, str]] = []
    summaries: dict[str, int] = {}
    naive_lo = lo.astimezone(zone).replace(tzinfo=None)
    naive_hi = hi.astimezone(zone).replace(tzinfo=None)
    hi_ts, seen = int(hi.timestamp()), 0
    for calendar in calendars(data):
        try:
            if _estimate(calendar, hi_ts, zone) > MAX_OCCURRENCES:
                raise TooMany()
            # lazily, in order of start: stop at the window's end or the cap
            # a series that cannot be read (a bad RRULE, RDATE, EXDATE) refuses the source:
            # skipped, its event would leave the educator free at a time they are not
            for event in recurring_ical_events.of(calendar).after(naive_lo):
                seen += 1
                if seen > MAX_OCCURRENCES:
                    raise TooMany()
                busy = _busy(event, zone)
                if busy is None:
                    continue
                if busy[0] >= hi_ts:
                    break
                summary = _summary(event.get("SUMMARY"))
                which = summaries.setdefault(summary, len(summaries))
                intervals.append((busy[0], busy[1], which, str(event.get("UID", ""))))
        except TooMany:
            raise NotCalendar(f"it unfolds into more than {MAX_OCCURRENCES:,} events") from None
        except Exception as exc:  # noqa: BLE001 - a calendar the libraries cannot expand
            raise NotCalendar(f"its events cannot be read ({type(exc).__name__})") from None
    intervals.sort()
    minted = {str(i): uid for i, (_, _, _, uid) in enumerate(intervals) if uid.endswith(MINTED)}
    return Index(int(lo.timestamp()), hi_ts, zone_name,
                 [i[0] for i in intervals], [i[1] for i in intervals],
                 [i[2] for i in intervals], list(summaries), minted,
                 max((e - s for s, e, _, _ in intervals), default=0))


def _busy(event, zone: tzinfo) -> tuple[int, int] | None:
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return None
    start = event.get("DTSTART")
    if start is None:
        return None
    start = start.dt
    end = event.get("DTEND")
    end = end.dt if end is not None else None
    if end is None:
        duration = event.get("DURATION")
        if duration is not None:
            end = start + duration.dt
        else:  # RFC 5545: a day without DTEND lasts the day; a moment lasts no time
            end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    a, b = _moment(start, zone), _moment(end, zone)
    return (a, b) if b > a else None


def _moment(value, zone: tzinfo) -> int:
    if not isinstance(value, datetime):  # a date: midnight where the educator is
        value = datetime.combine(value, time())
    if value.tzinfo is None:  # floating: where the educator is
        value = value.replace(tzinfo=zone)
    return int(value.timestamp())


def _summary(value) -> str:
    text = "" if value is None else str(value)
    return text[:MAX_SUMMARY]
