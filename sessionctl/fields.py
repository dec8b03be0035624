"""The JSON fields of each kind of record (``docs/reference/output.md#json``), in a stable order,
UTC times as ``…Z``: what ``--json`` prints (``output/json.py``), and what the domain hands to
programs outside (an event hook's object, a link command's booking:
``docs/reference/meeting-rooms-and-hooks.md``)."""

from __future__ import annotations

from datetime import datetime

from sessionctl.timeparse import format_utc

USER = ("name", "role", "display", "email", "tz")
COURSE = ("code", "title", "educator", "enrolled")
SLOT = ("id", "course", "educator", "start", "end", "capacity", "booked", "status", "notes", "link")
REQUEST = (
    "id", "slot", "course", "student", "educator", "status", "message", "reason", "link",
    "notes", "start", "end", "created", "updated", "replaces", "replaced_by", "waitlist_position",
    "attendance", "rating",
)
POLICY = ("min_notice", "cancel_notice", "horizon", "max_active", "auto_approve")
AGENDA = ("start", "end", "course", "slot", "request", "with", "status", "link")
NOTIFICATION = ("id", "kind", "request", "slot", "text", "created", "read")
HISTORY = ("at", "actor", "from", "to", "note")


def _plain(value):
    if isinstance(value, datetime):
        return format_utc(value)
    return value


def pick(view, fields: tuple[str, ...]) -> dict:
    """The JSON fields of a view (a record, read by attribute: no deep copy) or a dict."""
    if isinstance(view, dict):
        return {f: _plain(view.get(f)) for f in fields}
    return {f: _plain(getattr(view, f + "_" if f in ("from", "with") else f, None)) for f in fields}


def request_json(view) -> dict:
    data = pick(view, REQUEST)
    if view.history is not None:
        data["history"] = [pick(h, HISTORY) for h in view.history]
    return data


def course_json(view) -> dict:
    return {**pick(view, COURSE), "policy": pick(view.policy, POLICY),
            "buffer": view.buffer, "link_template": view.link_template}


def slot_json(view) -> dict:
    data = pick(view, SLOT)
    if view.requests is not None:
        data["requests"] = [request_json(r) for r in view.requests]
    return data
