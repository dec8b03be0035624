"""docs/reference/shared-mode.md, the shared mode in-process: who acts, what a caller may not name, the files.

A fake machine: the fixed site file is moved to a temp dir (``configfile.SITE_FILE``), "root" is
this process's user (``shared.ROOT``), and the password database knows a service account
``svc`` with this process's uid and a few callers. So every rule runs here as any user; the
real thing, with real accounts, sudo and /etc/xdg, is test_shared_e2e.py.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import snapshot
from sessionctl import configfile, shared
from sessionctl.cli import app

UID = os.getuid()
CALLERS = {"alice": 70001, "bob": 70002, "prof": 70003, "grace": 70004}


class Machine:
    """The fake machine: ``run(*args, sudo=NAME)`` runs sessionctl as the service account,
    as sudo would for NAME (``sudo=None``: the service account on its own)."""

    def __init__(self, root: Path):
        self.root = root
        self.site = root / "etc" / "sessionctl" / "config.toml"
        self.home = root / "svc-home"
        self.state = root / "state"
        self.db = self.state / "sessionctl.db"
        self.runner = CliRunner()

    def write_site(self, text: str, mode: int = 0o644) -> None:
        self.site.write_text(text, encoding="utf-8")
        self.site.chmod(mode)

    def standard(self, extra: str = "") -> None:
        self.write_site(f'identity = "sudo"\naccount = "svc"\ncommand = "/usr/local/bin/sessionctl"\n'
                        f'db = "{self.db}"\n{extra}')

    def env(self, sudo: str | None, **extra) -> dict:
        env = {"SESSIONCTL_DB": None, "SESSIONCTL_USER": None, "SESSIONCTL_TZ": "UTC",
               "SESSIONCTL_DEBUG": None, "NO_COLOR": "1", "COLUMNS": "200",
               "SUDO_USER": sudo, "SUDO_UID": None if sudo is None else str(CALLERS[sudo])}
        env.update(extra)
        return env

    def run(self, *args: str, sudo: str | None = "alice", input: str | None = None, **extra):
        return self.runner.invoke(app, list(args), env=self.env(sudo, **extra), input=input)

    def ok(self, *args: str, sudo: str | None = "alice", **extra):
        result = self.run(*args, sudo=sudo, **extra)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return json.loads(result.stdout) if "--json" in args else result.stdout


def fake_pwd(home: Path):
    def entry(name, uid, directory):
        return pwd.struct_passwd((name, "x", uid, uid, name, str(directory), "/bin/sh"))

    table = {"svc": entry("svc", UID, home)}
    table.update({name: entry(name, uid, f"/home/{name}") for name, uid in CALLERS.items()})

    def getpwnam(name):
        if name not in table:
            raise KeyError(name)
        return table[name]

    def getpwuid(uid):
        for e in table.values():
            if e.pw_uid == uid:
                return e
        raise KeyError(uid)

    return table, getpwnam, getpwuid


@pytest.fixture
def machine(tmp_path, monkeypatch) -> Machine:
    m = Machine(tmp_path)
    m.site.parent.mkdir(parents=True)
    for folder in (m.root / "etc", m.site.parent):
        folder.chmod(0o755)
    m.home.mkdir(mode=0o700)
    m.state.mkdir(mode=0o700)
    table, getpwnam, getpwuid = fake_pwd(m.home)
    m.accounts = table
    monkeypatch.setattr(pwd, "getpwnam", getpwnam)
    monkeypatch.setattr(pwd, "getpwuid", getpwuid)
    monkeypatch.setattr(configfile, "SITE_FILE", str(m.site))
    monkeypatch.setattr(shared, "ROOT", UID)
    monkeypatch.setattr(shared, "SUPERUSER", -1)
    for name in ("SESSIONCTL_SMTP", "SESSIONCTL_SMTP_PASSWORD", "SESSIONCTL_PAGER", "PAGER",
                 "SESSIONCTL_LOCK_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    m.standard()
    return m


@pytest.fixture
def seeded(machine) -> Machine:
    """The service account made the store (it is its admin) and registered everyone; prof
    teaches C1 with alice and bob enrolled and one slot; alice requested it."""
    m = machine
    m.ok("init", sudo=None)
    m.ok("user", "add", "grace", "--role", "admin", sudo=None)
    m.ok("user", "add", "prof", "--role", "educator", "--email", "prof@example.edu", sudo=None)
    for name in ("alice", "bob"):
        m.ok("user", "add", name, "--role", "student", sudo=None)
    m.ok("course", "add", "C1", "--title", "Course", sudo="prof")
    m.ok("course", "enroll", "C1", "alice", "bob", sudo="prof")
    m.ok("slot", "add", "--course", "C1", "--start", "tomorrow 10:00", "--duration", "1h", sudo="prof")
    m.ok("request", "send", "1", sudo="alice")
    return m


def refused(m: Machine, result, code: int, *needles: str, before=None) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    if before is not None:
        assert snapshot(m.db) == before


# -- who acts ---------------------------------------------------------------------------------------


def test_the_acting_user_is_the_one_sudo_names(seeded):
    assert seeded.ok("whoami", "--json", sudo="alice")["name"] == "alice"
    assert seeded.ok("whoami", "--json", sudo="prof")["role"] == "educator"
    shown = seeded.ok("config", "show", "--json", sudo="bob")["settings"]["user"]
    assert shown == {"value": "bob", "origin": "SUDO_USER"}


def test_a_caller_cannot_claim_another_name(seeded):
    before = snapshot(seeded.db)
    refused(seeded, seeded.run("request", "approve", "1", sudo="alice", SESSIONCTL_USER="prof"), 4,
            "SESSIONCTL_USER=prof is refused", "alice", before=before)
    assert seeded.ok("whoami", "--json", sudo="alice", SESSIONCTL_USER="alice")["name"] == "alice"
    seeded.ok("request", "approve", "1", sudo="prof")


@pytest.mark.parametrize("sudo_user, sudo_uid", [
    ("alice", str(CALLERS["prof"])),  # SUDO_UID of someone else
    ("mallory", "70001"),  # no such user
    ("alice", None),  # one without the other
    (None, "70001"),
    ("alice", "70001 "),
    ("alice", "-1"),
    ("", ""),
])
def test_an_inconsistent_sudo_caller_is_refused(seeded, sudo_user, sudo_uid):
    before = snapshot(seeded.db)
    env = seeded.env(None, SUDO_USER=sudo_user, SUDO_UID=sudo_uid)
    result = seeded.runner.invoke(app, ["request", "cancel", "1"], env=env)
    refused(seeded, result, 4, "SUDO_", before=before)


def test_the_service_account_itself_acts_as_itself_or_as_it_says(seeded):
    assert seeded.ok("whoami", "--json", sudo=None)["name"] == "svc"
    assert seeded.ok("whoami", "--json", sudo=None, SESSIONCTL_USER="grace")["name"] == "grace"


def test_anyone_but_the_service_account_is_told_to_go_through_sudo(machine):
    machine.accounts["svc"] = pwd.struct_passwd(("svc", "x", UID + 1, UID + 1, "", str(machine.home), "/bin/sh"))
    result = machine.run("whoami", sudo=None)
    refused(machine, result, 4, "service account svc", "sudo -u svc /usr/local/bin/sessionctl")


# -- the store is the service account's -----------------------------------------------------------------


def test_a_caller_cannot_point_at_another_store(seeded, tmp_path):
    before = snapshot(seeded.db)
    other = tmp_path / "mine.db"
    refused(seeded, seeded.run("--db", str(other), "init", sudo="alice"), 4, f"--db {other}",
            before=before)
    assert not other.exists()
    refused(seeded, seeded.run("request", "list", sudo="alice", SESSIONCTL_DB=str(other)), 4,
            f"SESSIONCTL_DB={other}")
    link = tmp_path / "link.db"
    link.symlink_to(seeded.db)  # the same file, through a link the caller controls
    refused(seeded, seeded.run("--db", str(link), "whoami", sudo="alice"), 4)
    refused(seeded, seeded.run("--db", "postgresql://alice@db.example.edu/x", "whoami"), 4)
    # after the command too (docs/reference/settings.md): the same refusal
    refused(seeded, seeded.run("init", "--db", str(other), sudo="alice"), 4, f"--db {other}")
    refused(seeded, seeded.run("request", "list", "--db", str(link), sudo="alice"), 4)
    assert not other.exists()
    assert snapshot(seeded.db) == before


def test_naming_the_shared_store_itself_is_fine(seeded):
    for same in (str(seeded.db), f"sqlite:///{seeded.db}", str(seeded.db).replace("/state/", "/state//")):
        assert seeded.ok("--db", same, "whoami", "--json")["name"] == "alice"


def test_the_service_account_itself_may_use_any_store(seeded, tmp_path):
    other = tmp_path / "other.db"
    seeded.ok("--db", str(other), "init", sudo=None)
    assert other.exists()


def test_the_store_is_created_private_and_only_by_the_service_account(machine):
    before = set(machine.state.iterdir())
    refused(machine, machine.run("init", sudo="grace"), 4, "does not exist yet", "su -s /bin/sh -l svc")
    assert set(machine.state.iterdir()) == before
    machine.state.rmdir()
    machine.ok("init", sudo=None)
    assert machine.state.stat().st_mode & 0o777 == 0o700
    for path in machine.state.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
    machine.ok("init", sudo="grace")  # an existing store: only migrated, nobody promoted
    assert machine.ok("whoami", "--json", sudo=None)["role"] == "admin"


def test_a_looser_store_file_is_tightened(seeded):
    seeded.db.chmod(0o644)
    seeded.ok("slot", "list", sudo="alice")
    assert seeded.db.stat().st_mode & 0o777 == 0o600


def test_a_store_in_a_directory_others_can_write_is_refused(seeded):
    before = snapshot(seeded.db)
    seeded.state.chmod(0o777)
    try:
        refused(seeded, seeded.run("request", "cancel", "1", sudo="alice"), 4, str(seeded.state),
                "writable by no one else")
    finally:
        seeded.state.chmod(0o700)
    assert snapshot(seeded.db) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file away")
def test_a_store_file_of_someone_else_is_refused(seeded):
    os.chown(seeded.db, 70001, 70001)
    try:
        refused(seeded, seeded.run("slot", "list", sudo="alice"), 4, "not a file of the service account")
    finally:
        os.chown(seeded.db, UID, UID)


# -- the confused deputy --------------------------------------------------------------------------------


def test_a_caller_names_no_file_for_the_service_account_to_write(seeded, tmp_path):
    seeded.ok("request", "approve", "1", sudo="prof")
    before = snapshot(seeded.db)
    for target in (tmp_path / "cal.ics", seeded.db, Path("relative.ics")):
        refused(seeded, seeded.run("request", "export", "--ics", "--out", str(target), sudo="alice"),
                4, "--out", "request export --ics > FILE", before=before)
    assert not (tmp_path / "cal.ics").exists()
    calendar = seeded.ok("request", "export", "--ics", sudo="alice")  # stdout is the caller's
    assert "BEGIN:VCALENDAR" in calendar


def test_a_caller_names_no_file_for_the_service_account_to_read(seeded, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name\ncarol\n", encoding="utf-8")
    before = snapshot(seeded.db)
    for source in (roster, seeded.db, seeded.home / ".config" / "sessionctl" / "config.toml"):
        refused(seeded, seeded.run("course", "enroll", "C1", "--from-csv", str(source), sudo="prof"),
                4, "--from-csv", "--from-csv - <", before=before)
    done = seeded.ok("course", "enroll", "C1", "--from-csv", "-", "--json", sudo="prof",
                     input="name\ncarol\n")
    assert "carol" in [row["name"] for row in done]


def test_a_caller_cannot_give_the_demo_a_path(seeded, tmp_path):
    target = tmp_path / "demo.db"
    refused(seeded, seeded.run("demo", "--db", str(target), sudo="bob"), 4, "--db", "temp dir")
    assert not target.exists()


def test_a_caller_may_run_the_demo_in_a_temp_dir(seeded, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    before = snapshot(seeded.db)
    out = seeded.ok("demo", sudo="bob")
    assert "SESSIONCTL_USER=ada sessionctl course add MATH101" in out
    assert snapshot(seeded.db) == before


def test_a_caller_cannot_choose_the_mail_server_or_its_password(seeded):
    seeded.standard('smtp = "smtp://127.0.0.1:9"\n')
    refused(seeded, seeded.run("notify", "send", "--smtp", "smtp://evil.example.edu:25", sudo="grace"),
            4, "--smtp smtp://evil.example.edu:25 is refused")
    refused(seeded, seeded.run("notify", "send", sudo="grace", SESSIONCTL_SMTP="smtp://evil.example.edu"),
            4, "SESSIONCTL_SMTP=smtp://evil.example.edu is refused")
    refused(seeded, seeded.run("notify", "send", sudo="grace", SESSIONCTL_SMTP_PASSWORD="x"), 4,
            "SESSIONCTL_SMTP_PASSWORD is refused")
    # the configured server, named again, is fine: it is then tried (and is not there)
    result = seeded.run("notify", "send", "--smtp", "smtp://127.0.0.1:9", sudo="grace")
    assert result.exit_code == 6, result.stderr


def test_no_pager_runs_for_a_caller(seeded):
    shown = seeded.ok("config", "show", "--json", sudo="alice", PAGER="sh -c id",
                      SESSIONCTL_PAGER="sh -c id")["settings"]["pager"]
    assert shown == {"value": None, "origin": "shared mode"}
    itself = seeded.ok("config", "show", "--json", sudo=None, SESSIONCTL_PAGER="less")
    assert itself["settings"]["pager"] == {"value": "less", "origin": "SESSIONCTL_PAGER"}


# -- which files: the caller's environment chooses none of them -------------------------------------------


def test_the_callers_xdg_and_home_choose_no_config_file(seeded, tmp_path):
    mine = tmp_path / "mine" / "sessionctl"
    mine.mkdir(parents=True)
    (mine / "config.toml").write_text(f'db = "{tmp_path}/mine.db"\n', encoding="utf-8")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "mine"), "XDG_CONFIG_DIRS": str(tmp_path / "mine"),
           "HOME": str(tmp_path / "mine")}
    data = seeded.ok("config", "show", "--json", sudo="alice", **env)
    assert data["settings"]["db"] == {"value": str(seeded.db), "origin": f"{seeded.site}, line 4"}
    assert [f["path"] for f in data["files"]] == [
        str(seeded.site), str(seeded.home / ".config" / "sessionctl" / "config.toml")]
    assert data["mode"] == "shared"


def test_the_service_accounts_own_file_holds_the_password(seeded):
    config = seeded.home / ".config" / "sessionctl"
    config.mkdir(parents=True, mode=0o700)
    secret = "postgresql://svc:s3cret@127.0.0.1:1/sessions"
    (config / "config.toml").write_text(f'db = "{secret}"\n', encoding="utf-8")
    (config / "config.toml").chmod(0o600)
    data = seeded.ok("config", "show", "--json", sudo="alice")
    assert data["settings"]["db"]["value"] == "postgresql://svc:***@127.0.0.1:1/sessions"
    assert "s3cret" not in json.dumps(data)
    (config / "config.toml").chmod(0o640)
    refused(seeded, seeded.run("whoami", sudo="alice"), 4, "a password in a file others can read")
    (config / "config.toml").chmod(0o602)
    refused(seeded, seeded.run("whoami", sudo="alice"), 4, "writable by no one else")
    (config / "config.toml").chmod(0o600)
    config.chmod(0o777)
    refused(seeded, seeded.run("whoami", sudo="alice"), 4, str(config))
    config.chmod(0o700)


def test_a_password_in_the_site_file_is_refused(machine):
    machine.write_site('identity = "sudo"\naccount = "svc"\n'
                       'db = "postgresql://svc:s3cret@db.example.edu/x"\n')
    result = machine.run("whoami", sudo="alice")
    refused(machine, result, 4, f"{machine.site}, line 3", "password")
    assert "s3cret" not in result.stderr


# -- the site file -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_a_site_file_others_can_write_is_refused_not_ignored(machine, mode):
    machine.site.chmod(mode)
    refused(machine, machine.run("whoami", sudo="alice"), 4, str(machine.site), "owned by root")
    refused(machine, machine.run("whoami", sudo=None), 4)


def test_a_site_directory_others_can_write_is_refused(machine):
    machine.site.parent.chmod(0o777)
    try:
        refused(machine, machine.run("whoami", sudo="alice"), 4, str(machine.site.parent))
    finally:
        machine.site.parent.chmod(0o755)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file away")
def test_a_site_file_of_someone_else_is_refused(machine):
    os.chown(machine.site, 70001, 70001)
    refused(machine, machine.run("whoami", sudo="alice"), 4, "owned by root")


@pytest.mark.parametrize("text, needle", [
    ('identity = "sudo"\n', "needs account"),
    ('identity = "sudo"\naccount = "nosuchuser"\n', "no user 'nosuchuser'"),
    ('identity = "sudo"\naccount = "svc"\ndb = "state/x.db"\n', "absolute path"),
    ('identity = "sudo"\naccount = "svc"\ncommand = "sessionctl"\n', "absolute path"),
    ('identity = "sudoers"\n', "identity must be"),
])
def test_a_bad_site_file_is_a_usage_error_with_its_line(machine, text, needle):
    machine.write_site(text)
    refused(machine, machine.run("whoami", sudo="alice"), 2, str(machine.site), needle)


def test_the_service_account_may_not_be_root(machine, monkeypatch):
    monkeypatch.setattr(shared, "SUPERUSER", UID)
    refused(machine, machine.run("whoami", sudo="alice"), 2, "must not be root")


# -- the process: the hop through sudo, and the service account's side -----------------------------


class Exec(Exception):
    pass


@pytest.fixture
def execv(monkeypatch):
    calls = []

    def fake(path, argv):
        calls.append((path, argv))
        raise Exec

    monkeypatch.setattr(os, "execv", fake)
    return calls


def outsider(machine):
    machine.accounts["svc"] = pwd.struct_passwd(("svc", "x", UID + 1, UID + 1, "", str(machine.home), "/bin/sh"))
    machine.accounts["me"] = pwd.struct_passwd(("me", "x", UID, UID, "", "/home/me", "/bin/sh"))


def test_a_caller_hops_through_sudo_passing_on_what_sudo_drops(machine, execv, monkeypatch):
    outsider(machine)
    monkeypatch.setattr(os, "access", lambda path, mode: path == "/usr/bin/sudo")
    env = {"SESSIONCTL_DB": "/x.db", "SESSIONCTL_TZ": "Europe/Paris", "NO_COLOR": "1",
           "SESSIONCTL_USER": "me", "PYTHONPATH": "/evil"}
    with pytest.raises(Exec):
        shared.launch(["sessionctl", "slot", "list"], env)
    assert execv == [("/usr/bin/sudo", [
        "/usr/bin/sudo", "-n", "-u", "svc", "--", "/usr/local/bin/sessionctl",
        "--db", "/x.db", "--tz", "Europe/Paris", "--color", "never", "slot", "list"])]
    execv.clear()
    with pytest.raises(Exec):
        shared.launch(["sessionctl"], {})  # no arguments: the help, nothing added
    assert execv[0][1][-2:] == ["--", "/usr/local/bin/sessionctl"]


def test_the_hop_refuses_another_name_and_needs_sudo(machine, execv, monkeypatch):
    outsider(machine)
    with pytest.raises(shared.NotAllowed, match="SESSIONCTL_USER=prof is refused"):
        shared.launch(["sessionctl", "whoami"], {"SESSIONCTL_USER": "prof"})
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(shared.NotAllowed, match="sudo, which is not installed"):
        shared.launch(["sessionctl", "whoami"], {})
    assert execv == []


def test_outside_the_shared_mode_launch_does_nothing(machine, execv):
    machine.site.unlink()
    assert shared.launch(["sessionctl", "whoami"], {}) is None
    machine.write_site('identity = "login"\n')
    assert shared.launch(["sessionctl", "whoami"], {}) is None
    assert execv == []


def test_the_service_side_keeps_only_a_short_environment(machine, monkeypatch):
    seen = {}
    monkeypatch.setattr(os, "umask", lambda mask: seen.setdefault("umask", mask))
    monkeypatch.setattr(os, "chdir", lambda path: seen.setdefault("cwd", path))
    import signal

    monkeypatch.setattr(signal, "signal", lambda number, action: seen.setdefault(number, action))
    env = {"SUDO_USER": "alice", "SUDO_UID": "70001", "HOME": "/home/alice", "TERM": "xterm",
           "XDG_CONFIG_HOME": "/home/alice/x", "TMPDIR": "/home/alice/tmp", "PGPASSFILE": "/x",
           "PAGER": "sh", "LC_ALL": "C.UTF-8", "SESSIONCTL_TZ": "UTC", "SESSIONCTL_USER": "bob",
           "PATH": "/home/alice/bin"}
    shared.launch(["sessionctl", "whoami"], env)
    assert seen == {"umask": 0o077, "cwd": "/", signal.SIGTSTP: signal.SIG_IGN,
                    signal.SIGTTIN: signal.SIG_IGN, signal.SIGTTOU: signal.SIG_IGN}
    assert env == {"SUDO_USER": "alice", "SUDO_UID": "70001", "TERM": "xterm", "LC_ALL": "C.UTF-8",
                   "SESSIONCTL_TZ": "UTC", "SESSIONCTL_USER": "bob", "HOME": str(machine.home),
                   "USER": "svc", "LOGNAME": "svc", "PATH": shared.SAFE_PATH}


def test_python_variables_passed_by_sudo_stop_the_service_side(machine, monkeypatch):
    monkeypatch.setattr(os, "umask", lambda mask: 0)
    with pytest.raises(shared.NotAllowed, match="PYTHONPATH"):
        shared.launch(["sessionctl", "whoami"], {"SUDO_USER": "alice", "SUDO_UID": "70001",
                                                 "PYTHONPATH": "/home/alice/evil"})
    with pytest.raises(shared.NotAllowed, match="SUDO_USER=alice is not SUDO_UID"):
        shared.launch(["sessionctl", "whoami"], {"SUDO_USER": "alice", "SUDO_UID": "70002"})


def test_completion_is_installed_as_the_caller_never_through_sudo(machine, execv):
    """The service account must not write its own shell files for a caller: outside, the
    caller's own process answers (its own home); through sudo it is refused."""
    outsider(machine)
    assert shared.launch(["sessionctl", "--install-completion", "bash"], {}) is None
    assert shared.launch(["sessionctl", "--show-completion=zsh"], {}) is None
    assert execv == []


def test_completion_is_not_installed_through_sudo(machine, execv):
    for args in (["--install-completion", "bash"], ["--install-completion=fish"]):
        with pytest.raises(shared.NotAllowed, match="installed as yourself, not through sudo"):
            shared.launch(["sessionctl", *args], machine.env("alice"))
    assert execv == []


# -- found by the third attack pass: completion crosses the sudo hop; the demo leaves nothing behind ---

FAKE_MACHINE = """
import json, os, pwd, sys
sys.path.insert(0, {tests!r})
from test_shared import fake_pwd
from sessionctl import configfile, shared
home, site, svc_uid = {home!r}, {site!r}, {svc_uid!r}
table, getpwnam, getpwuid = fake_pwd(home)
if svc_uid is not None:  # the service account is someone else: this process must hop
    table["svc"] = pwd.struct_passwd(("svc", "x", svc_uid, svc_uid, "svc", home, "/bin/sh"))
    me = os.getuid()
    table["me"] = pwd.struct_passwd(("me", "x", me, me, "me", "/nonexistent", "/bin/sh"))
pwd.getpwnam, pwd.getpwuid = getpwnam, getpwuid
configfile.SITE_FILE, shared.ROOT, shared.SUPERUSER = site, os.getuid(), -1
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


# -- the suite leaves the machine alone -----------------------------------------------------------

MEANWHILE = """
from sessionctl import configfile

def test_while_an_administrator_sets_up_the_shared_mode():
    with open(configfile.SITE_FILE, "w") as fh:  # another process, as far as the guard knows
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
        "import os\nfrom sessionctl import configfile\nconfigfile.SITE_FILE = os.environ['MOVED_SITE']\n")
    (tmp_path / "test_meanwhile.py").write_text(MEANWHILE)
    env = {**os.environ, "MOVED_SITE": str(site),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    inner = subprocess.run([sys.executable, "-m", "pytest", "-p", "moved_site", "-q",
                            "-p", "no:cacheprovider", str(tmp_path / "test_meanwhile.py")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert inner.returncode == 1 and "changed while the test ran" in inner.stdout, inner.stdout
    assert site.read_text() == 'identity = "sudo"  # the administrator\'s\n'


def test_feed_write_uses_only_the_files_feed_dir(machine, tmp_path):
    """docs/reference/calendars.md#feeds: a caller's DIR is refused; SESSIONCTL_FEED_DIR is not
    read; the service account writes to the config files' feed_dir."""
    feeds, elsewhere = tmp_path / "feeds", tmp_path / "elsewhere"
    for path in (feeds, elsewhere):
        path.mkdir(mode=0o711)
    machine.standard(f'feed_dir = "{feeds}"\nfeed_base = "https://h.example/f/"\n')
    machine.ok("init", sudo=None)
    machine.ok("user", "add", "grace", "--role", "admin", sudo=None)
    assert machine.ok("feed", "url", sudo="grace").startswith("https://h.example/f/")
    before = snapshot(machine.db)
    refused(machine, machine.run("feed", "write", str(elsewhere), sudo="grace"), 4, "DIR",
            before=before)
    assert machine.ok("feed", "write", sudo="grace",
                      SESSIONCTL_FEED_DIR=str(elsewhere)) == "written: 1, unchanged: 0, removed: 0\n"
    assert len(list(feeds.iterdir())) == 1 and list(elsewhere.iterdir()) == []
