"""Fetching busy sources over HTTP (docs/reference/busy-times.md#fetching), against a small
hostile HTTP server on loopback: one that hangs, drips, redirects to ``file:`` or in a loop,
answers 25 MiB or HTML, sets cookies; and the restricted modes' rules
(docs/reference/busy-times.md#the-shared-and-database-modes): loopback, private and
link-local addresses refused unless ``busy_allow`` lists them, every redirect re-checked, the
name resolved once and the checked address connected to."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import snapshot
from sessionctl.busytimes import fetch

CALENDAR = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:h1\r\n"
            b"DTSTART:20300107T090000Z\r\nDTEND:20300107T100000Z\r\nSUMMARY:Remote\r\n"
            b"END:VEVENT\r\nEND:VCALENDAR\r\n")


class Hostile(BaseHTTPRequestHandler):
    seen: list = []  # (path, headers) of every request
    stop = threading.Event()

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes = b"", **headers):
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        if "Content_Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's name
        Hostile.seen.append((self.path, dict(self.headers)))
        port = self.server.server_address[1]
        path = self.path
        if path == "/cal.ics":
            self._send(200, CALENDAR, Content_Type="text/calendar")
        elif path == "/hang":
            Hostile.stop.wait(30)
        elif path == "/drip":
            self.send_response(200)
            self.end_headers()
            for _ in range(300):
                if Hostile.stop.wait(0.1):
                    break
                try:
                    self.wfile.write(b"B")
                    self.wfile.flush()
                except OSError:
                    break
        elif path == "/drip-headers":  # a header byte every 0.2 s, the body never
            self.send_response_only(200)
            for _ in range(300):
                if Hostile.stop.wait(0.2):
                    break
                try:
                    self.wfile.write(b"X")
                    self.wfile.flush()
                except OSError:
                    break
        elif path == "/huge":
            self.send_response(200)
            self.end_headers()
            chunk = b"X" * 2**20
            try:
                for _ in range(25):
                    self.wfile.write(chunk)
            except OSError:
                pass
        elif path == "/huge-declared":
            self._send(200, b"", Content_Length=str(30 * 2**20))
        elif path == "/to-file":
            self._send(302, Location="file:///etc/passwd")
        elif path == "/to-gopher":
            self._send(301, Location="gopher://127.0.0.1/x")
        elif path == "/loop":
            self._send(302, Location="/loop")
        elif path == "/relative":
            self._send(307, Location="cal.ics")
        elif path == "/to-localhost":
            self._send(302, Location=f"http://localhost:{port}/record",
                       Set_Cookie="session=sticky; Path=/")
        elif path == "/to-private":
            self._send(302, Location="http://169.254.169.254/latest/meta-data/")
        elif path == "/to-ip":
            self._send(302, Location=f"http://127.0.0.1:{port}/cal.ics")
        elif path == "/record":
            self._send(200, CALENDAR)
        elif path == "/slow":  # answers after three seconds
            Hostile.stop.wait(3)
            self._send(200, CALENDAR)
        elif path == "/missing":
            self._send(404, b"no")
        elif path == "/html":
            self._send(200, b"<html><body>Sign in</body></html>", Content_Type="text/html")
        elif path == "/evil":
            self._send(200, CALENDAR.replace(b"SUMMARY:Remote",
                                             b"SUMMARY:\x1b[31mred\x1b]8;;http://x\x07"))
        else:
            self._send(500)


@pytest.fixture
def server():
    Hostile.seen = []
    Hostile.stop = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    Hostile.stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def remote(world, server, tmp_path, monkeypatch):
    """ada's config file: a one-second busy_timeout; a private cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    home = tmp_path / "config"
    (home / "sessionctl").mkdir(parents=True)
    (home / "sessionctl" / "config.toml").write_text("busy_timeout = 1\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    world.base = server
    return world


def check(cli, source: str, start: str = "2030-01-07 09:15", code: int = 6):
    assert cli("user", "set", "--busy", source, user="ada").exit_code == 0
    before = snapshot(cli.db)
    began = time.monotonic()
    result = cli("slot", "add", "--course", "MATH101", "--start", start, "--duration", "30m",
                 user="ada")
    took = time.monotonic() - began
    assert result.exit_code == code, result.stderr
    assert "Traceback" not in result.stderr
    if code:
        assert snapshot(cli.db) == before and result.stdout == ""
    return result, took


def test_a_url_source_is_fetched(remote):
    result, _ = check(remote, remote.base + "/cal.ics", code=5)
    assert "Remote" in result.stderr
    check(remote, remote.base + "/relative", code=5)  # a relative redirect, followed


@pytest.mark.parametrize("path, fragment", [
    ("/hang", "timed out after 1 s"),
    ("/drip", "timed out after 1 s"),
    ("/drip-headers", "timed out after 1 s"),
    ("/huge", "larger than 20 MiB"),
    ("/huge-declared", "larger than 20 MiB"),
    ("/to-file", "redirects to a file: URL, which is not an http(s) URL"),
    ("/to-gopher", "which is not an http(s) URL"),
    ("/loop", "redirects more than 5 times"),
    ("/missing", "answered HTTP 404"),
    ("/html", "not iCalendar"),
])
def test_hostile_servers_are_a_clear_exit_6(remote, path, fragment):
    result, took = check(remote, remote.base + path)
    assert fragment in result.stderr
    assert f"busy source {remote.base}/…" in result.stderr  # masked: the path is the secret
    assert path not in result.stderr
    assert took < 20  # cut off, never waiting on the server (busy_timeout = 1)


def test_hostile_summary_text_is_escaped(remote):
    result, _ = check(remote, remote.base + "/evil", code=5)
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\\x1b[31mred" in result.stderr


def test_no_cookies_netrc_proxy_or_password_to_another_host(remote, tmp_path, monkeypatch):
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login ada password netrc-secret\n"
                                     "machine localhost login ada password netrc-secret\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens: a proxy would fail
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    url = remote.base.replace("http://", "http://ada:pw@") + "/to-localhost"
    check(remote, url, code=5)
    (first, first_headers), (second, second_headers) = Hostile.seen[-2:]
    assert (first, second) == ("/to-localhost", "/record")
    assert first_headers.get("Authorization", "").startswith("Basic ")  # its own host
    assert "Authorization" not in second_headers  # not to the host it redirects to
    assert "Cookie" not in second_headers


def test_a_slow_source_never_holds_the_write_lock(remote, tmp_path):
    """Real processes: while ada's ``slot add`` waits three seconds for her calendar, bob's
    ``slot add`` (willing to wait one second for the lock) goes through, and then ada's does."""
    import os
    import subprocess

    from test_processes import BIN

    (tmp_path / "config" / "sessionctl" / "config.toml").write_text("busy_timeout = 20\n")
    assert remote("user", "set", "--busy", remote.base + "/slow", user="ada").exit_code == 0
    env = {**os.environ, "SESSIONCTL_DB": str(remote.db), "SESSIONCTL_TZ": "UTC"}
    env.pop("SESSIONCTL_DEBUG", None)
    ada = subprocess.Popen([str(BIN), "slot", "add", "--course", "MATH101", "--start",
                            "2030-02-04 12:00", "--duration", "30m"],
                           env={**env, "SESSIONCTL_USER": "ada"}, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):  # until ada's process asks for the calendar
            if any(path == "/slow" for path, _ in Hostile.seen):
                break
            time.sleep(0.05)
        began = time.monotonic()
        bob = subprocess.run([str(BIN), "slot", "add", "--course", "PHYS1", "--start",
                              "2030-02-04 12:00", "--duration", "30m"],
                             env={**env, "SESSIONCTL_USER": "bob",
                                  "SESSIONCTL_LOCK_TIMEOUT": "1"},
                             capture_output=True, text=True, timeout=60)
        assert bob.returncode == 0, bob.stderr
        assert ada.poll() is None or time.monotonic() - began < 3  # ada was still waiting
    finally:
        out, err = ada.communicate(timeout=60)
    assert ada.returncode == 0, err
    assert "2030-02-04" in out


# -- the restricted modes -----------------------------------------------------------------------


def rules(*allow: str) -> fetch.Rules:
    return fetch.Rules(restricted=True, allow=allow, timeout=2)


def test_loopback_is_refused_unless_allowed(server):
    with pytest.raises(fetch.FetchError, match="loopback, private or link-local"):
        fetch.read(server + "/cal.ics", rules())
    assert Hostile.seen == []  # refused before connecting
    assert fetch.read(server + "/cal.ics", rules("127.0.0.1")) == CALENDAR
    assert fetch.read(server + "/cal.ics", rules("127.0.0.0/8")) == CALENDAR


@pytest.mark.parametrize("url", [
    "http://10.1.2.3/cal.ics", "http://192.168.0.1/cal.ics", "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/cal.ics",
    "http://[::ffff:127.0.0.1]/x", "http://[fe80::1]/x", "http://0.0.0.0/x",
    "http://224.0.0.1/x", "http://[fd00::1]/x", "http://127.1/x",
    "http://100.100.100.200/latest/meta-data/", "http://100.64.0.1/x",  # shared address space
])
def test_private_and_link_local_addresses_are_refused(url):
    began = time.monotonic()
    with pytest.raises(fetch.FetchError, match="loopback, private or link-local"):
        fetch.read(url, rules())
    assert time.monotonic() - began < 1.5  # refused before any connection


def test_every_redirect_is_checked_again(server):
    port = server.rsplit(":", 1)[1]
    # localhost is allowed by name; where it redirects (127.0.0.1, another name) is not
    with pytest.raises(fetch.FetchError, match="loopback"):
        fetch.read(f"http://localhost:{port}/to-ip", rules("localhost"))
    assert [path for path, _ in Hostile.seen] == ["/to-ip"]
    # the server itself is allowed; the cloud metadata address it redirects to is not
    with pytest.raises(fetch.FetchError, match="leads to 169.254.169.254"):
        fetch.read(server + "/to-private", rules("127.0.0.1"))
    with pytest.raises(fetch.FetchError, match="not an http"):
        fetch.read(server + "/to-file", rules("127.0.0.1"))


def test_the_name_is_resolved_once_and_the_checked_address_connected_to(server, monkeypatch):
    port = int(server.rsplit(":", 1)[1])
    asked = []
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        asked.append(host)
        if host == "calendar.test":  # first answer allowed; any later one would be elsewhere
            answer = "127.0.0.1" if len(asked) == 1 else "10.9.9.9"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    assert fetch.read(f"http://calendar.test:{port}/cal.ics", rules("127.0.0.1")) == CALENDAR
    assert asked.count("calendar.test") == 1  # (create_connection looks up the IP literal)
    assert Hostile.seen[-1][1]["Host"] == f"calendar.test:{port}"


def test_paths_are_refused_in_the_restricted_modes(tmp_path):
    path = tmp_path / "cal.ics"
    path.write_bytes(CALENDAR)
    with pytest.raises(fetch.FetchError, match="only http"):
        fetch.read(str(path), rules())


def test_the_cli_in_a_restricted_mode(remote, monkeypatch, tmp_path):
    """The shared or database mode, as the commands see it (``Invocation.restricted``): a path
    is refused at ``user set`` (exit 4), the config key when it would be read (exit 4), and a
    stored loopback URL when fetched (exit 6)."""
    from sessionctl.cli.invocation import Invocation

    monkeypatch.setattr(Invocation, "restricted", lambda self: True)
    path = tmp_path / "cal.ics"
    path.write_bytes(CALENDAR)
    before = snapshot(remote.db)
    refused = remote("user", "set", "--busy", str(path), user="ada")
    assert refused.exit_code == 4 and "http(s) URLs only" in refused.stderr
    assert snapshot(remote.db) == before
    result, _ = check(remote, remote.base + "/cal.ics")
    assert "loopback, private or link-local" in result.stderr and "busy_allow" in result.stderr
    assert remote("user", "set", "--busy", "", user="ada").exit_code == 0
    (tmp_path / "config" / "sessionctl" / "config.toml").write_text(f'busy = "{path}"\n')
    keyed = remote("slot", "add", "--course", "MATH101", "--start", "2030-01-07 09:15",
                   "--duration", "30m", user="ada")
    assert keyed.exit_code == 4 and "not read in the shared and database modes" in keyed.stderr
