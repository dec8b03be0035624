"""Classes of defects found by the second attack pass (issue 8's edges, again): text that
prints as nothing, an older store's link in a calendar, odd output encodings, config files
nested too deep, RRULEs RFC 5545 forbids, completion scripts in the shared mode."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import future, iso, snapshot

FORMAT_AND_FILLERS = [
    "\u00ad", "\u034f", "\u115f", "\u1160", "\u180e", "\u2061", "\u2064", "\u3164", "\uffa0",
    "\ufff9", "\ufffb", "\U000e0001", "\U000e0069", "\U000e007f",
]


@pytest.mark.parametrize("ch", FORMAT_AND_FILLERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("where", ["display", "title", "message"])
def test_characters_that_print_as_nothing_are_refused(world, ch, where):
    args = {"display": ("user", "set", "alan", "--display", f"Alan{ch}hidden"),
            "title": ("course", "add", "NEW1", "--title", f"Title{ch}x"),
            "message": None}[where]
    user = {"display": "root", "title": "ada", "message": "alan"}[where]
    if args is None:
        [made] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(48)),
                            "--duration", "1h", user="ada")
        args = ("request", "send", str(made["id"]), "--message", f"hi{ch}there")
    before = snapshot(world.db)
    result = world(*args, user=user)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert f"the invisible or text-reordering character U+{ord(ch):04X}" in result.stderr
    assert "hint: type the text without it" in result.stderr
    assert snapshot(world.db) == before


def test_an_older_stores_link_with_line_breaks_exports_as_one_line(world):
    [made] = world.json("slot", "add", "--course", "MATH101", "--start", iso(future(48)),
                        "--duration", "1h", user="ada")
    sent = world.json("request", "send", str(made["id"]), user="alan")
    assert world("request", "approve", str(sent["id"]), user="ada").exit_code == 0
    con = sqlite3.connect(world.db)
    with con:  # what a store written before the input rules may hold
        con.execute("UPDATE slots SET link = ? WHERE id = ?",
                    ("https://meet.example.edu/a\r\nATTENDEE:mailto:evil@example\x1b[31m", made["id"]))
    con.close()
    result = world("request", "export", "--ics", user="alan")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.replace("\r\n", "\n").replace("\n ", "").split("\n")
    assert not [line for line in lines if line.startswith("ATTENDEE:mailto:evil")]
    assert "\x1b" not in result.stdout
    assert [line for line in lines if line.startswith("URL")]


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


@pytest.mark.parametrize("rule, says", [
    ("FREQ=DAILY;COUNT=3\nEXDATE:20290102T100000", "one line of NAME=VALUE parts"),
    ("FREQ=DAILY;COUNT=3\r\nEXDATE:20290102T100000Z", "one line of NAME=VALUE parts"),
    ("FREQ=DAILY;COUNT=3\u2028X=1", "one line of NAME=VALUE parts"),
    ("FREQ=DAILY;UNTIL=20290110T000000;COUNT=2", "COUNT and UNTIL cannot both be given"),
    ("FREQ=DAILY;COUNT=2;UNTIL=20290110T000000Z", "COUNT and UNTIL cannot both be given"),
    ("FREQ=MINUTELY;BYDAY=1MO;COUNT=2", "a numbered BYDAY"),
    ("FREQ=WEEKLY;BYDAY=-1FR;COUNT=2", "a numbered BYDAY"),
    ("FREQ=MONTHLY;BYWEEKNO=3;COUNT=2", "BYWEEKNO needs FREQ=YEARLY"),
])
def test_rrules_rfc_5545_forbids_are_refused(world, rule, says):
    before = snapshot(world.db)
    result = world("slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00",
                   "--duration", "1h", "--rrule", rule, user="ada")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert says in result.stderr and "offset-naive" not in result.stderr
    assert snapshot(world.db) == before


def test_a_numbered_byday_of_a_monthly_rule_still_works(world):
    made = world.json("slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00",
                      "--duration", "1h", "--rrule", "FREQ=MONTHLY;BYDAY=1MO;COUNT=3", user="ada")
    assert [m["start"][:10] for m in made] == ["2029-01-01", "2029-02-05", "2029-03-05"]


@pytest.mark.parametrize("args", [
    ["slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00", "--duration", "３０m"],
    ["slot", "add", "--course", "MATH101", "--start", "+５d", "--duration", "30m"],
    ["slot", "add", "--course", "MATH101", "--start", "2029-01-01 １０:００", "--duration", "30m"],
    ["course", "set", "MATH101", "--min-notice", "２h"],
])
def test_durations_and_times_take_ascii_digits_only(world, args):
    before = snapshot(world.db)
    result = world(*args, user="ada")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert snapshot(world.db) == before


def test_a_postgresql_role_without_the_grants_is_exit_6(location):
    if not location.startswith("postgresql://"):
        pytest.skip("PostgreSQL's grants")
    import uuid

    import psycopg
    from typer.testing import CliRunner

    from sessionctl.cli import app

    env = {"SESSIONCTL_DB": location, "SESSIONCTL_USER": "root", "SESSIONCTL_TZ": "UTC"}
    assert CliRunner().invoke(app, ["init"], env=env).exit_code == 0
    role, password = f"reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    base, _, name = location.rpartition("/")
    with psycopg.connect(location, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        url = location.replace("postgresql://postgres@", f"postgresql://{role}:{password}@")
        before = snapshot(location)
        result = CliRunner().invoke(app, ["user", "add", "zed", "--role", "student"],
                                    env={**env, "SESSIONCTL_DB": url})
        assert result.exit_code == 6, (result.stdout, result.stderr)
        assert "this database role may not do that" in result.stderr
        assert password not in result.stderr and "this is a bug" not in result.stderr
        assert snapshot(location) == before
    finally:
        with psycopg.connect(location, autocommit=True) as admin:
            admin.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("rule", [
    "FREQ=MONTHLY;BYMONTHDAY=" + "9" * 5000 + ";COUNT=2",
    "FREQ=DAILY;INTERVAL=" + "9" * 5000 + ";COUNT=2",
    "FREQ=DAILY;INTERVAL=\u0661;COUNT=2",
    "FREQ=MONTHLY;BYMONTHDAY=\u0661;COUNT=2",
])
def test_rrule_numbers_huge_or_in_other_digits_are_exit_2(world, rule):
    before = snapshot(world.db)
    result = world("slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00",
                   "--duration", "1h", "--rrule", rule, user="ada")
    assert result.exit_code == 2, (result.stdout, result.stderr[-300:])
    assert result.stderr.startswith("error: invalid RRULE") and "internal error" not in result.stderr
    assert snapshot(world.db) == before


@pytest.mark.parametrize("skip, says", [
    ("2029-01-0\u200b2", "cannot read"),
    ("2029-01-02\u202e", "cannot read"),
    ("9999-01-01", "out of range"),
    ("12/03/2029", "could be 12 March or 3 December 2029"),
    (",".join(["2029-01-02"] * 5000 + ["nonsense"]), "cannot read"),
])
def test_except_refuses_hostile_dates(world, skip, says):
    before = snapshot(world.db)
    result = world("slot", "add", "--course", "MATH101", "--start", "2029-01-01 10:00",
                   "--duration", "1h", "--repeat", "daily", "--count", "3", "--except", skip,
                   user="ada")
    assert result.exit_code == 2, (result.stdout, result.stderr[-300:])
    assert says in result.stderr and "Traceback" not in result.stderr
    assert snapshot(world.db) == before
