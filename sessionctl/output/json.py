"""JSON for scripts (``docs/reference/output.md#json``): the fields each kind of record shows
(``sessionctl/fields.py``, which the domain's payloads for programs outside share), through one
encoder."""

from __future__ import annotations

import json

from sessionctl.fields import (  # noqa: F401 - the output's names for them
    AGENDA, COURSE, HISTORY, NOTIFICATION, POLICY, REQUEST, SLOT, USER, course_json, pick,
    request_json, slot_json,
)
from sessionctl.output.terminal import write


def emit_json(document) -> None:
    write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
