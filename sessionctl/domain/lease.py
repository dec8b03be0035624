"""Named leases (``leases``, migration 3) that keep two runs of a cron job apart: ``notify
send`` holds ``mail``, ``hooks run`` holds ``hooks`` (``docs/reference/cron-and-mail.md``).

A lease has an expiry, renewed as the run goes, so a crashed run's lease lapses by itself. Its
owner names the process (``PID:TOKEN@HOST``): a run killed on this machine (``kill -9``, a
reboot's lost process) is known dead at once, and the next run takes over without waiting.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

from sessionctl.domain.context import Context
from sessionctl.errors import Unavailable
from sessionctl.store import queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Lease


def _dead(owner: str) -> bool:
    """Whether ``owner`` names a process of this machine that no longer runs."""
    pid, _, rest = owner.partition(":")
    if not pid.isdigit() or rest.rpartition("@")[2] != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it runs, as someone else
        return False
    return False


@contextmanager
def hold(ctx: Context, name: str, length: timedelta, busy: str, hint: str) -> Iterator:
    """Hold lease ``name``, waiting up to the store's lock timeout for another run's (then exit
    6: ``busy``, its ``{until}`` the other claim's expiry, and ``hint``). Yields ``renew()``, to be called inside the caller's writes:
    False once another run has taken the lease over."""
    owner = f"{os.getpid()}:{uuid.uuid4().hex[:16]}@{socket.gethostname()}"[:200]
    deadline = time.monotonic() + ctx.store.timeout
    while True:
        with ctx.write():
            now = ctx.now()
            Lease.delete().where(Lease.name == name, Lease.expires_at <= to_db(now)).execute()
            holder = Lease.get_or_none(Lease.name == name)
            if holder is not None and _dead(holder.owner):
                Lease.delete().where(Lease.name == name, Lease.owner == holder.owner).execute()
            taken = (
                Lease.insert(name=name, owner=owner, expires_at=to_db(now + length))
                .on_conflict(action="NOTHING").as_rowcount().execute()
            )
            holder = None if taken else Lease.get_or_none(Lease.name == name)
        if taken:
            break
        if time.monotonic() >= deadline:
            until = f" (its claim runs until {from_db(holder.expires_at):%H:%M:%S} UTC)" if holder else ""
            raise Unavailable(busy.format(until=until), hint=hint)
        time.sleep(0.2)

    def renew() -> bool:
        return queries.RENEW_LEASE.execute(name=name, owner=owner, until=to_db(ctx.now() + length)) == 1

    def release() -> None:
        with ctx.write():
            Lease.delete().where(Lease.name == name, Lease.owner == owner).execute()

    try:
        yield renew
    except BaseException:
        try:
            release()
        except Exception:  # the lease expires by itself; report the first problem
            pass
        raise
    release()
