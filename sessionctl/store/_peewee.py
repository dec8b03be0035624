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
    """A peewee psycopg2 adapter bound to the driver imported now (not at peewee's import).

    psycopg2 rather than psycopg 3: both are libpq underneath, and psycopg 3 imports asyncio,
    logging and importlib.metadata on the way in, which cost every PostgreSQL command about
    150 ms more before it could connect (benchmarks/README.md)."""
    import psycopg2
    from psycopg2 import extensions
    from psycopg2.extras import Json

    class Adapter(peewee.Psycopg2Adapter):
        txn_idle = extensions.TRANSACTION_STATUS_IDLE
        txn_inerror = extensions.TRANSACTION_STATUS_INERROR
        txn_unknown = extensions.TRANSACTION_STATUS_UNKNOWN

        def __init__(self):
            super().__init__()
            self.json_type = self.jsonb_type = Json

        def check_driver(self):
            pass

        def get_binary_type(self):
            return psycopg2.Binary

        def connect(self, db, **params):
            params.setdefault("dsn", db.database)
            return psycopg2.connect(**params)

        def server_side_cursor(self, conn):
            return conn.cursor(name=f"c{id(conn)}", withhold=True)

    return Adapter()
