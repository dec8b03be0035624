"""RFC 5545 calendars from ``EventView``s, built with the ``icalendar`` package (a leaf).

icalendar is imported here only, when a calendar is really built, so other commands do not
pay for it. The output depends only on the data (DTSTAMP is the last change to the request
or its slot), so exporting an unchanged store twice gives the same bytes.
"""

from __future__ import annotations

import unicodedata

from sessionctl import __version__


def _text(value: str | None, *, one_line: bool = True) -> str | None:
    """User text made safe for a content line. icalendar escapes newlines and quotes, but a
    store written before input checks may hold other line breaks (U+2028, NEL, CR…) that a
    liberal reader splits lines on, or control and invisible characters: every line break
    becomes a newline (escaped as \\n) or, in a one-line value, a space, and the rest goes."""
    if value is None:
        return None
    if value.isascii() and value.isprintable():  # the common case, decided in C
        return value
    from sessionctl.domain.checks import LINE_BREAKS, invisible

    out = []
    for ch in value.replace("\r\n", "\n"):
        if ch in LINE_BREAKS:
            out.append(" " if one_line else "\n")
        elif ch == "\t":
            out.append(" ")
        elif not invisible(ch) and unicodedata.category(ch) not in ("Cc", "Cs"):
            out.append(ch)
    return "".join(out)


REFRESH_MINUTES = 15  # how often a feed's subscribers should look again


def digest(events, name: str) -> str:
    """A fingerprint of everything a feed's file is made of (its events, its name, this
    version): ``feed write`` compares it with the one in the file before building anything."""
    import hashlib

    made = hashlib.sha256(f"{__version__}\0{name}".encode())
    for e in events:
        made.update(repr(tuple(getattr(e, k) for k in e._fields)).encode())
    return made.hexdigest()


def calendar(events, *, name: str, method: str | None = None, feed: bool = False,
             sender: str | None = None, fingerprint: str | None = None) -> bytes:
    """The events as one calendar. ``method``: an iTIP message (RFC 5546: ``REQUEST``,
    ``CANCEL``) or a feed's ``PUBLISH``; ``feed`` adds the refresh interval; ``sender``: the
    mail's sender, the ORGANIZER (with SENT-BY) of an educator who has no address;
    ``fingerprint``: a feed's ``digest``, kept in its X-SESSIONCTL-DIGEST."""
    from icalendar import Calendar, Event, vCalAddress, vText

    def address(person: tuple[str, str | None], **params: str):
        who, email = person
        value = vCalAddress(f"mailto:{_text(email)}")
        value.params["cn"] = vText(_text(who))
        for key, param in params.items():
            value.params[key] = param
        return value

    cal = Calendar()
    cal.add("prodid", f"-//sessionctl//sessionctl {__version__}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    cal.add("x-wr-calname", _text(name))
    if fingerprint:
        cal.add("x-sessionctl-digest", fingerprint)
    if feed:
        from datetime import timedelta

        cal.add("refresh-interval", timedelta(minutes=REFRESH_MINUTES),
                parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", f"PT{REFRESH_MINUTES}M")
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
        event.add("summary", _text(e.summary))
        event.add("description", _text(e.description, one_line=False))
        if e.transparent:
            event.add("transp", "TRANSPARENT")
        link = _text(e.link)  # an older store's link may hold what links may not now
        if link:
            event.add("url", link)
            event.add("location", link)
        if e.organizer[1]:
            event.add("organizer", address(e.organizer))
        elif sender and method in ("REQUEST", "CANCEL"):
            event.add("organizer", address((e.organizer[0], sender),
                                           **{"sent-by": vText(f"mailto:{_text(sender)}")}))
        for attendee in e.attendees:
            if attendee[1]:
                status = {"partstat": "ACCEPTED"} if e.status == "CONFIRMED" else {}
                rsvp = {"rsvp": "FALSE"} if method else {}
                event.add("attendee", address(attendee, role="REQ-PARTICIPANT", **status, **rsvp))
        cal.add_component(event)
    return cal.to_ical()
