"""Joined selects, so a view never triggers one query per row."""

from __future__ import annotations

import peewee as pw

from sessionctl.store.models import Course, Request, Slot, User


def slots() -> pw.ModelSelect:
    educator = User.alias()
    return (
        Slot.select(Slot, Course, educator)
        .join(Course, on=Slot.course)
        .switch(Slot)
        .join(educator, on=Slot.educator)
    )


def requests() -> pw.ModelSelect:
    educator = User.alias()
    student = User.alias()
    return (
        Request.select(Request, Slot, Course, educator, student)
        .join(Slot, on=Request.slot)
        .join(Course, on=Slot.course)
        .switch(Slot)
        .join(educator, on=Slot.educator)
        .switch(Request)
        .join(student, on=Request.student)
    )


def courses() -> pw.ModelSelect:
    educator = User.alias()
    return Course.select(Course, educator).join(educator, on=Course.educator)
