"""Invitations, threads and mail every server takes (issue 19,
docs/reference/calendars.md#invitations): the e-mails ``notify send`` hands to a real SMTP
server (aiosmtpd, every message read by a strict parser and its calendar part by
``icalendar``: tests/cronkit.py's ``strict_message``) carry the booking's event with the UID
and SEQUENCE that ``request export --ics`` gives it, thread per booking chain, and reach
servers with or without 8BITMIME. SQLite and, with SESSIONCTL_TEST_PG set, PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from icalendar import Calendar

from conftest import Clock, future
from cronkit import MailServer, Sessions, run, run_json
from sessionctl.domain import courses, moves, requests, slots, users
from sessionctl.domain.window import Window
from sessionctl.store import open_store

H = timedelta(hours=1)
LINK = "https://meet.example.edu/ada-alan"
FROM = "Sessions <sessions@example.edu>"


@pytest.fixture
def db(backend_db, monkeypatch):
    for key in ("SESSIONCTL_SMTP", "SESSIONCTL_SMTP_PASSWORD", "SESSIONCTL_MAIL_FROM",
                "SESSIONCTL_SMTP_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    return backend_db


@pytest.fixture
def booked(world):
    store = open_store(str(world.db))
    sessions = Sessions(store, Clock(future(hours=0)))
    users.set_user(sessions.ctx("root"), "ada", display="Ada Lovelace")
    yield sessions
    store.close()


def deliver(db, **server) -> MailServer:
    with MailServer(**server) as mail:
        result = run("notify", "send", "--smtp", mail.url, user="root", db=db,
                     SESSIONCTL_MAIL_FROM=FROM)
        assert result.returncode == 0, result.stderr
        assert "failed: 0" in result.stdout
    return mail


def mails(server: MailServer, to: str) -> list:
    return [m for (_, rcpts), m in zip(server.envelopes, server.messages) if rcpts == [to]]


def invite(message):
    """(method, the VEVENT) of a message's calendar part, or None."""
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            cal = Calendar.from_ical(part.get_content())
            assert part.get_param("method") == str(cal["method"])
            [event] = cal.walk("VEVENT")
            return str(cal["method"]), event
    return None


def exported(db, user: str) -> dict[str, object]:
    result = run("request", "export", "--ics", user=user, db=db)
    assert result.returncode == 0, result.stderr
    return {str(e["uid"]): e for e in Calendar.from_ical(result.stdout).walk("VEVENT")}


def words(message) -> str:
    subject = " ".join(message["Subject"].split())
    return subject.split(":", 1)[1]


def test_an_approval_invites_and_a_cancellation_cancels_the_same_event_in_one_thread(world, booked):
    request = booked.approved(future(hours=30), "alan", approve_link=LINK)
    [(uid, event)] = exported(world.db, "alan").items()
    assert run_json("remind", "--within", "48h", user="root", db=world.db) == {"reminded": 1}
    server = deliver(world.db)
    requests.cancel(booked.ctx("alan"), request, "ill")
    later = deliver(world.db)
    cancelled = exported(world.db, "alan")[uid]

    approved, reminder = mails(server, "alan@example.edu")
    method, sent = invite(approved)
    assert (method, str(sent["uid"]), sent["sequence"]) == ("REQUEST", uid, event["sequence"])
    assert sent["dtstart"].dt == event["dtstart"].dt and str(sent["url"]) == LINK
    assert str(sent["location"]) == LINK and "Request:" in str(sent["description"])
    organizer, attendee = sent["organizer"], sent["attendee"]
    assert str(organizer) == "mailto:ada@example.edu" and organizer.params["CN"] == "Ada Lovelace"
    assert str(attendee) == "mailto:alan@example.edu"
    assert (attendee.params["PARTSTAT"], attendee.params["RSVP"]) == ("ACCEPTED", "FALSE")
    assert invite(reminder)[0] == "REQUEST" and str(invite(reminder)[1]["uid"]) == uid

    request_mail, educator_reminder = mails(server, "ada@example.edu")
    assert invite(request_mail) is None  # not approved yet when it was queued
    assert invite(educator_reminder)[0] == "REQUEST"  # the educator holds the same event
    [told] = mails(later, "ada@example.edu")  # the student cancelled: the educator is told
    method, gone = invite(told)
    assert (method, str(gone["uid"])) == ("CANCEL", uid)
    assert gone["sequence"] == cancelled["sequence"] > event["sequence"]

    # one thread per person: In-Reply-To/References the first message, the same subject
    assert approved["In-Reply-To"] is None
    assert reminder["In-Reply-To"] == reminder["References"] == approved["Message-ID"]
    assert told["In-Reply-To"] == request_mail["Message-ID"]
    assert " ".join(approved["Subject"].split()) == f"Approved: MATH101 with Ada Lovelace, request {request}"
    assert words(approved) == words(reminder) and words(request_mail) == words(told)
    assert approved["Reply-To"].addresses[0].addr_spec == "ada@example.edu"
    assert told["Reply-To"].addresses[0].addr_spec == "alan@example.edu"


def test_a_move_sends_the_new_time_under_the_same_uid_and_never_a_cancel(world, booked):
    request = booked.approved(future(hours=30), "alan")
    [uid] = exported(world.db, "alan")
    first = deliver(world.db)
    target = booked.slot(future(hours=50))
    moved = moves.move(booked.ctx("ada"), request, target, None).id
    after = deliver(world.db)
    [mail] = mails(after, "alan@example.edu")
    method, event = invite(mail)
    assert (method, str(event["uid"])) == ("REQUEST", uid)
    assert event["dtstart"].dt == exported(world.db, "alan")[uid]["dtstart"].dt
    assert event["sequence"] > invite(mails(first, "alan@example.edu")[0])[1]["sequence"]
    assert all(invite(m) is None or invite(m)[0] == "REQUEST" for m in after.messages)
    assert mail["In-Reply-To"] == mails(first, "alan@example.edu")[0]["Message-ID"]
    assert f"request {request}" in mail["Subject"] and moved != request


def test_requests_never_approved_carry_no_invitation(world, booked):
    rejected = booked.pending(future(hours=30), "alan")
    requests.reject(booked.ctx("ada"), rejected, "no")
    withdrawn = booked.pending(future(hours=40), "alan")
    requests.cancel(booked.ctx("alan"), withdrawn, None)
    server = deliver(world.db)
    assert len(server.messages) == 4
    assert all(invite(m) is None for m in server.messages)
    assert all(m.get_content_type() == "text/plain" for m in server.messages)


def test_an_educator_without_an_address_organizes_through_the_sender(world, booked):
    users.set_user(booked.ctx("root"), "ada", email="")
    booked.approved(future(hours=30), "alan")
    [mail] = deliver(world.db).messages
    organizer = invite(mail)[1]["organizer"]
    assert str(organizer) == "mailto:sessions@example.edu"
    assert organizer.params["SENT-BY"] == "mailto:sessions@example.edu"
    assert organizer.params["CN"] == "Ada Lovelace" and mail["Reply-To"] is None


def test_a_group_slots_educator_gets_the_slot_event_and_each_student_their_own(world, booked):
    start = future(hours=30)
    [slot] = slots.add_slots(booked.ctx("ada"), "MATH101", [Window(start, start + H)], capacity=3)
    made = {}
    for name in ("alan", "kat"):
        made[name] = requests.send(booked.ctx(name), slot.id, None).id
        requests.approve(booked.ctx("ada"), made[name], None, None)
    deliver(world.db)
    requests.cancel(booked.ctx("kat"), made["kat"], None)
    server = deliver(world.db)
    [told] = mails(server, "ada@example.edu")
    method, event = invite(told)
    assert method == "REQUEST" and str(event["uid"]).startswith(f"slot-{slot.id}-")
    assert str(event["attendee"]) == "mailto:alan@example.edu"  # Kat has left
    assert str(event["uid"]) in exported(world.db, "ada")


@pytest.mark.parametrize("eightbit", [True, False])
def test_8bit_bodies_go_as_8bitmime_when_offered_else_quoted_printable(world, booked, eightbit):
    """docs/reference/calendars.md#mail-every-server-takes; and a session across a change to
    daylight saving time labels each end with its own offset."""
    users.set_user(booked.ctx("root"), "alan", tz="America/New_York", display="Alan Türing")
    start = datetime(2027, 3, 14, 6, 30, tzinfo=timezone.utc)  # 01:30 EST, ends 03:30 EDT
    booked.approved(start, "alan")
    server = deliver(world.db, eightbit=eightbit)
    [mail] = mails(server, "alan@example.edu")
    raw = server.raw[server.messages.index(mail)]
    assert ("BODY=8BITMIME" in server.options[server.messages.index(mail)]) == eightbit
    assert raw.isascii() != eightbit  # without 8BITMIME every byte is 7-bit
    transfer = {p.get_content_type(): p["Content-Transfer-Encoding"] for p in mail.walk()}
    assert transfer["text/plain"] == ("8bit" if eightbit else "quoted-printable")
    text = mail.get_body(("plain",)).get_content()
    assert "Hello Alan Türing," in text
    assert "When:     Sun 2027-03-14 01:30 EST \u2013 03:30 EDT (America/New_York)" in text


HOSTILE = "Ada\u2028BEGIN:VEVENT\r\nX-EVIL:1 \u202egnp.exe \u200b\x1b[31m"


def test_hostile_names_and_links_stay_inside_their_properties(world, booked):
    """A display name or notes with line breaks, bidi and zero-width characters, escape
    sequences (an old store let them in): the strict reader and icalendar read the mail, and
    the event holds no second VEVENT or stray property."""
    from sessionctl.store.models import Notification, Request, Slot, User

    request = booked.approved(future(hours=30), "alan")
    with booked.store.write():  # what an old store may hold, frozen again as notify would
        User.update(display=HOSTILE).where(User.name == "ada").execute()
        Request.update(notes=HOSTILE).execute()
        Slot.update(notes=HOSTILE).execute()
        Notification.delete().execute()
        from sessionctl.domain.context import notify
        from sessionctl.store import queries

        notify(booked.ctx("ada"), User.get(User.name == "alan"), "approved", "approved",
               request=queries.request(request))
    [mail] = deliver(world.db).messages
    part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    cal = Calendar.from_ical(part.get_content())
    assert len(cal.walk("VEVENT")) == 1 and "X-EVIL" not in cal.walk("VEVENT")[0]
    text = part.get_content()
    assert "\x1b" not in text and "\u202e" not in text and "\u200b" not in text
    assert invite(mail)[1]["organizer"].params["CN"].startswith("Ada BEGIN:VEVENT")
    assert f"request {request}" in mail["Subject"]


def test_a_students_move_under_auto_approve_sends_the_educator_the_moved_event(world, booked):
    request = booked.approved(future(hours=30), "alan")
    courses.set_course(booked.ctx("ada"), "MATH101", auto_approve=True)
    [uid] = exported(world.db, "ada")
    deliver(world.db)
    moves.move(booked.ctx("alan"), request, booked.slot(future(hours=50)), None)
    [told] = mails(deliver(world.db), "ada@example.edu")
    method, event = invite(told)
    assert (method, str(event["uid"])) == ("REQUEST", uid)
    assert event["dtstart"].dt == exported(world.db, "ada")[uid]["dtstart"].dt


@pytest.mark.parametrize("eightbit", [True, False])
def test_a_line_longer_than_smtp_allows_goes_quoted_printable(world, booked, eightbit):
    """A display name of 1,500 characters (the limit is 2,000) made a 'Hello NAME,' line over
    SMTP's 998 octets: the server refused the mail at every run, for good."""
    users.set_user(booked.ctx("root"), "alan", display="Ünï " * 375)
    booked.approved(future(hours=30), "alan")
    server = deliver(world.db, eightbit=eightbit)
    [mail] = mails(server, "alan@example.edu")
    transfer = {p.get_content_type(): p["Content-Transfer-Encoding"] for p in mail.walk()}
    assert transfer["text/plain"] == "quoted-printable"
    assert "Hello Ünï Ünï Ünï" in mail.get_body(("plain",)).get_content()  # delivered, whole
