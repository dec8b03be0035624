"""Who may do what (``README.md#command-reference``): every role, ownership and visibility rule, once.

- ``require_role``: the actor's role is one of these, else exit 4.
- ``can_manage``: an admin, or the educator who owns the course (and so its slots and the
  requests for them).
- ``can_see``: a manager, or a student enrolled in the course.
- ``scope``: the role-scoped filter of every list (courses, slots, requests).
- ``course``/``slot``/``request``: look one up the way the actor may see it: not visible is
  "not found" (exit 3), so ids and codes do not leak; visible but not theirs to change is
  exit 4.

Every check runs on the actor as loaded inside the command's transaction (``Context``).
"""

from __future__ import annotations

import peewee as pw

from sessionctl.errors import NotAllowed, NotFound
from sessionctl.store import queries
from sessionctl.store.models import Course, Enrollment, Request, Slot, User


def require_role(ctx, *roles: str, doing: str) -> None:
    if ctx.actor.role not in roles:
        allowed = " or ".join(f"{r}s" for r in roles)
        raise NotAllowed(f"only {allowed} can {doing}; {ctx.actor.name} is {_a(ctx.actor.role)}")


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def is_enrolled(course_id: int, student: User) -> bool:
    return queries.ENROLLED.first(course=course_id, student=student.id) is not None


def can_manage(ctx, educator_id: int) -> bool:
    return ctx.actor.role == "admin" or educator_id == ctx.actor.id


def can_see(ctx, course_id: int, educator_id: int) -> bool:
    return can_manage(ctx, educator_id) or (
        ctx.actor.role == "student" and is_enrolled(course_id, ctx.actor)
    )


def can_see_request(ctx, request: Request) -> bool:
    return request.student_id == ctx.actor.id or can_manage(ctx, request.slot.educator_id)


def _enrolled_courses(ctx):
    return Enrollment.select(Enrollment.course).where(Enrollment.student == ctx.actor)


def scope(ctx, query, kind: str):
    """``query`` narrowed to what the actor's lists show: an admin everything; an educator
    their courses, their slots and the requests for them; a student their courses, those
    courses' slots, and their own requests."""
    role = ctx.actor.role
    if role == "admin":
        return query
    if kind == "course":
        if role == "educator":
            return query.where(Course.educator == ctx.actor)
        return query.where(Course.id.in_(_enrolled_courses(ctx)))
    if kind == "slot":
        if role == "educator":
            return query.where(Slot.educator == ctx.actor)
        return query.where(Slot.course.in_(_enrolled_courses(ctx)))
    if kind == "request":
        if role == "educator":
            return query.where(Slot.educator == ctx.actor)
        return query.where(Request.student == ctx.actor)
    raise ValueError(kind)


# -- single objects ------------------------------------------------------------------------------


def course(ctx, code: str, *, manage: bool = False) -> Course:
    found = queries.courses().where(Course.code == code).first()
    if found is None or not can_see(ctx, found.id, found.educator_id):
        raise NotFound(f"no course {code!r}", hint=_did_you_mean(ctx, code))
    if manage and not can_manage(ctx, found.educator_id):
        raise NotAllowed(f"only the educator of {code} or an admin can do that")
    return found


def _did_you_mean(ctx, code: str) -> str:
    """The courses the actor can see whose code differs from ``code`` only in case."""
    lowered = Course.select(Course.code).where(pw.fn.LOWER(Course.code) == code.lower())
    near = sorted(c.code for c in scope(ctx, lowered, "course") if c.code != code)
    if not near:
        return "see 'sessionctl course list'"
    return "did you mean " + " or ".join(repr(c) for c in near) + "?"


def slot(ctx, slot_id: int, *, manage: bool = False) -> Slot:
    found = queries.slot(slot_id)
    if found is None or not can_see(ctx, found.course_id, found.educator_id):
        raise NotFound(f"no slot {slot_id}", hint="see 'sessionctl slot list'")
    if manage and not can_manage(ctx, found.educator_id):
        raise NotAllowed(f"only the educator of slot {slot_id} or an admin can change it")
    return found


def request(ctx, request_id: int, *, manage: str | None = None) -> Request:
    """The request if the actor may see it; with ``manage`` (a verb), only its educator or an
    admin may go on."""
    found = queries.request(request_id)
    if found is None or not can_see_request(ctx, found):
        raise NotFound(f"no request {request_id}", hint="see 'sessionctl request list'")
    if manage and not can_manage(ctx, found.slot.educator_id):
        raise NotAllowed(
            f"only the educator of slot {found.slot.id} or an admin can {manage} it"
        )
    return found


def user(ctx, name: str | None) -> User:
    """Oneself, or (for an admin) anyone."""
    if name is None or name == ctx.actor.name:
        return ctx.actor
    if ctx.actor.role != "admin":
        raise NotAllowed(f"only admins can see or change other users; you are {ctx.actor.name}")
    found = User.get_or_none(User.name == name)
    if found is None:
        raise NotFound(f"no user named {name!r}", hint="see 'sessionctl user list'")
    return found


def educator(ctx, name: str) -> User:
    """An educator whose slots the actor may list. Any name the actor could not list slots of
    gets the same answer as a name nobody has, so ``--educator`` cannot probe for users."""
    found = User.get_or_none(User.name == name)
    role = ctx.actor.role
    visible = found is not None and found.role == "educator" and (
        role == "admin"
        or found.id == ctx.actor.id
        or (role == "student" and Course.select().where(
            Course.educator == found, Course.id.in_(_enrolled_courses(ctx))).exists())
    )
    if not visible:
        raise NotFound(f"no educator {name!r} among the slots you can see")
    return found


def student(ctx, name: str) -> User:
    """A student whose requests the actor may list: anyone's for an educator or an admin
    (their lists are already narrowed to what they may see), a student's own only."""
    if ctx.actor.role == "student" and name != ctx.actor.name:
        raise NotAllowed("a student lists only their own requests",
                         hint="leave out --student: your list is yours")
    found = User.get_or_none(User.name == name)
    if found is None or found.role != "student":
        raise NotFound(f"no student named {name!r}")
    return found


def check_student_of(ctx, slot: Slot) -> None:
    """Only a student enrolled in the slot's course may request it."""
    if ctx.actor.role != "student":
        raise NotAllowed(f"only students can request slots; {ctx.actor.name} is {_a(ctx.actor.role)}")
    if not is_enrolled(slot.course_id, ctx.actor):
        raise NotAllowed(
            f"you are not enrolled in {slot.course.code}",
            hint=f"ask {slot.educator.name} to enrol you",
        )


def course_owner(ctx, educator: str | None) -> User:
    """Who will own a new course: an educator creates their own; an admin names one."""
    require_role(ctx, "admin", "educator", doing="create courses")
    if ctx.actor.role == "educator":
        if educator not in (None, ctx.actor.name):
            raise NotAllowed("educators create courses for themselves only")
        return ctx.actor
    from sessionctl.errors import Conflict, UsageError

    if educator is None:
        raise UsageError("an admin must name the course's educator with --educator NAME")
    owner = User.get_or_none(User.name == educator)
    if owner is None:
        raise NotFound(f"no user named {educator!r}")
    if owner.role != "educator":
        raise Conflict(f"{educator} is a {owner.role}, not an educator")
    return owner
