"""The SMTP transport for ``notify send``: the URL, the connection, and what a reply means.

The domain (``domain/mail.py``) owns the outbox, the lease and each message's text; this
module only moves finished messages to a server. It tells the domain what happened to each
one by raising ``MessageRefused`` (the server said no to this message: it stays queued and
the rest go on) or ``ConnectionLost`` (nothing more can be sent in this run).

smtplib, ssl and socket are imported only here, when mail is really sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sessionctl.domain.mail import ConnectionLost, MessageRefused, MessageTimedOut
from sessionctl.errors import Unavailable, UsageError

PORTS = {"smtp": 25, "smtps": 465}
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
URL_HINT = "use smtp://[USER@]HOST[:PORT][?starttls=1] or smtps://[USER@]HOST[:PORT]"


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to deliver: parsed from the ``--smtp`` URL."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = 30.0

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.scheme == "smtps" or self.starttls


def target(url: str | None, *, password: str | None, timeout: float) -> SmtpTarget:
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
                      secret if user else None, starttls, timeout)


class Transport:
    """One SMTP connection for a whole run (``with Transport(target) as t: t.send(…)``)."""

    def __init__(self, target: SmtpTarget):
        self.target = target
        self.server = None
        self.eightbit = False  # the server offers 8BITMIME: bodies go as 8-bit, not quoted-printable

    def __enter__(self) -> "Transport":
        self.server = _connect(self.target)
        self.eightbit = _offers_8bitmime(self.server)
        return self

    def __exit__(self, *exc) -> None:
        import smtplib

        try:
            self.server.quit()
        except (smtplib.SMTPException, OSError):
            self.server.close()

    def reconnect(self) -> None:
        """A new connection in place of one left unusable (a timed-out reply)."""
        self.server.close()
        self.server = _connect(self.target)
        self.eightbit = _offers_8bitmime(self.server)

    def send(self, data: bytes, sender: str, recipient: str) -> None:
        """Hand one finished message (bytes, CRLF lines) to the server for one recipient."""
        import smtplib

        try:
            options = ["BODY=8BITMIME"] if self.eightbit else []
            self.server.sendmail(sender, [recipient], data, mail_options=options)
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib's word for a slow reply
                raise MessageTimedOut(self.target.where, _reply(exc.__context__, self.target)) from None
            raise ConnectionLost(self.target.where, _reply(exc, self.target)) from None
        except smtplib.SMTPException as exc:
            if _code(exc) == 421:  # "closing the channel": the server is going away
                raise ConnectionLost(self.target.where, _reply(exc, self.target)) from None
            raise MessageRefused(_reply(exc)) from None
        except TimeoutError as exc:
            raise MessageTimedOut(self.target.where, _reply(exc, self.target)) from None
        except OSError as exc:
            raise ConnectionLost(self.target.where, _reply(exc, self.target)) from None


def _offers_8bitmime(server) -> bool:
    import smtplib

    try:
        server.ehlo_or_helo_if_needed()
    except (smtplib.SMTPException, OSError):
        return False  # sending fails on its own and says why
    return server.has_extn("8bitmime")


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
                _login(server, target)
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


def _login(server, target: SmtpTarget) -> None:
    """smtplib's login, which can send only ASCII. A user name or password beyond ASCII goes
    as UTF-8 in AUTH PLAIN, which RFC 4616 defines as UTF-8, when the server offers it;
    otherwise it is exit 2 before anything is sent (no other mechanism says how to carry it)."""
    if (target.user + target.password).isascii():
        server.login(target.user, target.password)
        return
    import base64
    import smtplib

    server.ehlo_or_helo_if_needed()
    if not server.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    if "PLAIN" not in server.esmtp_features["auth"].upper().split():
        raise UsageError(f"the SMTP user or password is not ASCII, and the mail server "
                         f"{target.where} does not offer AUTH PLAIN, the one login that carries "
                         "UTF-8; nothing was sent",
                         hint="use an ASCII user name and password for this server")
    secret = b"\0" + target.user.encode() + b"\0" + target.password.encode()
    code, said = server.docmd("AUTH", "PLAIN " + base64.b64encode(secret).decode("ascii"))
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, said)


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
