"""``sessionctl/ics.py`` writes its content lines by hand (``benchmarks/README.md``, issue 19):
the bytes must be the ones the ``icalendar`` package builds for the same events, and
``icalendar`` must read every calendar back to the same values. The icalendar builder that
ics.py used before is kept here as the oracle.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from sessionctl import __version__, ics
from sessionctl.domain.calendar import EventView

UTC = timezone.utc
T0 = datetime(2027, 3, 14, 6, 30, tzinfo=UTC)


def oracle(events, *, name, method=None, feed=False, sender=None, fingerprint=None,
           owner=None) -> bytes:
    """The calendar as ``icalendar`` builds it (what ics.py did before issue 19's speed work)."""
    from icalendar import Event, vCalAddress, vText

    text = ics._text

    def address(person, **params):
        who, email = person
        value = vCalAddress(f"mailto:{text(email)}")
        value.params["cn"] = vText(text(who))
        # ics.py's one difference, on purpose: a parameter value holding a backslash is quoted
        value.params.quote_also = {"CN": " '\\"}
        for key, param in params.items():
            value.params[key] = param
        return value

    cal = Calendar()
    cal.add("prodid", f"-//sessionctl//sessionctl {__version__}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    cal.add("x-wr-calname", text(name))
    if fingerprint:
        cal.add("x-sessionctl-digest", fingerprint)
    if owner:
        cal.add("x-sessionctl-store", owner)
    if feed:
        cal.add("refresh-interval", timedelta(minutes=ics.REFRESH_MINUTES),
                parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", f"PT{ics.REFRESH_MINUTES}M")
    for e in events:
        event = Event()
        event.add("uid", e.uid)
        event.add("dtstamp", e.updated)
        event.add("created", e.created)
        event.add("last-modified", e.updated)
        event.add("sequence", e.sequence)
        event.add("status", e.status)
        event.add("dtstart", e.start)
        event.add("dtend", e.end)
        event.add("summary", text(e.summary))
        event.add("description", text(e.description, one_line=False))
        if e.transparent:
            event.add("transp", "TRANSPARENT")
        link = text(e.link)
        if link:
            event.add("url", link)
            event.add("location", link)
        if e.organizer[1]:
            event.add("organizer", address(e.organizer))
        elif sender and method in ("REQUEST", "CANCEL"):
            event.add("organizer", address((e.organizer[0], sender),
                                           **{"sent-by": vText(f"mailto:{text(sender)}")}))
        for attendee in e.attendees:
            if attendee[1]:
                status = {"partstat": "ACCEPTED"} if e.status == "CONFIRMED" else {}
                rsvp = {"rsvp": "FALSE"} if method else {}
                event.add("attendee", address(attendee, role="REQ-PARTICIPANT", **status, **rsvp))
        cal.add_component(event)
    return cal.to_ical()


def event(**changes) -> EventView:
    fields = dict(
        uid="request-4-0123456789abcdef0123456789abcdef@sessionctl", sequence=2,
        status="CONFIRMED", start=T0, end=T0 + timedelta(hours=1),
        summary="MATH101 (Analytical Engines) with Ada Lovelace",
        description="Course: MATH101 Analytical Engines\nEducator: Ada Lovelace\nRequest: 4",
        link="https://meet.example.edu/ada?x=1;y=2,z", organizer=("Ada Lovelace", "ada@example.edu"),
        attendees=[("Alan Turing", "alan@example.edu")], created=T0 - timedelta(days=3),
        updated=T0 - timedelta(days=1, seconds=7))
    fields.update(changes)
    return EventView(**fields)


def same(events, **how) -> bytes:
    mine = ics.calendar(events, **how)
    assert mine == oracle(events, **how)
    return mine


# Every way a calendar is made: export, feed, invitation and cancellation (with and without an
# organizer address), each with a confirmed, a cancelled and a transparent event.
WAYS = [dict(name="sessionctl"),
        dict(name="sessionctl: Ada", method="PUBLISH", feed=True, fingerprint="ab" * 32,
             owner="0123456789abcdef" * 2),
        dict(name="sessionctl", method="REQUEST", sender="sessions@example.edu"),
        dict(name="sessionctl", method="CANCEL", sender="sessions@example.edu")]


@pytest.mark.parametrize("how", WAYS)
def test_the_same_bytes_as_icalendar(how):
    events = [event(), event(uid="slot-9-x@sessionctl", status="CANCELLED", link=None,
                             attendees=[("Alan", "a@example.edu"), ("Kat", None), ("Eve", "e@x.org")]),
              event(uid="open-3-x@sessionctl", transparent=True, attendees=[], sequence=0,
                    organizer=("Ada", None))]
    data = same(events, **how)
    assert data.endswith(b"END:VCALENDAR\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    assert len(Calendar.from_ical(data).walk("VEVENT")) == 3


def test_no_events_and_empty_values():
    same([], name="")
    same([event(summary="", description="", link="", organizer=("", "a@b.c"),
                attendees=[("", "d@e.f")])], name="", method="REQUEST", sender="s@x.y")


# Hostile text: every line break, bidi and zero-width characters, what TEXT and parameter
# values escape, quotes, long multibyte runs (folding must not split a UTF-8 sequence or an
# escape), and a few letters in between.
HOSTILE = st.lists(st.sampled_from(
    list("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029\t\x00\x1b\x7f\u202e\u2066\u200b\ufeff\u00ad")
    + list("\\;,:\"^'\u2019 =") + ["\\N", "\\n", "^n", "\r\n"]
    + list("aZ9éßж漢字🙂\U0001d11e") + ["é" * 40, "漢" * 30, "a" * 73]), max_size=30).map("".join)
MOMENT = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                      timezones=st.just(UTC))


@settings(max_examples=300 if os.environ.get("CI") else 150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(summary=HOSTILE, description=HOSTILE, name=HOSTILE, who=HOSTILE, link=HOSTILE,
       email=st.one_of(st.none(), st.emails()), start=MOMENT, updated=MOMENT, how=st.sampled_from(WAYS),
       status=st.sampled_from(["CONFIRMED", "CANCELLED"]), transparent=st.booleans())
def test_hostile_text_the_same_and_read_back(summary, description, name, who, link, email,
                                              start, updated, how, status, transparent):
    e = event(summary=summary, description=description, link=link, status=status,
              organizer=(who, email or None), attendees=[(who, email or "x@y.z")],
              start=start, end=start + timedelta(minutes=50), updated=updated,
              transparent=transparent)
    how = {**how, "name": name}
    data = same([e], **how)
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    data.decode("utf-8")  # no fold split a UTF-8 sequence

    cal = Calendar.from_ical(data)
    assert str(cal["x-wr-calname"]) == ics._text(name)  # an X- property: not TEXT-escaped
    (parsed,) = cal.walk("VEVENT")
    assert str(parsed["summary"]) == unescaped(ics._text(summary))
    assert str(parsed["description"]) == unescaped(ics._text(description, one_line=False))
    assert parsed["dtstart"].dt == start.replace(microsecond=0)
    assert parsed["dtstamp"].dt == updated.replace(microsecond=0)
    assert str(parsed["status"]) == status
    clean_link = ics._text(link)
    if clean_link:
        if "\\" not in clean_link:  # icalendar's reader unescapes a URI as if it were TEXT
            assert str(parsed["url"]) == clean_link
        assert str(parsed["location"]) == unescaped(clean_link)
    attendee = parsed["attendee"]
    assert str(attendee) == f"mailto:{ics._text(email or 'x@y.z')}"
    if "\\" not in who:  # icalendar's reader unescapes a backslash in a parameter (\\, \;), even quoted
        assert attendee.params["CN"] == ics._text(who)


def unescaped(text: str) -> str:
    r"""What a reader gets back from a TEXT value: icalendar reads ``\N`` as a newline (and so
    writes one), and a CR as a line end."""
    return text.replace("\\N", "\n").replace("\r\n", "\n").replace("\r", "\n")
