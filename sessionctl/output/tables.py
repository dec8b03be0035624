"""Tables for people: every list drawn from its column model (``sessionctl/columns.py``), fitted to
the width with one line per row, ``--wide`` and the ``show`` commands printing every field whole
(``docs/reference/output.md``). JSON comes from ``output/json.py``, the terminal from
``output/terminal.py``.

Rich is imported only for the calendar (and to measure text that is not printable ASCII), so
``--json`` runs stay cheap.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from sessionctl import columns as model
from sessionctl.columns import LINK, TEXT, WRAP, Column, Link, Times, clean, one_line
from sessionctl.errors import NotFound, SessionctlError
from sessionctl.output import terminal as term
from sessionctl.output.json import (
    AGENDA, NOTIFICATION, USER, course_json, emit_json, pick, request_json, slot_json,
)
from sessionctl.output.terminal import error, line
from sessionctl.statuses import APPROVED, AVAILABLE, BOOKED, CANCELLED, PENDING, REJECTED, WAITING
from sessionctl.timeparse import zone_name


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
    term.console().print(table)


def _list(columns, rows, *, viewer=None, wide=False, title=None, caption=None, notes=()) -> None:
    """A list: fitted to the width, one line per row; ``wide``: every column whole, one line
    per row however wide (``docs/reference/output.md#lists-fit-the-screen``)."""
    look = term.look()
    draw = model.draw_wide if wide else model.draw
    if wide:
        term.out().wide = True  # less scrolls it sideways (output.md#the-pager)
    term.lines(draw(columns, rows, look, viewer=viewer, title=title, caption=caption, notes=notes))


def _whole(columns, rows, *, viewer=None, title=None) -> None:
    """A table inside a show command: every column, text wrapped at words, nothing cut."""
    term.lines(model.draw_whole(columns, rows, term.look(), viewer=viewer, title=title))


def show_pairs(title: str | None, pairs: list[tuple[str, object]]) -> None:
    """A show command: one field a line, every value whole. Long text wraps at words under its
    value column; a link is never split: it goes whole on a line of its own when it does not
    fit beside its label (so a terminal finds it and copies it whole), and on a terminal it is
    a hyperlink too."""
    from sessionctl.columns import _hyperlink, _styled, cell_len, wrap

    look = term.look()
    shown = [(key, value) for key, value in pairs if value is not None and value != ""]
    keys = max(cell_len(key) for key, _ in shown)
    room = max(look.width - keys - 2, 20)
    out = [clean(title)] if title else []
    for key, value in shown:
        text = clean(value)
        label = _styled(key + " " * (keys - cell_len(key)), "bold", look.colour)
        if isinstance(value, Link):
            link = _hyperlink(text, text) if look.links else text
            if cell_len(text) <= room:
                out.append(f"{label}  {link}")
            else:
                out.extend([_styled(key, "bold", look.colour), link])
            continue
        style = _status_style(text) if key == "status" else None
        body = [_styled(part, style, look.colour) for part in wrap(text, room)]
        out.append(f"{label}  {body[0]}".rstrip())
        out.extend((" " * (keys + 2) + part).rstrip() for part in body[1:])
    term.lines(out)


def _person(name: str, display: str | None = None, email: str | None = None) -> str:
    text = f"{display} ({name})" if display else name
    return f"{text} <{email}>" if email else text


def local_time(value: datetime | None, tz: tzinfo) -> str:
    if value is None:
        return ""
    return value.astimezone(tz).strftime("%a %Y-%m-%d %H:%M")


def _span(start: datetime, end: datetime, tz: tzinfo) -> tuple[str, str]:
    """Start in full; the end as a time alone when it falls on the same local day."""
    same_day = start.astimezone(tz).date() == end.astimezone(tz).date()
    return local_time(start, tz), end.astimezone(tz).strftime("%H:%M") if same_day else local_time(end, tz)


def _zone_caption(tz: tzinfo) -> str:
    return f"times in {zone_name(tz)}"


def _times(tz: tzinfo) -> Times:
    return Times(tz, term.now())


# -- statuses --------------------------------------------------------------------------------------

STATUS_COLOURS = {
    AVAILABLE: "green", APPROVED: "green", PENDING: "yellow", WAITING: "yellow",
    BOOKED: "blue", REJECTED: "red", CANCELLED: "red",
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
    WAITING: "on waitlist", "promoted": "seat free", "move": "move request",
}


def kind_name(kind: str) -> str:
    return KINDS.get(kind, kind.replace("_", " "))


# -- the column model of each list -----------------------------------------------------------------
# Column(header, cell, priority, cut, width, max_width, style=, repeats=): see columns.Column.
# ``width`` is the width a column is planned at (which columns fit is decided with it, never
# with the data): for a whole column what its values usually take, for text its narrowest.

PERSON = 40  # names and addresses take at most this much, leaving room for notes and messages
ID, CODE, NAME, AT, STATUS = 4, 6, 8, 15, 9  # planned widths: ids, course codes, user names,
# times (``Sat 11-28 10:00``) and statuses (``available``); a wider value takes room from text
EDUCATOR, STUDENT = ("educator",), ("student",)  # the viewers a column only repeats


def user_columns() -> tuple[Column, ...]:
    return (
        Column("Name", lambda v: v.name, 100, width=NAME),
        Column("Role", lambda v: v.role, 90, width=8),
        Column("Display", lambda v: v.display, 70, TEXT, 12, PERSON),
        Column("E-mail", lambda v: v.email, 80, TEXT, 16, PERSON),
        Column("Zone", lambda v: v.tz, 60, width=13),
    )


def course_columns() -> tuple[Column, ...]:
    return (
        Column("Code", lambda v: v.code, 100, width=CODE),
        Column("Title", lambda v: v.title, 80, TEXT, 12, 60),
        Column("Educator", lambda v: _person(v.educator, v.educator_display), 70, TEXT, 12,
               PERSON, repeats=EDUCATOR),
        Column("Enrolled", lambda v: v.enrolled, 90),
    )


def slot_columns(t: Times) -> tuple[Column, ...]:
    return (
        Column("ID", lambda v: v.id, 100, width=ID),
        Column("Course", lambda v: v.course, 90, width=CODE),
        Column("Start", lambda v: t.at(v.start), 95, width=AT),
        Column("End", lambda v: t.end(v.start, v.end), 85, width=5),
        Column("Seats", lambda v: f"{v.booked}/{v.capacity}", 60, width=3),
        Column("Status", _slot_status, 80, style=_status_style, width=STATUS),
        Column("Educator", lambda v: _person(v.educator, v.educator_display), 70, TEXT, 12,
               PERSON, repeats=EDUCATOR),
        Column("E-mail", lambda v: v.educator_email, 50, TEXT, 16, PERSON, repeats=EDUCATOR),
        Column("Notes", lambda v: v.notes, 40, TEXT, 12),
        Column("Link", lambda v: v.link, 30, LINK, 14),
    )


def request_columns(t: Times) -> tuple[Column, ...]:
    return (
        Column("ID", lambda v: v.id, 100, width=ID),
        Column("Slot", lambda v: v.slot, 60, width=ID),
        Column("Course", lambda v: v.course, 90, width=CODE),
        Column("Start", lambda v: t.at(v.start), 95, width=AT),
        Column("Student", lambda v: v.student, 75, width=NAME, repeats=STUDENT),
        Column("Educator", lambda v: v.educator, 55, width=NAME, repeats=EDUCATOR),
        Column("Status", _request_status, 85, style=_status_style, width=STATUS),
        Column("Message", lambda v: v.message, 40, TEXT, 12),
        Column("Reason / link", lambda v: v.reason or (Link(v.link) if v.link else None), 70,
               TEXT, 14),
    )


def notification_columns(t: Times) -> tuple[Column, ...]:
    """The inbox: the request a notification is about (the id commands take) at every width,
    its text wrapped inside its column, never cut (``docs/reference/output.md#the-inbox``). The
    notification's own id, which no command takes, is in ``--json`` only."""
    return (
        Column("Request", lambda v: v.request, 100, width=ID),
        Column("When", lambda v: t.at(v.created), 90, width=AT),
        Column("Kind", lambda v: kind_name(v.kind), 70, width=11),
        Column("Text", lambda v: v.text, 95, WRAP, 24),
        Column("State", lambda v: "read" if v.read else "new", 60, width=4),
    )


def history_columns(tz: tzinfo) -> tuple[Column, ...]:
    return (
        Column("When", lambda h: local_time(h.at, tz), 100, width=20),
        Column("Who", lambda h: h.actor, 90, width=NAME),
        Column("From", lambda h: h.from_, 80, style=_status_style, width=STATUS),
        Column("To", lambda h: h.to, 85, style=_status_style, width=STATUS),
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
    """One user; their busy sources (masked) when the view holds them."""
    if as_json:
        extra = {} if view.busy is None else {"busy": list(view.busy)}
        return emit_json({**pick(view, USER), **extra})
    busy = [] if view.busy is None else [("busy", "\n".join(view.busy) or None)]
    show_pairs(None, _user_pairs(view) + busy)


def _user_pairs(view) -> list[tuple[str, object]]:
    return [("name", view.name), ("role", view.role), ("display", view.display),
            ("email", view.email), ("tz", view.tz)]


def whoami(name: str, view, store: str, as_json: bool, *, unread: int = 0) -> None:
    """Who is acting (``view``: their user, or None when ``name`` is not registered), how many
    of their notifications are unread, and where."""
    if as_json:
        known = {} if view is None else {**pick(view, USER), "unread": unread}
        return emit_json({"name": name, **known, "registered": view is not None, "store": store})
    pairs = [("name", one_line(name))] if view is None else _user_pairs(view)  # any name: one line
    news = [] if view is None else [("unread", f"{unread} (sessionctl inbox)" if unread else "0")]
    show_pairs(None, [*pairs, ("registered", "yes" if view else "no"), *news, ("store", store)])


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

    show_pairs(None, [("code", view.code), ("title", view.title),
                  ("educator", _person(view.educator, view.educator_display)),
                  ("enrolled", view.enrolled), ("min-notice", minutes(p.min_notice)),
                  ("cancel-notice", minutes(p.cancel_notice)), ("horizon", minutes(p.horizon)),
                  ("max-active", "off" if p.max_active is None else p.max_active),
                  ("auto-approve", "on" if p.auto_approve else "off"),
                  ("buffer", minutes(view.buffer)),
                  ("link template", view.link_template or "off")])


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
    show_pairs(f"slot {view.id}", [
        ("course", view.course),
        ("educator", _person(view.educator, view.educator_display, view.educator_email)),
        ("start", f"{start} ({zone_name(tz)})"), ("end", end),
        ("seats", f"{view.booked} of {view.capacity} booked"), ("status", _slot_status(view)),
        ("notes", view.notes), ("link", Link(view.link) if view.link else None),
    ])
    if view.requests:
        _whole(request_columns(_times(tz)), view.requests, viewer=viewer, title="requests")


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
    for start, end in _busy_days(week, tz):  # the educator's own calendars: no summaries
        first = min(first, start.hour)
        last = max(last, (end - timedelta(seconds=1)).hour if end.date() == start.date() else 23)
        cells.setdefault((start.date(), start.hour), []).append(
            f"{start:%H:%M}–{end:%H:%M} busy")
    rows = [
        [f"{hour:02d}:00"] + ["\n".join(cells.get((day, hour), [])) for day in week.days]
        for hour in range(first, last + 1)
    ]
    title = f"week of {week.days[0]:%a %Y-%m-%d}" + ("" if rows else ": no slots")
    _table(title, [""] + [f"{day:%a}\n{day:%m-%d}" for day in week.days], rows,
           _zone_caption(tz))
    if not rows:
        line(f"the next slots are in the week of {week.later:%a %Y-%m-%d} (--week "
             f"{week.later:%Y-%m-%d})" if week.later else "no slots in any later week")


def _busy_days(week, tz: tzinfo):
    """A week's busy blocks in local time, cut at midnight into one piece a day."""
    days = set(week.days)
    for start, end in week.busy:
        start, end = start.astimezone(tz), end.astimezone(tz)
        while start < end:
            next_day = (start + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            piece = min(end, next_day)
            if start.date() in days:
                yield start, piece
            start = piece


def request(view, tz: tzinfo, as_json: bool) -> None:
    if as_json:
        return emit_json(request_json(view))
    start, end = _span(view.start, view.end, tz)
    show_pairs(f"request {view.id}", [
        ("slot", view.slot), ("course", view.course), ("student", view.student),
        ("educator", view.educator), ("status", _request_status(view, attendance=False)),
        ("replaces", view.replaces and f"request {view.replaces}"),
        ("replaced by", view.replaced_by and f"request {view.replaced_by}"),
        ("start", f"{start} ({zone_name(tz)})"), ("end", end),
        ("message", view.message), ("reason", view.reason),
        ("link", Link(view.link) if view.link else None),
        ("notes", view.notes), ("attendance", view.attendance),
        ("rating", view.rating and _stars(view.rating)),
        ("created", local_time(view.created, tz)), ("updated", local_time(view.updated, tz)),
    ])
    if view.history:
        _whole(history_columns(tz), view.history, title="history")


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
    """Several ids (``docs/reference/lifecycle.md#several-at-once``): one result per id, in the order given: the object (or, in JSON,
    ``{id, error, exit}``); a refusal goes to stderr as ``error: slot 4: …``."""
    if as_json:
        to_json = slot_json if kind == "slot" else request_json
        return emit_json([
            {"id": one, "error": r.message, "exit": r.code} if isinstance(r, SessionctlError)
            else to_json(r)
            for one, r in results
        ])
    t, hinted = _times(tz), set()
    for one, r in _missing_runs(kind, results):
        if isinstance(r, SessionctlError):
            error(r.message if isinstance(one, str) else f"{kind} {one}: {r.message}",
                  None if r.hint in hinted else r.hint, r.details)
            hinted.add(r.hint)  # each hint once, not once per id
        elif deleted:
            line(f"deleted slot {r.id}")
        elif kind == "slot":
            line(f"slot {r.id}: {_slot_status(r)} ({r.course}, {t.at(r.start)})")
        else:
            line(f"request {r.id}: {_request_status(r)} ({r.course}, {t.at(r.start)}, {r.student})")


def _missing_runs(kind: str, results):
    """``results`` with each run of consecutive ids that do not exist (``101-140`` typed over
    a gap) as one result: ``no slots 101-140``."""
    run: list = []

    def flush():
        if len(run) > 2:
            first, last = run[0][0], run[-1][0]
            yield "", NotFound(f"no {kind}s {first}-{last}", hint=run[0][1].hint)
        else:
            yield from run
        run.clear()

    for one, r in results:
        missing = isinstance(r, NotFound) and r.message == f"no {kind} {one}"
        if run and not (missing and one == run[-1][0] + 1):
            yield from flush()
        if missing:
            run.append((one, r))
        else:
            yield one, r
    yield from flush()


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
    if data.get("turned_back"):
        line("the database mode is off: the client says who acts again")
    for outcome, names in data.get("logins", {}).items():
        if names:
            line(f"logins {outcome}: {clean(', '.join(names))}")
    if data.get("identity") == "database":
        line("the database mode is on: everyone acts as their own database login")


def config(data: dict, as_json: bool) -> None:
    """``config show``: each setting, its value and where it came from; then the files read."""
    if as_json:
        return emit_json(data)

    def shown(value) -> str:
        if value is None:
            return "(none)"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, list):
            return ", ".join(clean(v) for v in value) or "(none)"
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
    term.lines(lines)


def counts(data: dict, as_json: bool) -> None:
    if as_json:
        return emit_json(data)
    line(", ".join(f"{k}: {v}" for k, v in data.items()))


NOUNS = {"approved": "approved session", "pending": "pending request",
         "waiting": "waiting request"}
DONE = {"cancelled": "cancelled", "rejected": "rejected", "approved": "approved",
        "completed": "completed"}


def effects(done: list[tuple[str, int, str, str, bool]], as_json: bool) -> None:
    """What a change did to other people, one line a request: ``kat: approved session
    cancelled, told`` (``Context.effects``); nothing with ``--json``, whose output is the
    changed objects alone."""
    if not as_json:
        for text in effect_lines(done):
            line(text)


def effect_lines(done) -> list[str]:
    said = []
    for name, request, was, now, told in done:
        noun = NOUNS.get(was, f"{was} request")
        if now.endswith(" changed"):
            what = f"{noun}'s {now}"
        elif was == "waiting" and now == "pending":
            what = f"{noun} offered a seat"
        elif now == "kept":  # course unenroll leaves a booked session as it is
            what = f"{noun} kept (request {request})"
        else:
            what = f"{noun} {DONE.get(now, now)}"
        said.append(f"{one_line(name)}: {what}, {'told' if told else 'not told'}")
    return said


def _agenda_status(view) -> str:
    if view.place is not None:
        return f"{view.status}, {view.place[0]} of {view.place[1]}"
    if view.seats is not None and 0 < view.seats[0] < view.seats[1]:
        return f"{view.seats[0]}/{view.seats[1]} booked"  # partly booked: still available
    return view.status


def agenda_columns(tz: tzinfo, t: Times) -> tuple[Column, ...]:
    return (
        Column("Time", lambda v: f"{v.start.astimezone(tz):%H:%M}–{t.end(v.start, v.end)}", 100,
               width=11),
        Column("Course", lambda v: v.course, 90, width=CODE),
        Column("Slot", lambda v: v.slot, 45, width=ID),
        Column("Request", lambda v: v.request, 60, width=ID),
        Column("With", lambda v: v.with_ or ("open" if v.slot_row else None), 75, TEXT, 8,
               PERSON),
        Column("Status", _agenda_status, 85, style=_status_style, width=STATUS),
        Column("Link", lambda v: Link(v.link) if v.link else None, 70, LINK, 14),
    )


def agenda(items, tz: tzinfo, as_json: bool, days: int) -> None:
    """``agenda``: one line an item under a heading for each local day."""
    if as_json:
        return emit_json([pick(v, AGENDA) for v in items])
    if not items:
        return line("nothing ahead today" if days == 1 else f"nothing ahead in the next {days} days")

    now = term.now().astimezone(tz)
    t = Times(tz, now)
    names = {now.date(): "today", (now + timedelta(days=1)).date(): "tomorrow"}
    headings, last = {}, None
    for index, item in enumerate(items):
        day = item.start.astimezone(tz).date()
        if day != last:
            label = t.day(day)
            headings[index] = f"{label} ({names[day]})" if day in names else label
            last = day
    term.lines(model.draw(agenda_columns(tz, t), items, term.look(), caption=_zone_caption(tz),
                      headings=headings))
