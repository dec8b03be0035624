"""Tables: the one-line fast path writes exactly what Rich writes, colour or not."""

from __future__ import annotations

import io
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sessionctl import render

WIDTH = 100


def _console(out, terminal: bool) -> Console:
    return Console(
        file=out, markup=False, highlight=False, emoji=False, width=WIDTH, soft_wrap=False,
        force_terminal=terminal, color_system="standard" if terminal else None,
    )


def rich_alone(title, columns, rows, caption, terminal) -> str:
    """The table as Rich itself draws it (what ``render._table`` did before the fast path)."""
    out = io.StringIO()
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, title_justify="left", caption_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(render.clean(cell)) for cell in row))
    _console(out, terminal).print(table)
    return out.getvalue()


def through_render(monkeypatch, title, columns, rows, caption, terminal) -> tuple[str, int]:
    """``render._table``'s output, and how many rows it wrote itself."""
    out = io.StringIO()
    written = []
    one_line_row = render._one_line_row
    monkeypatch.setattr(render, "_console", lambda: _console(out, terminal))
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(render, "_one_line_row", lambda *a: written.append(a) or one_line_row(*a))
    render._table(title, columns, rows, caption)
    return out.getvalue(), len(written)


cell = st.lists(
    st.sampled_from(list("ab xyz09-:·") + ["日本", "é", "ß", "👍", "e\u0301", "\x1b", "[b]", "\t"]),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    columns=st.lists(st.sampled_from(["ID", "Course", "Start", "日本語", "x"]), min_size=1, max_size=6),
    data=st.data(),
    title=st.sampled_from([None, "requests", "a title much wider than the narrowest tables here"]),
    caption=st.sampled_from([None, "times in America/Argentina/Buenos_Aires"]),
    terminal=st.booleans(),
)
def test_fast_path_matches_rich(columns, data, title, caption, terminal):
    rows = data.draw(st.lists(st.lists(cell, min_size=len(columns), max_size=len(columns)),
                              min_size=1, max_size=5))
    with pytest.MonkeyPatch.context() as patch:
        mine, _ = through_render(patch, title, columns, rows, caption, terminal)
    assert mine == rich_alone(title, columns, rows, caption, terminal)


@pytest.mark.parametrize("terminal", [False, True])
def test_long_tables_take_the_fast_path_and_wrapping_ones_do_not(monkeypatch, terminal):
    rows = [[str(i), "MATH101", "Mon 2027-03-01 10:00", "available"] for i in range(300)]
    columns = ["ID", "Course", "Start", "Status"]
    mine, written = through_render(monkeypatch, None, columns, rows, "times in UTC", terminal)
    assert written == 301  # the sample row that Rich framed, then every row
    assert mine == rich_alone(None, columns, rows, "times in UTC", terminal)

    wide = [["1", "x" * (WIDTH + 20), "a", "b"]]  # must wrap: Rich draws it all
    mine, written = through_render(monkeypatch, None, columns, wide, None, terminal)
    assert written == 0
    assert mine == rich_alone(None, columns, wide, None, terminal)
