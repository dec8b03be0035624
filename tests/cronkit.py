"""Helpers for the cron tests (remind, notify send, request export) and the cron benchmark.

- ``Sessions`` books approved sessions through the domain on a given clock.
- ``MailServer`` is a real SMTP server (aiosmtpd) on a free loopback port that keeps what it
  accepted and can refuse chosen recipients, like a real server would.
- ``run`` runs the installed ``sessionctl`` as a separate process.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sessionctl.domain import requests, slots
from sessionctl.domain.context import Context, find_actor
from sessionctl.domain.window import Window

UTC = timezone.utc
H = timedelta(hours=1)
BIN = Path(sys.executable).with_name("sessionctl")


class Sessions:
    """Approved sessions booked through the domain on ``clock`` (a callable giving 'now')."""

    def __init__(self, store, clock):
        self.store, self.clock = store, clock

    def ctx(self, name: str) -> Context:
        return Context(self.store, find_actor(name), UTC, self.clock)

    def slot(self, start: datetime, length: timedelta = H, *, course="MATH101", educator="ada",
             link=None, notes=None) -> int:
        [slot] = slots.add_slots(self.ctx(educator), course, [Window(start, start + length)],
                                 link=link, notes=notes)
        return slot.id

    def pending(self, start: datetime, student="alan", *, message=None, **slot) -> int:
        slot_id = self.slot(start, **slot)
        return requests.send(self.ctx(student), slot_id, message).id

    def approved(self, start: datetime, student="alan", *, message=None, approve_link=None,
                 approve_notes=None, **slot) -> int:
        request_id = self.pending(start, student, message=message, **slot)
        educator = slot.get("educator", "ada")
        requests.approve(self.ctx(educator), request_id, approve_link, approve_notes)
        return request_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailServer:
    """aiosmtpd on 127.0.0.1:``port``: ``messages`` holds what it accepted (parsed).

    ``refuse`` maps a recipient address to the reply its RCPT TO gets (``"550 …"``).
    ``tls`` is an ``ssl.SSLContext``: with ``implicit`` the whole connection is TLS
    (smtps), otherwise the server offers STARTTLS. ``logins`` maps user to password and
    requires a login (only over TLS, as aiosmtpd insists). ``delay`` slows every DATA;
    ``stall`` maps a recipient address to the seconds its RCPT TO waits before the reply;
    ``hook(n)`` runs at the n-th DATA (from 0) and may return the reply instead of accepting.
    ``smtp``: more options for aiosmtpd's server (``auth_exclude_mechanism``).
    ``eightbit=False``: the server does not offer 8BITMIME.

    Every message is read as a strict mail reader would (``email.policy.default`` with
    ``raise_on_defect=True``) and its calendar part, if any, with ``icalendar``: one that
    fails is refused (554), which the tests see. ``raw`` keeps each message's bytes and
    ``options`` its MAIL FROM parameters.
    """

    def __init__(self, port: int | None = None, *, refuse: dict | None = None, tls=None,
                 implicit: bool = False, logins: dict | None = None, delay: float = 0.0,
                 hook=None, stall: dict | None = None, smtp: dict | None = None,
                 eightbit: bool = True):
        self.port = port or free_port()
        self.eightbit = eightbit
        self.raw: list[bytes] = []
        self.options: list[list[str]] = []
        self.refuse = dict(refuse or {})
        self.stall = dict(stall or {})
        self.delay = delay
        self.hook = hook
        self.attempts = 0
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._tls, self._implicit, self._logins = tls, implicit, logins
        self._smtp = dict(smtp or {})  # more of aiosmtpd's SMTP options (auth_exclude_mechanism)
        self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    # aiosmtpd handler hooks
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.stall:
            import asyncio

            await asyncio.sleep(self.stall[address])
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        with self._lock:
            attempt, self.attempts = self.attempts, self.attempts + 1
        if self.hook is not None:
            reply = self.hook(attempt)
            if reply:
                return reply
        try:
            message = strict_message(envelope.content)
        except Exception as exc:  # noqa: BLE001 - any defect is the sender's bug
            return f"554 5.6.0 unreadable message: {type(exc).__name__}: {exc}"[:500]
        with self._lock:
            self.raw.append(envelope.content)
            self.options.append(list(envelope.mail_options))
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 accepted"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [r for r in responses if self.eightbit or "8BITMIME" not in r]

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (isinstance(auth_data, LoginPassword) and self._logins is not None
              and self._logins.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False)  # aiosmtpd then replies 235 or 535

    def start(self) -> "MailServer":
        from aiosmtpd.controller import Controller

        kwargs = {}
        if self._tls is not None and self._implicit:
            kwargs["ssl_context"] = self._tls
        elif self._tls is not None:
            kwargs["tls_context"] = self._tls
        if self._logins is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        kwargs.update(self._smtp)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     server_hostname="localhost", **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> "MailServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.messages]


def strict_message(data: bytes):
    """A message as a strict reader reads it: any defect raises, and its calendar part must
    parse with ``icalendar``."""
    from icalendar import Calendar

    message = email.message_from_bytes(data, policy=email.policy.default.clone(raise_on_defect=True))
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            Calendar.from_ical(part.get_content())
    return message


def run(*args: str, user: str, db, **env) -> subprocess.CompletedProcess:
    """The installed ``sessionctl`` as its own process."""
    environment = {**os.environ, "SESSIONCTL_DB": str(db), "SESSIONCTL_USER": user,
                   "SESSIONCTL_TZ": "UTC", **env}
    for key in ("SESSIONCTL_DEBUG", "SESSIONCTL_SMTP", "SESSIONCTL_SMTP_PASSWORD",
                "SESSIONCTL_MAIL_FROM"):
        if key not in env:
            environment.pop(key, None)
    return subprocess.run([str(BIN), *args], env=environment, capture_output=True, text=True,
                          timeout=120)


def run_json(*args: str, user: str, db, **env):
    result = run(*args, "--json", user=user, db=db, **env)
    assert result.returncode == 0, (args, result.returncode, result.stderr)
    return json.loads(result.stdout)
