"""The config files, read: where they are, what each key may hold, and the one site file that may
turn on the shared mode (``docs/reference/settings.md#config-files``).

The files are TOML: the site file (``platformdirs.site_config_dir``, on Linux
``/etc/xdg/sessionctl/config.toml`` unless ``XDG_CONFIG_DIRS`` says otherwise) and the user file
(``platformdirs.user_config_dir``). A command that finds neither pays one failed ``open`` for
each and never imports the TOML parser. Hostile files are refused with exit 2 naming the file
and line. ``settings.py`` layers them under the flags and the environment; ``shared.py`` reads
the site file to decide the shared mode. Both import this module; it imports neither.

A file read is kept by its path and its identity (device, inode, size, times, mode, owner): a
cache of what the file says, so reading the same unchanged file twice in one process (the
launcher, then the settings) parses it once; any change to the file reads it anew.
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Mapping

from sessionctl._plain import Record
from sessionctl.errors import UsageError

APP = "sessionctl"

# The keys a config file may hold. The last three belong to the site file alone: they set up
# the shared mode (``account`` and ``command`` are additions to the usual keys,
# see docs/reference/shared-mode.md#deploying-for-a-department).
FILE_KEYS = ("db", "tz", "lock_timeout", "smtp", "mail_from", "smtp_timeout", "color", "pager",
             "busy", "busy_timeout", "busy_ttl", "busy_allow", "identity", "account", "command",
             "feed_base", "feed_dir", "link_template", "link_command", "link_timeout",
             "hooks_dir", "hook_timeout")
# Keys that name a program sessionctl runs, or the directory of such programs
# (docs/reference/meeting-rooms-and-hooks.md#who-may-set-them): absolute paths.
PROGRAM_KEYS = ("link_command", "hooks_dir")
SITE_ONLY = ("identity", "account", "command", "busy_allow")
USER_ONLY = ("busy",)  # the educator's own calendars (docs/reference/busy-times.md#sources)
LISTS = ("busy", "busy_allow")  # a string or an array of strings
COLOR_CHOICES = ("auto", "always", "never")
IDENTITIES = ("login", "sudo")
MAX_CONFIG_BYTES = 2**20  # a config file is a few lines; a larger one is a mistake
MAX_VALUE_CHARS = 4096
DEFAULT_LOCK_TIMEOUT = 10.0  # seconds a writer waits for its turn (SESSIONCTL_LOCK_TIMEOUT)

# The one site file that may turn on the shared mode (docs/reference/settings.md#config-files). Fixed: in the shared mode the
# caller's XDG_CONFIG_DIRS must not choose it.
if sys.platform == "darwin":
    SITE_FILE = f"/Library/Application Support/{APP}/config.toml"
else:
    SITE_FILE = f"/etc/xdg/{APP}/config.toml"


def seconds(label: str, raw: str, *, low: float, high: float, above_low: bool = False) -> float:
    """A number of seconds from ``raw`` within [low, high] (or (low, high] with ``above_low``):
    ASCII digits with an optional fraction (``float()`` alone takes ``٣``, ``1_0``, ``1e1``)."""
    import re

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


TIMEOUTS = {  # key -> (low, high, above_low), in the files and the variables alike
    "lock_timeout": (0, 3600, False),
    "smtp_timeout": (0, 600, True),
    "busy_timeout": (0, 600, True),
    "busy_ttl": (0, 7 * 86400, False),
    "link_timeout": (0, 600, True),
    "hook_timeout": (0, 3600, True),
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
        data = read_capped(fd, MAX_CONFIG_BYTES)
    except OSError as exc:
        raise UsageError(f"cannot read the {layer} config file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"the {layer} config file {path} is larger than 1 MiB")
    config = ConfigFile(path, layer, True, stat=info)
    _parse(config, data)
    _cache[path] = (signature, config)
    return config


def read_capped(fd: int, cap: int) -> bytes:
    """What ``fd`` holds, up to ``cap`` + 1 bytes: more than ``cap`` means too large (a config
    file, a busy source)."""
    chunks, size = [], 0
    while size <= cap:
        chunk = os.read(fd, min(1 << 20, cap + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


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
        if key in USER_ONLY and config.layer != "user":
            raise UsageError(f"{where}: {key} may be set only in a user's own config file")
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


def check_feed_base(value: str, where: str) -> str:
    """``feed_base``: an http(s) address with a host, nothing invisible or spaced in it."""
    import unicodedata
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a malformed port raises
    except ValueError:
        parts = None
    if (parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or parts.query or parts.fragment
            or any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value)):
        raise UsageError(f"{where}: feed_base must be an http:// or https:// address with a host "
                         f"and nothing after its path, not {value!r}")
    return value


def _checked(key: str, value, where: str):
    """A config file value of the right type and range (else exit 2 naming file and line)."""
    if key in TIMEOUTS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{where}: {key} must be a number of seconds, not {_kind_of(value)}")
        low, high, above = TIMEOUTS[key]
        return seconds(f"{where}: {key}", str(value), low=low, high=high, above_low=above)
    if key in LISTS:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or len(items) > 100:
            raise UsageError(f"{where}: {key} must be a string or an array of strings, "
                             f"not {_kind_of(value)}")
        return tuple(_checked(f"{key} entry", item, where) for item in items)
    if not isinstance(value, str):
        raise UsageError(f"{where}: {key} must be a string (in quotes), not {_kind_of(value)}")
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
    if key == "feed_base":
        check_feed_base(value, where)
    if key == "db" and not _absolute_store(value):
        raise UsageError(f"{where}: db must be an absolute path (or ~/…), sqlite:////PATH or "
                         f"postgresql://…, not {value!r}")
    if key in ("command", *PROGRAM_KEYS) and not os.path.isabs(value):
        raise UsageError(f"{where}: {key} must be an absolute path, not {value!r}")
    return value


def _kind_of(value) -> str:
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
    same, known without importing it (benchmarks/README.md#why-the-code-is-shaped-as-it-is)."""
    environ = os.environ if environ is None else environ
    utf8_paths(environ, "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS")
    home = environ.get("HOME", "")
    if (sys.platform.startswith("linux") and home.startswith("/") and "XDG_CONFIG_HOME" not in environ
            and "XDG_CONFIG_DIRS" not in environ):
        return SITE_FILE, f"{home.rstrip('/')}/.config/{APP}/config.toml"
    from platformdirs import site_config_dir, user_config_dir

    return (os.path.join(site_config_dir(APP), "config.toml"),
            os.path.join(user_config_dir(APP), "config.toml"))


def utf8_paths(environ: Mapping[str, str], xdg: str, *more: str) -> None:
    """The variables a default path is made from (``xdg``, else ``HOME``) are text: one that
    is not UTF-8 is exit 2 (``checked_text``), not a path that names no file (exit 6)."""
    for name in (xdg, *more) if environ.get(xdg) else ("HOME", *more):
        if name in environ:
            checked_text(name, environ[name])
