"""Feeds: each user's own calendar as a file a calendar app subscribes to
(``docs/reference/calendars.md#feeds``).

``feed url`` gives the caller a secret token (160 random bits, as 40 hex digits) once and
prints ``feed_base`` + ``TOKEN.ics``; ``feed reset`` replaces it. ``feed write`` (admins, from
cron) writes ``DIR/TOKEN.ics`` for every user with a token and removes the files of tokens
that are gone. A file name is only ever a token this module minted and re-checks, never input.

The directory is opened once and everything happens relative to that descriptor, never
following a symbolic link: a link where a feed file goes is exit 6 before anything is
written, and nothing outside the directory is touched. It must not be listable by others
(the file names are the secrets). Each file is written to a temporary name, made mode 0644,
flushed to disk (for many feeds, all of them with one sync: one flush per file cost seconds)
and renamed over the old one, and only when its content changed, so subscribers'
conditional requests see an unchanged feed as unchanged. The store is read in one snapshot;
nothing here runs under the write lock but the token's own short write.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta
from types import SimpleNamespace

from sessionctl import __version__
from sessionctl.domain import access, calendar
from sessionctl.domain.context import Context, store_id
from sessionctl.domain.texts import shown_name
from sessionctl.errors import Unavailable, UsageError
from sessionctl.statuses import EXPORTED
from sessionctl.store import queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Course, FeedToken, Request, Slot, User

TOKEN = re.compile(r"[0-9a-f]{40}")
FILE = re.compile(r"([0-9a-f]{40})\.ics")
TEMP = re.compile(r"\.[0-9a-f]{40}\.ics\.[0-9a-f]{12}\.tmp")  # ``_stage``'s names
PAST = timedelta(days=30)  # a feed holds sessions from this long ago on
FEW = 32  # up to this many feeds, each file is flushed to disk alone; beyond, all with one sync


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
    """One user's feed: its name, the ``digest`` of what it is made of (``inputs``), and the
    file's bytes, whose events are built (``events()``) only when the file is written."""

    def __init__(self, store: str, name: str, inputs, events):
        import hashlib

        self.store, self.name, self._events = store, name, events
        self.digest = hashlib.sha256(f"{__version__}\0{store}\0{name}\0{inputs!r}".encode(
            "utf-8", "surrogatepass")).hexdigest()

    def data(self) -> bytes:
        from sessionctl import ics

        return ics.calendar(self._events(), name=self.name, method="PUBLISH", feed=True,
                            fingerprint=self.digest, owner=self.store)


def feeds(ctx: Context) -> tuple[str, dict[str, Feed]]:
    """The store's id and ``{token: Feed}`` for every user with a token, read in one
    snapshot: the sessions of every feed in one query, as tuples, grouped here by user (no
    query per user)."""
    now = ctx.now()
    with ctx.read():
        access.require_role(ctx, "admin", doing="run feed write")
        people = queries.raw(User.select(User.id, User.name, User.display, User.role, FeedToken.token)
                             .join(FeedToken, on=(FeedToken.user == User.id)).order_by(User.id))
        recent = (Request.status.in_(EXPORTED), Slot.ends_at >= to_db(now - PAST))
        rows = calendar.plain_rows(queries.event_rows().where(*recent))
        store = store_id()
        sessions = calendar.Sessions(
            rows, store, Request.select(Request.id).join(Slot, on=Request.slot).where(*recent))
        teaching = [i for i, _, _, role, _ in people if role != "student"]
        free = queries.raw(Slot.select(
            Slot.id, Slot.educator, Slot.starts_at, Slot.ends_at, Slot.capacity, Slot.booked,
            Slot.link, Slot.created_at, Slot.updated_at, Course.code, Course.title)
            .join(Course, on=Slot.course).where(
            Slot.educator.in_(teaching), Slot.cancelled_at.is_null(),
            Slot.booked < Slot.capacity, Slot.starts_at > to_db(now))
            .order_by(Slot.starts_at, Slot.id)) if teaching else []
        # the events and digests below read the rows above only, except a group slot's
        # event, which looks up the slot's students: inside the snapshot too
        theirs: dict[int, list] = {i: [] for i, *_ in people}
        for r in sessions.newest:
            for who in {r.student_id, r.slot.educator_id}:
                if who in theirs:
                    theirs[who].append(r)
        shown = {i: shown_name(SimpleNamespace(name=name, display=display))
                 for i, name, display, _, _ in people}
        open_slots: dict[int, list] = {}
        for slot in free:
            open_slots.setdefault(slot[1], []).append(_free(slot, shown[slot[1]], store))
        made = {}
        for user_id, _, _, _, token in people:
            if not TOKEN.fullmatch(token):
                continue  # not a token this module minted: never a file name
            mine, spare = theirs[user_id], open_slots.get(user_id, [])
            made[token] = Feed(
                store, f"sessionctl: {shown[user_id]}",
                (user_id, sessions.inputs(user_id, mine), [e._values() for e in spare]),
                lambda user_id=user_id, mine=mine, spare=spare:
                    sessions.events(user_id, rows=mine) + spare)
    return store, made


def _free(slot: tuple, educator: str, store: str) -> calendar.EventView:
    """An open slot (a row of ``feeds``' query) as free time in its educator's feed."""
    slot_id, _, starts, ends, capacity, booked, link, created, updated, code, title = slot
    seats = capacity - booked
    # a slot keeps no history to count: the seconds from its creation to its last change
    # rise with every change (a moved slot's event moves in calendars that go by SEQUENCE)
    sequence = max(0, int((from_db(updated) - from_db(created)).total_seconds()))
    return calendar.EventView(
        uid=f"open-{slot_id}-{store}@sessionctl", sequence=sequence, status="CONFIRMED",
        start=from_db(starts), end=from_db(ends),
        summary=f"Open: {code} ({title}), {seats} of {capacity} "
                f"seat{'s' if capacity != 1 else ''} free",
        description=f"Slot: {slot_id} (sessionctl slot show {slot_id})",
        link=link, organizer=(educator, None), attendees=[],
        created=from_db(created), updated=from_db(updated), transparent=True)


# -- the directory ----------------------------------------------------------------------------


def write(ctx: Context, directory: str) -> dict[str, int]:
    """Write every feed into ``directory``; see the module's notes."""
    store, wanted = feeds(ctx)
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise Unavailable(f"cannot open the feed directory {directory!r}: "
                          f"{(exc.strerror or str(exc)).lower()}",
                          hint="create it (mode 0711) or set feed_dir") from None
    try:
        return _write_all(fd, directory, store, wanted)
    finally:
        os.close(fd)


def _write_all(fd: int, directory: str, store: str, wanted: dict[str, Feed]) -> dict[str, int]:
    mode = os.fstat(fd).st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        raise Unavailable(f"the feed directory {directory!r} is listable by its group or others (mode "
                          f"{stat.S_IMODE(mode):04o}): anyone could read the secret file names",
                          hint=f"chmod 0711 {directory}")
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        raise Unavailable(f"the feed directory {directory!r} is writable by its group or others (mode "
                          f"{stat.S_IMODE(mode):04o}): anyone could replace a feed",
                          hint=f"chmod 0711 {directory}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise Unavailable(f"cannot write in the feed directory {directory!r}",
                          hint="run feed write as the account that owns it")
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)  # two runs at once take turns (released when fd closes)
    present, stale = set(), []
    with os.scandir(fd) as entries:  # the type from the listing: no stat per file
        for entry in entries:
            found = FILE.fullmatch(entry.name)
            if not found:
                if TEMP.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    stale.append(entry.name)  # a run killed before its renames left it
                continue
            if not entry.is_file(follow_symlinks=False):
                if found.group(1) not in wanted:
                    continue  # not where a feed of ours goes: never touched

                try:
                    os.stat(entry.name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:  # removed meanwhile by someone else
                    continue
                raise Unavailable(f"{os.path.join(directory, entry.name)} is not a plain file (a "
                                  "symbolic link?); nothing was written",
                                  hint="remove it, then run feed write again")
            present.add(entry.name)
    counts = {"written": 0, "unchanged": 0, "removed": 0}
    staged: list[tuple[str, str]] = []  # (temporary name, feed file) written, not yet renamed
    try:
        for token, made in wanted.items():
            name = f"{token}.ics"
            if name in present and _same(fd, name, made.digest):
                counts["unchanged"] += 1
                continue
            staged.append((_stage(fd, directory, name, made.data(), sync=len(wanted) <= FEW), name))
        if staged and len(wanted) > FEW:
            os.sync()  # every new file on disk before any rename: one flush, not one per file
        while staged:
            temp, name = staged[-1]
            try:
                os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except OSError as exc:
                raise _cannot(directory, exc) from None
            staged.pop()
            counts["written"] += 1
        if counts["written"]:
            os.fsync(fd)  # and the renames
    finally:
        for temp, _ in staged:  # a failure left these: remove them
            _unlink(fd, temp)
    mark = f"\r\nX-SESSIONCTL-STORE:{store}\r\n".encode()
    for name in stale:  # under the lock no run is writing: a temporary file of ours is left over
        if mark in _head(fd, name):
            _unlink(fd, name)
    for name in present:
        if FILE.fullmatch(name).group(1) in wanted or mark not in _head(fd, name):
            continue  # a feed of ours, or another store's file (or a stranger's): left alone
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            continue
        counts["removed"] += 1
    return counts


def _same(fd: int, name: str, digest: str) -> bool:
    """The file holds the feed whose content has this digest (in its first lines): building
    the calendar again would give the same bytes."""
    return f"\r\nX-SESSIONCTL-DIGEST:{digest}\r\n".encode() in _head(fd, name)


def _head(fd: int, name: str) -> bytes:
    """The start of a feed file, unfolded (RFC 5545 folds lines at 75 octets): its header,
    a calendar name of 2,000 characters included; nothing if it cannot be read as a plain
    file."""
    try:
        handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return b""
        return os.read(handle, 16384).replace(b"\r\n ", b"")
    except OSError:
        return b""
    finally:
        os.close(handle)


def _stage(fd: int, directory: str, name: str, data: bytes, *, sync: bool) -> str:
    """A new temporary file in the directory ``fd`` holding ``data`` (mode 0644, flushed to
    disk when ``sync``), to be renamed over ``name``: its name."""
    import secrets

    temp = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                         dir_fd=fd)
        try:
            _write_fully(handle, data)
            os.fchmod(handle, 0o644)
            if sync:
                os.fsync(handle)
        finally:
            os.close(handle)
    except OSError as exc:
        _unlink(fd, temp)
        raise _cannot(directory, exc) from None
    return temp


def _cannot(directory: str, exc: OSError) -> Unavailable:
    return Unavailable(f"cannot write a feed file in {directory!r}: "
                       f"{(exc.strerror or str(exc)).lower()}")


def _unlink(fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=fd)
    except OSError:
        pass


def _write_fully(handle: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view):]
