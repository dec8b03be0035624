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


def calendar(events, *, name: str) -> bytes:
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
    cal.add("x-wr-calname", _text(name))
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
        link = _text(e.link)  # an older store's link may hold what links may not now
        if link:
            event.add("url", link)
            event.add("location", link)
        if e.organizer[1]:
            event.add("organizer", address(e.organizer))
        if e.attendee[1]:
            status = {"partstat": "ACCEPTED"} if e.status == "CONFIRMED" else {}
            event.add("attendee", address(e.attendee, role="REQ-PARTICIPANT", **status))
        cal.add_component(event)
    return cal.to_ical()
