"""Issue 16, the third attack pass: each defect it found, tried as it was found.

Every refusal here also checks that nothing changed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import PG_SERVER, snapshot
from sessionctl.cli import app

# -- 1. a PostgreSQL URL that cannot be used never shows its password --------------------------------

SECRET = "Tr0ub4dor"


def pg_urls(url: str) -> dict[str, str]:
    """Broken forms of the working URL ``url`` (the test server's database), each holding
    SECRET in its password: what an administrator's slip gives."""
    head, rest = url.split("://", 1)
    authority, _, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    user = authority.rpartition("@")[0].partition(":")[0] or "postgres"

    def with_password(password: str, where: str = host, tail: str = path) -> str:
        return f"{head}://{user}:{password}@{where}/{tail}"

    return {
        "a bad percent-escape": with_password(f"{SECRET}%3"),
        "a broken IPv6 host": with_password(SECRET, "[::1", path),
        "a port out of range": with_password(SECRET, host.partition(":")[0] + ":99999"),
        "a port that is no number": with_password(SECRET, host.partition(":")[0] + ":abc"),
        "an unknown parameter": with_password(SECRET, tail=path + "?bogus=1"),
        "an unknown sslmode": with_password(SECRET, tail=path + "?sslmode=bogus"),
        "an unescaped @ in it": with_password(f"{SECRET}@x"),
        "an unescaped / in it": with_password(f"x/{SECRET}"),
        "a bad escape in ?password=": f"{head}://{user}@{host}/{path}?password={SECRET}%zz",
    }


def run(args, **env) -> subprocess.CompletedProcess:
    """sessionctl as a user runs it (a new process, every layer of it)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    environ.update({"SESSIONCTL_USER": "root", "NO_COLOR": "1", **env})
    return subprocess.run([sys.executable, "-m", "sessionctl", *args], capture_output=True,
                          text=True, env=environ, timeout=60)


@pytest.fixture
def pg_location(location):
    if not location.startswith("postgresql://"):
        pytest.skip("a PostgreSQL URL")
    return location


@pytest.mark.parametrize("form", list(pg_urls("postgresql://u@h:1/d")))
def test_a_postgresql_url_that_cannot_be_used_is_exit_6_or_2_and_never_shows_its_password(
        pg_location, form, tmp_path):
    url = pg_urls(pg_location)[form]
    before = snapshot(pg_location)
    config = tmp_path / "user" / "sessionctl"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(f'db = "{url}"\n', encoding="utf-8")
    cases = [(["--db", url], {}, 2), ([], {"SESSIONCTL_DB": url}, 6),
             ([], {"XDG_CONFIG_HOME": str(tmp_path / "user"), "SESSIONCTL_DEBUG": "1"}, 6)]
    for command in (["whoami"], ["init"], ["slot", "list", "--json"]):
        for flags, env, code in cases:
            if form == "an unescaped @ in it":  # libpq reads another host: unreachable
                code = 6
            result = run([*flags, *command], SESSIONCTL_LOCK_TIMEOUT="2", **env)
            said = result.stdout + result.stderr
            assert SECRET not in said, (form, command, env, said)
            assert result.returncode == code and result.stdout == "", (form, command, env, said)
            if "SESSIONCTL_DEBUG" not in env:  # one error line and its hint, no traceback
                assert result.stderr.startswith("error: cannot "), said
                assert "internal error" not in said and len(result.stderr.splitlines()) <= 2, said
    assert snapshot(pg_location) == before


def test_config_show_masks_the_password_of_a_url_that_cannot_be_parsed(cli):
    for form, url in pg_urls("postgresql://u:p@127.0.0.1:5432/db").items():
        result = cli("--db", url, "config", "show")
        assert result.exit_code == 0 and SECRET not in result.stdout + result.stderr, (form, result.stdout)
        assert ":***@" in result.stdout or "password=***" in result.stdout, (form, result.stdout)


def test_a_driver_error_that_quotes_the_url_is_masked_at_the_root(monkeypatch, cli):
    """Whatever layer a driver's message comes from, the mapper's last branch included
    (``internal error: …``), the store URL's password does not reach the screen."""
    url = f"postgresql://app:{SECRET}@db.example.edu/sessions"

    def leaky(*args, **kwargs):
        raise RuntimeError(f'could not use "{url}" (password "{SECRET}")')

    monkeypatch.setattr("sessionctl.store.open_store", leaky)
    monkeypatch.setattr("sessionctl.cli.common.open_store", leaky)
    result = cli("--db", url, "whoami")
    assert result.exit_code == 1 and "internal error" in result.stderr
    assert SECRET not in result.stderr and "postgresql://app:***@db.example.edu/sessions" in result.stderr


def test_an_unknown_store_scheme_is_exit_6_from_the_environment_and_2_from_the_flag(cli):
    url = f"mysql://app:{SECRET}@db.example.edu/sessions"
    for flags, env, code in ((["--db", url], {}, 2), ([], {"SESSIONCTL_DB": url}, 6)):
        result = cli(*flags, "whoami", env=env)
        assert result.exit_code == code and SECRET not in result.stderr, result.stderr
        assert "unknown store location 'mysql://app:***@db.example.edu/sessions'" in result.stderr


def test_in_the_shared_mode_no_caller_sees_the_password_of_a_broken_service_url(pg_location, tmp_path,
                                                                                monkeypatch):
    from test_shared import fake_pwd  # the fake machine of tests/test_shared.py

    from sessionctl import settings, shared

    home = tmp_path / "svc-home"
    config = home / ".config" / "sessionctl"
    config.mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    (config / "config.toml").write_text(f'db = "{pg_urls(pg_location)["a bad percent-escape"]}"\n')
    (config / "config.toml").chmod(0o600)
    site = tmp_path / "etc" / "config.toml"
    site.parent.mkdir(mode=0o755)
    site.write_text('identity = "sudo"\naccount = "svc"\ncommand = "/usr/local/bin/sessionctl"\n')
    site.chmod(0o644)
    _, getpwnam, getpwuid = fake_pwd(home)
    monkeypatch.setattr("pwd.getpwnam", getpwnam)
    monkeypatch.setattr("pwd.getpwuid", getpwuid)
    monkeypatch.setattr(settings, "SITE_FILE", str(site))
    monkeypatch.setattr(shared, "ROOT", os.getuid())
    monkeypatch.setattr(shared, "SUPERUSER", -1)
    before = snapshot(pg_location)
    for sudo in ("alice", None):
        env = {"SESSIONCTL_DB": None, "SESSIONCTL_USER": None, "SESSIONCTL_DEBUG": None,
               "SUDO_USER": sudo, "SUDO_UID": sudo and "70001"}
        for args in (["whoami"], ["init"], ["config", "show"], ["slot", "list"]):
            result = CliRunner().invoke(app, args, env=env)
            assert SECRET not in result.stdout + result.stderr, (sudo, args, result.stderr)
            assert result.exit_code == (0 if args[0] == "config" else 6), (sudo, args, result.stderr)
    assert snapshot(pg_location) == before


# -- 2. a read command sees one snapshot on PostgreSQL too --------------------------------------------

FLIPPER = """
import sys, time, psycopg
url, slot, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import os
with psycopg.connect(url, autocommit=True) as con:
    while not os.path.exists(stop):
        con.execute("UPDATE requests SET status = CASE status WHEN 'approved' THEN 'cancelled' "
                    "ELSE 'approved' END WHERE slot_id = %s", (slot,))
"""

READER = """
import sys
from sessionctl.cli import app
codes = [app(["course", "report", "C1", "--from", "-1d", "--to", "+30d", "--json"],
             standalone_mode=False) for _ in range(int(sys.argv[1]))]
print(" ".join(map(str, codes)))
"""


def test_course_report_on_postgresql_never_crashes_while_others_write(pg_location, tmp_path):
    """Writer processes book and free seats as fast as they can (every seat of a slot at once,
    as an educator cancelling and re-approving them would); `course report`, in processes of
    its own, reads counts in one query and the rows they count in the next. It always adds up."""
    env = {**os.environ, "SESSIONCTL_DB": pg_location, "SESSIONCTL_TZ": "UTC", "NO_COLOR": "1"}
    env.pop("SESSIONCTL_DEBUG", None)

    def cli(user, *args):
        result = subprocess.run([sys.executable, "-m", "sessionctl", *args], capture_output=True,
                                text=True, env={**env, "SESSIONCTL_USER": user}, timeout=60)
        assert result.returncode == 0, (args, result.stderr)

    cli("root", "init")
    cli("root", "user", "add", "ada", "--role", "educator")
    students = [f"s{i}" for i in range(6)]
    for name in students:
        cli("root", "user", "add", name, "--role", "student")
    cli("ada", "course", "add", "C1", "--title", "Course")
    cli("ada", "course", "enroll", "C1", *students)
    for slot, start in ((1, "tomorrow 10:00"), (2, "tomorrow 12:00")):
        cli("ada", "slot", "add", "--course", "C1", "--start", start, "--duration", "1h",
            "--capacity", "6")
        for name in students:
            cli(name, "request", "send", str(slot))
    cli("ada", "request", "approve", *map(str, range(1, 13)))
    stop = tmp_path / "stop"
    writers = [subprocess.Popen([sys.executable, "-c", FLIPPER, pg_location, str(slot), str(stop)])
               for slot in (1, 2)]
    try:
        readers = [subprocess.Popen([sys.executable, "-c", READER, "40"], env={**env, "SESSIONCTL_USER": "ada"},
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        outcomes = [(r.communicate(timeout=300), r.returncode) for r in readers]
    finally:
        stop.touch()
        for writer in writers:
            writer.wait(timeout=60)
    import json

    for (out, err), code in outcomes:
        *reports, codes = out.rstrip("\n").rsplit("\n", 1)
        assert code == 0 and set(codes.split()) == {"0"}, (codes, err[-2000:])
        decoder, text, at, seen = json.JSONDecoder(), reports[0], 0, 0
        while at < len(text):  # each report is one state: booked seats and their notice agree
            report, at = decoder.raw_decode(text, at)
            at += 1
            seen += 1
            assert report["seats_booked"] in (0, 6, 12), report
            assert (report["median_notice"] is None) == (report["seats_booked"] == 0), report
        assert seen == 40


# -- 3. --out follows no symlink that someone else chose ------------------------------------------------

CALENDAR = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
NOBODY = 65534
DAEMON = 1


@pytest.fixture
def exporter(tmp_path):
    """``export(path)``: a cron job's ``request export --ics --out PATH`` (a new process),
    on an initialised SQLite store; the store's rows before it are kept in ``.before``."""
    db = tmp_path / "store.db"
    init = run(["init"], SESSIONCTL_DB=str(db))
    assert init.returncode == 0, init.stderr

    def export(path) -> subprocess.CompletedProcess:
        return run(["request", "export", "--ics", "--out", str(path)], SESSIONCTL_DB=str(db))

    export.db = db
    return export


def drop(tmp_path):
    """A shared drop directory: world-writable and sticky, like /tmp."""
    folder = tmp_path / "drop"
    folder.mkdir()
    folder.chmod(0o1777)
    return folder


def refused_out(exporter, link, *untouched):
    before = snapshot(exporter.db)
    states = [(p, os.path.lexists(p) and (os.readlink(p) if os.path.islink(p) else p.read_bytes()))
              for p in (link, *untouched)]
    result = exporter(link)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.startswith(f"error: cannot write {link}: "), result.stderr
    for path, state in states:
        now = os.path.lexists(path) and (os.readlink(path) if os.path.islink(path) else path.read_bytes())
        assert now == state, path
    assert snapshot(exporter.db) == before
    return result


def test_out_through_a_dangling_symlink_creates_nothing(exporter, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    link = drop(tmp_path) / "sessions.ics"
    link.symlink_to(victim / ".bash_profile")
    result = refused_out(exporter, link)
    assert "does not exist" in result.stderr
    assert not (victim / ".bash_profile").exists() and os.listdir(victim) == []
    relative = link.parent / "rel.ics"
    relative.symlink_to("../victim/.profile")
    refused_out(exporter, relative)
    assert os.listdir(victim) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="gives files to another user: needs root (CI runs as root)")
def test_out_through_a_symlink_to_someone_elses_file_is_refused(exporter, tmp_path):
    """Even a calendar (which --out would replace): the link's maker chose it, not the writer."""
    victim = tmp_path / "victim"
    victim.mkdir()
    theirs = victim / "their.ics"
    theirs.write_bytes(CALENDAR)
    os.chown(theirs, NOBODY, NOBODY)
    link = drop(tmp_path) / "sessions.ics"
    link.symlink_to(theirs)
    assert "belongs to someone else" in refused_out(exporter, link, theirs).stderr
    assert theirs.stat().st_uid == NOBODY


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a link to another user: needs root (CI runs as root)")
def test_out_through_someone_elses_symlink_to_a_folder_is_refused(exporter, tmp_path):
    """A link among the folders chooses where the file lands as surely as a link to the file."""
    victim = tmp_path / "victim"
    victim.mkdir()
    os.chown(victim, DAEMON, DAEMON)
    theirs = victim / "mine.ics"
    theirs.write_bytes(CALENDAR)
    os.chown(theirs, DAEMON, DAEMON)
    box = drop(tmp_path) / "s1"
    box.mkdir()
    os.chown(box, NOBODY, NOBODY)
    link = box / "out"
    link.symlink_to(victim)
    os.lchown(link, NOBODY, NOBODY)
    for name in ("cal.ics", "mine.ics"):
        assert "on its way belongs to someone else" in refused_out(exporter, link / name,
                                                                   theirs).stderr
    assert sorted(os.listdir(victim)) == ["mine.ics"] and theirs.read_bytes() == CALENDAR
    mine = tmp_path / "mine"
    mine.mkdir()
    (tmp_path / "own-link").symlink_to(mine)  # your own link to a folder is followed
    assert exporter(tmp_path / "own-link" / "cal.ics").returncode == 0
    assert (mine / "cal.ics").read_bytes().startswith(CALENDAR.splitlines(True)[0])


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a link to another user: needs root (CI runs as root)")
def test_out_through_someone_elses_symlink_to_your_own_calendar_is_refused(exporter, tmp_path):
    mine = tmp_path / "mine.ics"
    mine.write_bytes(CALENDAR)
    link = drop(tmp_path) / "sessions.ics"
    link.symlink_to(mine)
    os.lchown(link, NOBODY, NOBODY)
    assert "belongs to someone else" in refused_out(exporter, link, mine).stderr


def test_out_through_your_own_symlink_to_your_own_calendar_replaces_it(exporter, tmp_path):
    mine = tmp_path / "cal" / "mine.ics"
    mine.parent.mkdir()
    mine.write_bytes(CALENDAR)
    link = drop(tmp_path) / "sessions.ics"
    link.symlink_to(mine)
    chain = tmp_path / "chain.ics"
    chain.symlink_to(link)
    for path in (link, chain):
        mine.write_bytes(CALENDAR)
        result = exporter(path)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert os.readlink(link) == str(mine) and mine.read_bytes().startswith(b"BEGIN:VCALENDAR")
        assert b"PRODID" in mine.read_bytes()  # the export, not the old file


# -- 4. completion in the shared mode: the request crosses the sudo hop ------------------------------

from test_shared import CALLERS, machine, seeded  # noqa: E402,F401 - the fake machine's fixtures

FAKE_MACHINE = """
import json, os, pwd, sys
sys.path.insert(0, {tests!r})
from test_shared import fake_pwd
from sessionctl import settings, shared
home, site, svc_uid = {home!r}, {site!r}, {svc_uid!r}
table, getpwnam, getpwuid = fake_pwd(home)
if svc_uid is not None:  # the service account is someone else: this process must hop
    table["svc"] = pwd.struct_passwd(("svc", "x", svc_uid, svc_uid, "svc", home, "/bin/sh"))
    me = os.getuid()
    table["me"] = pwd.struct_passwd(("me", "x", me, me, "me", "/nonexistent", "/bin/sh"))
pwd.getpwnam, pwd.getpwuid = getpwnam, getpwuid
settings.SITE_FILE, shared.ROOT, shared.SUPERUSER = site, os.getuid(), -1
os.path.exists = lambda p, real=os.path.exists: True if p == "/usr/bin/sudo" else real(p)
os.access = lambda p, m, real=os.access: True if p == "/usr/bin/sudo" else real(p, m)
def execv(path, argv):  # where sudo would take over: say what it was given
    os.write(1, json.dumps(argv).encode())
    os.write(2, b"sudo: a password is required")
    os._exit(1)
os.execv = execv
sys.argv = ["sessionctl", *sys.argv[1:]]
from sessionctl.launch import main
main()
"""


def fake_run(m, args, env, svc_uid=None) -> subprocess.CompletedProcess:
    """sessionctl on the fake machine of tests/test_shared.py, in a process of its own: the
    service account's side as sudo starts it, or (``svc_uid``) a caller's, up to the hop."""
    code = FAKE_MACHINE.format(tests=os.path.dirname(__file__), home=str(m.home),
                               site=str(m.site), svc_uid=svc_uid)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SESSIONCTL_", "SUDO_"))}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=environ, timeout=60)


BASH = {"_SESSIONCTL_COMPLETE": "complete_bash", "COMP_WORDS": "sessionctl request show ",
        "COMP_CWORD": "3"}


def test_completion_on_the_callers_side_hands_the_shells_request_to_sudo(seeded):
    result = fake_run(seeded, [], {**BASH, "SESSIONCTL_TZ": "UTC"}, svc_uid=os.getuid() + 1)
    assert result.returncode == 1 and result.stderr == "", result.stderr  # sudo's words: nowhere
    argv = __import__("json").loads(result.stdout)
    assert argv[:6] == ["/usr/bin/sudo", "-n", "-u", "svc", "--", "/usr/local/bin/sessionctl"]
    assert argv[6:] == ["--complete-through-sudo", "_SESSIONCTL_COMPLETE=complete_bash",
                        "COMP_WORDS=sessionctl request show ", "COMP_CWORD=3"]


def test_completion_through_sudo_answers_with_what_the_caller_may_see(seeded):
    def through_sudo(caller, words, cword, *extra):
        return fake_run(seeded, ["--complete-through-sudo", "_SESSIONCTL_COMPLETE=complete_bash",
                                 f"COMP_WORDS={words}", f"COMP_CWORD={cword}", *extra],
                        {"SUDO_USER": caller, "SUDO_UID": str(CALLERS[caller])})

    before = snapshot(seeded.db)
    alice = through_sudo("alice", "sessionctl request show ", 3)
    assert (alice.returncode, alice.stdout, alice.stderr) == (0, "1\n", "")  # her request
    bob = through_sudo("bob", "sessionctl request show ", 3)
    assert (bob.returncode, bob.stdout.strip(), bob.stderr) == (0, "", "")  # not his: nothing
    commands = through_sudo("alice", "sessionctl sl", 1)
    assert commands.stdout.split() == ["slot"]
    for hostile in (["PYTHONPATH=/tmp"], ["not-a-pair"], ["SESSIONCTL_USER=prof"]):
        refused = through_sudo("alice", "sessionctl request show ", 3, *hostile)
        assert (refused.returncode, refused.stdout, refused.stderr) == (0, "", ""), hostile
    assert snapshot(seeded.db) == before


# -- 5. output that cannot be written says whether the change was made ---------------------------------


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


def json_of(result) -> list:
    import json

    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# -- 7. the demo in the shared mode leaves nothing behind ---------------------------------------------


def test_the_demo_in_the_shared_mode_removes_its_store_and_says_so(seeded, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    before = snapshot(seeded.db)
    result = seeded.run("demo", sudo="alice")
    assert result.exit_code == 0, result.stderr
    last = result.stdout.rstrip("\n").splitlines()[-1]
    assert last.startswith("# done; the store at ") and last.endswith(
        "was removed: in the shared mode it would belong to the service account, and you could "
        "not delete it")
    assert list(temp.iterdir()) == []  # neither the store's folder nor the roster's
    assert snapshot(seeded.db) == before  # the shared store was never touched



# -- the small ones ---------------------------------------------------------------------------------

from test_config import files  # noqa: E402,F401 - the config files' fixture


def refused(cli, args, code, *needles, env=None):
    before = snapshot(cli.db)
    result = cli(*args, env=env)
    assert (result.exit_code, result.stdout) == (code, ""), (args, result.stdout, result.stderr)
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    assert snapshot(cli.db) == before
    return result


@pytest.mark.parametrize("args, path", [
    (["slot", "add", "--course"], "sessionctl slot add"),
    (["--db", "x.db", "slot", "list", "--course"], "sessionctl slot list"),
    (["--no-pager", "course", "report", "MATH101", "--from"], "sessionctl course report"),
    (["request", "export", "--out"], "sessionctl request export"),
    (["--tz"], "sessionctl"),
])
def test_an_option_without_its_value_points_at_its_commands_help(world, args, path):
    refused(world, args, 2, "requires an argument", f"hint: see '{path} --help'")


@pytest.mark.parametrize("args, said", [
    (["SLOT", "list"], "No such command 'SLOT'. Did you mean 'slot'?"),
    (["Request", "show", "1"], "No such command 'Request'. Did you mean 'request'?"),
    (["slot", "LIST"], "No such command 'LIST'. Did you mean 'list'?"),
])
def test_a_command_in_the_wrong_case_gets_a_did_you_mean(world, args, said):
    refused(world, args, 2, f"error: {said}\n")


@pytest.mark.parametrize("sender", ["a@example.edu, b@evil.example", "bad <<", "not an address",
                                    "a@example.edu\u202e"])
def test_config_show_checks_mail_from_like_notify_send(world, files, sender):
    refused(world, ["config", "show"], 2, "error: SESSIONCTL_MAIL_FROM: ",
            env={"SESSIONCTL_MAIL_FROM": sender})
    path = files.write("user", f'mail_from = "{sender}"\n')
    if "\u202e" not in sender:  # the file refuses that one itself
        refused(world, ["config", "show", "--json"], 2, f"error: {path}, line 1: invalid ")
    assert world("config", "show", env={"SESSIONCTL_MAIL_FROM": "Sessions <s@example.edu>"}).exit_code == 0


def test_out_dash_is_stdout_and_dot_slash_dash_a_file(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed = world("request", "export", "--ics", "--out", "-", user="alan")
    assert printed.exit_code == 0 and printed.stdout.startswith("BEGIN:VCALENDAR")
    assert not os.path.lexists(tmp_path / "-")
    assert world("request", "export", "--ics", "--out", "./-", user="alan").exit_code == 0
    assert (tmp_path / "-").read_text().startswith("BEGIN:VCALENDAR")


@pytest.mark.parametrize("text, line", [
    ("name\n" + "x" * 200_000 + "\n", 2),
    ("name,email\nalan,alan@example.edu\n\"" + "x" * 200_000 + "\"\n", 3),
    ("name\nalan\n\"a\nb\n" + "x" * 200_000 + "\"\n", 5),
])
def test_an_oversized_csv_field_is_reported_on_its_own_line(world, tmp_path, text, line):
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    refused(world, ["course", "enroll", "MATH101", "--from-csv", str(roster)], 2,
            f"error: CSV line {line}: field larger than field limit", env={"SESSIONCTL_USER": "ada"})


def test_a_home_that_is_not_utf8_is_a_usage_error(tmp_path):
    for env in ({"HOME": "/tmp/\udcff"}, {"HOME": str(tmp_path), "XDG_DATA_HOME": "/tmp/\udcfe"}):
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("SESSIONCTL_", "XDG_DATA"))}
        environ.update(SESSIONCTL_USER="root", **env)
        for args in (["whoami"], ["init"]):
            result = subprocess.run([sys.executable, "-m", "sessionctl", *args], capture_output=True,
                                    text=True, env=environ, timeout=60)
            name = "XDG_DATA_HOME" if "XDG_DATA_HOME" in env else "HOME"
            assert (result.returncode, result.stderr) == (2, f"error: {name} is not valid UTF-8\n")
    assert os.listdir(tmp_path) == []


def test_the_reports_bars_are_ascii_on_an_ascii_terminal(booking):
    assert booking("al", "request", "send", "1").returncode == 0
    assert booking("ada", "request", "approve", "1").returncode == 0
    ascii_ = booking("ada", "course", "report", "C1", "--to", "+30d", env={"PYTHONIOENCODING": "ascii"})
    assert ascii_.returncode == 0, ascii_.stderr
    assert "seats booked (#) and free (.) by week" in ascii_.stdout and "\\u" not in ascii_.stdout
    assert any(line.endswith("1/1") and "#" in line for line in ascii_.stdout.splitlines())
    utf8 = booking("ada", "course", "report", "C1", "--to", "+30d", env={"PYTHONIOENCODING": "utf-8"})
    assert "seats booked (█) and free (░) by week" in utf8.stdout and "█" * 4 in utf8.stdout


# -- the suite leaves the machine alone -----------------------------------------------------------------

MEANWHILE = """
from sessionctl import settings

def test_while_an_administrator_sets_up_the_shared_mode():
    with open(settings.SITE_FILE, "w") as fh:  # another process, as far as the guard knows
        fh.write('identity = "sudo"  # the administrator\\'s\\n')
"""


def test_the_suites_guard_never_deletes_a_site_file_it_did_not_create(tmp_path):
    """conftest's guard, run on a site file of a temp dir (a plugin moves it there before
    conftest is read): a file that appears while a test runs fails the test and stays."""
    import shutil

    site = tmp_path / "etc" / "config.toml"
    site.parent.mkdir()
    shutil.copy(os.path.join(os.path.dirname(__file__), "conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "moved_site.py").write_text(
        "import os\nfrom sessionctl import settings\nsettings.SITE_FILE = os.environ['MOVED_SITE']\n")
    (tmp_path / "test_meanwhile.py").write_text(MEANWHILE)
    env = {**os.environ, "MOVED_SITE": str(site),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    inner = subprocess.run([sys.executable, "-m", "pytest", "-p", "moved_site", "-q",
                            "-p", "no:cacheprovider", str(tmp_path / "test_meanwhile.py")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert inner.returncode == 1 and "changed while the test ran" in inner.stdout, inner.stdout
    assert site.read_text() == 'identity = "sudo"  # the administrator\'s\n'


@pytest.mark.parametrize("args", [
    [b"--db", b"postgresql://u:TopSecret\xff@127.0.0.1:5432/x", b"whoami"],
    [b"notify", b"send", b"--smtp", b"smtp://user:TopSecret\xff@127.0.0.1:25"],
    [b"--db", b"postgresql://u@127.0.0.1/x?password=TopSecret\xff", b"whoami"],
])
def test_an_argument_that_is_not_utf8_is_refused_without_showing_a_password(args):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    done = subprocess.run([sys.executable, "-m", "sessionctl", *args], capture_output=True,
                          env=dict(environ, SESSIONCTL_USER="root"), timeout=60)
    assert done.returncode == 2 and done.stdout == b""
    assert b"is not valid UTF-8" in done.stderr and b"TopSecret" not in done.stderr, done.stderr


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


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_a_demo_stopped_by_a_signal_removes_its_temp_folders(tmp_path, signal_name):
    """As Ctrl-C does: in the shared mode its store too (it would belong to the service
    account); here, in the personal mode, the store is kept by design and its inputs go."""
    import signal

    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    environ["TMPDIR"] = str(tmp_path)
    demo = subprocess.Popen([sys.executable, "-m", "sessionctl", "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environ)
    assert demo.stdout.readline().startswith(b"# a throwaway store")
    demo.send_signal(getattr(signal, signal_name))
    assert demo.wait(timeout=60) == 130  # as for Ctrl-C
    assert b"Traceback" not in demo.stderr.read()
    assert [p.name.startswith("sessionctl-demo-input-") for p in tmp_path.iterdir()] == [False]


@pytest.mark.parametrize("location", [
    "host=127.0.0.1 password=TopSecret dbname=x",  # libpq's keyword form
    "dbname=x password='Top Secret'",
    "postgresql:/u:TopSecret@127.0.0.1/db",  # a slash short of a URL
    "postgres:u:TopSecret@127.0.0.1/db",
])
def test_a_server_written_another_way_is_no_file_path_and_its_password_is_hidden(tmp_path, location):
    """Taken for a file, it would be created (init) and printed whole (whoami)."""
    for flags, env, code in ((["--db", location], {}, 2), ([], {"SESSIONCTL_DB": location}, 6)):
        for command in (["whoami"], ["init"]):
            result = subprocess.run([sys.executable, "-m", "sessionctl", *flags, *command],
                                    capture_output=True, text=True, cwd=tmp_path, timeout=60,
                                    env={**{k: v for k, v in os.environ.items()
                                            if not k.startswith("SESSIONCTL_")},
                                         "SESSIONCTL_USER": "root", **env})
            assert result.returncode == code and result.stdout == "", result.stderr
            assert "Secret" not in result.stderr and "unknown store location" in result.stderr
    assert os.listdir(tmp_path) == []


def test_config_show_hides_the_password_of_a_url_a_slash_short(world):
    shown = world("config", "show", env={"SESSIONCTL_SMTP": "smtp:/user:TopSecret@mail.example.edu"})
    assert shown.exit_code == 0 and "TopSecret" not in shown.stdout
    assert "smtp:/user:***@mail.example.edu" in shown.stdout
