"""A slot's time window and the limits on it (``docs/reference/time.md#series``): a leaf that slots and series share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from sessionctl.errors import UsageError

MAX_LENGTH = timedelta(hours=12)
MAX_SERIES = 1000


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def label(self, tz: tzinfo = timezone.utc) -> str:
        start, end = self.start.astimezone(tz), self.end.astimezone(tz)
        if start.utcoffset() != end.utcoffset():  # across a DST change: each end its own
            return f"{start:%Y-%m-%d %H:%M} {start:%Z}–{end:%H:%M} {end:%Z}"
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} {start:%Z}"


def check_order(start: datetime, end: datetime) -> None:
    if end <= start:
        raise UsageError(
            f"the slot must end after it starts ({start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC)"
        )


def check_window(start: datetime, end: datetime) -> Window:
    check_order(start, end)
    if end - start > MAX_LENGTH:
        from sessionctl.domain.policy import span

        raise UsageError(f"a slot lasts at most 12 hours, not {span(end - start, up=True)}")
    return Window(start, end)
