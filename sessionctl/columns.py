"""Lists in the terminal: one column model per list, fitted to the width before drawing
(``docs/reference/output.md#lists-fit-the-screen``).

Each list declares its columns once (``Column``: header, cell, priority, planned width, how
to cut). Which columns a list shows depends on the width and the viewer only, never on the
data (``choose``): columns that would only repeat the viewer go (an educator's own name on
their own slots), then the columns are taken by priority, each at its planned width, while
they fit. The data then decides how wide each shown column is (``allot``): whole columns (ids,
times, statuses) as wide as their values, and the free text shares the rest, cut with ``…``
widest first, so that a list uses the whole width before it cuts anything. Every row is one
line, except in a column that wraps (the inbox's text), and no line is wider than the width.

``draw_wide`` (``--wide``) prints every column whole, one line a row, however wide;
``draw_whole`` (the tables inside ``show`` commands) prints every column whole, text wrapped
at word boundaries inside its column (``wrap``): a word is never broken, so a link stays
whole, on a line of its own if need be.

The frame (a header, a rule, rows two spaces apart) is written here, without Rich: Rich is
imported only for the cell widths of text that is not printable ASCII (wide characters
count 2), so 10,000 rows cost tens of milliseconds.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, tzinfo
from typing import Any, Callable, Sequence

from sessionctl._plain import Frozen

NEVER, TEXT, LINK, WRAP = "never", "text", "link", "wrap"  # how a column's text may be fitted
CUT = (TEXT, LINK, WRAP)  # the columns that share what the whole ones leave
GAP = 2  # columns are two spaces apart
ELLIPSIS = "…"
NEWLINE = "⏎"  # a line break inside a cell of a one-line row
DOWN = "↓"  # in a show command's table: this cell's link is on a line of its own under the row
WRAP_MIN = 10  # in a show command's table, text columns may wrap down to this width (or their header's)
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

    ``value(row)`` gives the cell. ``priority``: the highest are shown first; a column that does
    not fit at its planned width is left out. ``cut``: NEVER (ids, times, statuses: always
    whole), TEXT (cut at the end with ``…``), LINK (the same, but a hyperlink on a terminal)
    or WRAP (wrapped at words inside the column, never cut). ``width``: the width the column is
    planned with when the columns are chosen, never its data's: for a whole column the width
    its values usually take (a wider value takes its room from the text), for the others the
    narrowest they are cut to (never below their header). A cut column is at most ``max_width``
    wide while the other columns still want room. ``style(text)`` names a style for a cell
    (statuses) or None. ``repeats``: the viewers' roles for whom the column only repeats
    themselves (an educator's own slots name that educator on every row): left out for them.
    """

    _fields = ("header", "value", "priority", "cut", "width", "max_width", "style", "repeats")

    def __init__(self, header: str, value: Callable[[Any], Any], priority: int = 50,
                 cut: str = NEVER, width: int = 0, max_width: int | None = None,
                 style: Callable[[str], str | None] | None = None, repeats: Sequence[str] = ()):
        self.__dict__.update(header=header, value=value, priority=priority, cut=cut,
                             width=width, max_width=max_width, style=style,
                             repeats=frozenset(repeats))

    @property
    def plan(self) -> int:
        """The width this column is chosen at: its planned width, never below its header."""
        return max(cell_len(self.header), self.width)


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
    """Cells ``text`` takes: its length when every character is printable and one cell wide
    as Rich counts it (ASCII, Latin-1 and the Latin extensions before the combining marks, and
    the dashes, quotes and ellipsis of general punctuation), else Rich's count. ``rich.cells``
    is imported only for other text, so a list or a help screen of such text loads no Rich."""
    if text.isprintable() and (text.isascii() or all(
            ch < "\u0300" or "\u2010" <= ch <= "\u2027" for ch in text)):
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


def cut_middle(text: str, width: int) -> str:
    """A value that is never cut unless nothing else can give (a 32-character course code at
    80 columns): cut in the middle, so that two codes that differ only at their end still look
    different (``ABCDEFGHIJKL…WXYZ012345``); text that is not plain ASCII is cut at its end."""
    if not (text.isascii() and text.isprintable()) or width < 5 or len(text) <= width:
        return cut(text, width)
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + ELLIPSIS + text[len(text) - tail:]


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


def shown(columns: Sequence[Column], viewer: str | None) -> list[Column]:
    """The columns without those that only repeat the viewer (by their role)."""
    return [c for c in columns if viewer is None or viewer not in c.repeats]


def choose(columns: Sequence[Column], width: int) -> list[int]:
    """Which columns a list shows at ``width``, in column order: by priority, each that still
    fits at its planned width (``Column.plan``). It reads no row, so the same viewer at the
    same width always gets the same columns; at least the first by priority is shown."""
    order = sorted(range(len(columns)), key=lambda i: (-columns[i].priority, i))
    chosen, used = [], -GAP
    for i in order:
        if used + GAP + columns[i].plan <= width or not chosen:
            chosen.append(i)
            used += GAP + columns[i].plan
    return sorted(chosen)


def allot(columns: Sequence[Column], naturals: Sequence[int], width: int | None) -> list[int]:
    """How wide each column is drawn, given ``naturals``, the widths their cells take whole
    (headers included), and the ``width`` to fit (None: no limit, every column whole).

    Whole columns take their natural width. The cut ones share what is left: each whole if
    all fit; else each at most its ``max_width`` and the rest cut, widest first, never below
    its planned width; what is still left then goes to those cut at their ``max_width``, so
    the list uses the whole width before it cuts anything. Only when the whole columns alone
    leave too little (values far wider than planned) do the cut columns go below their
    planned width, down to one cell, and then the whole columns are cut too."""
    widths = list(naturals)
    if width is None:
        return widths
    flexible = [i for i, c in enumerate(columns) if c.cut in CUT]
    room = width - GAP * (len(columns) - 1) - sum(w for i, w in enumerate(widths) if i not in flexible)
    if sum(widths[i] for i in flexible) <= room:
        return widths
    floors = {i: min(naturals[i], columns[i].plan) for i in flexible}
    capped = {i: min(naturals[i], max(columns[i].max_width or naturals[i], floors[i])) for i in flexible}
    if sum(capped.values()) >= room:
        high = _level(capped, floors if sum(floors.values()) <= room else
                      {i: min(1, capped[i]) for i in flexible}, room)
    else:
        high = _level({i: naturals[i] for i in flexible}, capped, room)
    for i in flexible:
        widths[i] = high[i]
    over = sum(widths) + GAP * (len(columns) - 1) - width
    if over > 0:  # the whole columns alone are too wide: cut them too, widest first, and
        # none below its planned width (a status, a time) while a wider one can give
        fixed = {i: widths[i] for i in range(len(columns)) if i not in flexible}
        planned = {i: min(w, columns[i].plan) for i, w in fixed.items()}
        target = sum(fixed.values()) - over
        cut_to = _level(fixed, planned if sum(planned.values()) <= target
                        else {i: min(1, w) for i, w in fixed.items()}, target)
        for i, w in cut_to.items():
            widths[i] = w
    return widths


def _level(highs: dict[int, int], lows: dict[int, int], room: int) -> dict[int, int]:
    """Widths between ``lows`` and ``highs`` summing to at most ``room``, as even as can be:
    the widest level every column can keep, then a cell more each to those short of high."""
    if sum(lows.values()) >= room:
        return dict(lows)
    low, high = 0, max(highs.values(), default=0)

    def total(level: int) -> int:
        return sum(max(lows[i], min(highs[i], level)) for i in highs)

    while low < high:
        middle = (low + high + 1) // 2
        if total(middle) <= room:
            low = middle
        else:
            high = middle - 1
    widths = {i: max(lows[i], min(highs[i], low)) for i in highs}
    spare = room - sum(widths.values())
    for i in highs:
        if spare > 0 and widths[i] < highs[i]:
            widths[i] += 1
            spare -= 1
    return widths


# -- wrapping --------------------------------------------------------------------------------------


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` cells, broken at spaces and at its own line
    breaks. A word is never broken (a link stays whole, on a line of its own when it is wider
    than the width), except a run of wide characters (CJK), which breaks between any two of
    them as CJK text does."""
    width = max(width, 1)
    lines: list[str] = []
    for paragraph in text.replace("\t", " ").split("\n"):
        line, size = "", 0
        for word in paragraph.split():
            wide = cell_len(word)
            if wide > width and wide > len(word):  # wide characters: break between them
                pieces = _chop(word, width)
            else:
                pieces = [word]
            for piece in pieces:
                piece_size = cell_len(piece)
                if line and size + 1 + piece_size <= width:
                    line, size = f"{line} {piece}", size + 1 + piece_size
                else:
                    if line:
                        lines.append(line)
                    line, size = piece, piece_size
        lines.append(line)
    return lines


def _chop(word: str, width: int) -> list[str]:
    """``word`` in pieces of at most ``width`` cells (a wide character is never split)."""
    pieces, piece, size = [], "", 0
    for ch in word:
        ch_size = cell_len(ch)
        if piece and size + ch_size > width and unicodedata.combining(ch) == 0:
            pieces.append(piece)
            piece, size = "", 0
        piece += ch
        size += ch_size
    return pieces + ([piece] if piece else [])


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


def _cells(columns: Sequence[Column], rows: Sequence, cap: int, breaks: Sequence[bool]):
    """Every cell's text and width in cells (exact up to ``cap``), and each column's whole
    width (its header's at least). A column whose ``breaks`` is true keeps its line breaks
    (it wraps), the others show them as ⏎. Written for speed: this runs once per cell of a
    10,000-row list."""
    getters = [column.value for column in columns]
    naturals = [cell_len(column.header) for column in columns]
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
                    if not breaks[index]:
                        text = one_line(text)
                if breaks[index] and "\n" in text:
                    size = max(measure(part, cap) for part in text.split("\n"))
                else:
                    size = len(text) if text.isascii() else measure(text, cap)
                if size > naturals[index]:
                    naturals[index] = size
            cells.append(text)
            widths.append(size)
        texts.append(cells)
        sizes.append(widths)
    return texts, sizes, naturals


def draw(
    columns: Sequence[Column], rows: Sequence, look: Look, *, viewer: str | None = None,
    title: str | None = None, caption: str | None = None, notes: Sequence[str] = (),
    headings: dict[int, str] | None = None,
) -> list[str]:
    """The lines of a list fitted to ``look.width``: title, header, rule, one line per row (a
    WRAP column's text wraps inside it), the ``notes``, caption. No line is wider than the
    width, but for a word too long for a wrapping column. ``viewer``: the viewer's role.
    ``headings``: a line (a day of the agenda) to put before the row of that index."""
    columns = shown(columns, viewer)
    columns = [columns[i] for i in choose(columns, look.width)]
    breaks = [c.cut == WRAP for c in columns]
    texts, sizes, naturals = _cells(columns, rows, look.width + 1, breaks)
    widths = allot(columns, naturals, look.width)
    squeezed = [i for i, (c, w) in enumerate(zip(columns, widths))
                if c.cut in CUT and w < min(cell_len(c.header), naturals[i])]
    if squeezed:  # values far wider than planned left a column no room even for its header:
        kept = [i for i in range(len(columns)) if i not in squeezed]  # leave it out, not "…"
        columns, breaks = [columns[i] for i in kept], [breaks[i] for i in kept]
        texts = [[cells[i] for i in kept] for cells in texts]
        sizes = [[size[i] for i in kept] for size in sizes]
        widths = allot(columns, [naturals[i] for i in kept], look.width)
    return _lines(columns, rows, texts, sizes, widths, look, breaks, title, caption, notes,
                  headings)


def draw_wide(
    columns: Sequence[Column], rows: Sequence, look: Look, *, viewer: str | None = None,
    title: str | None = None, caption: str | None = None, notes: Sequence[str] = (),
) -> list[str]:
    """``--wide``: every column (but those that repeat the viewer) whole, one line a row,
    however wide the lines (a pager scrolls them sideways)."""
    columns = shown(columns, viewer)
    breaks = [False] * len(columns)
    texts, sizes, naturals = _cells(columns, rows, 1 << 30, breaks)
    return _lines(columns, rows, texts, sizes, naturals, look, breaks, title, caption, notes,
                  None, fitted=False)


def draw_whole(
    columns: Sequence[Column], rows: Sequence, look: Look, *, viewer: str | None = None,
    title: str | None = None, caption: str | None = None,
) -> list[str]:
    """A table inside a ``show`` command: every column, nothing cut; text wraps at words
    inside its column, the columns fitted to the width as well as they can be. A link is
    never split: one too wide for its column shows as ``↓`` there and goes whole on a line
    of its own under its row."""
    columns = [c if c.cut == NEVER else _wrapping(c) for c in shown(columns, viewer)]
    breaks = [c.cut == WRAP for c in columns]
    texts, sizes, naturals = _cells(columns, rows, look.width + 1, breaks)
    for i, column in enumerate(columns):  # a column of links keeps them whole while it can
        longest = max((m[i] for row, m in zip(rows, sizes) if _is_link(column, row)), default=0)
        keep = _wrapping(column, longest)
        trial = columns[:i] + [keep] + columns[i + 1:]
        if breaks[i] and longest > column.plan and _least(trial, naturals) <= look.width:
            columns = trial
    below: dict[int, list[str]] = {}
    while True:
        if _least(columns, naturals) > look.width:  # too narrow: wider than the screen
            widths = [n if c.cut == NEVER else min(n, c.plan) for c, n in zip(columns, naturals)]
        else:
            widths = allot(columns, naturals, look.width)
        moved = False
        for index, (row, cells, measured) in enumerate(zip(rows, texts, sizes)):
            for i, column in enumerate(columns):
                if breaks[i] and measured[i] > widths[i] and _is_link(column, row):
                    below.setdefault(index, []).append(cells[i])
                    cells[i], measured[i], moved = DOWN, 1, True
        if not moved:
            break
        naturals = [max([cell_len(c.header)] + [m[i] for m in sizes]) for i, c in enumerate(columns)]
    return _lines(columns, rows, texts, sizes, widths, look, breaks, title, caption, (), None,
                  fitted=False, below=below)


def _wrapping(column: Column, width: int | None = None) -> Column:
    """``column`` wrapping instead of cut, down to ``width`` cells (else ``WRAP_MIN`` or its
    planned width if less), never capped."""
    width = min(max(column.width, 1), WRAP_MIN) if width is None else width
    return Column(column.header, column.value, column.priority, WRAP, width, None,
                  column.style, column.repeats)


def _least(columns: Sequence[Column], naturals: Sequence[int]) -> int:
    """The narrowest a show command's table can be: whole columns whole, the others at their
    planned width (or less when their text is narrower)."""
    least = [n if c.cut == NEVER else min(n, c.plan) for c, n in zip(columns, naturals)]
    return sum(least) + GAP * (len(least) - 1)


def _lines(columns, rows, texts, sizes, widths, look, breaks, title, caption, notes,
           headings, *, fitted: bool = True, below: dict[int, list[str]] | None = None) -> list[str]:
    """The lines of a table drawn ``widths`` wide. ``fitted``: titles and notes cut to the
    width, cut links hyperlinks on a terminal. ``below``: links to print whole, each on a line
    of its own, under the row of that index."""
    colour, width = look.colour, look.width
    fit = (lambda text: fit_line(text, width)) if fitted else (lambda text: one_line(clean(text)))
    gap = " " * GAP
    lines = []
    if title:
        lines.append(_styled(fit(title), "italic", colour))
    header = gap.join(c.header + " " * max(0, w - cell_len(c.header)) for c, w in zip(columns, widths))
    lines.append(_styled(cut(header.rstrip(), width) if fitted else header.rstrip(), "bold", colour))
    total = sum(widths) + GAP * (len(widths) - 1)
    lines.append(drawing("─", "-") * (min(width, total) if fitted else total))
    plan = list(zip(widths, columns, breaks))
    last = len(plan) - 1
    for index, (row, cells, measured) in enumerate(zip(rows, texts, sizes)):
        if headings and index in headings:
            lines.append(_styled(fit(headings[index]), "bold", colour))
        if not any(breaks):
            parts = []
            for i, (w, column, _) in enumerate(plan):
                text, size = cells[i], measured[i]
                if size > w:
                    shortened = cut_middle(text, w) if column.cut == NEVER else cut(text, w)
                    size = cell_len(shortened)
                    text = _hyperlink(text, shortened) if look.links and _is_link(column, row) else shortened
                if colour and column.style is not None:
                    text = _styled(text, column.style(cells[i]), colour)
                parts.append(text + " " * (w - size) if i < last else text)
            lines.append(gap.join(parts).rstrip())
            continue
        stacks = []
        for i, (w, column, wraps) in enumerate(plan):
            text = cells[i]
            if wraps:
                stack = wrap(text, w) if text else [""]
            elif measured[i] > w:
                stack = [cut(text, w)]
            else:
                stack = [text]
            style = column.style(cells[i]) if colour and column.style is not None else None
            stacks.append([(part, cell_len(part), style) for part in stack])
        for depth in range(max(len(stack) for stack in stacks)):
            parts = []
            for i, (w, _, _) in enumerate(plan):
                part, size, style = stacks[i][depth] if depth < len(stacks[i]) else ("", 0, None)
                shown_part = _styled(part, style, colour)
                parts.append(shown_part + " " * max(0, w - size) if i < last else shown_part)
            lines.append(gap.join(parts).rstrip())
        for url in (below or {}).get(index, ()):
            lines.append(_hyperlink(url, url) if look.links else url)
    lines.extend(fit(note) for note in notes)
    if caption:
        lines.append(_styled(fit(caption), "dim italic", colour))
    return lines
