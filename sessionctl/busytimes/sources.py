"""What a busy source may be, and how one is shown (``docs/reference/busy-times.md#sources``).

A source is an ``http://`` or ``https://`` URL (a CalDAV collection, Google's or Nextcloud's
secret address), or, outside the shared mode, an ICS file or a vdir directory. URLs are
secrets: every message, ``user show`` and ``config show`` show one as its scheme and host
only (``shown``); a path is the user's own and is shown whole.
"""

from __future__ import annotations

import os
import re

MAX_SOURCES = 20
MAX_CHARS = 2048
SCHEMES = ("http", "https")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


class BadSource(ValueError):
    """A source that cannot be one: the reason, for a message that names where it came from."""


def is_url(source: str) -> bool:
    return _SCHEME.match(source) is not None and not source.startswith(("/", "~"))


def checked(source: str) -> str:
    """``source`` if it may be a busy source (a path with ``~`` expanded), else ``BadSource``."""
    if not source:
        raise BadSource("a busy source is empty")
    if len(source) > MAX_CHARS:
        raise BadSource(f"a busy source is longer than {MAX_CHARS} characters")
    if source != source.strip() or any(not ch.isprintable() for ch in source):
        raise BadSource(f"busy source {shown(source)!r} holds spaces around it, a line break "
                        "or another character that cannot be printed")
    if is_url(source):
        from urllib.parse import urlsplit

        scheme = source.split(":", 1)[0].lower()
        if scheme not in SCHEMES:
            raise BadSource(f"busy source {shown(source)!r} is neither an http(s) URL nor a path "
                            "(webcal:// addresses work as https://)")
        if any(ch.isspace() for ch in source):
            raise BadSource(f"busy source {shown(source)!r} holds a space (a URL writes it %20)")
        try:
            parts = urlsplit(source)
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise BadSource(f"busy source {shown(source)!r} is not a well-formed URL (in a user "
                            "name or password write / ? # @ as %2F %3F %23 %40)") from None
        if not parts.hostname:
            raise BadSource(f"busy source {shown(source)!r} names no host")
        return source
    path = os.path.expanduser(source) if source.startswith("~") else source
    if not os.path.isabs(path):
        raise BadSource(f"busy source {source!r} is not an absolute path")
    return os.path.normpath(path)


def shown(source: str) -> str:
    """A source as every message shows it: a URL as ``scheme://host[:port]/…`` (its user,
    password, path and query are the secret), a path whole.

    The user and password are everything up to the last ``@``, whatever they hold: a
    password with an unencoded ``/``, ``?`` or ``#`` (``https://u:p/a?b#c@host/cal.ics``)
    would otherwise end the host early and show part of itself. A path that holds an ``@``
    shows less of itself, never more."""
    if not is_url(source):
        return source
    scheme, _, rest = source.partition(":")
    rest = rest[2:] if rest.startswith("//") else rest
    _, at, after = rest.rpartition("@")
    host = re.split(r"[/?#]", after, maxsplit=1)[0]
    hidden = "…" if at or len(after) > len(host) else ""
    return f"{scheme.lower()}://{host}/{hidden}" if hidden else f"{scheme.lower()}://{host}"
