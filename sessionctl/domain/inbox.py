"""The actor's notifications."""

from __future__ import annotations

from sessionctl.domain.context import Context, to_db
from sessionctl.domain.views import NotificationView
from sessionctl.store.models import Notification


def inbox(ctx: Context, *, everything: bool = False, peek: bool = False) -> list[NotificationView]:
    """Newest first; unread only unless ``everything``; shown unread ones become read unless ``peek``."""
    with (ctx.read() if peek else ctx.write()):
        query = (
            Notification.select()
            .where(Notification.user == ctx.actor)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
        )
        if not everything:
            query = query.where(Notification.read_at.is_null())
        shown = [NotificationView.of(n) for n in query]
        unread = [n.id for n in shown if not n.read]
        if unread and not peek:
            Notification.update(read_at=to_db(ctx.now())).where(
                Notification.id.in_(unread), Notification.read_at.is_null()
            ).execute()
        return shown
