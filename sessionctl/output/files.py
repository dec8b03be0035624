"""Whole files: a document (a calendar) to stdout or written atomically to ``--out``, with the
rules that keep ``--out`` from following someone else's symlink or destroying a file that is not
a calendar (``docs/reference/input.md``)."""

from __future__ import annotations

import os
import stat
import sys

from sessionctl.errors import Unavailable, UsageError
from sessionctl.output.terminal import guarded

# Errors that mean "this path will not do" (exit 2); anything else writing it is exit 6.
_BAD_PATH = {"EISDIR", "ENOENT", "ENOTDIR", "EACCES", "EPERM", "EROFS", "ENAMETOOLONG", "ELOOP"}


def document(data: bytes, out: str | None) -> None:
    """A whole document (a calendar) to stdout, or atomically to the file ``out``."""
    if out is None:
        with guarded():
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    write_atomic(out, data, replaces=b"BEGIN:VCALENDAR")


def _own_target(path: str, out: str) -> str:
    """The file ``out`` (at ``path``) stands for: itself, or the end of its symlinks when each
    of them and the file they lead to belong to this process's user. A symlink of someone
    else's, one to someone else's file, or one to nothing is refused (exit 2): followed, it
    would let whoever planted it choose a file that a cron job (root's, say) creates or
    replaces. The kernel's protected_symlinks cannot see this (the path is resolved here, in
    sessionctl), so the check is made here, as strictly: wherever the link lives."""
    me, hops = os.geteuid(), 0
    _own_folders(path, out)
    while True:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            if hops:
                raise UsageError(f"cannot write {out}: it is a symlink to {path}, which does not "
                                 "exist", hint="give --out the file itself, or remove the link")
            return path
        if hops and info.st_uid != me and not stat.S_ISLNK(info.st_mode):
            raise UsageError(f"cannot write {out}: it is a symlink to {path}, which belongs to "
                             "someone else", hint="give --out a file of your own")
        if not stat.S_ISLNK(info.st_mode):
            return path
        if info.st_uid != me:
            raise UsageError(f"cannot write {out}: the symlink {path} belongs to someone else",
                             hint="give --out a file of your own, not a link someone else made")
        hops += 1
        if hops > 40:
            raise UsageError(f"cannot write {out}: too many levels of symbolic links")
        path = os.path.join(os.path.dirname(path), os.readlink(path))


def _own_folders(path: str, out: str) -> None:
    """Every symlink among the folders on the way to ``path`` is this process's user's or
    root's (``/bin``, ``/var/run``); one of someone else's would choose the folder the file
    lands in (exit 2). Links are followed here one by one, as the kernel would."""
    me, hops = os.geteuid(), 0
    pending = list(reversed(os.path.dirname(os.path.abspath(path)).split(os.sep)[1:]))
    current = os.sep
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        step = os.path.join(current, part)
        try:
            info = os.lstat(step)
        except OSError:
            return  # a folder that is not there: the write fails on its own, creating nothing
        if not stat.S_ISLNK(info.st_mode):
            current = step
            continue
        if info.st_uid not in (me, 0):
            raise UsageError(f"cannot write {out}: the symlink {step} on its way belongs to "
                             "someone else", hint="give --out a path of your own, not through a "
                             "link someone else made")
        hops += 1
        if hops > 40:
            raise UsageError(f"cannot write {out}: too many levels of symbolic links")
        target = os.readlink(step)
        if target.startswith(os.sep):
            current = os.sep
        pending.extend(reversed(target.split(os.sep)))


def _existing(path, size: int, out: str):
    """The file at ``path`` as it is now: its stat, and when it is a regular file its first
    ``size`` bytes, read without following a symlink (None, b"" when there is none)."""
    import errno

    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None, b""
    if not stat.S_ISREG(info.st_mode) or not info.st_size:
        return info, b""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink put there since it was followed
            raise UsageError(f"cannot write {out}: it changed into a symlink while being checked",
                             hint="give --out a file of your own") from None
        raise
    try:
        return os.fstat(fd), os.read(fd, size)
    finally:
        os.close(fd)


def write_atomic(out: str, data: bytes, *, replaces: bytes) -> None:
    """Write ``out`` so that a reader sees the old file or the new one, never part of one:
    a temp file in the same directory, flushed and fsynced, then renamed over it.

    Only regular files are written: a device, FIFO, socket or directory is refused (exit 2),
    so ``--out /dev/null`` never replaces /dev/null. A file that is replaced keeps its mode and,
    where the user may set them, its owner and group. A symlink of your own to a file of your
    own keeps pointing at the (replaced) file; any other symlink is refused (``_own_target``).
    A non-empty file that does not start with ``replaces`` (a calendar's first line) is refused
    too: ``--out`` pointed at the store, a config file or anything else by mistake must not
    destroy it."""
    import errno
    import tempfile
    from pathlib import Path

    tmp = None
    try:
        path = Path(os.path.realpath(_own_target(os.path.expanduser(out), out)))
        old, head = _existing(path, len(replaces), out)
        if old is not None and not stat.S_ISREG(old.st_mode):
            what = "a directory" if stat.S_ISDIR(old.st_mode) else "not a regular file"
            raise UsageError(f"cannot write {out}: it is {what}", hint="give --out a file name")
        if old is not None and old.st_size and head != replaces:
            raise UsageError(f"cannot write {out}: it holds something else than a "
                             "calendar, which would be lost",
                             hint="give --out a new file name, or remove the file first")
        if old is not None:
            mode = stat.S_IMODE(old.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:200]}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if old is not None and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(tmp, old.st_uid, old.st_gid)
            except PermissionError:  # only root may give a file away; keep what we can
                try:
                    os.chown(tmp, -1, old.st_gid)
                except PermissionError:
                    pass
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if errno.errorcode.get(exc.errno) in _BAD_PATH:
            raise UsageError(f"cannot write {out}: {reason}",
                             hint="give --out a file in a directory you can write") from None
        raise Unavailable(f"cannot write {out}: {reason}; the old file is unchanged") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
