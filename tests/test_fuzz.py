"""Fuzzing every command and option of the CLI.

Hypothesis walks the Typer/click command tree from ``sessionctl.cli.app``, so a new
command or option is fuzzed without touching this file. For each leaf command it builds argument
lists that mix valid-looking values (course codes, ids, WHEN, DURATION, RRULE …) with hostile
ones (control characters, line and paragraph separators, bidi overrides, zero-width characters,
NUL, Rich markup, huge and negative numbers, 100k-character strings, odd WHENs and RRULEs, odd
paths, lone surrogates — what Python makes of invalid UTF-8 in argv), in three modes: a
known-good invocation (``BASES``) with one or two values swapped for hostile ones, valid values
for every parameter with one to three hostile ones, and everything hostile. It runs them
in-process on a fresh copy of a populated store as the admin (root), an educator (ada) and a
student (alan), now and then as someone unknown, with odd global options (``--db``, ``--tz``)
and environment (``COLUMNS``, ``SESSIONCTL_TZ``, ``SESSIONCTL_LOCK_TIMEOUT``, ``FORCE_COLOR``).
Every example must keep the contract of docs/reference/exit-codes.md and output.md#json:

- the exit code is 0, 2, 3, 4 or 5 (6 only where the store or the mail server is legitimately
  unavailable: ``notify send`` to a closed local port, a ``--db`` that is not a store);
- no traceback anywhere;
- on a nonzero exit stdout is empty and stderr is ``error: …`` optionally followed by one
  ``hint: …``. The only other lines allowed in between are indented ones (``  …``): the
  documented lists of a series' conflicts or DST-refused occurrences. User text must never
  start a line of its own;
- a refusal changes nothing: the store is row for row as it was;
- ``--json`` output of a success is one JSON document;
- no example runs for more than HANG_SECONDS.

Each distinct root cause fails as its own exception type (``exit 1: ValueError at
timeparse.py:161``), so Hypothesis reports every distinct defect of a command, not only the
first. In CI the examples are derandomized (the same every run) and few (about 25 per command).
For bug hunting: ``SESSIONCTL_FUZZ_EXAMPLES=N`` runs N random examples per command;
``SESSIONCTL_FUZZ_LOG=FILE`` records each failing example as a JSON line and keeps going;
``SESSIONCTL_FUZZ_TRACE=FILE`` records every example's exit code and first error line.

Nothing outside a scratch folder is written: paths that a command writes are always inside it
(cwd, HOME and the temp dir point there too). In particular the fuzz never names /dev/null or
another device for ``--out`` or ``--db``: ``request export --out /dev/null`` renames a regular
file over the device (see tests/test_export.py's test_export_to_a_device_writes_through_it_and_never_replaces_it).
No network either: ``--smtp`` names 127.0.0.1 on a closed port or does not parse.

A defect the fuzz finds gets a plain regression test in the test file of its feature (through
the installed command in a subprocess, ``tests/runkit.py``, wherever real argv bytes, a real
locale or a real process matter), never here.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import snapshot
from runkit import closed_port
from sessionctl.cli import app

# -- the command tree --------------------------------------------------------------------------

ROOT = typer.main.get_command(app)


def _walk(group, path=()):
    for name in sorted(group.commands):
        command = group.commands[name]
        if hasattr(command, "commands"):
            yield from _walk(command, path + (name,))
        else:
            yield path + (name,), command


COMMANDS = dict(_walk(ROOT))
SLOW = {("demo",)}  # builds a whole store: a few examples only

EXAMPLES = int(os.environ.get("SESSIONCTL_FUZZ_EXAMPLES", "0") or 0)
FUZZ_LOG = os.environ.get("SESSIONCTL_FUZZ_LOG")
TRACE = os.environ.get("SESSIONCTL_FUZZ_TRACE")  # every example's exit code and first error line
HANG_SECONDS = 8

# -- values --------------------------------------------------------------------------------------

CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x85, 0x9B)]
SEPARATORS = ["\n", "\r", "\r\n", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1e"]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
ZERO_WIDTH = [chr(c) for c in (*range(0x200B, 0x2010), 0xFEFF)]
SURROGATES = ["\udcff", "\udcfe", "\udc80"]  # argv bytes 0xff 0xfe 0x80 after surrogateescape
SPECIALS = CONTROL + SEPARATORS + BIDI + ZERO_WIDTH + SURROGATES + [
    "\t", " ", "\u00a0", "\u3000", "é", "ß", "\u0301", "\U0001F600", "\ufffd", "[", "]", "\\",
    "'", '"', "%", "{", "$", "`", ";", "=", ",", ":", "+", "-", "/", "~", "*", "@", "<", ">",
]
LONG = "x" * 100_000
HOSTILE = [
    "", " ", "\t", "\n", "a\nb", "line1\r\nline2", "\r", "cr\ronly", "ls\u2028x", "ps\u2029x",
    "nel\u0085x", *[f"bidi{c}text" for c in BIDI], *[f"zw{c}x" for c in ZERO_WIDTH],
    "nul\x00x", "\x00", "bell\x07", "esc\x1b[31mred\x1b[0m", "\x1b]8;;https://evil\x07x\x1b]8;;\x07",
    "del\x7f", "\x9b31m", "[bold]bold[/bold]", "[link=https://evil.example]click[/link]", "[/]",
    "[", "]", ":smile:", "99999999999999999999999", "-99999999999999999999999", "-1", "-0", "0",
    "1.5", "-2.5e10", "1e309", "nan", "inf", "0x1F", "\u0661\u0662", "\u00b2",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    LONG, "\u00e9" * 70_000, "\U0001F600" * 1000, "a\n" * 5000,
    "2027-01-01 10:00+25:00", "2027-01-01T10:00+24:00", "2027-01-01T10:00-99:99",
    "+99999999d", "-99999999d", "+0m", "12/03/2026", "25/12/2026", "0000-00-00", "9999-12-31 23:59",
    "1969-12-31", "Feb 30 2027", "tomorrow 25:00", "mon 99:99", "now",
    "FREQ=YEARLY;BYEASTER=999", "FREQ=SECONDLY", "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30",
    "RRULE:", ";;;", "FREQ=", "--help", "-h", "--json", "--", "-", "%s%n%x", "{0}{name}", "$(id)",
    "`id`", "'", '"', "\\", "\\x00", "..", "../..", "/", "~", "\udcff\udcfe", "a\udcffb",
]

WHEN = [
    "+1d", "+2d", "+3h", "+90m", "+10d", "-1d", "now", "today", "tomorrow", "tomorrow 10:00",
    "tomorrow 9:30", "mon 9:00", "fri 2pm", "sun", "today 23:59", "2027-03-01 10:00",
    "2027-03-01T09:00Z", "2027-03-01 10:00+01:00", "2027-03-01", "Mar 1 2027 10am",
    "2027-03-14 02:30", "2027-11-07 01:30", "2026-01-01 10:00", "10:00 PST", "2h", "12/03/2026",
    "2027-01-01T10:00+25:00", "2027-01-01 10:00-24:00", "Jan 1 2027 10:00 +2500", "+99999999d",
    "9000-01-01", "8999-12-31 23:00", "1970-01-01T00:00:01Z",
]
DURATION = ["30m", "1h", "1h30m", "90m", "2d", "12h", "13h", "0m", "45", "3660d", "3661d", "1H",
            " 1h ", "1h 30m", "-1h", "99999999999999999999d", "1d1h1m", "15m"]
RRULE_FREQ = ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY", "XX", ""]
RRULE_PART = [
    "COUNT=3", "COUNT=0", "COUNT=-1", "COUNT=99999999999999999999", "INTERVAL=2", "INTERVAL=0",
    "INTERVAL=99999999999999999999", "UNTIL=20270401T000000Z", "UNTIL=20270401", "UNTIL=garbage",
    "UNTIL=99991231T235959Z", "BYDAY=MO,WE", "BYDAY=XX", "BYDAY=1MO", "BYDAY=-1FR", "BYDAY=0MO",
    "BYMONTHDAY=30", "BYMONTHDAY=0", "BYMONTHDAY=-31", "BYMONTHDAY=32", "BYMONTH=2", "BYMONTH=13",
    "BYHOUR=25", "BYHOUR=10", "BYMINUTE=61", "BYSECOND=60", "BYSETPOS=0", "BYSETPOS=-1",
    "BYWEEKNO=54", "BYWEEKNO=1", "BYYEARDAY=367", "BYYEARDAY=-1", "BYEASTER=999",
    "BYEASTER=-999", "BYEASTER=0", "WKST=XX", "WKST=SU", "DTSTART=20270101T000000", "FOO=1",
    "COUNT=3;COUNT=4", "=", "BYDAY=", "X",
]
SMTP_SAFE = re.compile(r"//")  # only the curated URLs may name a host: no network in the fuzz


def _insert(pair):
    base, junk = pair
    if not base:
        return junk
    at = len(base) // 2
    return base[:at] + junk + base[at:]


TEXT = st.text(alphabet=st.one_of(st.sampled_from([c for c in SPECIALS if len(c) == 1]),
                                   st.characters(exclude_categories=("Cs",))), max_size=40)
# (Lone surrogates enter only as SURROGATES: argv bytes that are not UTF-8 become U+DC80-U+DCFF
# and nothing else; other surrogates cannot reach a real process.)


def values(valid: list[str], odd: list[str] = (), *, text=True) -> tuple:
    """(valid, hostile) strategies for one parameter: the hostile side mixes the parameter's own
    odd values, the shared hostile list, valid values with junk inside, and arbitrary text."""
    hostile = [
        st.sampled_from(list(odd) + HOSTILE),
        st.tuples(st.sampled_from(valid), st.sampled_from(SPECIALS + HOSTILE[:60])).map(_insert),
    ]
    if odd:
        hostile.append(st.sampled_from(list(odd)))
    if text:
        hostile.append(TEXT)
    return st.sampled_from(valid), st.one_of(*hostile)


def rrules() -> tuple:
    composed = st.tuples(
        st.sampled_from(["", "", "RRULE:", "rrule:"]),
        st.sampled_from(RRULE_FREQ),
        st.lists(st.sampled_from(RRULE_PART), max_size=3),
    ).map(lambda t: t[0] + ";".join([f"FREQ={t[1]}", *t[2]]))
    valid, hostile = values(
        ["FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4", "FREQ=DAILY;COUNT=3", "FREQ=DAILY", "RRULE:FREQ=WEEKLY",
         "FREQ=MONTHLY;BYMONTHDAY=1,15;COUNT=4", "FREQ=YEARLY;BYEASTER=1;COUNT=2"],
        ["FREQ=YEARLY;BYEASTER=999", "FREQ=YEARLY;BYEASTER=-999", "FREQ=SECONDLY",
         "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30;COUNT=2", "FREQ=DAILY;BYHOUR=25", "FREQ=DAILY;BYSETPOS=0",
         "FREQ=YEARLY;BYWEEKNO=54", "FREQ=WEEKLY;WKST=XX", "FREQ=MONTHLY;BYMONTHDAY=0",
         "FREQ=DAILY;UNTIL=20270101T000000+0100", "FREQ=DAILY;INTERVAL=99999999999999999999"])
    return valid, st.one_of(composed, composed, hostile)


class Box:
    """A scratch folder with every odd path the fuzz may name; nothing outside it is written."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "adir").mkdir(exist_ok=True)
        (root / "text.txt").write_text("not a database\n")
        (root / "roster.csv").write_text("name,email,display\nkat,kat@example.edu,Kat\nnewbie,,New\n")
        (root / "bom.csv").write_text("\ufeffname;email\nkat;kat@example.edu\n")
        (root / "big.csv").write_text("name,display\nkat," + "x" * 131_073 + "\n")
        (root / "binary.csv").write_bytes(b"name\n\xff\xfe\x00bad\n")
        (root / "nul.csv").write_text("name\nka\x00t\n")
        (root / "noname.csv").write_text("email\na@b.cd\n")
        (root / "empty.csv").write_text("")
        for name, target in [("loop", "loop"), ("loopA", "loopB"), ("loopB", "loopA"),
                             ("dangling", "nowhere/x")]:
            if not (root / name).is_symlink():
                (root / name).symlink_to(target)
        self.long = root / ("n" * 300)

    def path_values(self, *, read: bool) -> tuple:
        r = self.root
        valid = ([str(r / "roster.csv"), str(r / "bom.csv"), "roster.csv"] if read else
                 [str(r / "new.ics"), "new-relative.ics", str(r / "adir" / "new.ics")])
        odd = [str(r / "adir"), str(r), str(self.long), str(r / "loop"), str(r / "loopA"),
               str(r / "loop" / "x"), str(r / "dangling"), str(r / "missing" / "x.ics"),
               str(r / "text.txt"), str(r / "a\nb.ics"), str(r / "a\u202eb.ics"),
               str(r / "\udcff.ics"), ".", "", "~", str(r / ("x" * 5000)), str(r / "n" / ("n" * 300))]
        if read:
            odd += [str(r / n) for n in ("big.csv", "binary.csv", "nul.csv", "noname.csv",
                                         "empty.csv", "text.txt")] + ["-", "/dev/null"]

        def inside(text: str) -> str:  # arbitrary text, but always a name inside the box
            return str(r / (text.replace("/", "_").replace("\x00", "_")[:200] or "_"))

        return st.sampled_from(valid), st.one_of(st.sampled_from(odd), st.sampled_from(odd),
                                                 TEXT.map(inside), st.sampled_from(HOSTILE[:60]).map(inside))


def pool_for(param, box: Box, port: int) -> tuple:
    """(valid, hostile) strategies for one option or argument, by its name, metavar and type."""
    opt = (param.opts or [param.name])[0]
    metavar = (param.metavar or "").upper()
    kind = getattr(param.type, "name", "")
    if metavar in ("FILE", "PATH", "PATH_OR_URL") or kind == "path":
        return box.path_values(read=opt == "--from-csv")
    if opt == "--smtp":
        url = f"smtp://127.0.0.1:{port}"
        odd = [f"smtps://127.0.0.1:{port}", f"{url}?starttls=1", f"smtp://u:p@127.0.0.1:{port}",
               f"smtp://u@127.0.0.1:{port}", f"{url}/x", f"{url}?x=1", f"{url}?starttls=maybe",
               "smtp://127.0.0.1:99999", "smtp://[::1", "smtp://:25", "http://127.0.0.1:25", "", " "]
        valid, hostile = values([url], odd)
        # no network in the fuzz: only the curated URLs may name a host
        return valid, hostile.map(lambda v: v if "127.0.0.1" in v or "[::1" in v else SMTP_SAFE.sub("_", v))
    if metavar == "WHEN":
        return values(["+2d", "+10d", "+3h", "+90m", "tomorrow 10:00", "tomorrow 9:30", "mon 9:00",
                       "fri 2pm", "2027-03-01 10:00", "2027-03-01T09:00Z", "2027-03-01 10:00+01:00",
                       "Mar 1 2027 10am", "2027-03-01", "now", "today", "-1d", "2027-04-30"], WHEN)
    if metavar == "DURATION":
        return values(["30m", "1h", "1h30m", "90m", "2h", "15m"], DURATION)
    if metavar == "RULE":
        return rrules()
    if metavar == "URL":
        return values(["https://meet.example.edu/x", "http://example.edu"],
                      ["ftp://example.edu", "javascript:alert(1)", "https://", "https://" + "a" * 2100,
                       "", "https://example.edu/\u202eevil", "HTTPS://EXAMPLE.EDU", "https://a b"])
    if metavar == "ADDR":
        return values(["a@example.edu", "Ada <ada@example.edu>"],
                      ["jösé@exämple.edu", "José <jösé@exämple.edu>", "José <jose@example.edu>", "x",
                       "a@b", "", "<>", "a@b.c\n", "\"quoted\" <q@example.edu>", "a@example.edu, b@example.edu"])
    if metavar == "ZONE" or opt == "--tz":
        return values(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"],
                      ["Nope/Zone", "", "../../etc/passwd", "/etc/localtime", "utc", "EST5EDT",
                       "Etc/GMT+14", "Europe/Berlin\x00", " UTC", "posixrules", "Factory", "localtime"])
    if metavar == "CODE":
        return values(["MATH101", "PHYS1", "NEW1"], ["math101", "NOPE", "A" * 32, "A" * 33, "a.b_c-d"])
    if metavar in ("NAME", "[NAME]", "STUDENT...", "[STUDENT]...") or param.name == "name":
        return values(["ada", "bob", "alan", "kat", "eve", "root", "newuser"],
                      ["nobody", "Ada", "a" * 64, "a" * 65, "x@y", ".dot"])
    if metavar in ("ID", "SLOT_ID") or kind == "int range":
        return values(["1", "2", "3", "4"], ["5", "99", "0", "-1", "abc", "1.0", "0x1"], text=False)
    if metavar == "N" or kind == "int":
        return values(["1", "2", "3", "100"], ["101", "1000", "1001", "0", "-1"], text=False)
    if metavar == "DURATION|OFF":  # course policies
        return values(["2h", "30m", "1d", "off", "OFF", "1h30m"], DURATION + ["366d", "367d", "of"])
    if metavar == "N|OFF":
        return values(["1", "2", "1000", "off"], ["0", "1001", "-1", "99999999999999999999",
                                                   "\u0661", "2 ", "off\n", "1e3"], text=False)
    if metavar == "1..5":
        return values(["1", "3", "5"], ["0", "6", "-1", "4.5", "99999999999999999999"], text=False)
    if "|" in metavar or metavar == "ROLE":
        choices = metavar.lower().split("|") if "|" in metavar else ["admin", "educator", "student"]
        return values(choices, ["ALL", "", "Pending", "waiting"])
    if metavar == "TEXT":
        return values(["hello", "Bring question 3", "Maths"],
                      ["x" * 2000, "x" * 2001, "line one\nline two", "tab\tseparated"])
    return values(["x", "hello", "1"])


# Known-good invocations on the populated store (the ``populated`` fixture): the fuzz also
# starts from one of these and swaps in one or two hostile values, which gets the hostile value
# past the other checks and deep into the command (series expansion, CSV rows, the mail
# sender…). Keys are an option's first name or an argument's name. Commands without an entry
# (new ones) are fuzzed from their parameters alone.
BASES = {
    ("slot", "add"): [
        ("ada", {"--course": "MATH101", "--start": "2027-03-01 10:00", "--duration": "1h"}),
        ("ada", {"--course": "MATH101", "--start": "2027-03-01 10:00", "--duration": "1h",
                 "--repeat": "weekly", "--count": "3"}),
        ("ada", {"--course": "MATH101", "--start": "2027-03-01 10:00", "--duration": "45m",
                 "--rrule": "FREQ=WEEKLY;BYDAY=MO,WE", "--count": "4"}),
        ("ada", {"--course": "MATH101", "--start": "2027-03-01 10:00", "--duration": "45m",
                 "--rrule": "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"}),
        ("root", {"--course": "MATH101", "--start": "2027-03-01 14:00", "--end": "2027-03-01 16:00",
                  "--split": "30m", "--repeat": "daily", "--until": "2027-03-03", "--capacity": "2",
                  "--notes": "n", "--link": "https://meet.example.edu/x"}),
    ],
    ("slot", "update"): [("ada", {"slot_id": "2", "--start": "2027-03-02 10:00"}),
                         ("ada", {"slot_id": "1", "--capacity": "3", "--notes": "n",
                                  "--link": "https://meet.example.edu/y"})],
    ("slot", "list"): [("ada", {"--from": "+1d", "--to": "+30d", "--status": "all"}),
                       ("alan", {"--course": "MATH101", "--educator": "ada"})],
    ("slot", "calendar"): [("ada", {"--week": "+2d", "--course": "MATH101"})],
    ("slot", "cancel"): [("ada", {"slot_ids": "1", "--reason": "ill"})],
    ("course", "add"): [("ada", {"code": "NEW1", "--title": "New"}),
                        ("root", {"code": "NEW2", "--title": "New", "--educator": "bob"})],
    ("course", "enroll"): [("ada", {"code": "MATH101", "--from-csv": "roster.csv"}),
                           ("ada", {"code": "MATH101", "students": "eve"})],
    ("course", "unenroll"): [("ada", {"code": "MATH101", "students": "alan"})],
    ("user", "add"): [("root", {"name": "newuser", "--role": "student", "--email": "n@example.edu",
                                "--display": "New", "--tz": "Europe/Berlin"})],
    ("user", "set"): [("root", {"name": "alan", "--display": "Alan", "--email": "a@example.edu",
                                "--tz": "Europe/Berlin"}),
                      ("alan", {"--display": "Alan T"})],
    ("request", "send"): [("alan", {"slot_id": "2", "--message": "hi"})],
    ("request", "approve"): [("ada", {"request_ids": "1", "--link": "https://meet.example.edu/z",
                                      "--notes": "n"})],
    ("request", "reject"): [("ada", {"request_ids": "1", "--reason": "r"})],
    ("request", "cancel"): [("alan", {"request_ids": "1", "--reason": "r"})],
    ("request", "move"): [("alan", {"request_id": "1", "--to": "2"})],
    ("request", "update"): [("ada", {"request_id": "1", "--link": "https://meet.example.edu/u",
                                     "--notes": "n"})],
    ("request", "list"): [("ada", {"--status": "all", "--from": "+1d", "--to": "+30d"})],
    ("request", "export"): [("alan", {"--ics": True, "--out": "new.ics"}),
                            ("kat", {"--ics": True})],
    ("notify", "send"): [("root", {"--smtp": "SMTP", "--from": "Sessions <s@example.edu>"})],
    ("remind",): [("root", {"--within": "3d"})],
    ("course", "set"): [("ada", {"code": "MATH101", "--min-notice": "2h", "--max-active": "2",
                                 "--auto-approve": True, "--title": "Maths"})],
    ("course", "report"): [("ada", {"code": "MATH101", "--from": "-30d", "--to": "+10d"})],
    ("request", "complete"): [("ada", {"request_id": "1", "--attended": True, "--notes": "n"})],
    ("request", "rate"): [("alan", {"request_id": "1", "--stars": "4", "--comment": "c"})],
    ("agenda",): [("alan", {"--days": "3"}), ("ada", {"--days": "30"})],
}


def chance(draw, n: int) -> bool:
    """True about once in ``n`` draws. (Hypothesis favours the ends of an integer range, so the
    rare outcome is a value in the middle.)"""
    return draw(st.integers(0, n - 1)) == n // 2


def _key(param) -> str:
    return param.opts[0] if param.param_type_name == "option" else param.name


@st.composite
def invocations(draw, path: tuple[str, ...], command, box: Box, port: int):
    """(argv, user, env) for one command. Three modes: a known-good invocation with one or two
    values swapped for hostile ones; valid values for the command's parameters with one to three
    hostile ones; everything hostile."""
    params = [p for p in command.params if p.param_type_name in ("argument", "option")]
    bases = BASES.get(path, [])
    mode = draw(st.sampled_from(["base", "base", "mixed", "storm"] if bases else ["mixed", "mixed", "storm"]))
    base_user, base = draw(st.sampled_from(bases)) if mode == "base" else (None, {})
    if not params:
        hot = set()
    elif mode == "storm":
        hot = set(range(len(params)))
    elif mode == "base":  # one of the base's own values, now and then one more parameter
        own = [i for i, p in enumerate(params) if _key(p) in base] or list(range(len(params)))
        hot = {draw(st.sampled_from(own))}
        if chance(draw, 3):
            hot.add(draw(st.integers(0, len(params) - 1)))
    else:
        hot = draw(st.sets(st.integers(0, len(params) - 1), min_size=1, max_size=3))

    def value(param, hostile: bool) -> str:
        valid, odd = pool_for(param, box, port)
        return draw(odd if hostile else valid)

    argv: list[str] = []
    for param in ROOT.params:  # global options, before the command
        if param.param_type_name != "option" or not chance(draw, 10):
            continue
        if getattr(param, "is_flag", False):
            argv.append(param.opts[0])
        elif param.opts[0] == "--db":
            argv += ["--db", draw(st.one_of(
                box.path_values(read=False)[1],
                st.sampled_from([f"sqlite:///{box.root}/other.db", f"postgresql://127.0.0.1:{port}/x",
                                 "mysql://x/y", "x://y", "sqlite:///", f"sqlite:///{box.root}/adir"])))]
        else:
            argv += [param.opts[0], value(param, draw(st.booleans()))]
    argv += list(path)
    options, arguments = [], []
    for index, param in enumerate(params):
        hostile, key = index in hot, _key(param)
        if mode == "base":
            present = key in base or hostile
        elif param.required:
            present = not chance(draw, 30)  # now and then a missing one: usage error
        else:
            present = hostile or chance(draw, 4)
        if not present:
            continue
        given = base.get(key)
        if given == "SMTP":
            given = f"smtp://127.0.0.1:{port}"
        if param.param_type_name == "argument":
            count = draw(st.integers(1, 3)) if param.nargs == -1 else 1
            arguments += [given if given is not None and not hostile else
                          value(param, hostile and (i == 0 or draw(st.booleans())))
                          for i in range(count)]
            continue
        for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
            name = draw(st.sampled_from(list(param.opts) + list(getattr(param, "secondary_opts", []))))
            if getattr(param, "is_flag", False):
                options.append([name])
            else:
                options.append([name, given if given is not None and not hostile else value(param, hostile)])
    if chance(draw, 20):
        options.append([draw(st.sampled_from(["--bogus", "-x", "--help", "--json", "--", "10:00"]))])
    order = draw(st.permutations(range(len(options)))) if options else []
    tail = [token for index in order for token in options[index]]
    if draw(st.booleans()):
        argv += arguments + tail
    else:
        argv += tail + arguments
    if base_user and not chance(draw, 5):
        user = base_user
    else:
        user = draw(st.one_of(st.sampled_from(["root", "ada", "alan"]),
                              st.sampled_from(["root", "ada", "alan"]),
                              st.sampled_from(["root", "ada", "alan"]),
                              st.sampled_from(["bob", "eve", "nobody", "", "ROOT", "r\u200boot",
                                               "\udcff", "a" * 300, "ada\n", " ada", "kat"])))
    env = {}
    if chance(draw, 8):
        env["COLUMNS"] = draw(st.sampled_from(["80", "abc", "0", "-5", "1", "20", "99999999999",
                                               "", " 80", "80.5", "\u0668\u0660"]))
    if chance(draw, 10):
        env["SESSIONCTL_TZ"] = draw(st.sampled_from(["America/New_York", "Asia/Kathmandu", "Nope",
                                                     "", "Etc/GMT-14", "Pacific/Kiritimati"]))
    if chance(draw, 30):
        env["SESSIONCTL_LOCK_TIMEOUT"] = draw(st.sampled_from(["abc", "-1", "nan", "1e999", "0", "2"]))
    if chance(draw, 10):
        env["FORCE_COLOR"] = "1"
    return argv, user, env


def test_the_bases_name_real_parameters():
    """Every key of BASES is a parameter of its command (so a renamed option is noticed)."""
    for path, bases in BASES.items():
        keys = {_key(p) for p in COMMANDS[path].params}
        for _, base in bases:
            assert set(base) <= keys, (path, set(base) - keys)


# -- running and judging one example ------------------------------------------------------------


class Hang(BaseException):
    """Raised by the alarm inside a command that runs too long (not an Exception, so neither
    sessionctl's error mapper nor CliRunner swallows it)."""


@contextmanager
def alarm(seconds: float):
    def ring(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_KINDS: dict[str, type] = {}


def defect(key: str, detail: str):
    """Fail with an exception class of its own per root cause, so that Hypothesis reports each
    distinct defect separately (it tells bugs apart by exception type and place)."""
    if FUZZ_LOG:
        with open(FUZZ_LOG, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(json.dumps({"key": key, "detail": detail}, ensure_ascii=True) + "\n")
        return
    cls = _KINDS.get(key)
    if cls is None:
        cls = _KINDS[key] = type(re.sub(r"\W+", "_", key)[:120], (AssertionError,), {})
    raise cls(f"{key}\n{detail}")


FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)', re.M)


def short(file: str) -> str:
    for marker in ("/sessionctl/", "/site-packages/", "/lib/python3"):
        if marker in file:
            tail = file.split(marker, 1)[1]
            return ("sessionctl/" + tail) if marker == "/sessionctl/" else tail.split("/", 1)[-1] \
                if marker == "/lib/python3" else tail
    return file


def root_cause(trace: str) -> str:
    """'ValueError at timeparse.py:161 (via sessionctl/…)' from a traceback's text."""
    frames = FRAME.findall(trace)
    last = [line for line in trace.strip().splitlines() if line and not line.startswith(" ")]
    exc_line = next((line for line in reversed(last) if not line.startswith(("error:", "hint:"))), "?")
    exc_type = exc_line.split(":", 1)[0].rsplit(".", 1)[-1]
    if not frames:
        return exc_type
    raising = f"{short(frames[-1][0])}:{frames[-1][1]}"
    ours = [f for f in frames if "/sessionctl/" in f[0] and "/tests/" not in f[0]]
    via = f" via {short(ours[-1][0])}:{ours[-1][1]}" if ours and ours[-1] != frames[-1] else ""
    return f"{exc_type} at {raising}{via}"


def shell(argv, user, env) -> str:
    import shlex

    parts = [f"{k}={shlex.quote(v)}" for k, v in env.items() if v is not None]
    return " ".join(parts + [f"SESSIONCTL_USER={shlex.quote(user)}", "sessionctl"]
                    + [shlex.quote(a if len(a) < 200 else a[:20] + f"…({len(a)} chars)") for a in argv])


MULTI = {("request", "approve"), ("request", "reject"), ("request", "cancel"),
         ("slot", "cancel"), ("slot", "delete")}


def _ids(path, argv) -> list[str]:
    """The ids given to a command that takes several (docs/reference/lifecycle.md#several-at-once): its positional arguments."""
    if tuple(path) not in MULTI:
        return []
    at = next((i for i in range(len(argv)) if tuple(argv[i:i + len(path)]) == tuple(path)), None)
    if at is None:
        return []
    words = argv[at + len(path):]
    ids, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in ("--reason", "--link", "--notes"):
            skip = True
        elif not word.startswith("-"):
            ids.append(word)
    return ids


class Fuzzer:
    """One store per test, reset to the same populated state before each example."""

    def __init__(self, world, box: Box, port: int):
        self.world, self.box, self.port = world, box, port
        self.db = Path(world.db)
        self.runner = CliRunner()
        con = sqlite3.connect(self.db)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        self.template = self.db.read_bytes()
        self.before = snapshot(self.db)

    def reset(self) -> None:
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{self.db}{suffix}").unlink(missing_ok=True)
        self.db.write_bytes(self.template)

    def invoke(self, argv, user, env, debug=False):
        environment = {
            "SESSIONCTL_DB": str(self.db), "SESSIONCTL_USER": user, "SESSIONCTL_TZ": "UTC",
            "SESSIONCTL_DEBUG": "1" if debug else None, "NO_COLOR": "1", "COLUMNS": "250",
            "FORCE_COLOR": None, "SESSIONCTL_SMTP": None, "SESSIONCTL_SMTP_PASSWORD": None,
            "SESSIONCTL_MAIL_FROM": None, "SESSIONCTL_SMTP_TIMEOUT": "2",
            "SESSIONCTL_LOCK_TIMEOUT": "2", "HOME": str(self.box.root), "PAGER": "cat",
        }
        environment.update(env)
        with alarm(HANG_SECONDS):
            return self.runner.invoke(app, argv, env=environment)

    def check(self, path, argv, user, env) -> None:
        self.reset()
        where = " ".join(path)
        line = shell(argv, user, env)
        note(line)
        try:
            result = self.invoke(argv, user, env)
        except Hang:
            defect(f"hang in {where}", f"$ {line}\nran longer than {HANG_SECONDS} s")
            return
        code, out, err = result.exit_code, result.stdout, result.stderr
        if TRACE:
            with open(TRACE, "a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(json.dumps({"cmd": where, "code": code, "err": err.split("\n")[0][:160],
                                     "argv": line[:300]}, ensure_ascii=True) + "\n")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            trace = "".join(traceback.format_exception(result.exception))
            defect(f"escaped: {root_cause(trace)}", f"$ {line}\n{trace}")
            return
        if code == 1 or "Traceback" in out + err:
            self.reset()
            try:
                debug = self.invoke(argv, user, env, debug=True)
                trace = debug.stderr
            except Hang:
                trace = "(hangs with SESSIONCTL_DEBUG=1)"
            cause = root_cause(trace)
            said = re.search(r"internal error: (\w+)", err)
            if said and not cause.startswith(said.group(1)):  # the rerun went another way
                cause = f"{said.group(1)} (not reproduced by the rerun with SESSIONCTL_DEBUG=1)"
            defect(f"exit {code}: {cause}",
                   f"$ {line}\nexit {code}\nstderr: {err[:1500]}\n--- with SESSIONCTL_DEBUG=1:\n{trace[-4000:]}")
            return
        unavailable_ok = path == ("notify", "send") or "--db" in argv
        allowed = {0, 2, 3, 4, 5} | ({6} if unavailable_ok else set())
        if code not in allowed:
            defect(f"exit {code} in {where}", f"$ {line}\nexit {code}\nstdout: {out[:500]}\nstderr: {err[:1500]}")
            return
        if code == 0:
            if "--json" in argv and not {"--help", "-h", "--version", "--"} & set(argv):
                try:
                    json.loads(out)
                except ValueError as exc:
                    defect(f"--json output is not one JSON document in {where}",
                           f"$ {line}\n{exc}\nstdout: {out[:500]!r}")
            return
        problems = []
        lines = err.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        # several ids (docs/reference/lifecycle.md#several-at-once) answer per id, unless the command line itself is refused
        multi = len(_ids(path, argv)) > 1 and (bool(out) or err.count("error: ") > 1)
        if multi and "--json" in argv:  # one object or {id, error, exit} per id
            try:
                results = json.loads(out)
                if not any(set(r) == {"id", "error", "exit"} for r in results):
                    problems.append("no refused id in the JSON list")
            except ValueError:
                problems.append("stdout is not one JSON list")
        elif multi:  # a result line per id on stdout, an error block per refused id on stderr
            if not any(l.startswith("error: ") for l in lines) or any(
                    not l.startswith(("error: ", "hint: ", "  ")) for l in lines):
                problems.append("stderr is not one error block per refused id")
        else:
            if out:
                problems.append("stdout is not empty")
            if not lines or not lines[0].startswith("error: "):
                problems.append("stderr does not start with 'error: '")
            else:
                body = lines[1:]
                if body and body[-1].startswith("hint: "):
                    body = body[:-1]
                if any(not l.startswith("  ") for l in body):
                    problems.append("stderr has lines that are neither the error, an indented "
                                    "continuation, nor a final hint")
                if any(l.startswith(("Usage:", "Try ")) for l in lines):
                    problems.append("stderr has click's Usage/Try lines")
        if problems:
            kind = problems[0]
            defect(f"{kind} in {where} (exit {code})",
                   f"$ {line}\nexit {code}\nstdout: {out[:500]!r}\nstderr: {err[:1500]!r}")
            return
        after = snapshot(self.db)
        if after != self.before and not multi:  # several ids: those that succeeded changed it
            changed = sorted(t for t in after if after[t] != self.before.get(t))
            defect(f"refusal changed the store in {where}", f"$ {line}\nexit {code}\nchanged: {changed}\nstderr: {err[:500]}")


@pytest.fixture
def populated(world):
    """The world of conftest plus slots, requests in every state, and queued notifications."""
    def ok(*args, user):
        result = world(*args, user=user)
        assert result.exit_code == 0, (args, result.stderr)

    ok("slot", "add", "--course", "MATH101", "--start", "+2d", "--duration", "1h",
       "--capacity", "2", "--link", "https://meet.example.edu/ada", user="ada")        # slot 1
    ok("slot", "add", "--course", "MATH101", "--start", "+3d", "--duration", "30m", user="ada")  # 2
    ok("slot", "add", "--course", "MATH101", "--start", "+4d", "--duration", "1h", user="ada")   # 3
    ok("slot", "add", "--course", "PHYS1", "--start", "+5d", "--duration", "1h", user="bob")     # 4
    ok("request", "send", "1", "--message", "hello", user="alan")  # request 1: pending
    ok("request", "send", "1", user="kat")                          # 2: approved
    ok("request", "approve", "2", user="ada")
    ok("request", "send", "2", user="alan")                         # 3: rejected
    ok("request", "reject", "3", "--reason", "no", user="ada")
    ok("request", "send", "3", user="kat")                          # 4: cancelled with slot 3
    ok("slot", "cancel", "3", "--reason", "ill", user="ada")
    return world


@pytest.fixture
def fuzzer(populated, tmp_path, monkeypatch):
    box = Box(tmp_path / "box")
    monkeypatch.chdir(box.root)  # relative paths land in the box
    monkeypatch.setenv("HOME", str(box.root))
    monkeypatch.setattr("tempfile.tempdir", str(box.root))  # demo's temp dir
    return Fuzzer(populated, box, closed_port())


def _settings(path):
    slow = path in SLOW
    n = EXAMPLES or (2 if slow else 25)
    return settings(
        max_examples=n, deadline=None, database=None, derandomize=not EXAMPLES,
        suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink],
        print_blob=False,
    )


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_fuzz_command(fuzzer, path):
    command = COMMANDS[path]

    @_settings(path)
    @given(data=st.data())
    def run(data):
        argv, user, env = data.draw(invocations(path, command, fuzzer.box, fuzzer.port))
        fuzzer.check(path, argv, user, env)

    run()


def test_the_walk_sees_every_command_of_the_readme():
    """A guard for the walk itself: it finds the commands the README documents."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `sessionctl ((?:[a-z]+ )?[a-z]+)", readme, re.M))
    walked = {" ".join(p) for p in COMMANDS}
    assert documented <= walked, documented - walked
