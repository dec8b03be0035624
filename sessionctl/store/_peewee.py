"""Peewee, imported without its eager PostgreSQL driver import.

``import peewee`` tries ``import psycopg`` and ``import psycopg2`` at once, which costs every
command's start-up dearly once the ``postgres`` extra is installed, SQLite store or not
(benchmarks/README.md#why-the-code-is-shaped-as-it-is). We hide the drivers while peewee loads, and hand a PostgreSQL store its driver
through our own adapter (``pg_adapter``) when one is actually opened.
"""

import sys

_hidden = [name for name in ("psycopg", "psycopg2", "psycopg2cffi") if name not in sys.modules]
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]  # makes the import fail fast
try:
    import peewee
finally:
    for _name in _hidden:
        if sys.modules.get(_name) is None:
            del sys.modules[_name]


def pg_adapter():
    """A peewee psycopg-3 adapter bound to the driver imported now (not at peewee's import)."""
    import psycopg
    from psycopg.pq import TransactionStatus
    from psycopg.types.json import Json, Jsonb

    class Adapter(peewee.Psycopg3Adapter):
        txn_idle = TransactionStatus.IDLE
        txn_inerror = TransactionStatus.INERROR
        txn_unknown = TransactionStatus.UNKNOWN

        def __init__(self):
            super().__init__()
            self.json_type, self.jsonb_type = Json, Jsonb

        def check_driver(self):
            pass

        def get_binary_type(self):
            return psycopg.Binary

        def connect(self, db, **params):
            params.setdefault("conninfo", db.database)
            return psycopg.connect(**params)

        def server_side_cursor(self, conn):
            in_txn = self.txn_status(conn) == TransactionStatus.INTRANS
            return conn.cursor(name=f"c{id(conn)}", withhold=not in_txn)

    return Adapter()
