"""``notify send``: the notification outbox, delivered through a real SMTP server.

A notification is ``queued`` until a server accepted its message (then ``sent``), or
``undeliverable`` when its user has no e-mail address (it stays in the inbox). The store's
write lock is never held while talking to the network: the batch is read, each message is
sent, and each accepted one is marked in its own short write. A crash between the server's
"250" and that mark sends the message again on the next run, with the same Message-ID, so
the receiving side can drop the duplicate; so the marks commit lazily
(``Store.lazy_commits``: a crash of the process never loses one, a crash of the machine may,
which re-sends those messages), as ``hooks run`` marks its deliveries: a durable commit per
message was most of the time of a large batch once its messages were cheap to build. A lease
(one ``mail`` row in ``leases``) keeps two overlapping runs from sending the same batch
twice; a crashed run's lease expires.

One message that cannot be built (an address or a name an old store let in) or that the
server refuses is reported and stays queued; the rest go out. The SMTP transport lives at
the edge (``sessionctl/smtp.py``); this module only composes and hands over bytes.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Protocol

import peewee as pw

from sessionctl.domain import access
from sessionctl.domain.checks import check_email
from sessionctl.domain.context import Context, store_id
from sessionctl.domain.texts import shown_name, user_zone
from sessionctl.errors import Unavailable, UsageError
from sessionctl.store import queries
from sessionctl.store.edge import from_db, to_db
from sessionctl.store.models import Course, Notification, Request, Slot, User
from sessionctl.timeparse import zone_name

LEASE = "mail"

# The subject's leading event word, per notification kind: the rest of a subject stays the
# same for every mail about one booking chain, so a mail client keeps them in one thread.
EVENTS = {
    "request": "Requested",
    "booked": "Booked",
    "approved": "Approved",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "slot_cancelled": "Cancelled",
    "completed": "Completed",
    "reminder": "Reminder",
    "joined": "Waitlisted",
    "waiting": "Waitlisted",
    "promoted": "Seat free",
    "changed": "Changed",
    "moved": "Moved",
    "move": "Move requested",
    "rated": "Rated",
    "attendance": "Attendance",
}


# -- what the transport reports ----------------------------------------------------------------


class MessageRefused(Exception):
    """The server refused one message (4xx/5xx): it stays queued; the run goes on."""

    def __init__(self, reply: str):
        super().__init__(reply)
        self.reply = reply


class ConnectionLost(Exception):
    """The connection to the server at ``where`` is gone (dropped, timed out, 421): the run
    ends."""

    def __init__(self, where: str, reply: str):
        super().__init__(reply)
        self.where, self.reply = where, reply


class MessageTimedOut(ConnectionLost):
    """The server gave no answer in time for one message (a slow or hanging recipient): that
    message stays queued, and the run goes on over a new connection, once in a row."""


class Transport(Protocol):
    def __enter__(self) -> "Transport": ...
    def __exit__(self, *exc) -> None: ...
    eightbit: bool  # the server offers 8BITMIME (known once connected)
    def send(self, data: bytes, sender: str, recipient: str) -> None: ...
    def reconnect(self) -> None: ...


def header_text(text: str) -> str:
    """Text for a header (a subject, a display name) as one line that the e-mail library
    cannot read as anything but text: ``=?`` would start an RFC 2047 encoded word, which it
    decodes before writing the header again, line breaks and all; ``= ?`` stays literal."""
    return " ".join(text.split()).replace("=?", "= ?")


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
    """``Sun 2027-03-14 01:30-02:30 EST``; across a change of offset (daylight saving time)
    each end carries its own: ``Sun 2027-03-14 01:30 EST – 03:30 EDT``."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    until = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%a %Y-%m-%d %H:%M}"
    name = zone_name(tz)
    where = f" ({name})" if name not in (a.tzname(), b.tzname()) else ""
    if a.utcoffset() != b.utcoffset():
        return f"{a:%a %Y-%m-%d %H:%M} {a.tzname()} \u2013 {until} {b.tzname()}{where}"
    return f"{a:%a %Y-%m-%d %H:%M}-{until} {a.tzname()}{where}"


def message_id(notification_id: int, store: str) -> str:
    """Stable per notification and store: a re-sent copy carries the same id."""
    return f"<notification-{notification_id}.{store}@sessionctl>"


def _thread(note: Notification) -> dict:
    """What was frozen for the notification's mail when it was queued (``context.notify``)."""
    import json

    return json.loads(note.mail_data) if note.mail_data else {}


def subject(note: Notification, frozen: dict) -> str:
    """``Approved: MATH101 with Ada Lovelace, request 4``: the same for every mail about one
    booking chain but for its leading event word."""
    event = EVENTS.get(note.kind, note.kind.replace("_", " ").capitalize())
    request = note.request
    if request is None:
        return event
    other = request.slot.educator if note.user.id == request.student.id else request.student
    first = frozen.get("chain", request.id)
    return f"{event}: {request.slot.course.code} with {shown_name(other)}, request {first}"


def compose(note: Notification, from_: tuple[str, str], store: str, *,
            eightbit: bool = False) -> bytes:
    """The e-mail for one notification, as the bytes that go to the server (CRLF lines): a
    subject naming the event, course and other party; a plain-text body with the session
    time in the recipient's zone and UTC, the educator, the link and the request id; the
    booking's invitation beside it (``text/calendar``) when it has one; In-Reply-To/References
    to the first message about the booking chain; Reply-To the other party. ``eightbit``: the
    server takes 8-bit bodies (else quoted-printable). Written here rather than through
    ``email.message.EmailMessage``, whose header machinery was most of ``notify send``'s time
    (``benchmarks/README.md``, issue 19); a header that is not plain short ASCII is still
    folded and encoded by the e-mail library (``_header``)."""
    from email.utils import format_datetime

    user, request = note.user, note.request
    slot = request.slot if request is not None else None
    frozen = _thread(note)
    if frozen.get("invitation") == "when sent" and request is not None:
        # the database mode: the server kept no invitation a non-admin wrote (rls_guards.py's
        # notification_guard); it is built now, from the rows
        from sessionctl.domain.calendar import invitation

        frozen.update(invitation(request, user.id, store) or {})
    facts = []
    if slot is not None:
        tz = user_zone(user)
        start, end = from_db(slot.starts_at), from_db(slot.ends_at)
        facts += [("Course", f"{slot.course.code}: {slot.course.title}"),
                  ("When", _span(start, end, tz))]
        if zone_name(tz) != "UTC":
            facts.append(("", _span(start, end, timezone.utc)))
        facts += [("Educator", _person(slot.educator)), ("Student", _person(request.student))]
    if request is not None:
        if request.link or slot.link:
            facts.append(("Link", request.link or slot.link))
        facts.append(("Request", f"{request.id} (sessionctl request show {request.id})"))
    width = max((len(k) for k, _ in facts), default=0) + 2
    lines = [f"Hello {shown_name(user)},", "", note.text, ""]
    lines += [(f"{k}:" if k else "").ljust(width) + v for k, v in facts]
    lines += ["", "-- ", "sent by sessionctl; 'sessionctl inbox' lists your notifications"]

    head = [_header("Subject", header_text(subject(note, frozen))),
            _address("From", from_[0], from_[1]),
            _address("To", user.display or "", user.email)]
    if request is not None:
        other = slot.educator if user.id == request.student.id else request.student
        if other.email and other.id != user.id:
            try:
                head.append(_address("Reply-To", shown_name(other), check_email(other.email)))
            except (UsageError, ValueError):  # an address an old store let in: no Reply-To
                pass
    head += [_header("Date", format_datetime(from_db(note.created_at))),
             _header("Message-ID", message_id(note.id, store))]
    if frozen.get("root") not in (None, note.id):
        head += [_header(name, message_id(frozen["root"], store))
                 for name in ("In-Reply-To", "References")]
    head += ["Auto-Submitted: auto-generated\r\n",  # RFC 3834: no auto-replies to this
             "MIME-Version: 1.0\r\n"]
    text = "\n".join(lines) + "\n"
    parts = [_part("text/plain", "", text, eightbit)]
    if frozen.get("method"):
        parts.append(_part("text/calendar", f'; method="{frozen["method"]}"',
                           _invitation(frozen, from_[1]), eightbit))
    if len(parts) == 1:
        return "".join(head).encode("ascii") + parts[0]
    import secrets

    boundary = f"=_sessionctl_{secrets.token_hex(16)}".encode("ascii")
    while any(boundary in part for part in parts):
        boundary = f"=_sessionctl_{secrets.token_hex(16)}".encode("ascii")
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary.decode()}"\r\n\r\n')
    return ("".join(head).encode("ascii") + b"--" + boundary + b"\r\n"
            + (b"\r\n--" + boundary + b"\r\n").join(parts)
            + b"\r\n--" + boundary + b"--\r\n")


_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")  # a display name needing no quotes
_FOLD_AT = 78  # RFC 5322's recommended line length, as the e-mail library folds
_MOST = 998  # RFC 5322: the octets a line may hold


def _header(name: str, value: str) -> str:
    """One header field with its CRLF: as it is when it is short printable ASCII, else
    folded and RFC 2047-encoded by the e-mail library (``email.policy.SMTP``), as
    ``EmailMessage`` would; text the library cannot fold into lines of 998 octets (a run of
    a thousand characters without a space) as encoded words (``_encoded``)."""
    line = _folded(name, value)
    return line if _fits(line) else _encoded(name, value)


def _folded(name: str, value: str) -> str:
    line = f"{name}: {value}\r\n"
    if len(line) <= _FOLD_AT + 2 and value.isascii() and value.isprintable():
        return line
    from email.policy import SMTP

    return SMTP.fold(name, SMTP.header_factory(name, value))


def _fits(line: str) -> bool:
    """No line of the field longer than RFC 5322 allows (998 octets before its CRLF)."""
    return all(len(part.encode()) <= _MOST for part in line.split("\r\n"))


def _encoded(name: str, text: str, address: str = "") -> str:
    """``text`` as RFC 2047 encoded words, which may split it anywhere (a reader joins adjacent
    encoded words without a space), folded by the e-mail library's ``Header``; then
    ``address``."""
    from email.header import Header

    words = Header(text, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {words}" + (f"\r\n {address}" if address else "") + "\r\n"


def _address(name: str, display: str, addr_spec: str) -> str:
    """An address header: ``Display Name <a@b.c>`` (or the bare address), the name quoted
    or encoded by the e-mail library when it is more than plain words."""
    display = header_text(display)
    if display.strip() == display and _ATOMS.fullmatch(display) and addr_spec.isascii():
        line = _folded(name, f"{display} <{addr_spec}>" if display else addr_spec)
    else:
        from email.headerregistry import Address

        line = _folded(name, str(Address(display, addr_spec=addr_spec)))
    return line if _fits(line) else _encoded(name, display, f"<{addr_spec}>")


def _part(kind: str, params: str, text: str, eightbit: bool) -> bytes:
    """A text body part, headers and all, in the transfer encoding ``_cte`` picks."""
    cte = _cte(text, eightbit)
    lines = text.encode("utf-8").splitlines()
    if cte == "quoted-printable":
        from email import quoprimime

        body = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), _FOLD_AT)
        data = body.replace("\n", "\r\n").encode("ascii")
    else:
        data = b"\r\n".join(lines) + b"\r\n"
    return (f'Content-Type: {kind}; charset="utf-8"{params}\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode("ascii") + data


MAX_LINE = 998  # octets in a line of a mail body (RFC 5321 4.5.3.1.6)


def _cte(text: str, eightbit: bool) -> str:
    """As is where every line fits SMTP's line limit (7bit, or 8bit where the server takes it),
    else quoted-printable: one long message line must not make a mail undeliverable."""
    if any(len(line.encode()) > MAX_LINE for line in text.splitlines()):
        return "quoted-printable"
    if text.isascii():
        return "7bit"
    return "8bit" if eightbit else "quoted-printable"


def _invitation(frozen: dict, sender: str) -> str:
    """The iTIP part (RFC 5546) as frozen when the notification was queued."""
    from sessionctl import ics
    from sessionctl.domain.calendar import EventView

    event = EventView.thawed(frozen["event"])
    return ics.calendar([event], name="sessionctl", method=frozen["method"],
                        sender=sender).decode("utf-8")


# -- delivery ----------------------------------------------------------------------------------


@dataclass
class Refusal:
    """One message that did not go out this run and stays queued."""

    notification: int
    address: str
    reply: str
    built: bool = True  # False: the message could not even be built from the stored data

    def text(self) -> str:
        if not self.built:
            return (f"cannot build the e-mail of notification {self.notification} for "
                    f"{self.address!r}: {self.reply}; it stays queued (fix the user with "
                    "'sessionctl user set')")
        return (f"the mail server refused notification {self.notification} for "
                f"{self.address}: {self.reply}; it stays queued")


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    queued: int = 0
    refusals: list[Refusal] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "queued": self.queued}


def message_bytes(note: Notification, from_: tuple[str, str], store: str, *,
                  eightbit: bool = False) -> tuple[str, bytes]:
    """The recipient and the finished message (CRLF lines, RFC 2047 headers), or UsageError /
    ValueError when the stored data cannot make a valid one."""
    address = check_email(note.user.email)
    return address, compose(note, from_, store, eightbit=eightbit)


def send(ctx: Context, transport: Transport, from_: tuple[str, str], *, patience: float) -> Outcome:
    """E-mail every queued notification whose user has an address; see the module's notes.
    ``patience``: the transport's timeout in seconds (a dead run's lease outlives it)."""
    with ctx.read():
        access.require_role(ctx, "admin", doing="run notify send")
        if not _still_queued():
            return Outcome()  # nothing to do: no lease, no connection
    outcome = Outcome()
    with _lease(ctx, timedelta(seconds=max(300.0, 10 * patience))) as renew:
        with ctx.read():
            batch, store = list(_queued()), store_id()
        mail = [n for n in batch if n.user.email]
        nowhere = [n.id for n in batch if not n.user.email]
        with (transport if mail else nullcontext(),  # nothing is marked if it cannot connect
              ctx.store.lazy_commits()):  # a mark lost with the machine re-sends one message
            if nowhere:
                with ctx.write():
                    Notification.update(mail_state="undeliverable").where(
                        Notification.id.in_(nowhere), Notification.mail_state == "queued"
                    ).execute()
            stalled = False  # the last message tried timed out
            hung: dict[str, str] = {}  # recipients that timed out: their messages wait
            for note in mail:
                try:
                    address, data = message_bytes(note, from_, store, eightbit=transport.eightbit)
                except (UsageError, ValueError, TypeError, LookupError) as exc:
                    reason = exc.message if isinstance(exc, UsageError) else str(exc)
                    outcome.refusals.append(
                        Refusal(note.id, note.user.email, " ".join(reason.split()), built=False))
                    continue
                if address in hung:  # timed out already in this run: no second wait
                    outcome.refusals.append(Refusal(note.id, address, hung[address]))
                    continue
                try:
                    transport.send(data, from_[1], address)
                except MessageRefused as exc:
                    outcome.refusals.append(Refusal(note.id, address, exc.reply))
                    continue
                except ConnectionLost as exc:
                    timed_out = isinstance(exc, MessageTimedOut)
                    if timed_out and not stalled:  # one slow recipient holds back nobody
                        outcome.refusals.append(Refusal(note.id, address, exc.reply))
                        hung[address], stalled = exc.reply, True
                        transport.reconnect()
                        continue
                    raise Unavailable(
                        f"lost the mail server {exc.where} after {outcome.sent} of "
                        f"{len(mail)} messages: {exc.reply}"
                        + (" (twice in a row)" if timed_out else ""),
                        hint="the messages it accepted are marked sent; the rest stay "
                        "queued for the next run",
                    ) from None
                _mark_sent(ctx, note.id, renew)
                outcome.sent += 1
                stalled = False
    with ctx.read():
        outcome.queued = _still_queued()
    outcome.failed = len(outcome.refusals)
    return outcome


def _mark_sent(ctx: Context, notification_id: int, renew) -> None:
    """Mark one accepted message sent (compare-and-swap) and extend the lease in one write."""
    with ctx.write():
        queries.MARK_SENT.execute(id=notification_id, at=to_db(ctx.now()))
        kept = renew()
    if not kept:  # the mark above stands: the server did accept that message
        raise Unavailable("this run's claim on the outbox expired and another run took it "
                          "over; the rest stays queued for it")


def _lease(ctx: Context, length: timedelta):
    """Hold the ``mail`` lease (``domain/lease.py``)."""
    from sessionctl.domain.lease import hold

    return hold(ctx, LEASE, length,
                "another 'sessionctl notify send' is sending{until}; nothing was sent",
                "let it finish; the next run sends whatever it left queued")
