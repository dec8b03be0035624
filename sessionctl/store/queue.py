"""The writers' queue of a SQLite store: writers take turns in the order they came.

SQLite has no queue of its own: a writer that finds the store locked sleeps and polls
(its busy handler), so under a rush the waiters starve while newcomers slip in, and a
writer can be turned away after the lock timeout although nobody held the lock that long.
So before ``BEGIN IMMEDIATE`` every sessionctl writer lines up here, in a small file beside
the store (``<store>-lock``), with POSIX byte-range locks, which the kernel releases when
a process ends however it ends:

- **A ticket.** Under a short lock on the dispenser byte a writer reads the last ticket
  handed out, takes the next one, ``t``, and locks its own byte ``t`` before letting the
  next writer in: its byte is locked for as long as it waits and writes.
- **Its turn.** It then waits (asleep, in the kernel) for the byte of ticket ``t - 1``:
  that writer has finished, or died, when the byte is free. Then it is first in line
  (a queue lock in the manner of Craig, Landin and Hagersten), records ``t`` as the
  ticket being served, and begins its transaction; SQLite's own lock still decides, so
  a writer that bypasses the queue (an older sessionctl, the ``sqlite3`` shell) cannot
  break anything: it is only not queued.
- **No progress, not a long queue.** The lock timeout bounds how long the writer ahead
  keeps its turn, not the wait in a queue that moves: while waiting, a writer looks at
  the ticket being served every so often and starts counting again whenever it changes.
  When it gives up it says how long it waited and how many were ahead.

When the file cannot be used (a read-only directory, someone else's file) writers go
straight to SQLite's lock, as before. One process never waits for itself: POSIX locks of
one process do not conflict, so two stores open in one process (tests) just write in turn
under SQLite's lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from sessionctl.errors import Unavailable

_COUNTERS = struct.Struct("<QQ")  # the last ticket handed out, the ticket being served
_SERVING = struct.Struct("<Q")
_DISPENSER = 1 << 40  # byte offsets of the locks, far beyond the counters (locks need no data)
_TICKETS = 1 << 41
_RING = 1 << 30  # tickets reuse bytes after this many: never that many writers at once
_MAX_SIZE = 4096  # a larger file is not ours: left alone
_LOOK = 0.25  # how often a waiter looks at the queue (seconds)


class Busy(Unavailable):
    """The writer ahead kept the store beyond the lock timeout: nothing was changed."""

    @classmethod
    def after(cls, waited: float, ahead: int, timeout: float) -> "Busy":
        """What happened: how long this writer waited, and how many were ahead of it."""
        others = "1 writer" if ahead == 1 else f"{ahead} writers"
        return cls(
            f"the store is busy: waited {waited:.0f} s in line with {others} ahead, and the "
            f"one being served made no progress for {timeout:g} s; nothing changed",
            hint="try again, or raise SESSIONCTL_LOCK_TIMEOUT",
        )


class WriterQueue:
    """The queue of one SQLite store, its file opened on the first write."""

    def __init__(self, store_path: str, timeout: float, meanwhile=lambda: None):
        self.path = store_path + "-lock"
        self.store_path = store_path
        self.timeout = timeout
        self.meanwhile = meanwhile  # work a waiting writer does instead of holding the lock
        self._fd: int | None = None
        self._usable = True

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this process's turn to write; hold it until the block ends."""
        fd = self._open()
        if fd is None:
            yield
            return
        ticket = self._take_ticket(fd)
        if ticket is None:
            yield
            return
        try:
            self._wait(fd, ticket)
            yield
        finally:
            if self._fd == fd:  # not when it gave up: the file is closed then
                _unlock(fd, _TICKETS + ticket % _RING)

    # -- the file --------------------------------------------------------------------------

    def _open(self) -> int | None:
        if self._fd is None and self._usable:
            self._fd = self._open_file()
            self._usable = self._fd is not None
        return self._fd

    def _open_file(self) -> int | None:
        """The queue file, created beside the store with the store's own permissions; None
        when it cannot be used (then SQLite's lock alone decides)."""
        try:
            mode = stat.S_IMODE(os.stat(self.store_path).st_mode) & 0o666
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_SIZE:
                os.close(fd)
                return None
            if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != mode:
                os.fchmod(fd, mode)  # the umask narrowed it: writers of the store need it too
        except OSError:
            os.close(fd)
            return None
        return fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- tickets ----------------------------------------------------------------------------

    def _take_ticket(self, fd: int) -> int | None:
        """The next ticket, with its byte locked; None when the file cannot be used."""
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, _DISPENSER)  # held for a few microseconds
            try:
                last, serving = _read(fd)
                ticket = last + 1
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _TICKETS + ticket % _RING)
                os.pwrite(fd, _COUNTERS.pack(ticket, serving), 0)
            finally:
                _unlock(fd, _DISPENSER)
        except OSError:
            return None
        return ticket

    def _wait(self, fd: int, ticket: int) -> None:
        """Sleep until the writer with the previous ticket is done; then this one is served."""
        ahead = _TICKETS + (ticket - 1) % _RING
        if not _try_lock(fd, ahead):
            self._wait_in_line(fd, ticket, ahead)
        _unlock(fd, ahead)
        try:
            os.pwrite(fd, _SERVING.pack(ticket), _COUNTERS.size - _SERVING.size)
        except OSError:
            pass

    def _wait_in_line(self, fd: int, ticket: int, ahead: int) -> None:
        """Wait in the kernel for the byte of the writer ahead, looking at the queue every so
        often; give up once the writer being served has not changed for the lock timeout."""
        done = threading.Event()
        failed: list[OSError] = []

        def block() -> None:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX, 1, ahead)
            except OSError as exc:
                failed.append(exc)
            done.set()

        waiter = threading.Thread(target=block, name="sessionctl-queue", daemon=True)
        began = time.monotonic()
        _, seen = _read(fd)
        since = began
        waiter.start()
        self.meanwhile()
        while not done.wait(min(_LOOK, max(0.0, since + self.timeout - time.monotonic()))):
            _, serving = _read(fd)
            now = time.monotonic()
            if serving != seen:
                seen, since = serving, now
            elif now - since >= self.timeout:
                self._give_up(fd, ticket, serving, now - began)
        if failed and failed[0].errno not in (errno.EINTR,):
            raise failed[0]

    def _give_up(self, fd: int, ticket: int, serving: int, waited: float) -> None:
        ahead = max(1, ticket - serving)  # the one being served, and those waiting before this one
        # Leaving the line: the writers behind this one now wait for the ones ahead of it
        # under SQLite's lock; the kernel drops the blocked lock request with the file.
        self.close()
        self._usable = False
        raise Busy.after(waited, ahead, self.timeout)


def _read(fd: int) -> tuple[int, int]:
    data = os.pread(fd, _COUNTERS.size, 0)
    return _COUNTERS.unpack(data) if len(data) == _COUNTERS.size else (0, 0)


def _try_lock(fd: int, offset: int) -> bool:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        return True
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise


def _unlock(fd: int, offset: int) -> None:
    try:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
    except OSError:
        pass
