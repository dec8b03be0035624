"""Hot queries built once: Peewee writes their SQL the first time, and every later run only
binds new values.

Peewee spends far longer turning a query into SQL than SQLite spends running it (the figures:
benchmarks/README.md#why-the-code-is-shaped-as-it-is). A command that
approves, sweeps or reminds a thousand times would write the same few statements a thousand
times. ``Prepared(build)`` calls ``build`` once with a ``Param`` for each value, records the
SQL Peewee writes for it (per kind of database: the placeholders and quoting differ), and
replays it with the values of each call; everything else (the cursor, the models built from
joined rows, the id of an insert, the count of an update) is Peewee's own.

A value bound here skips Peewee's field conversion, so pass what the driver takes as it is:
ids (not model instances), text, numbers and naive UTC datetimes (``store/edge.py``'s
``to_db``). What Peewee adds by itself when it writes the SQL (an insert's field defaults) is
recorded with it: fine for constants, wrong for a callable default, which none of the models has
(``tests/test_structure.py``). Every prepared query is declared in ``store/queries.py``.
"""

from __future__ import annotations

from typing import Callable

from sessionctl.store._peewee import peewee as pw


class _Hole:
    """Where a named value goes among a recorded query's parameters."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class Param(pw.Node):
    """A value of a prepared query, given when the query runs."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def __sql__(self, ctx):
        return ctx.value(_Hole(self.name), converter=False)


_MADE: list["Prepared"] = []  # every prepared query of the modules loaded: ``prime`` writes them


def prime() -> None:
    """Write the SQL of every prepared query not yet written for the store the models are
    bound to, without running any: a writer waiting for its turn (``Store.write``) does it,
    so that once it holds the lock it only runs queries."""
    for query in _MADE:
        query.prime()


class Prepared:
    """A query made by ``build(**params)`` and written to SQL once per kind of database.

    ``first``, ``all`` and ``execute`` run it with the given values (every parameter of
    ``build``), as Peewee's ``query.first()``… would; ``build`` states any LIMIT itself."""

    def __init__(self, build: Callable[..., pw.BaseQuery]):
        self._build = build
        self._query: pw.BaseQuery | None = None
        self._recorded: dict[type, tuple[list, list]] = {}
        _MADE.append(self)

    def prime(self) -> None:
        """Write the SQL now if it has not been written for this kind of database (not for a
        ``build`` that takes ``**values``: its parameters come with each call)."""
        code = self._build.__code__
        if code.co_flags & 0x08:  # CO_VARKEYWORDS
            return
        names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        if self._query is None or self._kind(self._query.model._meta.database) not in self._recorded:
            self._ready(dict.fromkeys(names)).sql()

    @staticmethod
    def _kind(database) -> type:
        return type(database.obj) if isinstance(database, pw.DatabaseProxy) else type(database)

    def _ready(self, values: dict) -> pw.BaseQuery:
        if self._query is None:
            self._query = self._build(**{name: Param(name) for name in values})
        query = self._query.clone()
        database = self._query.model._meta.database
        kind = self._kind(database)
        query._database = database
        if isinstance(query, pw.Insert) and (not database.returning_clause or (
                query._as_rowcount and not query._return_cursor)):
            # built on PostgreSQL (RETURNING id), run on SQLite: none; and a count of rows
            # returns none, as Peewee's own execute() strips it, whether the SQL is written
            # here first or by ``prime`` (a RETURNING also asks the server to let the writer
            # read the new row back: in the database mode a notification for someone else
            # is not the writer's to read, and the insert was refused)
            query._returning = None
        recorded = self._recorded

        def sql(ctx):
            done = recorded.get(kind)
            if done is None:  # the first run on this kind of database: let Peewee write it
                sql_at, values_at = len(ctx._sql), len(ctx._values)
                type(query).__sql__(query, ctx)
                done = recorded[kind] = (ctx._sql[sql_at:], ctx._values[values_at:])
                del ctx._sql[sql_at:], ctx._values[values_at:]
            ctx._sql.extend(done[0])
            ctx._values.extend(values[p.name] if isinstance(p, _Hole) else p for p in done[1])
            return ctx

        query.__sql__ = sql  # this copy only: a further clone would have to be written anew
        return query

    def first(self, **values):
        return next(iter(self._ready(values).execute()), None)

    def all(self, **values) -> list:
        return list(self._ready(values).execute())

    def execute(self, **values):
        return self._ready(values).execute()
