"""Every setting sessionctl reads from outside its arguments, with its default: resolved once a
run, in one ``Settings`` that the run's ``Invocation`` holds (``cli/invocation.py``).

A setting comes from a command-line flag (given to ``Settings``), else an environment
variable, else the user's config file, else the site's config file, else its default
(``docs/reference/settings.md``). ``Settings`` reads the environment it is given (the process's,
or the demo's own for its steps) and never changes it. Values are checked where they are read:
a malformed one is a usage error (exit 2) naming where it came from (the variable, or the file
and line). The files themselves are read by ``configfile.py``.

Outside ``Settings`` the environment is read only where a setting cannot be resolved yet:
``launch.py`` and ``front.py`` (before any command: a shell asking for completions, ``COLUMNS``
and the help's colour variables), ``shared.py`` (the sudo hop, which builds the environment of
the next process), and ``configfile.personal_files`` (where the files are).

The shared mode (``identity = "sudo"``) is decided by one fixed file only,
``configfile.SITE_FILE``, whatever ``XDG_*`` say; its rules live in ``sessionctl/shared.py``.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

from sessionctl import configfile
from sessionctl._plain import Record
from sessionctl.configfile import (
    APP, COLOR_CHOICES, DEFAULT_LOCK_TIMEOUT, FILE_KEYS, TIMEOUTS, ConfigFile, checked_text,
    personal_files, read_config, seconds, utf8_paths,
)
from sessionctl.errors import NotAllowed, UsageError
from sessionctl.urls import mask_url

# key -> the environment variable that sets it
ENV = {
    "db": "SESSIONCTL_DB",
    "user": "SESSIONCTL_USER",
    "tz": "SESSIONCTL_TZ",
    "lock_timeout": "SESSIONCTL_LOCK_TIMEOUT",
    "smtp": "SESSIONCTL_SMTP",
    "smtp_password": "SESSIONCTL_SMTP_PASSWORD",
    "smtp_timeout": "SESSIONCTL_SMTP_TIMEOUT",
    "mail_from": "SESSIONCTL_MAIL_FROM",
    "feed_base": "SESSIONCTL_FEED_BASE",
    "feed_dir": "SESSIONCTL_FEED_DIR",
    "pager": "SESSIONCTL_PAGER",
    "debug": "SESSIONCTL_DEBUG",
}


# What a setting that nobody set means (``config show``).
DEFAULTS = {
    "tz": "default: your stored zone (user set --tz), else the system's",
    "smtp": "default: none (notify send needs one)",
    "mail_from": "default: sessionctl@ this host's name",
    "feed_base": "default: none (feed url needs one)",
    "feed_dir": "default: none (feed write needs one, or a DIR)",
}
DEFAULT_SMTP_TIMEOUT = 30.0
DEFAULT_BUSY_TIMEOUT = 10.0
DEFAULT_BUSY_TTL = 900.0
DEFAULT_PAGER = "less -FRX"

class Layers(Record):
    _fields = ("site", "user", "shared")

    def __init__(self, site: ConfigFile | None, user: ConfigFile | None, shared: object | None = None):
        self.site = site
        self.user = user
        self.shared = shared  # a shared.Shared in the shared mode


class Settings:
    """The effective settings of one invocation: ``flags`` (from the command line) win over
    the environment, which wins over the user file, then the site file, then the defaults."""

    def __init__(self, flags: Mapping[str, object] | None = None,
                 environ: Mapping[str, str] | None = None, *, files: bool = True):
        self.flags = {k: v for k, v in (flags or {}).items() if v is not None}
        self.environ = os.environ if environ is None else environ
        self.files = files  # False: no config file and never the shared mode (the demo's steps)
        self._layers: Layers | None = None

    # -- where values come from ----------------------------------------------------------------

    def layers(self) -> Layers:
        """The config files (read once per Settings) and, in the shared mode, its state."""
        if self._layers is None:
            self._layers = self._read_layers()
        return self._layers

    def _read_layers(self) -> Layers:
        if not self.files:
            return Layers(None, None)
        site_file = configfile.SITE_FILE
        fixed = read_config(site_file, "site")
        if fixed.values.get("identity") == "sudo":
            from sessionctl import shared

            state = shared.establish(fixed, self.environ)
            return Layers(fixed, state.user_file(), state)
        site_path, user_path = personal_files(self.environ)
        site = fixed if os.path.abspath(site_path) == site_file else read_config(site_path, "site")
        if site.values.get("identity") == "sudo":
            raise NotAllowed(f"{site.origin('identity')}: identity = \"sudo\" is honoured only in "
                             f"{site_file}, owned by root", hint="move the line to that file")
        return Layers(site, read_config(user_path, "user"))

    @property
    def shared(self):
        """The shared mode's state (``shared.Shared``), or None outside it."""
        return self.layers().shared

    @property
    def for_caller(self) -> bool:
        """True when this process is the service account acting for someone who came through
        sudo: nothing that caller names may choose a file, a store or a server."""
        state = self.shared
        return state is not None and state.caller is not None

    def check(self) -> None:
        """Read the config files and settle the shared mode now (exit 2 or 4 before anything
        else happens), and refuse a caller's --db or SESSIONCTL_USER that do not match."""
        if self.shared is not None:
            self.user  # noqa: B018 - each refuses what it must
            self.db  # noqa: B018

    def file_value(self, key: str) -> tuple[object | None, str]:
        """A key's value from the user file, else the site file."""
        layers = self.layers()
        for config in (layers.user, layers.site):
            if config is not None and key in config.values:
                return config.values[key], config.origin(key)
        return None, "default"

    def raw(self, key: str) -> tuple[str | None, str]:
        """The text of a setting and where it came from: ``--flag``, the variable, ``FILE,
        line N`` or ``default``."""
        if key in self.flags:
            value, flag = str(self.flags[key]), f"--{key.replace('_', '-')}"
            if not value.strip():
                raise UsageError(f"{flag} is empty", hint=f"leave {flag} out for the default")
            return value, flag
        name = ENV.get(key)
        value = self.environ.get(name) if name else None
        if value:
            return checked_text(name, value), name
        if key in FILE_KEYS:
            found, origin = self.file_value(key)
            if found is not None:
                return str(found), origin
        return None, "default"

    def _get(self, key: str, parse: Callable[[str, str], object], default=None):
        value, origin = self.raw(key)
        return default if value is None else parse(value, origin)

    def _service_store(self) -> tuple[str, str]:
        """The shared store: the files' ``db`` (``~`` being the service account's home), else
        the service account's data directory."""
        value, origin = self.file_value("db")
        if value is None:
            return self.shared.default_store(), "default (the service account's data directory)"
        return self.shared.expand(value), origin

    def _service_owned(self, key: str, given: str | None, origin: str) -> str | None:
        """In the shared mode, ``key`` (the store, the mail server) is the service account's:
        a caller's flag or variable is refused unless it says the same as the config files."""
        configured = self._service_store()[0] if key == "db" else self.file_value(key)[0]
        if given is None or self.shared.same(key, given, configured):
            return configured
        shown = mask_url(given)
        option = f"{origin} {shown}" if origin.startswith("--") else f"{origin}={shown}"
        raise NotAllowed(
            f"{option} is refused: in the shared mode the {self.shared.owned_label(key)} belongs to "
            f"the service account {self.shared.account.pw_name}",
            hint=f"leave out {origin}; 'sessionctl config show' shows the {key} in use",
        )

    def flagged(self, key: str, flag: str | None) -> str | None:
        """A command's option that overrides a setting (``notify send --smtp``): for a caller
        in the shared mode, refused unless it matches."""
        if flag is None:
            return getattr(self, key)
        return self._service_owned(key, flag, f"--{key}") if self.for_caller else flag

    def server_urls(self) -> list[str]:
        """Every store or mail server URL this invocation may use, as given, from every layer
        (none checked, none refused): ``Output.stderr`` hides their passwords in whatever it
        prints, a driver's message included (``conceal``)."""
        found = []
        for key in ("db", "smtp"):
            found += [self.flags.get(key), self.environ.get(ENV[key])]
            try:
                found.append(self.file_value(key)[0])
            except Exception:  # noqa: BLE001 - a file or shared mode that refuses to load
                pass
        return [url for url in found if isinstance(url, str) and "://" in url]

    # -- the settings ------------------------------------------------------------------------

    @property
    def db(self) -> str:
        value, origin = self.raw("db")
        state = self.shared
        if state is not None:
            if self.for_caller:
                given = value if origin in ("--db", ENV["db"]) else None
                return self._service_owned("db", given, origin)
            return state.expand(value) if value is not None else state.default_store()
        if value is not None:
            return value
        from pathlib import Path

        from platformdirs import user_data_dir

        utf8_paths(self.environ, "XDG_DATA_HOME")
        return str(Path(user_data_dir(APP)) / "sessionctl.db")

    @property
    def user(self) -> str:
        state = self.shared
        value, _ = self.raw("user")
        if state is not None:
            return state.acting(value)
        if value is not None:
            return value
        import getpass

        try:
            return checked_text("your login name", getpass.getuser())
        except (KeyError, OSError):  # no login name and no passwd entry
            raise UsageError("cannot tell who you are: set SESSIONCTL_USER") from None

    @property
    def user_origin(self) -> str:
        if self.shared is not None:
            return self.shared.acting_origin(self.raw("user")[0])
        return self.raw("user")[1] if self.raw("user")[0] is not None else "login name"

    @property
    def tz(self) -> str | None:
        return self.raw("tz")[0]

    @property
    def lock_timeout(self) -> float:
        return self._timeout("lock_timeout", DEFAULT_LOCK_TIMEOUT)

    def _timeout(self, key: str, default: float) -> float:
        low, high, above = TIMEOUTS[key]
        return self._get(key, lambda raw, origin: seconds(origin, raw, low=low, high=high,
                                                          above_low=above), default)

    @property
    def smtp(self) -> str | None:
        value, origin = self.raw("smtp")
        if self.for_caller and origin == ENV["smtp"]:
            return self._service_owned("smtp", value, origin)
        return value

    @property
    def smtp_password(self) -> str | None:
        value, origin = self.raw("smtp_password")
        if value is not None and self.for_caller:
            raise NotAllowed(f"{origin} is refused: in the shared mode the mail server's "
                             "credentials belong to the service account",
                             hint=f"unset {origin}")
        return value

    @property
    def smtp_timeout(self) -> float:
        return self._timeout("smtp_timeout", DEFAULT_SMTP_TIMEOUT)

    @property
    def mail_from(self) -> str | None:
        """The sender, ``addr`` or ``Name <addr>``: malformed is exit 2 naming its origin
        (the rule is the one ``notify send --from`` follows)."""
        value, origin = self.raw("mail_from")
        if value is not None:
            from sessionctl.domain.checks import sender

            try:
                sender(value)
            except UsageError as exc:
                raise UsageError(f"{origin}: {exc.message}", exc.hint) from None
        return value

    # -- busy times (docs/reference/busy-times.md) ---------------------------------------------

    def busy_setting(self) -> tuple[tuple[str, ...], str]:
        """The ``busy`` sources of the user's own config file, and where they came from."""
        value, origin = self.file_value("busy")
        return (tuple(value), origin) if value else ((), "default")

    @property
    def busy_timeout(self) -> float:
        return self._timeout("busy_timeout", DEFAULT_BUSY_TIMEOUT)

    @property
    def busy_ttl(self) -> float:
        return self._timeout("busy_ttl", DEFAULT_BUSY_TTL)

    @property
    def busy_allow(self) -> tuple[str, ...]:
        """Addresses the restricted modes may fetch from all the same (the site file's)."""
        site = self.layers().site
        return tuple(site.values.get("busy_allow", ())) if site is not None else ()

    def busy_cache(self) -> str:
        """Where fetched busy sources are kept: the user's cache directory, in the shared mode
        the service account's."""
        state = self.shared
        if state is not None:
            return os.path.join(state.account.pw_dir, ".cache", APP, "busy")
        base = self.environ.get("XDG_CACHE_HOME", "")
        if not base.startswith("/"):
            utf8_paths(self.environ, "HOME")
            base = os.path.join(os.path.expanduser(self.environ.get("HOME") or "~"), ".cache")
        return os.path.join(base, APP, "busy")

    @property
    def feed_base(self) -> str | None:
        """The web address the feed directory is served at (``feed url``)."""
        value, origin = self.raw("feed_base")
        return value if value is None else configfile.check_feed_base(value, origin)

    def feed_dir(self, given: str | None) -> str:
        """Where ``feed write`` writes: ``given`` (its DIR), else ``feed_dir``. In the shared
        mode only the config files' ``feed_dir``: a caller's path or variable is refused."""
        value, origin = self.raw("feed_dir")
        if self.shared is not None:
            if given is not None:
                raise NotAllowed(f"DIR {given} is refused: in the shared mode feed write writes "
                                 "only to the config files' feed_dir",
                                 hint="leave DIR out; 'sessionctl config show' shows feed_dir")
            value, origin = self.file_value("feed_dir")
        elif given is not None:
            value = given
        if not value:
            raise UsageError("no feed directory: give DIR or set feed_dir",
                             hint='set feed_dir = "/var/www/feeds" in the config file')
        return os.path.expanduser(value)
    # -- programs sessionctl runs (docs/reference/meeting-rooms-and-hooks.md) -----------------

    def program(self, key: str, site_only: bool = False) -> tuple[str | None, str]:
        """``link_command`` or ``hooks_dir`` and where it came from: the config files only
        (never a variable or a flag). In the shared mode those are the site file and the
        service account's own file, never a caller's; with ``site_only`` (the database
        mode, where everyone runs as themselves against one server) the site file alone."""
        site = self.layers().site
        if site_only:
            found = site is not None and key in site.values
            return (site.values[key], site.origin(key)) if found else (None, "default")
        return self.file_value(key)

    def vet_program(self, path: str, what: str) -> None:
        """In the shared mode a program the service account runs (and the directories above
        it) must belong to root or the service account and be writable by no one else: exit
        4 otherwise. Outside it, the user's own files are theirs to choose."""
        if self.shared is not None:
            self.shared.check_program(path, what)

    def links(self, site_only: bool = False):
        """The run's links settings (``domain/links.py``): read now, checked when used."""
        from sessionctl.domain.links import Links

        template, origin = self.raw("link_template")
        command, _ = self.program("link_command", site_only)
        return Links(template, origin, command, self._timeout("link_timeout", 10.0),
                     self.vet_program)

    @property
    def hook_timeout(self) -> float:
        return self._timeout("hook_timeout", 30.0)

    @property
    def debug(self) -> bool:
        return self.environ.get(ENV["debug"]) == "1"

    # -- the terminal (read by output/terminal.py) ---------------------------------------------

    def color_setting(self) -> tuple[str, str]:
        """``auto``, ``always`` or ``never``, and where it came from: ``--color``, else
        ``NO_COLOR`` (never) or ``FORCE_COLOR`` (always), else the files, else auto."""
        if "color" in self.flags:
            flag = self.flags["color"]
            if flag not in COLOR_CHOICES:
                raise UsageError(f"unknown --color {flag!r}", hint="use auto, always or never")
            return flag, "--color"
        if self.environ.get("NO_COLOR"):
            return "never", "NO_COLOR"
        if self.environ.get("FORCE_COLOR"):
            return "always", "FORCE_COLOR"
        value, origin = self.file_value("color")
        return (value, origin) if value is not None else ("auto", "default")

    @property
    def color(self) -> str:
        return self.color_setting()[0]

    @property
    def no_color(self) -> bool:
        return bool(self.environ.get("NO_COLOR"))

    @property
    def force_color(self) -> bool:
        return bool(self.environ.get("FORCE_COLOR"))

    @property
    def columns(self) -> str | None:
        """``COLUMNS`` as given (the output decides whether it is usable)."""
        return self.environ.get("COLUMNS")

    def pager_setting(self) -> tuple[str | None, str]:
        """The pager command and its origin: ``--no-pager`` (none), ``SESSIONCTL_PAGER`` (set,
        even empty), the files, ``PAGER`` (set, even empty), ``less -FRX``. Like git, the config
        files win over the generic ``PAGER``. None in the shared mode for a caller: a pager run
        as the service account could open any of its files (``:e`` and ``!`` in less)."""
        if self.flags.get("pager") is False:
            return None, "--no-pager"
        if self.for_caller:
            return None, "shared mode"
        name = ENV["pager"]
        if name in self.environ:
            return checked_text(name, self.environ[name]), name
        value, origin = self.file_value("pager")
        if value is not None:
            return value, origin
        if "PAGER" in self.environ:
            return checked_text("PAGER", self.environ["PAGER"]), "PAGER"
        return DEFAULT_PAGER, "default"

    @property
    def pager(self) -> list[str] | None:
        """The pager as an argv, or None for no pager (none set, empty or ``cat``)."""
        command, _ = self.pager_setting()
        if command is None:
            return None
        import shlex

        try:
            argv = shlex.split(command)
        except ValueError:
            return None
        return argv if argv and argv != ["cat"] else None

    # -- paths a caller names (the confused deputy) --------------------------------------------

    def caller_path(self, option: str, path: str, hint: str) -> None:
        """Refuse a file the caller names when this process acts for a caller (exit 4): the
        service account would read or write it with its own rights, the store included."""
        if self.for_caller:
            raise NotAllowed(
                f"{option} {path} is refused: in the shared mode sessionctl runs as the service "
                f"account {self.shared.account.pw_name} and opens no file you name", hint=hint)

    # -- sessionctl config show ----------------------------------------------------------------

    def explain(self) -> dict:
        """Every effective setting with where it came from, passwords masked."""
        rows: dict[str, tuple[object, str]] = {}
        state = self.shared
        db, db_origin = self.db, self.raw("db")[1]
        if state is not None and (self.for_caller or db_origin == "default"):
            db_origin = self._service_store()[1]
        rows["db"] = (mask_url(db), db_origin)
        rows["user"] = (self.user, self.user_origin)
        self.mail_from  # noqa: B018 - checked like the timeouts below
        for key in ("tz", "lock_timeout", "smtp", "smtp_password", "smtp_timeout", "mail_from",
                    "feed_base", "feed_dir"):
            value, origin = self.raw(key)
            if key == "smtp" and value is not None:
                value = mask_url(self.smtp)
            if key == "smtp_password" and value is not None:
                value = "***"
            rows[key] = (value, DEFAULTS.get(key, origin) if value is None else origin)
        rows["lock_timeout"] = (self.lock_timeout, rows["lock_timeout"][1])
        rows["smtp_timeout"] = (self.smtp_timeout, rows["smtp_timeout"][1])
        from sessionctl.busytimes.sources import shown

        sources, origin = self.busy_setting()
        rows["busy"] = ([shown(s) for s in sources], origin)
        for key in ("busy_timeout", "busy_ttl"):
            rows[key] = (getattr(self, key), self.raw(key)[1])
        rows["busy_allow"] = (list(self.busy_allow), self.file_value("busy_allow")[1])
        rows["color"] = self.color_setting()
        rows["pager"] = self.pager_setting()
        rows["link_timeout"] = (self._timeout("link_timeout", 10.0), self.raw("link_timeout")[1])
        rows["hook_timeout"] = (self.hook_timeout, self.raw("hook_timeout")[1])
        for key in ("link_template", "link_command", "hooks_dir"):
            rows[key] = self.raw(key) if key == "link_template" else self.program(key)
        for key, default in (("identity", "login"), ("account", None), ("command", None)):
            value, origin = self.file_value(key)
            rows[key] = (value if value is not None else default, origin)
        if state is not None:
            rows["command"] = (state.command(), rows["command"][1])
        rows["debug"] = (self.debug, ENV["debug"] if self.debug else "default")
        layers = self.layers()
        files = [{"layer": c.layer, "path": c.path, "found": c.found}
                 for c in (layers.site, layers.user) if c is not None]
        return {"mode": "shared" if state is not None else "personal", "files": files,
                "settings": {k: {"value": v, "origin": o} for k, (v, o) in rows.items()}}
