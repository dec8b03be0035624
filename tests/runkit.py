"""What the regression tests found by attack passes and the fuzzer share, now that each lives in
the test file of its feature: the installed command and two ways to run it as a process
(``proc``: byte-exact arguments and environment; ``run_module``: as a user runs it), the two
refusals they expect (``refused_plainly``: one ``error:`` line and at most one ``hint:``;
``refused_unchanged``: a code, words, and the store as it was), a small store built once by the
installed command (``built_store``), paths no file can have, and a port nothing listens on.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import snapshot

BIN = shutil.which("sessionctl", path=os.path.dirname(sys.executable)) or shutil.which("sessionctl")
BAD = b"\xff\xfe"  # bytes that are not UTF-8


def refused_plainly(result, code=2):
    """Exit ``code`` (or one of the codes), nothing on stdout, 'error: …' [+ 'hint: …'] on stderr."""
    codes = code if isinstance(code, (set, frozenset, tuple)) else {code}
    err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode("utf-8", "replace")
    out = result.stdout if isinstance(result.stdout, str) else result.stdout.decode("utf-8", "replace")
    rc = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert rc in codes and "Traceback" not in err + out, (rc, out[-500:], err[-2000:])
    assert out == "", out[-500:]
    lines = err.rstrip("\n").split("\n")
    assert lines[0].startswith("error: ") and "internal error" not in lines[0], err
    assert len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("hint: ")), err


def proc(*args, user="ada", db, env=None, timeout=60, **kwargs):
    """The installed command as its own process; ``args`` and ``env`` values may be bytes."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("SESSIONCTL_") and k not in ("COLUMNS", "FORCE_COLOR")}
    environment.update({"SESSIONCTL_DB": str(db), "SESSIONCTL_USER": user,
                        "SESSIONCTL_TZ": "UTC", "NO_COLOR": "1"})
    environ = {os.fsencode(k): os.fsencode(v) for k, v in environment.items()}
    environ.update({os.fsencode(k): os.fsencode(v) for k, v in (env or {}).items()})
    return subprocess.run([BIN, *args], env=environ, capture_output=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def built_template(tmp_path_factory):
    """A store built once by the installed command: root (admin), ada (educator, MATH101),
    alan (student, enrolled), slots 1 and 2 of ada's and alan's pending request 1 for slot 1
    (so one notification is queued)."""
    db = tmp_path_factory.mktemp("template") / "u.db"
    steps = [
        ("root", ["init"]), ("root", ["user", "add", "ada", "--role", "educator", "--email", "ada@example.edu"]),
        ("root", ["user", "add", "alan", "--role", "student", "--email", "alan@example.edu"]),
        ("ada", ["course", "add", "MATH101", "--title", "Maths"]),
        ("ada", ["course", "enroll", "MATH101", "alan"]),
        ("ada", ["slot", "add", "--course", "MATH101", "--start", "+2d", "--duration", "1h"]),
        ("ada", ["slot", "add", "--course", "MATH101", "--start", "+3d", "--duration", "1h"]),
        ("alan", ["request", "send", "1"]),
    ]
    for user, args in steps:
        result = proc(*args, user=user, db=db)
        assert result.returncode == 0, (args, result.stderr)
    assert not Path(f"{db}-wal").exists()  # every process closed it: one self-contained file
    return db.read_bytes()


@pytest.fixture
def built_store(built_template, tmp_path):
    db = tmp_path / "u.db"
    db.write_bytes(built_template)
    return db


def unusable_paths(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "self").symlink_to("self")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    return {"a link to itself": tmp_path / "self", "two links in a ring": tmp_path / "a",
            "a file inside a looping link": tmp_path / "self" / "x.ics"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- sessionctl as a user runs it -----------------------------------------------------------------

def run_module(args, **env) -> subprocess.CompletedProcess:
    """sessionctl as a user runs it (a new process, every layer of it)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    environ.update({"SESSIONCTL_USER": "root", "NO_COLOR": "1", **env})
    return subprocess.run([sys.executable, "-m", "sessionctl", *args], capture_output=True,
                          text=True, env=environ, timeout=60)


def refused_unchanged(cli, args, code, *needles, env=None):
    """``cli`` refuses ``args`` with ``code``, saying each of ``needles``, and changes nothing."""
    before = snapshot(cli.db)
    result = cli(*args, env=env)
    assert (result.exit_code, result.stdout) == (code, ""), (args, result.stdout, result.stderr)
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    assert snapshot(cli.db) == before
    return result


def on_terminal(args, env, *, answer: bytes | None = None, meanwhile=None,
                stderr_only: bool = False) -> tuple[int, str]:
    """Run the installed command with a pseudo-terminal as stdin, stdout and stderr (or, with
    ``stderr_only``, as stderr alone); once a ``[y/N]`` question shows, call ``meanwhile`` and
    type ``answer``. Returns the exit code and everything the terminal showed."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    others = subprocess.DEVNULL if stderr_only else slave
    process = subprocess.Popen([str(Path(sys.executable).with_name("sessionctl")), *args],
                               stdin=others, stdout=others, stderr=slave, env=env,
                               start_new_session=True)
    os.close(slave)
    shown, typed = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        if answer is not None and not typed and b"[y/N] " in shown:
            if meanwhile is not None:
                meanwhile()
            os.write(master, answer)
            typed = True
        if process.poll() is not None and not ready:
            break
    os.close(master)
    return process.wait(timeout=60), shown.decode().replace("\r\n", "\n")
