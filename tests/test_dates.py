"""docs/reference/time.md#when: nothing misread. Every written date is read the one way a person
meant it or refused (exit 2) naming its readings; a day and month without a year are their next
occurrence; ``yesterday``, ``next WEEKDAY`` and weeks in durations.

The property tests play a person: they pick the day they mean, write it in one of the forms
people write (day first, month first, a month by name, with or without a year, a weekday, a
time before or after), and require sessionctl to read exactly that day or refuse.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from conftest import snapshot
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from sessionctl.dates import MONTH_NAMES, next_occurrence
from sessionctl.errors import UsageError
from sessionctl.timeparse import parse_date, parse_duration, parse_when

UTC = timezone.utc
NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)  # a Sunday
TODAY = NOW.date()
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def read(text: str, now: datetime = NOW, tz=UTC) -> datetime:
    return parse_when(text, tz=tz, now=now)


def refusal(text: str, now: datetime = NOW) -> UsageError:
    with pytest.raises(UsageError) as refused:
        read(text, now)
    assert refused.value.code == 2
    return refused.value


# -- a person writes the day they mean --------------------------------------------------------


def numeric(day: date, order: str, sep: str, year: str) -> str:
    first, second = (day.day, day.month) if order == "dmy" else (day.month, day.day)
    text = f"{first:02d}{sep}{second:02d}" if year == "padded" else f"{first}{sep}{second}"
    if year in ("four", "padded"):
        return f"{text}{sep}{day.year}"
    if year == "two":
        return f"{text}{sep}{day.year % 100:02d}"
    return text


def named(day: date, style: int, with_year: bool) -> str:
    month, short = MONTH_NAMES[day.month - 1], MONTH_NAMES[day.month - 1][:3]
    year = f" {day.year}" if with_year else ""
    return [f"{day.day} {month}{year}", f"{short} {day.day}{',' if year else ''}{year}",
            f"{day.day}th of {month}{year}" if day.day in (4, 11, 25) else f"{day.day} {short}{year}",
            f"{month} {day.day}{year}"][style]


FORMS = st.one_of(
    st.tuples(st.just("numeric"), st.sampled_from(["dmy", "mdy"]), st.sampled_from("/.-"),
              st.sampled_from(["none", "four", "padded", "two"])),
    st.tuples(st.just("named"), st.integers(0, 3), st.booleans(), st.just(None)),
    st.tuples(st.just("yearfirst"), st.sampled_from("/.-"), st.just(None), st.just(None)),
)
TIMES = st.one_of(st.none(), st.tuples(st.integers(0, 23), st.integers(0, 59),
                                       st.sampled_from(["after", "at", "before", "ampm"])))


def written(day: date, form, clock) -> tuple[str, bool]:
    """The text a person writes for ``day`` in ``form`` (and whether it names the year)."""
    kind, a, b, c = form
    if kind == "numeric":
        text, has_year = numeric(day, a, b, c), c != "none"
    elif kind == "named":
        text, has_year = named(day, a, b), b
    else:
        text, has_year = f"{day.year}{a}{day.month:02d}{a}{day.day:02d}", True
    if clock is None:
        return text, has_year
    hour, minute, place = clock
    if place == "ampm":
        return f"{text} {hour % 12 or 12}:{minute:02d}{'pm' if hour >= 12 else 'am'}", has_year
    at = f"{hour}:{minute:02d}"
    return {"after": f"{text} {at}", "at": f"{text} at {at}", "before": f"{at} {text}"}[place], has_year


@settings(max_examples=1500, deadline=None)
@given(day=st.dates(date(2027, 1, 1), date(2070, 12, 31)), form=FORMS, clock=TIMES,
       weekday=st.booleans())
def test_property_a_written_date_is_read_as_meant_or_refused(day, form, clock, weekday):
    text, has_year = written(day, form, clock)
    if not has_year:
        day = next_occurrence(day.month, day.day, TODAY)  # what a date without a year means
    if weekday:
        text = f"{DAYS[day.weekday()][:3]} {text}"
    hour, minute = (clock[0], clock[1]) if clock else (0, 0)
    meant = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    try:
        got = read(text)
    except UsageError as refused:
        assert refused.code == 2
        event("refused")
        if "could be" in refused.message:  # then it names the day meant among its readings
            assert day.isoformat() in (refused.hint or ""), (text, refused.hint)
        return
    event("read")
    assert got == meant, (text, got, meant)


@settings(max_examples=800, deadline=None)
@given(first=st.integers(1, 12), second=st.integers(1, 12), sep=st.sampled_from("/.-"),
       year=st.sampled_from(["", "/2027", "/27"]), clock=st.sampled_from(["", " 16:00", " 9am"]))
def test_property_a_day_and_month_that_could_be_swapped_are_refused_naming_both(
        first, second, sep, year, clock):
    assume(first != second)
    text = f"{first}{sep}{second}{year.replace('/', sep)}{clock}"
    refused = refusal(text)
    assert refused.message.startswith(f"{text!r} could be "), refused.message
    for day, month in ((first, second), (second, first)):
        assert f"{day} {MONTH_NAMES[month - 1]}" in refused.message
        assert f"-{month:02d}-{day:02d}{clock}" in refused.hint


@settings(max_examples=1000, deadline=None)
@given(text=st.text(st.sampled_from("0123456789/.-: apmtdecjulmonfriwxt,"), max_size=16))
def test_property_typed_fragments_never_read_a_swappable_pair(text):
    """Whatever is typed is read or refused (exit 2, never a crash), and nothing that holds a
    day and month that could be swapped is ever read."""
    try:
        read(text)
    except UsageError as refused:
        assert refused.code == 2
        return
    event("read")
    for found in re.finditer(r"(?<![0-9/.-])([0-9]{1,2})([/.-])([0-9]{1,2})(?![0-9])", text):
        a, b = int(found[1]), int(found[3])
        assert not (1 <= a <= 12 and 1 <= b <= 12 and a != b), text


# -- the rule of full dates, now without a year ------------------------------------------------


@pytest.mark.parametrize("text", ["12/07", "12.07", "12-07", "12/07 10:00", "12.07 16:00",
                                  "12.07.", "12.07. 16:00", "sun 12/07", "1/2"])
def test_a_day_and_month_both_readings_valid_are_refused(text):
    refused = refusal(text)
    assert "could be" in refused.message and "write 20" in refused.hint, refused.message


@pytest.mark.parametrize("text, meant", [
    ("25/12", "2027-12-25T00:00"), ("12/25", "2027-12-25T00:00"), ("25.12.", "2027-12-25T00:00"),
    ("25-12 14:00", "2027-12-25T14:00"), ("13/01 9am", "2027-01-13T09:00"),
    ("10/10", "2027-10-10T00:00"),  # both the same: one reading
    ("10 Jan", "2027-01-10T00:00"),  # today counts
    ("9 Jan", "2028-01-09T00:00"), ("Jan 9 10:00", "2028-01-09T10:00"),
    ("29/02", "2028-02-29T00:00"),  # the next leap year's
    ("Fri 3 Dec 2027", "2027-12-03T00:00"), ("3rd of July at 9:30", "2027-07-03T09:30"),
])
def test_a_date_read_one_way_is_accepted(text, meant):
    assert read(text) == datetime.fromisoformat(meant).replace(tzinfo=UTC)


def test_a_date_without_a_year_is_the_next_one_in_the_display_zone():
    # 2027-01-10 09:00 UTC is still 9 January in Honolulu: 9 January is today there
    assert parse_date("9 Jan", tz=ZoneInfo("Pacific/Honolulu"), now=NOW) == date(2027, 1, 9)
    assert parse_date("9 Jan", tz=UTC, now=NOW) == date(2028, 1, 9)


@pytest.mark.parametrize("text, says", [
    ("31/04", "is not a date"), ("30 Feb", "February has no day 30"),
    ("Sat 3 Dec 2027", "names a Saturday, but 3 December 2027 is a Friday"),
    ("12.07 16", "could be"),  # 16 alone is no time of day
    ("12/07.", "cannot read"), ("Dec 3 2027 PST", "unknown time zone name"),
    ("Dec 3 2027 10:00 +2500", "out of range"), ("Dec 3 2027 25:00", "time of day"),
    ("13pm Dec 3 2027", "no hour"), ("Smarch 3", "cannot read"), ("3 Dec 2027 10:00 ha", "unknown time zone"),
    ("10", "cannot read"), ("next week", "cannot read"), ("next", "cannot read"),
    ("25/12/26", "could be 25 December 2026 or 26 December 2025"),
    ("12/07\n10:00", "could be"), ("12/07\u202e", "could be"), ("12\u200b/07", "cannot read"),
    ("１２/07", "digits as 0-9"), ("9" * 5000 + "/07", "cannot read"),
    ("10:00 pm", "a time of day without a day"), ("22:00", "a time of day without a day"),
    ("10 pm", "a time of day without a day"), ("9:30am", "a time of day without a day"),
    ("tomorrow 1", "cannot read the time of day"), ("mon 10", "cannot read the time of day"),
    ("next mon 10", "cannot read the time of day"), ("2027-03-01 10", "cannot read the time of day"),
    ("2027-03-01T10Z", "cannot read the time of day"),
    ("2027-01-11 10:00:30.5", "a fraction of a second"),
    ("2027-01-11T10:00:00.000001Z", "a fraction of a second"),
])
def test_what_cannot_be_read_with_certainty_is_refused(text, says):
    refused = refusal(text)
    assert says in refused.message, refused.message
    assert "\n" not in refused.message and "\u202e" not in (refused.hint or "")


@pytest.mark.parametrize("text, clock, day", [
    ("10.30", "10:30", "30 October"), ("9.30", "9:30", "30 September"),
    ("1.13", "1:13", "13 January"), ("12.31", "12:31", "31 December"),
])
def test_a_dotted_pair_that_is_also_a_time_is_refused_naming_both(text, clock, day):
    """H.MM is how British English writes a time: 10.30 alone is never read as 30 October."""
    refused = refusal(text)
    assert f"could be the time {clock} or the date {day}" in refused.message, refused.message


@pytest.mark.parametrize("text, meant", [
    ("30.10", "2027-10-30T00:00"), ("25.12", "2027-12-25T00:00"), ("13.1", "2027-01-13T00:00"),
    ("10.30 16:00", "2027-10-30T16:00"), ("10.30.2027", "2027-10-30T00:00"),
])
def test_a_dotted_date_that_is_no_time_or_holds_one_is_read(text, meant):
    assert read(text) == datetime.fromisoformat(meant).replace(tzinfo=UTC)


# -- new forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, meant", [
    ("yesterday", "2027-01-09T00:00"), ("yesterday 10:00", "2027-01-09T10:00"),
    ("Yesterday 2pm", "2027-01-09T14:00"),
    ("next mon", "2027-01-11T00:00"),  # a Sunday: next week starts tomorrow
    ("next sun 10:00", "2027-01-17T10:00"), ("next Friday 9am", "2027-01-15T09:00"),
    ("+1w", "2027-01-17T09:00"), ("+2w3d", "2027-01-27T09:00"), ("-1w", "2027-01-03T09:00"),
])
def test_yesterday_next_weekday_and_weeks(text, meant):
    assert read(text) == datetime.fromisoformat(meant).replace(tzinfo=UTC)


def test_next_weekday_is_the_one_in_next_week_monday_first():
    wednesday = datetime(2027, 1, 13, 9, tzinfo=UTC)
    assert read("next thu", wednesday) == datetime(2027, 1, 21, tzinfo=UTC)  # not tomorrow
    assert read("thu", wednesday) == datetime(2027, 1, 14, tzinfo=UTC)
    assert read("next mon", wednesday) == datetime(2027, 1, 18, tzinfo=UTC)


@pytest.mark.parametrize("text, weeks", [("2w", 2), ("1w2d", 1 + 2 / 7), ("1W", 1)])
def test_weeks_in_durations(text, weeks):
    assert parse_duration(text) == timedelta(weeks=weeks)


@pytest.mark.parametrize("text", ["w", "1w1w", "1d1w", "523w", "9" * 5000 + "w", "1w\n2d", "1 w x"])
def test_bad_week_durations_are_refused(text):
    with pytest.raises(UsageError) as refused:
        parse_duration(text)
    assert refused.value.code == 2


def test_a_bare_week_duration_as_a_when_points_to_plus(world):
    before = snapshot(world.db)
    result = world("slot", "add", "--course", "MATH101", "--start", "2w", "--duration", "1h",
                   user="ada")
    assert (result.exit_code, result.stdout) == (2, "")
    assert "+2w" in result.stderr and snapshot(world.db) == before


def test_refused_dates_change_nothing_through_the_cli(world):
    before = snapshot(world.db)
    for text in ("12/07 10:00", "12.07 16:00", "next week"):
        result = world("slot", "add", "--course", "MATH101", "--start", text, "--duration", "1h",
                       user="ada")
        assert (result.exit_code, result.stdout) == (2, ""), result.stderr
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert snapshot(world.db) == before
