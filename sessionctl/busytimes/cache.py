"""The cache of busy sources (``docs/reference/busy-times.md#caching``): per source, its bytes as
last fetched (``KEY.ics``) and its events compiled (``KEY.json``, with the time of the fetch),
``KEY`` the SHA-256 of the source, in a directory only its owner can read (0700): one found
looser is made so when it is ours, and one that is a symbolic link or someone else's is refused.

A URL younger than ``ttl`` is not fetched; an older one is fetched again, and if that fails a
copy younger than ``STALE`` is used with a warning; otherwise the failure stands. A file or vdir
is read every time and compiled again only when its bytes changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timedelta, tzinfo

from sessionctl.busytimes import fetch, index
from sessionctl.busytimes.sources import is_url, shown

STALE = timedelta(hours=24)


class Unreadable(Exception):
    """A source that failed with no cached copy young enough: the reason, source masked."""


class NotPrivate(Exception):
    """The cache directory cannot be made private: a symbolic link, someone else's, or not
    a directory (the message names it)."""


def _private(directory: str) -> None:
    """The cache directory exists and only its owner, this user, can read it: made 0700 if
    missing, and made 0700 if it is ours but looser; ``NotPrivate`` if it is a symbolic link
    or belongs to someone else (its cached calendars would be theirs to read or forge)."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        what = ("is a symbolic link" if os.path.islink(directory)
                else f"cannot be used: {(exc.strerror or str(exc)).lower()}")
        raise NotPrivate(f"the busy cache directory {directory!r} {what}") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise NotPrivate(f"the busy cache directory {directory!r} belongs to another user "
                             f"(uid {st.st_uid})")
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def load(directory: str, source: str, rules: fetch.Rules, *, now: datetime, ttl: timedelta,
         zone: tzinfo, zone_name: str, lo: datetime, hi: datetime,
         warnings: list[str]) -> index.Index:
    """The compiled events of ``source`` covering ``[lo, hi)``: a URL from the cache while it
    is fresh, else fetched anew; a file or vdir read each time (it is local), compiled anew
    only when its bytes changed. ``Unreadable`` when reading fails and no copy is young
    enough (then a warning in ``warnings``, and the copy)."""
    _private(directory)
    key = os.path.join(directory, hashlib.sha256(source.encode()).hexdigest())
    meta = None
    text = _read(key + ".json")
    if text is not None:
        try:
            meta = json.loads(text)
            meta["fetched"] = datetime.fromtimestamp(meta["fetched"], now.tzinfo)
            meta["index"] = index.Index.of(meta["index"])
        except (ValueError, KeyError, TypeError, OverflowError, AttributeError):
            meta = None  # a damaged cache is no cache
    fetched = meta["fetched"] if meta else None
    if meta and is_url(source) and fetched <= now and now - fetched < ttl:
        if meta["index"].covers(lo, hi, zone_name):
            return meta["index"]
        data = _read(key + ".ics")
        if data is not None:
            return _save(key, data, fetched, now, zone, zone_name, lo, hi)
    try:
        data = fetch.read(source, rules)
        digest = hashlib.sha256(data).hexdigest()
        if meta and meta.get("sha") == digest and meta["index"].covers(lo, hi, zone_name):
            _write(key + ".json", _meta(meta["index"], now, digest))
            return meta["index"]
        return _save(key, data, now, now, zone, zone_name, lo, hi, write_data=True)
    except (fetch.FetchError, index.NotCalendar) as exc:
        reason = str(exc) if isinstance(exc, fetch.FetchError) else \
            f"busy source {shown(source)}: {exc}"
        old = _read(key + ".ics") if fetched is not None and now - fetched < STALE else None
        if old is None:
            raise Unreadable(reason) from None
        age = int((now - fetched).total_seconds() // 60)
        warnings.append(f"{reason}; using the copy read {age} min ago")
        if meta["index"].covers(lo, hi, zone_name):
            return meta["index"]
        return _save(key, old, fetched, now, zone, zone_name, lo, hi)


def _meta(compiled: index.Index, fetched: datetime, digest: str) -> bytes:
    return (f'{{"fetched":{fetched.timestamp()},"sha":"{digest}",'
            f'"index":{compiled.dumps()}}}').encode()


def _save(key: str, data: bytes, fetched: datetime, now: datetime, zone: tzinfo,
          zone_name: str, lo: datetime, hi: datetime, write_data: bool = False) -> index.Index:
    start, end = index.span(now, lo, hi)
    compiled = index.compile_(data, start, end, zone, zone_name)
    if write_data:
        _write(key + ".ics", data)
    _write(key + ".json", _meta(compiled, fetched, hashlib.sha256(data).hexdigest()))
    return compiled
