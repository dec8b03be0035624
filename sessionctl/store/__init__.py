"""Opening a store, the transaction helpers, migrations and error translation.

The store never imports the domain. Everything SQLite-specific lives here, so the
domain's queries run unchanged on PostgreSQL.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from sessionctl.store._peewee import peewee as pw
from sessionctl.store._peewee import pg_adapter

from sessionctl.errors import Conflict, NotAllowed, SessionctlError, Unavailable, UsageError
from sessionctl.store import migrations, prepared
from sessionctl.store.models import MODELS
from sessionctl.store.queue import NOTICE_AFTER, Busy, WriterQueue


def sqlite_path(location: str) -> Path | None:
    """The file path for a SQLite location, or None for a server URL."""
    if location.startswith(("postgresql://", "postgres://")):
        return None
    if location.startswith("sqlite:///"):  # SQLAlchemy's form: sqlite:////abs/path, sqlite:///rel
        location = location[len("sqlite:///") :]
    elif "://" in location or _LOOKS_LIKE_A_SERVER.match(location):
        from sessionctl.urls import mask_url

        raise UnusableLocation(f"unknown store location {mask_url(location)!r}", hint=LOCATION_HINT)
    return Path(location).expanduser()


# What is no file path but a server written another way: a URL short of a slash
# (postgresql:/host/db), or libpq's keyword form ("host=db.example.edu dbname=sessionctl").
_LOOKS_LIKE_A_SERVER = re.compile(
    r"(?i)(postgres(ql)?|sqlite):|\s*(host|hostaddr|dbname|user|password|port|service|sslmode)\s*=")


LOCATION_HINT = "use a file path, sqlite:///PATH or postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DB"


class UnusableLocation(Unavailable):
    """A store location that cannot be read or used (an unknown scheme, a PostgreSQL URL libpq
    refuses). Exit 6 from the environment or a config file; exit 2 from ``--db`` (the command
    line is the caller's to fix: ``Invocation.store``). Its message never holds the password."""


# The advisory locks of a PostgreSQL store (the two-number form: a kind, then an id). A writer
# that names what it changes (``Store.write(slots=…, people=…)``) shares the store's lock with
# the others that do, and takes one lock per slot and per person; any other writer takes the
# store's lock alone, exactly like SQLite's one writer at a time. Readers take none.
PG_WRITE_LOCK = 0x5E5510C7  # the store's (one number; kept from earlier releases)
_PG_SLOT, _PG_PERSON = 0x5E5510C8, 0x5E5510C9  # as the first number of the two (int4)
_INT4 = 2**31


class _DryRun(Exception):
    """Raised at the end of a dry run's write: its transaction rolls back."""


class Store:
    """An open store: the Peewee database plus its location and lock timeout."""

    def __init__(self, db: pw.Database, location: str, timeout: float):
        self.db = db
        self.location = location
        self.timeout = timeout
        self.url: str | None = None  # a PostgreSQL store's URL as given (password and all)
        self.changed = False  # a write transaction that changed rows was committed
        self.identity = "login"
        self.dry_run = False  # every write is rolled back at its end (``--dry-run``)
        self.dialect = "postgresql" if isinstance(db, pw.PostgresqlDatabase) else "sqlite"
        self.queue = WriterQueue(location, timeout, prepared.prime) if self.dialect == "sqlite" else None
        self._waiting = None

    @property
    def waiting(self):
        """Called once when a write has waited a second for its lock (the CLI says so on a
        terminal); None for silence."""
        return self._waiting

    @waiting.setter
    def waiting(self, call) -> None:
        self._waiting = call
        if self.queue is not None:
            self.queue.waiting = call

    @property
    def identity(self) -> str:
        """The store's mode: "login", or "database" (every person their own login: rls.py),
        also kept on the database object, where ``guarded.on()`` reads it."""
        return self.db.sessionctl_identity

    @identity.setter
    def identity(self, value: str) -> None:
        self.db.sessionctl_identity = value

    def bind(self) -> None:
        """Point the models at this store's database (once; again only if a second store
        opened in the same process took them over, as tests do)."""
        if MODELS[0]._meta.database is not self.db:
            self.db.bind(MODELS, bind_refs=False, bind_backrefs=False)

    @contextmanager
    def write(self, *, slots=(), people=()) -> Iterator[None]:
        """One write transaction (``_write``); with ``dry_run`` it does all its work under
        its locks and is then rolled back, as if a rule had refused it at the last moment."""
        if not self.dry_run:
            with self._write(slots=slots, people=people):
                yield
            return
        try:
            with self._write(slots=slots, people=people):
                yield
                raise _DryRun
        except _DryRun:
            pass

    @contextmanager
    def _write(self, *, slots=(), people=()) -> Iterator[None]:
        """One write transaction that holds the write lock before its first read.

        SQLite has one writer at a time: its turn in the writers' queue (``queue.py``), then
        ``BEGIN IMMEDIATE``. On PostgreSQL a writer that names the ``slots`` and ``people``
        (user ids) whose rules it checks and whose rows it changes locks only those, so
        writers about different slots and people go on at once; one that names none has the
        whole store to itself. Every lock is taken here, before the first read, in one order
        (the store's, slots, people: by id), so two writers never wait for each other."""
        self.bind()
        if self.queue is not None:
            with self.queue.turn() as left:
                self.db.execute_sql(f"PRAGMA busy_timeout = {int(left * 1000)}")
                with self.db.atomic("IMMEDIATE"):
                    before = self.db.connection().total_changes
                    yield
                    wrote = self.db.connection().total_changes != before
            self.changed |= wrote
            return
        with self.db.atomic():
            if not slots and not people:
                self._pg_lock("pg_advisory_xact_lock", PG_WRITE_LOCK)
            else:
                self._pg_lock("pg_advisory_xact_lock_shared", PG_WRITE_LOCK)
                for kind, ids in ((_PG_SLOT, slots), (_PG_PERSON, people)):
                    for one in sorted(set(ids)):
                        self._pg_lock("pg_advisory_xact_lock", kind, one % _INT4)
            yield
            wrote = self.db.execute_sql("SELECT txid_current_if_assigned() IS NOT NULL").fetchone()[0]
        self.changed |= wrote

    def _pg_lock(self, function: str, *key: int) -> None:
        """Take one advisory lock, waiting while its holders make progress: the lock timeout
        counts the time the same holders keep it, not the time spent in a moving queue."""
        args = ", ".join(["%s"] * len(key))
        if self._pg_try(function, key, args):
            return
        began = time.monotonic()
        holders, ahead, mark = self._pg_queue(key)
        if self.timeout <= 0:
            raise self._busy(0, len(holders) + ahead)
        prepared.prime()  # while others hold it: then this writer only runs its queries
        notice = self._waiting if self.timeout > NOTICE_AFTER else None
        while True:
            short = notice is not None  # first a wait of NOTICE_AFTER, then the user is told
            try:
                with self.db.atomic():  # a savepoint: a timed-out wait leaves the rest intact
                    if short:
                        self._pg_lock_timeout(NOTICE_AFTER - (time.monotonic() - began))
                    self.db.execute_sql(f"SELECT {function}({args})", key)
                if short:
                    self._pg_lock_timeout(self.timeout)
                return
            except pw.OperationalError as exc:
                if _sqlstate(exc) != "55P03":  # lock_not_available: lock_timeout passed
                    raise
            if short:  # the savepoint's rollback restored the lock timeout
                notice()
                notice = None
                continue
            now, ahead, _ = self._pg_queue(key, mark)
            if now == holders:
                raise self._busy(time.monotonic() - began, len(holders) + ahead)
            holders = now

    def _pg_lock_timeout(self, seconds: float) -> None:
        """PostgreSQL's lock_timeout for the rest of this transaction (or savepoint)."""
        self.db.execute_sql("SELECT set_config('lock_timeout', %s, true)",
                            (str(max(1, int(seconds * 1000))),))

    def _pg_try(self, function: str, key, args: str) -> bool:
        try_function = function.replace("pg_advisory", "pg_try_advisory")
        return bool(self.db.execute_sql(f"SELECT {try_function}({args})", key).fetchone()[0])

    def _pg_queue(self, key, before=None) -> tuple[list[int], int, object]:
        """Who holds the lock ``key`` now (process ids), how many wait for it (since before
        ``before``, a server time: those ahead of a writer that began waiting then), and the
        server's time now."""
        if len(key) == 1:
            where = "classid = (%s::bigint >> 32)::oid AND objid = (%s::bigint & 4294967295)::oid " \
                    "AND objsubid = 1"
            params = (key[0], key[0])
        else:
            where, params = "classid = %s::oid AND objid = %s::oid AND objsubid = 2", key
        row = self.db.execute_sql(
            "SELECT array_agg(pid ORDER BY pid) FILTER (WHERE granted), count(*) FILTER "
            "(WHERE NOT granted AND (%s::timestamptz IS NULL OR waitstart < %s::timestamptz)), "
            "clock_timestamp() FROM pg_locks WHERE locktype = 'advisory' AND database = "
            f"(SELECT oid FROM pg_database WHERE datname = current_database()) AND {where}",
            (before, before, *params)).fetchone()
        return list(row[0] or []), int(row[1]), row[2]

    def _busy(self, waited: float, ahead: int) -> Unavailable:
        return Busy.after(waited, ahead, self.timeout)

    @contextmanager
    def lazy_commits(self) -> Iterator[None]:
        """Commits that a crash of the machine may lose but a crash of the process never does
        (SQLite's WAL with ``synchronous = NORMAL``, PostgreSQL's ``synchronous_commit =
        off``), for marks that are safe to repeat: ``hooks run`` marks each event delivered,
        and losing a mark only delivers that event again. Everything else commits durably."""
        self.bind()
        if self.dialect == "postgresql":
            self.db.execute_sql("SET synchronous_commit = off")
            undo = "RESET synchronous_commit"
        else:
            was = self.db.execute_sql("PRAGMA synchronous").fetchone()[0]
            self.db.execute_sql("PRAGMA synchronous = NORMAL")
            undo = f"PRAGMA synchronous = {int(was)}"
        try:
            yield
        finally:
            self.db.execute_sql(undo)

    @contextmanager
    def read(self) -> Iterator[None]:
        """A consistent snapshot for a read-only command: every query in it sees the same
        committed state, so a count from one and the rows of the next agree (``course
        report``). SQLite's transaction is one snapshot already; PostgreSQL's default, READ
        COMMITTED, takes one per statement, so there a read is REPEATABLE READ, READ ONLY
        (which never waits for, nor fails because of, a writer). Inside a write it is part of
        the write's transaction."""
        self.bind()
        fresh = self.dialect == "postgresql" and not self.db.in_transaction()
        with self.db.atomic():
            if fresh:
                self.db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def minutes(self, start, end):
        """The whole minutes from ``start`` to ``end`` (two timestamp columns or expressions)
        as a SQL expression: the one date arithmetic the domain's aggregates need, written
        once per dialect."""
        if self.dialect == "sqlite":
            return pw.fn.ROUND((pw.fn.julianday(end) - pw.fn.julianday(start)) * 1440)
        return pw.fn.ROUND(pw.fn.date_part("epoch", end - start) / 60)

    def version(self) -> int:
        if not self.db.table_exists("schema_migrations"):
            if self.db.get_tables():
                raise Unavailable(f"{self.location} is not a sessionctl store")
            return 0
        row = self.db.execute_sql("SELECT MAX(version) FROM schema_migrations").fetchone()
        if row[0] is None:  # every sessionctl store records its first migration with it
            raise Unavailable(f"{self.location} is not a sessionctl store "
                              "(it has an empty schema_migrations table)")
        return int(row[0])

    def read_identity(self) -> str:
        """The store's mode as recorded (``init --identity``): "login" or "database"."""
        with self.db.atomic():
            row = self.db.execute_sql("SELECT identity FROM store_info").fetchone()
        return row[0] if row else "login"

    def session_user(self) -> tuple[str, bool]:
        """The connection's login (the database mode's actor) and whether it is in one of the
        mode's groups (a login that is not cannot even read the users)."""
        from sessionctl.store.rls_guards import GROUPS

        with self.db.atomic():
            return tuple(self.db.execute_sql(
                "SELECT session_user, EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g "
                "ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
                "WHERE u.rolname = session_user AND g.rolname = ANY (%s))",
                (list(GROUPS.values()),)).fetchone())

    def made_users(self, people) -> None:
        """After users were added or changed role (``(name, role)`` pairs), in the same
        transaction: in the database mode their login roles are made or moved
        (``sessionctl.login_role``); nothing in the other modes."""
        if self.identity == "database":
            for name, role in people:
                self.call("login_role", name, role)

    def call(self, function: str, *args):
        """One of the database mode's functions (``rls_behalf.py``): its first row."""
        marks = ", ".join([self.db.param] * len(args))
        return self.db.execute_sql(f"SELECT * FROM sessionctl.{function}({marks})", args).fetchone()

    def migrate(self, upto: int = migrations.LATEST) -> int:
        """Apply the pending migrations and their records in one transaction (``docs/architecture.md#add-a-migration``): a
        store is at its old version or the new one, never between.

        On SQLite foreign keys are not enforced while migrations run (one may rebuild a table
        that others refer to, which SQLite's own procedure requires), and every key is checked
        before the transaction commits: a dangling one rolls it all back."""
        with self._keys_checked_at_the_end():
            with self.write():
                current = self.version()
                guarded = current >= migrations.IDENTITY and self.dialect == "postgresql" \
                    and self.read_identity() == "database"
                if guarded:  # the owner's migration: lift the guards, migrate, put them back
                    from sessionctl.store import rls

                    texts = rls.lift(self)
                for number, name, sql in migrations.MIGRATIONS:
                    if number <= current or number > upto:
                        continue
                    for statement in migrations.statements(sql, self.dialect):
                        self.db.execute_sql(statement)
                    self.db.execute_sql(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
                        .replace("?", self.db.param),
                        (number, name, datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)),
                    )
                if guarded:
                    rls.apply(self, texts)
                if self.dialect == "sqlite":
                    dangling = self.db.execute_sql("PRAGMA foreign_key_check").fetchall()
                    if dangling:
                        raise Unavailable(f"the migration would leave dangling references "
                                          f"({dangling[:3]}); nothing changed")
        return self.version()

    @contextmanager
    def _keys_checked_at_the_end(self) -> Iterator[None]:
        if self.dialect != "sqlite":
            yield
            return
        self.db.execute_sql("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction
        try:
            yield
        finally:
            self.db.execute_sql("PRAGMA foreign_keys = ON")

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()
        if self.queue is not None:
            self.queue.close()


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL error (peewee wraps the driver's), else None."""
    for err in (exc, exc.__cause__, exc.__context__, *getattr(exc, "args", ())):
        state = getattr(err, "pgcode", None)
        if state:
            return state
    return None


def _sqlite(path: Path, create: bool, timeout: float) -> Store:
    try:
        exists = os.path.exists(path)  # False for a path that cannot exist (too long, a loop)
        if create:
            private_dirs(path.parent)
    except OSError as exc:
        raise Unavailable(f"cannot create {str(path.parent)!r}: {exc.strerror}") from exc
    if create and not exists:
        try:  # it holds personal data: the owner's alone (SQLite would make it 0644)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o600))
        except FileExistsError:  # another init made it meanwhile
            pass
        except OSError as exc:
            raise Unavailable(f"cannot create {str(path)!r}: {exc.strerror}") from exc
    if not create and not exists:
        raise Unavailable(f"no store at {str(path)!r}", hint="run 'sessionctl init' to create it")
    db = pw.SqliteDatabase(
        f"file:{quote(str(path))}?mode={'rwc' if create else 'rw'}",
        uri=True,
        timeout=timeout,
        pragmas={"foreign_keys": 1, "busy_timeout": int(timeout * 1000)},
    )
    return Store(db, str(path), timeout)


def private_dirs(folder: Path) -> None:
    """``mkdir -p`` where each directory it makes is 0700 (``Path.mkdir`` gives the parents
    the default mode)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for one in reversed(missing):
        try:
            one.mkdir(mode=0o700)
        except FileExistsError:
            pass


def _postgres(url: str, timeout: float) -> Store:
    try:
        adapter = pg_adapter()
    except ImportError:
        raise Unavailable(
            "a PostgreSQL store needs the psycopg2 driver",
            hint="pip install 'sessionctl[postgres]'",
        ) from None
    url = "postgresql://" + url.split("://", 1)[1]
    import psycopg2
    from psycopg2.extensions import parse_dsn

    try:
        parse_dsn(url)  # libpq's own reading: what it refuses here, it would at connect
    except psycopg2.Error as exc:
        raise _unusable(url, exc) from None
    db = pw.PostgresqlDatabase(
        url, connect_timeout=max(1, int(timeout)), options=f"-c lock_timeout={max(1, int(timeout * 1000))}"
    )
    db._adapter = adapter  # see _peewee.py: the driver is bound here, not at peewee's import
    from sessionctl.urls import mask_url

    store = Store(db, mask_url(url), timeout)
    store.url = url
    return store


def _reason(exc: BaseException) -> str:
    """The driver's message on one line, without psycopg2's "invalid dsn:" in front."""
    return " ".join(str(exc).split()).removeprefix("invalid dsn: ")


def _unusable(url: str, exc: BaseException) -> UnusableLocation:
    """The driver's reason a URL cannot be used, its password hidden (the driver quotes the
    part it stumbled on, which may be the password, or the whole URL)."""
    from sessionctl.urls import conceal, mask_url

    return UnusableLocation(
        f"cannot use the PostgreSQL URL {mask_url(url)}: {conceal(_reason(exc), [url])}",
        hint="percent-encode any of : / ? # @ % [ ] in the user name or password (%40 for @); "
             + LOCATION_HINT)


def _connect(store: Store) -> None:
    """Connect; a parameter libpq refuses only now (a port that is no number, an unknown
    sslmode) makes the URL unusable, like a malformed one, and a server that cannot be
    reached (no such host, refused, timed out, the login refused) is exit 6."""
    try:
        store.db.connect()
    except pw.OperationalError as exc:
        if store.dialect != "postgresql":
            raise
        if _reason(exc).startswith("invalid "):
            raise _unusable(store.url, exc) from None
        from sessionctl.urls import conceal

        raise Unavailable(f"cannot reach the PostgreSQL store: "
                          f"{conceal(_reason(exc), [store.url])}") from None


def open_store(location: str, *, create: bool = False, timeout: float | None = None) -> Store:
    """Open (and with ``create`` make) the store at ``location``, migrated to the latest schema.

    Without ``create`` a missing store is an error, never an empty new file (or schema).
    ``timeout``: seconds a writer waits for the lock (the CLI passes the settings' value).
    """
    if timeout is None:
        from sessionctl.configfile import DEFAULT_LOCK_TIMEOUT

        timeout = DEFAULT_LOCK_TIMEOUT
    path = sqlite_path(location)
    store = _sqlite(path, create, timeout) if path is not None else _postgres(location, timeout)
    store.bind()
    try:
        _connect(store)
        _prepare(store, create)
        store.changed = False  # an upgrade on the way is not what the command changes
    except BaseException:
        store.close()
        raise
    return store


def _prepare(store: Store, create: bool) -> None:
    """Check the schema version and bring the store up to date.

    Several processes may do this at once on a new or older store (four ``init`` racing).
    Every step is idempotent, and SQLite sometimes turns a racer away with "busy" at once,
    without waiting (its deadlock avoidance, e.g. while another racer switches the file to
    WAL), so such a racer tries again until the lock timeout."""
    deadline = time.monotonic() + store.timeout
    while True:
        try:
            return _prepare_once(store, create)
        except pw.OperationalError as exc:
            said = str(exc).lower()
            if not ("locked" in said or "busy" in said) or time.monotonic() >= deadline:
                raise
            import random  # only when another process holds the store: not on every start-up

            time.sleep(random.uniform(0.01, 0.05))


def _prepare_once(store: Store, create: bool) -> None:
    with store.db.atomic():  # one snapshot: another racer may be creating the schema right now
        current = store.version()
    if current > migrations.LATEST:
        raise Unavailable(
            f"{store.location} has schema version {current}, newer than this sessionctl"
            f" understands ({migrations.LATEST})",
            hint="upgrade sessionctl",
        )
    if current == 0 and not create:
        raise Unavailable(f"{store.location} is an empty store", hint="run 'sessionctl init'")
    if create and current == 0 and store.dialect == "sqlite":
        store.db.execute_sql("PRAGMA journal_mode=WAL")
    if current < migrations.LATEST:
        store.migrate()
    store.identity = store.read_identity()


# What the database mode's policies, guards and functions refuse (rls_*.py), by SQLSTATE: not
# the caller's (a policy, a guard: 42501), a name that is another kind of role (42710), a name
# no login can have (22023).
_REFUSALS = {"42501": NotAllowed, "42710": Conflict, "22023": UsageError}


def translate(exc: BaseException, timeout: float | None = None) -> SessionctlError | None:
    """Map a database exception (anywhere in the cause chain) to a user-facing error."""
    seen = set()
    chain = []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for err in chain:
        if not isinstance(err, (sqlite3.Error, pw.PeeweeException)):
            continue
        said = " ".join(str(err).split())  # drivers' messages can span lines; ours are one
        text = said.lower()
        if "locked" in text or "busy" in text or "lock timeout" in text or "deadlock" in text:
            wait = f"{timeout:g}" if timeout is not None else "the lock timeout"
            return Unavailable(
                f"the store is busy: another writer held it for more than {wait} s; nothing changed",
                hint="try again, or raise SESSIONCTL_LOCK_TIMEOUT",
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return Unavailable(f"the store is not a sessionctl database or is corrupt ({said})")
        if "readonly" in text or "read-only" in text:
            return Unavailable("the store is read-only; nothing changed")
        state = _sqlstate(err)
        if state in _REFUSALS and not ("permission denied" in text or "must be owner" in text):
            first = str(getattr(err, "orig", err)).strip().splitlines()[0]
            return _REFUSALS[state](f"{first.removeprefix('ERROR:').strip()}; nothing changed")
        if "permission denied" in text or "must be owner" in text:  # PostgreSQL's grants
            return Unavailable(f"this database role may not do that: {said}; nothing changed",
                               hint="a store is upgraded and written by a role that owns its "
                               "tables (see 'PostgreSQL' in the README)")
        if "full" in text or "no space left" in text:
            return Unavailable("the store's disk is full; nothing changed")
        if "unable to open" in text or "disk i/o" in text:
            return Unavailable(f"cannot open the store ({said})")
        if "connect" in text or "server closed" in text or "resolve host" in text or (
            text.startswith('database "') and "does not exist" in text
        ):
            return Unavailable(f"cannot reach the PostgreSQL store: {said}")
    for err in chain:
        if isinstance(err, (sqlite3.IntegrityError, pw.IntegrityError)):
            said = " ".join(str(err).split())
            return Conflict(f"the change conflicts with the current state ({said}); nothing changed")
    return None
