"""Users and roles (``README.md#command-reference``: who may run what)."""

from __future__ import annotations

from datetime import datetime

from sessionctl.domain import access
from sessionctl.domain.checks import (
    KEEP, ROLES, check_choice, check_email, check_line, check_name, check_role, check_tz,
)
from sessionctl.domain.context import Context
from sessionctl.domain.views import UserView
from sessionctl.errors import Conflict, UsageError
from sessionctl.store import Store
from sessionctl.store.edge import to_db
from sessionctl.store.models import Course, Enrollment, User
from sessionctl.timeparse import utcnow


def register_first_admin(store: Store, name: str, *,
                         now: datetime | None = None) -> tuple[UserView, bool]:
    """``sessionctl init``: make ``name`` admin if the store has no admin yet (registered
    ``now``, by default the real clock)."""
    check_name(name)
    with store.write():
        return _first_admin(name, now)


def set_identity(store: Store, identity: str, admin: str | None, *,
                 now: datetime | None = None) -> dict:
    """``init --identity``: "database" makes ``store`` (PostgreSQL) a database-mode store, with
    ``admin`` its first admin if it has none, and a login role for every user; "login" or
    "sudo" turns it back (docs/reference/database-mode.md). What happened, for the report."""
    from sessionctl.domain.texts import templates
    from sessionctl.store import rls

    rls.check_owner(store)
    if identity != "database":
        if store.identity == "database":
            rls.disable(store)
            store.identity = "login"
            return {"identity": "login", "turned_back": True}
        return {"identity": "login", "turned_back": False}
    if admin is None:
        raise UsageError("init --identity database needs --admin NAME: the first admin")
    check_name(admin)
    with store.write():
        rls.lift(store)  # a store in the mode already: its owner reads its rows again
        view, promoted = _first_admin(admin, now)
        logins = rls.enable(store, admin, templates())
    store.identity = "database"
    return {"identity": "database", "admin": admin if promoted else None, "logins": logins}


def _first_admin(name: str, now: datetime | None) -> tuple[UserView | None, bool]:
    existing = User.get_or_none(User.name == name)
    has_admin = User.select().where(User.role == "admin").exists()
    if has_admin:
        return (UserView.of(existing) if existing else None), False
    if existing:
        User.update(role="admin").where(User.id == existing.id).execute()
        existing.role = "admin"
        made = existing
    else:
        made = User.create(name=name, role="admin", created_at=to_db(now or utcnow()))
    return UserView.of(made), True


def lookup(store: Store, name: str) -> tuple[UserView | None, int]:
    """``whoami``: the user registered as ``name`` (or None; anyone may ask who they are) and
    how many of their notifications are unread."""
    from sessionctl.store.models import Notification

    with store.read():
        found = User.get_or_none(User.name == name)
        if found is None:
            return None, 0
        unread = Notification.select().where(Notification.user == found,
                                             Notification.read_at.is_null()).count()
        return UserView.of(found), unread


def add_user(
    ctx: Context, name: str, role: str, display: str | None, email: str | None, tz: str | None
) -> UserView:
    check_name(name)
    check_role(role)
    display = check_line("display name", display)
    email = check_email(email)
    tz = check_tz(tz)
    with ctx.write():
        access.require_role(ctx, "admin", doing="add users")
        if User.select().where(User.name == name).exists():
            raise Conflict(f"user {name!r} already exists", hint=f"see 'sessionctl user show {name}'")
        user = User.create(
            name=name, role=role, display=display or None, email=email, tz=tz,
            created_at=to_db(ctx.now()),
        )
        ctx.store.made_users([(name, role)])
        return _with_busy(user)


def list_users(ctx: Context, role: str | None) -> list[UserView]:
    check_choice("role", role, ROLES)
    with ctx.read():
        access.require_role(ctx, "admin", "educator", doing="list users")
        query = User.select().order_by(User.name)
        if role:
            query = query.where(User.role == role)
        return [UserView.of(u) for u in query]


def show_user(ctx: Context, name: str | None) -> UserView:
    with ctx.read():
        return _with_busy(access.user(ctx, name))


def _with_busy(user: User) -> UserView:
    """The user with their busy sources, masked (``docs/reference/busy-times.md#sources``)."""
    from sessionctl.domain import busy

    view = UserView.of(user)
    view.busy = busy.shown(user.id)
    return view


def set_user(ctx: Context, name: str | None, *, display=KEEP, email=KEEP, tz=KEEP, role=KEEP,
             busy=KEEP, restricted: bool = False) -> UserView:
    """``user set``; ``busy`` (a list of sources, ``[""]`` to clear) replaces the stored
    ones, checked first (paths refused when ``restricted``)."""
    changes = {}
    if busy is not KEEP:
        from sessionctl.domain.busy import checked_sources, store_sources

        busy = checked_sources(list(busy), restricted)
    if display is not KEEP:
        changes["display"] = check_line("display name", display) or None
    if email is not KEEP:
        changes["email"] = check_email(email)
    if tz is not KEEP:
        changes["tz"] = check_tz(tz)
    if role is not KEEP:
        changes["role"] = check_role(role)
    with ctx.write():
        user = access.user(ctx, name)
        if "role" in changes and changes["role"] != user.role:
            access.require_role(ctx, "admin", doing="change roles")
            _check_role_change(user)
        changes = {k: v for k, v in changes.items() if getattr(user, k) != v}
        if changes:  # only the columns that change: a concurrent change to another stays
            User.update(**changes).where(User.id == user.id).execute()
            for key, value in changes.items():
                setattr(user, key, value)
            if "role" in changes:
                ctx.store.made_users([(user.name, user.role)])
        if busy is not KEEP:
            store_sources(user, busy)
        return _with_busy(user)


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
