"""``hooks run``: the events of ``events`` (``domain/events.py``) handed to the executables of
``hooks_dir`` named after them (``docs/reference/meeting-rooms-and-hooks.md#event-hooks``).

Like ``notify send``: the store's write lock is never held while a hook runs. Each event goes
to its hook on stdin; the hook's exit status 0 marks it delivered in its own short write, so a
crash (of the hook, of this run, of the machine) between the two delivers that one event again
on the next run: at least once, at most one twice. A hook that fails (exit status, signal,
timeout) is retried on later runs with backoff; its later events of the same booking wait
behind it, and nothing else does. A lease (``hooks``) keeps two runs apart.
"""

from __future__ import annotations

import os
from datetime import timedelta

from sessionctl._plain import Record
from sessionctl.domain import access
from sessionctl.domain.context import Context
from sessionctl.errors import Unavailable, UsageError
from sessionctl.statuses import EVENTS
from sessionctl.store import queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Event, Hook

LEASE = "hooks"
BATCH = 500  # events read at a time
FIRST_RETRY = timedelta(minutes=1)  # then twice as long after each failure
LONGEST_WAIT = timedelta(hours=6)


class Failure(Record):
    _fields = ("hook", "event", "request", "problem", "retry")

    def __init__(self, hook: str, event: int, request: int | None, problem: str, retry):
        self.hook = hook
        self.event = event
        self.request = request
        self.problem = problem
        self.retry = retry  # when it is tried again (UTC)

    def text(self) -> str:
        return (f"hook {self.hook} failed on event {self.event} (request {self.request}): "
                f"{self.problem}; tried again after {self.retry:%Y-%m-%d %H:%M} UTC")


class Outcome(Record):
    _fields = ("delivered", "failures", "pending", "ignored")

    def __init__(self):
        self.delivered = 0
        self.failures: list[Failure] = []
        self.pending = 0
        self.ignored: list[str] = []  # files of hooks_dir that are not executable

    def counts(self) -> dict[str, int]:
        return {"delivered": self.delivered, "failed": len(self.failures),
                "pending": self.pending}


def backoff(attempts: int) -> timedelta:
    """How long a hook that failed ``attempts`` times in a row waits before the next try."""
    return min(LONGEST_WAIT, FIRST_RETRY * 2 ** min(attempts - 1, 20))


def found_hooks(directory: str, vet) -> tuple[dict[str, str], list[str], list[str]]:
    """The hooks of ``directory``: {event: path} of those that run, the paths of those that
    do not (not executable), and the names of those that are gone."""
    try:
        names = set(os.listdir(directory))
    except OSError as exc:
        raise Unavailable(f"cannot read hooks_dir {directory}: {exc.strerror}") from None
    runs, idle = {}, []
    for event in EVENTS:
        path = os.path.join(directory, event)
        if event not in names or not os.path.isfile(path):
            continue
        if vet is not None:
            vet(path, f"the hook {event}")
        if os.access(path, os.X_OK):
            runs[event] = path
        else:
            idle.append(path)
    return runs, idle, [e for e in EVENTS if e not in names]


def run(ctx: Context, directory: str | None, timeout: float, vet=None) -> Outcome:
    """Deliver every event that is due; see the module's notes. ``vet``: the shared mode's
    check of a program (``Settings.vet_program``), or None."""
    from sessionctl import programs

    with ctx.read():
        access.require_role(ctx, "admin", doing="run hooks run")
    if directory is None:
        raise UsageError("no hooks_dir is set",
                         hint='set hooks_dir = "/absolute/path" in a config file')
    if vet is not None:
        vet(directory, "hooks_dir")
    runs, idle, gone = found_hooks(directory, vet)
    outcome = Outcome()
    with ctx.write():  # the hooks there now are registered; a hook removed takes its events
        now = to_db(ctx.now())
        known = {h.name for h in Hook.select(Hook.name)}
        present = set(runs) | {os.path.basename(p) for p in idle}
        for event in sorted(set(runs) - known):  # a new hook: events from now on
            Hook.insert(name=event, since=now).execute()
        outcome.ignored = [p for p in idle if os.path.basename(p) not in known]
        dropped = sorted(known & set(gone) - present)
        if dropped:
            Hook.delete().where(Hook.name.in_(dropped)).execute()
            Event.update(state="dropped").where(Event.kind.in_(dropped),
                                                Event.state == "queued").execute()
        if not Event.select().where(Event.state == "queued").exists():
            return outcome
    from sessionctl.domain.lease import hold

    with hold(ctx, LEASE, timedelta(seconds=timeout + 60),
              "another 'sessionctl hooks run' is delivering{until}",
              "let it finish; the next run delivers whatever it left") as renew, \
            ctx.store.lazy_commits():  # a mark lost with the machine repeats one delivery
        held: set[tuple[str, int]] = set()  # (hook, booking): an earlier event waits
        after = 0
        while True:
            with ctx.read():
                batch = list(Event.select(Event.id, Event.kind, Event.booking, Event.request,
                                          Event.payload, Event.attempts, Event.next_at)
                             .where(Event.state == "queued", Event.id > after)
                             .order_by(Event.id).limit(BATCH))
            if not batch:
                break
            after = batch[-1].id
            for event in batch:
                key = (event.kind, event.booking)
                if key in held:
                    continue
                now = ctx.now()
                if event.next_at is not None and from_db(event.next_at) > now:
                    held.add(key)  # waiting for its retry: its booking's later events wait too
                    continue
                path = runs.get(event.kind)
                if path is None:  # there, but not executable
                    problem = "not executable (chmod +x it)"
                else:
                    data = f'{{"id": {event.id}, '.encode() + event.payload[1:].encode()
                    ran = programs.run(path, data, timeout)
                    problem = ran.problem
                with ctx.write():
                    if problem is None:
                        queries.MARK_DELIVERED.execute(id=event.id, at=to_db(ctx.now()))
                    else:
                        attempts = event.attempts + 1
                        retry = ctx.now() + backoff(attempts)
                        queries.MARK_FAILED.execute(id=event.id, attempts=attempts,
                                                    next_at=to_db(retry), error=problem[:500])
                    kept = renew()
                if not kept:
                    raise Unavailable("this run's claim on the hooks expired and another run "
                                      "took it over; the rest waits for it")
                if problem is None:
                    outcome.delivered += 1
                else:
                    held.add(key)
                    outcome.failures.append(Failure(event.kind, event.id, event.request_id,
                                                    problem, retry))
    with ctx.read():
        outcome.pending = Event.select().where(Event.state == "queued").count()
    return outcome
