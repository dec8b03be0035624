"""The database mode's calls for the domain (docs/database-mode.md#phase-2-what-changes-in-the-python):
what a person's own login may not write or read itself goes through the server's definer
functions (``rls_behalf.py``). Each call is one statement on the store the models are bound to
(the run's own: ``Store.bind``); ``on()`` says whether that store is in the database mode, and
the domain calls these only then, keeping the personal and shared modes exactly as they are.
"""

from __future__ import annotations

from datetime import datetime

from sessionctl.store.edge import to_db
from sessionctl.store.models import MODELS


def _db():
    return MODELS[0]._meta.database


def on() -> bool:
    """Whether the bound store is in the database mode."""
    return getattr(_db(), "sessionctl_identity", "login") == "database"


def _rows(function: str, *args) -> list[tuple]:
    marks = ", ".join(["%s"] * len(args))
    return _db().execute_sql(f"SELECT * FROM sessionctl.{function}({marks})", args).fetchall()


def system_change(request_id: int, to: str, *, reason: str | None, note: str | None,
                  replaced_by: int | None, kind: str | None, tell: list[str]) -> None:
    """The system's change of a request (the server re-checks that the caller's own change
    justifies it), its history row, and the parties in ``tell`` told in the server's words."""
    _rows("system_change", request_id, to, reason, note, replaced_by, kind, tell)


def settle(slot_id: int) -> None:
    """The fill rule on a slot, run by the server over requests the caller may not see."""
    _rows("settle", slot_id)


def offer(slot_id: int, freed: int) -> None:
    """The offer rule on a slot (``freed``: the seats the caller's change freed)."""
    _rows("offer", slot_id, freed)


def waitlist(slot_ids) -> dict[int, tuple[int, int]]:
    """``{request id: (place, length)}`` of the waiting requests the caller sees."""
    return {rid: (int(place), int(length))
            for rid, place, length in _rows("waitlist", list(slot_ids))}


def waiting_count(slot_id: int) -> int:
    return int(_rows("waiting_count", slot_id)[0][0] or 0)


def clash(student_id: int, start: datetime, end: datetime, besides: int) -> tuple[int, int] | None:
    """``(request id, slot id)`` of the student's approved session overlapping [start, end)."""
    found = _rows("clash", student_id, to_db(start), to_db(end), besides)
    return tuple(found[0]) if found else None


def enrolled_counts(course_ids) -> dict[int, int]:
    return {cid: int(n) for cid, n in _rows("enrolled_counts", list(course_ids))}


def code_taken(code: str) -> bool:
    return bool(_rows("code_taken", code)[0][0])
