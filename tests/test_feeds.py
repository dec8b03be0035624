"""Feeds (issue 19, docs/reference/calendars.md#feeds): ``feed url``, ``feed reset`` and
``feed write [DIR]``, the files they write and what they refuse; then nginx from Debian serves
the directory on loopback and a subscriber (icalendar over HTTP) sees a moved session updated
in place. SQLite and, with SESSIONCTL_TEST_PG set, PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from conftest import future, iso, snapshot
from cronkit import free_port, run
from sessionctl.domain import moves, requests
from test_mail import booked  # noqa: F401 (the fixture: sessions on the real clock)

H = timedelta(hours=1)
BASE = "https://feeds.example.edu/cal/"
URL = re.compile(r"^https://feeds\.example\.edu/cal/([0-9a-f]{40})\.ics$")


@pytest.fixture
def db(backend_db, monkeypatch):
    monkeypatch.setenv("SESSIONCTL_FEED_BASE", BASE)
    monkeypatch.delenv("SESSIONCTL_FEED_DIR", raising=False)
    return backend_db


@pytest.fixture
def feeds():
    """A feed directory others can enter but not list, where a web server's worker can read."""
    path = Path(tempfile.mkdtemp(prefix="sessionctl-feeds-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path)


def feed(args, user, db, **env):
    return run("feed", *args, user=user, db=db, **env)


def token(user, db) -> str:
    result = feed(["url"], user, db, SESSIONCTL_FEED_BASE=BASE)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return URL.match(result.stdout.strip()).group(1)


def write(db, where, *extra, user="root"):
    result = feed(["write", str(where), *extra], user, db)
    assert result.returncode == 0, result.stderr
    return result.stdout


def events(path: Path) -> dict[str, object]:
    return {str(e["uid"]): e for e in Calendar.from_ical(path.read_bytes()).walk("VEVENT")}


def test_url_is_stable_secret_and_reset_makes_a_new_one(world):
    first = token("alan", world.db)
    assert token("alan", world.db) == first and token("kat", world.db) != first
    result = feed(["reset"], "alan", world.db, SESSIONCTL_FEED_BASE=BASE)
    assert result.returncode == 0
    fresh = URL.match(result.stdout.strip()).group(1)
    assert fresh != first and token("alan", world.db) == fresh
    # another base without a trailing slash still names the file in it
    other = feed(["url"], "alan", world.db, SESSIONCTL_FEED_BASE="http://h.example/f")
    assert other.stdout == f"http://h.example/f/{fresh}.ics\n"


@pytest.mark.parametrize("base", ["", "ftp://x.example/", "javascript:alert(1)", "https://x/\u202e"])
def test_url_without_a_usable_feed_base_is_refused_and_changes_nothing(world, base):
    before = snapshot(world.db)
    result = feed(["url"], "alan", world.db, SESSIONCTL_FEED_BASE=base)
    assert result.returncode == 2 and result.stdout == "" and result.stderr.startswith("error: ")
    assert snapshot(world.db) == before


def test_a_feed_holds_the_users_sessions_and_an_educators_open_slots(world, booked, feeds):
    alan, ada, kat = (token(u, world.db) for u in ("alan", "ada", "kat"))
    approved = booked.approved(future(hours=30), "alan")
    withdrawn = booked.pending(future(hours=40), "alan")
    requests.cancel(booked.ctx("alan"), withdrawn, None)
    kats = booked.approved(future(hours=50), "kat")
    open_slot = booked.slot(future(hours=60))
    assert write(world.db, feeds) == "written: 3, unchanged: 0, removed: 0\n"

    files = sorted(p.name for p in feeds.iterdir())
    assert files == sorted(f"{t}.ics" for t in (alan, ada, kat))
    for path in feeds.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    cal = Calendar.from_ical((feeds / f"{alan}.ics").read_bytes())
    assert str(cal["method"]) == "PUBLISH" and str(cal["x-wr-calname"]) == "sessionctl: Alan"
    assert cal["refresh-interval"].dt == timedelta(minutes=15)
    assert str(cal["x-published-ttl"]) == "PT15M"
    alans = events(feeds / f"{alan}.ics")
    assert [u.split("-")[1] for u in alans] == [str(approved)]  # not Kat's, not the withdrawn one
    adas = events(feeds / f"{ada}.ics")
    assert {u.split("-")[1] for u in adas if u.startswith("request-")} == {str(approved), str(kats)}
    free = {u.split("-")[1]: e for u, e in adas.items() if u.startswith("open-")}
    assert str(open_slot) in free and len(free) == 2  # and the withdrawn request's, open again
    assert all(str(e["transp"]) == "TRANSPARENT" for e in free.values())
    assert "1 of 1 seat free" in str(free[str(open_slot)]["summary"])
    assert not [u for u in events(feeds / f"{kat}.ics") if u.startswith("open-")]


def test_only_changed_files_are_rewritten_and_reset_tokens_go(world, booked, feeds):
    alan, kat = token("alan", world.db), token("kat", world.db)
    write(db=world.db, where=feeds)
    before = {p.name: p.stat().st_ino for p in feeds.iterdir()}
    assert write(world.db, feeds, "--json").replace(" ", "").replace("\n", "") == \
        '{"written":0,"unchanged":2,"removed":0}'
    booked.approved(future(hours=30), "kat")
    assert write(world.db, feeds, "-q") == ""  # quiet: nothing on stdout
    after = {p.name: p.stat().st_ino for p in feeds.iterdir()}
    assert after[f"{alan}.ics"] == before[f"{alan}.ics"]  # the very same file
    assert after[f"{kat}.ics"] != before[f"{kat}.ics"]  # a new one, renamed over it
    assert feed(["reset"], "alan", world.db, SESSIONCTL_FEED_BASE=BASE).returncode == 0
    assert write(world.db, feeds) == "written: 1, unchanged: 1, removed: 1\n"
    assert f"{alan}.ics" not in {p.name for p in feeds.iterdir()}
    assert not [p for p in feeds.iterdir() if p.name.startswith(".")]  # no temporary left


def test_write_is_for_admins(world, feeds):
    token("alan", world.db)
    before = snapshot(world.db)
    result = feed(["write", str(feeds)], "ada", world.db)
    assert result.returncode == 4 and result.stdout == ""
    assert snapshot(world.db) == before and list(feeds.iterdir()) == []


def test_a_directory_missing_listable_or_holding_a_symlink_is_exit_6_touching_nothing(world, feeds, tmp_path):
    alan = token("alan", world.db)
    result = feed(["write", str(feeds / "missing")], "root", world.db)
    assert result.returncode == 6 and result.stdout == "" and "missing" in result.stderr
    for listable in (0o755, 0o751, 0o750):  # its group or anyone could read the secret names
        feeds.chmod(listable)
        result = feed(["write", str(feeds)], "root", world.db)
        assert result.returncode == 6 and "listable by its group or others" in result.stderr
    for writable in (0o733, 0o703, 0o731):  # anyone could plant a link where a feed goes
        feeds.chmod(writable)
        result = feed(["write", str(feeds)], "root", world.db)
        assert result.returncode == 6 and "writable by its group or others" in result.stderr
    feeds.chmod(0o711)
    outside = tmp_path / "victim"
    outside.write_text("keep me")
    (feeds / f"{alan}.ics").symlink_to(outside)
    result = feed(["write", str(feeds)], "root", world.db)
    assert result.returncode == 6 and "symbolic link" in result.stderr
    assert outside.read_text() == "keep me" and (feeds / f"{alan}.ics").is_symlink()
    assert [p.name for p in feeds.iterdir()] == [f"{alan}.ics"]
    assert feed(["write"], "root", world.db).returncode == 2  # no DIR and no feed_dir


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory anyway")
def test_a_directory_that_is_not_writable_is_exit_6(world, feeds):
    token("alan", world.db)
    feeds.chmod(0o511)
    result = feed(["write", str(feeds)], "root", world.db)
    assert result.returncode == 6 and list(feeds.iterdir()) == []


@pytest.mark.parametrize("where", ["line\nbreak", "\u202eevil", "zero\u200bwidth", "-q"])
def test_hostile_dirs_are_just_missing_directories(world, where, tmp_path):
    token("alan", world.db)
    result = run("feed", "write", "--", where, user="root", db=world.db)
    assert result.returncode == 6 and result.stdout == ""
    assert list(tmp_path.glob("*.ics")) == []


def test_feed_dir_from_the_config_is_the_default(world, feeds):
    token("alan", world.db)
    result = run("feed", "write", user="root", db=world.db, SESSIONCTL_FEED_DIR=str(feeds))
    assert result.returncode == 0 and len(list(feeds.iterdir())) == 1


# -- a real web server and a subscriber ---------------------------------------------------------


@pytest.fixture
def nginx(feeds, tmp_path):
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (.ci/run installs it)")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""
{user}
daemon off; worker_processes 1; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{ worker_connections 16; }}
http {{
  access_log off; types {{ text/calendar ics; }}
  client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;
  fastcgi_temp_path {tmp_path}/fcgi; uwsgi_temp_path {tmp_path}/uwsgi; scgi_temp_path {tmp_path}/scgi;
  server {{ listen 127.0.0.1:{port}; location /cal/ {{ alias {feeds}/; autoindex off; }} }}
}}
""")
    server = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path)],
                              stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/cal/"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "none.ics", timeout=1)
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.05)
    yield base
    server.terminate()
    server.wait(timeout=10)


def fetch(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/calendar")
        return Calendar.from_ical(response.read())


def test_a_subscriber_sees_a_moved_session_updated_in_place(world, booked, feeds, nginx):
    request = booked.approved(future(hours=30), "alan")
    url = feed(["url"], "alan", world.db, SESSIONCTL_FEED_BASE=nginx).stdout.strip()
    write(world.db, feeds)
    [before] = fetch(url).walk("VEVENT")
    moves.move(booked.ctx("ada"), request, booked.slot(future(hours=50)), None)
    write(world.db, feeds)
    [after] = fetch(url).walk("VEVENT")
    assert after["uid"] == before["uid"] and after["sequence"] > before["sequence"]
    assert after["dtstart"].dt - before["dtstart"].dt == 20 * H
    with pytest.raises(urllib.error.HTTPError) as listing:
        urllib.request.urlopen(nginx, timeout=5)  # no index of the secret names
    assert listing.value.code in (403, 404)
    # a reset token's old URL stops working at the next write
    assert feed(["reset"], "alan", world.db, SESSIONCTL_FEED_BASE=nginx).returncode == 0
    write(world.db, feeds)
    with pytest.raises(urllib.error.HTTPError) as gone:
        fetch(url)
    assert gone.value.code == 404


def test_two_first_feed_urls_at_once_agree(world):
    """A racing second process: both mint a token, one wins, both print the winner's URL."""
    env = {**os.environ, "SESSIONCTL_DB": str(world.db), "SESSIONCTL_USER": "alan",
           "SESSIONCTL_FEED_BASE": BASE}
    from cronkit import BIN

    runs = [subprocess.Popen([str(BIN), "feed", "url"], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(4)]
    printed = {r.communicate(timeout=60)[0] for r in runs}
    assert all(r.returncode == 0 for r in runs)
    assert len(printed) == 1 and URL.match(printed.pop().strip())


def test_two_feed_writes_at_once_take_turns(world, feeds):
    """Two cron runs at once, after every token was reset: each removes and writes in turn,
    where one died with exit 1 on a file the other had removed."""
    from cronkit import BIN

    names = [f"u{i}" for i in range(40)]
    for name in names:
        assert run("user", "add", name, "--role", "student", user="root", db=world.db).returncode == 0
        token(name, world.db)
    write(world.db, feeds)
    for name in names:
        assert feed(["reset"], name, world.db, SESSIONCTL_FEED_BASE=BASE).returncode == 0
    env = {**os.environ, "SESSIONCTL_DB": str(world.db), "SESSIONCTL_USER": "root"}
    runs = [subprocess.Popen([str(BIN), "feed", "write", str(feeds)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    said = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], said
    assert len(list(feeds.iterdir())) == 40


@pytest.mark.parametrize("value", ['"ftp://x/"', '"https://x/\\u200b"', "42", '"https://x/?a=1"'])
def test_a_bad_feed_base_in_a_config_file_is_exit_2_naming_the_file(world, tmp_path, value):
    config = tmp_path / "cfg" / "sessionctl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f"feed_base = {value}\n")
    result = run("feed", "url", user="alan", db=world.db, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    assert result.returncode == 2 and str(config) in result.stderr and result.stdout == ""


def test_two_stores_sharing_a_directory_remove_only_their_own_files(world, feeds, tmp_path):
    """Two stores write into one web root (real processes, the second pair at once): each
    file names its store (X-SESSIONCTL-STORE), and a store removes only its own files whose
    tokens are gone; another store's feeds, a stranger's ``<40 hex>.ics``, a file without
    the mark and a stranger's symbolic link are left as they are."""
    from cronkit import BIN

    other = tmp_path / "other.db"
    assert run("init", user="root", db=other).returncode == 0
    for name in ("zed", "yan"):
        assert run("user", "add", name, "--role", "student", user="root", db=other).returncode == 0
    ours = {"alan": token("alan", world.db), "kat": token("kat", world.db)}
    theirs = {"zed": token("zed", other), "yan": token("yan", other)}
    stranger = feeds / f"{'f' * 40}.ics"
    stranger.write_bytes(b"BEGIN:VCALENDAR\r\nX-WR-CALNAME:someone else's\r\nEND:VCALENDAR\r\n")
    unmarked = feeds / f"{'e' * 40}.ics"  # a feed as a release before the mark wrote it
    unmarked.write_bytes(b"BEGIN:VCALENDAR\r\nX-SESSIONCTL-DIGEST:00\r\nEND:VCALENDAR\r\n")
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = feeds / f"{'d' * 40}.ics"
    link.symlink_to(victim)
    strangers = {p.name: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in (stranger, unmarked, link)}

    assert write(world.db, feeds) == "written: 2, unchanged: 0, removed: 0\n"
    assert write(other, feeds) == "written: 2, unchanged: 0, removed: 0\n"
    marks = []
    for tokens in (ours, theirs):
        found = {line for t in tokens.values() for line in
                 (feeds / f"{t}.ics").read_bytes().split(b"\r\n") if line.startswith(b"X-SESSIONCTL-STORE:")}
        assert len(found) == 1 and re.fullmatch(rb"X-SESSIONCTL-STORE:[0-9a-f]{32}", min(found))
        marks.append(found)
    assert marks[0] != marks[1]
    for who, db in (("alan", world.db), ("zed", other)):
        assert feed(["reset"], who, db, SESSIONCTL_FEED_BASE=BASE).returncode == 0
    env = {**os.environ, "SESSIONCTL_USER": "root"}
    runs = [subprocess.Popen([str(BIN), "feed", "write", str(feeds)], text=True,
                             env={**env, "SESSIONCTL_DB": str(db)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for db in (world.db, other)]
    said = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], said
    assert [out for out, _ in said] == ["written: 1, unchanged: 1, removed: 1\n"] * 2
    now = {token("alan", world.db), ours["kat"], token("zed", other), theirs["yan"]}
    assert {p.name for p in feeds.iterdir()} == {f"{t}.ics" for t in now} | set(strangers)
    assert {p.name: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in (stranger, unmarked, link)} == strangers
    assert victim.read_text() == "keep me" and link.is_symlink()


def test_a_run_killed_before_its_renames_leaves_nothing_for_the_next(world, feeds):
    """A temporary file of ours (a complete feed under a dot name) left by a run killed with
    -9 is removed by the next run; another store's is not ours to remove."""
    alan = token("alan", world.db)
    assert feed(["write", str(feeds)], "root", world.db).returncode == 0
    ours = (feeds / f"{alan}.ics").read_bytes()
    left = feeds / f".{alan}.ics.0123456789ab.tmp"
    left.write_bytes(ours)
    theirs = feeds / f".{'e' * 40}.ics.ba9876543210.tmp"
    theirs.write_bytes(ours.replace(b"X-SESSIONCTL-STORE:", b"X-SESSIONCTL-STORE:other-"))
    outside = feeds.parent / f"outside-{alan}.ics"  # a link or a directory named as ours: untouched
    outside.write_bytes(ours)
    link = feeds / f".{alan}.ics.aaaaaaaaaaaa.tmp"
    link.symlink_to(outside)
    folder = feeds / f".{alan}.ics.bbbbbbbbbbbb.tmp"
    folder.mkdir()
    result = feed(["write", str(feeds)], "root", world.db)
    assert result.returncode == 0, result.stderr
    assert not left.exists() and theirs.exists()
    assert link.is_symlink() and outside.read_bytes() == ours and folder.is_dir()
    outside.unlink()


def test_a_moved_open_slots_event_raises_its_sequence(world, booked, feeds):
    ada = token("ada", world.db)
    open_slot = booked.slot(future(hours=60))
    write(world.db, feeds)
    [before] = [e for u, e in events(feeds / f"{ada}.ics").items() if u.startswith(f"open-{open_slot}-")]
    time.sleep(1.1)  # the store keeps whole seconds
    result = run("slot", "update", str(open_slot), "--start", iso(future(hours=62)), user="ada",
                 db=world.db)
    assert result.returncode == 0, result.stderr
    write(world.db, feeds)
    [after] = [e for u, e in events(feeds / f"{ada}.ics").items() if u.startswith(f"open-{open_slot}-")]
    assert after["sequence"] > before["sequence"] and after["dtstart"].dt > before["dtstart"].dt
