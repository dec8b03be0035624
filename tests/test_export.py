"""``sessionctl request export --ics [--out FILE]``: an RFC 5545 calendar of the actor's sessions.

Parsed back with ``icalendar``, and imported into a real calendar client (khal). Runs on
SQLite and, with SESSIONCTL_TEST_PG set, on PostgreSQL; the CLI runs at the test clock's time.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from icalendar import Calendar

from conftest import future, iso, snapshot
from runkit import proc, refused_plainly, run_module, unusable_paths
from cronkit import run
from sessionctl.domain import courses, requests, slots, users

UTC = timezone.utc
H = timedelta(hours=1)
LINK = "https://meet.example.edu/ada-alan"
UID = re.compile(r"^request-(\d+)-[0-9a-f]{32}@sessionctl$")


@pytest.fixture
def db(backend_db):
    return backend_db


@pytest.fixture
def booked(booked):
    """conftest's sessions, with Ada's display name for the SUMMARY and ORGANIZER CN."""
    users.set_user(booked.ctx("root"), "ada", display="Ada Lovelace")
    return booked


@pytest.fixture
def folder(tmp_path) -> Path:
    """An empty directory for --out files (the SQLite store lives in tmp_path)."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def export(world, user="alan", *extra) -> bytes:
    result = world("request", "export", "--ics", *extra, user=user)
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def events(data: bytes) -> dict[int, dict]:
    """request id → the event's properties, from a parsed calendar."""
    found = {}
    for event in Calendar.from_ical(data).walk("VEVENT"):
        request_id = int(UID.match(str(event["uid"])).group(1))
        found[request_id] = event
    return found


@pytest.fixture
def scene(world, booked, clock):
    """Alan: an approved, a completed and a cancelled session (plus a pending and a rejected
    request that are not sessions); Kat: an approved one; Eve with Bob: an approved one."""
    t0 = clock.now
    done = booked.approved(t0 + 2 * H, "alan")
    clock.advance(hours=4)
    requests.complete(booked.ctx("ada"), done)
    approved = booked.approved(t0 + 24 * H, "alan", message="Recursion, please", approve_link=LINK,
                               approve_notes="Bring question 3", notes="Room 2")
    cancelled = booked.approved(t0 + 48 * H, "alan")
    requests.cancel(booked.ctx("alan"), cancelled, "exam that day")
    pending = booked.pending(t0 + 72 * H, "alan")
    rejected = booked.pending(t0 + 96 * H, "alan")
    requests.reject(booked.ctx("ada"), rejected, None)
    kats = booked.approved(t0 + 30 * H, "kat")
    courses.enroll(booked.ctx("bob"), "PHYS1", ["eve"], [])
    eves = booked.approved(t0 + 30 * H, "eve", course="PHYS1", educator="bob")
    return dict(done=done, approved=approved, cancelled=cancelled, pending=pending,
                rejected=rejected, kats=kats, eves=eves, t0=t0)


def test_a_students_calendar_has_one_event_per_session_with_every_field(world, scene):
    data = export(world, "alan")
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    found = events(data)
    assert set(found) == {scene["done"], scene["approved"], scene["cancelled"]}

    event = found[scene["approved"]]
    start = scene["t0"] + 24 * H
    assert (event["dtstart"].dt, event["dtend"].dt) == (start, start + H)
    assert event["dtstart"].dt.utcoffset() == timedelta(0)
    assert f"DTSTART:{start:%Y%m%dT%H%M%S}Z".encode() in data
    assert (event["status"], event["sequence"]) == ("CONFIRMED", 1)  # sent, approved
    assert event["summary"] == "MATH101 (Maths) with Ada Lovelace"
    assert event["url"] == LINK and event["location"] == LINK
    description = str(event["description"])
    assert "Message: Recursion, please" in description and "Notes: Bring question 3" in description
    assert "Slot notes: Room 2" in description and f"Request: {scene['approved']}" in description
    assert str(event["organizer"]) == "mailto:ada@example.edu"
    assert event["organizer"].params["CN"] == "Ada Lovelace"
    assert str(event["attendee"]) == "mailto:alan@example.edu"
    assert event["attendee"].params["CN"] == "Alan"

    done, cancelled = found[scene["done"]], found[scene["cancelled"]]
    assert (done["status"], done["sequence"]) == ("CONFIRMED", 2)  # sent, approved, completed
    assert (cancelled["status"], cancelled["sequence"]) == ("CANCELLED", 2)
    assert "Reason: exam that day" in str(cancelled["description"])
    assert "url" not in done and "location" not in done


def test_educators_see_their_slots_and_admins_everything(world, scene):
    adas = events(export(world, "ada"))
    assert set(adas) == {scene["done"], scene["approved"], scene["cancelled"], scene["kats"]}
    assert adas[scene["kats"]]["summary"] == "MATH101 (Maths) with Kat"
    everything = events(export(world, "root"))
    assert set(everything) == set(adas) | {scene["eves"]}
    assert everything[scene["eves"]]["summary"] == "PHYS1 (Physics): Eve with Bob"
    assert set(events(export(world, "eve"))) == {scene["eves"]}


def test_without_an_address_there_is_no_mailto(world, booked, scene):
    users.set_user(booked.ctx("root"), "alan", email="")
    event = events(export(world, "ada"))[scene["approved"]]
    assert "attendee" not in event and str(event["organizer"]) == "mailto:ada@example.edu"


def test_cancelling_keeps_the_uid_and_raises_the_sequence(world, booked, clock, scene):
    before = export(world, "alan")
    assert export(world, "alan") == before  # nothing changed: the very same bytes
    event = events(before)[scene["approved"]]
    clock.advance(minutes=5)
    requests.cancel(booked.ctx("ada"), scene["approved"], "I am ill")
    after = events(export(world, "alan"))[scene["approved"]]
    assert after["uid"] == event["uid"]
    assert (after["sequence"], after["status"]) == (event["sequence"] + 1, "CANCELLED")
    assert after["dtstamp"].dt == event["dtstamp"].dt + timedelta(minutes=5)


def test_changed_slot_notes_show_as_a_newer_revision(world, booked, clock, scene):
    event = events(export(world, "alan"))[scene["approved"]]
    clock.advance(minutes=7)
    slot_id = requests.show(booked.ctx("ada"), scene["approved"]).slot
    slots.update_slot(booked.ctx("ada"), slot_id, notes="Room 3 instead")
    after = events(export(world, "alan"))[scene["approved"]]
    assert "Slot notes: Room 3 instead" in str(after["description"])
    assert after["sequence"] == event["sequence"]  # RFC 5546: not a rescheduling
    assert after["last-modified"].dt == after["dtstamp"].dt == event["dtstamp"].dt + timedelta(minutes=7)


def test_uids_carry_the_store_id_so_two_stores_never_collide(world, scene, tmp_path):
    uid = str(events(export(world, "alan"))[scene["done"]]["uid"])
    [(_, store_id, *_)] = snapshot(world.db)["store_info"]  # (id, uuid, identity)
    assert uid == f"request-{scene['done']}-{store_id}@sessionctl"
    other = tmp_path / "other.db"
    assert world("--db", str(other), "init").exit_code == 0
    assert snapshot(other)["store_info"][0][1] != store_id


OLD = b"BEGIN:VCALENDAR\r\nPRODID:an older export\r\n"


def test_out_replaces_the_file_atomically(world, booked, scene, folder):
    target = folder / "sessions.ics"
    target.write_bytes(OLD)
    target.chmod(0o640)
    reader = open(target, "rb")  # a calendar app that opened the file before the export
    result = world("request", "export", "--ics", "--out", str(target), user="alan")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert target.read_bytes() == export(world, "alan")
    assert reader.read() == OLD  # never a half-written file
    reader.close()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in folder.iterdir()) == ["sessions.ics"]  # no temp file left

    link = folder / "link.ics"
    link.symlink_to(target)
    requests.cancel(booked.ctx("alan"), scene["approved"], None)
    assert world("request", "export", "--ics", "--out", str(link), user="alan").exit_code == 0
    assert link.is_symlink() and target.read_bytes() == export(world, "alan")


@pytest.mark.parametrize("what", ["the store", "a link to the store", "a text file"])
def test_out_never_replaces_a_file_that_is_not_a_calendar(world, scene, folder, what):
    """``--out`` given the store itself (by mistake, or through a symlink someone planted
    where a cron job writes) would otherwise replace it with the calendar."""
    if str(world.db).startswith("postgresql://"):
        pytest.skip("a SQLite store is a file")
    target = {"the store": world.db, "a link to the store": folder / "sessions.ics",
              "a text file": folder / "notes.txt"}[what]
    if what == "a link to the store":
        target.symlink_to(world.db)
    if what == "a text file":
        target.write_text("my notes\n")
    before, content = snapshot(world.db), open(os.path.realpath(target), "rb").read()
    result = world("request", "export", "--ics", "--out", str(target), user="alan")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: cannot write {target}: it holds something else "
                                    "than a calendar")
    assert snapshot(world.db) == before
    assert open(os.path.realpath(target), "rb").read() == content
    assert world("request", "list", user="alan").exit_code == 0


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(world, scene, folder, monkeypatch):
    target = folder / "sessions.ics"
    target.write_bytes(OLD)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = world("request", "export", "--ics", "--out", str(target), user="alan")
    assert result.exit_code == 6 and result.stdout == ""
    assert result.stderr == f"error: cannot write {target}: No space left on device; the old file is unchanged\n"
    assert target.read_bytes() == OLD
    assert [p.name for p in folder.iterdir()] == ["sessions.ics"]


@pytest.mark.parametrize("args, user, code, says", [
    ([], "alan", 2, "say which format to export"),
    (["--ics", "--out", "{tmp}"], "alan", 2, "it is a directory"),
    (["--ics", "--out", "{tmp}/missing/cal.ics"], "alan", 2, "No such file or directory"),
    (["--ics", "--format", "json"], "alan", 2, "No such option"),
    (["--ics"], "nobody", 4, "'nobody' is not a registered user"),
])
def test_refusals_change_nothing(world, scene, folder, args, user, code, says):
    before = snapshot(world.db)
    result = world("request", "export", *[a.replace("{tmp}", str(folder)) for a in args], user=user)
    assert result.exit_code == code, result.stderr
    assert result.stdout == "" and result.stderr.startswith("error: ")
    assert says in result.stderr.splitlines()[0]
    assert snapshot(world.db) == before
    assert list(folder.iterdir()) == []


def test_other_commands_do_not_load_the_calendar_or_mail_libraries(world):
    if str(world.db).startswith("postgresql://"):
        pytest.skip("the PostgreSQL driver loads email.message itself; SQLite shows our imports")
    probe = ("import sys; from sessionctl.cli import app; "
             "app(['whoami', '--json'], standalone_mode=False); "
             "print(sorted(m for m in ('icalendar', 'smtplib', 'email.message') if m in sys.modules))")
    env = {**os.environ, "SESSIONCTL_DB": str(world.db), "SESSIONCTL_USER": "root"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


# -- a real calendar client ------------------------------------------------------------------------

KHAL = Path(sys.executable).with_name("khal")
KHAL_CONFIG = """
[calendars]
[[sessions]]
path = {calendar}
type = calendar

[locale]
local_timezone = Europe/Berlin
default_timezone = Europe/Berlin
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M

[sqlite]
path = {cache}
"""


def khal_in(folder: Path):
    """khal with a calendar and a config of its own in ``folder``: ``khal(*args)`` runs it."""
    (folder / "calendar").mkdir()
    config = folder / "khal.conf"
    config.write_text(KHAL_CONFIG.format(calendar=folder / "calendar", cache=folder / "khal.db"))
    env = {**os.environ, "XDG_CONFIG_HOME": str(folder), "XDG_DATA_HOME": str(folder),
           "TZ": "UTC", "LC_ALL": "C.UTF-8"}

    def khal(*args):
        result = subprocess.run([str(KHAL), "-c", str(config), *args], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    return khal


def test_khal_imports_the_file_and_lists_sessions_at_local_time(world, booked, clock, tmp_path):
    """The installed command writes the file; khal imports it and lists it in Berlin time."""
    summer = datetime(2027, 7, 1, 9, 0, tzinfo=UTC)  # 11:00 in Berlin (CEST)
    winter = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)  # 10:00 in Berlin (CET)
    booked.approved(summer, "alan", approve_link=LINK)
    booked.approved(winter, "alan")
    dropped = booked.approved(winter + 3 * H, "alan")
    requests.cancel(booked.ctx("alan"), dropped, None)
    out = tmp_path / "alan.ics"
    exported = run("request", "export", "--ics", "--out", str(out), user="alan", db=world.db)
    assert (exported.returncode, exported.stdout, exported.stderr) == (0, "", "")

    khal = khal_in(tmp_path)
    khal("import", "--batch", str(out))
    assert len(list((tmp_path / "calendar").iterdir())) == 3
    july = khal("list", "2027-07-01", "2027-07-01")
    assert "11:00-12:00 MATH101 (Maths) with Ada Lovelace" in july
    january = khal("list", "--format", "{start-time}-{end-time} {title} [{status}]",
                   "2027-01-11", "2027-01-11")
    assert re.search(r"^10:00-11:00 MATH101 \(Maths\) with Ada Lovelace \[CONFIRMED\s*\]$", january, re.M)
    assert re.search(r"^13:00-14:00 MATH101 \(Maths\) with Ada Lovelace \[CANCELLED\s*\]$", january, re.M)


# -- a moved session is one event (docs/reference/lifecycle.md#moving-a-booking) -------------------


def test_a_moved_session_keeps_the_first_requests_uid_with_a_higher_sequence(world, booked, clock):
    from sessionctl.domain import moves

    first = booked.approved(clock.now + 24 * H, "alan", approve_link=LINK)
    before = events(export(world))[first]
    second_slot = booked.slot(clock.now + 48 * H)
    clock.advance(minutes=5)
    moved = moves.move(booked.ctx("ada"), first, second_slot, None)  # the educator: at once
    third_start = clock.now + 72 * H
    third_slot = booked.slot(third_start)
    proposal = moves.move(booked.ctx("alan"), moved.id, third_slot, None)  # the student: a proposal
    mid = Calendar.from_ical(export(world)).walk("VEVENT")
    assert len(mid) == 1  # the proposal is not (yet) the session
    clock.advance(minutes=5)
    requests.approve(booked.ctx("ada"), proposal.id, None, None)
    [event] = Calendar.from_ical(export(world)).walk("VEVENT")
    assert str(event["uid"]) == str(before["uid"])  # request-<first>-…: calendars move it
    assert (event["dtstart"].dt, str(event["status"])) == (third_start, "CONFIRMED")
    assert int(event["sequence"]) > int(mid[0]["sequence"]) > int(before["sequence"])
    assert event["dtstamp"].dt > before["dtstamp"].dt
    assert event["created"].dt == before["created"].dt
    assert f"Request: {proposal.id}" in str(event["description"])


def test_a_new_slot_link_raises_the_sequence_of_the_sessions_that_follow_it(world, booked, clock):
    slot_id = booked.slot(clock.now + 24 * H, link=LINK)
    request_id = requests.send(booked.ctx("alan"), slot_id, None).id
    requests.approve(booked.ctx("ada"), request_id, None, None)
    before = events(export(world))[request_id]
    slots.update_slot(booked.ctx("ada"), slot_id, link="https://meet.example.edu/new-room")
    after = events(export(world))[request_id]
    assert str(after["url"]) == "https://meet.example.edu/new-room"
    assert int(after["sequence"]) == int(before["sequence"]) + 1


def test_khal_shows_a_moved_session_once_at_its_new_time(world, booked, clock, tmp_path):
    from sessionctl.domain import moves

    first = booked.approved(datetime(2027, 1, 11, 9, 0, tzinfo=UTC), "alan")
    khal, calendar = khal_in(tmp_path), tmp_path / "calendar"
    out = tmp_path / "alan.ics"
    for step in ("before", "after"):
        if step == "after":
            later = booked.slot(datetime(2027, 1, 11, 14, 0, tzinfo=UTC))
            moves.move(booked.ctx("ada"), first, later, None)
        exported = run("request", "export", "--ics", "--out", str(out), user="alan", db=world.db)
        assert exported.returncode == 0, exported.stderr
        khal("import", "--batch", str(out))  # the same UID: khal replaces the event
    assert len(list(calendar.glob("*.ics"))) == 1  # (khal leaves temp copies of what it replaced)
    day = khal("list", "--format", "{start-time}-{end-time} {title}", "2027-01-11", "2027-01-11")
    assert [line for line in day.splitlines() if "MATH101" in line] == [
        "15:00-16:00 MATH101 (Maths) with Ada Lovelace"]


# -- found by the fuzzer: --out paths -------------------------------------------------------------

@pytest.fixture
def session_to_export(world):
    assert world("slot", "add", "--course", "MATH101", "--start", "+2d", "--duration", "1h",
                 user="ada").exit_code == 0
    assert world("request", "send", "1", user="alan").exit_code == 0
    assert world("request", "approve", "1", user="ada").exit_code == 0
    return world


@pytest.mark.parametrize("which", ["300-char name", "a link to itself", "two links in a ring",
                                   "a file inside a looping link"])
def test_export_to_an_unwritable_path_is_a_usage_error(session_to_export, tmp_path, which):
    paths = unusable_paths(tmp_path)
    paths["300-char name"] = tmp_path / ("n" * 300 + ".ics")
    before = snapshot(session_to_export.db)
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = proc("request", "export", "--ics", "--out", str(paths[which]), user="alan",
                  db=session_to_export.db)
    refused_plainly(result)
    assert snapshot(session_to_export.db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no temp file left behind


def test_export_to_a_device_writes_through_it_and_never_replaces_it(session_to_export, tmp_path):
    """``--out /dev/null`` (or any character device or FIFO) must not be renamed over: the
    atomic temp-file-and-rename turns the device node into a regular file. Run as root in a
    container, ``sessionctl request export --ics --out /dev/null`` replaces the machine's
    /dev/null with a plain file. Here the device is a copy of /dev/null made in tmp."""
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = proc("request", "export", "--ics", "--out", str(device), user="alan",
                  db=session_to_export.db)
    assert stat.S_ISCHR(os.lstat(device).st_mode), "the device node was replaced by a regular file"
    assert result.returncode in (0, 2), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no temp file left behind


def test_export_to_a_fifo_writes_into_it_and_never_replaces_it(session_to_export, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there: writing won't block
    try:
        result = proc("request", "export", "--ics", "--out", str(fifo), user="alan",
                      db=session_to_export.db, timeout=20)
        try:
            got = os.read(reader, 1 << 16)
        except BlockingIOError:
            got = b""
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
    assert result.returncode in (0, 2), result.stderr
    if result.returncode == 0:
        assert got.startswith(b"BEGIN:VCALENDAR"), got[:100]


# -- found by the second attack pass: an older store's link ---------------------------------------

def test_an_older_stores_link_with_line_breaks_exports_as_one_line(world):
    if str(world.db).startswith("postgresql://"):
        pytest.skip("writes an older store's row into the SQLite file itself")
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


# -- found by the third attack pass: --out follows no symlink that someone else chose -------------

CALENDAR = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


NOBODY = 65534
DAEMON = 1


@pytest.fixture
def exporter(tmp_path):
    """``export(path)``: a cron job's ``request export --ics --out PATH`` (a new process),
    on an initialised SQLite store; the store's rows before it are kept in ``.before``."""
    db = tmp_path / "store.db"
    init = run_module(["init"], SESSIONCTL_DB=str(db))
    assert init.returncode == 0, init.stderr

    def export(path) -> subprocess.CompletedProcess:
        return run_module(["request", "export", "--ics", "--out", str(path)], SESSIONCTL_DB=str(db))

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


def test_out_dash_is_stdout_and_dot_slash_dash_a_file(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed = world("request", "export", "--ics", "--out", "-", user="alan")
    assert printed.exit_code == 0 and printed.stdout.startswith("BEGIN:VCALENDAR")
    assert not os.path.lexists(tmp_path / "-")
    assert world("request", "export", "--ics", "--out", "./-", user="alan").exit_code == 0
    assert (tmp_path / "-").read_text().startswith("BEGIN:VCALENDAR")


# -- issue 19: never-booked requests stay out, --no-cancelled, group slots --------------------------


def test_a_request_never_approved_is_in_no_calendar_even_once_cancelled(world, booked, scene):
    """docs/reference/calendars.md#the-events: pending then cancelled, rejected, expired: none
    of them was a session."""
    withdrawn = booked.pending(scene["t0"] + 100 * H, "alan")
    requests.cancel(booked.ctx("alan"), withdrawn, "changed my mind")
    for user in ("alan", "ada", "root"):
        found = events(export(world, user))
        assert withdrawn not in found and scene["pending"] not in found
        assert scene["rejected"] not in found and scene["cancelled"] in found


def test_no_cancelled_leaves_cancelled_sessions_out(world, scene):
    found = events(export(world, "alan", "--no-cancelled"))
    assert set(found) == {scene["done"], scene["approved"]}
    assert all(e["status"] == "CONFIRMED" for e in found.values())
    result = world("request", "export", "--ics", "--no-cancelled=yes", user="alan")
    assert result.exit_code == 2 and result.stdout == ""


SLOT_UID = re.compile(r"^slot-(\d+)-[0-9a-f]{32}@sessionctl$")


def group_slot(booked, start, *students, capacity=3) -> tuple[int, dict[str, int]]:
    from sessionctl.domain.window import Window

    [slot] = slots.add_slots(booked.ctx("ada"), "MATH101", [Window(start, start + H)],
                             capacity=capacity)
    made = {}
    for name in students:
        made[name] = requests.send(booked.ctx(name), slot.id, None).id
        requests.approve(booked.ctx("ada"), made[name], None, None)
    return slot.id, made


def test_a_group_slot_is_one_event_for_its_educator_and_one_per_student(world, booked, clock):
    courses.enroll(booked.ctx("ada"), "MATH101", ["eve"], [])
    slot_id, made = group_slot(booked, clock.now + 24 * H, "alan", "kat", "eve")
    requests.cancel(booked.ctx("eve"), made["eve"], None)

    adas = Calendar.from_ical(export(world, "ada")).walk("VEVENT")
    assert len(adas) == 1 and int(SLOT_UID.match(str(adas[0]["uid"])).group(1)) == slot_id
    attendees = adas[0]["attendee"]
    assert sorted(str(a) for a in attendees) == ["mailto:alan@example.edu", "mailto:kat@example.edu"]
    assert adas[0]["status"] == "CONFIRMED" and "2 of 3 booked" in str(adas[0]["summary"])

    alans = events(export(world, "alan"))
    assert set(alans) == {made["alan"]}
    assert str(alans[made["alan"]]["attendee"]) == "mailto:alan@example.edu"  # nobody else
    assert "Kat" not in alans[made["alan"]].to_ical().decode()
    eves = events(export(world, "eve"))  # her own cancelled seat, still hers
    assert eves[made["eve"]]["status"] == "CANCELLED"

    before = adas[0]["sequence"]
    requests.cancel(booked.ctx("kat"), made["kat"], None)
    requests.cancel(booked.ctx("alan"), made["alan"], None)
    [after] = Calendar.from_ical(export(world, "ada")).walk("VEVENT")
    assert after["uid"] == adas[0]["uid"] and after["sequence"] > before
    assert after["status"] == "CANCELLED" and "attendee" not in after
    assert Calendar.from_ical(export(world, "ada", "--no-cancelled")).walk("VEVENT") == []
