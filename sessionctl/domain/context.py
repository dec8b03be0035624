"""The small context every domain call takes: the open store, the acting user, the display
zone and the clock; and the two writes every operation shares (a notification, the store's id).

Input checks live in ``domain/checks.py``, the UTC edge in ``store/edge.py``, the wording of
notifications in ``domain/texts.py``.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone, tzinfo
from typing import Callable, Iterator

from sessionctl._plain import Record
from sessionctl.errors import Conflict, NotAllowed
from sessionctl.store import Store, queries
from sessionctl.store.edge import to_db
from sessionctl.store.models import StoreInfo, User
from sessionctl.timeparse import utcnow



def reaches(effect) -> bool:
    """Whether an effect (``Context.effects``) cancels or moves someone's approved session:
    what a change is asked about first and held to (a changed link, a kept session is not)."""
    _, _, was, now, _ = effect
    return was == "approved" and now in ("cancelled", "moved")

class Context(Record):
    """The open store, the acting user, the display zone and the clock.

    ``actor`` is reloaded inside every transaction opened through ``write``/``read``, so each
    role and ownership check sees the actor as the store holds them under the lock, never a
    copy loaded before another writer changed them.
    """

    _fields = ("store", "actor", "tz", "clock", "links")

    def __init__(self, store: Store, actor: User, tz: tzinfo,
                 clock: Callable[[], datetime] = utcnow, links=None):
        self.store = store
        self.actor = actor
        self.tz = tz
        self.clock = clock
        self.links = links  # the run's ``links.Links`` (its config's template, link_command)
        # what the committed writes of this run did to other people's requests, in order:
        # (student name, request id, status before, status after, told) (``affected``)
        self.effects: list[tuple[str, int, str, str, bool]] = []
        # the other people's approved sessions the user agreed to cancel or move; a write
        # that would reach another one is refused (None: no question was asked)
        self.agreed: set[int] | None = None

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
        kept = len(self.effects)
        try:
            with self.store.write(slots=slots, people=people):
                self._reload()
                yield
                self._check_agreed(self.effects[kept:])
        except BaseException:
            del self.effects[kept:]  # rolled back: it did nothing to anyone
            raise

    def _check_agreed(self, done) -> None:
        if self.agreed is None:
            return
        more = [(name, request) for name, request, was, now, told in done
                if reaches((name, request, was, now, told)) and request not in self.agreed]
        if more:
            names = ", ".join(f"{name} (request {request})" for name, request in more)
            raise Conflict(f"the change would now also reach the approved session of {names}, "
                           "which you were not asked about; nothing was changed",
                           hint="run the command again to see who it reaches now")

    @contextmanager
    def read(self) -> Iterator[None]:
        """One consistent snapshot, with the actor read inside it."""
        with self.store.read():
            self._reload()
            yield

    def _reload(self) -> None:
        fresh = queries.USER.first(id=self.actor.id)
        if fresh is None:
            raise NotAllowed(f"{self.actor.name!r} is no longer a registered user of this store")
        self.actor = fresh




def find_actor(name: str, database: bool = False) -> User:
    """The acting user; ``database``: the store's database mode, where ``name`` is the
    connection's login and the store's own rows (as the server shows them) say whether it is
    a user."""
    user = User.get_or_none(User.name == name)
    if user is None and database:
        raise stray_login(name)
    if user is None:
        raise NotAllowed(
            f"{name!r} is not a registered user of this store",
            hint=f"ask an admin to run 'sessionctl user add {name} --role student' "
            "(or set SESSIONCTL_USER)",
        )
    return user


def stray_login(name: str) -> NotAllowed:
    """A database-mode store's refusal of a login that is no user of it (docs/reference/database-mode.md#who-is-acting)."""
    return NotAllowed(f"the database login {name!r} is not a user of this store",
                      hint=f"ask an admin to run 'sessionctl user add {name} --role student'")


# -- notifications ------------------------------------------------------------------------------


def notify(
    ctx: Context, user: User, kind: str, text: str, *, request=None, slot=None, once: bool = False
) -> bool:
    """Queue a notification for ``user``'s inbox and e-mail.

    With ``once`` a notification the schema allows only once (a ``reminder`` per request and
    user) is skipped if it exists: INSERT … ON CONFLICT DO NOTHING, so even a racing writer
    loses cleanly. Returns whether a row was added.

    What its e-mail needs of the booking is frozen now (``mail_data``): the thread it belongs
    to and the invitation it carries (``docs/reference/calendars.md#invitations``).
    """
    return queries.NOTIFY[once].execute(
        user=user.id, kind=kind, request=_id(request), slot=_id(slot), text=text,
        created_at=to_db(ctx.now()),
        mail_data=None if request is None or isinstance(request, int) else _mail_data(user, request),
    ) == 1


def _mail_data(user: User, request) -> str:
    """The thread (the booking chain's first request, and the first message to ``user``
    about it) and the invitation of a notification about ``request``, as JSON."""
    import json

    from sessionctl.domain import calendar
    from sessionctl.store.models import Notification

    first, chain = calendar.first_of(request)
    root = (Notification.select(Notification.id)
            .where(Notification.user == user.id, Notification.request.in_(chain))
            .order_by(Notification.id).limit(1).scalar())
    data = {"chain": first, "root": root}
    data.update(calendar.invitation(request, user.id, store_id()) or {})
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _id(row) -> int | None:
    return row if row is None or isinstance(row, int) else row.id


def store_id() -> str:
    """The store's random id, made once (migration 3): part of every calendar UID and Message-ID."""
    return StoreInfo.get_by_id(1).uuid
