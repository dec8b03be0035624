"""Time (issue 3): WHEN and DURATION input, DST safety, series, the week calendar, zones in tables.

Property tests drive ``timeparse`` and ``domain.series`` directly over four zones (three with
daylight saving time, one without). Everything else goes through the CLI with the clock fixed
at Sunday 2027-01-10 09:00 UTC, so every 2027 transition is in the future:

zone                spring forward (gap)          fall back (ambiguous hour)
America/New_York    2027-03-14 02:00 → 03:00      2027-11-07 02:00 → 01:00
Europe/Berlin       2027-03-28 02:00 → 03:00      2027-10-31 03:00 → 02:00
Australia/Sydney    2027-10-03 02:00 → 03:00      2027-04-04 03:00 → 02:00
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from conftest import snapshot
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from runkit import built_store, built_template  # noqa: F401 (fixtures)
from runkit import BIN, refused_plainly

from sessionctl.domain import series
from sessionctl.errors import UsageError
from sessionctl.timeparse import LocalTimeError, parse_duration, parse_when

UTC = timezone.utc
NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)  # the ``clock`` fixture: a Sunday
ZONES = ["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Tokyo"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


# -- helpers (independent of the implementation) ---------------------------------------------------


def instants_showing(wall: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every UTC instant whose local wall-clock time in ``tz`` is ``wall``: 0 (gap), 1 or 2 (fold).

    The candidate offsets are the zone's offsets on either side of ``wall`` (PEP 495 folds); a
    candidate counts only if converting it back really shows ``wall`` on the clock.
    """
    offsets = {wall.replace(tzinfo=tz, fold=fold).utcoffset() for fold in (0, 1)}
    found = set()
    for offset in offsets:
        candidate = (wall - offset).replace(tzinfo=UTC)
        if candidate.astimezone(tz).replace(tzinfo=None) == wall:
            found.add(candidate)
    return sorted(found)


def kind(wall: datetime, tz: ZoneInfo) -> str:
    return {0: "does not exist", 1: "ok", 2: "is ambiguous"}[len(instants_showing(wall, tz))]


def offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def transitions(name: str, years=range(2026, 2031)) -> list[datetime]:
    """The UTC instants (on the hour) at which ``name`` changes its offset."""
    tz = ZoneInfo(name)
    found, at = [], datetime(years[0], 1, 1, tzinfo=UTC)
    end = datetime(years[-1] + 1, 1, 1, tzinfo=UTC)
    previous = at.astimezone(tz).utcoffset()
    while at < end:
        at += timedelta(hours=1)
        current = at.astimezone(tz).utcoffset()
        if current != previous:
            found.append(at)
        previous = current
    return found


TRANSITIONS = {name: transitions(name) for name in ZONES}


def z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def w(world, clock, monkeypatch):
    """The ``world`` cast with the CLI's clock fixed at ``clock`` (2027-01-10 09:00 UTC)."""
    monkeypatch.setattr("sessionctl.timeparse.utcnow", lambda: clock.now)
    return world


@contextmanager
def unchanged(cli):
    before = snapshot(cli.db)
    yield
    assert snapshot(cli.db) == before


def add(cli, *args, tz: str | None = None, user="ada", course="MATH101", env=None, as_json=True):
    zone = ["--tz", tz] if tz else []
    return cli(*zone, "slot", "add", "--course", course, *args, *(["--json"] if as_json else []),
               user=user, env=env)


def created(result) -> list[dict]:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr == "", result.stderr
    return json.loads(result.stdout)


def starts(result) -> list[str]:
    return [slot["start"] for slot in created(result)]


def refused(result, code: int, *needles: str, listing: bool = False) -> list[str]:
    """The common shape of a refusal; returns stderr's lines. ``listing``: a multi-line
    conflict or DST list is allowed between the error line and the hint."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "", result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("error: ") and len(lines[0]) > len("error: "), lines
    if listing:
        assert all(line.startswith("  ") for line in lines[1:] if not line.startswith("hint: "))
        assert not any(line.startswith("hint: ") for line in lines[:-1]), lines
    else:
        assert len(lines) <= 2, lines
        if len(lines) == 2:
            assert lines[1].startswith("hint: "), lines
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    return lines


# ==================================================================================================
# Properties (timeparse / domain.series, no store)
# ==================================================================================================


@st.composite
def walls(draw, step=timedelta(weeks=1), first=date(2026, 1, 1), last=date(2030, 12, 31)):
    """A zone and a naive wall-clock time in it. A third of them are a few ``step``s before a
    wall-clock time that a DST change skips or repeats; the rest are biased towards the small
    hours of Sundays (when all three DST zones change their clocks)."""
    name = draw(st.sampled_from(ZONES))
    minute = draw(st.one_of(st.sampled_from([0, 30]), st.integers(0, 59)))
    if TRANSITIONS[name] and draw(st.integers(0, 2)) == 0:
        tz = ZoneInfo(name)
        day = draw(st.sampled_from(TRANSITIONS[name])).astimezone(tz).date()
        changed = [datetime(day.year, day.month, day.day, hour, minute) for hour in range(24)]
        changed = [each for each in changed if kind(each, tz) != "ok"]
        return name, changed[0] - step * draw(st.integers(0, 8))
    day = draw(st.dates(first, last))
    if draw(st.booleans()):
        day += timedelta(days=(6 - day.weekday()) % 7)
    hour = draw(st.one_of(st.integers(0, 23), st.integers(1, 3)))
    return name, datetime(day.year, day.month, day.day, hour, minute)


@settings(max_examples=300, deadline=None)
@given(case=walls(), count=st.integers(1, 60), minutes=st.integers(1, 720))
def test_property_weekly_series_keeps_the_local_wall_clock_time(case, count, minutes):
    name, wall = case
    tz = ZoneInfo(name)
    assume(kind(wall, tz) == "ok")
    [start] = instants_showing(wall, tz)
    end = start + timedelta(minutes=minutes)
    expected = [wall + timedelta(weeks=k) for k in range(count)]
    bad = [(each, kind(each, tz)) for each in expected[1:] if kind(each, tz) != "ok"]
    plan = series.Series(repeat="weekly", count=count)
    event("an occurrence in a DST change" if bad else "all occurrences exist once")
    if bad:
        with pytest.raises(UsageError) as refusal:
            series.windows(start, end, tz, plan)
        assert refusal.value.code == 2
        message = refusal.value.message
        assert name in message and "nothing was created" in message
        assert "\n" not in message  # the list is in details, one indented line each
        assert list(refusal.value.details) == [f"{each:%Y-%m-%d %H:%M} {what}" for each, what in bad]
        return
    got = series.windows(start, end, tz, plan)
    assert len(got) == count
    for k, window in enumerate(got):
        local = window.start.astimezone(tz)
        assert local.replace(tzinfo=None) == expected[k], (k, local)
        assert window.end - window.start == timedelta(minutes=minutes)  # elapsed length kept
    assert got[0].start == start


@st.composite
def instants(draw):
    """A whole-second UTC instant in 2026-2030, half the time within 3 h of a DST change."""
    name = draw(st.sampled_from(ZONES))
    if TRANSITIONS[name] and draw(st.booleans()):
        near = draw(st.sampled_from(TRANSITIONS[name]))
        return name, near + timedelta(seconds=draw(st.integers(-3 * 3600, 3 * 3600)))
    seconds = draw(st.integers(0, int((datetime(2031, 1, 1) - datetime(2026, 1, 1)).total_seconds())))
    return name, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


@settings(max_examples=200, deadline=None)
@given(case=instants(), piece=st.integers(1, 720), pieces=st.integers(1, 100))
def test_property_split_slots_touch_and_cover_the_window(case, piece, pieces):
    name, start = case
    start = start.replace(second=0)
    end = start + timedelta(minutes=piece * pieces)
    got = series.windows(start, end, ZoneInfo(name), series.Series(split=timedelta(minutes=piece)))
    assert len(got) == pieces
    assert got[0].start == start and got[-1].end == end
    for before, after in pairwise(got):
        assert before.end == after.start
    assert all(w.end - w.start == timedelta(minutes=piece) for w in got)


@settings(max_examples=100, deadline=None)
@given(piece=st.integers(2, 240), pieces=st.integers(1, 20), data=st.data())
def test_property_split_with_a_remainder_is_refused(piece, pieces, data):
    rest = data.draw(st.integers(1, piece - 1))
    length = timedelta(minutes=piece * pieces + rest)
    with pytest.raises(UsageError) as refusal:
        series.windows(NOW, NOW + length, UTC, series.Series(split=timedelta(minutes=piece)))
    assert refusal.value.code == 2
    assert "left over" in refusal.value.message


@settings(max_examples=100, deadline=None)
@given(case=walls(step=timedelta(days=1)), piece=st.integers(5, 120), pieces=st.integers(1, 6),
       days=st.integers(1, 20))
def test_property_split_with_repeat_cuts_every_occurrence(case, piece, pieces, days):
    name, wall = case
    tz = ZoneInfo(name)
    assume(kind(wall, tz) == "ok")
    [start] = instants_showing(wall, tz)
    plan = series.Series(repeat="daily", count=days, split=timedelta(minutes=piece))
    walls_ = [wall + timedelta(days=k) for k in range(days)]
    try:
        got = series.windows(start, start + timedelta(minutes=piece * pieces), tz, plan)
    except UsageError as refusal:
        event("refused: an occurrence in a DST change")
        assert any(kind(each, tz) != "ok" for each in walls_[1:]), refusal.message
        assert "daylight saving" in refusal.message
        return
    assert all(kind(each, tz) == "ok" for each in walls_)
    assert len(got) == days * pieces
    for k in range(days):
        group = got[k * pieces:(k + 1) * pieces]
        assert group[0].start.astimezone(tz).replace(tzinfo=None) == walls_[k]
        assert group[-1].end - group[0].start == timedelta(minutes=piece * pieces)
        for before, after in pairwise(group):
            assert before.end == after.start


@settings(max_examples=400, deadline=None)
@given(case=instants(), separator=st.sampled_from([" ", "T"]))
def test_property_local_time_round_trips_through_parse_when(case, separator):
    name, instant = case
    tz = ZoneInfo(name)
    local = instant.astimezone(tz)
    wall = local.replace(tzinfo=None)
    text = f"{local:%Y-%m-%d}{separator}{local:%H:%M:%S}"
    showing = instants_showing(wall, tz)
    assert instant in showing  # the helper agrees with zoneinfo
    event("ambiguous wall time" if len(showing) == 2 else "unambiguous wall time")
    if len(showing) == 1:
        assert parse_when(text, tz=tz, now=NOW) == instant
    else:
        with pytest.raises(LocalTimeError) as refusal:
            parse_when(text, tz=tz, now=NOW)
        assert refusal.value.code == 2
        first, second = (offset_text(i.astimezone(tz).utcoffset()) for i in showing)
        message = refusal.value.message
        assert message.startswith(f"{wall:%Y-%m-%d %H:%M}"), message
        assert message.endswith(f"is ambiguous in {name}: add {first} or {second}"), message
    # with its offset, the same local time is always one instant
    with_offset = text + offset_text(local.utcoffset())
    assert parse_when(with_offset, tz=tz, now=NOW) == instant
    assert parse_when(z(instant), tz=tz, now=NOW) == instant


@settings(max_examples=300, deadline=None)
@given(d=st.integers(0, 60), h=st.integers(0, 99), m=st.integers(0, 999), zeros=st.booleans())
def test_property_duration_parses(d, h, m, zeros):
    assume(d or h or m)
    parts = [(d, "d"), (h, "h"), (m, "m")]
    text = "".join(f"{n}{unit}" for n, unit in parts if n or zeros)
    assert parse_duration(text) == timedelta(days=d, hours=h, minutes=m)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 10**6))
def test_property_bare_number_is_not_a_duration(n):
    with pytest.raises(UsageError) as refusal:
        parse_duration(str(n))
    assert refusal.value.code == 2


# ==================================================================================================
# DST around the real 2027 changes, through the CLI
# ==================================================================================================

DST = pytest.param
GAPS_AND_FOLDS = [
    DST("America/New_York", "2027-03-14 02:30", "does not exist", "-05:00", "-04:00", id="new-york-gap"),
    DST("America/New_York", "2027-11-07 01:30", "is ambiguous", "-04:00", "-05:00", id="new-york-fold"),
    DST("Europe/Berlin", "2027-03-28 02:30", "does not exist", "+01:00", "+02:00", id="berlin-gap"),
    DST("Europe/Berlin", "2027-10-31 02:30", "is ambiguous", "+02:00", "+01:00", id="berlin-fold"),
    DST("Australia/Sydney", "2027-04-04 02:30", "is ambiguous", "+11:00", "+10:00", id="sydney-fold"),
    DST("Australia/Sydney", "2027-10-03 02:30", "does not exist", "+10:00", "+11:00", id="sydney-gap"),
]


@pytest.mark.parametrize("zone,wall,what,first,second", GAPS_AND_FOLDS)
def test_dst_gap_or_fold_start_is_refused_naming_both_offsets(w, zone, wall, what, first, second):
    day, clock_ = wall.split()
    as_dateutil = datetime.fromisoformat(wall).strftime("%b %d %Y %I:%M%p")  # Mar 14 2027 02:30AM
    for text in (wall, f"{day}T{clock_}", as_dateutil):
        with unchanged(w):
            lines = refused(add(w, "--start", text, "--duration", "1h", tz=zone), 2)
        assert lines[0] == f"error: {wall} {what} in {zone}: add {first} or {second}", lines
        assert len(lines) == 2 and f"e.g. {wall}{first}" in lines[1], lines
    # an --end in the gap or fold is refused the same way
    start = (datetime.fromisoformat(wall) - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")
    with unchanged(w):
        lines = refused(add(w, "--start", start, "--end", wall, tz=zone), 2)
    assert lines[0] == f"error: {wall} {what} in {zone}: add {first} or {second}"
    # the zone comes from SESSIONCTL_TZ just the same
    with unchanged(w):
        lines = refused(add(w, "--start", wall, "--duration", "1h", env={"SESSIONCTL_TZ": zone}), 2)
    assert lines[0] == f"error: {wall} {what} in {zone}: add {first} or {second}"


def test_either_offset_named_for_an_ambiguous_time_is_accepted(w):
    ny = "America/New_York"
    assert starts(add(w, "--start", "2027-11-07 01:30-04:00", "--duration", "30m", tz=ny)) == [
        "2027-11-07T05:30:00Z"]
    assert starts(add(w, "--start", "2027-11-07 01:30-05:00", "--duration", "30m", tz=ny)) == [
        "2027-11-07T06:30:00Z"]
    table = w("--tz", ny, "slot", "list", user="ada").stdout
    assert table.count("Sun 11-07 01:30") == 2  # lists drop the current year and "times in America/New_York" in table


def test_ambiguous_2026_new_york_time_names_both_offsets():
    tz = ZoneInfo("America/New_York")
    with pytest.raises(LocalTimeError) as refusal:
        parse_when("2026-11-01 01:30", tz=tz, now=datetime(2026, 10, 1, tzinfo=UTC))
    assert refusal.value.code == 2 and not refusal.value.gap
    assert refusal.value.message == "2026-11-01 01:30 is ambiguous in America/New_York: add -04:00 or -05:00"
    with pytest.raises(LocalTimeError) as refusal:
        parse_when("2027-03-14 02:30", tz=tz, now=NOW)
    assert refusal.value.gap
    assert refusal.value.message == "2027-03-14 02:30 does not exist in America/New_York: add -05:00 or -04:00"
    # a time just outside the changed hour is fine
    assert parse_when("2026-11-01 00:59", tz=tz, now=NOW) == datetime(2026, 11, 1, 4, 59, tzinfo=UTC)
    assert parse_when("2026-11-01 02:00", tz=tz, now=NOW) == datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    assert parse_when("2027-03-14 03:00", tz=tz, now=NOW) == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("zone,first,expected", [
    DST("America/New_York", "2027-03-07", ["2027-03-07T15:00:00Z", "2027-03-14T14:00:00Z",
                                           "2027-03-21T14:00:00Z"], id="new-york-spring"),
    DST("America/New_York", "2027-10-31", ["2027-10-31T14:00:00Z", "2027-11-07T15:00:00Z",
                                           "2027-11-14T15:00:00Z"], id="new-york-autumn"),
    DST("Europe/Berlin", "2027-03-21", ["2027-03-21T09:00:00Z", "2027-03-28T08:00:00Z",
                                        "2027-04-04T08:00:00Z"], id="berlin-spring"),
    DST("Europe/Berlin", "2027-10-24", ["2027-10-24T08:00:00Z", "2027-10-31T09:00:00Z",
                                        "2027-11-07T09:00:00Z"], id="berlin-autumn"),
    DST("Australia/Sydney", "2027-03-28", ["2027-03-27T23:00:00Z", "2027-04-04T00:00:00Z",
                                           "2027-04-11T00:00:00Z"], id="sydney-autumn"),
    DST("Australia/Sydney", "2027-09-26", ["2027-09-26T00:00:00Z", "2027-10-02T23:00:00Z",
                                           "2027-10-09T23:00:00Z"], id="sydney-spring"),
])
def test_weekly_series_across_a_dst_change_keeps_the_local_time(w, zone, first, expected):
    result = add(w, "--start", f"{first} 10:00", "--duration", "1h", "--repeat", "weekly",
                 "--count", "3", tz=zone)
    slots = created(result)
    assert [s["start"] for s in slots] == expected
    assert [s["end"] for s in slots] == [
        z(datetime.fromisoformat(s.replace("Z", "+00:00")) + timedelta(hours=1)) for s in expected]
    table = w("--tz", zone, "slot", "list", user="ada").stdout
    for s in expected:
        local = datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
        assert f"{local:%a %m-%d} 10:00" in table, table  # 2027 is the clock's year
    assert f"times in {zone}" in table


@pytest.mark.parametrize("zone,first,bad", [
    DST("America/New_York", "2027-03-12 02:30", "2027-03-14 02:30 does not exist", id="new-york-gap"),
    DST("America/New_York", "2027-11-05 01:30", "2027-11-07 01:30 is ambiguous", id="new-york-fold"),
    DST("Europe/Berlin", "2027-03-26 02:30", "2027-03-28 02:30 does not exist", id="berlin-gap"),
    DST("Europe/Berlin", "2027-10-29 02:30", "2027-10-31 02:30 is ambiguous", id="berlin-fold"),
    DST("Australia/Sydney", "2027-04-02 02:30", "2027-04-04 02:30 is ambiguous", id="sydney-fold"),
    DST("Australia/Sydney", "2027-10-01 02:30", "2027-10-03 02:30 does not exist", id="sydney-gap"),
])
def test_series_with_an_occurrence_in_a_dst_change_creates_nothing(w, zone, first, bad):
    with unchanged(w):
        lines = refused(add(w, "--start", first, "--duration", "30m", "--repeat", "daily",
                            "--count", "4", tz=zone), 2, listing=True)
    assert zone in lines[0] and "nothing was created" in lines[0], lines
    assert lines[1:-1] == [f"  {bad}"], lines
    assert lines[-1].startswith("hint: ")
    assert w.json("slot", "list", "--status", "all") == []


def test_series_lists_every_occurrence_in_a_dst_change(w):
    # Sunday 02:30 in Sydney, every week of 2027 from January: both changes are hit
    with unchanged(w):
        lines = refused(add(w, "--start", "2027-01-17 02:30", "--duration", "30m", "--repeat",
                            "weekly", "--until", "2027-12-31", tz="Australia/Sydney"), 2, listing=True)
    assert "2 occurrence(s)" in lines[0], lines
    assert lines[1:-1] == ["  2027-04-04 02:30 is ambiguous", "  2027-10-03 02:30 does not exist"]


# ==================================================================================================
# Relative WHEN forms with the fixed clock (Sunday 2027-01-10 09:00 UTC)
# ==================================================================================================

REL = pytest.param
RELATIVE = [
    # UTC: it is Sunday 09:00
    REL("UTC", "today 14:00", "2027-01-10T14:00:00Z", id="utc-today"),
    REL("UTC", "tomorrow 9:30", "2027-01-11T09:30:00Z", id="utc-tomorrow"),
    REL("UTC", "tomorrow 2pm", "2027-01-11T14:00:00Z", id="utc-tomorrow-pm"),
    REL("UTC", "mon 10:00", "2027-01-11T10:00:00Z", id="utc-mon"),
    REL("UTC", "Monday 10:00", "2027-01-11T10:00:00Z", id="utc-monday"),
    REL("UTC", "sat 10:00", "2027-01-16T10:00:00Z", id="utc-sat"),
    REL("UTC", "sun 10:00", "2027-01-10T10:00:00Z", id="utc-sun-still-ahead-is-today"),
    REL("UTC", "sun 8:00", "2027-01-17T08:00:00Z", id="utc-sun-passed-is-next-week"),
    REL("UTC", "sun 9:00", "2027-01-17T09:00:00Z", id="utc-sun-now-is-next-week"),
    REL("UTC", "+90m", "2027-01-10T10:30:00Z", id="plus-90m"),
    REL("UTC", "+2h", "2027-01-10T11:00:00Z", id="plus-2h"),
    REL("UTC", "+3d", "2027-01-13T09:00:00Z", id="plus-3d"),
    # New York: it is Sunday 04:00 EST, so Sunday 08:00 is still ahead
    REL("America/New_York", "today 14:00", "2027-01-10T19:00:00Z", id="ny-today"),
    REL("America/New_York", "tomorrow 9:30", "2027-01-11T14:30:00Z", id="ny-tomorrow"),
    REL("America/New_York", "mon 10:00", "2027-01-11T15:00:00Z", id="ny-mon"),
    REL("America/New_York", "sun 8:00", "2027-01-10T13:00:00Z", id="ny-sun-still-ahead"),
    REL("America/New_York", "+2h", "2027-01-10T11:00:00Z", id="ny-plus-2h-is-elapsed"),
    # Honolulu: it is still Saturday 2027-01-09 23:00 HST
    REL("Pacific/Honolulu", "today 23:30", "2027-01-10T09:30:00Z", id="honolulu-today-is-saturday"),
    REL("Pacific/Honolulu", "tomorrow 9:30", "2027-01-10T19:30:00Z", id="honolulu-tomorrow-is-sunday"),
    REL("Pacific/Honolulu", "sat 23:30", "2027-01-10T09:30:00Z", id="honolulu-sat-still-ahead"),
    REL("Pacific/Honolulu", "sat 22:00", "2027-01-17T08:00:00Z", id="honolulu-sat-passed"),
    REL("Pacific/Honolulu", "sun 10:00", "2027-01-10T20:00:00Z", id="honolulu-sun-is-tomorrow"),
]


@pytest.mark.parametrize("zone,text,expected", RELATIVE)
def test_relative_when_forms_in_the_display_zone(w, zone, text, expected):
    [slot] = created(add(w, "--start", text, "--duration", "30m", tz=zone))
    assert slot["start"] == expected
    assert slot["end"] == z(datetime.fromisoformat(expected.replace("Z", "+00:00")) + timedelta(minutes=30))


def test_relative_end_and_until(w):
    [slot] = created(add(w, "--start", "tomorrow 9:30", "--end", "tomorrow 10:15", tz="America/New_York"))
    assert (slot["start"], slot["end"]) == ("2027-01-11T14:30:00Z", "2027-01-11T15:15:00Z")
    got = starts(add(w, "--start", "tomorrow 12:00", "--duration", "30m", "--repeat", "daily",
                     "--until", "+3d", tz="UTC"))
    assert got == ["2027-01-11T12:00:00Z", "2027-01-12T12:00:00Z"]  # until Wed 09:00


def test_now_is_the_clock_and_a_slot_starting_now_is_refused(w):
    assert parse_when("now", tz=ZoneInfo("Asia/Tokyo"), now=NOW) == NOW
    with unchanged(w):
        refused(add(w, "--start", "now", "--duration", "1h", tz="America/New_York"), 5,
                "2027-01-10 04:00", "has already begun")
    with unchanged(w):
        refused(add(w, "--start", "today 8:00", "--duration", "1h", tz="UTC"), 5, "has already begun")
    # `now` is fine where a past instant is fine: as a filter
    assert w.json("slot", "list", "--from", "now", user="ada") == []


def test_display_zone_precedence_tz_then_env_then_stored_then_system(w):
    tomorrow = ("--start", "tomorrow 9:30", "--duration", "30m")
    assert w.json("user", "set", "--tz", "Asia/Tokyo", user="ada")["tz"] == "Asia/Tokyo"
    no_env = {"SESSIONCTL_TZ": None, "TZ": "Australia/Sydney"}
    # the stored zone beats the system zone
    assert starts(add(w, *tomorrow, env=no_env)) == ["2027-01-11T00:30:00Z"]  # 09:30 JST
    # SESSIONCTL_TZ beats the stored zone
    ny = {"SESSIONCTL_TZ": "America/New_York", "TZ": "Australia/Sydney"}
    assert starts(add(w, *tomorrow, env=ny)) == ["2027-01-11T14:30:00Z"]  # 09:30 EST
    # --tz beats SESSIONCTL_TZ
    assert starts(add(w, *tomorrow, tz="Europe/Berlin", env=ny)) == ["2027-01-11T08:30:00Z"]  # CET
    # bob has no stored zone: the system zone (TZ) is the last resort
    assert starts(add(w, *tomorrow, user="bob", course="PHYS1", env=no_env)) == [
        "2027-01-10T22:30:00Z"]  # 09:30 AEDT
    # and the tables say which zone won
    assert "times in Asia/Tokyo" in w("slot", "list", user="ada", env=no_env).stdout
    assert "times in America/New_York" in w("slot", "list", user="ada", env=ny).stdout
    assert "times in Europe/Berlin" in w("--tz", "Europe/Berlin", "slot", "list", user="ada", env=ny).stdout
    assert "times in Australia/Sydney" in w("slot", "list", user="bob", env=no_env).stdout


def test_unknown_display_zone_is_refused(w):
    with unchanged(w):
        refused(add(w, "--start", "tomorrow 9:30", "--duration", "1h", tz="Mars/Olympus"), 2,
                "Mars/Olympus")
    with unchanged(w):
        refused(add(w, "--start", "tomorrow 9:30", "--duration", "1h",
                    env={"SESSIONCTL_TZ": "Mars/Olympus"}), 2, "Mars/Olympus")
    with unchanged(w):
        refused(w("--tz", "Europe/Atlantis", "slot", "calendar", user="alan"), 2, "Europe/Atlantis")
    for machine_file in ("localtime", "posixrules", "Factory"):  # files, not IANA zones
        with unchanged(w):
            refused(w("user", "set", "--tz", machine_file, user="alan"), 2, machine_file)
        with unchanged(w):
            refused(w("--tz", machine_file, "slot", "list", user="alan"), 2, machine_file)


# ==================================================================================================
# Series: refusals, what works, all or nothing
# ==================================================================================================

S = pytest.param
START = ("--start", "2027-02-01 10:00")
SERIES_REFUSALS = [
    S(("--duration", "1h", "--count", "3"), ["--count", "--repeat"], id="count-without-repeat"),
    S(("--duration", "1h", "--until", "2027-03-01"), ["--until", "--repeat"], id="until-without-repeat"),
    S(("--duration", "1h", "--repeat", "weekly"), ["--count", "--until"], id="repeat-unbounded"),
    S(("--duration", "1h", "--repeat", "weekly", "--count", "2", "--until", "2027-03-01"),
      ["--count", "--until"], id="count-and-until"),
    S(("--duration", "1h", "--repeat", "weekly", "--count", "2", "--rrule", "FREQ=DAILY"),
      ["--repeat", "--rrule"], id="repeat-and-rrule"),
    S(("--duration", "1h", "--repeat", "monthly", "--count", "2"), ["monthly"], id="unknown-repeat"),
    S(("--duration", "1h", "--repeat", "weekly", "--count", "0"), ["--count"], id="count-zero"),
    S(("--duration", "1h", "--rrule", "FREQ=SOMETIMES;COUNT=2"), ["RRULE", "SOMETIMES"], id="rrule-bad-freq"),
    S(("--duration", "1h", "--rrule", "FREQ=WEEKLY;BYDAY=XX;COUNT=2"), ["RRULE", "XX"], id="rrule-bad-byday"),
    S(("--duration", "1h", "--rrule", "BYDAY=MO;COUNT=2"), ["RRULE", "FREQ"], id="rrule-without-freq"),
    S(("--duration", "1h", "--rrule", "FREQ=DAILY;COUNT=abc"), ["RRULE", "COUNT"], id="rrule-bad-count"),
    S(("--duration", "1h", "--rrule", "FREQ=DAILY;COLOUR=red;COUNT=2"), ["RRULE"], id="rrule-unknown-part"),
    S(("--duration", "1h", "--rrule", "FREQ=DAILY;UNTIL=soon"), ["RRULE", "UNTIL"], id="rrule-bad-until"),
    S(("--duration", "1h", "--rrule", "FREQ=DAILY;DTSTART=20270201T100000;COUNT=2"), ["DTSTART"],
      id="rrule-with-dtstart"),
    S(("--duration", "1h", "--rrule", "FREQ=DAILY;COUNT=3", "--count", "2"), ["COUNT"],
      id="rrule-count-and-count"),
    S(("--duration", "1h", "--rrule", "FREQ=DAILY;UNTIL=20270301T000000Z", "--until", "2027-03-01"),
      ["UNTIL"], id="rrule-until-and-until"),
    S(("--duration", "1h", "--repeat", "daily", "--until", "2027-01-20"), ["no slots"],
      id="until-before-start"),
    S(("--duration", "2h", "--split", "45m"), ["2h", "45m", "30m would be left over"], id="split-remainder"),
    S(("--duration", "1h", "--split", "30"), ["30"], id="split-bare-number"),
    S(("--duration", "1h", "--repeat", "daily", "--count", "1001"), ["1000"], id="count-1001"),
    S(("--duration", "1h", "--rrule", "FREQ=DAILY"), ["never ends"], id="rrule-unbounded"),
    S(("--duration", "1h", "--repeat", "daily", "--until", "2030-12-31"), ["1000"], id="until-too-far"),
    S(("--duration", "1h", "--split", "1m", "--repeat", "daily", "--count", "17"), ["1000"],
      id="split-times-repeat-1020"),
    S(("--duration", "10h", "--split", "30m", "--repeat", "daily", "--count", "51"), ["1000"],
      id="split-times-repeat-1020-b"),
]


@pytest.mark.parametrize("args,needles", SERIES_REFUSALS)
def test_series_refusals_change_nothing(w, args, needles):
    with unchanged(w):
        refused(add(w, *START, *args), 2, *needles)


def test_series_of_exactly_1000_slots_is_accepted(w):
    got = starts(add(w, *START, "--duration", "10h", "--split", "30m", "--repeat", "daily",
                     "--count", "50"))
    assert len(got) == 1000
    assert got[0] == "2027-02-01T10:00:00Z" and got[-1] == "2027-03-22T19:30:00Z"


def test_repeat_weekdays_until_a_bare_date_includes_that_day(w):
    got = starts(add(w, "--start", "2027-01-28 10:00", "--duration", "1h", "--repeat", "weekdays",
                     "--until", "2027-02-05"))
    assert got == [f"2027-{d}T10:00:00Z" for d in
                   ("01-28", "01-29", "02-01", "02-02", "02-03", "02-04", "02-05")]


def test_until_a_bare_date_is_the_whole_local_day(w):
    # 22:00 in New York is 03:00 UTC the next day: still "on" the --until date locally
    got = starts(add(w, "--start", "2027-02-01 22:00", "--duration", "1h", "--repeat", "daily",
                     "--until", "2027-02-03", tz="America/New_York"))
    assert got == ["2027-02-02T03:00:00Z", "2027-02-03T03:00:00Z", "2027-02-04T03:00:00Z"]


def test_rrule_weekly_on_two_days_with_count(w):
    got = starts(add(w, "--start", "2027-01-11 10:00", "--duration", "1h",
                     "--rrule", "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5"))
    assert got == [f"2027-01-{d}T10:00:00Z" for d in ("11", "13", "18", "20", "25")]


def test_rrule_until_in_utc_is_inclusive_and_exact(w):
    ny = "America/New_York"  # 10:00 EST is 15:00 UTC
    got = starts(add(w, "--start", "2027-01-11 10:00", "--duration", "30m",
                     "--rrule", "FREQ=DAILY;UNTIL=20270115T150000Z", tz=ny))
    assert got == [f"2027-01-{d}T15:00:00Z" for d in ("11", "12", "13", "14", "15")]
    got = starts(add(w, "--start", "2027-01-11 11:00", "--duration", "30m",
                     "--rrule", "RRULE:FREQ=DAILY;UNTIL=20270115T155959Z", tz=ny))
    assert got == [f"2027-01-{d}T16:00:00Z" for d in ("11", "12", "13", "14")]


def test_split_alone_and_split_with_repeat(w):
    got = starts(add(w, "--start", "2027-01-11 10:00", "--end", "2027-01-11 12:00", "--split", "40m"))
    assert got == ["2027-01-11T10:00:00Z", "2027-01-11T10:40:00Z", "2027-01-11T11:20:00Z"]
    slots = created(add(w, "--start", "2027-02-01 14:00", "--duration", "2h", "--split", "30m",
                        "--repeat", "daily", "--count", "3"))
    assert [s["start"] for s in slots] == [
        f"2027-02-0{d}T{t}:00Z" for d in (1, 2, 3) for t in ("14:00", "14:30", "15:00", "15:30")]
    assert [s["end"] for s in slots] == [
        f"2027-02-0{d}T{t}:00Z" for d in (1, 2, 3) for t in ("14:30", "15:00", "15:30", "16:00")]
    # the range being cut may be longer than one slot's 12 hours (README); each piece may not
    got = starts(add(w, "--start", "2027-03-01 00:00", "--duration", "1d", "--split", "1h"))
    assert got == [f"2027-03-01T{h:02d}:00:00Z" for h in range(24)]
    with unchanged(w):
        refused(add(w, "--start", "2027-04-01 00:00", "--duration", "26h", "--split", "13h"), 2, "12")


def test_rrule_start_that_does_not_match_the_rule_is_not_an_occurrence(w):
    # documented in the README (python-dateutil's reading): a Tuesday start with BYDAY=MO
    got = starts(add(w, "--start", "2027-01-12 10:00", "--duration", "1h",
                     "--rrule", "FREQ=WEEKLY;BYDAY=MO;COUNT=2"))
    assert got == ["2027-01-18T10:00:00Z", "2027-01-25T10:00:00Z"]


def test_series_conflicts_create_nothing_and_list_every_collision(w):
    ny = "America/New_York"
    [hit] = created(add(w, "--start", "2027-02-03 10:00", "--duration", "1h", tz=ny))
    [also] = created(add(w, "--start", "2027-02-05 10:30", "--duration", "1h", tz=ny))
    [gone] = created(add(w, "--start", "2027-02-02 10:00", "--duration", "1h", tz=ny))
    w.json("slot", "cancel", str(gone["id"]), user="ada")  # a cancelled slot is no obstacle
    created(add(w, "--start", "2027-02-04 10:00", "--duration", "1h", tz=ny, user="bob",
                course="PHYS1"))  # nor is another educator's slot
    with unchanged(w):
        lines = refused(add(w, "--start", "2027-02-01 10:00", "--duration", "1h", "--repeat",
                            "daily", "--count", "7", tz=ny), 5, listing=True)
    assert lines == [
        "error: 2 slot(s) of the series overlap; nothing was created:",
        f"  2027-02-03 10:00–11:00 EST overlaps slot {hit['id']} (2027-02-03 10:00–11:00 EST)",
        f"  2027-02-05 10:00–11:00 EST overlaps slot {also['id']} (2027-02-05 10:30–11:30 EST)",
    ]
    # also by an admin, and when the series is built by --split
    with unchanged(w):
        lines = refused(add(w, "--start", "2027-02-03 09:00", "--duration", "3h", "--split", "1h",
                            tz=ny, user="root"), 5, listing=True)
    assert lines[1:] == [
        f"  2027-02-03 10:00–11:00 EST overlaps slot {hit['id']} (2027-02-03 10:00–11:00 EST)"]


def test_series_overlapping_itself_creates_nothing(w):
    with unchanged(w):
        lines = refused(add(w, "--start", "2027-05-01 10:00", "--duration", "2h",
                            "--rrule", "FREQ=HOURLY;COUNT=3"), 5, listing=True)
    assert lines[0] == "error: 2 slot(s) of the series overlap; nothing was created:"
    assert lines[1].startswith("  2027-05-01 11:00–13:00 UTC overlaps another slot of this series")
    assert lines[2].startswith("  2027-05-01 12:00–14:00 UTC overlaps another slot of this series")
    assert w.json("slot", "list", "--status", "all") == []


def test_series_may_touch_existing_slots(w):
    created(add(w, "--start", "2027-02-02 11:00", "--duration", "1h"))
    created(add(w, "--start", "2027-02-03 09:00", "--duration", "1h"))
    got = starts(add(w, "--start", "2027-02-01 10:00", "--duration", "1h", "--repeat", "daily",
                     "--count", "3"))
    assert got == ["2027-02-01T10:00:00Z", "2027-02-02T10:00:00Z", "2027-02-03T10:00:00Z"]
    assert len(w.json("slot", "list", user="ada")) == 5


def test_series_with_a_first_slot_in_the_past_creates_nothing(w):
    with unchanged(w):
        refused(add(w, "--start", "2027-01-09 10:00", "--duration", "1h", "--repeat", "daily",
                    "--count", "3"), 5, "has already begun")


# ==================================================================================================
# slot calendar
# ==================================================================================================


def grid(out: str) -> tuple[str, list[str], dict[int, list[str]], str]:
    """A calendar table as (title, day headers, {hour: seven cells}, caption)."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines)
                if not line.startswith("week of") and all(re.search(rf"\b{d}\b", line) for d in DAYS))
    columns = [lines[head].index(d) for d in DAYS]
    headers = [f"{d} {lines[head + 1][c:c + 5]}" for d, c in zip(DAYS, columns)]
    rows: dict[int, list[str]] = {}
    hour = None
    caption = ""
    for line in lines[head + 3:]:
        if line.startswith("times in"):
            caption = line.strip()
            break
        label = re.match(r"^(\d\d):00\b", line)
        if label:
            hour = int(label[1])
            rows[hour] = [""] * 7
        if hour is None:
            continue
        for index, column in enumerate(columns):
            stop = columns[index + 1] if index < 6 else None
            piece = line[column:stop].strip()
            if piece:
                rows[hour][index] = f"{rows[hour][index]} {piece}".strip()
    return lines[0].strip(), headers, rows, caption


@pytest.fixture
def week(w):
    """Slots in the week of Mon 2027-01-11 (UTC): ada's booked, cancelled and available
    MATH101 slots, bob's PHYS1 slot, and one in the next week."""
    def one(start, user="ada", course="MATH101"):
        [slot] = created(add(w, "--start", start, "--duration", "1h", user=user, course=course))
        return slot["id"]

    ids = {
        "booked": one("2027-01-11 10:00"), "cancelled": one("2027-01-13 14:30"),
        "fri": one("2027-01-15 09:00"), "tue": one("2027-01-12 16:00"),
        "phys": one("2027-01-14 12:00", user="bob", course="PHYS1"),
        "next": one("2027-01-18 10:00"),
    }
    request = w.json("request", "send", str(ids["booked"]), user="alan")
    w.json("request", "approve", str(request["id"]), user="ada")
    w.json("slot", "cancel", str(ids["cancelled"]), user="ada")
    return ids


def test_calendar_educator_grid_days_hours_and_states(w, week, clock):
    out = w("slot", "calendar", "--week", "2027-01-13", user="ada")
    assert out.exit_code == 0 and out.stderr == ""
    title, headers, rows, caption = grid(out.stdout)
    assert title == "week of Mon 2027-01-11"
    assert headers == ["Mon 01-11", "Tue 01-12", "Wed 01-13", "Thu 01-14", "Fri 01-15",
                       "Sat 01-16", "Sun 01-17"]
    assert list(rows) == list(range(9, 17))  # first slot starts at 09:00, last ends at 17:00
    cells = {(h, DAYS[i]): text for h, row in rows.items() for i, text in enumerate(row) if text}
    assert cells == {
        (10, "Mon"): f"10:00 MATH101 #{week['booked']} booked",
        (16, "Tue"): f"16:00 MATH101 #{week['tue']} available",
        (14, "Wed"): f"14:30 MATH101 #{week['cancelled']} cancelled",
        (9, "Fri"): f"09:00 MATH101 #{week['fri']} available",
    }
    assert "PHYS1" not in out.stdout and caption == "times in UTC"
    # once slots have ended they say so
    clock.now = datetime(2027, 1, 12, 18, 0, tzinfo=UTC)
    _, _, rows, _ = grid(w("slot", "calendar", "--week", "2027-01-13", user="ada").stdout)
    assert rows[10][0] == f"10:00 MATH101 #{week['booked']} booked · ended"
    assert rows[16][1] == f"16:00 MATH101 #{week['tue']} available · ended"
    assert rows[9][4] == f"09:00 MATH101 #{week['fri']} available"


def test_calendar_shows_what_slot_list_shows_to_each_role(w, week):
    def ids(user, *args):
        return [s["id"] for s in w.json("slot", "calendar", "--week", "2027-01-13", *args, user=user)]

    math = [week["booked"], week["tue"], week["cancelled"], week["fri"]]
    assert ids("ada") == math
    assert ids("alan") == math and ids("kat") == math  # enrolled students: MATH101 only
    assert ids("bob") == [week["phys"]]
    assert ids("eve") == []
    assert ids("root") == [week["booked"], week["tue"], week["cancelled"], week["phys"], week["fri"]]
    table = w("slot", "calendar", "--week", "2027-01-13", user="alan").stdout
    assert "PHYS1" not in table and f"#{week['phys']}" not in table
    assert f"MATH101 #{week['booked']}" in table
    eve = w("slot", "calendar", "--week", "2027-01-13", user="eve").stdout
    assert "no slots" in grid(eve)[0]


def test_calendar_course_filter(w, week):
    def ids(user, *args):
        return [s["id"] for s in w.json("slot", "calendar", "--week", "2027-01-13", *args, user=user)]

    assert ids("root", "--course", "PHYS1") == [week["phys"]]
    assert week["phys"] not in ids("root", "--course", "MATH101")
    assert ids("alan", "--course", "MATH101") == [week["booked"], week["tue"], week["cancelled"], week["fri"]]
    out = w("slot", "calendar", "--week", "2027-01-13", "--course", "PHYS1", user="root").stdout
    _, _, rows, _ = grid(out)
    assert list(rows) == [12] and rows[12][3] == f"12:00 PHYS1 #{week['phys']} available"
    with unchanged(w):
        refused(w("slot", "calendar", "--course", "PHYS1", user="alan"), 3, "PHYS1")


def test_calendar_json_is_the_local_week(w):
    ny = "America/New_York"

    def one(start):
        [slot] = created(add(w, "--start", start, "--duration", "30m", tz=ny))
        return slot

    before = one("2027-01-10 23:30")  # Sunday night of the previous week (04:30Z Monday)
    first = one("2027-01-11 00:00")   # the first instant of the week
    last = one("2027-01-17 23:30")    # Sunday night (04:30Z the next Monday)
    after = one("2027-01-18 00:00")   # the next week
    got = w.json("--tz", ny, "slot", "calendar", "--week", "2027-01-13", user="ada")
    assert got == [first, last]  # the slot objects of docs/reference/output.md#json, UTC Z times
    assert [s["start"] for s in got] == ["2027-01-11T05:00:00Z", "2027-01-18T04:30:00Z"]
    # the same week in UTC holds other slots: the bounds are local midnights
    got = w.json("slot", "calendar", "--week", "2027-01-13", user="ada")
    assert [s["id"] for s in got] == [before["id"], first["id"]]
    assert after["id"] not in [s["id"] for s in got]
    _, headers, rows, caption = grid(w("--tz", ny, "slot", "calendar", "--week", "2027-01-13",
                                       user="ada").stdout)
    assert caption == "times in America/New_York" and headers[0] == "Mon 01-11"
    assert list(rows) == list(range(24))
    assert rows[0][0] == f"00:00 MATH101 #{first['id']} available"
    assert rows[23][6] == f"23:30 MATH101 #{last['id']} available"


def test_calendar_caption_names_the_zone_and_moves_the_hours(w):
    created(add(w, "--start", "2027-01-12 10:00", "--duration", "1h"))
    for zone, hour in (("UTC", 10), ("Europe/Berlin", 11), ("Asia/Tokyo", 19)):
        _, _, rows, caption = grid(w("--tz", zone, "slot", "calendar", "--week", "2027-01-12",
                                     user="ada").stdout)
        assert caption == f"times in {zone}"
        assert list(rows) == [hour] and rows[hour][1].startswith(f"{hour:02d}:00 MATH101 #")
    _, _, _, caption = grid(w("slot", "calendar", "--week", "2027-01-12", user="kat",
                              env={"SESSIONCTL_TZ": "Australia/Sydney"}).stdout)
    assert caption == "times in Australia/Sydney"


def test_calendar_empty_week_prints_the_days_and_says_no_slots(w):
    out = w("--tz", "Europe/Berlin", "slot", "calendar", "--week", "2027-02-10", user="ada")
    assert out.exit_code == 0
    title, headers, rows, caption = grid(out.stdout)
    assert title == "week of Mon 2027-02-08: no slots"
    assert headers == ["Mon 02-08", "Tue 02-09", "Wed 02-10", "Thu 02-11", "Fri 02-12",
                       "Sat 02-13", "Sun 02-14"]
    assert rows == {} and caption == "times in Europe/Berlin"
    # without --week: the week holding now (Sunday 2027-01-10)
    assert grid(w("slot", "calendar", user="ada").stdout)[0] == "week of Mon 2027-01-04: no slots"
    assert grid(w("slot", "calendar", "--week", "tomorrow", user="ada").stdout)[0] == (
        "week of Mon 2027-01-11: no slots")
    assert w.json("slot", "calendar", user="ada") == []


@pytest.mark.parametrize("week, monday", [("next", "2027-01-11"), ("prev", "2026-12-28"),
                                          ("+2", "2027-01-18"), ("-1", "2026-12-28"),
                                          ("this", "2027-01-04"), ("+0", "2027-01-04")])
def test_calendar_weeks_from_this_one(w, week, monday):
    out = w("slot", "calendar", "--week", week, user="ada")
    assert out.exit_code == 0, out.stderr
    assert grid(out.stdout)[0].startswith(f"week of Mon {monday}")


def test_an_empty_week_names_the_week_of_the_next_slot(w):
    add(w, "--start", "2027-03-03 10:00", "--duration", "1h", tz="UTC")
    out = w("slot", "calendar", "--week", "next", user="ada").stdout
    assert out.splitlines()[-1] == ("the next slots are in the week of Mon 2027-03-01 "
                                    "(--week 2027-03-01)")
    later = w("slot", "calendar", "--week", "2027-03-10", user="ada").stdout
    assert later.splitlines()[-1] == "no slots in any later week"
    assert w.json("slot", "calendar", "--week", "next", user="ada") == []


@pytest.mark.parametrize("week, says", [("+5201", "too far away"), ("-99999999999", "too far away"),
                                        ("+1 2", "cannot read"), ("next\u202e", "cannot read"),
                                        ("+\u0661", "cannot read"), ("nxt", "cannot read")])
def test_calendar_week_offsets_that_make_no_sense(w, week, says):
    with unchanged(w):
        refused(w("slot", "calendar", "--week", week, user="ada"), 2, says)


def test_calendar_in_a_dst_week_places_slots_at_their_local_hours(w):
    ny = "America/New_York"

    def one(start, duration="30m"):
        [slot] = created(add(w, "--start", start, "--duration", duration, tz=ny))
        return slot

    sat, sun = created(add(w, "--start", "2027-03-13 10:00", "--duration", "1h", "--repeat",
                           "daily", "--count", "2", tz=ny))
    early = one("2027-03-14 01:30")  # EST
    late = one("2027-03-14 03:30")   # EDT, one elapsed hour later
    got = w.json("--tz", ny, "slot", "calendar", "--week", "2027-03-14", user="ada")
    assert [(s["id"], s["start"]) for s in got] == [
        (sat["id"], "2027-03-13T15:00:00Z"), (early["id"], "2027-03-14T06:30:00Z"),
        (late["id"], "2027-03-14T07:30:00Z"), (sun["id"], "2027-03-14T14:00:00Z")]
    title, headers, rows, _ = grid(w("--tz", ny, "slot", "calendar", "--week", "2027-03-14",
                                     user="ada").stdout)
    assert title == "week of Mon 2027-03-08" and headers[6] == "Sun 03-14"
    assert list(rows) == list(range(1, 11))
    assert rows[1][6] == f"01:30 MATH101 #{early['id']} available"
    assert rows[2][6] == ""  # 02:00-03:00 never happened that night
    assert rows[3][6] == f"03:30 MATH101 #{late['id']} available"
    assert rows[10][5] == f"10:00 MATH101 #{sat['id']} available"
    assert rows[10][6] == f"10:00 MATH101 #{sun['id']} available"


def test_calendar_in_a_fall_back_week_shows_both_one_thirties(w):
    ny = "America/New_York"
    [first] = created(add(w, "--start", "2027-11-07 01:30-04:00", "--duration", "30m", tz=ny))
    [second] = created(add(w, "--start", "2027-11-07 01:30-05:00", "--duration", "30m", tz=ny))
    _, headers, rows, _ = grid(w("--tz", ny, "slot", "calendar", "--week", "2027-11-07",
                                 user="ada").stdout)
    assert headers[0] == "Mon 11-01" and headers[6] == "Sun 11-07"
    assert list(rows) == [1]
    assert rows[1][6] == (f"01:30 MATH101 #{first['id']} available "
                          f"01:30 MATH101 #{second['id']} available")


# ==================================================================================================
# Every table says its zone
# ==================================================================================================


def test_tables_say_which_zone_their_times_are_in(w):
    [slot] = created(add(w, "--start", "2027-01-11 10:00", "--duration", "1h", "--capacity", "2"))
    request = w.json("request", "send", str(slot["id"]), user="alan")
    w.json("request", "approve", str(request["id"]), user="ada")  # alan's inbox has one too
    w.json("user", "set", "--tz", "Australia/Sydney", user="alan")
    commands = (("slot", "list"), ("request", "list"), ("inbox", "--peek"),
                ("slot", "calendar", "--week", "2027-01-11"))
    for args in commands:
        for user in ("ada", "alan"):
            tokyo = w("--tz", "Asia/Tokyo", *args, user=user)
            assert tokyo.exit_code == 0, (args, tokyo.stderr)
            assert "times in Asia/Tokyo" in tokyo.stdout, (args, user, tokyo.stdout)
            berlin = w(*args, user=user, env={"SESSIONCTL_TZ": "Europe/Berlin"}).stdout
            assert "times in Europe/Berlin" in berlin, (args, user, berlin)
        stored = w(*args, user="alan", env={"SESSIONCTL_TZ": None}).stdout
        assert "times in Australia/Sydney" in stored, (args, stored)
    # and the times in them are in that zone (10:00 UTC)
    assert "Mon 01-11 19:00" in w("--tz", "Asia/Tokyo", "slot", "list", user="ada").stdout
    assert "Mon 01-11 21:00" in w("slot", "list", user="alan", env={"SESSIONCTL_TZ": None}).stdout
    assert "Mon 01-11 11:00" in w("request", "list", user="ada",
                                       env={"SESSIONCTL_TZ": "Europe/Berlin"}).stdout
    added = add(w, "--start", "2027-01-12 10:00", "--duration", "1h", tz="Asia/Tokyo", as_json=False)
    assert "times in Asia/Tokyo" in added.stdout and "Tue 01-12 10:00" in added.stdout


# ==================================================================================================
# Bugs found while writing these tests, fixed since
# ==================================================================================================


@pytest.mark.parametrize("text,honoured", [
    ("2027-01-11 10:00 PST", "2027-01-11T18:00:00Z"),  # PST is UTC-8
    ("2027-01-11 10:00 XYZ", None),  # no such zone: only a refusal will do
])
def test_unknown_zone_abbreviation_in_when_is_refused_not_dropped(w, text, honoured):
    result = add(w, "--start", text, "--duration", "1h", tz="UTC")
    assert "Warning" not in result.stderr, result.stderr
    if result.exit_code == 0 and honoured:
        assert starts(result) == [honoured]
    else:
        refused(result, 2)


def test_rrule_interval_zero_is_a_malformed_rrule(w):
    with unchanged(w):
        refused(add(w, *START, "--duration", "1h", "--rrule", "FREQ=DAILY;INTERVAL=0;COUNT=3"), 2,
                "INTERVAL")


def test_until_bare_date_with_a_midnight_gap_means_the_whole_day(w):
    got = starts(add(w, "--start", "2027-09-03 10:00", "--duration", "1h", "--repeat", "daily",
                     "--until", "2027-09-05", tz="America/Santiago"))
    assert got == ["2027-09-03T14:00:00Z", "2027-09-04T14:00:00Z", "2027-09-05T13:00:00Z"]


def test_until_bare_date_in_words_includes_that_day(w):
    got = starts(add(w, "--start", "2027-02-03 10:00", "--duration", "1h", "--repeat", "daily",
                     "--until", "Feb 5 2027"))
    assert got == ["2027-02-03T10:00:00Z", "2027-02-04T10:00:00Z", "2027-02-05T10:00:00Z"]


def test_a_duration_without_sign_is_refused_and_minus_means_ago(w):
    with unchanged(w):
        refused(add(w, "--start", "2h", "--duration", "1h", tz="UTC"), 2, "+2h")
    result = w("slot", "list", "--from", "-2h", "--json", user="ada")
    assert result.exit_code == 0, result.stderr


def test_calendar_week_whose_monday_midnight_is_skipped(w):
    # Asia/Beirut skips 00:00-01:00 on Sunday 2027-03-28: that week still starts and shows
    result = w("--tz", "Asia/Beirut", "slot", "calendar", "--week", "2027-03-28", user="ada")
    assert result.exit_code == 0, result.stderr
    assert "week of Mon 2027-03-22" in result.stdout


# -- found by the fuzzer: WHEN offsets and RRULEs -------------------------------------------------

BIG_OFFSETS = ["2027-01-01T10:00+25:00", "2027-01-01T10:00+24:00", "2027-01-01 10:00-24:00",
               "Jan 1 2027 10:00 +2500"]  # the last one is read by dateutil, the others by fromisoformat


@pytest.mark.parametrize("when", BIG_OFFSETS)
@pytest.mark.parametrize("args", [
    ("slot", "add", "--course", "MATH101", "--duration", "1h", "--start"),
    ("request", "list", "--to"),
    ("slot", "calendar", "--week"),
], ids=lambda a: " ".join(a[:2]))
def test_a_when_offset_of_24_hours_or_more_is_a_usage_error(world, when, args):
    before = snapshot(world.db)
    refused_plainly(world(*args, when, user="ada"))
    assert snapshot(world.db) == before


def test_a_big_offset_in_until_is_a_usage_error(world):
    before = snapshot(world.db)
    refused_plainly(world("slot", "add", "--course", "MATH101", "--start", "2027-03-01 10:00",
                  "--duration", "1h", "--repeat", "daily", "--until", "2027-03-05T10:00+30:00",
                  user="ada"))
    assert snapshot(world.db) == before


@pytest.mark.parametrize("rule", [
    "FREQ=YEARLY;BYEASTER=999", "FREQ=YEARLY;BYEASTER=-999", "FREQ=YEARLY;BYEASTER=366",
    "FREQ=DAILY;BYHOUR=25", "FREQ=DAILY;BYSETPOS=0", "FREQ=YEARLY;BYWEEKNO=54",
    "FREQ=WEEKLY;WKST=XX", "FREQ=DAILY;BYMINUTE=60", "FREQ=MONTHLY;BYMONTHDAY=32",
    "FREQ=MONTHLY;BYMONTHDAY=0", "FREQ=YEARLY;BYMONTH=13",
])
def test_an_out_of_range_rrule_part_is_a_usage_error(world, rule):
    """RFC 5545 ranges: BYMONTHDAY ±1..31, BYWEEKNO ±1..53, BYHOUR 0..23 … (BYEASTER is a
    dateutil extension; any offset that dateutil cannot place is malformed too). A value out
    of range is exit 2; none of them may crash, and none may be silently dropped (BYMONTHDAY=0
    today makes a plain monthly series)."""
    before = snapshot(world.db)
    refused_plainly(world("slot", "add", "--course", "MATH101", "--start", "2027-03-01 10:00",
                  "--duration", "1h", "--rrule", rule, "--count", "3", user="ada"))
    assert snapshot(world.db) == before


NEVER = ["FREQ=MINUTELY;BYHOUR=3;BYMONTH=2;BYMONTHDAY=30",
         "FREQ=SECONDLY;BYMINUTE=3;BYMONTH=2;BYMONTHDAY=30"]


def test_a_rule_that_never_matches_is_refused_promptly(built_store):
    """Without COUNT/UNTIL, dateutil walks minute by minute (or second by second) up to the year
    9999 looking for a 30 February: about 5 s of CPU per simulated year, some 11 hours in all,
    while the command holds nothing but the CPU. It must answer (exit 2) within seconds. Both
    rules run at once, 6 s in all."""
    before = snapshot(built_store)
    env = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    env.update({b"SESSIONCTL_DB": os.fsencode(built_store), b"SESSIONCTL_USER": b"ada", b"SESSIONCTL_TZ": b"UTC"})
    runs = [subprocess.Popen([BIN, "slot", "add", "--course", "MATH101", "--start", "2027-01-04 10:00",
                              "--duration", "1h", "--rrule", rule], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for rule in NEVER]
    import time

    deadline, hung = time.monotonic() + 6, []
    for rule, run in zip(NEVER, runs):
        try:
            out, err = run.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            run.kill()
            run.communicate()
            hung.append(rule)
            continue
        refused_plainly(subprocess.CompletedProcess(run.args, run.returncode, out, err))
    assert not hung, f"still running after 6 s: {hung}"
    assert snapshot(built_store) == before


# -- found by the second attack pass: RRULEs, digits, --except dates ------------------------------

@pytest.mark.parametrize("rule, says", [
    ("FREQ=DAILY;COUNT=3\nEXDATE:20290102T100000", "one line of NAME=VALUE parts"),
    ("FREQ=DAILY;COUNT=3\r\nEXDATE:20290102T100000Z", "one line of NAME=VALUE parts"),
    ("FREQ=DAILY;COUNT=3\u2028X=1", "one line of NAME=VALUE parts"),
    ("FREQ=DAILY;UNTIL=20290110T000000;COUNT=2", "COUNT and UNTIL cannot both be given"),
    ("FREQ=DAILY;COUNT=2;UNTIL=20290110T000000Z", "COUNT and UNTIL cannot both be given"),
    ("FREQ=MINUTELY;BYDAY=1MO;COUNT=2", "a numbered BYDAY"),
    ("FREQ=WEEKLY;BYDAY=-1FR;COUNT=2", "a numbered BYDAY"),
    ("FREQ=MONTHLY;BYWEEKNO=3;COUNT=2", "BYWEEKNO needs FREQ=YEARLY"),
])
def test_rrules_rfc_5545_forbids_are_refused(world, rule, says):
    before = snapshot(world.db)
    result = world("slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00",
                   "--duration", "1h", "--rrule", rule, user="ada")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert says in result.stderr and "offset-naive" not in result.stderr
    assert snapshot(world.db) == before


def test_a_numbered_byday_of_a_monthly_rule_still_works(world):
    made = world.json("slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00",
                      "--duration", "1h", "--rrule", "FREQ=MONTHLY;BYDAY=1MO;COUNT=3", user="ada")
    assert [m["start"][:10] for m in made] == ["2029-01-01", "2029-02-05", "2029-03-05"]


@pytest.mark.parametrize("args", [
    ["slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00", "--duration", "３０m"],
    ["slot", "add", "--course", "MATH101", "--start", "+５d", "--duration", "30m"],
    ["slot", "add", "--course", "MATH101", "--start", "2029-01-01 １０:００", "--duration", "30m"],
    ["course", "set", "MATH101", "--min-notice", "２h"],
])
def test_durations_and_times_take_ascii_digits_only(world, args):
    before = snapshot(world.db)
    result = world(*args, user="ada")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert snapshot(world.db) == before


@pytest.mark.parametrize("rule", [
    "FREQ=MONTHLY;BYMONTHDAY=" + "9" * 5000 + ";COUNT=2",
    "FREQ=DAILY;INTERVAL=" + "9" * 5000 + ";COUNT=2",
    "FREQ=DAILY;INTERVAL=\u0661;COUNT=2",
    "FREQ=MONTHLY;BYMONTHDAY=\u0661;COUNT=2",
])
def test_rrule_numbers_huge_or_in_other_digits_are_exit_2(world, rule):
    before = snapshot(world.db)
    result = world("slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00",
                   "--duration", "1h", "--rrule", rule, user="ada")
    assert result.exit_code == 2, (result.stdout, result.stderr[-300:])
    assert result.stderr.startswith("error: invalid RRULE") and "internal error" not in result.stderr
    assert snapshot(world.db) == before


@pytest.mark.parametrize("skip, says", [
    ("2029-01-0\u200b2", "cannot read"),
    ("2029-01-02\u202e", "cannot read"),
    ("9999-01-01", "out of range"),
    ("12/03/2029", "could be 12 March or 3 December 2029"),
    (",".join(["2029-01-02"] * 5000 + ["nonsense"]), "cannot read"),
    ("", "has an empty day"), ("2029-01-02,,2029-01-03", "has an empty day"),
    ("2029-01-02 10:00", "is a time; a day is wanted"),
])
def test_except_refuses_hostile_dates(world, skip, says):
    before = snapshot(world.db)
    result = world("slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00",
                   "--duration", "1h", "--repeat", "daily", "--count", "3", "--except", skip,
                   user="ada")
    assert result.exit_code == 2, (result.stdout, result.stderr[-300:])
    assert says in result.stderr and "Traceback" not in result.stderr
    assert snapshot(world.db) == before


def test_except_reads_a_day_written_with_a_comma_whole(world):
    made = world.json("slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00",
                      "--duration", "1h", "--repeat", "daily", "--count", "4",
                      "--except", "Jan 2, 2029", "--except", "2029-01-03,2029-01-04", user="ada")
    assert [m["start"][:10] for m in made] == ["2029-01-01"]


def test_an_overlap_across_a_dst_change_labels_each_end_with_its_own_offset(w):
    """01:30 EST to 04:30 EDT: a refusal naming that slot says so, not '01:30–04:30 EST'."""
    ny = "America/New_York"
    assert add(w, "--start", "2027-03-14 01:30", "--duration", "2h", tz=ny).exit_code == 0
    with unchanged(w):
        lines = refused(add(w, "--start", "2027-03-14 01:00", "--duration", "1h", tz=ny), 5)
    assert "(2027-03-14 01:30 EST–04:30 EDT)" in lines[0], lines
