"""Running a program of the site's (a ``link_command``, an event hook): one JSON document on its
stdin, a deadline, bounded output (``docs/reference/meeting-rooms-and-hooks.md``).

A leaf: it knows nothing of bookings. The program runs in a session of its own, so a timeout
kills it and whatever it started; it inherits the environment minus the mail server's password;
of its output the first ``KEEP`` bytes of each stream are kept and the rest is read and thrown
away, so a program that prints megabytes neither blocks nor fills the memory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from sessionctl._plain import Record

KEEP = 64 * 1024  # bytes of stdout (and of stderr) kept
SECRET = ("SESSIONCTL_SMTP_PASSWORD",)  # never handed on to a program


class Ran(Record):
    """What a program did: ``code`` (None when it never started or was killed at the
    deadline), its output as kept, and ``problem``: why it failed, in one line, or None."""

    _fields = ("code", "stdout", "stderr", "problem")

    def __init__(self, code: int | None, stdout: bytes, stderr: bytes, problem: str | None):
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        self.problem = problem

    @property
    def ok(self) -> bool:
        return self.problem is None

    def first_stderr_line(self) -> str:
        """The first non-empty line of stderr, as printable text (at most 200 characters)."""
        text = self.stderr.decode("utf-8", "replace")
        for line in text.splitlines():
            shown = "".join(c if c.isprintable() else "?" for c in line.strip())
            if shown:
                return shown[:200]
        return ""


def _drain(stream, kept: bytearray) -> None:
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        room = KEEP - len(kept)
        if room > 0:
            kept += chunk[:room]
    stream.close()


def run(path: str, data: bytes, timeout: float) -> Ran:
    """Run ``path`` (no arguments) with ``data`` on stdin; it must exit 0 within ``timeout``
    seconds."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET}
    try:
        proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True,
                                close_fds=True)
    except OSError as exc:
        return Ran(None, b"", b"", f"cannot run {path}: {exc.strerror or exc}")
    out, err = bytearray(), bytearray()
    readers = [threading.Thread(target=_drain, args=(s, b), daemon=True)
               for s, b in ((proc.stdout, out), (proc.stderr, err))]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    writer = threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True)
    writer.start()
    try:
        code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill(proc)
        code = None
    for thread in (*readers, writer):
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    ran = Ran(code, bytes(out), bytes(err), None)
    if code is None:
        ran.problem = f"no answer within {timeout:g} s"
    elif code != 0:
        reason = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        line = ran.first_stderr_line()
        ran.problem = f"{reason}: {line}" if line else reason
    return ran


def _feed(stdin, data: bytes) -> None:
    try:
        stdin.write(data)
        stdin.close()
    except OSError:  # it did not read its input (it may not need to)
        pass


def _kill(proc: subprocess.Popen) -> None:
    """The program and everything it started (its own session) get SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()
