"""The small context every domain call takes, plus shared checks and conversions."""

from __future__ import annotations

import re
import unicodedata
from contextlib import contextmanager
from datetime import datetime, timezone, tzinfo
from typing import Callable, Iterator

from sessionctl._plain import Record
from sessionctl.errors import NotAllowed, UsageError
from sessionctl.store import Store
from sessionctl.store.models import Notification, StoreInfo, User
from sessionctl.store.prepared import Prepared
from sessionctl.timeparse import utcnow

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


class Context(Record):
    """The open store, the acting user, the display zone and the clock.

    ``actor`` is reloaded inside every transaction opened through ``write``/``read``, so each
    role and ownership check sees the actor as the store holds them under the lock, never a
    copy loaded before another writer changed them.
    """

    _fields = ("store", "actor", "tz", "clock")

    def __init__(self, store: Store, actor: User, tz: tzinfo,
                 clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.actor = actor
        self.tz = tz
        self.clock = clock

    def now(self) -> datetime:
        return self.clock().astimezone(timezone.utc).replace(microsecond=0)

    @property
    def role(self) -> str:
        return self.actor.role

    @contextmanager
    def write(self, *, slots=(), people=()) -> Iterator[None]:
        """One write transaction (the write lock first), with the actor read inside it.

        A writer that names every slot and person (user id) whose rules it checks and whose
        rows it changes locks only those on PostgreSQL (``Store.write``); one that names none
        has the whole store. Name them only when the rules the transaction checks cannot reach
        beyond them (a freed seat that may promote someone else's waiting request does)."""
        with self.store.write(slots=slots, people=people):
            self._reload()
            yield

    @contextmanager
    def read(self) -> Iterator[None]:
        """One consistent snapshot, with the actor read inside it."""
        with self.store.read():
            self._reload()
            yield

    def _reload(self) -> None:
        fresh = _USER.first(id=self.actor.id)
        if fresh is None:
            raise NotAllowed(f"{self.actor.name!r} is no longer a registered user of this store")
        self.actor = fresh


_USER = Prepared(lambda id: User.select().where(User.id == id).limit(1))


def find_actor(name: str) -> User:
    user = User.get_or_none(User.name == name)
    if user is None:
        raise NotAllowed(
            f"{name!r} is not a registered user of this store",
            hint=f"ask an admin to run 'sessionctl user add {name} --role student' "
            "(or set SESSIONCTL_USER)",
        )
    return user


# -- time at the database edge: naive UTC inside, aware UTC outside ---------------------------


def to_db(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)


def from_db(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # an old or hand-edited row; peewee returns text it cannot parse
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc)


def shown_name(user: User) -> str:
    """How a person is named in texts meant for people: display name, else user name."""
    return user.display or user.name


def user_zone(user: User) -> tzinfo:
    """A user's stored zone, or UTC (also when an old store holds a zone that no longer exists)."""
    from sessionctl.timeparse import zone

    try:
        return zone(user.tz) if user.tz else timezone.utc
    except UsageError:
        return timezone.utc


def describe_time(value: datetime, user: User) -> str:
    """A time for a notification text, in the recipient's stored zone or UTC."""
    local = value.astimezone(user_zone(user))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


# -- input checks (SPEC §4): each lives here once ---------------------------------------------


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
    """Free text (SPEC §4): at most ``limit`` characters; no control characters but newline
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
    from sessionctl.timeparse import zone

    zone(value)
    return value


def check_choice(label: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise UsageError(f"unknown {label} {value!r}", hint="use one of: " + ", ".join(choices))
    return value


# -- notifications ------------------------------------------------------------------------------


def notify(
    ctx: Context, user: User, kind: str, text: str, *, request=None, slot=None, once: bool = False
) -> bool:
    """Queue a notification for ``user``'s inbox and e-mail.

    With ``once`` a notification the schema allows only once (a ``reminder`` per request and
    user) is skipped if it exists: INSERT … ON CONFLICT DO NOTHING, so even a racing writer
    loses cleanly. Returns whether a row was added.
    """
    return _NOTIFY[once].execute(
        user=user.id, kind=kind, request=_id(request), slot=_id(slot), text=text,
        created_at=to_db(ctx.now()),
    ) == 1


def _id(row) -> int | None:
    return row if row is None or isinstance(row, int) else row.id


def _notification(once: bool) -> Prepared:
    def build(user, kind, request, slot, text, created_at):
        query = Notification.insert(user=user, kind=kind, request=request, slot=slot, text=text,
                                    created_at=created_at)
        return (query.on_conflict(action="NOTHING") if once else query).as_rowcount()
    return Prepared(build)


_NOTIFY = {False: _notification(False), True: _notification(True)}


def store_id() -> str:
    """The store's random id, made once (migration 3): part of every calendar UID and Message-ID."""
    return StoreInfo.get_by_id(1).uuid
