"""Time at the database edge: naive UTC inside the store, aware UTC outside.

Every datetime the domain hands a query goes through ``to_db``, and every one it reads from a
row through ``from_db``; nothing else converts.
"""

from __future__ import annotations

from datetime import datetime, timezone


def to_db(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)


def from_db(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # an old or hand-edited row; peewee returns text it cannot parse
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc)
