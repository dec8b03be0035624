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
  (a queue lock in the manner of Craig, Landin and Hagersten) and begins its
  transaction; SQLite's own lock still decides, so a writer that bypasses the queue (an
  older sessionctl, the ``sqlite3`` shell) cannot break anything: it is only not queued.
  When its turn ends it records ``t`` as the last ticket completed.
- **No progress, not a long queue.** The lock timeout bounds how long no turn completes,
  not the wait in a queue that moves: while waiting, a writer looks at the last ticket
  completed every so often and starts counting again whenever it changes; what is left of
  the timeout when its turn comes is what it may still wait for SQLite's lock. So behind
  a writer that stopped, everybody gives up after the timeout (those who gave up earlier
  were no progress), saying how long they waited and how many were ahead.

The file can be read and written by whoever may write the store, and nobody else (a lock
needs only read access). When it cannot be used (a read-only folder, something else in its
place, someone else's file) writers go straight to SQLite's lock, as before. One process
never waits for itself: POSIX locks of one process do not conflict, so two stores open in
one process (tests) just write in turn under SQLite's lock.
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

_COUNTERS = struct.Struct("<QQ")  # the last ticket handed out, the last ticket completed
_COMPLETED = struct.Struct("<Q")
_WRAP = 1 << 64  # tickets count on past this, from 0
_DISPENSER = 1 << 40  # byte offsets of the locks, far beyond the counters (locks need no data)
_TICKETS = 1 << 41
_RING = 1 << 30  # tickets reuse bytes after this many: never that many writers at once
_MAX_SIZE = 4096  # a larger file is not ours: left alone
_LOOK = 0.25  # how often a waiter looks at the queue (seconds)
NOTICE_AFTER = 1.0  # a writer waiting this long tells its user (``WriterQueue.waiting``)


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
        self.waiting = None  # called once when a writer has waited NOTICE_AFTER seconds
        self._fd: int | None = None
        self._usable = True

    @contextmanager
    def turn(self) -> Iterator[float]:
        """Wait for this process's turn to write; hold it until the block ends. Yields how
        long SQLite's own lock may still be waited for: the lock timeout less the time the
        queue has not moved (a writer ahead that gave up was no progress)."""
        fd = self._open()
        ticket = None if fd is None else self._take_ticket(fd)
        if ticket is None:
            yield self.timeout
            return
        try:
            since = self._wait(fd, ticket)
            yield max(0.0, self.timeout - (time.monotonic() - since))
        finally:
            if self._fd == fd:  # not when it gave up: the file is closed then
                try:
                    os.pwrite(fd, _COMPLETED.pack(ticket), _COUNTERS.size - _COMPLETED.size)
                except OSError:
                    pass
                _unlock(fd, _TICKETS + ticket % _RING)

    # -- the file --------------------------------------------------------------------------

    def _open(self) -> int | None:
        if self._fd is None and self._usable:
            self._fd = self._open_file()
            self._usable = self._fd is not None
        return self._fd

    def _open_file(self) -> int | None:
        """The queue file beside the store, readable and writable by whoever may write the
        store (a byte-range lock needs only read access: nobody else may take one); None
        when it cannot be used (then SQLite's lock alone decides): not a small regular file,
        or someone else's than the store's owner or this process's."""
        try:
            info = os.stat(self.store_path)
            writers = stat.S_IMODE(info.st_mode) & 0o222
            mode = writers | writers << 1
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        except OSError:
            return None
        try:
            found = os.fstat(fd)
            if (not stat.S_ISREG(found.st_mode) or found.st_size > _MAX_SIZE
                    or found.st_uid not in (info.st_uid, os.geteuid())):
                os.close(fd)
                return None
            if found.st_uid == os.geteuid() and stat.S_IMODE(found.st_mode) != mode:
                os.fchmod(fd, mode)  # the umask narrowed it, or the store's mode changed
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
        """The next ticket, with its byte locked; None when the file cannot be used. The
        dispenser is held for microseconds; one that stays taken (a writer stopped right
        there) makes this writer give up after the lock timeout."""
        began = time.monotonic()
        pause = 0.001
        try:
            while not _try_lock(fd, _DISPENSER):
                if time.monotonic() - began >= self.timeout:
                    raise Busy.after(time.monotonic() - began, 1, self.timeout)
                time.sleep(pause)
                pause = min(pause * 2, _LOOK)
            try:
                last, completed = _read(fd)
                ticket = (last + 1) % _WRAP
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _TICKETS + ticket % _RING)
                os.pwrite(fd, _COUNTERS.pack(ticket, completed), 0)
            finally:
                _unlock(fd, _DISPENSER)
        except OSError:
            return None
        return ticket

    def _wait(self, fd: int, ticket: int) -> float:
        """Sleep until the writer with the previous ticket is done (or gone); return when the
        queue last moved (a turn completed) as far as this writer has seen."""
        ahead = _TICKETS + (ticket - 1) % _RING
        if _try_lock(fd, ahead):
            _unlock(fd, ahead)
            return time.monotonic()
        since = self._wait_in_line(fd, ticket, ahead)
        _unlock(fd, ahead)
        return since

    def _wait_in_line(self, fd: int, ticket: int, ahead: int) -> float:
        """Wait in the kernel for the byte of the writer ahead, looking at the queue every so
        often; give up once no turn has completed for the lock timeout."""
        done = threading.Event()
        failed: list[OSError] = []

        def block() -> None:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX, 1, ahead)
            except OSError as exc:
                failed.append(exc)
            done.set()

        waiter = threading.Thread(target=block, name="sessionctl-queue", daemon=True)
        began = since = time.monotonic()
        _, seen = _read(fd)
        waiter.start()
        self.meanwhile()
        notice = self.waiting
        while not done.wait(min(_LOOK, max(0.0, since + self.timeout - time.monotonic()))):
            _, completed = _read(fd)
            now = time.monotonic()
            if notice is not None and now - began >= NOTICE_AFTER:
                notice()
                notice = None
            if completed != seen:
                seen, since = completed, now
            elif now - since >= self.timeout:
                self._give_up(ticket, completed, now - began)
        if failed and failed[0].errno not in (errno.EINTR,):
            raise failed[0]
        return since

    def _give_up(self, ticket: int, completed: int, waited: float) -> None:
        ahead = max(1, (ticket - completed - 1) % _WRAP)  # the tickets between the last done and this
        # Leaving the line: the kernel drops the blocked lock request with the file, and the
        # writer behind this one inherits its wait (no turn completed: no progress for it).
        self.close()
        self._usable = False
        raise Busy.after(waited, ahead, self.timeout)


def _read(fd: int) -> tuple[int, int]:
    """The last ticket handed out and the last completed (0, 0 for a new or short file)."""
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
