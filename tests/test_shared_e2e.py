"""docs/reference/shared-mode.md for real: Unix accounts, sudo, the site file in /etc/xdg, a store nobody else can touch.

As root (CI runs as root; .ci/run installs sudo when it is missing), the module:
- adds a service account, an educator and two students (names unique to the run, removed after);
- installs a root-owned ``sessionctl`` wrapper in a private bin directory (``python -I``), writes
  a site file (``identity = "sudo"``, the account, the wrapper as ``command``) that only this
  module's processes see at /etc/xdg/sessionctl/config.toml, and one sudoers line in
  /etc/sudoers.d (checked with ``visudo -cf``), removed afterwards;
- runs every command that may start sessionctl in a private mount namespace of its own
  (``unshare --mount``) where a root-owned temp directory is bind-mounted over /etc/xdg: the
  machine's real /etc/xdg never holds the file, so no other sessionctl on the machine (another
  user's, another test run's) is turned into the shared mode while this runs;
- runs the seed workflow as each Unix user with ``su - USER -c 'sessionctl …'`` (the service
  account makes the store; everyone else goes through the sudo hop), on SQLite and then on a
  PostgreSQL server of its own with password authentication, whose URL lives in the service
  account's 0600 config file;
- and tries what a student would: act as the educator, point at another store, read or write
  the store directly, make the service account read or write a path, move the config files,
  smuggle Python code through the environment. Each refusal is checked to change nothing
  (the store read as root, or as the PostgreSQL superuser, before and after).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from sessionctl.configfile import SITE_FILE

TOOLS = ("useradd", "userdel", "sudo", "visudo", "su", "runuser", "unshare", "mount")
missing = [tool for tool in TOOLS if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="the shared mode's test needs Linux"),
    pytest.mark.skipif(os.geteuid() != 0, reason="adds Unix accounts and a sudoers line: needs root "
                       "(CI runs as root)"),
    pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed (.ci/run installs sudo)"),
]

TAG = secrets.token_hex(3)
SVC, PROF, S1, S2 = (f"sc{TAG}{role}" for role in ("svc", "prof", "s1", "s2"))


def sh(argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)


XDG = os.path.dirname(os.path.dirname(SITE_FILE))  # /etc/xdg, where the site file's folder is


def private(xdg: Path, argv: list[str]) -> list[str]:
    """``argv`` in a new mount namespace (private propagation, util-linux's default, so nothing
    mounted in it reaches the machine) where ``xdg`` is bind-mounted over /etc/xdg: its
    processes, and the sudo hops they make, see the test's site file; nobody else does."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            'mount --bind "$1" "$2" && shift 2 && exec "$@"', "private", str(xdg), XDG, *argv]


def site_state() -> bytes | None:
    try:
        with open(SITE_FILE, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def cannot_isolate() -> str | None:
    """Why the module cannot run its sessionctl commands in a private mount namespace, if so."""
    if not os.path.isdir(XDG):
        return f"{XDG} does not exist: there is nothing to bind-mount a private copy over"
    with tempfile.TemporaryDirectory() as empty:
        tried = sh(private(Path(empty), ["test", "!", "-e", SITE_FILE]))
    if tried.returncode != 0:
        return f"cannot make a private mount namespace (unshare --mount): {tried.stderr.strip()}"
    return None


def must(argv, **kwargs) -> subprocess.CompletedProcess:
    result = sh(argv, **kwargs)
    assert result.returncode == 0, (argv, result.stdout, result.stderr)
    return result


class Deployment:
    def __init__(self, base: Path):
        self.base = base
        self.bin = base / "bin"
        self.wrapper = self.bin / "sessionctl"
        self.state = base / "state"
        self.db = self.state / "sessionctl.db"
        self.svc_home = base / "svc"
        self.xdg = base / "xdg"  # seen as /etc/xdg by this module's processes only
        self.real_site = site_state()  # the machine's, which must stay as it is
        self.site = self.xdg / os.path.basename(os.path.dirname(SITE_FILE)) / "config.toml"
        self.interpreter = ""
        self.prelude = ""  # Python that makes sessionctl importable for the accounts
        self.users: list[str] = []
        self.cleanup: list = []

    # -- running as someone -----------------------------------------------------------------------

    def run(self, user: str, command: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """``command`` in a login shell of ``user``, with the wrapper on its PATH."""
        shell = ["-s", "/bin/sh"] if user == SVC else []
        script = f"export PATH={self.bin}:$PATH; {command}"
        result = sh(self.private(["su", *shell, "-", user, "-c", script]), input=stdin)
        assert site_state() == self.real_site, f"{SITE_FILE} changed on the machine"
        return result

    def private(self, argv: list[str]) -> list[str]:
        return private(self.xdg, argv)

    def ok(self, user: str, command: str, stdin: str | None = None):
        result = self.run(user, command, stdin)
        assert result.returncode == 0, (user, command, result.stdout, result.stderr)
        return json.loads(result.stdout) if "--json" in command else result.stdout

    def refused(self, user: str, command: str, code: int, *needles: str, snapshot=None):
        before = snapshot() if snapshot else None
        result = self.run(user, command)
        assert result.returncode == code, (user, command, result.returncode, result.stdout, result.stderr)
        for needle in needles:
            assert needle in result.stderr, (needle, result.stderr)
        if snapshot:
            assert snapshot() == before, f"{command} changed the store"
        return result

    def python(self, code: str) -> str:
        """A shell command running ``code`` in isolated mode (``-I``) with sessionctl importable."""
        return shlex.join([self.interpreter, "-I", "-c", self.prelude + code])

    def sqlite_snapshot(self) -> dict:
        """Every row, read as root from a copy (opening the live file as root could leave a
        root-owned -shm behind that the service account cannot open)."""
        with tempfile.TemporaryDirectory() as tmp:
            for suffix in ("", "-wal"):
                if os.path.exists(f"{self.db}{suffix}"):
                    shutil.copy(f"{self.db}{suffix}", f"{tmp}/copy.db{suffix}")
            con = sqlite3.connect(f"{tmp}/copy.db")
            try:
                tables = [r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
                return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
            finally:
                con.close()


def python_for_others(dep: Deployment) -> tuple[str, str] | None:
    """An interpreter the new accounts can run, and the Python that makes sessionctl and its
    packages importable to them. This virtualenv's interpreter, or when it lives where others
    cannot go (pyenv under /root), the system's Python of the same version; this environment's
    site-packages, or when others cannot read them either (a CI checkout under /root), a copy
    of sessionctl and what it needs in the test's own directory. None: nothing works."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    interpreter = None
    for candidate in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        if os.path.exists(candidate) and as_svc(candidate, "import sys; print('%d.%d' % sys.version_info[:2])") == version:
            interpreter = candidate
            break
    if interpreter is None:
        return None
    wanted = "import sessionctl.launch, typer, peewee, rich, dateutil, icalendar"
    try:
        import psycopg  # noqa: F401 - the PostgreSQL round needs it on the other side too

        wanted += ", psycopg"
    except ImportError:
        pass
    purelib = sysconfig.get_paths()["purelib"]
    preludes = ["" if interpreter == sys.executable else None,
                f"import site; site.addsitedir({purelib!r}); "]
    for prelude in preludes:
        if prelude is not None and as_svc(interpreter, prelude + wanted + "; print('ok')") == "ok":
            return interpreter, prelude
    lib = dep.base / "lib"
    copy_packages(lib)
    prelude = f"import sys; sys.path.insert(0, {str(lib)!r}); "
    if as_svc(interpreter, prelude + wanted + "; print('ok')") == "ok":
        return interpreter, prelude
    return None


def as_svc(interpreter: str, code: str) -> str:
    result = sh(["runuser", "-u", SVC, "--", interpreter, "-I", "-c", code], cwd="/")
    return result.stdout.strip() if result.returncode == 0 else ""


def copy_packages(dest: Path) -> None:
    """sessionctl's source and every distribution it needs (with the postgres extra), copied
    from this environment into ``dest``."""
    from importlib import metadata

    from packaging.requirements import Requirement

    import sessionctl

    shutil.copytree(Path(sessionctl.__file__).parent, dest / "sessionctl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    todo, done, copied = [("sessionctl", frozenset({"postgres"}))], set(), set()
    while todo:
        name, extras = todo.pop()
        if (name.lower(), extras) in done:
            continue
        done.add((name.lower(), extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if name != "sessionctl" and name.lower() not in copied:
            copied.add(name.lower())
            for file in dist.files or []:
                if file.parts[0] == ".." or "__pycache__" in file.parts:
                    continue
                source = Path(file.locate())
                if source.is_file():
                    (dest / file).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, dest / file)
        for text in dist.requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((requirement.name, frozenset(requirement.extras)))


@pytest.fixture(scope="module")
def deployment():
    why = cannot_isolate()
    if why:
        pytest.skip(f"the site file must stay private to this test: {why}")
    base = Path(tempfile.mkdtemp(prefix="sessionctl-e2e-"))
    base.chmod(0o755)
    dep = Deployment(base)
    sudoers = Path(f"/etc/sudoers.d/sessionctl-e2e-{TAG}")
    try:
        must(["useradd", "--system", "--create-home", "--home-dir", str(dep.svc_home),
              "--shell", "/usr/sbin/nologin", SVC])
        dep.users.append(SVC)
        for name in (PROF, S1, S2):
            must(["useradd", "--create-home", "--shell", "/bin/sh", name])
            dep.users.append(name)
        found = python_for_others(dep)
        if found is None:
            pytest.skip(f"no Python the new accounts can run with sessionctl: {sys.executable} and "
                        "its packages must be readable by every user")
        dep.interpreter, dep.prelude = found
        dep.bin.mkdir(mode=0o755)
        launcher = dep.python("import sys; sys.argv[0] = 'sessionctl'; "
                              "from sessionctl.launch import main; main()")
        dep.wrapper.write_text(f'#!/bin/sh\nexec {launcher} "$@"\n', encoding="utf-8")
        dep.wrapper.chmod(0o755)
        must(["install", "-d", "-o", SVC, "-g", SVC, "-m", "700", str(dep.state)])

        dep.site.parent.mkdir(mode=0o755, parents=True)
        dep.xdg.chmod(0o755)
        dep.site.write_text(f'# written by tests/test_shared_e2e.py, seen only in its namespaces\n'
                            f'identity = "sudo"\naccount = "{SVC}"\ncommand = "{dep.wrapper}"\n'
                            f'db = "{dep.db}"\n', encoding="utf-8")
        dep.site.chmod(0o644)
        rule = f"{PROF},{S1},{S2} ALL=({SVC}) NOPASSWD: {dep.wrapper}\n"
        draft = base / "sudoers"
        draft.write_text(rule, encoding="utf-8")
        must(["visudo", "-cf", str(draft)])
        shutil.copy(draft, sudoers)
        sudoers.chmod(0o440)
        yield dep
    finally:
        for undo in reversed(dep.cleanup):
            undo()
        sudoers.unlink(missing_ok=True)
        for name in dep.users:
            sh(["pkill", "-KILL", "-u", name])
            sh(["userdel", "--remove", name])
        shutil.rmtree(base, ignore_errors=True)


# -- the scenario, on either store ---------------------------------------------------------------


def seed(dep: Deployment) -> int:
    """The seed workflow: the service account makes the store and registers everyone; the
    educator makes a course, enrols the students from a CSV on stdin, adds a slot; a student
    requests it; the educator approves."""
    out = dep.ok(SVC, "sessionctl init")
    assert f"{SVC} is the admin" in out
    dep.ok(SVC, f"sessionctl user add {PROF} --role educator --display Prof")
    for name in (S1, S2):
        dep.ok(SVC, f"sessionctl user add {name} --role student")
    assert dep.ok(PROF, "sessionctl whoami --json")["name"] == PROF
    dep.ok(PROF, "sessionctl course add E2E --title 'End to end'")
    dep.ok(PROF, "printf 'name\\n%s\\n%s\\n' " + f"{S1} {S2} > roster.csv && "
           "sessionctl course enroll E2E --from-csv - < roster.csv")
    slots = dep.ok(PROF, "sessionctl slot add --course E2E --start 'tomorrow 10:00' --duration 1h --json")
    slot = slots[0]["id"]
    assert [s["id"] for s in dep.ok(S1, "sessionctl slot list --json")] == [slot]
    request = dep.ok(S1, f"sessionctl request send {slot} --message 'Question 3' --json")["id"]
    assert dep.ok(PROF, f"sessionctl request approve {request} --json")["status"] == "approved"
    mine = dep.ok(S1, "sessionctl request list --json")
    assert [(r["id"], r["status"], r["student"]) for r in mine] == [(request, "approved", S1)]
    assert dep.ok(S2, "sessionctl request list --json") == []
    calendar = dep.ok(S1, "sessionctl request export --ics > cal.ics && cat cal.ics")
    assert "BEGIN:VEVENT" in calendar
    return request


def attacks(dep: Deployment, request: int, snapshot, store_text: str) -> None:
    """What a student tries; every refusal leaves the store as it was."""
    # act as the educator: refused on the way in ...
    slot = dep.ok(PROF, "sessionctl slot list --json")[0]["id"]
    dep.refused(S1, f"SESSIONCTL_USER={PROF} sessionctl slot cancel {slot}", 4,
                f"SESSIONCTL_USER={PROF} is refused", snapshot=snapshot)
    # ... and by hand through sudo, the variable or a forged SUDO_USER never arrive
    for forged in (f"SESSIONCTL_USER={PROF} sudo -n -u {SVC} {dep.wrapper} whoami --json",
                   f"SUDO_USER={PROF} SUDO_UID={pwd_uid(PROF)} sessionctl whoami --json"):
        assert dep.ok(S1, forged)["name"] == S1
    dep.refused(S1, f"SESSIONCTL_USER={PROF} sudo -n -u {SVC} {dep.wrapper} slot cancel {slot}", 4,
                "only the educator", snapshot=snapshot)
    dep.refused(S1, f"sudo -n -u {SVC} SESSIONCTL_USER={PROF} {dep.wrapper} whoami", 1,
                "not allowed to set", snapshot=snapshot)
    dep.refused(S1, f"sudo -n -E -u {SVC} {dep.wrapper} whoami", 1, snapshot=snapshot)
    dep.refused(S1, f"sudo -n -u {SVC} /bin/sh -c id", 1, snapshot=snapshot)

    # another store
    mine = dep.base / f"mine-{S1}.db"
    dep.refused(S1, f"sessionctl --db {mine} init", 4, f"--db {mine} is refused", snapshot=snapshot)
    dep.refused(S1, f"SESSIONCTL_DB={mine} sessionctl whoami", 4, "is refused", snapshot=snapshot)
    dep.refused(S1, "sessionctl --db postgresql://x@127.0.0.1/x whoami", 4, snapshot=snapshot)
    assert not mine.exists()

    # the config files: the caller's XDG and HOME, and their own user file, choose nothing
    dep.ok(S1, "mkdir -p x/sessionctl .config/sessionctl && "
               f"printf 'db = \"{mine}\"\\n' > x/sessionctl/config.toml && "
               "cp x/sessionctl/config.toml .config/sessionctl/config.toml")
    shown = dep.ok(S1, "XDG_CONFIG_DIRS=$HOME/x XDG_CONFIG_HOME=$HOME/x HOME=/tmp "
                       "sessionctl config show --json")
    assert shown["settings"]["db"]["value"] == store_text
    assert shown["settings"]["user"] == {"value": S1, "origin": "SUDO_USER"}
    assert shown["mode"] == "shared"

    # Python code through the environment runs as the student at most, never as the service
    marker = dep.base / "marker"
    marker.write_text("")
    marker.chmod(0o666)
    evil = Path(home(S1)) / "evil"
    evil.mkdir(exist_ok=True)
    (evil / "sitecustomize.py").write_text(
        f"import os\nopen({str(marker)!r}, 'a').write(f'{{os.getuid()}}\\n')\n", encoding="utf-8")
    shutil.chown(evil, S1)
    dep.run(S1, f"PYTHONPATH=$HOME/evil {dep.interpreter} -c pass")  # it works where honoured:
    assert marker.read_text().split() == [str(pwd_uid(S1))]
    for attempt in ("PYTHONPATH=$HOME/evil sessionctl whoami",
                    f"PYTHONPATH=$HOME/evil sudo -n -u {SVC} {dep.wrapper} whoami",
                    f"sudo -n -u {SVC} PYTHONPATH=$HOME/evil {dep.wrapper} whoami"):
        dep.run(S1, attempt)
    assert str(pwd_uid(SVC)) not in marker.read_text().split()

    # the store file itself
    hands = dep.run(S1, f"cat {dep.db} >/dev/null 2>&1 && echo READ; "
                        f"( : >> {dep.db} ) 2>/dev/null && echo WROTE; "
                        f"ls {dep.state} >/dev/null 2>&1 && echo LISTED; "
                        f"touch {dep.db}-wal 2>/dev/null && echo CREATED; "
                        f"rm -f {dep.db} 2>/dev/null; mv {dep.db} x.db 2>/dev/null && echo MOVED; "
                        f"ln -s {dep.db} link.db; echo done")
    assert hands.stdout.split() == ["done"], hands.stdout
    if dep.db.exists():
        info = dep.db.stat()
        assert (info.st_uid, info.st_mode & 0o777) == (pwd_uid(SVC), 0o600)

    # the service account reads or writes no path a caller names
    out = dep.base / f"out-{S1}.ics"
    for target in (out, dep.db, f"{dep.svc_home}/.config/sessionctl/config.toml"):
        dep.refused(S1, f"sessionctl request export --ics --out {target}", 4, "--out",
                    snapshot=snapshot)
    assert not out.exists()
    dep.refused(S1, "sessionctl --db $HOME/link.db whoami", 4, snapshot=snapshot)
    for source in (dep.db, f"{dep.svc_home}/.config/sessionctl/config.toml", "/etc/shadow"):
        dep.refused(PROF, f"sessionctl course enroll E2E --from-csv {source}", 4, "--from-csv - <",
                    snapshot=snapshot)
    dep.refused(S1, f"sessionctl demo --db {dep.base}/demo.db", 4, "--db", snapshot=snapshot)

    # running the CLI itself, not through the sudo hop: refused with how to run it
    direct = dep.python("import sys; sys.argv[0] = 'sessionctl'; from sessionctl.cli import main; main()")
    dep.refused(S1, f"{direct} whoami", 4, f"sudo -u {SVC} {dep.wrapper}", snapshot=snapshot)

    # and the student still can do their own things
    assert dep.ok(S1, "sessionctl whoami --json")["name"] == S1

    # completion crosses the hop: each student's own requests, never the help text
    for shell, words in (("bash", "COMP_WORDS='sessionctl request show ' COMP_CWORD=3"),
                         ("zsh", "_TYPER_COMPLETE_ARGS='sessionctl request show '")):
        asked = f"_SESSIONCTL_COMPLETE=complete_{shell} {words} sessionctl"
        mine, none = dep.ok(S1, asked), dep.ok(S2, asked)
        assert str(request) in mine and "Usage" not in mine + none, (shell, mine, none)
        assert none.strip() in ("", "_files"), (shell, none)


def pwd_uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def home(name: str) -> str:
    import pwd

    return pwd.getpwnam(name).pw_dir


def test_a_shared_sqlite_store(deployment):
    dep = deployment
    request = seed(dep)
    info, folder = dep.db.stat(), dep.state.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (pwd_uid(SVC), 0o600)
    assert (folder.st_uid, folder.st_mode & 0o777) == (pwd_uid(SVC), 0o700)
    attacks(dep, request, dep.sqlite_snapshot, str(dep.db))
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{dep.db}{suffix}"):
            assert os.stat(f"{dep.db}{suffix}").st_mode & 0o077 == 0
    # someone the sudoers line leaves out: sudo's own refusal (exit 1), and nothing ran
    if sh(["id", "-u", "nobody"]).returncode == 0:
        before = dep.sqlite_snapshot()
        outsider = sh(dep.private(["su", "-s", "/bin/sh", "nobody", "-c", f"{dep.wrapper} slot list"]),
                      cwd="/")
        assert (outsider.returncode, outsider.stdout) == (1, ""), outsider
        assert "sudo:" in outsider.stderr
        asked = (f"_SESSIONCTL_COMPLETE=complete_bash COMP_WORDS='sessionctl ' COMP_CWORD=1 "
                 f"{dep.wrapper}")  # a shell asking: sudo's refusal is not shown at every TAB
        silent = sh(dep.private(["su", "-s", "/bin/sh", "nobody", "-c", asked]), cwd="/")
        assert (silent.stdout, silent.stderr) == ("", ""), silent
        assert dep.sqlite_snapshot() == before


def test_link_command_and_hooks_run_only_as_the_site_chose(deployment):
    """docs/reference/meeting-rooms-and-hooks.md#who-may-set-them for real: the site file's
    link_command and hooks_dir run as the service account; a caller's own config file names
    none; a program others could write is exit 4 and changes nothing."""
    dep = deployment
    if not dep.db.exists():
        seed(dep)
    original = dep.site.read_text(encoding="utf-8")
    tools = dep.base / "tools"
    hooks = dep.base / "hooks"
    out = dep.base / "out"
    try:
        for folder in (tools, hooks):
            folder.mkdir(mode=0o755)
        must(["install", "-d", "-o", SVC, "-g", SVC, "-m", "700", str(out)])
        command = tools / "room"
        command.write_text('#!/bin/sh\ncat > /dev/null\necho https://rooms.example.edu/e2e\n')
        command.chmod(0o755)
        hook = hooks / "approved"
        hook.write_text(f'#!/bin/sh\ncat >> "{out}/approved.jsonl"\necho >> "{out}/approved.jsonl"\n')
        hook.chmod(0o755)
        dep.site.write_text(original + f'link_command = "{command}"\nhooks_dir = "{hooks}"\n',
                            encoding="utf-8")
        dep.ok(SVC, "sessionctl hooks run")  # finds the hook: events from now on
        # a caller's own file naming another program is never read
        dep.ok(S1, "mkdir -p ~/.config/sessionctl && printf 'link_command = \"/bin/false\"\\n"
                   "hooks_dir = \"/tmp\"\\n' > ~/.config/sessionctl/config.toml")
        slot = dep.ok(PROF, "sessionctl slot add --course E2E --start 'tomorrow 15:00' "
                            "--duration 1h --json")[0]["id"]
        request = dep.ok(S1, f"sessionctl request send {slot} --json")["id"]
        command.chmod(0o777)  # anyone could make it run their code as the service account
        dep.refused(PROF, f"sessionctl request approve {request}", 4, "writable by no one else",
                    snapshot=dep.sqlite_snapshot)
        command.chmod(0o755)
        made = dep.ok(PROF, f"sessionctl request approve {request} --json")
        assert made["link"] == "https://rooms.example.edu/e2e"
        assert dep.ok(SVC, "sessionctl hooks run --json")["delivered"] == 1
        got = json.loads((out / "approved.jsonl").read_text().strip())
        assert got["event"] == "approved" and got["request"]["id"] == request
        assert got["actor"] == PROF
        hooks.chmod(0o777)
        dep.refused(SVC, "sessionctl hooks run", 4, "writable by no one else",
                    snapshot=dep.sqlite_snapshot)
    finally:
        dep.site.write_text(original, encoding="utf-8")


# -- PostgreSQL ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres(deployment):
    """A PostgreSQL server of the test's own that wants a password from everyone; a role and a
    database for the service account; the URL in its 0600 user config file."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed")
    bin_dir = bins[-1].parent
    dep = deployment
    owner = "postgres" if sh(["id", "-u", "postgres"]).returncode == 0 else SVC
    pg = dep.base / "pg"
    must(["install", "-d", "-o", owner, "-m", "700", str(pg)])
    superpass, svcpass = secrets.token_hex(12), secrets.token_hex(12)
    (pg / "pw").write_text(superpass + "\n", encoding="utf-8")
    shutil.chown(pg / "pw", owner)
    port = free_port()
    must(["runuser", "-u", owner, "--", str(bin_dir / "initdb"), "-D", str(pg / "data"), "-U",
          "postgres", "-A", "scram-sha-256", f"--pwfile={pg / 'pw'}", "--no-sync"], cwd="/")
    must(["runuser", "-u", owner, "--", str(bin_dir / "pg_ctl"), "-D", str(pg / "data"), "-w",
          "-l", str(pg / "log"), "-o", f"-p {port} -k {pg} -c listen_addresses=127.0.0.1 -c fsync=off",
          "start"], cwd="/")
    dep.cleanup.append(lambda: sh(["runuser", "-u", owner, "--", str(bin_dir / "pg_ctl"), "-D",
                                   str(pg / "data"), "-m", "immediate", "stop"], cwd="/"))
    admin = f"postgresql://postgres:{superpass}@127.0.0.1:{port}/postgres"
    role = f"{SVC}_db"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{svcpass}'")
        con.execute(f"CREATE DATABASE sessions OWNER {role}")
    url = f"postgresql://{role}:{svcpass}@127.0.0.1:{port}/sessions"
    config = dep.svc_home / ".config" / "sessionctl"
    must(["install", "-d", "-o", SVC, "-g", SVC, "-m", "700", str(dep.svc_home / ".config"), str(config)])
    (config / "config.toml").write_text(f'db = "{url}"\n', encoding="utf-8")
    must(["chown", f"{SVC}:{SVC}", str(config / "config.toml")])
    (config / "config.toml").chmod(0o600)
    return {"url": url, "admin": admin.rsplit("/", 1)[0] + "/sessions", "role": role, "port": port,
            "password": svcpass, "config": config / "config.toml"}


def test_a_shared_postgresql_store_whose_url_only_the_service_account_reads(deployment, postgres):
    dep = deployment
    from conftest import snapshot as pg_rows

    def snapshot():
        return pg_rows(postgres["admin"])

    masked = postgres["url"].replace(postgres["password"], "***")
    request = seed(dep)
    assert dep.ok(S1, "sessionctl whoami --json")["name"] == S1
    assert snapshot()["requests"]  # the workflow went to PostgreSQL
    attacks(dep, request, snapshot, masked)

    # the URL with its password: nobody else reads the file, nothing prints it
    cat = dep.run(S1, f"cat {postgres['config']}")
    assert cat.returncode != 0 and postgres["password"] not in cat.stdout + cat.stderr
    for user in (S1, PROF):
        shown = dep.run(user, "sessionctl config show; sessionctl config show --json; sessionctl whoami")
        assert shown.returncode == 0 and postgres["password"] not in shown.stdout + shown.stderr
        assert masked in shown.stdout
    # the database wants the password, which the student does not have
    url = f"postgresql://{postgres['role']}@127.0.0.1:{postgres['port']}/sessions"
    probe = ("import psycopg\ntry:\n    psycopg.connect(%r, connect_timeout=5)\n    print('CONNECTED')\n"
             "except psycopg.OperationalError as exc:\n    print('REFUSED', exc)\n") % url
    tried = dep.run(S1, dep.python(probe))
    assert "REFUSED" in tried.stdout and "CONNECTED" not in tried.stdout, (tried.stdout, tried.stderr)
    dep.refused(S1, f"sessionctl --db {url} whoami", 4, "is refused", snapshot=snapshot)

    # an administrator's slip in the URL (a '%' left unescaped in the password): every caller
    # gets exit 6, and no message shows the password, the driver's included
    good = postgres["config"].read_text(encoding="utf-8")
    broken = postgres["url"].replace(f":{postgres['password']}@", f":{postgres['password']}%3@")
    postgres["config"].write_text(f'db = "{broken}"\n', encoding="utf-8")
    try:
        for user in (S1, PROF):
            for command in ("whoami", "init", "slot list --json", "config show"):
                result = dep.run(user, f"SESSIONCTL_DEBUG=1 sessionctl {command}")
                said = result.stdout + result.stderr
                assert postgres["password"] not in said, (user, command, said)
                assert result.returncode == (0 if command == "config show" else 6), (command, said)
    finally:
        postgres["config"].write_text(good, encoding="utf-8")
    assert dep.ok(S1, "sessionctl whoami --json")["name"] == S1
