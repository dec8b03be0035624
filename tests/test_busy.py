"""Busy times from the educator's own calendars (docs/reference/busy-times.md): sources stored
with ``user set --busy`` or the ``busy`` key, recurrences and exceptions honoured, the check in
``slot add`` and ``slot update`` (``--ignore-busy``), whose sources count, masking, the cache,
and hostile calendars. Fetching over HTTP and the restricted modes: ``test_busy_fetch.py``; a
real CalDAV server: ``test_busy_caldav.py``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from conftest import snapshot

UTC = timezone.utc


def ics(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip().replace(chr(10), chr(13) + chr(10))}\r\nEND:VEVENT\r\n"
                   for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//busy//EN\r\n{body}END:VCALENDAR\r\n"


CALENDAR = ics(
    """UID:weekly-1
DTSTART;TZID=Europe/Paris:20300107T100000
DTEND;TZID=Europe/Paris:20300107T110000
RRULE:FREQ=WEEKLY;COUNT=6
EXDATE;TZID=Europe/Paris:20300114T100000
SUMMARY:Team meeting""",
    """UID:weekly-1
RECURRENCE-ID;TZID=Europe/Paris:20300121T100000
DTSTART;TZID=Europe/Paris:20300121T150000
DTEND;TZID=Europe/Paris:20300121T160000
SUMMARY:Team meeting (moved)""",
    """UID:allday-1
DTSTART;VALUE=DATE:20300123
DTEND;VALUE=DATE:20300124
SUMMARY:Conference""",
    """UID:free-1
DTSTART:20300124T090000Z
DTEND:20300124T100000Z
TRANSP:TRANSPARENT
SUMMARY:Reading time""",
    """UID:cancelled-1
DTSTART:20300125T090000Z
DTEND:20300125T100000Z
STATUS:CANCELLED
SUMMARY:Called off""",
)


@pytest.fixture
def busy(world, tmp_path, monkeypatch):
    """ada's calendar as an ICS file, stored with ``user set --busy``; a private cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "ada.ics"
    path.write_text(CALENDAR)
    result = world("user", "set", "--busy", str(path), user="ada")
    assert result.exit_code == 0, result.stderr
    world.calendar = path
    return world


def add(cli, start: str, *extra: str, user: str = "ada", minutes: int = 30):
    return cli("slot", "add", "--course", "MATH101", "--start", start, "--duration",
               f"{minutes}m", *extra, user=user)


@pytest.mark.parametrize("start, code, why", [
    ("2030-01-07 09:15", 5, "a weekly occurrence (10:00 Paris is 09:00 UTC)"),
    ("2030-01-14 09:15", 0, "the occurrence EXDATE removes"),
    ("2030-01-21 09:15", 0, "the occurrence RECURRENCE-ID moved away"),
    ("2030-01-21 14:15", 5, "where RECURRENCE-ID moved it"),
    ("2030-01-28 09:15", 5, "a later occurrence"),
    ("2030-01-07 10:00", 0, "right after the event: touching is not overlapping"),
    ("2030-01-07 08:30", 0, "right before the event"),
    ("2030-01-23 12:00", 5, "an all-day event"),
    ("2030-01-24 00:00", 0, "the day after the all-day event"),
    ("2030-01-24 09:15", 0, "TRANSP:TRANSPARENT is not busy"),
    ("2030-01-25 09:15", 0, "STATUS:CANCELLED is not busy"),
    ("2030-02-18 09:15", 0, "after the series' COUNT"),
])
def test_recurrences_exceptions_all_day_and_transparency(busy, start, code, why):
    before = snapshot(busy.db)
    result = add(busy, start)
    assert result.exit_code == code, (why, result.stderr)
    if code:
        assert snapshot(busy.db) == before and result.stdout == ""
        assert "busy time" in result.stderr and "--ignore-busy" in result.stderr


def test_the_refusal_names_the_time_and_to_the_educator_the_summary(busy):
    mine = add(busy, "2030-01-07 09:15")
    assert mine.exit_code == 5
    assert "2030-01-07 09:00–10:00 UTC ('Team meeting')" in mine.stderr
    # an admin acting on the course: the educator's sources, the time only
    theirs = add(busy, "2030-01-07 09:15", user="root")
    assert theirs.exit_code == 5
    assert "2030-01-07 09:00–10:00 UTC" in theirs.stderr and "Team meeting" not in theirs.stderr


def test_ignore_busy_creates_it_anyway(busy):
    made = add(busy, "2030-01-07 09:15", "--ignore-busy", "--json")
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout)[0]["start"] == "2030-01-07T09:15:00Z"


def test_a_series_is_refused_whole_naming_each_busy_slot(busy):
    before = snapshot(busy.db)
    result = add(busy, "2030-01-07 09:30", "--repeat", "weekly", "--count", "4")
    assert result.exit_code == 5
    assert snapshot(busy.db) == before
    assert "2 slot(s) of the series overlap busy times" in result.stderr
    assert "2030-01-07 09:30–10:00 UTC overlaps" in result.stderr
    assert "2030-01-28 09:30–10:00 UTC overlaps" in result.stderr
    assert "2030-01-14" not in result.stderr


def test_update_checks_a_new_time_only(busy):
    made = busy.json("slot", "add", "--course", "MATH101", "--start", "2030-01-07 11:00",
                     "--duration", "30m", user="ada")
    slot = str(made[0]["id"])
    before = snapshot(busy.db)
    moved = busy("slot", "update", slot, "--start", "2030-01-07 09:30", user="ada")
    assert moved.exit_code == 5 and "Team meeting" in moved.stderr
    assert snapshot(busy.db) == before
    longer = busy("slot", "update", slot, "--start", "2030-01-07 08:00", "--duration", "2h",
                  user="ada")
    assert longer.exit_code == 5
    assert busy("slot", "update", slot, "--start", "2030-01-07 09:30", "--ignore-busy",
                user="ada").exit_code == 0
    # a slot already over a busy time: changing its notes or seats is not a new time
    assert busy("slot", "update", slot, "--notes", "bring the exercises", "--capacity", "2",
                user="ada").exit_code == 0


def test_busy_times_are_the_slot_educators_own(busy, tmp_path):
    # bob has no busy sources: ada's events never block his slots
    result = busy("slot", "add", "--course", "PHYS1", "--start", "2030-01-07 09:15",
                  "--duration", "30m", user="bob")
    assert result.exit_code == 0, result.stderr
    # an admin adding to ada's course: ada's stored sources
    assert add(busy, "2030-01-07 09:15", user="root").exit_code == 5


def test_an_event_this_store_exported_is_never_busy(busy, tmp_path):
    con = sqlite3.connect(busy.db)
    store = con.execute("SELECT uuid FROM store_info").fetchone()[0]
    con.close()
    mine = ics(f"""UID:request-7-{store}@sessionctl
DTSTART:20300301T090000Z
DTEND:20300301T100000Z
SUMMARY:MATH101 with Alan""",
               """UID:request-7-another-store@sessionctl
DTSTART:20300302T090000Z
DTEND:20300302T100000Z
SUMMARY:MATH101 elsewhere""")
    busy.calendar.write_text(mine)
    assert add(busy, "2030-03-01 09:15").exit_code == 0
    assert add(busy, "2030-03-02 09:15").exit_code == 5


def test_a_vdir_and_the_busy_config_key(busy, tmp_path):
    vdir = tmp_path / "vdir"
    vdir.mkdir()
    (vdir / "one.ics").write_text(ics("""UID:v1
DTSTART:20300401T090000Z
DTEND:20300401T100000Z
SUMMARY:From the vdir"""))
    (vdir / "ignored.txt").write_text("not a calendar")
    config = tmp_path / "ada-config"
    config.mkdir()
    (config / "sessionctl").mkdir()
    (config / "sessionctl" / "config.toml").write_text(f'busy = ["{vdir}"]\n')
    env = {"XDG_CONFIG_HOME": str(config)}
    refused = busy("slot", "add", "--course", "MATH101", "--start", "2030-04-01 09:30",
                   "--duration", "30m", user="ada", env=env)
    assert refused.exit_code == 5 and "From the vdir" in refused.stderr
    # the key is ada's own: an admin acting on her course with that file does not read it
    assert busy("slot", "add", "--course", "MATH101", "--start", "2030-04-01 09:30",
                "--duration", "30m", user="root", env=env).exit_code == 0
    shown = busy.json("config", "show", user="ada", env=env)
    assert shown["settings"]["busy"]["value"] == [str(vdir)]


def test_the_busy_key_is_refused_in_the_site_file(busy, tmp_path):
    site = tmp_path / "site"
    (site / "sessionctl").mkdir(parents=True)
    (site / "sessionctl" / "config.toml").write_text('busy = "/tmp/x.ics"\n')
    result = busy("config", "show", env={"XDG_CONFIG_DIRS": str(site)})
    assert result.exit_code == 2 and "busy may be set only in a user's own config file" in result.stderr


def test_urls_are_secrets_masked_everywhere(busy, tmp_path):
    secret = "https://ada:hunter2@calendar.example.invalid/private-5ecret/basic.ics?token=abc"
    shown = busy.json("user", "set", "--busy", secret, user="ada")
    assert shown["busy"] == ["https://calendar.example.invalid/…"]
    table = busy("user", "show", "ada")
    assert "calendar.example.invalid/…" in table.stdout
    assert "5ecret" not in table.stdout + table.stderr and "hunter2" not in table.stdout
    # students never see another user's sources
    assert busy("user", "show", "ada", user="alan").exit_code == 4
    failed = add(busy, "2030-01-07 09:15")
    assert failed.exit_code == 6
    assert "https://calendar.example.invalid/…" in failed.stderr
    for secret_part in ("5ecret", "hunter2", "token", "abc"):
        assert secret_part not in failed.stderr
    config = tmp_path / "c"
    (config / "sessionctl").mkdir(parents=True)
    (config / "sessionctl" / "config.toml").write_text(f'busy = "{secret}"\n')
    env = {"XDG_CONFIG_HOME": str(config)}
    text = busy("config", "show", user="ada", env=env)
    assert "https://calendar.example.invalid/…" in text.stdout and "5ecret" not in text.stdout


@pytest.mark.parametrize("value, fragment", [
    ("relative/path.ics", "not an absolute path"),
    ("ftp://example.com/cal.ics", "neither an http(s) URL nor a path"),
    ("file:///etc/passwd", "neither an http(s) URL nor a path"),
    ("/tmp/a\nb.ics", "line break"),
    ("/tmp/\u202ecal.ics", "cannot be printed"),
    ("https://", "names no host"),
    ("https://host:99999999999/x", "not a well-formed URL"),
    ("https://ada:p/w@host.example/cal.ics", "write / ? # @ as %2F %3F %23 %40"),
    ("https://ada:pw@host.example/cal 5ecret", "holds a space"),
    ("/" + "a" * 3000, "longer than 2048"),
])
def test_hostile_sources_are_refused_at_user_set(busy, value, fragment):
    before = snapshot(busy.db)
    result = busy("user", "set", "--busy", value, user="ada")
    assert result.exit_code == 2, result.stderr
    assert fragment in result.stderr and snapshot(busy.db) == before
    assert "\n" not in result.stderr.strip().split("\n")[0][len("error: "):]


def test_clearing_and_replacing_sources(busy, tmp_path):
    other = tmp_path / "other.ics"
    other.write_text(ics("UID:o\nDTSTART:20300501T090000Z\nDTEND:20300501T100000Z"))
    shown = busy.json("user", "set", "--busy", str(other), "--busy", str(busy.calendar),
                      user="ada")
    assert shown["busy"] == [str(other), str(busy.calendar)]
    assert busy.json("user", "set", "--busy", "", user="ada")["busy"] == []
    assert add(busy, "2030-01-07 09:15").exit_code == 0
    # an admin sets them for an educator
    assert busy.json("user", "set", "ada", "--busy", str(other))["busy"] == [str(other)]
    assert add(busy, "2030-05-01 09:15").exit_code == 5


@pytest.mark.parametrize("content, fragment", [
    ("this is not a calendar\n", "not iCalendar"),
    ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:2030", "holds no calendar"),
    ("\x00\x01\x02binary", "not iCalendar"),
    ("", "holds no calendar"),
])
def test_a_source_that_is_not_icalendar_is_exit_6_naming_it(busy, content, fragment):
    busy.calendar.write_text(content)
    before = snapshot(busy.db)
    result = add(busy, "2030-06-03 09:15")
    assert result.exit_code == 6, result.stderr
    assert fragment in result.stderr and str(busy.calendar) in result.stderr
    assert "Traceback" not in result.stderr and snapshot(busy.db) == before


def test_a_huge_source_is_exit_6(busy):
    with open(busy.calendar, "wb") as f:
        f.truncate(21 * 2**20)
    result = add(busy, "2030-06-03 09:15")
    assert result.exit_code == 6 and "larger than 20 MiB" in result.stderr


def test_a_series_without_end_every_second_is_refused_not_expanded(busy):
    """FREQ=SECONDLY with no end unfolds into 34 million events in the window: refused once
    it passes the cap, in seconds and without eating the memory."""
    busy.calendar.write_text(ics(
        "UID:flood\nDTSTART:20300101T000000Z\nDTEND:20300101T000001Z\nRRULE:FREQ=SECONDLY"))
    before = snapshot(busy.db)
    result = add(busy, "2030-06-03 09:15")
    assert result.exit_code == 6 and "more than 100,000 events" in result.stderr, result.stderr
    assert snapshot(busy.db) == before


def test_a_missing_source_is_exit_6(busy):
    busy.calendar.unlink()
    result = add(busy, "2030-06-03 09:15")
    assert result.exit_code == 6 and str(busy.calendar) in result.stderr


def test_hostile_text_in_a_summary_is_printed_escaped(busy):
    busy.calendar.write_text(ics(
        "UID:evil\nDTSTART:20300701T090000Z\nDTEND:20300701T100000Z\n"
        "SUMMARY:\x1b]0;owned\x07\x1b[2J\u202egnp.exe\u200b"))
    result = add(busy, "2030-07-01 09:15")
    assert result.exit_code == 5
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert "\x07" not in result.stderr and "\u200b" not in result.stderr
    assert "\\x1b" in result.stderr


def test_a_failed_source_uses_a_copy_younger_than_a_day_with_a_warning(busy, monkeypatch):
    from sessionctl import timeparse

    assert add(busy, "2030-01-07 09:15").exit_code == 5  # read once: cached
    busy.calendar.unlink()
    real = timeparse.utcnow
    monkeypatch.setattr(timeparse, "utcnow", lambda: real() + timedelta(hours=23))
    stale = add(busy, "2030-01-28 09:15")
    assert stale.exit_code == 5, stale.stderr
    assert "warning:" in stale.stderr and "using the copy read" in stale.stderr
    monkeypatch.setattr(timeparse, "utcnow", lambda: real() + timedelta(hours=25))
    gone = add(busy, "2030-01-28 09:15")
    assert gone.exit_code == 6 and "warning" not in gone.stderr


def test_the_calendar_shows_busy_blocks_to_the_educator_only(busy):
    assert add(busy, "2030-01-07 11:00").exit_code == 0
    mine = busy("slot", "calendar", "--week", "2030-01-21", user="ada")
    assert mine.exit_code == 0, mine.stderr
    assert "14:00–15:00 busy" in mine.stdout  # the moved occurrence
    assert "00:00–00:00 busy" in mine.stdout  # the all-day event, a whole day
    assert "Team meeting" not in mine.stdout and "Conference" not in mine.stdout
    assert "Reading time" not in mine.stdout
    week = busy("slot", "calendar", "--week", "2030-01-07", user="ada").stdout
    assert "09:00–10:00 busy" in week and "11:00 MATH101" in week
    for who in ("alan", "root"):
        theirs = busy("slot", "calendar", "--week", "2030-01-07", user=who)
        assert theirs.exit_code == 0 and "busy" not in theirs.stdout, who
    as_json = busy.json("slot", "calendar", "--week", "2030-01-07", user="ada")
    assert [s["start"] for s in as_json] == ["2030-01-07T11:00:00Z"]


def test_commands_without_busy_times_never_import_the_calendar_libraries(busy):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sessionctl.launch import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('icalendar', 'recurring_ical_events', 'sessionctl.busytimes.cache')"
        " if m in sys.modules and not (m.startswith('sessionctl') and sys.argv[1] == 'slot'"
        " and sys.argv[2] == 'add')]\n"
        "print('LOADED', bad, file=sys.stderr)\n"
    )
    env = {**os.environ, "SESSIONCTL_DB": str(busy.db), "SESSIONCTL_USER": "ada",
           "SESSIONCTL_TZ": "UTC"}
    for argv in (["slot", "list"], ["user", "show"], ["request", "list"]):
        run = subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True,
                             text=True, timeout=60)
        assert "LOADED []" in run.stderr, (argv, run.stderr)
    # a cached source costs no parsing either
    assert add(busy, "2030-02-25 09:15").exit_code == 0
    run = subprocess.run([sys.executable, "-c", code, "slot", "add", "--course", "MATH101",
                          "--start", "2030-02-25 10:15", "--duration", "30m"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert "LOADED []" in run.stderr, run.stderr


def test_the_cache_is_private(busy, tmp_path):
    assert add(busy, "2030-02-25 09:15").exit_code == 0
    folder = tmp_path / "cache" / "sessionctl" / "busy"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in folder.iterdir())


def test_sources_are_stored_and_checked_on_both_backends(backend_db, tmp_path, monkeypatch):
    """SQLite and PostgreSQL (SESSIONCTL_TEST_PG): stored in order, replaced whole, used."""
    from conftest import Cli

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cli = Cli(backend_db)
    assert cli("init").exit_code == 0
    assert cli("user", "add", "ada", "--role", "educator").exit_code == 0
    assert cli("course", "add", "MATH101", "--title", "Maths", user="ada").exit_code == 0
    first, second = tmp_path / "a.ics", tmp_path / "b.ics"
    first.write_text(CALENDAR)
    second.write_text(ics("UID:b\nDTSTART:20300801T090000Z\nDTEND:20300801T100000Z\nSUMMARY:B"))
    assert cli.json("user", "set", "--busy", str(second), "--busy", str(first),
                    user="ada")["busy"] == [str(second), str(first)]
    assert add(cli, "2030-01-07 09:15").exit_code == 5
    assert add(cli, "2030-08-01 09:15").exit_code == 5
    before = snapshot(backend_db)
    assert cli("user", "set", "--busy", str(first), "--busy", str(first), user="ada").exit_code == 2
    assert snapshot(backend_db) == before
    assert cli.json("user", "set", "--busy", str(first), user="ada")["busy"] == [str(first)]
    assert add(cli, "2030-08-01 09:15").exit_code == 0


def test_two_processes_setting_sources_at_once_leave_one_whole_list(busy, tmp_path):
    """Real processes race to replace ada's sources: the store ends with one list or the
    other, whole, never a mix."""
    import subprocess

    from test_processes import BIN

    lists = [[str(tmp_path / f"{who}-{i}.ics") for i in range(10)] for who in ("x", "y")]
    env = {**os.environ, "SESSIONCTL_DB": str(busy.db), "SESSIONCTL_USER": "ada",
           "SESSIONCTL_TZ": "UTC"}
    for _ in range(3):
        runs = [subprocess.Popen([str(BIN), "user", "set", *[a for s in sources
                                                                for a in ("--busy", s)]],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                for sources in lists]
        for run in runs:
            assert run.wait(60) == 0, run.stderr.read()
        con = sqlite3.connect(busy.db)
        stored = [r[0] for r in con.execute(
            "SELECT source FROM busy_sources ORDER BY position").fetchall()]
        con.close()
        assert stored in lists, stored


@pytest.mark.parametrize("kind", ["fifo", "device", "loop", "empty-vdir", "unreadable-dir"])
def test_odd_paths_are_exit_6_never_a_hang(busy, tmp_path, kind):
    path = tmp_path / f"odd-{kind}"
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes: a blocking open would hang
    elif kind == "device":
        path = "/dev/zero"  # endless: a read without a cap would never stop
    elif kind == "loop":
        os.symlink(path, path)
    elif kind == "empty-vdir":
        path.mkdir()
    else:
        path.mkdir()
        (path / "x.ics").mkdir()  # an .ics entry that is a directory
    assert busy("user", "set", "--busy", str(path), user="ada").exit_code == 0
    before = snapshot(busy.db)
    result = add(busy, "2030-06-03 09:15")
    assert result.exit_code == 6, result.stderr
    assert str(path) in result.stderr and snapshot(busy.db) == before


def test_invalid_utf8_in_a_source_is_exit_2(busy):
    import subprocess

    from test_processes import BIN

    env = {**os.environ, "SESSIONCTL_DB": str(busy.db), "SESSIONCTL_USER": "ada"}
    before = snapshot(busy.db)
    run = subprocess.run([os.fsencode(str(BIN)), b"user", b"set", b"--busy", b"/tmp/\xff.ics"],
                         env=env, capture_output=True, timeout=60)
    assert run.returncode == 2 and b"UTF-8" in run.stderr
    assert snapshot(busy.db) == before


@pytest.mark.parametrize("line, fragment", [
    ("busy_timeout = 0", "above 0 and up to 600"),
    ("busy_timeout = 1e9", "above 0 and up to 600"),
    ('busy_timeout = "ten"', "must be a number of seconds"),
    ("busy_ttl = -1", "from 0 and up to 604800"),
    ("busy = 5", "must be a string or an array of strings"),
    ('busy = ["/a.ics", "line\\nbreak"]', "line break"),
    ('busy_allow = ["127.0.0.1"]', "may be set only in the site file"),
])
def test_hostile_busy_settings_are_exit_2_naming_the_line(busy, tmp_path, line, fragment):
    config = tmp_path / "hostile"
    (config / "sessionctl").mkdir(parents=True)
    (config / "sessionctl" / "config.toml").write_text(f"tz = \"UTC\"\n{line}\n")
    env = {"XDG_CONFIG_HOME": str(config)}
    before = snapshot(busy.db)
    result = busy(
        "slot", "add", "--course", "MATH101", "--start", "2030-06-03 09:15", "--duration", "30m",
        user="ada", env=env)
    assert result.exit_code == 2, result.stderr
    assert fragment in result.stderr and "line 2" in result.stderr
    assert snapshot(busy.db) == before


# -- a password that holds what ends a host (issue 19, busy sources are secrets) ----------------

HOSTILE_USERINFO = [
    ("https://u:p/a?b#c@cal.example.invalid/cal.ics", "https://cal.example.invalid/…"),
    ("https://ada:pa@ss@cal.example.invalid/cal.ics", "https://cal.example.invalid/…"),
    ("https://a/d?a#:h/u?n#t@er@cal.example.invalid:8443/x?y#z", "https://cal.example.invalid:8443/…"),
    ("HTTPS://:%2Fsecret%40@cal.example.invalid", "https://cal.example.invalid/…"),
    ("http://u:/?#@cal.example.invalid", "http://cal.example.invalid/…"),
    ("https://u:se\u202ecret\u200b/x@cal.example.invalid/c", "https://cal.example.invalid/…"),
    ("https://cal.example.invalid/private-5ecret/basic.ics", "https://cal.example.invalid/…"),
    ("https://cal.example.invalid", "https://cal.example.invalid"),
]


@pytest.mark.parametrize("source, expected", HOSTILE_USERINFO)
def test_the_whole_user_and_password_are_masked_whatever_they_hold(source, expected):
    from sessionctl.busytimes.sources import shown

    assert shown(source) == expected
    for part in ("secret", "5ecret", "pa@ss", "u:p", "a?b", "er@", "se\u202e"):
        assert part not in shown(source)


@pytest.mark.parametrize("source, expected", HOSTILE_USERINFO[:3])
def test_a_password_with_a_slash_query_or_fragment_is_masked_everywhere(busy, tmp_path, source,
                                                                        expected):
    """Given to ``user set`` (refused when it reads as a bad port, else stored), stored by
    an older release (``user show``, the failed check), or in the ``busy`` key (``config
    show``): never shown."""
    secrets = ("u:p", "a?b", "#c", "pa@ss", "ada:", "/d?a", "h/u", "er@")

    def clean(text: str) -> None:
        assert not any(part in text for part in secrets), text

    before = snapshot(busy.db)
    given = busy("user", "set", "--busy", source, "--json", user="ada")
    clean(given.stdout + given.stderr)
    if given.exit_code == 2:  # a port that is not a number: not a well-formed URL
        assert snapshot(busy.db) == before and "https://cal.example.invalid" in given.stderr
    else:
        assert given.exit_code == 0 and json.loads(given.stdout)["busy"] == [expected]

    with sqlite3.connect(busy.db) as con:  # as an older release may have stored it
        (user_id,) = con.execute("SELECT id FROM users WHERE name = 'ada'").fetchone()
        con.execute("UPDATE busy_sources SET source = ? WHERE user_id = ?", (source, user_id))
    shown = busy("user", "show", "ada")
    assert shown.exit_code == 0 and expected in shown.stdout
    clean(shown.stdout + shown.stderr)
    as_json = busy.json("user", "show", "ada")
    assert as_json["busy"] == [expected]
    failed = add(busy, "2030-01-07 09:15")
    assert failed.exit_code == 6 and expected in failed.stderr
    clean(failed.stdout + failed.stderr)

    config = tmp_path / "c"
    (config / "sessionctl").mkdir(parents=True)
    (config / "sessionctl" / "config.toml").write_text(f"busy = {json.dumps(source)}\n")
    text = busy("config", "show", user="ada", env={"XDG_CONFIG_HOME": str(config)})
    assert expected in text.stdout
    clean(text.stdout + text.stderr)


# -- the cache directory is private, or refused (issue 19) ---------------------------------------


def test_a_cache_directory_found_open_to_others_is_made_private(busy, tmp_path):
    folder = tmp_path / "cache" / "sessionctl" / "busy"
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    assert add(busy, "2030-02-25 09:15").exit_code == 0
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    folder.chmod(0o777)
    assert add(busy, "2030-02-25 11:15").exit_code == 0
    assert oct(folder.stat().st_mode & 0o777) == "0o700"


def test_a_cache_directory_that_is_a_symbolic_link_is_refused(busy, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    folder = tmp_path / "cache" / "sessionctl" / "busy"
    folder.parent.mkdir(parents=True)
    folder.symlink_to(elsewhere)
    before = snapshot(busy.db)
    result = add(busy, "2030-02-25 09:15")
    assert result.exit_code == 6 and result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("error: the busy cache directory") and "\n" not in line
    assert str(folder) in line and "symbolic link" in line
    assert snapshot(busy.db) == before
    assert list(elsewhere.iterdir()) == [] and oct(elsewhere.stat().st_mode & 0o777) == "0o755"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_someone_elses_cache_directory_is_refused(busy, tmp_path):
    folder = tmp_path / "cache" / "sessionctl" / "busy"
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    os.chown(folder, 65534, 65534)
    before = snapshot(busy.db)
    result = add(busy, "2030-02-25 09:15")
    assert result.exit_code == 6 and result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and str(folder) in line and "belongs to another user" in line
    assert snapshot(busy.db) == before
    assert list(folder.iterdir()) == [] and oct(folder.stat().st_mode & 0o777) == "0o755"


ONE_EVENT = ics("""UID:one-1
DTSTART:20300603T090000Z
DTEND:20300603T100000Z
SUMMARY:Board\x00 meeting""")


def test_a_byte_order_mark_and_a_nul_do_not_hide_a_calendar(busy):
    """Outlook and Windows exports start with a BOM; a NUL is no text: both are read past,
    and the event is busy."""
    busy.calendar.write_bytes(b"\xef\xbb\xbf" + ONE_EVENT.encode())
    before = snapshot(busy.db)
    result = add(busy, "2030-06-03 09:15")
    assert result.exit_code == 5 and "overlaps" in result.stderr, result.stderr
    assert snapshot(busy.db) == before


@pytest.mark.parametrize("line", ["RRULE:FREQ=SOMETIMES", "EXDATE:notadate", "RDATE:20300610T090000Z,garbage"])
def test_a_series_that_cannot_be_read_refuses_the_source_instead_of_vanishing(busy, line):
    """A bad rule dropped its whole event: the slot went on top of it. Now the source is
    refused (exit 6, naming it) as any calendar whose events cannot be read."""
    busy.calendar.write_text(ONE_EVENT.replace("SUMMARY:", f"{line}\r\nSUMMARY:"))
    before = snapshot(busy.db)
    result = add(busy, "2030-06-03 09:15")
    assert result.exit_code == 6, result.stderr
    assert "cannot be read" in result.stderr and str(busy.calendar) in result.stderr
    assert snapshot(busy.db) == before


@pytest.mark.parametrize("kind", ["junk", "fifo"])
def test_a_bad_file_in_a_vdir_is_named(busy, tmp_path, kind):
    vdir = tmp_path / "vdir"
    vdir.mkdir()
    (vdir / "good.ics").write_text(ONE_EVENT)
    if kind == "junk":
        (vdir / "bad.ics").write_text("not a calendar")
    else:
        os.mkfifo(vdir / "bad.ics")
    assert busy("user", "set", "--busy", str(vdir), user="ada").exit_code == 0
    before = snapshot(busy.db)
    result = add(busy, "2030-06-03 09:15")
    assert result.exit_code == 6 and f"{vdir}: bad.ics" in result.stderr, result.stderr
    assert snapshot(busy.db) == before
