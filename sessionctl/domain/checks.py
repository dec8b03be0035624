"""Input checks (``docs/reference/input.md``): every rule about what text, names, codes, links and
addresses a command accepts lives here once, and every layer that takes input calls it (the
domain, the settings for ``mail_from``, the calendar writer for what it may print). It imports
only ``errors`` (and ``timeparse`` for a zone name), so any layer may use it.
"""

from __future__ import annotations

import re
import unicodedata

from sessionctl.errors import UsageError
from sessionctl.timeparse import zone

ROLES = ("admin", "educator", "student")
KEEP = object()  # an update's "option not given"; None or "" clears the field
MAX_TEXT = 2000
MAX_LINK = 2048
# Patterns as text: ``re`` compiles each on its first use (and caches it), not at every start-up.
_NAME = r"[A-Za-z0-9_][A-Za-z0-9._@+-]{0,63}"
_EMAIL = (
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_CODE = r"[A-Za-z0-9._-]{1,32}"


# Characters that reorder or hide text (Trojan Source, CVE-2021-42574): refused in all free
# text like control characters, because what a reader sees would not be what is stored.
INVISIBLE = frozenset(
    [chr(c) for c in range(0x200B, 0x2010)]  # zero-width space/joiners, LRM, RLM
    + [chr(c) for c in range(0x202A, 0x202F)]  # bidi embeddings and overrides
    + [chr(c) for c in range(0x2066, 0x206A)]  # bidi isolates
    + ["\u061c", "\u2060", "\ufeff"]  # Arabic letter mark, word joiner, zero-width no-break space
    # letters and marks that print as nothing: combining grapheme joiner, Hangul fillers
    + ["\u034f", "\u115f", "\u1160", "\u3164", "\uffa0"]
)  # and every format character (category Cf: soft hyphen, tags, invisible operators…)
# Everything str.splitlines() breaks on: none of it may enter a one-line field.
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def invisible(ch: str) -> bool:
    """Whether ``ch`` hides or reorders text: refused in input, escaped in output."""
    return ch in INVISIBLE or unicodedata.category(ch) == "Cf"


def _refused(ch: str, multiline: bool) -> str | None:
    """Why ``ch`` may not appear in free text, or None."""
    if ch in LINE_BREAKS:
        if ch == "\n" and multiline:
            return None
        return f"a line break (U+{ord(ch):04X})"
    if invisible(ch):
        return f"the invisible or text-reordering character U+{ord(ch):04X}"
    category = unicodedata.category(ch)
    if category == "Cc" and not (ch == "\t" and multiline):
        return f"the control character U+{ord(ch):04X}"
    if category == "Cs":
        return "bytes that are not valid UTF-8"
    return None


def check_text(label: str, value: str | None, limit: int = MAX_TEXT, *,
               multiline: bool = True) -> str | None:
    """Free text (``docs/reference/input.md``): at most ``limit`` characters; no control characters but newline
    and tab, no bidi or zero-width characters; a one-line field (``multiline=False``) not even
    newline or tab."""
    if value is None:
        return None
    if len(value) > limit:
        raise UsageError(f"{label} is {len(value)} characters long; the limit is {limit}")
    if not value.isprintable():  # the common case is decided in C
        for ch in value:
            why = _refused(ch, multiline)
            if why is not None:
                if invisible(ch):
                    hint = "type the text without it"
                else:
                    hint = "only newline and tab are allowed" if multiline else f"{label} is one line"
                raise UsageError(f"{label} contains {why}", hint=hint)
    elif not INVISIBLE.isdisjoint(value):
        ch = next(ch for ch in value if ch in INVISIBLE)
        raise UsageError(f"{label} contains {_refused(ch, multiline)}",
                         hint="type the text without it")
    return value


def check_line(label: str, value: str | None, limit: int = MAX_TEXT) -> str | None:
    """A one-line field (display name, title, address): no line breaks of any kind, no tab."""
    return check_text(label, value, limit, multiline=False)


def check_title(label: str, value: str, limit: int = 200) -> str:
    check_line(label, value, limit)
    if not value.strip():
        raise UsageError(f"{label} must be one non-empty line")
    return value.strip()


def check_link(value: str | None) -> str | None:
    if not value:
        return None
    from urllib.parse import urlsplit

    check_text("link", value, MAX_LINK)
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or any(ch.isspace() for ch in value)
    ):
        raise UsageError(
            f"invalid meeting link {value!r}", hint="use an http:// or https:// URL"
        )
    return value


def check_name(value: str) -> str:
    if not re.fullmatch(_NAME, value):
        raise UsageError(
            f"invalid user name {value!r}",
            hint="use up to 64 letters, digits and . _ @ + - (starting with a letter or digit)",
        )
    return value


def check_email(value: str | None) -> str | None:
    """A plain ASCII addr-spec (``local@domain.tld``): what every mail server accepts and no
    header can be built wrong from."""
    if not value:
        return None
    if len(value) > 254 or not re.fullmatch(_EMAIL, value):
        raise UsageError(f"invalid e-mail address {value!r}",
                         hint="use a plain ASCII address like name@example.edu")
    return value


def check_code(code: str) -> str:
    if not re.fullmatch(_CODE, code):
        raise UsageError(
            f"invalid course code {code!r}", hint="use 1 to 32 letters, digits, '.', '_' or '-'"
        )
    return code


def check_role(value: str) -> str:
    if value not in ROLES:
        raise UsageError(f"unknown role {value!r}", hint="use admin, educator or student")
    return value


def check_tz(value: str | None) -> str | None:
    if not value:
        return None

    zone(value)
    return value


def check_choice(label: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise UsageError(f"unknown {label} {value!r}", hint="use one of: " + ", ".join(choices))
    return value


def check_choices(label: str, value: str | None, choices: tuple[str, ...]) -> tuple[str, ...] | None:
    """A list's ``--status``: one choice or several, comma-separated (``pending,waiting``);
    None when not given. Each is checked; ``all`` among them is every state."""
    if value is None:
        return None
    given = tuple(dict.fromkeys(part.strip() for part in value.split(",")))
    for part in given:
        check_choice(label, part, choices)
    return ("all",) if "all" in given else given


MAX_LIMIT = 2**62  # a --limit beyond any list is the whole list (and fits every database)


def check_limit(limit: int | None) -> int | None:
    """``--limit N``: at most N rows, N from 1 on; None for no limit."""
    if limit is None:
        return None
    if limit < 1:
        raise UsageError(f"--limit takes a whole number from 1, not {limit}",
                         hint="leave --limit out for the whole list")
    return min(limit, MAX_LIMIT)


def sender(value: str | None) -> tuple[str, str]:
    """The sender's display name ('' for none) and address: ``--from`` /
    SESSIONCTL_MAIL_FROM as ``addr`` or ``Name <addr>`` (one address, no more), else
    ``sessionctl@`` this host's name."""
    from email.utils import getaddresses

    if not value:
        import socket

        return "", f"sessionctl@{socket.getfqdn()}"
    check_line("sender address", value, 320)
    found = getaddresses([value])
    if len(found) != 1 or not found[0][1]:
        raise UsageError(f"invalid sender address {value!r}",
                         hint="use --from addr@example.edu or --from 'Name <addr@example.edu>'")
    name, address = found[0]
    check_email(address)
    return name, address
