"""Busy times from a real CalDAV server (docs/reference/busy-times.md): Radicale runs on loopback
with a temp storage folder, the educator's calendar is written with a CalDAV client (the
``caldav`` package), and the collection's URL, password and all, is the busy source."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from conftest import snapshot

caldav = pytest.importorskip("caldav")
pytest.importorskip("radicale")


def calendar(body: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//busy//EN\r\n"
            f"{body}END:VCALENDAR\r\n")


WEEKLY = calendar("""BEGIN:VEVENT\r
UID:lectures-1\r
DTSTART;TZID=Europe/Paris:20300107T140000\r
DTEND;TZID=Europe/Paris:20300107T160000\r
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=8\r
EXDATE;TZID=Europe/Paris:20300114T140000\r
SUMMARY:Lecture\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:lectures-1\r
RECURRENCE-ID;TZID=Europe/Paris:20300121T140000\r
DTSTART;TZID=Europe/Paris:20300122T090000\r
DTEND;TZID=Europe/Paris:20300122T110000\r
SUMMARY:Lecture (moved to Tuesday)\r
END:VEVENT\r
""")

ALL_DAY = calendar("""BEGIN:VEVENT\r
UID:retreat-1\r
DTSTART;VALUE=DATE:20300130\r
DTEND;VALUE=DATE:20300201\r
SUMMARY:Department retreat\r
END:VEVENT\r
""")

FREE = calendar("""BEGIN:VEVENT\r
UID:office-hours-1\r
DTSTART:20300108T130000Z\r
DTEND:20300108T150000Z\r
TRANSP:TRANSPARENT\r
SUMMARY:Office hours (free)\r
END:VEVENT\r
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def radicale(tmp_path):
    """A Radicale server on loopback (any password; each user owns their own collections)."""
    port = free_port()
    log = open(tmp_path / "radicale.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", "", "--server-hosts", f"127.0.0.1:{port}",
         "--auth-type", "none", "--rights-type", "owner_only",
         "--storage-filesystem-folder", str(tmp_path / "collections")],
        stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        server.kill()
        pytest.fail("Radicale did not start")
    yield f"http://127.0.0.1:{port}/", server
    if server.poll() is None:
        server.terminate()
        server.wait(10)
    log.close()


@pytest.fixture
def caldav_busy(world, radicale, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    base, server = radicale
    client = caldav.DAVClient(url=base, username="ada", password="s3cret")
    calendar = client.principal().make_calendar(name="Teaching", cal_id="teaching")
    for text in (WEEKLY, ALL_DAY, FREE):
        calendar.save_event(text)
    url = str(calendar.url).replace("http://", "http://ada:s3cret@", 1)
    assert world("user", "set", "--busy", url, user="ada").exit_code == 0
    world.calendar, world.server, world.url = calendar, server, url
    return world


def add(cli, start: str, minutes: int = 30, *extra: str):
    return cli("slot", "add", "--course", "MATH101", "--start", start, "--duration",
               f"{minutes}m", *extra, user="ada")


def test_the_collection_url_is_the_busy_source(caldav_busy):
    cli = caldav_busy
    cases = [
        ("2030-01-07 13:30", 5, "a weekly lecture (14:00 Paris is 13:00 UTC)"),
        ("2030-01-14 13:30", 0, "the lecture EXDATE removes"),
        ("2030-01-21 13:30", 0, "the Monday the moved lecture left"),
        ("2030-01-22 08:30", 5, "the Tuesday RECURRENCE-ID moved it to"),
        ("2030-01-28 14:30", 5, "a later lecture"),
        ("2030-01-30 10:00", 5, "the first day of an all-day event of two days"),
        ("2030-01-31 22:00", 5, "its second day"),
        ("2030-02-01 10:00", 0, "after it"),
        ("2030-01-08 13:30", 0, "a transparent event"),
    ]
    for start, code, why in cases:
        before = snapshot(cli.db)
        result = add(cli, start)
        assert result.exit_code == code, (why, result.stderr)
        if code:
            assert snapshot(cli.db) == before
            assert "s3cret" not in result.stderr and "teaching" not in result.stderr


def test_a_change_on_the_server_is_seen_after_the_ttl_and_an_outage_uses_the_copy(
        caldav_busy, tmp_path, monkeypatch):
    cli = caldav_busy
    assert add(cli, "2030-03-04 09:00").exit_code == 0  # fetched and cached
    cli.calendar.save_event(WEEKLY.replace("lectures-1", "seminar-1")
                            .replace("20300107T1", "20300304T1").replace("20300114T1", "20300311T1")
                            .replace("20300121T1", "20300318T1").replace("20300122T", "20300319T"))
    # within busy_ttl the cached copy stands: the new seminar is not seen yet
    assert add(cli, "2030-03-04 13:30").exit_code == 0
    from sessionctl import timeparse

    real = timeparse.utcnow
    monkeypatch.setattr(timeparse, "utcnow", lambda: real() + timedelta(minutes=16))
    seen = add(cli, "2030-03-04 14:15")
    assert seen.exit_code == 5 and "Lecture" in seen.stderr
    # the server goes away: a copy younger than a day is used, with a warning naming it masked
    cli.server.terminate()
    cli.server.wait(10)
    monkeypatch.setattr(timeparse, "utcnow", lambda: real() + timedelta(minutes=40))
    stale = add(cli, "2030-03-11 14:15")
    assert stale.exit_code == 0, stale.stderr  # the seminar's 03-11 occurrence is EXDATEd
    assert "warning: cannot fetch busy source http://127.0.0.1:" in stale.stderr
    assert "s3cret" not in stale.stderr and "teaching" not in stale.stderr
    refused = add(cli, "2030-03-25 13:30")
    assert refused.exit_code == 5 and "warning:" in refused.stderr
