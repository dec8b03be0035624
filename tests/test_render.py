"""The column model (sessionctl/columns.py): choosing columns by width and viewer only, sharing
the width, cutting and wrapping text, and drawing a list exactly as Rich draws the same table
(two spaces between columns) when nothing has to be cut."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sessionctl import columns as model
from sessionctl.columns import LINK, NEVER, TEXT, WRAP, Column, Link, Look

SGR = re.compile(r"\x1b\[[0-9;]*m")
OSC8 = re.compile(r"\x1b\]8;;([^\x1b]*)\x1b\\")


def plain(text: str) -> str:
    return OSC8.sub("", SGR.sub("", text))


def rich_alone(headers, rows, width, terminal) -> list[str]:
    """The table as Rich itself draws it, each line without its trailing padding."""
    out = io.StringIO()
    console = Console(file=out, markup=False, highlight=False, emoji=False, width=width,
                      soft_wrap=False, force_terminal=terminal,
                      color_system="standard" if terminal else None)
    table = Table(box=None, padding=(0, 1), pad_edge=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(Text(model.clean(cell)) for cell in row))
    console.print(table)
    return [plain(line).rstrip() for line in out.getvalue().split("\n")[:-1]]


def by_index(headers, cut=NEVER):
    return [Column(h, (lambda i: lambda row: row[i])(i), cut=cut) for i, h in enumerate(headers)]


cell = st.lists(
    st.sampled_from(list("ab xyz09-:·") + ["日本", "é", "ß", "👍", "e\u0301", "\x1b", "[b]", "\u202e"]),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(st.sampled_from(["ID", "Course", "Start", "日本語", "x"]), min_size=1, max_size=6),
    data=st.data(),
    colour=st.booleans(),
)
def test_a_list_that_fits_is_drawn_as_rich_draws_it(headers, data, colour):
    rows = data.draw(st.lists(st.lists(cell, min_size=len(headers), max_size=len(headers)),
                              min_size=1, max_size=5))
    drawn = model.draw_wide(by_index(headers), rows, Look(100, colour=colour))
    assume(all(cell_len(plain(line)) <= 100 for line in drawn))  # else Rich wraps it
    assert [plain(line) for i, line in enumerate(drawn) if i != 1] == rich_alone(headers, rows, 100, colour)
    assert model.draw(by_index(headers, TEXT), rows, Look(100, colour=colour)) == drawn


@settings(max_examples=300, deadline=None)
@given(
    widths=st.lists(st.integers(0, 60), min_size=1, max_size=8),
    cuts=st.data(),
    width=st.integers(1, 220),
    data=st.data(),
)
def test_every_row_is_one_line_no_wider_than_the_width(widths, cuts, width, data):
    text = st.lists(st.sampled_from(list("ab c\n\t日👍\u00e9") + ["e\u0301", "\u200b", "\u200d"]),
                    max_size=90).map("".join)
    columns = [Column(f"H{i}", (lambda i: lambda row: row[i])(i), priority=data.draw(st.integers(0, 9)),
                      cut=cuts.draw(st.sampled_from([NEVER, TEXT, LINK])), width=w)
               for i, w in enumerate(widths)]
    rows = data.draw(st.lists(st.lists(text, min_size=len(columns), max_size=len(columns)),
                              min_size=1, max_size=6))
    lines = model.draw(columns, rows, Look(width), caption="times in America/Argentina/Buenos_Aires")
    assert len(lines) == 2 + len(rows) + 1  # header, rule, one line per row, caption
    assert all(cell_len(line) <= width for line in lines), (width, lines)


def test_columns_are_chosen_by_priority_at_their_planned_width_then_text_shares_the_rest():
    columns = [
        Column("ID", lambda r: r[0], 100, width=4),
        Column("Start", lambda r: r[1], 90, width=15),
        Column("Notes", lambda r: r[2], 40, TEXT, 10),
        Column("Message", lambda r: r[3], 50, TEXT, 10),
        Column("Seats", lambda r: r[4], 30, width=5),
    ]
    rows = [["1", "Sat 11-28 10:00", "n" * 40, "m" * 60, "0/1"]]
    assert model.draw(columns, rows, Look(200))[2] == (
        "1   Sat 11-28 10:00  " + "n" * 40 + "  " + "m" * 60 + "  0/1")
    # 80: all five fit at their planned widths; the text shares the rest, widest cut first
    assert model.draw(columns, rows, Look(80))[2] == (
        "1   Sat 11-28 10:00  " + "n" * 24 + "…  " + "m" * 24 + "…  0/1")
    assert len(model.draw(columns, rows, Look(80))[0]) == 80  # the whole width is used
    # 50: planned, the five take 4+15+10+10+5 and four gaps: 52; Seats (lowest) goes
    assert model.draw(columns, rows, Look(50))[0] == "ID  Start            Notes           Message"
    # 40: Notes no longer fits at its planned 10, Seats still does; Message keeps the rest
    assert model.draw(columns, rows, Look(40))[0] == "ID  Start            Message       Seats"
    assert model.draw(columns, rows, Look(40))[2] == "1   Sat 11-28 10:00  " + "m" * 11 + "…  0/1"


def test_the_same_width_and_viewer_get_the_same_columns_whatever_the_data():
    columns = [Column("ID", lambda r: r[0], 100, width=4),
               Column("Status", lambda r: r[1], 90, width=9),
               Column("Slot", lambda r: r[2], 60, width=4),
               Column("Message", lambda r: r[3], 40, TEXT, 12),
               Column("Reason", lambda r: r[4], 30, TEXT, 12)]
    short = [["1", "pending", "3", "", ""]]
    long_ = [["1", "waiting, 1 of 1", "3", "hello " * 20, None], ["22", "approved", "", "", ""]]
    for width in (30, 40, 46, 50, 80, 120):
        heads = {tuple(model.draw(columns, rows, Look(width))[0].split()) for rows in (short, long_)}
        assert len(heads) == 1, (width, heads)
        assert all(cell_len(line) <= width for rows in (short, long_)
                   for line in model.draw(columns, rows, Look(width)))
    # the wide status takes its room from the text: nothing goes
    assert model.draw(columns, long_, Look(46))[0].split() == ["ID", "Status", "Slot", "Message"]
    assert model.draw(columns, long_, Look(46))[2] == "1   waiting, 1 of 1  3     hello hello hello…"


def test_a_wrapping_column_wraps_its_text_at_words_inside_the_column():
    columns = [Column("Request", lambda r: r[0], 100, width=4),
               Column("Text", lambda r: r[1], 90, WRAP, 20),
               Column("State", lambda r: r[2], 50, width=4)]
    rows = [["12", "moved your session from Sat 11-28 10:00 to Sun 11-29 11:00", "new"]]
    drawn = model.draw(columns, rows, Look(40))
    assert drawn[2:] == ["12       moved your session from   new",
                         "         Sat 11-28 10:00 to Sun",
                         "         11-29 11:00"]  # every word there, none broken or cut
    assert all(len(line) <= 40 for line in drawn)


@pytest.mark.parametrize("text,width,expected", [
    ("one two three", 7, ["one two", "three"]),
    ("see https://meet.example.edu/a-long-room now", 12,
     ["see", "https://meet.example.edu/a-long-room", "now"]),  # a link is never split
    ("two\nlines", 20, ["two", "lines"]),
    ("日本語のテキスト", 6, ["日本語", "のテキ", "スト"]),  # CJK breaks between characters
    ("", 5, [""]),
])
def test_wrap_breaks_at_words_only(text, width, expected):
    assert model.wrap(text, width) == expected


def test_columns_that_only_repeat_the_viewer_are_left_out():
    columns = [Column("ID", lambda r: r["id"]),
               Column("Educator", lambda r: r["educator"], repeats=("educator",))]
    mine = [{"id": 1, "educator": "ada"}, {"id": 2, "educator": "ada"}]
    assert model.draw(columns, mine, Look(80), viewer="educator")[0] == "ID"
    assert model.draw(columns, mine, Look(80), viewer="admin")[0] == "ID  Educator"
    assert model.draw_wide(columns, mine, Look(80), viewer="educator")[0] == "ID"


@pytest.mark.parametrize("text,width,expected", [
    ("hello world", 11, "hello world"),
    ("hello world", 8, "hello w…"),
    ("日本語のテキスト", 7, "日本語…"),      # a wide character is never split
    ("日本語のテキスト", 8, "日本語…"),      # 7 cells, padded by the table
    ("👍👍👍👍", 6, "👍👍…"),
    ("e\u0301e\u0301e\u0301e\u0301", 3, "e\u0301e\u0301…"),  # marks stay with their letter
    ("abc", 1, "…"),
    ("abc", 0, ""),
])
def test_cut_counts_cells_and_ends_with_an_ellipsis(text, width, expected):
    assert model.cut(text, width) == expected
    assert cell_len(model.cut(text, width)) <= width


def test_clean_escapes_control_and_reordering_characters_and_keeps_the_rest():
    assert model.clean("a\x1bb\x07c\u009b") == "a\\x1bb\\x07c\\x9b"
    assert model.clean("abc\u202edef\u2066") == "abc\\u202edef\\u2066"
    assert model.clean("zero\u200bwidth 👨\u200d👩\u200d👧 日本\nline\ttab") == (
        "zero\u200bwidth 👨\u200d👩\u200d👧 日本\nline\ttab")
    assert model.one_line("two\nlines\tand a tab") == "two⏎lines and a tab"


def test_a_cut_link_is_a_hyperlink_to_the_whole_url_on_a_terminal_only():
    url = "https://meet.example.edu/" + "x" * 100
    columns = [Column("ID", lambda r: r[0]), Column("Link", lambda r: r[1], cut=LINK, width=20)]
    rows = [["1", url], ["2", "https://e.du/a"]]
    tty = model.draw(columns, rows, Look(40, links=True))
    assert tty[2] == f"1   \x1b]8;;{url}\x1b\\https://meet.example.edu/xxxxxxxxxx…\x1b]8;;\x1b\\"
    assert tty[3] == "2   https://e.du/a"  # whole: a terminal finds it itself
    assert model.draw(columns, rows, Look(40))[2] == "1   https://meet.example.edu/xxxxxxxxxx…"
    # a cell marked as a link in a mixed column (request list's "Reason / link")
    mixed = [Column("Reason / link", lambda r: r, cut=TEXT, width=10)]
    drawn = model.draw(mixed, [Link(url), "a reason " * 10], Look(20, links=True))
    assert drawn[2].startswith("\x1b]8;;https://") and "\x1b]8" not in drawn[3]


def test_statuses_are_coloured_only_with_colour():
    columns = [Column("Status", lambda r: r, style=lambda t: {"approved": "green"}.get(t))]
    assert model.draw(columns, ["approved", "other"], Look(80, colour=True))[2:4] == [
        "\x1b[32mapproved\x1b[0m", "other"]
    assert model.draw(columns, ["approved"], Look(80))[2] == "approved"


def test_compact_times_drop_the_current_year_and_the_date_of_a_same_day_end():
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    utc = timezone.utc
    times = model.Times(ZoneInfo("Europe/Berlin"), datetime(2026, 12, 31, 23, 30, tzinfo=utc))
    # 23:30 UTC on new year's eve is already 2027 in Berlin: "this year" is the display zone's
    assert times.at(datetime(2027, 3, 1, 9, 0, tzinfo=utc)) == "Mon 03-01 10:00"
    assert times.at(datetime(2026, 11, 28, 9, 0, tzinfo=utc)) == "Sat 2026-11-28 10:00"
    start = datetime(2027, 3, 1, 9, 0, tzinfo=utc)
    assert times.end(start, datetime(2027, 3, 1, 10, 0, tzinfo=utc)) == "11:00"
    assert times.end(start, datetime(2027, 3, 1, 23, 30, tzinfo=utc)) == "Tue 03-02 00:30"


def test_max_width_caps_a_column_while_others_want_room_and_wide_keeps_every_cell_whole():
    columns = [Column("Name", lambda r: r[0], cut=TEXT, max_width=10),
               Column("Notes", lambda r: r[1], cut=TEXT)]
    rows = [["n" * 30, "s" * 60]]
    assert model.draw(columns, rows, Look(60))[2] == "n" * 9 + "…  " + "s" * 47 + "…"
    assert model.draw(columns, rows, Look(200))[2] == "n" * 30 + "  " + "s" * 60  # room for all
    wide = model.draw_wide(columns, rows + [["x", "https://meet.example.edu/" + "r" * 90]], Look(40))
    assert wide[2] == "n" * 30 + "  " + "s" * 60  # one line a row, however wide
    assert wide[3] == "x" + " " * 31 + "https://meet.example.edu/" + "r" * 90


def test_a_table_in_a_show_command_wraps_text_at_words_and_never_splits_a_link():
    url = "https://meet.example.edu/" + "r" * 30
    columns = [Column("ID", lambda r: r[0], width=4), Column("Reason / link", lambda r: r[1], 50, TEXT, 14),
               Column("Note", lambda r: r[2], 40, TEXT, 10)]
    rows = [["7", Link(url), "a note that is long enough to wrap over a few lines here"]]
    drawn = model.draw_whole(columns, rows, Look(80))
    assert drawn[2].startswith("7   " + url)  # it fits: whole in its column, the note wraps
    assert all(len(line) <= 80 for line in drawn)
    words = " ".join(line for line in drawn[2:]).split()
    assert "a note that is long enough to wrap over a few lines here".split() == [
        w for w in words if w not in ("7", url)]
    # too narrow for it: "↓" in its column, the link whole on a line of its own under the row
    narrow = model.draw_whole(columns, rows, Look(60))
    assert narrow[2].split()[:2] == ["7", "↓"] and narrow[-1] == url
    assert not any("https:" in line and line != url for line in narrow)


@settings(max_examples=300)
@given(st.text(alphabet=st.one_of(
    st.characters(max_codepoint=0x33F), st.characters(min_codepoint=0x2000, max_codepoint=0x206F),
    st.sampled_from("日本👍\u200b\u0301\u00ad"))))
def test_cell_len_counts_as_rich_counts_without_loading_it_for_common_text(text):
    """The fast path (ASCII, Latin, general punctuation) and Rich agree on every string."""
    assert model.cell_len(text) == cell_len(text)


def test_whole_values_wider_than_the_screen_cut_in_the_middle_and_never_a_status():
    """Two 32-character course codes that differ at their end, at 80 columns: each cut in the
    middle (still different), the status and times whole, no column squeezed to a bare ``…``."""
    columns = [Column("ID", lambda r: r[0], 100, width=4),
               Column("Course", lambda r: r[1], 90, width=6),
               Column("Start", lambda r: r[2], 95, width=15),
               Column("End", lambda r: r[3], 85, width=5),
               Column("Seats", lambda r: r[4], 70, width=5),
               Column("Status", lambda r: r[5], 80, width=9),
               Column("Notes", lambda r: r[6], 50, TEXT, 12)]
    rows = [(44, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "Mon 2027-01-11 10:00", "11:00", "0/1",
             "available", "bring notes"),
            (45, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012399", "Mon 2027-01-11 12:00", "13:00", "0/1",
             "waiting, 1 of 1", "")]
    lines = model.draw(columns, rows, Look(80, False, False))
    assert all(cell_len(line) <= 80 for line in lines), lines
    assert lines[0].split() == ["ID", "Course", "Start", "End", "Seats", "Status"]
    assert "…" in lines[2] and lines[2].split()[1] != lines[3].split()[1]
    assert lines[2].split()[1].endswith("012345") and lines[3].split()[1].endswith("012399")
    assert lines[2].endswith("available") and lines[3].endswith("waiting, 1 of 1")
