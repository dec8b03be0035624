"""store/prepared.py: a query whose SQL Peewee writes once gives what the query itself gives,
on both backends, with each call's own values (no timing here)."""

from __future__ import annotations

from datetime import datetime

from sessionctl.domain import users
from sessionctl.store import queries
from sessionctl.store import open_store
from sessionctl.store.models import Course, Request, Slot, User
from sessionctl.store.prepared import Prepared

T = datetime(2027, 1, 4, 10, 0)
NAMES = ("ada", "kat", "o'brien", "zoë")


def test_prepared_queries_give_what_peewee_gives(location):
    store = open_store(location, create=True)
    try:
        users.register_first_admin(store, "root")
        with store.db.atomic():
            ids = {name: User.create(name=name, role="student", created_at=T).id for name in NAMES}
        by_name = Prepared(lambda name: User.select().where(User.name == name).limit(1))
        for name in (*NAMES, "nobody", "ada' OR '1'='1"):  # a value is bound, never spliced
            got, want = by_name.first(name=name), User.get_or_none(User.name == name)
            assert (got and (got.id, got.name)) == (want and (want.id, want.name))
        by_role = Prepared(lambda role: User.select(User.name).where(User.role == role)
                           .order_by(User.name))
        assert [u.name for u in by_role.all(role="student")] == sorted(NAMES)
        assert [u.name for u in by_role.all(role="admin")] == ["root"]
        assert by_role.all(role="educator") == []

        rename = Prepared(lambda id, display: User.update(display=display).where(User.id == id))
        assert rename.execute(id=ids["kat"], display="Kat") == 1
        assert rename.execute(id=10**6, display="nobody") == 0
        assert User.get_by_id(ids["kat"]).display == "Kat"
        assert User.get_by_id(ids["ada"]).display is None

        # the joined lookup by id that every request command makes
        with store.db.atomic():
            educator = User.create(name="edu", role="educator", created_at=T)
            course = Course.create(code="MATH101", title="Maths", educator=educator, created_at=T)
            slot = Slot.create(course=course, educator=educator, starts_at=T,
                               ends_at=datetime(2027, 1, 4, 11, 0), capacity=2, booked=0,
                               created_at=T, updated_at=T)
            made = [Request.create(slot=slot, student=ids[name], status="pending",
                                   created_at=T, updated_at=T).id for name in ("ada", "kat")]
        for request_id in (*made, 10**6):
            got = queries.request(request_id)
            want = queries.requests().where(Request.id == request_id).first()
            if want is None:
                assert got is None
                continue
            assert (got.id, got.student.name, got.slot.id, got.slot.course.code,
                    got.slot.educator.name) == (want.id, want.student.name, want.slot.id,
                                                want.slot.course.code, want.slot.educator.name)
        assert queries.slot(slot.id).course.code == "MATH101"
        assert queries.slot(10**6) is None
    finally:
        store.close()


def test_a_primed_insert_that_counts_rows_writes_the_sql_it_runs(location):
    """``prime`` (a writer waiting for its turn) writes the SQL a run would: an insert that
    counts its rows returns none (a RETURNING made the database mode refuse a waiting
    student's notification to their educator: tests/test_database_attacks.py)."""
    store = open_store(location, create=True)
    try:
        users.register_first_admin(store, "root")
        count = Prepared(lambda name: User.insert(name=name, role="student",
                                                  created_at=T).as_rowcount())
        ident = Prepared(lambda name: User.insert(name=name, role="student", created_at=T))
        count.prime()
        ident.prime()
        assert "RETURNING" not in count._ready({"name": "x"}).sql()[0]
        with store.db.atomic():
            assert count.execute(name="kat") == 1
            made = ident.execute(name="zoë")
        assert User.get(User.name == "zoë").id == made
    finally:
        store.close()
