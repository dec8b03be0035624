"""``notify send``: the notification outbox, delivered through a real SMTP server.

A notification is ``queued`` until a server accepted its message (then ``sent``), or
``undeliverable`` when its user has no e-mail address (it stays in the inbox). The store's
write lock is never held while talking to the network: the batch is read, each message is
sent, and each accepted one is marked in its own short write. A crash between the server's
"250" and that mark sends the message again on the next run, with the same Message-ID, so
the receiving side can drop the duplicate. A lease (one ``mail`` row in ``leases``) keeps
two overlapping runs from sending the same batch twice; a crashed run's lease expires.

smtplib, ssl and email are imported only here, when mail is really sent.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Iterator

import peewee as pw

from sessionctl.domain import access
from sessionctl.domain.context import (
    Context, check_email, check_text, from_db, shown_name, store_id, to_db, user_zone,
)
from sessionctl.errors import Unavailable, UsageError
from sessionctl.store.models import Course, Lease, Notification, Request, Slot, User
from sessionctl.timeparse import zone_name

PORTS = {"smtp": 25, "smtps": 465}
DEFAULT_TIMEOUT = 30.0
LEASE = "mail"
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
URL_HINT = "use smtp://[USER@]HOST[:PORT][?starttls=1] or smtps://[USER@]HOST[:PORT]"

# The subject's first words, per notification kind.
EVENTS = {
    "request": "New request",
    "approved": "Request approved",
    "rejected": "Request rejected",
    "cancelled": "Cancelled",
    "expired": "Request expired",
    "slot_cancelled": "Slot cancelled",
    "completed": "Session completed",
    "reminder": "Reminder",
}


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to deliver: parsed from the ``--smtp`` URL."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.scheme == "smtps" or self.starttls


def smtp_target(url: str | None, *, password: str | None = None,
                timeout: str | None = None) -> SmtpTarget:
    """Parse ``smtp://[user[:password]@]host[:port][?starttls=1]`` or ``smtps://…``.

    ``password`` (SESSIONCTL_SMTP_PASSWORD) is used when the URL names a user but no password.
    Malformed input is exit 2; the password never appears in a message.
    """
    from urllib.parse import parse_qsl, unquote, urlsplit

    if not url or not url.strip():
        raise UsageError("no mail server given",
                         hint="pass --smtp smtp://HOST:PORT or set SESSIONCTL_SMTP")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UsageError("malformed SMTP URL (bad host or port)", hint=URL_HINT) from None
    scheme = parts.scheme.lower()
    if scheme not in PORTS:
        raise UsageError(f"unknown SMTP URL scheme {scheme + ':' if scheme else '(none)'}",
                         hint=URL_HINT)
    if not parts.hostname or parts.path not in ("", "/") or parts.fragment:
        raise UsageError("malformed SMTP URL: it needs a host and nothing after it but "
                         "?starttls=1", hint=URL_HINT)
    starttls = False
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "starttls":
            raise UsageError(f"unknown SMTP URL parameter {key}={value}",
                             hint="the only parameter is starttls=1")
        if value.lower() not in _YES + _NO:
            raise UsageError(f"starttls={value} in the SMTP URL: use starttls=1 or starttls=0")
        starttls = value.lower() in _YES
    if starttls and scheme == "smtps":
        raise UsageError("smtps:// is TLS from the start; starttls=1 is for smtp:// only")
    user = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password else password
    if user and not secret:
        raise UsageError(f"the SMTP URL names user {user!r} but no password",
                         hint="set SESSIONCTL_SMTP_PASSWORD (or put it in the URL)")
    return SmtpTarget(scheme, parts.hostname, port or PORTS[scheme], user,
                      secret if user else None, starttls, _timeout(timeout))


def _timeout(raw: str | None) -> float:
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise UsageError(
            f"SESSIONCTL_SMTP_TIMEOUT must be a number of seconds above 0 and up to 600, not {raw!r}"
        )
    return value


def sender(value: str | None) -> tuple[str, str]:
    """The From header and the envelope sender: ``--from`` / SESSIONCTL_MAIL_FROM as
    ``addr`` or ``Name <addr>``, else ``sessionctl@`` this host's name."""
    from email.utils import formataddr, parseaddr

    if not value:
        import socket

        address = f"sessionctl@{socket.getfqdn()}"
        return address, address
    check_text("sender address", value, 320)
    name, address = parseaddr(value)
    if "\n" in value or "\t" in value or not address:
        raise UsageError(f"invalid sender address {value!r}",
                         hint="use --from addr@example.edu or --from 'Name <addr@example.edu>'")
    check_email(address)
    return (formataddr((name, address)) if name else address), address


# -- the batch ---------------------------------------------------------------------------------


def _queued() -> pw.ModelSelect:
    """Queued notifications with their recipient, request, slot, course and both parties."""
    recipient, educator, student = User.alias(), User.alias(), User.alias()
    outer = pw.JOIN.LEFT_OUTER
    return (
        Notification.select(Notification, recipient, Request, Slot, Course, educator, student)
        .join(recipient, on=Notification.user)
        .switch(Notification)
        .join(Request, outer, on=Notification.request)
        .join(Slot, outer, on=Request.slot)
        .join(Course, outer, on=Slot.course)
        .switch(Slot)
        .join(educator, outer, on=Slot.educator)
        .switch(Request)
        .join(student, outer, on=Request.student)
        .where(Notification.mail_state == "queued")
        .order_by(Notification.id)
    )


def _still_queued() -> int:
    return Notification.select().where(Notification.mail_state == "queued").count()


# -- the message -------------------------------------------------------------------------------


def _person(user: User | None) -> str:
    if user is None:
        return ""
    name = shown_name(user)
    return f"{name} <{user.email}>" if user.email else name


def _span(start: datetime, end: datetime, tz: tzinfo) -> str:
    a, b = start.astimezone(tz), end.astimezone(tz)
    until = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%a %Y-%m-%d %H:%M}"
    name = zone_name(tz)
    where = f" ({name})" if name != a.tzname() else ""
    return f"{a:%a %Y-%m-%d %H:%M}-{until} {a.tzname()}{where}"


def message_id(notification_id: int, store: str) -> str:
    """Stable per notification and store: a re-sent copy carries the same id."""
    return f"<notification-{notification_id}.{store}@sessionctl>"


def compose(note: Notification, from_header: str, store: str):
    """The e-mail for one notification: subject naming the event and course; a plain-text
    body with the session time in the recipient's zone and UTC, the educator, the link and
    the request id."""
    from email.message import EmailMessage
    from email.utils import format_datetime, formataddr

    user, request = note.user, note.request
    slot = request.slot if request is not None else None
    event = EVENTS.get(note.kind, note.kind.replace("_", " ").capitalize())
    subject, facts = f"[sessionctl] {event}", []
    if slot is not None:
        tz = user_zone(user)
        start, end = from_db(slot.starts_at), from_db(slot.ends_at)
        subject += (f": {slot.course.code} {slot.course.title}, "
                    f"{start.astimezone(tz):%a %Y-%m-%d %H:%M} {start.astimezone(tz).tzname()}")
        facts += [("Course", f"{slot.course.code}: {slot.course.title}"),
                  ("When", _span(start, end, tz))]
        if zone_name(tz) != "UTC":
            facts.append(("", _span(start, end, timezone.utc)))
        facts += [("Educator", _person(slot.educator)), ("Student", _person(request.student))]
    if request is not None:
        if request.link:
            facts.append(("Link", request.link))
        facts.append(("Request", f"{request.id} (sessionctl request show {request.id})"))
    width = max((len(k) for k, _ in facts), default=0) + 2
    lines = [f"Hello {shown_name(user)},", "", note.text, ""]
    lines += [(f"{k}:" if k else "").ljust(width) + v for k, v in facts]
    lines += ["", "-- ", "sent by sessionctl; 'sessionctl inbox' lists your notifications"]

    message = EmailMessage()
    message["Subject"] = " ".join(subject.split())
    message["From"] = from_header
    message["To"] = formataddr((user.display or "", user.email))
    message["Date"] = format_datetime(from_db(note.created_at))
    message["Message-ID"] = message_id(note.id, store)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    message.set_content("\n".join(lines) + "\n")
    return message


# -- delivery ----------------------------------------------------------------------------------


@dataclass
class Refusal:
    notification: int
    address: str
    reply: str


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    queued: int = 0
    refusals: list[Refusal] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "queued": self.queued}


def send(ctx: Context, target: SmtpTarget, from_: tuple[str, str]) -> Outcome:
    """E-mail every queued notification whose user has an address; see the module's notes."""
    import smtplib

    with ctx.read():
        access.require_role(ctx, "admin", doing="run notify send")
        if not _still_queued():
            return Outcome()  # nothing to do: no lease, no connection
    outcome = Outcome()
    with _lease(ctx, timedelta(seconds=max(300.0, 10 * target.timeout))) as renew:
        with ctx.read():
            batch, store = list(_queued()), store_id()
        mail = [n for n in batch if n.user.email]
        nowhere = [n.id for n in batch if not n.user.email]
        server = _connect(target) if mail else None
        try:
            if nowhere:
                with ctx.write():
                    Notification.update(mail_state="undeliverable").where(
                        Notification.id.in_(nowhere), Notification.mail_state == "queued"
                    ).execute()
            for note in mail:
                try:
                    server.send_message(compose(note, from_[0], store), from_addr=from_[1],
                                        to_addrs=[note.user.email])
                except smtplib.SMTPServerDisconnected as exc:
                    raise _lost(target, outcome.sent, len(mail), exc) from None
                except smtplib.SMTPException as exc:  # refused: this one stays queued
                    if _code(exc) == 421:  # "closing the channel": the server is going away
                        raise _lost(target, outcome.sent, len(mail), exc) from None
                    outcome.refusals.append(Refusal(note.id, note.user.email, _reply(exc)))
                    continue
                except OSError as exc:
                    raise _lost(target, outcome.sent, len(mail), exc) from None
                _mark_sent(ctx, note.id, renew)
                outcome.sent += 1
        finally:
            if server is not None:
                _close(server)
    with ctx.read():
        outcome.queued = _still_queued()
    outcome.failed = len(outcome.refusals)
    return outcome


def _mark_sent(ctx: Context, notification_id: int, renew) -> None:
    """Mark one accepted message sent (compare-and-swap) and extend the lease in one write."""
    with ctx.write():
        Notification.update(mail_state="sent", sent_at=to_db(ctx.now())).where(
            Notification.id == notification_id, Notification.mail_state == "queued"
        ).execute()
        kept = renew()
    if not kept:  # the mark above stands: the server did accept that message
        raise Unavailable("this run's claim on the outbox expired and another run took it "
                          "over; the rest stays queued for it")


@contextmanager
def _lease(ctx: Context, length: timedelta) -> Iterator:
    """Hold the ``mail`` lease: wait up to the store's lock timeout for another run's."""
    import uuid

    owner = uuid.uuid4().hex
    deadline = time.monotonic() + ctx.store.timeout
    while True:
        with ctx.write():
            now = ctx.now()
            Lease.delete().where(Lease.name == LEASE, Lease.expires_at <= to_db(now)).execute()
            taken = (
                Lease.insert(name=LEASE, owner=owner, expires_at=to_db(now + length))
                .on_conflict(action="NOTHING").as_rowcount().execute()
            )
            holder = None if taken else Lease.get_or_none(Lease.name == LEASE)
        if taken:
            break
        if time.monotonic() >= deadline:
            until = f" (its claim runs until {from_db(holder.expires_at):%H:%M:%S} UTC)" if holder else ""
            raise Unavailable(
                f"another 'sessionctl notify send' is sending{until}; nothing was sent",
                hint="let it finish; the next run sends whatever it left queued",
            )
        time.sleep(0.2)

    def renew() -> bool:
        """Extend the lease (inside the caller's write); False if another run has taken it."""
        return Lease.update(expires_at=to_db(ctx.now() + length)).where(
            Lease.name == LEASE, Lease.owner == owner
        ).execute() == 1

    def release() -> None:
        with ctx.write():
            Lease.delete().where(Lease.name == LEASE, Lease.owner == owner).execute()

    try:
        yield renew
    except BaseException:
        try:
            release()
        except Exception:  # the lease expires by itself; report the first problem
            pass
        raise
    release()


def _connect(target: SmtpTarget):
    import smtplib
    import ssl

    try:
        if target.scheme == "smtps":
            server = smtplib.SMTP_SSL(target.host, target.port, timeout=target.timeout,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
        try:
            if target.starttls:
                server.starttls(context=ssl.create_default_context())
            if target.user:
                server.login(target.user, target.password)
        except BaseException:
            server.close()
            raise
    except smtplib.SMTPAuthenticationError as exc:
        raise Unavailable(
            f"the mail server {target.where} refused the login of {target.user!r}: {_reply(exc)}",
            hint="check the user in the URL and the password (SESSIONCTL_SMTP_PASSWORD)",
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        hint = None if target.tls else "servers offer login only over TLS: add ?starttls=1 or use smtps://"
        raise Unavailable(f"cannot use the mail server {target.where}: {_reply(exc)}", hint=hint) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise Unavailable(
            f"cannot reach the mail server {target.where}: {_reply(exc, target)}",
            hint="check --smtp / SESSIONCTL_SMTP; every notification stays queued for the next run",
        ) from None
    return server


def _lost(target: SmtpTarget, sent: int, total: int, exc: BaseException) -> Unavailable:
    return Unavailable(
        f"lost the mail server {target.where} after {sent} of {total} messages: "
        f"{_reply(exc, target)}",
        hint="the messages it accepted are marked sent; the rest stay queued for the next run",
    )


def _close(server) -> None:
    import smtplib

    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


def _code(exc: BaseException) -> int | None:
    import smtplib

    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        return next(iter(exc.recipients.values()))[0]
    return getattr(exc, "smtp_code", None)


def _reply(exc: BaseException, target: SmtpTarget | None = None) -> str:
    """One line saying what the server or the network said."""
    import smtplib
    import socket
    import ssl

    def text(raw) -> str:
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)

    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, said = next(iter(exc.recipients.values()))
        said = f"{code} {text(said)}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        said = f"{exc.smtp_code} {text(exc.smtp_error)}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        said = f"TLS certificate check failed ({exc.verify_message})"
    elif isinstance(exc, ssl.SSLError):
        said = f"TLS failed ({exc.reason or exc})"
    elif isinstance(exc, (socket.timeout, TimeoutError)):
        said = f"no answer within {target.timeout:g} s" if target else "timed out"
    elif isinstance(exc, socket.gaierror):
        said = f"unknown host ({exc.strerror})"
    elif isinstance(exc, OSError) and exc.strerror:
        said = exc.strerror.lower()
    else:
        said = str(exc) or type(exc).__name__
    return " ".join(said.split())
