"""Meeting rooms and hooks (issue 20), with the installed command:

1. ``hooks run`` of 1,000 events to a hook that does nothing (SPEC §15: at most 5 s). The
   floor, in the same run: the same hook started 1,000 times from a Python loop, which no
   delivery can beat (each event is one fork and exec of the hook).
2. ``request approve`` with a course's ``link_template`` against one without (at most 1.1×):
   two courses of one educator, each with pending requests, approved one a run, interleaved,
   medians of the wall clock and of the CPU time.

Usage: python benchmarks/hooks.py [APPROVALS_PER_SIDE]   (default 30)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EXE, installed_env, interleaved, machine, median  # noqa: E402

UTC = timezone.utc
EVENTS = 1000


def build(path: str, hooks_dir: Path | None, requests: int, template_course: bool) -> None:
    """A store: educator ada with courses PLAIN and ROOM (ROOM with a link template when
    ``template_course``), ``requests`` students each with a pending request per course. With
    ``hooks_dir``, the ``requested`` hook is registered first, so each request is an event."""
    from sessionctl.domain import courses, requests as req, slots, users
    from sessionctl.domain.context import Context, find_actor
    from sessionctl.domain.window import Window
    from sessionctl.store import open_store
    from sessionctl.store.edge import to_db
    from sessionctl.store.models import Hook

    store = open_store(path, create=True)
    users.register_first_admin(store, "root")
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    def ctx(name: str) -> Context:
        return Context(store, find_actor(name), UTC, lambda: now)

    if hooks_dir is not None:
        with store.write():
            Hook.insert(name="requested", since=to_db(now)).execute()
    users.add_user(ctx("root"), "ada", "educator", "Ada", "ada@example.edu", None)
    students = [f"s{i:04d}" for i in range(requests)]
    for name in students:
        users.add_user(ctx("root"), name, "student", None, f"{name}@example.edu", None)
    for code in ("PLAIN", "ROOM"):
        courses.add_course(ctx("ada"), code, code.title(), None)
        courses.enroll(ctx("ada"), code, students, [])
    if template_course:
        courses.set_course(ctx("ada"), "ROOM",
                           link_template="https://jitsi.example.edu/{course}-{request}-{token}")
    start = now + timedelta(days=2)
    for code in ("PLAIN", "ROOM"):
        windows = [Window(start + timedelta(hours=2 * k), start + timedelta(hours=2 * k, minutes=45))
                   for k in range(requests)]
        made = slots.add_slots(ctx("ada"), code, windows, capacity=1)
        start += timedelta(hours=2 * requests + 1)
        for view, name in zip(made, students):
            req.send(ctx(name), view.id, None)
    store.close()


def hooks_run(folder: Path, env: dict) -> None:
    hooks_dir = folder / "hooks"
    hooks_dir.mkdir()
    hook = hooks_dir / "requested"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    db = str(folder / "hooks.db")
    build(db, hooks_dir, EVENTS // 2, template_course=False)  # two courses: 1,000 requests
    config = folder / "xdg" / "sessionctl"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(f'hooks_dir = "{hooks_dir}"\n')
    run_env = {**env, "SESSIONCTL_DB": db, "SESSIONCTL_USER": "root",
               "XDG_CONFIG_HOME": str(folder / "xdg")}
    started = time.perf_counter()
    for _ in range(EVENTS):  # the floor: the hook alone, as often
        subprocess.run([str(hook)], input=b"{}", stdout=subprocess.DEVNULL)
    floor = time.perf_counter() - started
    started = time.perf_counter()
    done = subprocess.run([EXE, "hooks", "run", "--json"], env=run_env, capture_output=True)
    took = time.perf_counter() - started
    counts = json.loads(done.stdout)
    assert counts == {"delivered": EVENTS, "failed": 0, "pending": 0}, (counts, done.stderr)
    print(f"hooks run, {EVENTS} events to a no-op hook: {took:.2f} s (limit 5 s); the hook "
          f"alone {EVENTS} times: {floor:.2f} s; ratio {took / floor:.2f}")


def approvals(folder: Path, env: dict, n: int) -> None:
    db = str(folder / "approve.db")
    build(db, None, n + 1, template_course=True)  # +1: the warm-up round
    base = {**env, "SESSIONCTL_DB": db, "SESSIONCTL_USER": "ada"}
    from sessionctl.store import open_store
    from sessionctl.store.models import Course, Request, Slot

    store = open_store(db)
    with store.read():
        ids = {code: [r.id for r in Request.select(Request.id).join(Slot).join(Course)
                      .where(Course.code == code).order_by(Request.id)]
               for code in ("PLAIN", "ROOM")}
    store.close()
    commands = {"approve, no template": ([EXE, "request", "approve", "0"], base),
                "approve, link_template": ([EXE, "request", "approve", "0"], base)}
    queues = {"approve, no template": list(ids["PLAIN"]), "approve, link_template": list(ids["ROOM"])}

    def before(name):
        return [EXE, "request", "approve", str(queues[name].pop(0))]

    times = interleaved(commands, n, before=before)
    plain, room = ("approve, no template", "approve, link_template")
    wall = median(times.wall[room]) / median(times.wall[plain])
    cpu = median(times.cpu[room]) / median(times.cpu[plain])
    for name in (plain, room):
        print(f"{name}: wall {median(times.wall[name]):.1f} ms, cpu {median(times.cpu[name]):.1f} ms "
              f"(median of {n})")
    print(f"link_template / none: wall {wall:.3f}, cpu {cpu:.3f} (limit 1.1)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    env = installed_env()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hooks_run(folder, env)
        approvals(folder, env, n)


if __name__ == "__main__":
    main()
