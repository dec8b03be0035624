"""The only place that prints data: tables for people, JSON for scripts.

Lists are drawn from one column model each (``sessionctl/columns.py``), fitted to the width
with one line per row; ``show`` commands print every field whole. The terminal settings
(width, colour, pager) come from ``sessionctl/settings.py`` (global options, environment, config
files) and are applied here; on a terminal, output taller than the screen goes through a pager.

Rich is imported only when a table must wrap (``--wide``, show commands, the calendar), so
``--json`` runs stay cheap. User text never goes through Rich markup, and any control
character that reached the store before input checks existed is shown escaped.
"""

from __future__ import annotations

import io
import json
import os
import sys
from datetime import datetime, timedelta, timezone, tzinfo

from sessionctl import timeparse
from sessionctl._plain import Frozen, Record
from sessionctl.columns import (
    LINK, TEXT, Column, Link, Times, clean, drawing, fit_line, one_line,
)
from sessionctl.errors import UsageError
from sessionctl.front import usable_columns
from sessionctl.timeparse import format_utc, zone_name

USER = ("name", "role", "display", "email", "tz")
COURSE = ("code", "title", "educator", "enrolled")
SLOT = ("id", "course", "educator", "start", "end", "capacity", "booked", "status", "notes", "link")
REQUEST = (
    "id", "slot", "course", "student", "educator", "status", "message", "reason", "link",
    "notes", "start", "end", "created", "updated", "replaces", "replaced_by", "waitlist_position",
    "attendance", "rating",
)
POLICY = ("min_notice", "cancel_notice", "horizon", "max_active", "auto_approve")
AGENDA = ("start", "end", "course", "slot", "request", "with", "status", "link")
NOTIFICATION = ("id", "kind", "request", "slot", "text", "created", "read")
HISTORY = ("at", "actor", "from", "to", "note")


# -- JSON ------------------------------------------------------------------------------------------


def _plain(value):
    if isinstance(value, datetime):
        return format_utc(value)
    return value


def pick(view, fields: tuple[str, ...]) -> dict:
    """The SPEC §5 fields of a view (a record, read by attribute: no deep copy) or a dict."""
    if isinstance(view, dict):
        return {f: _plain(view.get(f)) for f in fields}
    return {f: _plain(getattr(view, f + "_" if f in ("from", "with") else f, None)) for f in fields}


def request_json(view) -> dict:
    data = pick(view, REQUEST)
    if view.history is not None:
        data["history"] = [pick(h, HISTORY) for h in view.history]
    return data


def course_json(view) -> dict:
    return {**pick(view, COURSE), "policy": pick(view.policy, POLICY)}


def slot_json(view) -> dict:
    data = pick(view, SLOT)
    if view.requests is not None:
        data["requests"] = [request_json(r) for r in view.requests]
    return data


def emit_json(document) -> None:
    _write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


# -- the terminal: options, environment, width, colour, pager -------------------------------------

NOT_A_TERMINAL_WIDTH = 200  # tables written to a file or a pipe, unless COLUMNS says otherwise


class Options(Record):
    """The settings of the command being run (its global options, the environment and the
    config files: ``sessionctl/settings.py``); None until the root command has them."""

    _fields = ("settings",)

    def __init__(self, settings: object | None = None):
        self.settings = settings


class Screen(Frozen):
    """Where output goes: a terminal or not, its width and height, colour, the pager."""

    _fields = ("tty", "width", "height", "colour", "pager")

    def __init__(self, tty: bool, width: int, height: int | None, colour: bool,
                 pager: list[str] | None):
        self.__dict__.update(tty=tty, width=width, height=height, colour=colour, pager=pager)

    @property
    def links(self) -> bool:
        """OSC 8 hyperlinks on cut links: only on a terminal."""
        return self.tty


_options = Options()
_depth = 0  # commands running (the demo runs commands inside one)
_held: io.StringIO | None = None  # output kept back to see whether it needs the pager


def configure(settings) -> None:
    """Take the command's settings, once per command: the demo's own steps keep its terminal.
    A malformed ``--color`` is exit 2 here."""
    if _options.settings is None:
        settings.color_setting()
        _options.settings = settings


def _settings():
    if _options.settings is not None:
        return _options.settings
    from sessionctl.settings import Settings

    return Settings()


def _isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def screen() -> Screen:
    """The width, colour and pager for what is printed now."""
    settings = _settings()
    tty = _isatty()
    size = None
    if tty:
        try:
            size = os.get_terminal_size(sys.stdout.fileno())
        except (OSError, ValueError):
            size = None
    width = usable_columns(settings.columns) or (size.columns if size and size.columns > 0 else None)
    mode = settings.color
    if mode == "auto":
        colour = not settings.no_color and (settings.force_color or tty)
    else:
        colour = mode == "always"
    return Screen(
        tty=tty, width=width or (80 if tty else NOT_A_TERMINAL_WIDTH),
        height=size.lines if size and size.lines > 0 else None, colour=colour,
        pager=settings.pager if tty else None,
    )


def _out():
    """Where stdout goes: on a terminal (pager on), a buffer that ``session`` pages or prints."""
    global _held
    if _held is not None:
        return _held
    if _depth and _isatty() and screen().pager:
        _held = io.StringIO()
        return _held
    return sys.stdout


class _Stdout:
    """The real stdout, through which a failed write (a full disk, an I/O error) is
    ``OutputLost``, not an internal error; a reader that went away (``| head``) stays
    ``BrokenPipeError``, a quiet end."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def write(self, text):
        with _guarded():
            return self._stream.write(text)

    def flush(self):
        with _guarded():
            self._stream.flush()


class _guarded:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            from sessionctl.errors import OutputLost

            raise OutputLost(f"cannot write the output: {exc.strerror or exc}") from None
        return False


def _write(text: str) -> None:
    out = _out()
    out.write(text)
    out.flush()


def session(call):
    """Run one whole command: fresh options, and on a terminal its stdout held back, then
    paged if taller than the screen, else printed. Errors (stderr) are never held. A write to
    stdout that fails (not a reader gone away) is ``OutputLost`` (exit 6)."""
    global _depth, _held, _options
    if _depth:
        return call()
    _depth, _held, _options = 1, None, Options()
    real, sys.stdout = sys.stdout, _Stdout(sys.stdout)  # click's own output (help) included
    try:
        return call()
    finally:
        _depth = 0
        held, _held = _held, None
        try:
            if held is not None and held.tell():
                _show(held.getvalue())
        finally:
            sys.stdout = real


def _rows(text: str, width: int) -> int:
    """Screen rows ``text`` takes, long lines wrapping."""
    import re

    from sessionctl.columns import cell_len

    plain = re.sub(r"\x1b\[[0-9;]*m|\x1b\]8;;[^\x1b]*\x1b\\", "", text)
    return sum(max(1, -(-cell_len(line) // width)) for line in plain.rstrip("\n").split("\n"))


def _show(text: str) -> None:
    now = screen()
    tall = now.height is not None and (
        text.count("\n") > now.height or _rows(text, now.width) > now.height
    )
    if not (tall and now.pager and _page(text, now.pager)):
        sys.stdout.write(text)
        sys.stdout.flush()


def _page(text: str, command: list[str]) -> bool:
    """Send ``text`` through the pager; False when it cannot be started (print directly).
    A pager quit before the end (``q`` in less) is a normal end."""
    import subprocess

    sys.stdout.flush()
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE)
    except (OSError, ValueError):
        return False
    try:
        pager.stdin.write(text.encode(sys.stdout.encoding or "utf-8", "replace"))
        pager.stdin.close()
    except OSError:  # the reader went away early
        pass
    while True:
        try:
            pager.wait()
            return True
        except KeyboardInterrupt:  # Ctrl-C belongs to the pager while it runs
            continue


# -- text ------------------------------------------------------------------------------------------


def line(text: str) -> None:
    """A plain line of output (confirmations, empty results)."""
    _write(clean(text) + "\n")


def _lines(lines: list[str]) -> None:
    _write("".join(text + "\n" for text in lines))


def _one_line(text: str) -> str:
    """A message line: user text in it can break no line (a line break shows as \\n)."""
    return clean(text).replace("\n", "\\n").replace("\t", " ")


def error(message: str, hint: str | None = None, details=()) -> None:
    """``error: …``, the indented lines of a list if any, then ``hint: …`` (stderr)."""
    lines = [f"error: {_one_line(message)}"] + [f"  {_one_line(d)}" for d in details]
    if hint:
        lines.append(f"hint: {_one_line(hint)}")
    stderr("\n".join(lines) + "\n")


def warning(message: str) -> None:
    """Something the user should know although the command succeeded (stderr)."""
    stderr(f"warning: {_one_line(message)}\n")


def stderr(text: str) -> None:
    """Write to stderr with every password of a server URL in the settings hidden, whatever
    layer the text comes from (a driver's message may quote the URL it could not read)."""
    from sessionctl.settings import conceal

    if sys.stderr is None:  # closed (2>&-): nowhere to say it
        return
    try:
        urls = _settings().server_urls()
    except Exception:  # noqa: BLE001 - settings that cannot even be read hold no URL to hide
        urls = []
    sys.stderr.write(conceal(text, urls))
    sys.stderr.flush()


def _look():
    from sessionctl.columns import Look

    now = screen()
    return Look(now.width, now.colour, now.links)


def _console(width: int | None = None):
    from rich.console import Console

    look = _look()
    return Console(
        file=_out(), markup=False, highlight=False, emoji=False, width=width or look.width,
        soft_wrap=False, force_terminal=look.colour, no_color=not look.colour,
        color_system="standard" if look.colour else None,
    )


def _table(title: str | None, columns: list[str], rows: list[list], caption: str | None = None):
    """A Rich table with a line between rows (the calendar): cells wrap, whole."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
        title_justify="left", caption_justify="left", show_lines=True,
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(clean(cell)) for cell in row))
    _console().print(table)


def _list(columns, rows, *, viewer=None, wide=False, title=None, caption=None, notes=()) -> None:
    """A list: fitted to the width, one line per row; ``wide``: every cell whole, wrapping."""
    from sessionctl import columns as model

    look = _look()
    if not wide:
        return _lines(model.draw(columns, rows, look, viewer=viewer, title=title, caption=caption,
                                 notes=notes))
    drawn = model.draw_wide(columns, rows, look, viewer=viewer, title=title, caption=caption)
    if isinstance(drawn, list):
        return _lines(drawn)
    _lines(drawn.head)
    _console(drawn.width).print(drawn.table)
    _lines(drawn.tail)


def _pairs(title: str | None, pairs: list[tuple[str, object]]) -> None:
    """A show command: one field a line, every value whole. Long text wraps under its value
    column; a link stays on one line however long (so a terminal finds it and copies it
    whole), and on a terminal it is a hyperlink too."""
    from rich.cells import cell_len

    from sessionctl.columns import _hyperlink, _styled

    look = _look()
    shown = [(key, value) for key, value in pairs if value is not None and value != ""]
    keys = max(cell_len(key) for key, _ in shown)
    room = max(look.width - keys - 2, 20)
    out = [clean(title)] if title else []
    for key, value in shown:
        text = clean(value)
        label = _styled(key + " " * (keys - cell_len(key)), "bold", look.colour)
        if isinstance(value, Link):
            body = [_hyperlink(text, text) if look.links else text]
        else:
            style = _status_style(text) if key == "status" else None
            body = [_styled(part, style, look.colour) for part in _wrap(text, room)]
        out.append(f"{label}  {body[0]}")
        out.extend(" " * (keys + 2) + part for part in body[1:])
    _lines(out)


def _wrap(text: str, width: int) -> list[str]:
    """Text wrapped at words (long words folded) to ``width`` cells, as Rich wraps it."""
    from rich.cells import cell_len

    if "\n" not in text and "\t" not in text and cell_len(text) <= width:
        return [text]
    from rich.text import Text

    return [part.plain.rstrip() for part in Text(text).wrap(_console(), width, overflow="fold")]


def _person(name: str, display: str | None = None, email: str | None = None) -> str:
    text = f"{display} ({name})" if display else name
    return f"{text} <{email}>" if email else text


def _local(value: datetime | None, tz: tzinfo) -> str:
    if value is None:
        return ""
    return value.astimezone(tz).strftime("%a %Y-%m-%d %H:%M")


def _span(start: datetime, end: datetime, tz: tzinfo) -> tuple[str, str]:
    """Start in full; the end as a time alone when it falls on the same local day."""
    same_day = start.astimezone(tz).date() == end.astimezone(tz).date()
    return _local(start, tz), end.astimezone(tz).strftime("%H:%M") if same_day else _local(end, tz)


def _zone_caption(tz: tzinfo) -> str:
    return f"times in {zone_name(tz)}"


def _times(tz: tzinfo) -> Times:
    return Times(tz, timeparse.utcnow())


# -- statuses --------------------------------------------------------------------------------------

STATUS_COLOURS = {
    "available": "green", "approved": "green", "pending": "yellow", "waiting": "yellow",
    "booked": "blue", "rejected": "red", "cancelled": "red",
}


def _status_style(text: str) -> str | None:
    """The colour of a status: ``available · ended`` is dimmed, ``waiting, 2 of 3`` yellow."""
    if text.endswith("ended"):
        return "dim"
    return STATUS_COLOURS.get(text.split(",")[0].split(" ")[0])


def _slot_status(view) -> str:
    return f"{view.status} · ended" if view.ended else view.status


def _request_status(view, *, attendance: bool = True) -> str:
    """``waiting, 2 of 3`` for a request on a waitlist, ``completed, no-show`` for a session
    whose attendance is known (unless ``attendance`` is false), else its status."""
    if view.waitlist_position is not None:
        return f"{view.status}, {view.waitlist_position} of {view.waitlist_length}"
    if attendance and view.attendance:
        return f"{view.status}, {view.attendance}"
    return view.status


# Notification kinds as people say them (the stored kind is a word for scripts).
KINDS = {
    "request": "new request", "slot_cancelled": "slot cancelled", "joined": "joined waitlist",
    "waiting": "on waitlist", "promoted": "seat free", "move": "move request",
}


def kind_name(kind: str) -> str:
    return KINDS.get(kind, kind.replace("_", " "))


# -- the column model of each list -----------------------------------------------------------------
# Column(header, cell, priority, cut, min_width, max_width, style=, viewer=): see columns.Column.

PERSON = 40  # names and addresses take at most this much, leaving room for notes and messages


def _educator(view) -> str:
    return view.educator


def _student(view) -> str:
    return view.student


def user_columns() -> tuple[Column, ...]:
    return (
        Column("Name", lambda v: v.name, 100),
        Column("Role", lambda v: v.role, 90),
        Column("Display", lambda v: v.display, 70, TEXT, 12, PERSON),
        Column("E-mail", lambda v: v.email, 80, TEXT, 16, PERSON),
        Column("Zone", lambda v: v.tz, 60),
    )


def course_columns() -> tuple[Column, ...]:
    return (
        Column("Code", lambda v: v.code, 100),
        Column("Title", lambda v: v.title, 80, TEXT, 12, 60),
        Column("Educator", lambda v: _person(v.educator, v.educator_display), 70, TEXT, 12,
               PERSON, viewer=_educator),
        Column("Enrolled", lambda v: v.enrolled, 90),
    )


def slot_columns(t: Times) -> tuple[Column, ...]:
    return (
        Column("ID", lambda v: v.id, 100),
        Column("Course", lambda v: v.course, 90),
        Column("Start", lambda v: t.at(v.start), 95),
        Column("End", lambda v: t.end(v.start, v.end), 85),
        Column("Seats", lambda v: f"{v.booked}/{v.capacity}", 35),
        Column("Status", _slot_status, 80, style=_status_style),
        Column("Educator", lambda v: _person(v.educator, v.educator_display), 70, TEXT, 12,
               PERSON, viewer=_educator),
        Column("E-mail", lambda v: v.educator_email, 50, TEXT, 16, PERSON, viewer=_educator),
        Column("Notes", lambda v: v.notes, 40, TEXT, 12),
        Column("Link", lambda v: v.link, 30, LINK, 20),
    )


def request_columns(t: Times) -> tuple[Column, ...]:
    return (
        Column("ID", lambda v: v.id, 100),
        Column("Slot", lambda v: v.slot, 60),
        Column("Course", lambda v: v.course, 90),
        Column("Start", lambda v: t.at(v.start), 95),
        Column("Student", lambda v: v.student, 75, viewer=_student),
        Column("Educator", lambda v: v.educator, 55, viewer=_educator),
        Column("Status", _request_status, 85, style=_status_style),
        Column("Message", lambda v: v.message, 40, TEXT, 12),
        Column("Reason / link", lambda v: v.reason or (Link(v.link) if v.link else None), 70,
               TEXT, 20),
    )


def notification_columns(t: Times) -> tuple[Column, ...]:
    return (
        Column("ID", lambda v: v.id, 100),
        Column("When", lambda v: t.at(v.created), 90),
        Column("Kind", lambda v: kind_name(v.kind), 85),
        Column("Request", lambda v: v.request, 55),
        Column("Text", lambda v: v.text, 80, TEXT, 30),
        Column("State", lambda v: "read" if v.read else "new", 70),
    )


def history_columns(tz: tzinfo) -> tuple[Column, ...]:
    return (
        Column("When", lambda h: _local(h.at, tz), 100),
        Column("Who", lambda h: h.actor, 90),
        Column("From", lambda h: h.from_, 80, style=_status_style),
        Column("To", lambda h: h.to, 85, style=_status_style),
        Column("Note", lambda h: h.note, 50, TEXT, 10),
    )


# -- per kind --------------------------------------------------------------------------------------


def users(views, as_json: bool, *, wide: bool = False) -> None:
    if as_json:
        return emit_json([pick(v, USER) for v in views])
    if not views:
        return line("no users")
    _list(user_columns(), views, wide=wide)


def user(view, as_json: bool) -> None:
    if as_json:
        return emit_json(pick(view, USER))
    _pairs(None, _user_pairs(view))


def _user_pairs(view) -> list[tuple[str, object]]:
    return [("name", view.name), ("role", view.role), ("display", view.display),
            ("email", view.email), ("tz", view.tz)]


def whoami(name: str, view, store: str, as_json: bool) -> None:
    """Who is acting (``view``: their user, or None when ``name`` is not registered) and where."""
    if as_json:
        known = {} if view is None else pick(view, USER)
        return emit_json({"name": name, **known, "registered": view is not None, "store": store})
    pairs = [("name", one_line(name))] if view is None else _user_pairs(view)  # any name: one line
    _pairs(None, [*pairs, ("registered", "yes" if view else "no"), ("store", store)])


def courses(views, as_json: bool, *, viewer: str | None = None, wide: bool = False) -> None:
    if as_json:
        return emit_json([course_json(v) for v in views])
    if not views:
        return line("no courses")
    _list(course_columns(), views, viewer=viewer, wide=wide)


def course(view, as_json: bool) -> None:
    if as_json:
        return emit_json(course_json(view))
    from sessionctl.domain.policy import describe

    p = view.policy

    def minutes(value):
        return "off" if value is None else describe(value)

    _pairs(None, [("code", view.code), ("title", view.title),
                  ("educator", _person(view.educator, view.educator_display)),
                  ("enrolled", view.enrolled), ("min-notice", minutes(p.min_notice)),
                  ("cancel-notice", minutes(p.cancel_notice)), ("horizon", minutes(p.horizon)),
                  ("max-active", "off" if p.max_active is None else p.max_active),
                  ("auto-approve", "on" if p.auto_approve else "off")])


SERIES_ROWS, SERIES_HEAD = 20, 10  # a longer series shows its first 10 slots and a summary


def slots(views, tz: tzinfo, as_json: bool, *, viewer: str | None = None, wide: bool = False,
          created: bool = False) -> None:
    """``slot list``; with ``created`` (``slot add``), a series over 20 slots shows the first
    10, ``… N more`` and a summary (``--json`` prints them all)."""
    if as_json:
        return emit_json([slot_json(v) for v in views])
    if not views:
        return line("no slots")
    t = _times(tz)
    notes = ()
    if created and len(views) > SERIES_ROWS:
        starts = [v.start for v in views]
        notes = (f"… {len(views) - SERIES_HEAD} more",
                 f"{len(views)} slots, first {t.at(min(starts))}, last {t.at(max(starts))}")
        views = views[:SERIES_HEAD]
    _list(slot_columns(t), views, viewer=viewer, wide=wide, caption=_zone_caption(tz), notes=notes)


def slot(view, tz: tzinfo, as_json: bool, *, viewer: str | None = None) -> None:
    if as_json:
        return emit_json(slot_json(view))
    start, end = _span(view.start, view.end, tz)
    _pairs(f"slot {view.id}", [
        ("course", view.course),
        ("educator", _person(view.educator, view.educator_display, view.educator_email)),
        ("start", f"{start} ({zone_name(tz)})"), ("end", end),
        ("seats", f"{view.booked} of {view.capacity} booked"), ("status", _slot_status(view)),
        ("notes", view.notes), ("link", Link(view.link) if view.link else None),
    ])
    if view.requests:
        requests(view.requests, tz, False, title="requests", viewer=viewer, wide=True)


def requests(views, tz: tzinfo, as_json: bool, title: str | None = None, *,
             viewer: str | None = None, wide: bool = False) -> None:
    if as_json:
        return emit_json([request_json(v) for v in views])
    if not views:
        return line("no requests")
    _list(request_columns(_times(tz)), views, viewer=viewer, wide=wide, title=title,
          caption=_zone_caption(tz))

def calendar(week, tz: tzinfo, as_json: bool) -> None:
    """``slot calendar``: hours as rows, Monday to Sunday as columns, each slot at its local start."""
    if as_json:
        return emit_json([slot_json(v) for v in week.slots])
    cells: dict[tuple, list[str]] = {}
    first, last = 23, 0
    for v in week.slots:
        start, end = v.start.astimezone(tz), v.end.astimezone(tz)
        first = min(first, start.hour)
        last = max(last, (end - timedelta(seconds=1)).hour if end.date() == start.date() else 23)
        cells.setdefault((start.date(), start.hour), []).append(
            f"{start:%H:%M} {v.course} #{v.id}\n{_slot_status(v)}"
        )
    rows = [
        [f"{hour:02d}:00"] + ["\n".join(cells.get((day, hour), [])) for day in week.days]
        for hour in range(first, last + 1)
    ]
    title = f"week of {week.days[0]:%a %Y-%m-%d}" + ("" if rows else ": no slots")
    _table(title, [""] + [f"{day:%a}\n{day:%m-%d}" for day in week.days], rows,
           _zone_caption(tz))


def request(view, tz: tzinfo, as_json: bool) -> None:
    if as_json:
        return emit_json(request_json(view))
    start, end = _span(view.start, view.end, tz)
    _pairs(f"request {view.id}", [
        ("slot", view.slot), ("course", view.course), ("student", view.student),
        ("educator", view.educator), ("status", _request_status(view, attendance=False)),
        ("replaces", view.replaces and f"request {view.replaces}"),
        ("replaced by", view.replaced_by and f"request {view.replaced_by}"),
        ("start", f"{start} ({zone_name(tz)})"), ("end", end),
        ("message", view.message), ("reason", view.reason),
        ("link", Link(view.link) if view.link else None),
        ("notes", view.notes), ("attendance", view.attendance),
        ("rating", view.rating and _stars(view.rating)),
        ("created", _local(view.created, tz)), ("updated", _local(view.updated, tz)),
    ])
    if view.history:
        _list(history_columns(tz), view.history, wide=True, title="history")


def _stars(rating: dict) -> str:
    said = f": {rating['comment']}" if rating["comment"] else ""
    return f"{rating['stars']} of 5{said}"


def notifications(views, tz: tzinfo, as_json: bool, *, wide: bool = False) -> None:
    if as_json:
        return emit_json([pick(v, NOTIFICATION) for v in views])
    if not views:
        return line("no new notifications")
    _list(notification_columns(_times(tz)), views, wide=wide, caption=_zone_caption(tz))


def outcomes(kind: str, results, tz: tzinfo, as_json: bool, *, deleted: bool = False) -> None:
    """SPEC §7.7: one result per id, in the order given: the object (or, in JSON,
    ``{id, error, exit}``); a refusal goes to stderr as ``error: slot 4: …``."""
    from sessionctl.errors import SessionctlError

    if as_json:
        to_json = slot_json if kind == "slot" else request_json
        return emit_json([
            {"id": one, "error": r.message, "exit": r.code} if isinstance(r, SessionctlError)
            else to_json(r)
            for one, r in results
        ])
    t = _times(tz)
    for one, r in results:
        if isinstance(r, SessionctlError):
            error(f"{kind} {one}: {r.message}", r.hint, r.details)
        elif deleted:
            line(f"deleted slot {r.id}")
        elif kind == "slot":
            line(f"slot {r.id}: {_slot_status(r)} ({r.course}, {t.at(r.start)})")
        else:
            line(f"request {r.id}: {_request_status(r)} ({r.course}, {t.at(r.start)}, {r.student})")


def slot_deleted(view, as_json: bool) -> None:
    if as_json:
        return emit_json(slot_json(view))
    line(f"deleted slot {view.id}")


def initialized(data: dict, as_json: bool) -> None:
    """``init``: the store, its schema version, and who became admin (if anyone)."""
    if as_json:
        return emit_json(data)
    line(f"store ready at {data['store']} (schema version {data['schema']})")
    if data["admin"]:
        line(f"{data['admin']} is the admin")


def config(data: dict, as_json: bool) -> None:
    """``config show``: each setting, its value and where it came from; then the files read."""
    if as_json:
        return emit_json(data)

    def shown(value) -> str:
        if value is None:
            return "(none)"
        if isinstance(value, bool):
            return "on" if value else "off"
        return f"{value:g}" if isinstance(value, float) else clean(str(value))

    rows = [("setting", "value", "from")] + [
        (key, shown(item["value"]), clean(item["origin"])) for key, item in data["settings"].items()
    ]
    wide = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{k:<{wide[0]}}   {v:<{wide[1]}}   {o}".rstrip() for k, v, o in rows]
    lines.append("")
    for found in data["files"]:
        state = "read" if found["found"] else "not found"
        lines.append(f"{found['layer']} file: {clean(found['path'])} ({state})")
    lines.append(f"mode: {data['mode']}")
    _lines(lines)


def counts(data: dict, as_json: bool) -> None:
    if as_json:
        return emit_json(data)
    line(", ".join(f"{k}: {v}" for k, v in data.items()))


# -- documents (request export) --------------------------------------------------------------------

# Errors that mean "this path will not do" (exit 2); anything else writing it is exit 6.
_BAD_PATH = {"EISDIR", "ENOENT", "ENOTDIR", "EACCES", "EPERM", "EROFS", "ENAMETOOLONG", "ELOOP"}


def document(data: bytes, out: str | None) -> None:
    """A whole document (a calendar) to stdout, or atomically to the file ``out``."""
    if out is None:
        with _guarded():
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    write_atomic(out, data, replaces=b"BEGIN:VCALENDAR")


def _own_target(path: str, out: str) -> str:
    """The file ``out`` (at ``path``) stands for: itself, or the end of its symlinks when each
    of them and the file they lead to belong to this process's user. A symlink of someone
    else's, one to someone else's file, or one to nothing is refused (exit 2): followed, it
    would let whoever planted it choose a file that a cron job (root's, say) creates or
    replaces. The kernel's protected_symlinks cannot see this (the path is resolved here, in
    sessionctl), so the check is made here, as strictly: wherever the link lives."""
    import stat

    me, hops = os.geteuid(), 0
    _own_folders(path, out)
    while True:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            if hops:
                raise UsageError(f"cannot write {out}: it is a symlink to {path}, which does not "
                                 "exist", hint="give --out the file itself, or remove the link")
            return path
        if hops and info.st_uid != me and not stat.S_ISLNK(info.st_mode):
            raise UsageError(f"cannot write {out}: it is a symlink to {path}, which belongs to "
                             "someone else", hint="give --out a file of your own")
        if not stat.S_ISLNK(info.st_mode):
            return path
        if info.st_uid != me:
            raise UsageError(f"cannot write {out}: the symlink {path} belongs to someone else",
                             hint="give --out a file of your own, not a link someone else made")
        hops += 1
        if hops > 40:
            raise UsageError(f"cannot write {out}: too many levels of symbolic links")
        path = os.path.join(os.path.dirname(path), os.readlink(path))


def _own_folders(path: str, out: str) -> None:
    """Every symlink among the folders on the way to ``path`` is this process's user's or
    root's (``/bin``, ``/var/run``); one of someone else's would choose the folder the file
    lands in (exit 2). Links are followed here one by one, as the kernel would."""
    import stat

    me, hops = os.geteuid(), 0
    pending = list(reversed(os.path.dirname(os.path.abspath(path)).split(os.sep)[1:]))
    current = os.sep
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        step = os.path.join(current, part)
        try:
            info = os.lstat(step)
        except OSError:
            return  # a folder that is not there: the write fails on its own, creating nothing
        if not stat.S_ISLNK(info.st_mode):
            current = step
            continue
        if info.st_uid not in (me, 0):
            raise UsageError(f"cannot write {out}: the symlink {step} on its way belongs to "
                             "someone else", hint="give --out a path of your own, not through a "
                             "link someone else made")
        hops += 1
        if hops > 40:
            raise UsageError(f"cannot write {out}: too many levels of symbolic links")
        target = os.readlink(step)
        if target.startswith(os.sep):
            current = os.sep
        pending.extend(reversed(target.split(os.sep)))


def _existing(path, size: int, out: str):
    """The file at ``path`` as it is now: its stat, and when it is a regular file its first
    ``size`` bytes, read without following a symlink (None, b"" when there is none)."""
    import errno
    import stat

    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None, b""
    if not stat.S_ISREG(info.st_mode) or not info.st_size:
        return info, b""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink put there since it was followed
            raise UsageError(f"cannot write {out}: it changed into a symlink while being checked",
                             hint="give --out a file of your own") from None
        raise
    try:
        return os.fstat(fd), os.read(fd, size)
    finally:
        os.close(fd)


def write_atomic(out: str, data: bytes, *, replaces: bytes) -> None:
    """Write ``out`` so that a reader sees the old file or the new one, never part of one:
    a temp file in the same directory, flushed and fsynced, then renamed over it.

    Only regular files are written: a device, FIFO, socket or directory is refused (exit 2),
    so ``--out /dev/null`` never replaces /dev/null. A file that is replaced keeps its mode and,
    where the user may set them, its owner and group. A symlink of your own to a file of your
    own keeps pointing at the (replaced) file; any other symlink is refused (``_own_target``).
    A non-empty file that does not start with ``replaces`` (a calendar's first line) is refused
    too: ``--out`` pointed at the store, a config file or anything else by mistake must not
    destroy it."""
    import errno
    import stat
    import tempfile
    from pathlib import Path

    from sessionctl.errors import Unavailable

    tmp = None
    try:
        path = Path(os.path.realpath(_own_target(os.path.expanduser(out), out)))
        old, head = _existing(path, len(replaces), out)
        if old is not None and not stat.S_ISREG(old.st_mode):
            what = "a directory" if stat.S_ISDIR(old.st_mode) else "not a regular file"
            raise UsageError(f"cannot write {out}: it is {what}", hint="give --out a file name")
        if old is not None and old.st_size and head != replaces:
            raise UsageError(f"cannot write {out}: it holds something else than a "
                             "calendar, which would be lost",
                             hint="give --out a new file name, or remove the file first")
        if old is not None:
            mode = stat.S_IMODE(old.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:200]}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if old is not None and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(tmp, old.st_uid, old.st_gid)
            except PermissionError:  # only root may give a file away; keep what we can
                try:
                    os.chown(tmp, -1, old.st_gid)
                except PermissionError:
                    pass
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if errno.errorcode.get(exc.errno) in _BAD_PATH:
            raise UsageError(f"cannot write {out}: {reason}",
                             hint="give --out a file in a directory you can write") from None
        raise Unavailable(f"cannot write {out}: {reason}; the old file is unchanged") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


# -- course report and agenda (SPEC §7.5, §7.6) ------------------------------------------------------


def report(view, tz: tzinfo, as_json: bool) -> None:
    """``course report``: the numbers, then a bar a week of seats offered against booked."""
    if as_json:
        return emit_json(_report_json(view))
    from sessionctl.domain.policy import describe

    booked = f"{view.seats_booked}"
    if view.utilisation is not None:
        booked += f" ({view.utilisation:.0%} of the seats offered)"
    stars = (f"{view.average_stars:.2f} from {view.ratings} rating{'' if view.ratings == 1 else 's'}"
             if view.ratings else "no ratings")
    _pairs(f"{view.course}: {view.title}", [
        ("range", f"{_local(view.start, tz)} to {_local(view.end, tz)} ({zone_name(tz)})"),
        ("slots offered", view.slots_offered), ("seats offered", view.seats_offered),
        ("seats booked", booked), ("sessions completed", view.sessions_completed),
        ("attended", view.attended), ("no-shows", view.no_shows),
        ("cancelled by students", view.cancelled_by_students),
        ("cancelled by educators", view.cancelled_by_educators), ("moves", view.moves),
        ("average stars", stars), ("hours held", f"{view.hours_held:g}"),
        ("median notice", "none booked" if view.median_notice is None
         else describe(view.median_notice)),
    ])
    _week_chart(view.weeks)


def _report_json(view) -> dict:
    data = {"course": view.course, "from": format_utc(view.start), "to": format_utc(view.end)}
    for key in ("slots_offered", "seats_offered", "seats_booked", "utilisation",
                "sessions_completed", "attended", "no_shows", "cancelled_by_students",
                "cancelled_by_educators", "moves", "average_stars", "ratings", "hours_held"):
        data[key] = getattr(view, key)
    data["median_notice"] = view.median_notice
    data["weeks"] = [{"week": w.week.isoformat(), "offered": w.offered, "booked": w.booked,
                      "completed": w.completed} for w in view.weeks]
    return data


def _week_chart(weeks) -> None:
    """One line a week: booked seats as a solid bar, the free seats offered as a light one
    after it, scaled to the fullest week, then the numbers; Rich draws the coloured text."""
    from rich.text import Text

    look = _look()
    this_year = _times(timezone.utc)  # (the year of the UTC clock, as ever)
    labels = [this_year.day(w.week) for w in weeks]
    counts = [f"{w.booked}/{w.offered}" for w in weeks]
    left = max(map(len, labels + ["week of"]))
    right = max(map(len, counts + ["seats"]))
    width = max(4, min(60, look.width - left - right - 4))
    most = max((w.offered for w in weeks), default=0)
    console = _console()
    solid, light = drawing("█░", "#.")  # ASCII bars where the terminal cannot show blocks
    _write("\n")
    console.print(Text(fit_line(f"seats booked ({solid}) and free ({light}) by week", look.width),
                       style="italic"))
    console.print(Text(f"{'week of':<{left}}  {'':<{width}}  {'seats':>{right}}".rstrip(),
                       style="bold"))
    for label, count, w in zip(labels, counts, weeks):
        full = round(w.offered * width / most) if most else 0
        done = min(full, max(1 if w.booked else 0, round(w.booked * width / most))) if most else 0
        row = Text(f"{label:<{left}}  ")
        row.append(solid * done, style="blue")
        row.append(light * (full - done), style="dim")
        row.append(" " * (width - full) + f"  {count:>{right}}")
        console.print(row)


def _agenda_status(view) -> str:
    if view.place is not None:
        return f"{view.status}, {view.place[0]} of {view.place[1]}"
    return view.status


def agenda_columns(tz: tzinfo, t: Times) -> tuple[Column, ...]:
    return (
        Column("Time", lambda v: f"{v.start.astimezone(tz):%H:%M}–{t.end(v.start, v.end)}", 100),
        Column("Course", lambda v: v.course, 90),
        Column("Slot", lambda v: v.slot, 45),
        Column("Request", lambda v: v.request, 60),
        Column("With", lambda v: v.with_ or ("open" if v.slot_row else None), 75, TEXT, 8,
               PERSON),
        Column("Status", _agenda_status, 85, style=_status_style),
        Column("Link", lambda v: Link(v.link) if v.link else None, 70, LINK, 14),
    )


def agenda(items, tz: tzinfo, as_json: bool, days: int) -> None:
    """``agenda``: one line an item under a heading for each local day."""
    if as_json:
        return emit_json([pick(v, AGENDA) for v in items])
    if not items:
        return line("nothing ahead today" if days == 1 else f"nothing ahead in the next {days} days")
    from sessionctl import columns as model

    now = timeparse.utcnow().astimezone(tz)
    t = Times(tz, now)
    names = {now.date(): "today", (now + timedelta(days=1)).date(): "tomorrow"}
    headings, last = {}, None
    for index, item in enumerate(items):
        day = item.start.astimezone(tz).date()
        if day != last:
            label = t.day(day)
            headings[index] = f"{label} ({names[day]})" if day in names else label
            last = day
    _lines(model.draw(agenda_columns(tz, t), items, _look(), caption=_zone_caption(tz),
                      headings=headings))
