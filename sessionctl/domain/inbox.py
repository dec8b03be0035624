"""The actor's notifications."""

from __future__ import annotations

from sessionctl.domain.context import Context
from sessionctl.domain.views import NotificationView
from sessionctl.store.edge import to_db
from sessionctl.store.models import Notification


def inbox(ctx: Context, *, everything: bool = False) -> list[NotificationView]:
    """Newest first; unread only unless ``everything``. Reads only: the caller marks what it
    has shown with ``mark_read`` once it has been written out."""
    with ctx.read():
        query = (
            Notification.select()
            .where(Notification.user == ctx.actor)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
        )
        if not everything:
            query = query.where(Notification.read_at.is_null())
        return [NotificationView.of(n) for n in query]


def mark_read(ctx: Context, shown: list[NotificationView]) -> None:
    """The unread ones among ``shown`` become read (those read meanwhile keep their time)."""
    unread = [n.id for n in shown if not n.read]
    if not unread:
        return
    with ctx.write():
        Notification.update(read_at=to_db(ctx.now())).where(
            Notification.id.in_(unread), Notification.user == ctx.actor,
            Notification.read_at.is_null()
        ).execute()
