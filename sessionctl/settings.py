"""Every setting sessionctl reads from outside its arguments, with its default: resolved here once.

A setting comes from a command-line flag (given to ``Settings``), else an environment
variable, else its default. Nothing else in sessionctl reads ``os.environ``. Values are checked
where they are read: a malformed one is a usage error (exit 2) naming where it came from.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

from sessionctl.errors import UsageError

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
    "debug": "SESSIONCTL_DEBUG",
}

DEFAULT_LOCK_TIMEOUT = 10.0
DEFAULT_SMTP_TIMEOUT = 30.0


def seconds(label: str, raw: str, *, low: float, high: float, above_low: bool = False) -> float:
    """A number of seconds from ``raw`` within [low, high] (or (low, high] with ``above_low``)."""
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
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


class Settings:
    """The effective settings of one invocation: ``flags`` (from the command line) win over
    the environment, which wins over the defaults."""

    def __init__(self, flags: Mapping[str, object] | None = None,
                 environ: Mapping[str, str] | None = None):
        self.flags = {k: v for k, v in (flags or {}).items() if v is not None}
        self.environ = os.environ if environ is None else environ

    def raw(self, key: str) -> tuple[str | None, str]:
        """The text of a setting and where it came from (``--flag``, the variable, ``default``)."""
        if key in self.flags:
            return str(self.flags[key]), f"--{key.replace('_', '-')}"
        name = ENV[key]
        value = self.environ.get(name)
        if value:
            return checked_text(name, value), name
        return None, "default"

    def _get(self, key: str, parse: Callable[[str, str], object], default=None):
        value, origin = self.raw(key)
        return default if value is None else parse(value, origin)

    # -- the settings ------------------------------------------------------------------------

    @property
    def db(self) -> str:
        value, _ = self.raw("db")
        if value is not None:
            return value
        from pathlib import Path

        from platformdirs import user_data_dir

        return str(Path(user_data_dir("sessionctl")) / "sessionctl.db")

    @property
    def user(self) -> str:
        value, _ = self.raw("user")
        if value is not None:
            return value
        import getpass

        try:
            return checked_text("your login name", getpass.getuser())
        except (KeyError, OSError):  # no login name and no passwd entry
            raise UsageError("cannot tell who you are: set SESSIONCTL_USER") from None

    @property
    def tz(self) -> str | None:
        return self.raw("tz")[0]

    @property
    def lock_timeout(self) -> float:
        return self._get("lock_timeout", lambda raw, origin: seconds(origin, raw, low=0, high=3600),
                         DEFAULT_LOCK_TIMEOUT)

    @property
    def smtp(self) -> str | None:
        return self.raw("smtp")[0]

    @property
    def smtp_password(self) -> str | None:
        return self.raw("smtp_password")[0]

    @property
    def smtp_timeout(self) -> float:
        return self._get(
            "smtp_timeout", lambda raw, origin: seconds(origin, raw, low=0, high=600, above_low=True),
            DEFAULT_SMTP_TIMEOUT,
        )

    @property
    def mail_from(self) -> str | None:
        return self.raw("mail_from")[0]

    @property
    def debug(self) -> bool:
        return self.environ.get(ENV["debug"]) == "1"


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
