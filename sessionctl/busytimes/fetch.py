"""Reading one busy source's bytes (``docs/reference/busy-times.md#fetching``).

A URL is fetched with ``http.client`` alone: no ``.netrc``, no proxy, no cookie, nothing of
the environment. Every redirect is followed by hand and checked again like the first URL. In
the restricted modes (the shared and database modes, where the process acts for someone else)
a host's name is resolved once, every address it has is checked (no loopback, private,
link-local, multicast or reserved address unless ``busy_allow`` lists it), and the connection
goes to the address that was checked, so a second answer of the DNS cannot send it elsewhere.

A file or a vdir (a directory of ``.ics`` files, as vdirsyncer keeps them) is read as it is,
outside the restricted modes only. Every source is capped at ``MAX_BYTES`` and ``timeout``
seconds in all: a server that drips its answer is cut off like one that hangs.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time

from sessionctl.busytimes.sources import SCHEMES, is_url, shown
from sessionctl.configfile import read_capped

MAX_BYTES = 20 * 2**20  # a calendar of 5,000 events is ~2 MB
MAX_REDIRECTS = 5
MAX_FILES = 100_000  # .ics files in one vdir


class FetchError(Exception):
    """The source could not be read: why, in words that show the source masked."""


class Rules:
    """How a source may be fetched: ``restricted`` (the shared and database modes), the
    addresses ``busy_allow`` lets through there, the timeout in seconds."""

    def __init__(self, *, restricted: bool, allow: tuple[str, ...] = (), timeout: float = 10.0):
        self.restricted = restricted
        self.timeout = timeout
        self.allow = []
        for entry in allow:
            try:
                self.allow.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.allow.append(entry.lower().rstrip("."))  # a host name

    def allowed(self, host: str, address) -> bool:
        for entry in self.allow:
            if isinstance(entry, str):
                if entry == host:
                    return True
            elif address.version == entry.version and address in entry:
                return True
        return False


def read(source: str, rules: Rules) -> bytes:
    """The bytes of ``source`` (a URL, a file or a vdir), or ``FetchError``."""
    deadline = time.monotonic() + rules.timeout
    if is_url(source):
        return _http(source, rules, deadline).replace(b"\0", b"")  # NUL: no text, a separator
    if rules.restricted:
        raise FetchError(f"busy source {source} is a path; in the shared and database modes "
                         "only http(s) URLs stored with 'user set --busy' are read")
    if os.path.isdir(source):
        return _vdir(source)
    return _file(source, source).replace(b"\0", b"")


def _file(path: str, source: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FetchError(f"cannot read busy source {source}: {exc.strerror}") from None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FetchError(f"busy source {source} is not a regular file or a directory"
                             if path == source else
                             f"busy source {source}: {os.path.basename(path)} is not a regular file")
        data = read_capped(fd, MAX_BYTES)
    except OSError as exc:
        raise FetchError(f"cannot read busy source {source}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise FetchError(_too_big(source))
    return data


def _vdir(path: str) -> bytes:
    """A vdir's ``.ics`` files, each a calendar of one item, joined with NUL between them
    (``index.parse`` splits them again)."""
    try:
        names = sorted(n for n in os.listdir(path) if n.endswith(".ics"))
    except OSError as exc:
        raise FetchError(f"cannot read busy source {path}: {exc.strerror}") from None
    if len(names) > MAX_FILES:
        raise FetchError(f"busy source {path} holds more than {MAX_FILES} files")
    parts, size = [], 0
    for name in names:
        data = _file(os.path.join(path, name), path).replace(b"\0", b"")
        size += len(data)
        if size > MAX_BYTES:
            raise FetchError(_too_big(path))
        if b"BEGIN:VCALENDAR" not in data[:4096].upper():  # say which file, not only the vdir
            raise FetchError(f"busy source {path}: {name} is not iCalendar (no BEGIN:VCALENDAR)")
        parts.append(data)
    return b"\0".join(parts)


def _too_big(source: str) -> str:
    return f"busy source {shown(source)} is larger than {MAX_BYTES // 2**20} MiB"


# -- HTTP ---------------------------------------------------------------------------------------


def _http(source: str, rules: Rules, deadline: float) -> bytes:
    from urllib.parse import urljoin, urlsplit

    url, first_host = source, urlsplit(source).hostname
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme.lower() not in SCHEMES or not parts.hostname:
            raise FetchError(f"busy source {shown(source)} redirects to a "
                             f"{parts.scheme.lower() or 'schemeless'}: URL, which is not "
                             "an http(s) URL")
        # a password in the URL goes to the host it was given for, never to a redirect's
        auth = (parts.username, parts.password) if parts.hostname == first_host else None
        status, location, body = _get(parts, auth, rules, deadline, source)
        if status in (301, 302, 303, 307, 308):
            if not location:
                raise FetchError(f"busy source {shown(source)} redirects without a Location")
            url = urljoin(url, location)
            continue
        if status != 200:
            raise FetchError(f"busy source {shown(source)} answered HTTP {status}")
        return body
    raise FetchError(f"busy source {shown(source)} redirects more than {MAX_REDIRECTS} times")


def _addresses(host: str, port: int, rules: Rules, source: str, deadline: float) -> list[str]:
    """The addresses to connect to, in order: in the restricted modes every address the name
    has is checked first (so no answer may reach what a caller must not)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"busy source {shown(source)}: cannot resolve its host "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    if time.monotonic() > deadline:
        raise FetchError(f"busy source {shown(source)} timed out after {rules.timeout:g} s")
    addresses = [info[4][0] for info in found]
    if rules.restricted:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            mapped = getattr(address, "ipv4_mapped", None)
            address = mapped or address
            # not global: loopback, private, link-local, reserved, unspecified, and the shared
            # address space 100.64.0.0/10 (a cloud's metadata service: 100.100.100.200)
            inside = not address.is_global or address.is_multicast
            if inside and not rules.allowed(host.lower().rstrip("."), address):
                raise FetchError(
                    f"busy source {shown(source)} leads to {address}, a loopback, private or "
                    "link-local address; in the shared and database modes such addresses are "
                    "refused unless the site file's busy_allow lists them")
    return list(dict.fromkeys(addresses))


def _connect(addresses: list[str], port: int, deadline: float) -> socket.socket:
    """A connection to the first of ``addresses`` that answers (never the name again)."""
    failure: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port),
                                            timeout=max(0.01, deadline - time.monotonic()))
        except OSError as exc:
            failure = exc
    raise failure


def _get(parts, auth, rules: Rules, deadline: float, source: str):
    import http.client

    host = parts.hostname
    https = parts.scheme.lower() == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError:
        raise FetchError(f"busy source {shown(source)} has a port that is not a number") from None
    addresses = _addresses(host, port, rules, source, deadline)
    left = max(0.01, deadline - time.monotonic())
    watchdog, connection = None, None
    try:
        sock = _connect(addresses, port, deadline)
        # the deadline holds for every byte, the status line and headers included (a socket
        # timeout alone restarts at each byte a dripping server sends)
        watchdog = _Watchdog(sock, deadline)
        if https:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        connection = http.client.HTTPConnection(host, port, timeout=left)
        connection.sock = sock  # the checked address, whatever the name resolves to now
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Host": parts.netloc.rpartition("@")[2], "User-Agent": "sessionctl",
                   "Accept": "text/calendar, */*;q=0.1", "Accept-Encoding": "identity"}
        if auth and auth[0] is not None:
            import base64
            from urllib.parse import unquote

            token = f"{unquote(auth[0])}:{unquote(auth[1] or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            location = response.getheader("Location")
            return response.status, location, b""
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > MAX_BYTES:
            raise FetchError(_too_big(source))
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise socket.timeout()
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = response.read1(1 << 16) if hasattr(response, "read1") else response.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BYTES:
                raise FetchError(_too_big(source))
            chunks.append(chunk)
        if watchdog.fired:  # the end of the body was the watchdog's, not the server's
            raise socket.timeout()
        return 200, None, b"".join(chunks)
    except FetchError:
        raise
    except (socket.timeout, TimeoutError):
        raise FetchError(f"busy source {shown(source)} timed out after {rules.timeout:g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if watchdog is not None and watchdog.fired:
            raise FetchError(
                f"busy source {shown(source)} timed out after {rules.timeout:g} s") from None
        what = getattr(exc, "strerror", None) or type(exc).__name__
        raise FetchError(f"cannot fetch busy source {shown(source)}: {what}") from None
    finally:
        if watchdog is not None:
            watchdog.close(connection.close if connection is not None else sock.close)


class _Watchdog:
    """At the deadline, shut the connection down (its reader then fails at once) unless it was
    closed first: ``close`` marks it closed under the same lock, so a reused fd is never shut."""

    def __init__(self, sock, deadline: float):
        import threading

        self.fd, self.lock = sock.fileno(), threading.Lock()
        self.closed = self.fired = False
        self.timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._shut)
        self.timer.daemon = True
        self.timer.start()

    def _shut(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.fired = True
            shut = socket.socket(fileno=self.fd)
            try:
                shut.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                shut.detach()  # the fd stays the reader's to close

    def close(self, closing) -> None:
        with self.lock:
            self.closed = True
            self.timer.cancel()
            closing()
