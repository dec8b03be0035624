"""docs/reference/output.md, the terminal: lists fit the width one line a row, colour, the pager.

The lists are drawn over a store full of what breaks tables: display names, notes, messages
and reasons hundreds of characters long, links over 300 characters, CJK and emoji, line
breaks, tabs, bidi and zero-width characters, Rich markup. Colour and the pager are checked
on the installed command with a pseudo-terminal of a fixed size as its stdout.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shlex
import sqlite3
import struct
import subprocess
import sys
import termios
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.cells import cell_len

from conftest import Cli, future, iso, snapshot
from sessionctl.columns import clean
from runkit import built_store, built_template  # noqa: F401 (fixtures)
from runkit import proc

BIN = Path(sys.executable).with_name("sessionctl")
WIDTHS = (80, 100, 120, 200)
SGR = re.compile(r"\x1b\[[0-9;]*m")
OSC8 = re.compile(r"\x1b\]8;;[^\x1b]*\x1b\\")

LINK = "https://meet.example.edu/" + "room-" * 64 + "end"  # 348 characters
ADA = "エイダ・ラブレス Augusta Ada King, Countess of Lovelace 👩 💻 " * 5
ALAN = "Alan Mathison Turing 🧠 of Bletchley Park " * 8
NOTES = "Bring question 3 and your notes on Bernoulli numbers. " * 9 + "\nsecond line\tend"
MESSAGE = "Could we go over the proof of the halting problem, 停止問題, step by step? " * 5
REASON = "Please book the 10:00 office hour next week instead; this one is for the exam. " * 4
MARKUP = "[bold]x[/bold] [link=https://evil.example]z[/link]"
# input checks refuse bidi and zero-width characters; an old store may still hold them
HOSTILE = MARKUP + " rtl\u202eevil\u202c zero\u200bwidth"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Cli:
    """A store whose every list has long, wide and odd text in it."""
    cli = Cli(tmp_path_factory.mktemp("terminal") / "store.db")

    def ok(*args, user="root"):
        result = cli(*args, user=user)
        assert result.exit_code == 0, (args, result.stderr)
        return json.loads(result.stdout) if "--json" in args else result.stdout

    ok("init")
    for name, role, display in [("ada", "educator", ADA), ("bob", "educator", "Bob"),
                                ("alan", "student", ALAN), ("kat", "student", "Katherine 🌟 Johnson"),
                                ("eve", "student", MARKUP)]:
        ok("user", "add", name, "--role", role, "--email", f"{name}@example.edu", "--display", display)
    ok("course", "add", "MATH101", "--title", "Analytical Engines, 解析機関 " * 7, user="ada")
    ok("course", "add", "PHYS1", "--title", "Physics", user="bob")
    ok("course", "add", "CS2", "--title", "Programming", user="ada")
    ok("course", "enroll", "MATH101", "alan", "kat", "eve", user="ada")
    ok("course", "enroll", "CS2", "alan", user="ada")
    ok("course", "enroll", "PHYS1", "kat", user="bob")
    slots = [ok("slot", "add", "--course", "MATH101", "--start", iso(future(48 + 2 * i)),
                "--duration", "1h", "--capacity", "1", "--notes", NOTES, "--link", LINK, "--json",
                user="ada")[0]["id"] for i in range(4)]
    ok("slot", "add", "--course", "PHYS1", "--start", iso(future(60)), "--duration", "1h",
       "--notes", MARKUP, user="bob")
    first = ok("request", "send", str(slots[0]), "--message", MESSAGE, "--json", user="alan")
    ok("request", "send", str(slots[0]), "--message", "Katherine 🌟 here\nline two", user="kat")
    ok("request", "approve", str(first["id"]), "--link", LINK + "/alan", user="ada")
    second = ok("request", "send", str(slots[1]), "--message", MESSAGE, "--json", user="kat")
    ok("request", "reject", str(second["id"]), "--reason", REASON, user="ada")
    ok("request", "send", str(slots[2]), "--message", MARKUP, user="eve")
    third = ok("request", "send", str(slots[3]), "--message", "短い", "--json", user="alan")
    ok("request", "cancel", str(third["id"]), "--reason", REASON, user="ada")
    # an old store may hold what input checks now refuse: an escape sequence and a bell
    con = sqlite3.connect(cli.db)
    with con:
        con.execute("UPDATE slots SET notes = ? WHERE id = ?", ("old \x1b[31mred\x1b[0m\x07", slots[3]))
        con.execute("UPDATE users SET display = ? WHERE name = 'eve'", (HOSTILE,))
        con.execute("UPDATE slots SET notes = ? WHERE notes = ?", (HOSTILE, MARKUP))
        con.execute("UPDATE requests SET message = ? WHERE message = ?", (HOSTILE, MARKUP))
    con.close()
    return cli


def listing(out: str, width: int, count: int, caption: bool) -> tuple[str, list[str]]:
    """The header and rows of a list, checking its frame: a header, a rule, exactly one
    line per row, the caption; no line wider than ``width``."""
    lines = out.split("\n")
    assert lines[-1] == "", out
    lines = lines[:-1]
    assert all(cell_len(line) <= width for line in lines), (width, [cell_len(x) for x in lines], out)
    assert set(lines[1]) == {"─"}, out
    assert len(lines) == 2 + count + (1 if caption else 0), (count, out)
    if caption:
        assert lines[-1].startswith("times in "), out
    return lines[0], lines[2:2 + count]


LISTS = [
    # command, viewer, key of the first column, whether it has a time caption
    (("slot", "list"), "ada", "id", True),
    (("slot", "list"), "alan", "id", True),
    (("slot", "list", "--status", "all"), "root", "id", True),
    (("request", "list"), "alan", "id", True),
    (("request", "list", "--status", "all"), "ada", "id", True),
    (("request", "list", "--status", "all"), "root", "id", True),
    (("course", "list"), "ada", "code", False),
    (("course", "list"), "alan", "code", False),
    (("course", "roster", "MATH101"), "ada", "name", False),
    (("user", "list"), "root", "name", False),
]


@pytest.mark.parametrize("args,user,key,caption", LISTS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_every_list_is_one_line_a_row_at_every_width(store, args, user, key, caption):
    items = json.loads(store(*args, "--json", user=user).stdout)
    assert len(items) >= 2
    for width in WIDTHS:
        result = store(*args, user=user, env={"COLUMNS": str(width)})
        assert result.exit_code == 0, result.stderr
        header, rows = listing(result.stdout, width, len(items), caption)
        assert [row.split()[0] for row in rows] == [str(item[key]) for item in items]
        assert "…" in result.stdout, (width, result.stdout)  # long text was cut, not wrapped
        assert "\x1b" not in result.stdout  # not a terminal: plain; an old ESC shows as text


@pytest.mark.parametrize("user", ["ada", "alan"])
def test_the_inbox_wraps_its_text_whole_and_shows_the_request_id_at_every_width(store, user):
    items = json.loads(store("inbox", "--all", "--peek", "--json", user=user).stdout)
    assert len(items) >= 2
    for width in WIDTHS:
        out = store("inbox", "--all", "--peek", user=user, env={"COLUMNS": str(width)}).stdout
        lines = out.rstrip("\n").split("\n")
        assert lines[0].split()[0] == "Request" and set(lines[1]) == {"─"}
        starts = [line.split()[0] for line in lines[2:-1] if not line.startswith(" ")]
        assert starts == [str(item["request"]) for item in items]  # each row starts with it
        text = " ".join(out.split())
        for item in items:  # never cut: every word of every text is there
            assert all(word in text for word in clean(item["text"]).split()), (width, item["text"])
        assert "…" not in out
        long_words = {w for item in items for w in item["text"].split() if cell_len(w) > 20}
        assert all(cell_len(line) <= width or any(w in line for w in long_words) for line in lines)


def test_columns_that_repeat_the_viewer_are_left_out(store):
    def header(*args, user):
        return store(*args, user=user, env={"COLUMNS": "200"}).stdout.split("\n")[0].split()

    assert header("slot", "list", user="ada") == ["ID", "Course", "Start", "End", "Seats", "Status",
                                                  "Notes", "Link"]
    own = store("slot", "list", user="ada", env={"COLUMNS": "200"}).stdout
    assert "ada@example.edu" not in own and "エイダ" not in own
    student = store("slot", "list", user="alan", env={"COLUMNS": "200"}).stdout
    assert "ada@example.edu" in student and "エイダ" in student  # a student needs to know who
    assert "Student" not in header("request", "list", user="alan")
    assert "alan" not in store("request", "list", user="alan", env={"COLUMNS": "200"}).stdout
    assert "Educator" not in header("request", "list", "--status", "all", user="ada")
    assert {"Student", "Educator"} <= set(header("request", "list", "--status", "all", user="root"))
    assert "Educator" not in header("course", "list", user="ada")
    assert "Educator" in header("course", "list", user="alan")


def test_narrow_lists_keep_ids_times_and_statuses_whole(store):
    now = datetime.now(timezone.utc)
    items = json.loads(store("request", "list", "--status", "all", "--json", user="root").stdout)
    out = store("request", "list", "--status", "all", user="root", env={"COLUMNS": "80"}).stdout
    _, rows = listing(out, 80, len(items), True)
    for item, row in zip(items, rows):
        start = datetime.fromisoformat(item["start"].replace("Z", "+00:00"))
        compact = start.strftime("%a %m-%d %H:%M" if start.year == now.year else "%a %Y-%m-%d %H:%M")
        assert re.match(rf"{item['id']}\s", row), row
        assert compact in row and f"  {item['status']}" in row, (compact, row)


def test_long_links_are_whole_with_wide_and_in_show_commands(store):
    slot = json.loads(store("slot", "list", "--json", user="ada").stdout)[0]
    narrow = store("slot", "list", user="ada", env={"COLUMNS": "200"}).stdout
    assert LINK not in narrow and "https://meet.example.edu/room-room" in narrow
    wide = store("slot", "list", "--wide", user="ada", env={"COLUMNS": "80"}).stdout
    assert NOTES.split("\n")[0].split()[-1] in wide and "Link" in wide.split("\n")[0]
    # one line a row, every link whole on it
    rows = wide.split("\n")[2:-2]
    assert len(rows) == len(json.loads(store("slot", "list", "--json", user="ada").stdout))
    assert all(row.endswith(LINK) for row in rows)
    for args in (("slot", "show", str(slot["id"])), ("request", "show", "1")):
        shown = store(*args, user="ada", env={"COLUMNS": "80"}).stdout
        # too long to fit beside its label: whole, on a line of its own
        assert re.search(rf"^link\n{re.escape(LINK)}(/alan)?$", shown, re.M), shown
        assert "https:" not in shown.replace(LINK, "") or f"{LINK}/alan" in shown
    assert MESSAGE.strip() in store("request", "show", "1", user="ada", env={"COLUMNS": "500"}).stdout


def test_wide_prints_every_cell_whole_one_line_a_row(store):
    items = json.loads(store("request", "list", "--status", "all", "--json", user="root").stdout)
    out = store("request", "list", "--status", "all", "--wide", user="root", env={"COLUMNS": "100"}).stdout
    assert "…" not in out
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == 2 + len(items) + 1  # header, rule, one line a row, caption
    assert [line.split()[0] for line in lines[2:-1]] == [str(item["id"]) for item in items]
    assert any(MESSAGE.strip() in line for line in lines)
    assert any(line.endswith(LINK + "/alan") for line in lines)
    assert lines[0].split() == ["ID", "Slot", "Course", "Start", "Student", "Educator",
                                "Status", "Message", "Reason", "/", "link"]
    assert lines[-1] == "times in UTC"


def test_user_text_stays_literal_and_on_its_row(store):
    out = store("slot", "list", "--status", "all", user="root", env={"COLUMNS": "250"}).stdout
    assert "[bold]x[/bold] [link=https://evil.example]z[/link]" in out
    assert "old \\x1b[31mred\\x1b[0m\\x07" in out  # an escape sequence from an old store, as text
    eve = store("request", "list", user="eve", env={"COLUMNS": "250"}).stdout
    assert ("  [bold]x[/bold] [link=https://evil.example]z[/link] rtl\\u202eevil\\u202c "
            "zero\u200bwidth") in eve  # markup as typed
    assert "\u202e" not in eve  # the bidi override cannot reorder the row; zero-width is harmless
    kat = store("request", "list", "--status", "all", user="kat", env={"COLUMNS": "200"}).stdout
    assert "Katherine 🌟 here⏎line two" in kat  # a line break in a cell keeps the row one line


def test_inbox_says_kinds_in_words_and_heads_every_column(store):
    out = store("inbox", "--all", "--peek", user="ada", env={"COLUMNS": "200"}).stdout
    assert out.split("\n")[0].split() == ["Request", "When", "Kind", "Text", "State"]
    kinds = [n["kind"] for n in json.loads(store("inbox", "--all", "--peek", "--json", user="ada").stdout)]
    assert kinds.count("request") == out.count("  new request  ") > 0
    alan = store("inbox", "--all", "--peek", user="alan", env={"COLUMNS": "200"}).stdout
    assert re.search(r"^\d+\s+\w{3} [\d-]+ \d\d:\d\d\s+approved\s+", alan, re.M), alan
    kat = store("inbox", "--all", "--peek", user="kat", env={"COLUMNS": "200"}).stdout
    assert "  rejected  " in kat


def test_a_slot_cancelled_notification_reads_slot_cancelled(cli):
    from conftest import future as ahead

    assert cli("init").exit_code == 0
    for name, role in (("ada", "educator"), ("alan", "student")):
        cli("user", "add", name, "--role", role)
    cli("course", "add", "M", "--title", "M", user="ada")
    cli("course", "enroll", "M", "alan", user="ada")
    [slot] = json.loads(cli("slot", "add", "--course", "M", "--start", iso(ahead(30)),
                            "--duration", "1h", "--json", user="ada").stdout)
    cli("request", "send", str(slot["id"]), user="alan")
    cli("slot", "cancel", str(slot["id"]), user="ada")
    assert json.loads(cli("inbox", "--peek", "--json", user="alan").stdout)[0]["kind"] == "slot_cancelled"
    out = cli("inbox", user="alan").stdout
    assert re.search(r"\s+slot cancelled\s+", out), out


def test_a_long_series_prints_ten_rows_and_a_summary_but_json_prints_all(cli):
    assert cli("init").exit_code == 0
    cli("user", "add", "ada", "--role", "educator")
    cli("course", "add", "M", "--title", "M", user="ada")
    args = ("slot", "add", "--course", "M", "--start", "2035-01-01T10:00Z", "--duration", "1h",
            "--repeat", "daily", "--count", "25")
    out = cli(*args, user="ada").stdout
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == 2 + 10 + 3, out
    assert [line.split()[0] for line in lines[2:12]] == [str(i) for i in range(1, 11)]
    assert lines[12:] == ["… 15 more", "25 slots, first Mon 2035-01-01 10:00, last Thu 2035-01-25 10:00",
                          "times in UTC"]
    again = cli(*args[:5], "2036-01-01T10:00Z", *args[6:], "--json", user="ada")
    assert len(json.loads(again.stdout)) == 25
    few = cli(*args[:5], "2037-01-01T10:00Z", *args[6:10], "--count", "20", user="ada").stdout
    assert len(few.rstrip("\n").split("\n")) == 2 + 20 + 1 and "more" not in few


@pytest.mark.parametrize("columns", ["abc", "-1", "0", "99999999999999999999", "", " ", "1e3", "٣٠"])
def test_an_unusable_columns_is_ignored(store, columns):
    for args, user in ((("slot", "list"), "alan"), (("user", "list"), "root"), (("whoami",), "ada")):
        result = store(*args, user=user, env={"COLUMNS": columns})
        assert result.exit_code == 0, (columns, result.stderr)
        assert "Traceback" not in result.stderr
        assert max(cell_len(line) for line in result.stdout.split("\n")) <= 200  # the default


def test_a_tiny_columns_still_gives_one_line_a_row(store):
    items = json.loads(store("slot", "list", "--json", user="alan").stdout)
    out = store("slot", "list", user="alan", env={"COLUMNS": "12"}).stdout
    _, rows = listing(out, 12, len(items), True)
    assert [row.split()[0] for row in rows] == [str(i["id"]) for i in items]


# -- colour and the pager, on the installed command ------------------------------------------------


def environment(store, user, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "PAGER", "SESSIONCTL_PAGER",
                        "SESSIONCTL_DEBUG")}
    env.update(SESSIONCTL_DB=str(store.db), SESSIONCTL_USER=user, SESSIONCTL_TZ="UTC", TERM="xterm")
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def on_tty(args, env, columns=100, lines=50) -> tuple[int, str, str]:
    """Run the installed command with a pseudo-terminal of ``columns`` x ``lines`` as stdout."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    process = subprocess.Popen([str(BIN), *args], stdin=subprocess.DEVNULL, stdout=slave,
                               stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    return process.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), stderr


def plain(text: str) -> str:
    """What a terminal shows: without colour codes and hyperlink targets."""
    return OSC8.sub("", SGR.sub("", text))


def piped(args, env) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def recorder(tmp_path):
    """A pager that records what it is given; ``recorder.seen()`` is that, or None."""
    script = tmp_path / "pager.py"
    record = tmp_path / "paged.txt"
    script.write_text("import sys\nopen(sys.argv[1], 'ab').write(sys.stdin.buffer.read())\n")

    class Recorder:
        command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(record))}"

        @staticmethod
        def seen():
            return record.read_text() if record.exists() else None

    return Recorder


GREEN = "\x1b[32mavailable\x1b[0m"


def test_statuses_are_coloured_on_a_terminal(store, recorder):
    env = environment(store, "ada", SESSIONCTL_PAGER=recorder.command)
    code, out, err = on_tty(["slot", "list"], env)
    assert (code, err) == (0, "")
    assert GREEN in out
    assert "\x1b[1mID" in out  # the header is bold
    assert all(cell_len(plain(line)) <= 100 for line in out.split("\n"))  # the window's width
    code, out, _ = on_tty(["request", "list", "--status", "all"], env)
    assert "\x1b[32mapproved\x1b[0m" in out and "\x1b[31mrejected\x1b[0m" in out
    assert "\x1b[33mpending\x1b[0m" in out
    assert recorder.seen() is None  # short enough: not paged


@pytest.mark.parametrize("how", ["NO_COLOR", "--color never", "both"])
def test_no_color_and_color_never_give_none_on_a_terminal(store, recorder, how):
    extra = {"NO_COLOR": "1"} if how != "--color never" else {}
    args = ["--color", "never"] if how != "NO_COLOR" else []
    env = environment(store, "ada", SESSIONCTL_PAGER=recorder.command, **extra)
    code, out, _ = on_tty([*args, "slot", "list"], env)
    assert code == 0 and "available" in out
    assert not SGR.search(out), out


def test_an_empty_no_color_is_not_set(store, recorder):
    env = environment(store, "ada", SESSIONCTL_PAGER=recorder.command, NO_COLOR="")
    assert GREEN in on_tty(["slot", "list"], env)[1]


def test_color_always_and_force_color_colour_a_pipe_but_never_json(store):
    plain = piped(["slot", "list"], environment(store, "ada"))
    assert plain.returncode == 0 and "\x1b" not in plain.stdout
    forced = piped(["--color", "always", "slot", "list"], environment(store, "ada", NO_COLOR="1"))
    assert GREEN in forced.stdout  # the flag beats the environment
    assert GREEN in piped(["slot", "list"], environment(store, "ada", FORCE_COLOR="1")).stdout
    never = piped(["--color", "never", "slot", "list"], environment(store, "ada", FORCE_COLOR="1"))
    assert "\x1b" not in never.stdout
    for args in (["--color", "always", "slot", "list", "--json"], ["slot", "show", "1", "--json"]):
        result = piped(args, environment(store, "ada", FORCE_COLOR="1"))
        assert result.returncode == 0 and "\x1b" not in result.stdout
        json.loads(result.stdout)


def test_json_on_a_terminal_has_no_colour(store, recorder):
    env = environment(store, "ada", SESSIONCTL_PAGER=recorder.command, FORCE_COLOR="1")
    code, out, _ = on_tty(["--color", "always", "request", "list", "--json"], env, lines=500)
    assert code == 0 and "\x1b" not in out
    json.loads(out)


def test_an_unknown_color_is_a_usage_error(store):
    result = piped(["--color", "sometimes", "slot", "list"], environment(store, "ada"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: unknown --color 'sometimes'")


def test_a_cut_link_is_a_hyperlink_to_the_whole_url_on_a_terminal(store, recorder):
    env = environment(store, "ada", SESSIONCTL_PAGER=recorder.command)
    _, out, _ = on_tty(["slot", "list"], env, columns=120)
    # the cell shows the link's start, cut with "…" (how much depends on the other columns,
    # which depend on the dates), and the hyperlink goes to the whole URL
    shown = re.findall(f"\x1b]8;;{re.escape(LINK)}\x1b\\\\([^\x1b]*)…\x1b]8;;\x1b\\\\", out)
    assert shown and all(LINK.startswith(cut) and len(cut) >= 20 for cut in shown), out
    assert "\x1b]8" not in piped(["slot", "list"], environment(store, "ada", COLUMNS="120")).stdout


def test_taller_than_the_screen_goes_through_the_pager(store, recorder):
    env = environment(store, "ada", SESSIONCTL_PAGER=recorder.command)
    code, out, err = on_tty(["request", "list", "--status", "all", "--wide"], env, lines=8)
    assert (code, err) == (0, "")
    paged = recorder.seen()
    assert paged is not None and "halting" in paged and "times in UTC" in paged
    assert "\x1b[32mapproved" in paged  # the pager gets the colours (less -R shows them)
    assert out == ""  # everything went to the pager, which printed nothing itself


def test_pager_from_pager_and_the_default_order(store, recorder, tmp_path):
    env = environment(store, "ada", PAGER=recorder.command)
    on_tty(["slot", "list", "--status", "all", "--wide"], env, lines=5)
    assert "Link" in (recorder.seen() or "")
    # SESSIONCTL_PAGER wins over PAGER; set but empty, it turns paging off
    env = environment(store, "ada", PAGER=recorder.command, SESSIONCTL_PAGER="")
    (tmp_path / "paged.txt").unlink()
    code, out, _ = on_tty(["slot", "list", "--status", "all", "--wide"], env, lines=5)
    assert code == 0 and "Link" in out and recorder.seen() is None


@pytest.fixture
def fake_less(tmp_path):
    """A pager called ``less`` that reads its input and records the ``LESS`` it was given."""
    script, record = tmp_path / "bin" / "less", tmp_path / "less-env.txt"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nimport os, sys\nsys.stdin.buffer.read()\n"
                      f"open({str(record)!r}, 'w').write(repr(os.environ.get('LESS')))\n")
    script.chmod(0o755)

    def seen(store, args, **extra):
        record.unlink(missing_ok=True)
        env = environment(store, "ada", PAGER=str(script), **extra)
        if "LESS" not in extra:
            env.pop("LESS", None)
        code, _, err = on_tty(args, env, lines=5)
        assert (code, err) == (0, "")
        return eval(record.read_text()) if record.exists() else "not paged"

    return seen


def test_the_pager_gets_less_frx_unless_less_is_set_and_s_for_wide_lists(store, fake_less, tmp_path):
    lists = ["slot", "list", "--status", "all"]
    assert fake_less(store, lists) == "FRX"  # as git does: colour shown, not its codes
    assert fake_less(store, [*lists, "--wide"]) == "FRXS"  # long lines scroll sideways
    assert fake_less(store, lists, LESS="-R") == "-R"  # yours is left as it is
    assert fake_less(store, [*lists, "--wide"], LESS="-R") == "-RS"
    assert fake_less(store, [*lists, "--wide"], LESS="-R --mouse") == "-R --mouse -S"
    assert fake_less(store, [*lists, "--wide"], LESS="") == "-S"
    # S is for less only: another pager gets LESS as it is
    other = tmp_path / "bin" / "more"
    other.write_text((tmp_path / "bin" / "less").read_text())
    other.chmod(0o755)
    env = environment(store, "ada", PAGER=str(other))
    env.pop("LESS", None)
    assert on_tty([*lists, "--wide"], env, lines=5)[0] == 0
    assert eval((tmp_path / "less-env.txt").read_text()) == "FRX"


def test_the_pager_environment_for_less_and_other_pagers():
    from sessionctl.output.terminal import pager_environment

    assert pager_environment(["less"], False, {})["LESS"] == "FRX"
    assert pager_environment(["/usr/bin/less", "-x4"], True, {})["LESS"] == "FRXS"
    assert pager_environment(["most"], True, {})["LESS"] == "FRX"
    assert pager_environment(["less"], True, {"LESS": "SR"})["LESS"] == "SR"
    assert pager_environment(["less"], True, {"LESS": "--mouse"})["LESS"] == "--mouse -S"


def tmux_screen(command: str, env: dict, size: tuple[int, int], keys=()) -> str:
    """What a tmux window of ``size`` (columns, lines) shows, colour codes included, once
    ``command`` has drawn; ``keys`` are then sent (to quit a pager)."""
    import shutil
    import time

    if not (shutil.which("tmux") and shutil.which("less")):
        pytest.skip("tmux or less is not installed (.ci/run installs them)")
    import tempfile

    where = tempfile.mkdtemp(prefix="sessionctl-tmux-")
    tmux = ["tmux", "-S", f"{where}/socket", "-f", "/dev/null"]
    keep = ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "PAGER", "LESS", "XDG_CONFIG_HOME",
            "XDG_CONFIG_DIRS")
    script = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                      if k in keep or k.startswith("SESSIONCTL_"))
    subprocess.run([*tmux, "new-session", "-d", "-x", str(size[0]), "-y", str(size[1]),
                    f'env -i TERM="$TERM" {script} {command}; sleep 30'], check=True)
    try:
        screen, last = "", None
        for _ in range(100):  # until the screen stops changing
            time.sleep(0.1)
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-e"], capture_output=True,
                                    text=True).stdout
            if screen == last and screen.strip():
                break
            last = screen
        for key in keys:
            subprocess.run([*tmux, "send-keys", key], check=True)
        return screen
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_pager_less_shows_colour_and_scrolls_wide_lists_sideways(store, size):
    env = environment(store, "ada", PAGER="less")
    env.pop("LESS", None)
    screen = tmux_screen(f"{BIN} slot list --status all --wide", env, size, keys=["q"])
    assert "\x1b[32m" in screen or "\x1b[34m" in screen, screen  # colours, drawn as colours
    assert "ESC[" not in screen and "^[" not in screen, screen  # never their codes as text
    rows = [SGR.sub("", line) for line in screen.split("\n")]
    assert any(row.startswith("ID  Course") for row in rows)
    assert all(cell_len(row) <= size[0] for row in rows)  # chopped, not wrapped: S
    assert sum(row.rstrip().endswith(">") for row in rows) >= 2  # less's mark of a chopped line


def test_no_pager_and_a_pipe_are_never_paged(store, recorder):
    env = environment(store, "ada", SESSIONCTL_PAGER=recorder.command)
    code, out, _ = on_tty(["--no-pager", "request", "list", "--status", "all", "--wide"], env, lines=5)
    assert code == 0 and "halting" in out and recorder.seen() is None
    result = piped(["request", "list", "--status", "all", "--wide"], env)
    assert result.returncode == 0 and "halting" in result.stdout and recorder.seen() is None


def test_a_missing_pager_prints_directly(store):
    env = environment(store, "ada", SESSIONCTL_PAGER="/nonexistent/pager -R")
    code, out, err = on_tty(["request", "list", "--status", "all", "--wide"], env, lines=5)
    assert (code, err) == (0, "")
    assert "halting" in out and plain(out).rstrip("\n").endswith("times in UTC")


def test_a_pager_quit_early_is_a_normal_exit(cli):
    assert cli("init").exit_code == 0
    cli("user", "add", "ada", "--role", "educator")
    cli("course", "add", "M", "--title", "M", user="ada")
    added = cli("slot", "add", "--course", "M", "--start", "2036-01-01T10:00Z", "--duration", "30m",
                "--repeat", "daily", "--count", "400", user="ada")
    assert added.exit_code == 0, added.stderr
    quitter = f"{shlex.quote(sys.executable)} -c 'import sys; sys.stdin.buffer.read(10)'"
    env = environment(cli, "ada", SESSIONCTL_PAGER=quitter)
    # some 100 kB of JSON: more than a pipe holds, so the pager's end cuts our writing short
    code, out, err = on_tty(["slot", "list", "--json"], env, lines=20)
    assert (code, out, err) == (0, "", "")  # the pager took it (and quit); no traceback


def test_errors_are_never_paged(store, recorder):
    env = environment(store, "ada", SESSIONCTL_PAGER=recorder.command)
    code, out, err = on_tty(["slot", "show", "999999"], env, lines=1)
    assert code == 3 and out == "" and err.startswith("error: no slot 999999")
    assert recorder.seen() is None


def test_the_terminal_width_is_the_windows_unless_columns_says_otherwise(store, recorder):
    env = environment(store, "alan", SESSIONCTL_PAGER=recorder.command)
    for columns, expected in ((None, 90), ("abc", 90), ("130", 130)):
        env_now = {**env, **({"COLUMNS": columns} if columns else {})}
        code, out, _ = on_tty(["--color", "never", "request", "list", "--status", "all"], env_now, columns=90)
        lines = out.rstrip("\n").split("\n")
        assert code == 0 and max(cell_len(plain(line)) for line in lines) == expected, (columns, out)


# -- what 80 columns look like ---------------------------------------------------------------------


@pytest.fixture
def office_hours(world, monkeypatch):
    """ada's week on a fixed clock (Sunday 2027-01-10 09:00 UTC): two slots, one booked by alan."""
    monkeypatch.setattr("sessionctl.timeparse.utcnow",
                        lambda: datetime(2027, 1, 10, 9, 0, tzinfo=timezone.utc))

    def ok(*args, user):
        result = world(*args, user=user, env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.stderr
        return result.stdout

    ok("user", "set", "--display", "Ada Lovelace", user="ada")
    ok("slot", "add", "--course", "MATH101", "--start", "2027-01-11 10:00", "--duration", "1h",
       "--notes", "Office hour: bring your questions about loops and recursion",
       "--link", "https://meet.example.edu/ada/office-hours", user="ada")
    ok("slot", "add", "--course", "MATH101", "--start", "2028-01-12 14:00", "--duration", "30m",
       "--capacity", "2", user="ada")
    ok("request", "send", "1", "--message", "Can we go over question 3 of the worksheet?", user="alan")
    ok("request", "approve", "1", "--link", "https://meet.example.edu/ada/alan-2027-01-11", user="ada")
    return ok


def test_eighty_columns_for_an_educator_and_a_student(office_hours):
    # ada's own name is not repeated on her slots; the notes are cut, the link column goes
    assert office_hours("slot", "list", "--status", "all", user="ada").split("\n") == [
        "ID  Course   Start                 End    Seats  Status     Notes",
        "─" * 80,
        "1   MATH101  Mon 01-11 10:00       11:00  1/1    booked     Office hour: bring…",
        "2   MATH101  Wed 2028-01-12 14:00  14:30  0/2    available",
        "times in UTC",
        "",
    ]
    # a student sees who: the educator (the e-mail goes at 80 columns)
    assert office_hours("slot", "list", "--status", "all", user="alan").split("\n") == [
        "ID  Course   Start                 End    Seats  Status     Educator",
        "─" * 78,
        "1   MATH101  Mon 01-11 10:00       11:00  1/1    booked     Ada Lovelace (ada)",
        "2   MATH101  Wed 2028-01-12 14:00  14:30  0/2    available  Ada Lovelace (ada)",
        "times in UTC",
        "",
    ]
    # and not themselves on their requests; the link is cut (on a terminal it stays clickable)
    assert office_hours("request", "list", user="alan").split("\n") == [
        "ID  Slot  Course   Start            Educator  Status    Reason / link",
        "─" * 80,
        "1   1     MATH101  Mon 01-11 10:00  ada       approved  https://meet.example.ed…",
        "times in UTC",
        "",
    ]
    # the inbox wraps its text inside its column and starts each row with the request's id
    assert office_hours("inbox", "--all", "--peek", user="alan").split("\n") == [
        "Request  When             Kind      Text                                   State",
        "─" * 80,
        "1        Sun 01-10 09:00  approved  Ada Lovelace approved your request 1   new",
        "                                    for MATH101 on 2027-01-11 10:00 UTC;",
        "                                    join at",
        "                                    https://meet.example.edu/ada/alan-2027-01-11",
        "times in UTC",
        "",
    ]
    # a show command never splits a link; a table in it wraps its text at words
    shown = office_hours("slot", "show", "1", user="ada").split("\n")
    assert "link      https://meet.example.edu/ada/office-hours" in shown
    assert shown[-9:-1] == [
        "ID  Slot  Course   Start            Student  Status    Message     Reason / link",
        "─" * 80,
        "1   1     MATH101  Mon 01-11 10:00  alan     approved  Can we go   ↓",
        "                                                       over",
        "                                                       question 3",
        "                                                       of the",
        "                                                       worksheet?",
        "https://meet.example.edu/ada/alan-2027-01-11",
    ]


@pytest.mark.parametrize("value", ["less '-R", "less\u202e -R", "no-such-pager\u200b", "\udcff"])
def test_an_unusable_pager_setting_prints_directly(store, value):
    """A SESSIONCTL_PAGER that cannot be split into a command (an open quote), names no
    program (a bidi or zero-width character in it), or is not UTF-8: the output is printed as
    it is, or refused with exit 2, never a crash or a command run through a shell. (A line
    break splits like a space: ``less\n-R`` is ``less -R``.)"""
    env = environment(store, "ada")
    env_bytes = {k.encode(): os.fsencode(v) for k, v in env.items()}
    env_bytes[b"SESSIONCTL_PAGER"] = os.fsencode(value)
    code, out, err = on_tty(["request", "list", "--status", "all", "--wide"], env_bytes, lines=8)
    assert "Traceback" not in err and "internal error" not in err
    if code == 0:
        assert "times in UTC" in out
    else:
        assert code == 2 and err.startswith("error: ") and out == ""


# -- found by the fuzzer: COLUMNS that is no width ------------------------------------------------

@pytest.mark.parametrize("columns", ["abc", "80.5", "", " ", "0", "-5"])
@pytest.mark.parametrize("args", [["course", "list"], ["slot", "list"], ["inbox", "--peek"]], ids=" ".join)
def test_an_unusable_columns_value_is_ignored(built_store, columns, args):
    """docs/reference/output.md#width: 'An unusable COLUMNS value is ignored, never a crash.' COLUMNS=abc crashes
    (int('abc') in the console of render.py, now output/terminal.py); COLUMNS=0 or -5 makes Rich print nothing at all while the
    command reports success."""
    result = proc(*args, user="ada", db=built_store, env={"COLUMNS": columns})
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    expected = {"course list": "MATH101", "slot list": "MATH101", "request list": "alan",
                "course roster": "alan", "inbox --peek": "alan"}[" ".join(args[:2])]
    assert expected in out, out


def test_a_huge_columns_value_does_not_break_help(built_store):
    """Typer draws --help with Rich at COLUMNS wide: 99999999999 asks Rich for a 100 GB line
    (MemoryError, exit 1); 1000000 prints 18 MB of padding. docs/reference/output.md#width: an unusable COLUMNS value
    is ignored."""
    result = proc("slot", "list", "--help", user="ada", db=built_store, env={"COLUMNS": "99999999999"})
    assert result.returncode == 0, result.stderr.decode()
    assert b"--course" in result.stdout and len(result.stdout) < 100_000


# -- found by the second attack pass: a terminal that cannot encode the text ----------------------

@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_that_cannot_encode_the_text_still_gets_every_list(tmp_path, encoding):
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("sessionctl")
    db = tmp_path / "demo.db"
    assert subprocess.run([exe, "demo", "--db", str(db)], capture_output=True).returncode == 0
    env = {**os.environ, "SESSIONCTL_DB": str(db), "SESSIONCTL_TZ": "UTC", "COLUMNS": "100",
           "PYTHONIOENCODING": encoding}
    for user, args in [("ada", ["slot", "list"]), ("ada", ["request", "list", "--status", "all"]),
                       ("alan", ["request", "show", "1"]), ("ada", ["agenda"]),
                       ("ada", ["course", "report", "MATH101"])]:
        result = subprocess.run([exe, *args], env={**env, "SESSIONCTL_USER": user},
                                capture_output=True)
        assert result.returncode == 0, (args, result.stderr)
        result.stdout.decode(encoding)  # all of it in the terminal's encoding
        assert b"Traceback" not in result.stderr


# -- found by the third attack pass: output that cannot be written says whether the change was made ---

@pytest.fixture(params=["buffered", "unbuffered"])
def booking(tmp_path, request):
    """A SQLite store with ada's course C1, student al enrolled, slot 1 tomorrow; ``as_(user,
    *args, stdout=…)`` runs sessionctl in a new process with that stdout, its output buffered
    as Python does by default (a failed write shows only when the buffer is flushed), or
    unbuffered (PYTHONUNBUFFERED, as on this machine)."""
    db = tmp_path / "store.db"

    def as_(user, *args, stdout=subprocess.PIPE, env=None, **kwargs) -> subprocess.CompletedProcess:
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("SESSIONCTL_") and k != "PYTHONUNBUFFERED"}
        if request.param == "unbuffered":
            environ["PYTHONUNBUFFERED"] = "1"
        environ.update(SESSIONCTL_DB=str(db), SESSIONCTL_USER=user, SESSIONCTL_TZ="UTC", NO_COLOR="1",
                       **(env or {}))
        done = subprocess.run([sys.executable, "-m", "sessionctl", *args], stdout=stdout,
                              stderr=subprocess.PIPE, text=True, env=environ, timeout=60, **kwargs)
        assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
        return done

    for user, *args in (("root", "init"), ("root", "user", "add", "ada", "--role", "educator"),
                        ("root", "user", "add", "al", "--role", "student"),
                        ("ada", "course", "add", "C1", "--title", "Course"),
                        ("ada", "course", "enroll", "C1", "al"),
                        ("ada", "slot", "add", "--course", "C1", "--start", "tomorrow 10:00",
                         "--duration", "1h")):
        assert as_(user, *args).returncode == 0
    as_.db = db
    return as_


def full():
    return open("/dev/full", "w")


def test_a_closed_stdout_is_refused_before_anything_happens(booking):
    before = snapshot(booking.db)
    for args in (("slot", "show", "1"), ("request", "send", "1")):
        result = booking("al", *args, stdout=None, pass_fds=(), preexec_fn=lambda: os.close(1))
        assert result.returncode == 6, result.stderr
        assert result.stderr == ("error: standard output is closed; nothing was changed\n"
                                 "hint: send it to /dev/null instead (> /dev/null)\n")
    assert snapshot(booking.db) == before


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_output_to_a_full_disk_after_a_change_says_the_change_was_made(booking):
    with full() as out:
        sent = booking("al", "request", "send", "1", stdout=out)
    assert sent.returncode == 6 and "Traceback" not in sent.stderr
    assert sent.stderr.startswith("error: cannot write the output: No space left on device; "
                                  "the change was made\n"), sent.stderr
    assert [r["status"] for r in json_of(booking("al", "request", "list", "--json"))] == ["pending"]
    before = snapshot(booking.db)
    with full() as out:
        shown = booking("al", "slot", "show", "1", stdout=out)
    assert shown.returncode == 6 and "; nothing was changed\n" in shown.stderr, shown.stderr
    assert snapshot(booking.db) == before
    with full() as out:  # several ids: each was done, then the results could not be written
        cancelled = booking("al", "request", "cancel", "1", "1", stdout=out)
    assert cancelled.returncode == 6 and "the change was made" in cancelled.stderr
    for args in (["--help"], ["--version"], ["slot", "list", "--help"], ["slot", "list"],
                 ["request", "export", "--ics"]):
        with full() as out:
            result = booking("al", *args, stdout=out)
        assert result.returncode == 6 and result.stderr.startswith(
            "error: cannot write the output: No space left on device"), (args, result.stderr)
    assert booking("al", "slot", "list", "--json").stdout.startswith("[")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_inbox_marks_notifications_read_only_once_they_were_written(booking):
    assert booking("al", "request", "send", "1").returncode == 0
    before = snapshot(booking.db)
    for args in ((), ("--json",), ("--wide",)):
        with full() as out:
            lost = booking("ada", "inbox", *args, stdout=out)
        assert lost.returncode == 6 and "nothing was changed" in lost.stderr, lost.stderr
    assert snapshot(booking.db) == before  # still unread
    shown = json_of(booking("ada", "inbox", "--json"))
    assert [(n["kind"], n["read"]) for n in shown] == [("request", False)]
    assert json_of(booking("ada", "inbox", "--json")) == []  # written, so now read


def test_a_reader_that_goes_away_ends_the_demo_quietly():
    """``sessionctl demo | head -1``: click ends a broken pipe with exit 1 and Python's own
    flush at exit complains; sessionctl ends quietly, as for a list."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    environ.pop("PYTHONUNBUFFERED", None)
    demo = subprocess.Popen([sys.executable, "-m", "sessionctl", "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environ)
    assert demo.stdout.readline().startswith(b"# a throwaway store")
    demo.stdout.close()  # the reader goes away (| head -1)
    assert demo.wait(timeout=120) == 0
    assert demo.stderr.read() == b""


def test_the_reports_bars_are_ascii_on_an_ascii_terminal(booking):
    assert booking("al", "request", "send", "1").returncode == 0
    assert booking("ada", "request", "approve", "1").returncode == 0
    ascii_ = booking("ada", "course", "report", "C1", "--to", "+30d", env={"PYTHONIOENCODING": "ascii"})
    assert ascii_.returncode == 0, ascii_.stderr
    assert "seats booked (#) and free (.) by week" in ascii_.stdout and "\\u" not in ascii_.stdout
    assert any(line.endswith("1/1") and "#" in line for line in ascii_.stdout.splitlines())
    utf8 = booking("ada", "course", "report", "C1", "--to", "+30d", env={"PYTHONIOENCODING": "utf-8"})
    assert "seats booked (█) and free (░) by week" in utf8.stdout and "█" * 4 in utf8.stdout


# -- its JSON -------------------------------------------------------------------------------------

def json_of(result) -> list:
    import json

    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [
    ("ada", "course", "set", "C1", "--max-active", "off"),  # already off
    ("ada", "course", "enroll", "C1", "al"),  # already enrolled
    ("al", "user", "set", "--tz", "UTC"),  # already UTC (set below)
])
def test_a_change_that_changes_nothing_says_nothing_was_changed(booking, args):
    assert booking("al", "user", "set", "--tz", "UTC").returncode == 0
    before = snapshot(booking.db)
    with full() as out:
        done = booking(*args, stdout=out)
    assert done.returncode == 6 and done.stderr.startswith(
        "error: cannot write the output: No space left on device; nothing was changed\n"), done.stderr
    assert snapshot(booking.db) == before


def on_one_tty(args, env, columns=100, lines=50) -> str:
    """What a terminal shows when stdout and stderr both go to it, in the order written."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    process = subprocess.Popen([str(BIN), *args], stdin=subprocess.DEVNULL, stdout=slave,
                               stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    process.wait(timeout=60)
    return plain(b"".join(chunks).decode().replace("\r\n", "\n"))


def test_errors_and_a_dry_runs_note_come_after_the_paged_output(store, tmp_path):
    """A pager (here one that prints what it pages) would cover or scroll away what was said
    on stderr before it: errors and the dry run's note come last, so a dry run never ends
    looking as if it happened."""
    pager = tmp_path / "pager.py"
    pager.write_text("import sys\nsys.stdout.write(sys.stdin.read())\n")
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(pager))}"
    env = environment(store, "ada", SESSIONCTL_PAGER=command)
    shown = on_one_tty(["slot", "cancel", "999", "1-40", "--dry-run"], env, lines=5).splitlines()
    assert shown[-1] == "dry run: nothing was changed", shown
    errors = [i for i, line in enumerate(shown) if line.startswith(("error:", "hint:"))]
    results = [i for i, line in enumerate(shown) if line.startswith("slot ")]
    assert errors and results and max(results) < min(errors), shown
