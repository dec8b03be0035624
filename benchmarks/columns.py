"""The column model (`render.slots` through `sessionctl/columns.py`) against the fast path it
replaced, in one process, on the same slot views.

The floor is a copy of the old `render._table` fast path (before SPEC §8): Rich drew the
frame around one sample row and the rows were written directly, when every cell fitted on
one line. Both write to the same in-memory stdout, as to a file (width 200). The data fits
on one line a row, so the old code takes its fast path and the comparison is like for like.
Then the new path alone on 10,000 rows, with text long enough to be cut.

Usage: python benchmarks/columns.py [REPEATS]     (default 15; medians, interleaved)
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

from sessionctl.output import tables as render  # render.py became output/ (issue 17)
from sessionctl.domain.views import SlotView

UTC = timezone.utc


# -- the floor: the old fast path, copied as it was ------------------------------------------------


def old_console():
    from rich.console import Console

    width = None
    if not sys.stdout.isatty():
        width = int(os.environ.get("COLUMNS") or 200)
    return Console(markup=False, highlight=False, emoji=False, width=width, soft_wrap=False)


def old_table(title, columns, rows, caption=None, show_lines=False):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    def build(body):
        table = Table(
            title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
            title_justify="left", caption_justify="left", show_lines=show_lines,
        )
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in body:
            table.add_row(*(Text(cell) for cell in row))
        return table

    cells = [[render.clean(cell) for cell in row] for row in rows]
    console = old_console()
    widths = None if show_lines else old_one_line_widths(columns, cells, console.width)
    if widths:
        sample = ["x" * width for width in widths]
        with console.capture() as captured:
            console.print(build([sample]))
        lines = captured.get().split("\n")
        if (frame_row := old_one_line_row(sample, widths)) in lines:
            at = len(lines) - 1 - lines[::-1].index(frame_row)
            body = [old_one_line_row(row, widths) for row in cells]
            sys.stdout.write("\n".join(lines[:at] + body + lines[at + 1:]))
            sys.stdout.flush()
            return True
    console.print(build(cells))
    return False


def old_one_line_widths(columns, cells, room):
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


def old_one_line_row(row, widths):
    from rich.cells import cell_len

    return "   ".join(cell + " " * (width - cell_len(cell)) for cell, width in zip(row, widths))


def old_slots(views, tz):
    """The old `render.slots` table path."""
    rows = []
    for v in views:
        start, end = render._span(v.start, v.end, tz)
        rows.append([v.id, v.course, start, end, f"{v.booked}/{v.capacity}", render._slot_status(v),
                     render._person(v.educator, v.educator_display, v.educator_email), v.notes, v.link])
    assert old_table(None, ["ID", "Course", "Start", "End", "Seats", "Status", "Educator", "Notes",
                            "Link"], rows, render._zone_caption(tz)), "the old code left its fast path"


def new_slots(views, tz):
    render.slots(views, tz, False, viewer="root")


# -- measuring -------------------------------------------------------------------------------------


def views(n: int, notes: str, link: str) -> list[SlotView]:
    start = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    return [
        SlotView(i, "MATH101", "ada", start + timedelta(hours=i), start + timedelta(hours=i, minutes=45),
                 2, i % 3 // 2, "available", notes, link, False, "Ada Lovelace", "ada@example.edu")
        for i in range(1, n + 1)
    ]


def timed(call, *args) -> float:
    """Milliseconds one call takes, its output going to an in-memory stdout."""
    saved, sys.stdout = sys.stdout, io.StringIO()
    try:
        begin = time.perf_counter()
        call(*args)
        return (time.perf_counter() - begin) * 1000
    finally:
        sys.stdout = saved


def compare(n: int, repeats: int) -> tuple[float, float]:
    rows = views(n, "Office hour", "https://meet.example.edu/ada")
    old, new = [], []
    for _ in range(repeats):
        old.append(timed(old_slots, rows, UTC))
        new.append(timed(new_slots, rows, UTC))
    return statistics.median(old), statistics.median(new)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    os.environ.pop("COLUMNS", None)  # as to a file: 200 columns
    os.environ.pop("NO_COLOR", None)
    os.environ["SESSIONCTL_TZ"] = "UTC"
    import sessionctl.timeparse as timeparse

    timeparse.utcnow = lambda: datetime(2027, 1, 10, tzinfo=UTC)  # a fixed "this year"
    compare(20, 3)  # warm up: imports, caches
    print(f"render.slots, median of {repeats} interleaved runs each, in-memory stdout, 200 columns")
    ratios = []
    for n in (20, 1000):
        old, new = compare(n, repeats if n < 1000 else max(5, repeats // 2))
        print(f"{n:>6} rows: old fast path {old:8.2f} ms   column model {new:8.2f} ms   "
              f"ratio {new / old:4.2f}x")
        ratios.append(f"{n:,} rows {new / old:.2f}x")
    long_rows = views(10_000, "Bring question 3 and your notes on Bernoulli numbers. " * 6,
                      "https://meet.example.edu/" + "room-" * 64)
    took = statistics.median(timed(new_slots, long_rows, UTC) for _ in range(3))
    print(f"10,000 rows with 330-character notes and links, cut to fit: {took:7.1f} ms")
    print(f"ratio column model / old fast path: {', '.join(ratios)}")


if __name__ == "__main__":
    main()
