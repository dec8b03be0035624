"""Meeting links made for an approval (``docs/reference/meeting-rooms-and-hooks.md``): a
``link_template`` filled in, or a ``link_command`` run.

Precedence, first found wins: ``request approve --link``, the request's own link (a moved
booking's), the slot's link, the course's template, the config's template, ``link_command``.
A template is filled inside the approval's transaction (it costs nothing); the command runs
before the write lock is taken, and only when nothing above it gives a link.
"""

from __future__ import annotations

import json
import secrets
import string
from urllib.parse import quote

from sessionctl._plain import Record
from sessionctl.domain.checks import MAX_LINK, check_link
from sessionctl.errors import Unavailable, UsageError
from sessionctl.fields import REQUEST, pick
from sessionctl.store.edge import from_db
from sessionctl.store.models import Request

PLACEHOLDERS = ("course", "slot", "request", "date", "token")
TOKEN_BYTES = 16  # 128 random bits, URL-safe base64: 22 characters
# the longest value each placeholder can take, to check a template's length when it is set
_LONGEST = {"course": "C" * 32, "slot": "9" * 19, "request": "9" * 19, "date": "2000-01-01",
            "token": "x" * 22}


class Links(Record):
    """The run's settings for links: the config's template (and the file and line it is on,
    as it is checked when used), the command, its timeout, and ``vet``: the shared mode's
    check of the command (``Settings.vet_program``), or None."""

    _fields = ("template", "origin", "command", "timeout", "vet")

    def __init__(self, template: str | None = None, origin: str = "default",
                 command: str | None = None, timeout: float = 10.0, vet=None):
        self.template = template
        self.origin = origin
        self.command = command
        self.timeout = timeout
        self.vet = vet


NO_LINKS = Links()


def check_template(value: str | None, label: str = "link-template") -> str | None:
    """A template as set (exit 2 otherwise): only the known placeholders, each plain
    (``{course}``, no format spec), and an http(s) URL once filled."""
    if not value:
        return None
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise UsageError(f"{label} {value!r} is malformed: {exc}",
                         hint="write a literal brace as {{ or }}") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name in PLACEHOLDERS and (spec or conversion):
            raise UsageError(f"{label}: {{{name}}} takes no format or conversion",
                             hint=f"write {{{name}}} alone")
        if name not in PLACEHOLDERS:
            raise UsageError(f"{label} names an unknown placeholder {{{name}}}",
                             hint=f"the placeholders are {', '.join('{%s}' % p for p in PLACEHOLDERS)}")
    filled = value.format(**_LONGEST)
    if len(filled) > MAX_LINK:
        raise UsageError(f"{label} makes links longer than {MAX_LINK} characters")
    try:
        check_link(filled)
    except UsageError:
        raise UsageError(f"{label} {value!r} does not make an http:// or https:// URL",
                         hint="for example https://meet.jit.si/{course}-{token}") from None
    return value


def fill(template: str, request: Request) -> str:
    """The template filled for ``request`` (its slot and course joined), with a fresh token."""
    slot = request.slot
    return template.format(course=quote(slot.course.code, safe=""), slot=slot.id,
                           request=request.id, date=f"{from_db(slot.starts_at):%Y-%m-%d}",
                           token=secrets.token_urlsafe(TOKEN_BYTES))


def template_for(request: Request, links: Links) -> str | None:
    """The template an approval of ``request`` would fill: the course's, else the config's
    (checked now: exit 2 naming where it is set)."""
    own = request.slot.course.link_template
    if own or not links.template:
        return own or None
    return check_template(links.template, f"{links.origin}: link_template")


def needs_command(request: Request, link: str | None, links: Links) -> bool:
    """Whether approving ``request`` runs ``link_command``: nothing else gives a link."""
    return (links.command is not None and not link and not request.link
            and not request.slot.link and template_for(request, links) is None)


def booking(request: Request) -> dict:
    """What ``link_command`` reads: the request's JSON fields, the course's title, and both
    people's names, display names and e-mail addresses."""
    from sessionctl.domain.views import RequestView

    slot = request.slot
    data = pick(RequestView.of(request), REQUEST)
    data["course_title"] = slot.course.title
    for role, person in (("educator", slot.educator), ("student", request.student)):
        data[f"{role}_display"] = person.display
        data[f"{role}_email"] = person.email
    return data


def run_command(links: Links, data: dict) -> str:
    """Run ``link_command`` with ``data``: the link it printed, or exit 6 (nothing changed)."""
    from sessionctl import programs

    if links.vet is not None:
        links.vet(links.command, "link_command")
    ran = programs.run(links.command, json.dumps(data).encode(), links.timeout)
    try:
        words = ran.stdout.decode("utf-8").strip().splitlines()
    except UnicodeDecodeError:  # refused, as --link refuses it, not stored as U+FFFD
        words = None
    link = words[0].strip() if words and len(words) == 1 else None
    problem = ran.problem
    if problem is None:
        if words is None:
            problem = "it printed bytes that are not UTF-8"
        elif not link:
            problem = "it printed no link" if not words else "it printed more than one line"
        else:
            try:
                check_link(link)
            except UsageError:
                problem = f"it printed {link[:80]!r}, not an http:// or https:// URL"
    if problem is not None:
        line = ran.first_stderr_line()
        if line and line not in problem:
            problem += f": {line}"
        raise Unavailable(f"link_command {links.command} failed ({problem}); nothing was approved",
                          hint="give the link yourself with --link, or fix the command")
    return link
