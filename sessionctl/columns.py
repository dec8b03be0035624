"""Lists in the terminal: one column model per list, fitted to the width before drawing.

Each list declares its columns once (``Column``: header, cell, priority, minimum and maximum
width, how to cut). ``draw`` then decides, before it draws anything, which columns fit the
width and how wide each is: columns that repeat the viewer go, then, while even the
narrowest layout is too wide, the lowest-priority columns (empty ones first); what is left
is shared by shrinking the widest cuttable columns first, never below their minimum. Every
row is then written as one line, cut with ``…`` where needed: no per-row measuring by Rich,
so 10,000 rows cost tens of milliseconds. ``--wide`` keeps every cell whole and, when some
must wrap, lets Rich wrap them (``draw_wide``).

The table looks as Rich's SIMPLE_HEAD box without edges draws it (header, a rule, rows
three spaces apart); this module writes those lines itself. Rich is imported only for the
cell widths of text that is not printable ASCII (wide characters count 2) and for ``--wide``
tables that need wrapping.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, tzinfo
from typing import Any, Callable, Sequence

from sessionctl._plain import Frozen, Record, replace

NEVER, TEXT, LINK = "never", "text", "link"  # how a column is cut
GAP = 3  # columns are three spaces apart, as Rich's SIMPLE_HEAD box without edges draws them
ELLIPSIS = "…"
NEWLINE = "⏎"  # a line break inside a cell of a one-line row
WRAP_MIN = 10  # with --wide, text columns may wrap down to this width (or their header's)
# SGR codes of the few styles used (Rich's "standard" colour system writes the same)
SGR = {"green": "32", "yellow": "33", "blue": "34", "red": "31", "dim": "2", "bold": "1",
       "italic": "3", "dim italic": "2;3"}
# Characters that reorder or hide text around them: shown escaped, like control characters,
# so a cell can never change how the rest of its row reads.
_INVISIBLE = frozenset("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
                       "\u2066\u2067\u2068\u2069")


def drawing(chars: str, plain: str) -> str:
    """``chars`` (box or block characters), or ``plain`` (ASCII) where the output cannot encode
    them: an ASCII or Latin-1 terminal, where text it cannot encode is shown as ``\\u…``."""
    import sys

    try:
        chars.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return plain
    return chars


class Link(str):
    """A URL cell: cut with ``…`` like text, but on a terminal still a hyperlink (OSC 8) to
    the whole URL."""


class Column(Frozen):
    """One column of a list.

    ``value(row)`` gives the cell. ``priority``: the lowest goes first when the width is
    short. ``cut``: NEVER (ids, times, statuses: always whole), TEXT (cut at the end with
    ``…``) or LINK (the same, but a hyperlink on a terminal). A cut column is never narrower
    than ``min_width`` (nor its header) and, except with ``--wide``, never wider than
    ``max_width``. ``style(text)`` names a Rich style for a cell (statuses) or None.
    ``viewer(row)`` names the person a cell is about: when that is the viewer on every row
    (an educator's own slots), the column only repeats them and is left out.
    """

    _fields = ("header", "value", "priority", "cut", "min_width", "max_width", "style", "viewer")

    def __init__(self, header: str, value: Callable[[Any], Any], priority: int = 50,
                 cut: str = NEVER, min_width: int = 0, max_width: int | None = None,
                 style: Callable[[str], str | None] | None = None,
                 viewer: Callable[[Any], str | None] | None = None):
        self.__dict__.update(header=header, value=value, priority=priority, cut=cut,
                             min_width=min_width, max_width=max_width, style=style,
                             viewer=viewer)


class Look(Frozen):
    """How to draw: the width, and what the terminal gets (colour, OSC 8 hyperlinks)."""

    _fields = ("width", "colour", "links")

    def __init__(self, width: int, colour: bool = False, links: bool = False):
        self.__dict__.update(width=width, colour=colour, links=links)


# -- text ------------------------------------------------------------------------------------------


def clean(value) -> str:
    """User text made safe for a terminal: control characters (and the invisible ones that
    reorder text) shown as escapes; newline and tab stay."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(
        ch if ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _INVISIBLE)
        else f"\\x{ord(ch) & 0xFF:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF  # a byte not UTF-8
        else f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
        for ch in text
    )


def one_line(text: str) -> str:
    """A cell of a one-line row: a line break shows as ⏎, a tab as a space."""
    if "\n" in text or "\t" in text:
        return text.replace("\n", NEWLINE).replace("\t", " ")
    return text


_rich_cell_len: list = []  # rich.cells.cell_len, once some text has needed it


def cell_len(text: str) -> int:
    """Cells ``text`` takes: its length when it is printable ASCII (one cell a character, as
    Rich counts it), else Rich's count. ``rich.cells`` is imported only for such text, so a
    list of plain ASCII loads no Rich at all."""
    if text.isascii() and text.isprintable():
        return len(text)
    if not _rich_cell_len:
        from rich.cells import cell_len as cells

        _rich_cell_len.append(cells)
    return _rich_cell_len[0](text)


def measure(text: str, cap: int) -> int:
    """Cells ``text`` takes, exactly up to ``cap`` (beyond it, any number >= cap will do), so
    a 2,000-character message costs no more than a short one."""
    if len(text) > 2 * cap + 8:
        head = cell_len(text[: 2 * cap + 8])
        if head >= cap:
            return head
    return cell_len(text)


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: whole if it fits, else cut with ``…`` (never in the
    middle of a wide character, nor between a character and its combining marks; no space
    before the ``…``)."""
    if width <= 0:
        return ""
    if text.isascii() and text.isprintable():
        return text if len(text) <= width else text[: width - 1].rstrip() + ELLIPSIS
    from rich.cells import chop_cells

    head = text[: 2 * width + 8]  # holds the cut unless zero-width characters abound
    if len(head) < len(text) and cell_len(head) <= width:
        head = text
    if len(head) == len(text) and cell_len(text) <= width:
        return text
    if width == 1:
        return ELLIPSIS
    kept = chop_cells(head, width - 1)
    kept = kept[0] if kept else ""
    while kept and cell_len(kept) > width - 1:  # odd joiner sequences Rich measures two ways
        kept = kept[:-1]
    return kept.rstrip() + ELLIPSIS


def fit_line(text: str, width: int) -> str:
    """A title, caption or note line: cut to the width, never wrapped."""
    return cut(one_line(clean(text)), width)


# -- times -----------------------------------------------------------------------------------------


class Times:
    """Compact local times for lists: ``Sat 11-28 10:00``; the year only when it is not this
    year (``Sat 2027-11-28 10:00``); an end on the start's local day as ``10:00``."""

    def __init__(self, tz: tzinfo, now: datetime):
        self.tz = tz
        self.year = now.astimezone(tz).year

    def at(self, value: datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(self.tz)
        return f"{self.day(local.date())} {local:%H:%M}"

    def day(self, value: date) -> str:
        """A local day: ``Sat 11-28``, or ``Sat 2027-11-28`` in another year."""
        return value.strftime("%a %m-%d" if value.year == self.year else "%a %Y-%m-%d")

    def end(self, start: datetime, end: datetime) -> str:
        if start.astimezone(self.tz).date() == end.astimezone(self.tz).date():
            return end.astimezone(self.tz).strftime("%H:%M")
        return self.at(end)


# -- choosing columns and widths -------------------------------------------------------------------


def shown(columns: Sequence[Column], rows: Sequence, viewer: str | None) -> list[Column]:
    """The columns without those that only repeat the viewer."""
    if viewer is None or not rows:
        return list(columns)
    return [c for c in columns
            if c.viewer is None or any(c.viewer(row) != viewer for row in rows)]


def fit(columns: Sequence[Column], naturals: Sequence[int], filled: Sequence[bool],
        width: int) -> list[tuple[int, int]]:
    """Which columns to draw and how wide: ``[(index, width)]``, in column order.

    ``naturals`` are the widths the columns take whole (headers included), ``filled`` whether
    any row has something in them. While the narrowest layout is wider than ``width``, the
    lowest-priority column goes (an empty one before any other). If what is left still has
    to be cut, empty columns go too; then the cuttable columns shrink, widest first, never
    below their minimum, until the rest fits."""
    natural, floor = [], []
    for column, whole in zip(columns, naturals):
        header = cell_len(column.header)
        if column.cut != NEVER and column.max_width:
            whole = max(header, min(whole, column.max_width))
        natural.append(whole)
        floor.append(whole if column.cut == NEVER else min(whole, max(header, column.min_width)))
    keep = list(range(len(columns)))
    while len(keep) > 1 and sum(floor[i] for i in keep) + GAP * (len(keep) - 1) > width:
        keep.remove(min(keep, key=lambda i: (filled[i], columns[i].priority, -i)))
    room = width - GAP * (len(keep) - 1)
    if sum(natural[i] for i in keep) <= room:
        return [(i, natural[i]) for i in keep]
    if any(filled[i] for i in keep):  # something must be cut: first leave out empty columns
        keep = [i for i in keep if filled[i]]
        room = width - GAP * (len(keep) - 1)
        if sum(natural[i] for i in keep) <= room:
            return [(i, natural[i]) for i in keep]
    if len(keep) == 1 and floor[keep[0]] > room:  # narrower than any sensible terminal
        return [(keep[0], max(room, 1))]

    def total(level: int) -> int:
        return sum(max(floor[i], min(natural[i], level)) for i in keep)

    low, high = 0, max(natural[i] for i in keep)
    while low < high:  # the widest level the cuttable columns can all keep
        middle = (low + high + 1) // 2
        if total(middle) <= room:
            low = middle
        else:
            high = middle - 1
    widths = {i: max(floor[i], min(natural[i], low)) for i in keep}
    spare = room - sum(widths.values())
    for i in keep:  # the cells left over go one each to columns still short of whole
        if spare > 0 and widths[i] < natural[i]:
            widths[i] += 1
            spare -= 1
    return [(i, widths[i]) for i in keep]


# -- drawing ---------------------------------------------------------------------------------------


def _styled(text: str, style: str | None, colour: bool) -> str:
    if not colour or not style or not text:
        return text
    return f"\x1b[{SGR[style]}m{text}\x1b[0m"


def _hyperlink(url: str, text: str) -> str:
    """OSC 8: ``text`` on the screen, the whole ``url`` behind it."""
    if not (url.isascii() and url.isprintable()):
        return text
    return f"\x1b]8;;{url}\x1b\\{text}\x1b]8;;\x1b\\"


def _is_link(column: Column, row) -> bool:
    return column.cut == LINK or isinstance(column.value(row), Link)


def _cells(columns: Sequence[Column], rows: Sequence, cap: int, wrap: bool):
    """Every cell's text (one line each unless ``wrap``) and width in cells (exact up to
    ``cap``), and each column's whole width and whether anything is in it. Written for speed:
    this runs once per cell of a 10,000-row list."""
    getters = [column.value for column in columns]
    naturals = [cell_len(column.header) for column in columns]
    filled = [False] * len(columns)
    texts, sizes = [], []
    for row in rows:
        cells, widths = [], []
        for index, get in enumerate(getters):
            value = get(row)
            if value is None:
                text, size = "", 0
            else:
                text = value if type(value) is str else str(value)
                if not text.isprintable():
                    text = clean(text)
                    if not wrap:
                        text = one_line(text)
                if wrap and "\n" in text:
                    size = max(measure(part, cap) for part in text.split("\n"))
                else:
                    size = len(text) if text.isascii() else measure(text, cap)
                if size:
                    filled[index] = True
                    if size > naturals[index]:
                        naturals[index] = size
            cells.append(text)
            widths.append(size)
        texts.append(cells)
        sizes.append(widths)
    return texts, sizes, naturals, filled


def draw(
    columns: Sequence[Column], rows: Sequence, look: Look, *, viewer: str | None = None,
    title: str | None = None, caption: str | None = None, notes: Sequence[str] = (),
    headings: dict[int, str] | None = None,
) -> list[str]:
    """The lines of a list fitted to ``look.width``: title, header, rule, exactly one line
    per row, the ``notes``, caption. No line is wider than the width. ``headings``: a line
    (a day of the agenda) to put before the row of that index, laid out with all the rows."""
    columns = shown(columns, rows, viewer)
    texts, sizes, naturals, filled = _cells(columns, rows, look.width + 1, wrap=False)
    layout = fit(columns, naturals, filled, look.width)
    return _lines(columns, rows, texts, sizes, layout, look, title, caption, notes, headings)


def _lines(columns, rows, texts, sizes, layout, look, title, caption, notes,
           headings=None) -> list[str]:
    colour, width = look.colour, look.width
    gap = " " * GAP
    lines = []
    if title:
        lines.append(_styled(fit_line(title, width), "italic", colour))
    header = gap.join(columns[i].header + " " * (w - cell_len(columns[i].header)) for i, w in layout)
    lines.append(_styled(cut(header.rstrip(), width), "bold", colour))
    lines.append(drawing("─", "-") * min(width, sum(w for _, w in layout) + GAP * (len(layout) - 1)))
    plan = [(i, w, columns[i]) for i, w in layout]
    for index, (row, cells, widths) in enumerate(zip(rows, texts, sizes)):
        if headings and index in headings:
            lines.append(_styled(fit_line(headings[index], width), "bold", colour))
        parts = []
        for i, w, column in plan:
            text, size = cells[i], widths[i]
            if size > w:
                shortened = cut(text, w)
                size = cell_len(shortened)
                text = _hyperlink(text, shortened) if look.links and _is_link(column, row) else shortened
            if colour and column.style is not None:
                text = _styled(text, column.style(cells[i]), colour)
            parts.append(text + " " * (w - size))
        lines.append(gap.join(parts).rstrip())
    lines.extend(fit_line(note, width) for note in notes)
    if caption:
        lines.append(_styled(fit_line(caption, width), "dim italic", colour))
    return lines


class Wrapped(Record):
    """A ``--wide`` list whose cells wrap: lines before, a Rich table to print ``width``
    cells wide, lines after."""

    _fields = ("head", "table", "width", "tail")

    def __init__(self, head: list[str], table: Any, width: int, tail: list[str]):
        self.head = head
        self.table = table
        self.width = width
        self.tail = tail


def draw_wide(
    columns: Sequence[Column], rows: Sequence, look: Look, *, viewer: str | None = None,
    title: str | None = None, caption: str | None = None,
) -> list[str] | Wrapped:
    """``--wide``: every cell whole. When every cell fits on one line, the lines as ``draw``
    draws them; else a Rich table whose cells wrap inside columns as wide as ``fit`` makes
    them (ids, times and statuses never wrap, nothing is left out)."""
    columns = shown(columns, rows, viewer)
    texts, sizes, naturals, _ = _cells(columns, rows, look.width + 1, wrap=True)
    one_line_each = not any("\n" in t or "\t" in t for row in texts for t in row)
    if one_line_each and sum(naturals) + GAP * (len(columns) - 1) <= look.width:
        layout = list(enumerate(naturals))
        return _lines(columns, rows, texts, sizes, layout, look, title, caption, ())
    head = [_styled(fit_line(title, look.width), "italic", look.colour)] if title else []
    tail = [_styled(fit_line(caption, look.width), "dim italic", look.colour)] if caption else []
    table, width = _rich_table(columns, rows, texts, naturals, look)
    return Wrapped(head, table, max(width, look.width), tail)


def _rich_table(columns, rows, texts, naturals, look):
    from rich import box
    from rich.cells import cell_len
    from rich.style import Style
    from rich.table import Table
    from rich.text import Text

    # text that wraps may be narrower than text cut on one line, and is never capped
    wrapping = [replace(c, min_width=min(c.min_width, WRAP_MIN), max_width=None) for c in columns]
    layout = fit(wrapping, naturals, [True] * len(columns), look.width)
    if len(layout) < len(columns):  # even the narrowest layout is too wide: wider, never cut
        layout = [(i, n if c.cut == NEVER else min(n, max(cell_len(c.header), c.min_width)))
                  for i, (c, n) in enumerate(zip(wrapping, naturals))]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, w in layout:
        table.add_column(columns[i].header, width=w, no_wrap=columns[i].cut == NEVER,
                         overflow="fold")
    for row, cells in zip(rows, texts):
        parts = []
        for i, _ in layout:
            column, text = columns[i], cells[i]
            style = column.style(text) if look.colour and column.style is not None else None
            if look.links and look.colour and text and _is_link(column, row):
                style = Style(link=text)
            parts.append(Text(text, style=style or ""))
        table.add_row(*parts)
    return table, sum(w for _, w in layout) + GAP * (len(layout) - 1)
