"""Joined selects, so a view never triggers one query per row; the hot ones by id built once."""

from __future__ import annotations

import peewee as pw

from sessionctl.store.models import Course, Request, Slot, User
from sessionctl.store.prepared import Prepared


def slots() -> pw.ModelSelect:
    educator = User.alias()
    return (
        Slot.select(Slot, Course, educator)
        .join(Course, on=Slot.course)
        .switch(Slot)
        .join(educator, on=Slot.educator)
    )


def _requests(columns) -> pw.ModelSelect:
    """Requests joined to their slot, course, educator and student; ``columns(educator,
    student)`` says what to select of them."""
    educator = User.alias()
    student = User.alias()
    return (
        Request.select(*columns(educator, student))
        .join(Slot, on=Request.slot)
        .join(Course, on=Slot.course)
        .switch(Slot)
        .join(educator, on=Slot.educator)
        .switch(Request)
        .join(student, on=Request.student)
    )


def requests() -> pw.ModelSelect:
    return _requests(lambda educator, student: (Request, Slot, Course, educator, student))


def request_rows() -> pw.ModelSelect:
    """``requests()`` joined the same way, with only what a list shows of the slot, course and
    people (``views.RequestView``): Peewee builds five models a row, and a list of 10,000 spends
    most of its time building them, so it builds them small. Not for rules: they read more."""
    return _requests(lambda educator, student: (
        Request, Slot.id, Slot.starts_at, Slot.ends_at, Slot.link, Slot.course, Slot.educator,
        Course.id, Course.code, educator.id, educator.name, student.id, student.name))


def courses() -> pw.ModelSelect:
    educator = User.alias()
    return Course.select(Course, educator).join(educator, on=Course.educator)


_REQUEST = Prepared(lambda id: requests().where(Request.id == id).limit(1))
_SLOT = Prepared(lambda id: slots().where(Slot.id == id).limit(1))


def request(request_id: int) -> Request | None:
    """One request joined as ``requests()`` joins it, or None."""
    return _REQUEST.first(id=request_id)


def slot(slot_id: int) -> Slot | None:
    """One slot joined as ``slots()`` joins it, or None."""
    return _SLOT.first(id=slot_id)
