"""WHEN / DURATION / zone parsing (a leaf: anyone may import it).

Instants leave this module as aware UTC datetimes truncated to the second.
dateutil is imported only when an input needs it, to keep start-up cheap.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sessionctl.errors import UsageError

UTC = timezone.utc

EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
MAX_DURATION = timedelta(days=3660)
_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?$")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def zone(name: str) -> ZoneInfo:
    """An IANA zone by name; exit 2 if there is no such zone."""
    try:
        if not name or name != name.strip() or ".." in name:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Berlin or UTC"
        ) from None


def system_zone() -> tzinfo:
    """The machine's zone, by IANA name where it can be found."""
    candidates = []
    if os.environ.get("TZ"):
        candidates.append(os.environ["TZ"].lstrip(":"))
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            candidates.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        with open("/etc/timezone", encoding="utf-8") as fh:
            candidates.append(fh.read().strip())
    except OSError:
        pass
    for name in candidates:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return ZoneInfo("UTC")


def zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def parse_duration(text: str) -> timedelta:
    """``30m``, ``1h``, ``1h30m``, ``90m``, ``2d``; a bare number is refused."""
    raw = text.strip().lower().replace(" ", "")
    match = _DURATION.match(raw)
    if not raw or not match or not any(match.groupdict().values()):
        raise UsageError(
            f"invalid duration {text!r}", hint="write it like 30m, 1h, 1h30m or 2d"
        )
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    minutes = parts["d"] * 1440 + parts["h"] * 60 + parts["m"]
    if minutes <= 0:
        raise UsageError(f"duration {text!r} must be longer than zero")
    if minutes > MAX_DURATION.total_seconds() // 60:
        raise UsageError(f"duration {text!r} is longer than {MAX_DURATION.days} days")
    return timedelta(minutes=minutes)


def parse_when(text: str, *, tz: tzinfo, now: datetime) -> datetime:
    """An instant from ISO 8601 or any form dateutil parses; no offset means ``tz``."""
    raw = text.strip()
    if not raw:
        raise UsageError("empty date/time", hint="write it like 2026-12-01 14:00")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        value = _dateutil_parse(raw, now.astimezone(tz))
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    if not EARLIEST.date() < value.date() < LATEST.date():
        raise UsageError(f"{raw!r} is out of range: use a date between 1970 and 9000")
    return value.astimezone(UTC).replace(microsecond=0)


def _dateutil_parse(raw: str, local_now: datetime) -> datetime:
    from dateutil import parser

    default = local_now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    try:
        return parser.parse(raw, default=default)
    except (ValueError, OverflowError, parser.ParserError):
        raise UsageError(
            f"cannot read {raw!r} as a date/time",
            hint="use ISO 8601 such as 2026-12-01T14:00 or 2026-12-01 14:00+01:00",
        ) from None


def format_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
