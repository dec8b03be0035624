"""The only place that prints data: Rich tables for people, JSON for scripts.

Rich is imported only when a table is drawn, so ``--json`` runs stay cheap. User text
always goes in as ``rich.text.Text`` on a console with markup off, and any control
character that reached the store before input checks existed is shown escaped.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, tzinfo

from sessionctl.timeparse import format_utc, zone_name

USER = ("name", "role", "display", "email", "tz")
COURSE = ("code", "title", "educator", "enrolled")
SLOT = ("id", "course", "educator", "start", "end", "capacity", "booked", "status", "notes", "link")
REQUEST = (
    "id", "slot", "course", "student", "educator", "status", "message", "reason", "link",
    "notes", "start", "end", "created", "updated",
)
NOTIFICATION = ("id", "kind", "request", "slot", "text", "created", "read")
HISTORY = ("at", "actor", "from", "to", "note")


# -- JSON ------------------------------------------------------------------------------------------


def _plain(value):
    if isinstance(value, datetime):
        return format_utc(value)
    return value


def pick(view, fields: tuple[str, ...]) -> dict:
    """The SPEC §5 fields of a view (a dataclass, read by attribute: no deep copy) or a dict."""
    if isinstance(view, dict):
        return {f: _plain(view.get(f)) for f in fields}
    return {f: _plain(getattr(view, "from_" if f == "from" else f, None)) for f in fields}


def request_json(view) -> dict:
    data = pick(view, REQUEST)
    if view.history is not None:
        data["history"] = [pick(h, HISTORY) for h in view.history]
    return data


def slot_json(view) -> dict:
    data = pick(view, SLOT)
    if view.requests is not None:
        data["requests"] = [request_json(r) for r in view.requests]
    return data


def emit_json(document) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


# -- text ------------------------------------------------------------------------------------------


def clean(value) -> str:
    """User text made safe for a terminal: control characters shown as escapes."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    import unicodedata

    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else f"\\x{ord(ch):02x}"
        for ch in text
    )


def line(text: str) -> None:
    """A plain line of output (confirmations, empty results)."""
    sys.stdout.write(clean(text) + "\n")
    sys.stdout.flush()


def error(message: str, hint: str | None = None) -> None:
    sys.stderr.write(f"error: {clean(message)}\n")
    if hint:
        sys.stderr.write(f"hint: {clean(hint)}\n")
    sys.stderr.flush()


def warning(message: str) -> None:
    """Something the user should know although the command succeeded (stderr)."""
    sys.stderr.write(f"warning: {clean(message)}\n")
    sys.stderr.flush()


def _console():
    from rich.console import Console

    width = None
    if not sys.stdout.isatty():
        width = int(os.environ.get("COLUMNS") or 200)
    return Console(markup=False, highlight=False, emoji=False, width=width, soft_wrap=False)


def _table(
    title: str | None, columns: list[str], rows: list[list], caption: str | None = None,
    show_lines: bool = False,
):
    """A Rich table. When every cell fits on one line, Rich draws the frame around one sample
    row and the rows are written the way Rich would write them: the same text, ~20× faster
    for long tables (Rich spends ~1 ms per row measuring and wrapping cells)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    def build(body: list[list[str]]) -> Table:
        table = Table(
            title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
            title_justify="left", caption_justify="left", show_lines=show_lines,
        )
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in body:
            table.add_row(*(Text(cell) for cell in row))
        return table

    cells = [[clean(cell) for cell in row] for row in rows]
    console = _console()
    widths = None if show_lines else _one_line_widths(columns, cells, console.width)
    if widths:
        sample = ["x" * width for width in widths]
        with console.capture() as captured:
            console.print(build([sample]))
        lines = captured.get().split("\n")
        if (frame_row := _one_line_row(sample, widths)) in lines:
            at = len(lines) - 1 - lines[::-1].index(frame_row)  # below a header that looks alike
            body = [_one_line_row(row, widths) for row in cells]
            sys.stdout.write("\n".join(lines[:at] + body + lines[at + 1:]))
            sys.stdout.flush()
            return
    console.print(build(cells))


def _one_line_widths(columns: list[str], cells: list[list[str]], room: int) -> list[int] | None:
    """Column widths when no cell needs wrapping (Rich would then not wrap either), else None."""
    from rich.cells import cell_len

    if any("\n" in column for column in columns):
        return None
    widths = [cell_len(column) for column in columns]
    for row in cells:
        for index, cell in enumerate(row):
            if "\n" in cell or "\t" in cell:
                return None
            widths[index] = max(widths[index], cell_len(cell))
    if not cells or sum(widths) + 3 * (len(widths) - 1) > room:
        return None
    return widths


def _one_line_row(row: list[str], widths: list[int]) -> str:
    """One table row as Rich's SIMPLE_HEAD box without edges writes it: cells padded, 3 spaces apart."""
    from rich.cells import cell_len

    return "   ".join(cell + " " * (width - cell_len(cell)) for cell, width in zip(row, widths))


def _pairs(title: str | None, pairs: list[tuple[str, object]]) -> None:
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in pairs:
        if value is not None and value != "":
            grid.add_row(Text(key), Text(clean(value)))
    console = _console()
    if title:
        console.print(Text(clean(title)))
    console.print(grid)


def _local(value: datetime | None, tz: tzinfo) -> str:
    if value is None:
        return ""
    return value.astimezone(tz).strftime("%a %Y-%m-%d %H:%M")


def _span(start: datetime, end: datetime, tz: tzinfo) -> tuple[str, str]:
    """Start in full; the end as a time alone when it falls on the same local day."""
    same_day = start.astimezone(tz).date() == end.astimezone(tz).date()
    return _local(start, tz), end.astimezone(tz).strftime("%H:%M") if same_day else _local(end, tz)


def _person(name: str, display: str | None = None, email: str | None = None) -> str:
    text = f"{display} ({name})" if display else name
    return f"{text} <{email}>" if email else text


def _zone_caption(tz: tzinfo) -> str:
    return f"times in {zone_name(tz)}"


# -- per kind --------------------------------------------------------------------------------------


def users(views, as_json: bool) -> None:
    if as_json:
        return emit_json([pick(v, USER) for v in views])
    if not views:
        return line("no users")
    _table(None, ["Name", "Role", "Display", "E-mail", "Zone"],
           [[v.name, v.role, v.display, v.email, v.tz] for v in views])


def user(view, as_json: bool, store: str | None = None) -> None:
    if as_json:
        data = pick(view, USER)
        if store is not None:
            data["store"] = store
        return emit_json(data)
    pairs = [("name", view.name), ("role", view.role), ("display", view.display),
             ("email", view.email), ("tz", view.tz)]
    if store is not None:
        pairs.append(("store", store))
    _pairs(None, pairs)


def courses(views, as_json: bool) -> None:
    if as_json:
        return emit_json([pick(v, COURSE) for v in views])
    if not views:
        return line("no courses")
    _table(None, ["Code", "Title", "Educator", "Enrolled"],
           [[v.code, v.title, _person(v.educator, v.educator_display), v.enrolled] for v in views])


def course(view, as_json: bool) -> None:
    if as_json:
        return emit_json(pick(view, COURSE))
    _pairs(None, [("code", view.code), ("title", view.title),
                  ("educator", _person(view.educator, view.educator_display)),
                  ("enrolled", view.enrolled)])


def _slot_status(view) -> str:
    return f"{view.status} · ended" if view.ended else view.status


def slots(views, tz: tzinfo, as_json: bool) -> None:
    if as_json:
        return emit_json([slot_json(v) for v in views])
    if not views:
        return line("no slots")
    rows = []
    for v in views:
        start, end = _span(v.start, v.end, tz)
        rows.append([v.id, v.course, start, end, f"{v.booked}/{v.capacity}", _slot_status(v),
                     _person(v.educator, v.educator_display, v.educator_email), v.notes, v.link])
    _table(None, ["ID", "Course", "Start", "End", "Seats", "Status", "Educator", "Notes", "Link"],
           rows, _zone_caption(tz))


def slot(view, tz: tzinfo, as_json: bool) -> None:
    if as_json:
        return emit_json(slot_json(view))
    start, end = _span(view.start, view.end, tz)
    _pairs(f"slot {view.id}", [
        ("course", view.course),
        ("educator", _person(view.educator, view.educator_display, view.educator_email)),
        ("start", f"{start} ({zone_name(tz)})"), ("end", end),
        ("seats", f"{view.booked} of {view.capacity} booked"), ("status", _slot_status(view)),
        ("notes", view.notes), ("link", view.link),
    ])
    if view.requests:
        requests(view.requests, tz, False, title="requests")


def requests(views, tz: tzinfo, as_json: bool, title: str | None = None) -> None:
    if as_json:
        return emit_json([request_json(v) for v in views])
    if not views:
        return line("no requests")
    rows = []
    for v in views:
        start, _ = _span(v.start, v.end, tz)
        rows.append([v.id, v.slot, v.course, start, v.student, v.educator, v.status,
                     v.message, v.reason or v.link])
    _table(title, ["ID", "Slot", "Course", "Start", "Student", "Educator", "Status",
                   "Message", "Reason / link"], rows, _zone_caption(tz))


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
           _zone_caption(tz), show_lines=True)


def request(view, tz: tzinfo, as_json: bool) -> None:
    if as_json:
        return emit_json(request_json(view))
    start, end = _span(view.start, view.end, tz)
    _pairs(f"request {view.id}", [
        ("slot", view.slot), ("course", view.course), ("student", view.student),
        ("educator", view.educator), ("status", view.status),
        ("start", f"{start} ({zone_name(tz)})"), ("end", end),
        ("message", view.message), ("reason", view.reason), ("link", view.link),
        ("notes", view.notes), ("created", _local(view.created, tz)),
        ("updated", _local(view.updated, tz)),
    ])
    if view.history:
        _table("history", ["When", "Who", "From", "To", "Note"],
               [[_local(h.at, tz), h.actor, h.from_ or "", h.to, h.note] for h in view.history])


def notifications(views, tz: tzinfo, as_json: bool) -> None:
    if as_json:
        return emit_json([pick(v, NOTIFICATION) for v in views])
    if not views:
        return line("no new notifications")
    _table(None, ["ID", "When", "Kind", "Request", "Text", ""],
           [[v.id, _local(v.created, tz), v.kind, v.request or "", v.text, "" if v.read else "new"]
            for v in views], _zone_caption(tz))


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
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    write_atomic(out, data)


def write_atomic(out: str, data: bytes) -> None:
    """Write ``out`` so that a reader sees the old file or the new one, never part of one:
    a temp file in the same directory, flushed and fsynced, then renamed over it.

    Only regular files are written: a device, FIFO, socket or directory is refused (exit 2),
    so ``--out /dev/null`` never replaces /dev/null. A file that is replaced keeps its mode and,
    where the user may set them, its owner and group. A symlink keeps pointing at the
    (replaced) file."""
    import errno
    import stat
    import tempfile
    from pathlib import Path

    from sessionctl.errors import Unavailable, UsageError

    tmp = None
    try:
        path = Path(os.path.realpath(Path(out).expanduser()))
        try:
            old = os.stat(path)
        except FileNotFoundError:
            old = None
        if old is not None and not stat.S_ISREG(old.st_mode):
            what = "a directory" if stat.S_ISDIR(old.st_mode) else "not a regular file"
            raise UsageError(f"cannot write {out}: it is {what}", hint="give --out a file name")
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
