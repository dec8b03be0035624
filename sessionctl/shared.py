"""The shared mode (``docs/reference/shared-mode.md``): one store owned by a service account, reached through sudo.

It is on when ``configfile.SITE_FILE`` (``/etc/xdg/sessionctl/config.toml`` on Linux, never a file
that ``XDG_CONFIG_DIRS`` names) says ``identity = "sudo"`` and ``account = "NAME"``. That file
must be owned by root and writable by nobody else, and so must each directory above it;
otherwise sessionctl refuses to run (exit 4) rather than ignore a line that says the store is
shared.

- Started as anyone but the service account, sessionctl re-executes itself as
  ``sudo -n -u ACCOUNT -- COMMAND ARGS…`` (``launch``), passing the caller's ``SESSIONCTL_DB``,
  ``SESSIONCTL_TZ`` and ``NO_COLOR``/``FORCE_COLOR`` on as options, since sudo drops them.
- Run as the service account under sudo, the acting user is ``SUDO_USER``, checked against
  ``SUDO_UID`` and the password database. The process keeps only a short list of variables,
  takes its home and config from the password database (never from ``HOME`` or ``XDG_*``),
  creates files mode 0600, and refuses every file, store or server the caller names.
- Run as the service account without sudo (its crontab, an administrator's ``runuser``), it
  acts for itself: the login name, or ``SESSIONCTL_USER``, and any path it names.
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
from typing import Mapping

from sessionctl import configfile as config
from sessionctl._plain import Record
from sessionctl.errors import NotAllowed, UsageError
from sessionctl.urls import has_password, mask_url

ROOT = 0  # the owner the site file must have (the tests of this module run as someone else)
SUPERUSER = 0  # the one account that may not be the service account (tests set it aside)


def trusted(uid: int) -> set:
    """Who may own the service account's files and the directories above them."""
    return {uid, 0, ROOT}

# What a caller's environment may pass to the service account: display and timing preferences,
# and the variables that are refused unless they match (kept so that they can be refused).
KEEP = {
    "SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_COMMAND", "TERM", "COLORTERM", "LANG", "LANGUAGE",
    "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "SESSIONCTL_TZ", "SESSIONCTL_LOCK_TIMEOUT",
    "SESSIONCTL_SMTP_TIMEOUT", "SESSIONCTL_MAIL_FROM", "SESSIONCTL_DEBUG", "SESSIONCTL_USER",
    "SESSIONCTL_DB", "SESSIONCTL_SMTP", "SESSIONCTL_SMTP_PASSWORD",
}
# Variables that change what Python runs. Under sudo they mean env_reset is off: too late to
# undo (the interpreter has read them), so a tripwire that stops the command.
PYTHON_RUNS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONUSERBASE",
               "PYTHONPYCACHEPREFIX", "PYTHONEXECUTABLE", "PYTHONPLATLIBDIR")
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


class Shared(Record):
    """The shared mode as this process sees it."""

    _fields = ("site", "account", "caller", "outside")

    def __init__(self, site: config.ConfigFile, account: pwd.struct_passwd,
                 caller: pwd.struct_passwd | None, outside: bool = False):
        self.site = site
        self.account = account
        self.caller = caller  # who came through sudo; None: the service account itself
        self.outside = outside  # this process is not the service account (it must hop)

    # -- the service account's own files -------------------------------------------------------

    def user_file(self) -> config.ConfigFile:
        """The service account's user file, found from the password database, and checked:
        owned by it (or root), writable by nobody else, private if it holds a password."""
        path = os.path.join(self.account.pw_dir, ".config", config.APP, "config.toml")
        found = config.read_config(path, "user")
        if found.found:
            owners = trusted(self.account.pw_uid)
            _check_file(found, owners, "the service account's config file")
            _check_dirs(path, owners, "the service account's config file")
            _private(found, readable_by_others=bool(found.stat.st_mode & 0o044))
        return found

    def expand(self, location: str) -> str:
        """``~`` in a store path is the service account's home, never ``HOME``."""
        prefix = "sqlite:///" if location.startswith("sqlite:///") else ""
        path = location[len(prefix):]
        if path == "~" or path.startswith("~/"):
            return prefix + self.account.pw_dir.rstrip("/") + path[1:]
        return location

    def check_program(self, path: str, what: str) -> None:
        """A program the service account runs (``link_command``, a hook) or the hooks'
        directory: it and every directory above it owned by the service account or root and
        writable by no one else (exit 4), as it runs with the service account's rights."""
        owners = trusted(self.account.pw_uid)
        try:
            info = os.stat(path)
        except OSError as exc:
            raise NotAllowed(f"cannot check {what} {path}: {exc.strerror}") from None
        if info.st_uid not in owners or info.st_mode & 0o022:
            raise NotAllowed(
                f"{what} {path} must belong to the service account {self.account.pw_name} or "
                "root and be writable by no one else: it runs with the service account's rights",
                hint=f"chown {self.account.pw_name} {path} && chmod go-w {path}")
        _check_dirs(path, owners, what)

    def default_store(self) -> str:
        return os.path.join(self.account.pw_dir, ".local", "share", config.APP, "sessionctl.db")

    def command(self) -> str:
        """What the caller's side runs through sudo: the site file's ``command``, else the
        ``sessionctl`` beside this Python (a virtualenv's own entry point)."""
        return self.site.values.get("command") or os.path.join(
            os.path.dirname(sys.executable), "sessionctl")

    # -- who is acting ---------------------------------------------------------------------------

    def acting(self, claimed: str | None) -> str:
        """The acting name: the sudo caller (a different SESSIONCTL_USER is refused), or for the
        service account itself SESSIONCTL_USER or its login name."""
        if self.caller is None:
            return claimed or self.account.pw_name
        if claimed is not None and claimed != self.caller.pw_name:
            raise _claim_refused(claimed, self.caller.pw_name, ", as sudo vouches")
        return self.caller.pw_name

    def acting_origin(self, claimed: str | None) -> str:
        if self.caller is not None:
            return "SUDO_USER"
        return "SESSIONCTL_USER" if claimed else "login name (the service account)"

    @staticmethod
    def owned_label(key: str) -> str:
        return {"db": "store", "smtp": "mail server"}.get(key, key)

    @staticmethod
    def same(key: str, given: str, configured: str | None) -> bool:
        """Whether a caller's --db (or SMTP URL) names what the service account uses. Compared
        as text (a store path lexically, never through the file system, and what is opened is
        always the configured one, so a symlink of the caller's cannot match)."""
        if configured is None:
            return False
        if given in (configured, mask_url(configured)):
            return True
        if key != "db" or "://" in given.replace("sqlite:///", "", 1):
            return False

        def path(text: str) -> str:
            return os.path.normpath(text.replace("sqlite:///", "", 1))

        return "://" not in configured.replace("sqlite:///", "", 1) and path(given) == path(configured)

    # -- the store -------------------------------------------------------------------------------

    def secure_store(self, location: str, create: bool) -> bool:
        """Before the store is opened; returns whether it may be created. Only the service
        account itself creates it (``init`` by a caller only migrates: no caller can be the
        first admin of a store they made). A SQLite store's directory must be the service
        account's (or root's) and writable by nobody else, and the file the service account's,
        mode 0600 (tightened if looser, with its -wal and -shm); ``create`` makes a missing
        directory 0700 and the file 0600 before SQLite opens it."""
        if self.caller is not None:
            create = False
        if location.startswith(("postgresql://", "postgres://")):
            return create
        path = os.path.abspath(location.replace("sqlite:///", "", 1) if
                               location.startswith("sqlite:///") else location)
        if self.caller is not None and not os.path.lexists(path):
            raise NotAllowed(
                f"the shared store {path} does not exist yet: the service account "
                f"{self.account.pw_name} creates it",
                hint=f"an administrator runs, as root: su -s /bin/sh -l {self.account.pw_name} "
                     "-c 'sessionctl init'")
        owners = trusted(self.account.pw_uid)
        folder = os.path.dirname(path)
        if create and not os.path.lexists(folder):
            try:
                os.makedirs(folder, mode=0o700)
            except OSError as exc:
                raise NotAllowed(f"cannot create {folder}: {exc.strerror}") from None
        if not os.path.lexists(folder):
            return create  # open_store says there is no store
        _check_dirs(path, owners, "the store")
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            info = None
        if info is None and create:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            except FileExistsError:  # another init won the race; check what it made
                info = os.lstat(path)
        if info is None:
            return create
        if not stat.S_ISREG(info.st_mode) or info.st_uid != self.account.pw_uid:
            raise NotAllowed(
                f"the store {path} is not a file of the service account {self.account.pw_name}",
                hint=f"chown {self.account.pw_name} {path}; it must be a regular file, not a link")
        for name in (path, path + "-wal", path + "-shm"):
            try:
                mode = os.lstat(name).st_mode
                if stat.S_ISREG(mode) and mode & 0o077:
                    os.chmod(name, stat.S_IMODE(mode) & 0o600)
            except FileNotFoundError:
                pass
        return create


# -- deciding -------------------------------------------------------------------------------------


def establish(site: config.ConfigFile, environ: Mapping[str, str], *, may_hop: bool = False) -> Shared:
    """The shared mode from the site file, which claims it (``identity = "sudo"``): refuse an
    unsafe file (exit 4), a missing or unknown account (exit 2), a process that is not the
    service account (exit 4, unless ``may_hop``) and a sudo caller that does not add up (exit 4)."""
    _check_file(site, {ROOT}, "the site config file", site_file=True)
    _check_dirs(site.path, {ROOT}, "the site config file", site_file=True)
    _private(site, readable_by_others=bool(site.stat.st_mode & 0o044))
    account = _account(site)
    uid = account.pw_uid
    if os.getuid() != uid or os.geteuid() != uid:
        state = Shared(site, account, None, outside=True)
        if may_hop:
            return state
        raise NotAllowed(
            f"this machine shares one store ({site.path}): sessionctl runs as the service account "
            f"{account.pw_name}, through sudo",
            hint=f"run it as: sudo -u {account.pw_name} {state.command()} …")
    return Shared(site, account, _caller(environ))


def _account(site: config.ConfigFile) -> pwd.struct_passwd:
    name = site.values.get("account")
    if not name:
        raise UsageError(f"{site.origin('identity')}: identity = \"sudo\" needs account = "
                         "\"NAME\", the service account that owns the store")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(f"{site.origin('account')}: there is no user {name!r} on this machine") from None
    if entry.pw_uid == SUPERUSER:
        raise UsageError(f"{site.origin('account')}: the service account must not be root")
    return entry


def _caller(environ: Mapping[str, str]) -> pwd.struct_passwd | None:
    """Who ran ``sudo -u ACCOUNT``: SUDO_USER, which must be the password database's name for
    SUDO_UID. Neither set: the service account itself. Anything else is refused."""
    name, uid = environ.get("SUDO_USER"), environ.get("SUDO_UID")
    if name is None and uid is None:
        return None
    if not name or not uid or not (uid.isascii() and uid.isdigit()):
        raise NotAllowed("sudo's SUDO_USER and SUDO_UID are missing or malformed: "
                         "cannot tell who you are")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise NotAllowed(f"SUDO_USER={name} is not a user of this machine") from None
    if entry.pw_uid != int(uid):
        raise NotAllowed(f"SUDO_USER={name} is not SUDO_UID={uid} in the password database")
    return entry


# -- ownership checks -----------------------------------------------------------------------------


def _check_file(found: config.ConfigFile, owners: set, what: str, site_file: bool = False) -> None:
    """The file as it was read (its fstat): owned by one of ``owners``, writable by no one else."""
    info = found.stat
    if info.st_uid not in owners or info.st_mode & 0o022:
        raise NotAllowed(
            f"{found.path} sets the shared mode but is not safe: it must be owned by root and "
            "writable by no one else" if site_file else
            f"{what} {found.path} must belong to the service account and be writable by no one else",
            hint=f"chown root:root {found.path} && chmod 644 {found.path}" if site_file
            else f"chmod go-w {found.path}")


def _check_dirs(path: str, owners: set, what: str, site_file: bool = False) -> None:
    """Every directory above ``path``, as written and with links resolved: owned by ``owners``
    or root; the nearest writable by no one else, those above it only if sticky (``/tmp``), as
    nobody can then move a directory they do not own."""
    for chain in {os.path.abspath(path), os.path.realpath(path)}:
        folder = os.path.dirname(chain)
        nearest = True
        while True:
            try:
                info = os.stat(folder)
            except OSError as exc:
                raise NotAllowed(f"cannot check {folder} ({what}): {exc.strerror}") from None
            loose = info.st_mode & 0o022 and (nearest or not info.st_mode & stat.S_ISVTX)
            if info.st_uid not in owners | {0, ROOT} or loose:
                who = "root" if site_file else "the service account or root"
                raise NotAllowed(
                    f"{folder}, which holds {what}, must belong to {who} and be writable by no one "
                    "else: anyone who can write it could replace the file",
                    hint=f"chmod go-w {folder}")
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder, nearest = parent, False


def _private(found: config.ConfigFile, readable_by_others: bool) -> None:
    """A password (in the store's or the mail server's URL) only in a file nobody else reads."""
    for key in ("db", "smtp"):
        value = found.values.get(key)
        if value and readable_by_others and has_password(value):
            raise NotAllowed(
                f"{found.origin(key)}: a password in a file others can read; in the shared mode "
                "it belongs in the service account's own config file, mode 0600",
                hint="move the line to ~ACCOUNT/.config/sessionctl/config.toml and chmod 600 it")


def _claim_refused(claimed: str, me: str, why: str = "") -> NotAllowed:
    """The one answer to SESSIONCTL_USER naming someone else, on either side of the hop."""
    return NotAllowed(f"SESSIONCTL_USER={claimed} is refused: in the shared mode you act as "
                      f"yourself ({me}){why}", hint="unset SESSIONCTL_USER")


# -- the process: hop to the service account, or harden it -----------------------------------------


def launch(argv: list[str], environ=None, site: config.ConfigFile | None = None) -> None:
    """Called first by the ``sessionctl`` command (with the site file it has read). Outside the
    shared mode it returns. In it, as anyone but the service account it replaces this process
    with ``sudo``; as the service account it hardens the process and returns."""
    environ = os.environ if environ is None else environ
    site = site or config.read_config(config.SITE_FILE, "site")
    if site.values.get("identity") != "sudo":
        return
    state = establish(site, environ, may_hop=True)
    completion = {a.partition("=")[0] for a in argv[1:]} & {"--install-completion",
                                                            "--show-completion"}
    if state.outside:
        if completion:  # the caller's own shell files, no store: answered as the caller
            return
        hop(state, argv, environ)
    if completion and state.caller is not None:
        raise NotAllowed("shell completion is installed as yourself, not through sudo: the "
                         "service account would write its own shell files",
                         hint="run 'sessionctl --install-completion' without sudo")
    asked = completion_request(argv) if state.caller is not None else None
    harden(state, environ)
    if asked is not None:  # the shell's request, as the caller's side passed it on
        environ.update(asked)
        del argv[1:]


def completion_request(argv: list[str]) -> dict | None:
    """The shell's completion variables that the caller's side put on the command line
    (``hop``): None when this is no such request. A malformed one is answered with nothing
    (exit 0, no output): a shell evaluates what completion prints, the help text included."""
    from sessionctl.front import COMPLETE_ENV, COMPLETE_HOP, COMPLETE_VAR

    if argv[1:2] != [COMPLETE_HOP]:
        return None
    asked = dict(pair.partition("=")[::2] for pair in argv[2:])
    if (COMPLETE_VAR not in asked or set(asked) - set(COMPLETE_ENV)
            or any("=" not in pair for pair in argv[2:])):
        sys.exit(0)
    return asked


def hop(state: Shared, argv: list[str], environ: Mapping[str, str]) -> None:
    """Run this command again as the service account: ``sudo -n -u ACCOUNT -- COMMAND …``."""
    try:
        me = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        raise NotAllowed("your user id has no entry in the password database") from None
    claimed = environ.get("SESSIONCTL_USER")
    if claimed and claimed != me:
        raise _claim_refused(claimed, me)
    sudo = next((p for p in ("/usr/bin/sudo", "/bin/sudo", "/usr/local/bin/sudo")
                 if os.access(p, os.X_OK)), None)
    if sudo is None:
        raise NotAllowed(f"this machine shares one store: sessionctl runs as {state.account.pw_name} "
                         "through sudo, which is not installed", hint="ask the administrator")
    forwarded = []
    from sessionctl.front import COMPLETE_ENV, COMPLETE_HOP, COMPLETE_VAR

    if environ.get(COMPLETE_VAR):  # a shell asks: its variables go as arguments, sudo's
        argv = argv[:1]           # errors nowhere (the shell would show them at every TAB)
        forwarded = [COMPLETE_HOP] + [f"{n}={environ[n]}" for n in COMPLETE_ENV if n in environ]
        if environ.get("SESSIONCTL_DEBUG") != "1":
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    elif argv[1:]:  # sudo drops these variables: pass them on as the options they stand for
        for name, option in (("SESSIONCTL_DB", "--db"), ("SESSIONCTL_TZ", "--tz")):
            if environ.get(name):
                forwarded += [option, environ[name]]
        if environ.get("NO_COLOR"):
            forwarded += ["--color", "never"]
        elif environ.get("FORCE_COLOR"):
            forwarded += ["--color", "always"]
    sys.stdout.flush()
    os.execv(sudo, [sudo, "-n", "-u", state.account.pw_name, "--", state.command(),
                    *forwarded, *argv[1:]])


def harden(state: Shared, environ) -> None:
    """The service account's process: files it creates are private (umask 077); for a sudo
    caller, the environment is cut to ``KEEP``, home and working directory come from the
    password database, and the caller's terminal cannot suspend it."""
    os.umask(0o077)
    if state.caller is None:
        return
    leaked = [name for name in PYTHON_RUNS if environ.get(name)]
    if leaked and not sys.flags.ignore_environment:
        raise NotAllowed(f"sudo passed {', '.join(leaked)} on to the service account",
                         hint="the sudoers rule must keep env_reset (the default)")
    kept = {k: v for k, v in environ.items() if k in KEEP or k.startswith("LC_")}
    environ.clear()
    environ.update(kept)
    account = state.account
    environ.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name,
                   PATH=SAFE_PATH)
    os.chdir("/")
    import signal

    for name in ("SIGTSTP", "SIGTTIN", "SIGTTOU"):  # ^Z cannot park a writer holding the lock
        signal.signal(getattr(signal, name), signal.SIG_IGN)
