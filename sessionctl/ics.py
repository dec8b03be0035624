"""RFC 5545 calendars from ``EventView``s, written line by line.

The content lines are the ones the ``icalendar`` package (7.x) builds for the same events,
byte for byte (``tests/test_ics.py`` compares them, with icalendar as the oracle), written
here directly because building tens of thousands of icalendar objects made ``feed write``
and ``notify send`` slow (``benchmarks/README.md``, issue 19). The rules kept:

- properties in icalendar's order: the component's canonical ones first (a calendar's
  VERSION, PRODID, CALSCALE, METHOD, X-WR-CALNAME; an event's SUMMARY, DTSTART, DTEND,
  DTSTAMP, UID, SEQUENCE), then the rest alphabetically; parameters by name, uppercase;
- TEXT values escape ``\\ ; ,`` and turn line ends into ``\\n``; URL, the addresses and the
  X- properties (icalendar does not know their type) are written as they are;
- parameter values get RFC 6868's escapes (``^^``, ``^n``, ``^'``) and double quotes when they
  hold ``, ; :`` or U+2019 (CN also for a space or ``'``; SENT-BY always). One difference, on
  purpose: a value holding ``\\`` is quoted too, since icalendar (and other liberal readers)
  read an unquoted ``\\;`` as an escaped semicolon and lose the rest of the line;
- UTC date-times as ``YYYYMMDDTHHMMSSZ``; CRLF line ends; lines folded before the 75th
  octet, never inside a UTF-8 sequence, and never just after a ``\\`` or ``^`` (an escape
  stays on one line).

The output depends only on the data (DTSTAMP is the last change to the request or its
slot), so exporting an unchanged store twice gives the same bytes.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone

from sessionctl import __version__

# ASCII text, as _text treats it: a line break becomes a space (one line) or a newline, a tab
# a space, every other control character goes
_BREAKS = "\n\r\v\f\x1c\x1d\x1e"
_ONE_LINE = {**{ord(c): None for c in map(chr, range(32))}, 0x7F: None,
             **{ord(c): " " for c in _BREAKS + "\t"}}
_LINES = {**_ONE_LINE, **{ord(c): "\n" for c in _BREAKS}}


def _text(value: str | None, *, one_line: bool = True) -> str | None:
    """User text made safe for a content line. TEXT escaping takes care of newlines, but a
    store written before input checks may hold other line breaks (U+2028, NEL, CR…) that a
    liberal reader splits lines on, or control and invisible characters: every line break
    becomes a newline (escaped as \\n) or, in a one-line value, a space, and the rest goes."""
    if value is None:
        return None
    if value.isascii():  # the common case, decided in C
        if value.isprintable():
            return value
        return value.replace("\r\n", "\n").translate(_ONE_LINE if one_line else _LINES)
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


# -- values and lines -------------------------------------------------------------------------


def _escaped(text: str) -> str:
    """A TEXT value (RFC 5545 3.3.11), as icalendar escapes it (``\\N`` read as a newline)."""
    if "\\" in text:
        text = text.replace("\\N", "\n").replace("\\", "\\\\")
    return _line_ends(text.replace(";", "\\;").replace(",", "\\,"), "\\n")


def _param(value: str, *, quote: str = "", always: bool = False) -> str:
    """A parameter value: RFC 6868 escapes, double quotes when it needs them (or holds a
    character of ``quote``, or ``always``)."""
    always = always or any(c in value for c in quote)
    value = _line_ends(value.replace("^", "^^").replace('"', "^'"), "^n")
    if always or any(c in value for c in ",;:\u2019\\"):
        return f'"{value}"'
    return value


def _line_ends(text: str, mark: str) -> str:
    """Every line end in ``text`` (CRLF, LF or a lone CR) as ``mark``."""
    if "\r" not in text and "\n" not in text:
        return text
    return text.replace("\r\n", mark).replace("\n", mark).replace("\r", mark)


def _when(moment: datetime) -> str:
    """A UTC date-time (the store keeps every moment in UTC)."""
    t = moment.astimezone(timezone.utc)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z"


LIMIT = 74  # octets of a line before its fold (icalendar folds when a 75th would be reached)


def _fold(line: str) -> str:
    """The content line folded (CRLF and a space) so no line passes 74 octets plus the
    space, never splitting a UTF-8 sequence nor putting a fold right after ``\\`` or ``^``."""
    if line.isascii():
        if len(line) <= LIMIT:
            return line
        pieces, at, end = [], 0, len(line)
        while end - at > LIMIT:
            piece = line[at:at + LIMIT]
            if piece[-1] in "\\^":
                piece = piece[:-1]
            pieces.append(piece)
            at += len(piece)
        pieces.append(line[at:])
        return "\r\n ".join(pieces)
    pieces, current, count = [], [], 0
    for ch in line:
        code = ord(ch)
        size = 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
        if current and count + size > LIMIT:
            if len(current) > 1 and current[-1] in "\\^":
                carried = current.pop()
                pieces.append("".join(current))
                current, count = [carried], 1
            else:
                pieces.append("".join(current))
                current, count = [], 0
        current.append(ch)
        count += size
    if current:
        pieces.append("".join(current))
    return "\r\n ".join(pieces)


def _address(prop: str, person: tuple[str, str | None], params: str = "") -> str:
    """An ORGANIZER or ATTENDEE line: CN first, then ``params`` (already in order)."""
    who, email = person
    cn = _param(_text(who), quote=" '")
    return f"{prop};CN={cn}{params}:mailto:{_text(email)}"


# -- the calendar -----------------------------------------------------------------------------


def calendar(events, *, name: str, method: str | None = None, feed: bool = False,
             sender: str | None = None, fingerprint: str | None = None,
             owner: str | None = None) -> bytes:
    """The events as one calendar. ``method``: an iTIP message (RFC 5546: ``REQUEST``,
    ``CANCEL``) or a feed's ``PUBLISH``; ``feed`` adds the refresh interval; ``sender``: the
    mail's sender, the ORGANIZER (with SENT-BY) of an educator who has no address;
    ``fingerprint``: a feed's digest, kept in its X-SESSIONCTL-DIGEST; ``owner``: the id of
    the store a feed file belongs to, in its X-SESSIONCTL-STORE (``feed write`` removes only
    its own store's files)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0",
             f"PRODID:{_escaped(f'-//sessionctl//sessionctl {__version__}//EN')}",
             "CALSCALE:GREGORIAN"]
    if method:
        lines.append(f"METHOD:{_escaped(method)}")
    lines.append(f"X-WR-CALNAME:{_text(name)}")
    if feed:
        lines += [f"REFRESH-INTERVAL;VALUE=DURATION:PT{REFRESH_MINUTES}M",
                  f"X-PUBLISHED-TTL:PT{REFRESH_MINUTES}M"]
    if fingerprint:
        lines.append(f"X-SESSIONCTL-DIGEST:{fingerprint}")
    if owner:
        lines.append(f"X-SESSIONCTL-STORE:{owner}")
    for e in events:
        updated = _when(e.updated)
        lines += [
            "BEGIN:VEVENT",
            f"SUMMARY:{_escaped(_text(e.summary))}",
            f"DTSTART:{_when(e.start)}",
            f"DTEND:{_when(e.end)}",
            f"DTSTAMP:{updated}",
            f"UID:{_escaped(e.uid)}",
            f"SEQUENCE:{int(e.sequence)}",
        ]
        if method and e.status == "CONFIRMED":
            extra = ";PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT;RSVP=FALSE"
        elif method:
            extra = ";ROLE=REQ-PARTICIPANT;RSVP=FALSE"
        elif e.status == "CONFIRMED":
            extra = ";PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT"
        else:
            extra = ";ROLE=REQ-PARTICIPANT"
        lines += [_address("ATTENDEE", a, extra) for a in e.attendees if a[1]]
        lines += [f"CREATED:{_when(e.created)}",
                  f"DESCRIPTION:{_escaped(_text(e.description, one_line=False))}",
                  f"LAST-MODIFIED:{updated}"]
        link = _text(e.link)  # an older store's link may hold what links may not now
        if link:
            lines.append(f"LOCATION:{_escaped(link)}")
        if e.organizer[1]:
            lines.append(_address("ORGANIZER", e.organizer))
        elif sender and method in ("REQUEST", "CANCEL"):
            lines.append(_address("ORGANIZER", (e.organizer[0], sender),
                                  f";SENT-BY={_param(f'mailto:{_text(sender)}', always=True)}"))
        lines.append(f"STATUS:{_escaped(e.status)}")
        if e.transparent:
            lines.append("TRANSP:TRANSPARENT")
        if link:
            lines.append(f"URL:{link}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(map(_fold, lines)) + "\r\n").encode()
