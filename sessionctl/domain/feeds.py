"""Feeds: each user's own calendar as a file a calendar app subscribes to
(``docs/reference/calendars.md#feeds``).

``feed url`` gives the caller a secret token (160 random bits, as 40 hex digits) once and
prints ``feed_base`` + ``TOKEN.ics``; ``feed reset`` replaces it. ``feed write`` (admins, from
cron) writes ``DIR/TOKEN.ics`` for every user with a token and removes the files of tokens
that are gone. A file name is only ever a token this module minted and re-checks, never input.

The directory is opened once and everything happens relative to that descriptor, never
following a symbolic link: a link where a feed file goes is exit 6 before anything is
written, and nothing outside the directory is touched. It must not be listable by others
(the file names are the secrets). Each file is written to a temporary name, flushed, made
mode 0644 and renamed over the old one, and only when its content changed, so subscribers'
conditional requests see an unchanged feed as unchanged. The store is read in one snapshot;
nothing here runs under the write lock but the token's own short write.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta

from sessionctl.domain import access, calendar
from sessionctl.domain.context import Context, store_id
from sessionctl.domain.texts import shown_name
from sessionctl.errors import Unavailable, UsageError
from sessionctl.statuses import EXPORTED
from sessionctl.store import queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import FeedToken, Request, Slot, User

TOKEN = re.compile(r"[0-9a-f]{40}")
FILE = re.compile(r"([0-9a-f]{40})\.ics")
PAST = timedelta(days=30)  # a feed holds sessions from this long ago on


def _base(feed_base: str | None) -> str:
    if not feed_base:
        raise UsageError("no feed_base is set: the web address where the feed directory is served",
                         hint='set feed_base = "https://…/" in the config file (or SESSIONCTL_FEED_BASE)')
    return feed_base if feed_base.endswith("/") else feed_base + "/"


def _new_token() -> str:
    import secrets

    return secrets.token_hex(20)


def url(ctx: Context, feed_base: str | None, *, reset: bool = False) -> str:
    """The caller's feed URL, minting their token the first time (or a new one: ``reset``)."""
    base = _base(feed_base)
    with ctx.read():
        token = _token_of(ctx.actor.id)
    if token is None or reset:
        fresh = _new_token()
        with ctx.write(people=[ctx.actor.id]):
            now = _token_of(ctx.actor.id)
            if now == token:  # nobody else changed it meanwhile (a second run, a reset)
                (FeedToken.insert(user=ctx.actor.id, token=fresh)
                 .on_conflict(conflict_target=[FeedToken.user], update={FeedToken.token: fresh})
                 .execute())
                now = fresh
        token = now
    return f"{base}{token}.ics"


def _token_of(user_id: int) -> str | None:
    row = FeedToken.get_or_none(FeedToken.user == user_id)
    return row.token if row else None


# -- what each feed holds ---------------------------------------------------------------------


class Feed:
    """One user's feed: its events and name, their ``digest``, and the file's bytes."""

    def __init__(self, events, name: str):
        from sessionctl import ics

        self.events, self.name = events, name
        self.digest = ics.digest(events, name)

    def data(self) -> bytes:
        from sessionctl import ics

        return ics.calendar(self.events, name=self.name, method="PUBLISH", feed=True,
                            fingerprint=self.digest)


def feeds(ctx: Context) -> dict[str, Feed]:
    """``{token: Feed}`` for every user with a token, read in one snapshot."""
    now = ctx.now()
    with ctx.read():
        access.require_role(ctx, "admin", doing="run feed write")
        people = list(User.select(User, FeedToken.token).join(FeedToken, attr="feed")
                      .order_by(User.id))
        rows = list(queries.requests().where(
            Request.status.in_(EXPORTED), Slot.ends_at >= to_db(now - PAST)))
        store = store_id()
        sessions = calendar.Sessions(rows, store)
        teaching = {u.id for u in people if u.role != "student"}
        free = list(queries.slots().where(
            Slot.educator.in_(list(teaching) or [0]), Slot.cancelled_at.is_null(),
            Slot.booked < Slot.capacity, Slot.starts_at > to_db(now))
            .order_by(Slot.starts_at)) if teaching else []
    theirs: dict[int, list] = {u.id: [] for u in people}
    for r in sessions.newest:
        for who in {r.student_id, r.slot.educator_id}:
            if who in theirs:
                theirs[who].append(r)
    open_slots: dict[int, list] = {}
    for slot in free:
        open_slots.setdefault(slot.educator_id, []).append(_free(slot, store))
    made = {}
    for user in people:
        if not TOKEN.fullmatch(user.feed.token):
            continue  # not a token this module minted: never a file name
        events = sessions.events(user.id, rows=theirs[user.id]) + open_slots.get(user.id, [])
        made[user.feed.token] = Feed(events, f"sessionctl: {shown_name(user)}")
    return made


def _free(slot: Slot, store: str) -> calendar.EventView:
    """An open slot as free time in its educator's feed."""
    course, seats = slot.course, slot.capacity - slot.booked
    return calendar.EventView(
        uid=f"open-{slot.id}-{store}@sessionctl", sequence=0, status="CONFIRMED",
        start=from_db(slot.starts_at), end=from_db(slot.ends_at),
        summary=f"Open: {course.code} ({course.title}), {seats} of {slot.capacity} "
                f"seat{'s' if slot.capacity != 1 else ''} free",
        description=f"Slot: {slot.id} (sessionctl slot show {slot.id})",
        link=slot.link, organizer=(shown_name(slot.educator), None), attendees=[],
        created=from_db(slot.created_at), updated=from_db(slot.updated_at), transparent=True)


# -- the directory ----------------------------------------------------------------------------


def write(ctx: Context, directory: str) -> dict[str, int]:
    """Write every feed into ``directory``; see the module's notes."""
    wanted = feeds(ctx)
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise Unavailable(f"cannot open the feed directory {directory!r}: "
                          f"{(exc.strerror or str(exc)).lower()}",
                          hint="create it (mode 0711) or set feed_dir") from None
    try:
        return _write_all(fd, directory, wanted)
    finally:
        os.close(fd)


def _write_all(fd: int, directory: str, wanted: dict[str, Feed]) -> dict[str, int]:
    mode = os.fstat(fd).st_mode
    if mode & stat.S_IROTH:
        raise Unavailable(f"the feed directory {directory!r} is listable by others (mode "
                          f"{stat.S_IMODE(mode):04o}): anyone could read the secret file names",
                          hint=f"chmod 0711 {directory}")
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        raise Unavailable(f"the feed directory {directory!r} is writable by others (mode "
                          f"{stat.S_IMODE(mode):04o}): anyone could replace a feed",
                          hint=f"chmod 0711 {directory}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise Unavailable(f"cannot write in the feed directory {directory!r}",
                          hint="run feed write as the account that owns it")
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)  # two runs at once take turns (released when fd closes)
    present = {}
    for name in os.listdir(fd):
        if FILE.fullmatch(name):
            try:
                present[name] = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:  # removed meanwhile by someone else
                continue
    for name, st in present.items():
        if not stat.S_ISREG(st.st_mode):
            raise Unavailable(f"{os.path.join(directory, name)} is not a plain file (a symbolic "
                              "link?); nothing was written", hint="remove it, then run feed write again")
    counts = {"written": 0, "unchanged": 0, "removed": 0}
    for token, made in wanted.items():
        name = f"{token}.ics"
        if name in present and _same(fd, name, made.digest):
            counts["unchanged"] += 1
            continue
        _replace(fd, directory, name, made.data())
        counts["written"] += 1
    for name in present:
        if FILE.fullmatch(name).group(1) not in wanted:
            try:
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                continue
            counts["removed"] += 1
    return counts


def _same(fd: int, name: str, digest: str) -> bool:
    """The file holds the feed whose content has this digest (in its first lines): building
    the calendar again would give the same bytes."""
    try:
        handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    except OSError:
        return False
    with os.fdopen(handle, "rb") as f:
        # the header, a calendar name of 2,000 characters included, unfolded (RFC 5545 folds
        # lines at 75 octets)
        head = f.read(16384).replace(b"\r\n ", b"")
        return f"\r\nX-SESSIONCTL-DIGEST:{digest}\r\n".encode() in head


def _replace(fd: int, directory: str, name: str, data: bytes) -> None:
    """``name`` in the directory ``fd`` holds ``data`` afterwards, in one rename."""
    import secrets

    temp = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                         dir_fd=fd)
        try:
            _write_fully(handle, data)
            os.fchmod(handle, 0o644)
            os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
    except OSError as exc:
        try:
            os.unlink(temp, dir_fd=fd)
        except OSError:
            pass
        raise Unavailable(f"cannot write a feed file in {directory!r}: "
                          f"{(exc.strerror or str(exc)).lower()}") from None


def _write_fully(handle: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view):]
