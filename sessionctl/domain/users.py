"""Users and roles (SPEC §2)."""

from __future__ import annotations

from sessionctl.domain.context import (
    KEEP, ROLES, Context, check_choice, check_email, check_name, check_role, check_text, check_tz,
    to_db,
)
from sessionctl.domain.views import UserView
from sessionctl.errors import Conflict, NotAllowed, NotFound
from sessionctl.store import Store
from sessionctl.store.models import Course, Enrollment, User
from sessionctl.timeparse import utcnow



def register_first_admin(store: Store, name: str) -> tuple[UserView, bool]:
    """``sessionctl init``: make ``name`` admin if the store has no admin yet."""
    check_name(name)
    with store.write():
        existing = User.get_or_none(User.name == name)
        has_admin = User.select().where(User.role == "admin").exists()
        if has_admin:
            return (UserView.of(existing) if existing else None), False
        if existing:
            existing.role = "admin"
            existing.save()
            return UserView.of(existing), True
        user = User.create(name=name, role="admin", created_at=to_db(utcnow()))
        return UserView.of(user), True


def add_user(
    ctx: Context, name: str, role: str, display: str | None, email: str | None, tz: str | None
) -> UserView:
    check_name(name)
    check_role(role)
    display = check_text("display name", display)
    email = check_email(email)
    tz = check_tz(tz)
    with ctx.store.write():
        ctx.require("admin", doing="add users")
        if User.select().where(User.name == name).exists():
            raise Conflict(f"user {name!r} already exists", hint=f"see 'sessionctl user show {name}'")
        user = User.create(
            name=name, role=role, display=display or None, email=email, tz=tz,
            created_at=to_db(ctx.now()),
        )
        return UserView.of(user)


def list_users(ctx: Context, role: str | None) -> list[UserView]:
    check_choice("role", role, ROLES)
    with ctx.store.read():
        ctx.require("admin", "educator", doing="list users")
        query = User.select().order_by(User.name)
        if role:
            query = query.where(User.role == role)
        return [UserView.of(u) for u in query]


def _target(ctx: Context, name: str | None) -> User:
    if name is None or name == ctx.actor.name:
        return ctx.actor
    if ctx.role != "admin":
        raise NotAllowed(f"only admins can see or change other users; you are {ctx.actor.name}")
    user = User.get_or_none(User.name == name)
    if user is None:
        raise NotFound(f"no user named {name!r}", hint="see 'sessionctl user list'")
    return user


def show_user(ctx: Context, name: str | None) -> UserView:
    with ctx.store.read():
        return UserView.of(_target(ctx, name))


def set_user(ctx: Context, name: str | None, *, display=KEEP, email=KEEP, tz=KEEP, role=KEEP) -> UserView:
    changes = {}
    if display is not KEEP:
        changes["display"] = check_text("display name", display) or None
    if email is not KEEP:
        changes["email"] = check_email(email)
    if tz is not KEEP:
        changes["tz"] = check_tz(tz)
    if role is not KEEP:
        changes["role"] = check_role(role)
    with ctx.store.write():
        user = _target(ctx, name)
        if "role" in changes and changes["role"] != user.role:
            if ctx.role != "admin":
                raise NotAllowed("only admins can change roles")
            _check_role_change(user)
        for key, value in changes.items():
            setattr(user, key, value)
        if changes:
            user.save()
        return UserView.of(user)


def _check_role_change(user: User) -> None:
    """A role change may not strand what the user's current role holds."""
    if user.role == "admin":
        admins = User.select().where(User.role == "admin").count()
        if admins <= 1:
            raise Conflict(f"{user.name} is the only admin; make another admin first")
    if user.role == "educator" and Course.select().where(Course.educator == user).exists():
        raise Conflict(f"{user.name} owns courses and must stay an educator")
    if user.role == "student" and Enrollment.select().where(Enrollment.student == user).exists():
        raise Conflict(
            f"{user.name} is enrolled in courses and must stay a student",
            hint="unenroll them first",
        )
