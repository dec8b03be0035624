"""Running a program of the site's (a ``link_command``, an event hook): one JSON document on its
stdin, a deadline, bounded output (``docs/reference/meeting-rooms-and-hooks.md``).

A leaf: it knows nothing of bookings. The program runs in a session of its own, so a timeout
kills it and whatever it started; it inherits the environment minus the mail server's password;
of its output the first ``KEEP`` bytes of each stream are kept and the rest is read and thrown
away, so a program that prints megabytes neither blocks nor fills the memory. The run waits
for the program to exit and for its outputs to close (a child it left holding them counts
against the deadline).
"""

from __future__ import annotations

import os
import signal
import subprocess
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


def run(path: str, data: bytes, timeout: float) -> Ran:
    """Run ``path`` (no arguments) with ``data`` on stdin; it must exit 0 within ``timeout``
    seconds. One thread: the pipes are served by ``selectors`` until both outputs close."""
    import selectors

    env = {k: v for k, v in os.environ.items() if k not in SECRET}
    try:
        proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True,
                                close_fds=True)
    except OSError as exc:
        return Ran(None, b"", b"", f"cannot run {path}: {exc.strerror or exc}")
    deadline = time.monotonic() + timeout
    in_fd, out_fd, err_fd = (s.fileno() for s in (proc.stdin, proc.stdout, proc.stderr))
    kept = {out_fd: bytearray(), err_fd: bytearray()}
    pending = memoryview(data)
    with selectors.DefaultSelector() as selector:
        for fd in (out_fd, err_fd):
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        if pending:
            os.set_blocking(in_fd, False)
            selector.register(in_fd, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        late = False
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                late = True
                break
            for key, _ in selector.select(left):
                fd = key.fd
                if fd == in_fd:
                    try:
                        pending = pending[os.write(fd, pending[:65536]):]
                    except BlockingIOError:
                        continue
                    except OSError:  # it did not read its input (it may not need to)
                        pending = pending[:0]
                    if not pending:
                        selector.unregister(fd)
                        proc.stdin.close()
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(fd)
                    continue
                room = KEEP - len(kept[fd])
                if room > 0:
                    kept[fd] += chunk[:room]
    if late:
        _kill(proc)
        code = None
    else:
        try:
            code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill(proc)
            code = None
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if not stream.closed:
            stream.close()
    ran = Ran(code, bytes(kept[out_fd]), bytes(kept[err_fd]), None)
    if code is None:
        ran.problem = f"no answer within {timeout:g} s"
    elif code != 0:
        reason = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        line = ran.first_stderr_line()
        ran.problem = f"{reason}: {line}" if line else reason
    return ran


def _kill(proc: subprocess.Popen) -> None:
    """The program and everything it started (its own session) get SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()
