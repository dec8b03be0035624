"""Every setting sessionctl reads from outside its arguments, with its default: resolved here once.

A setting comes from a command-line flag (given to ``Settings``), else an environment
variable, else the user's config file, else the site's config file, else its default (SPEC
§10). Nothing else in sessionctl reads ``os.environ``. Values are checked where they are read:
a malformed one is a usage error (exit 2) naming where it came from (the variable, or the file
and line).

The config files are TOML: the site file (``platformdirs.site_config_dir``, on Linux
``/etc/xdg/sessionctl/config.toml`` unless ``XDG_CONFIG_DIRS`` says otherwise) and the user file
(``platformdirs.user_config_dir``). A command that finds neither pays one failed ``open`` for
each and never imports the TOML parser.

The shared mode (``identity = "sudo"``) is decided by one fixed file only, ``SITE_FILE``,
whatever ``XDG_*`` say; its rules live in ``sessionctl/shared.py``.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

from sessionctl._plain import Record
from sessionctl.errors import NotAllowed, UsageError

APP = "sessionctl"

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
    "pager": "SESSIONCTL_PAGER",
    "debug": "SESSIONCTL_DEBUG",
}

# The keys a config file may hold. The last three belong to the site file alone: they set up
# the shared mode (``account`` and ``command`` are additions to SPEC §10's list, see README).
FILE_KEYS = ("db", "tz", "lock_timeout", "smtp", "mail_from", "smtp_timeout", "color", "pager",
             "identity", "account", "command")
SITE_ONLY = ("identity", "account", "command")

# What a setting that nobody set means (``config show``).
DEFAULTS = {
    "tz": "default: your stored zone (user set --tz), else the system's",
    "smtp": "default: none (notify send needs one)",
    "mail_from": "default: sessionctl@ this host's name",
}
DEFAULT_LOCK_TIMEOUT = 10.0
DEFAULT_SMTP_TIMEOUT = 30.0
DEFAULT_PAGER = "less -FRX"
COLOR_CHOICES = ("auto", "always", "never")
IDENTITIES = ("login", "sudo")
MAX_CONFIG_BYTES = 2**20  # a config file is a few lines; a larger one is a mistake
MAX_VALUE_CHARS = 4096

# The one site file that may turn on the shared mode (SPEC §10). Fixed: in the shared mode the
# caller's XDG_CONFIG_DIRS must not choose it.
if sys.platform == "darwin":
    SITE_FILE = f"/Library/Application Support/{APP}/config.toml"
else:
    SITE_FILE = f"/etc/xdg/{APP}/config.toml"


def seconds(label: str, raw: str, *, low: float, high: float, above_low: bool = False) -> float:
    """A number of seconds from ``raw`` within [low, high] (or (low, high] with ``above_low``):
    ASCII digits with an optional fraction (``float()`` alone takes ``٣``, ``1_0``, ``1e1``)."""
    text = raw.strip() if isinstance(raw, str) else str(raw)
    value = float(text) if re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,12})?", text) else float("nan")
    fits = (low < value if above_low else low <= value) and value <= high
    if not fits:  # NaN fails every comparison
        bound = "above" if above_low else "from"
        raise UsageError(f"{label} must be a number of seconds {bound} {low:g} and up to {high:g}, "
                         f"not {raw!r}")
    return value


def checked_text(label: str, value: str) -> str:
    """Text that came from the operating system (argv, environment): refuse invalid UTF-8,
    which Python hands over as lone surrogates and which nothing downstream could store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{label} is not valid UTF-8") from None
    return value


SECRET_PARAMETERS = ("password", "sslpassword")  # libpq's, in a URL's query string


def _password_span(url: str) -> tuple[int, int] | None:
    """Where a server URL's password is, as text: from after the ``:`` that ends the user name
    to the ``@`` before the host. Read as loosely as any reader might, since an unescaped
    ``@``, ``/``, ``?`` or ``#`` in a password moves the host for one reader and not another
    (libpq takes the first ``@`` before a ``/``, urllib the last before a ``/``, ``?`` or
    ``#``): the span reaches the last ``@`` that any of them could take. The URL need not be
    well formed (a bad percent-escape, a broken IPv6 host): its password is still found."""
    found = re.match(r"[A-Za-z][A-Za-z0-9+.-]*:/*", url)  # scheme://, or slashes short
    if found is None:
        return None
    head, sep, rest = url[:found.end()], "", url[found.end():]
    ends = [rest.rfind("@", 0, min([i for i in (rest.find("?"), rest.find("#")) if i >= 0],
                                   default=len(rest)))]
    libpq = re.search(r"[@/]", rest)
    if libpq and libpq.group() == "@":
        ends.append(libpq.start())
    end = max(ends)
    start = rest.find(":", 0, end)
    if end < 0 or start < 0:
        return None
    base = len(head) + len(sep)
    return base + start + 1, base + end


_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """A server URL (PostgreSQL, SMTP) with its password shown as ``***``: the one after the
    user name, and any in the query string (``?password=…``, as libpq takes it). Works on
    malformed URLs too."""
    from urllib.parse import parse_qsl, urlencode

    if "://" not in url and _KEYWORD_PASSWORD.search(url):  # libpq's "host=… password=…"
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    span = _password_span(url)
    if span is not None:
        url = f"{url[:span[0]]}***{url[span[1]:]}"
    after = span[1] if span is not None else url.find("://") + 1
    mark = url.find("?", max(after, 0))
    if mark < 0:
        return url
    query, hash_, fragment = url[mark + 1:].partition("#")
    pairs = parse_qsl(query, keep_blank_values=True)
    secret = [k.lower() in SECRET_PARAMETERS for k, _ in pairs]
    if any(secret):
        query = urlencode([(k, "***" if hide else v) for (k, v), hide in zip(pairs, secret)],
                          safe="*")
    elif "password" in query.lower():  # a form parse_qsl does not read as a key
        query = "***"
    return f"{url[:mark + 1]}{query}{hash_}{fragment}"


def conceal(text: str, urls) -> str:
    """``text`` (a message, a driver's error, a traceback) with the passwords of ``urls``
    hidden: each URL as ``mask_url`` shows it, each password as ``***`` wherever it appears
    (as written or percent-decoded), and any quoted part of a URL that reaches into its
    password (a driver that read the URL differently quotes what it took for a host)."""
    from urllib.parse import parse_qsl, unquote

    for url in urls:
        if not url or mask_url(url) == url:
            continue
        text = text.replace(url, mask_url(url))
        span = _password_span(url)
        secrets = []
        if span is not None:
            secrets.append(url[span[0]:span[1]])

            def overlaps(found: re.Match) -> str:
                quote, part = found.group(1), found.group(2)
                hits = (m.start() for m in re.finditer(re.escape(part), url)) if part else ()
                if any(at < span[1] and at + len(part) > span[0] for at in hits):
                    return f"{quote}***{quote}"
                return found.group(0)

            text = re.sub(r"""(["'])(.*?)\1""", overlaps, text)
        query = url.partition("?")[2]
        secrets += [v for k, v in parse_qsl(query, keep_blank_values=True)
                    if k.lower() in SECRET_PARAMETERS]
        for secret in sorted({s for raw in secrets for s in (raw, unquote(raw)) if s},
                             key=len, reverse=True):
            text = text.replace(secret, "***")
    return text


def has_password(url: str) -> bool:
    return mask_url(url) != url


# -- config files ----------------------------------------------------------------------------------

_TIMEOUTS = {  # key -> (low, high, above_low), in the files and the variables alike
    "lock_timeout": (0, 3600, False),
    "smtp_timeout": (0, 600, True),
}


class ConfigFile(Record):
    """One config file as read: its values and the line each key is on (``found`` False when
    there is no file, which is normal)."""

    _fields = ("path", "layer", "found", "values", "lines", "stat")

    def __init__(self, path: str, layer: str, found: bool = False, values: dict | None = None,
                 lines: dict | None = None, stat: os.stat_result | None = None):
        self.path = path
        self.layer = layer  # "site" or "user"
        self.found = found
        self.values = {} if values is None else values
        self.lines = {} if lines is None else lines
        self.stat = stat

    def origin(self, key: str) -> str:
        return f"{self.path}, line {self.lines.get(key, '?')}"


_cache: dict[str, tuple[tuple, ConfigFile]] = {}


def read_config(path: str, layer: str) -> ConfigFile:
    """The config file at ``path`` (missing: an empty one). Hostile files are refused with exit
    2 naming the file (and the line where there is one): a directory, FIFO or device, a symlink
    loop, more than 1 MiB, invalid UTF-8, malformed TOML, an unknown key, a wrong type."""
    import errno
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return ConfigFile(path, layer)
        raise UsageError(f"cannot read the {layer} config file {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise UsageError(f"the {layer} config file {path} is {what}")
        signature = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns,
                     info.st_mode, info.st_uid, layer)  # a chmod or chown counts as a change
        cached = _cache.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise UsageError(f"cannot read the {layer} config file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"the {layer} config file {path} is larger than 1 MiB")
    config = ConfigFile(path, layer, True, stat=info)
    _parse(config, data)
    _cache[path] = (signature, config)
    return config


def _parse(config: ConfigFile, data: bytes) -> None:
    path = config.path
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"{path}, line {line}: not valid UTF-8 text") from None
    text = text.removeprefix("\ufeff")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(_toml_error(path, exc), hint="the file must be TOML: key = \"value\" lines") from None
    except RecursionError:  # arrays or tables nested thousands deep: nothing this file needs
        raise UsageError(f"{path}: values nested too deep",
                         hint="the file must be TOML: key = \"value\" lines") from None
    for key, value in document.items():
        config.lines[key] = _key_line(text, key)
        where = config.origin(key)
        if key not in FILE_KEYS:
            raise UsageError(f"{where}: unknown key {key!r}", hint=f"the keys are {', '.join(FILE_KEYS)}")
        if key in SITE_ONLY and config.layer != "site":
            raise UsageError(f"{where}: {key} may be set only in the site file ({SITE_FILE})")
        config.values[key] = _checked(key, value, where)


def _toml_error(path: str, exc: Exception) -> str:
    """tomllib's message with the file in front: ``PATH, line L, column C: what``."""
    import re

    message = str(exc)
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        line, column = line or int(found.group(1)), column or int(found.group(2))
        message = message[: found.start()]
    elif message.endswith("(at end of document)"):
        message = message[: -len("(at end of document)")].rstrip()
        line = line or "end"
    what = getattr(exc, "msg", None) or message
    place = f"line {line}" + (f", column {column}" if column else "") if line else "somewhere"
    return f"{path}, {place}: {what[:1].lower()}{what[1:]}"


def _key_line(text: str, key: str) -> int | str:
    """The line a top-level key (or a table of that name) is set on."""
    import re

    name = re.escape(key)
    pattern = rf"^[ \t]*(?:\[+[ \t]*)?(?:{name}|\"{name}\"|'{name}')[ \t]*[=.\]]"
    found = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else "?"


def _checked(key: str, value, where: str):
    """A config file value of the right type and range (else exit 2 naming file and line)."""
    if key in _TIMEOUTS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{where}: {key} must be a number of seconds, not {_shown(value)}")
        low, high, above = _TIMEOUTS[key]
        return seconds(f"{where}: {key}", str(value), low=low, high=high, above_low=above)
    if not isinstance(value, str):
        raise UsageError(f"{where}: {key} must be a string (in quotes), not {_shown(value)}")
    if len(value) > MAX_VALUE_CHARS:
        raise UsageError(f"{where}: {key} is longer than {MAX_VALUE_CHARS} characters")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise UsageError(f"{where}: {key} holds a line break or another control character")
    if value != value.strip() or (not value and key != "pager"):
        raise UsageError(f"{where}: {key} is empty or has spaces around it")
    if key == "color" and value not in COLOR_CHOICES:
        raise UsageError(f"{where}: color must be auto, always or never, not {value!r}")
    if key == "identity" and value not in IDENTITIES:
        raise UsageError(f"{where}: identity must be \"login\" or \"sudo\", not {value!r}")
    if key == "tz":
        from sessionctl.timeparse import zone

        try:
            zone(value)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc.message}", exc.hint) from None
    if key == "pager":
        _split(value, where)
    if key == "db" and not _absolute_store(value):
        raise UsageError(f"{where}: db must be an absolute path (or ~/…), sqlite:////PATH or "
                         f"postgresql://…, not {value!r}")
    if key == "command" and not os.path.isabs(value):
        raise UsageError(f"{where}: command must be an absolute path, not {value!r}")
    return value


def _shown(value) -> str:
    kind = {bool: "true/false", int: "a number", float: "a number", dict: "a table",
            list: "an array"}.get(type(value), type(value).__name__)
    return kind if not isinstance(value, str) else repr(value)


def _absolute_store(value: str) -> bool:
    if value.startswith(("postgresql://", "postgres://")):
        return True
    if value.startswith("sqlite:///"):
        value = value[len("sqlite:///"):]
    elif "://" in value:
        return False
    return value.startswith(("/", "~/")) or value == "~"


def _split(command: str, where: str) -> list[str]:
    import shlex

    try:
        return shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"{where}: cannot split the pager command ({exc})") from None


def personal_files(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The site and user config files outside the shared mode (platformdirs, XDG_* honoured).
    Without XDG_CONFIG_* and with an absolute HOME, on Linux, every platformdirs 4 says the
    same, known without importing it (3 ms a command)."""
    environ = os.environ if environ is None else environ
    _utf8(environ, "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS")
    home = environ.get("HOME", "")
    if (sys.platform.startswith("linux") and home.startswith("/") and "XDG_CONFIG_HOME" not in environ
            and "XDG_CONFIG_DIRS" not in environ):
        return SITE_FILE, f"{home.rstrip('/')}/.config/{APP}/config.toml"
    from platformdirs import site_config_dir, user_config_dir

    return (os.path.join(site_config_dir(APP), "config.toml"),
            os.path.join(user_config_dir(APP), "config.toml"))


def _utf8(environ: Mapping[str, str], xdg: str, *more: str) -> None:
    """The variables a default path is made from (``xdg``, else ``HOME``) are text: one that
    is not UTF-8 is exit 2 (``checked_text``), not a path that names no file (exit 6)."""
    for name in (xdg, *more) if environ.get(xdg) else ("HOME", *more):
        if name in environ:
            checked_text(name, environ[name])


_isolated = 0  # > 0 while the demo runs its own commands on its own throwaway store


@contextmanager
def isolated() -> Iterator[None]:
    """Settings made inside read neither config file and are never in the shared mode: the
    demo's steps, which name their own store and actors (in-process only, never from outside)."""
    global _isolated
    _isolated += 1
    try:
        yield
    finally:
        _isolated -= 1


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
                 environ: Mapping[str, str] | None = None):
        self.flags = {k: v for k, v in (flags or {}).items() if v is not None}
        self.environ = os.environ if environ is None else environ
        self._layers: Layers | None = None

    # -- where values come from ----------------------------------------------------------------

    def layers(self) -> Layers:
        """The config files (read once per Settings) and, in the shared mode, its state."""
        if self._layers is None:
            self._layers = self._read_layers()
        return self._layers

    def _read_layers(self) -> Layers:
        if _isolated:
            return Layers(None, None)
        fixed = read_config(SITE_FILE, "site")
        if fixed.values.get("identity") == "sudo":
            from sessionctl import shared

            state = shared.establish(fixed, self.environ)
            return Layers(fixed, state.user_file(), state)
        site_path, user_path = personal_files(self.environ)
        site = fixed if os.path.abspath(site_path) == SITE_FILE else read_config(site_path, "site")
        if site.values.get("identity") == "sudo":
            raise NotAllowed(f"{site.origin('identity')}: identity = \"sudo\" is honoured only in "
                             f"{SITE_FILE}, owned by root", hint="move the line to that file")
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
            return str(self.flags[key]), f"--{key.replace('_', '-')}"
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
        (none checked, none refused): ``render.error`` hides their passwords in whatever it
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

        _utf8(self.environ, "XDG_DATA_HOME")
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
        low, high, above = _TIMEOUTS[key]
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
            from sessionctl.domain.mail import sender

            try:
                sender(value)
            except UsageError as exc:
                raise UsageError(f"{origin}: {exc.message}", exc.hint) from None
        return value

    @property
    def debug(self) -> bool:
        return self.environ.get(ENV["debug"]) == "1"

    # -- the terminal (read by render) ---------------------------------------------------------

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
        """``COLUMNS`` as given (render decides whether it is usable)."""
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
        for key in ("tz", "lock_timeout", "smtp", "smtp_password", "smtp_timeout", "mail_from"):
            value, origin = self.raw(key)
            if key == "smtp" and value is not None:
                value = mask_url(self.smtp)
            if key == "smtp_password" and value is not None:
                value = "***"
            rows[key] = (value, DEFAULTS.get(key, origin) if value is None else origin)
        rows["lock_timeout"] = (self.lock_timeout, rows["lock_timeout"][1])
        rows["smtp_timeout"] = (self.smtp_timeout, rows["smtp_timeout"][1])
        rows["color"] = self.color_setting()
        rows["pager"] = self.pager_setting()
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


def system_tz_candidates(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names the machine's zone may go by: ``TZ``, then /etc/localtime's link, /etc/timezone."""
    environ = os.environ if environ is None else environ
    candidates = []
    if environ.get("TZ"):
        candidates.append(environ["TZ"].lstrip(":"))
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            candidates.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        with open("/etc/timezone", encoding="utf-8") as fh:
            candidates.append(fh.read().strip())
    except (OSError, UnicodeDecodeError):
        pass
    return candidates
