"""Notifications (通知) written by the `notify` handler, read by the people they are addressed to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..routing import ADMIN_ROLE, Actor, scope_covers
from .models import Notification


def addressed_to(actor: Actor, role: str, scope: str) -> bool:
    """A note to a role in a scope reaches holders of the role inside it (a region's offices) or above it."""
    return any(r == role and (scope_covers(s, scope) or scope_covers(scope, s)) for r, s in actor.grants)


def for_actor(session: Session, actor: Actor, limit: int = 10) -> list[Notification]:
    """The newest notifications for the actor's roles, nearest scope first filtered in Python."""
    roles = [r for r in actor.roles if r != ADMIN_ROLE]
    if not roles:
        return []
    candidates = session.scalars(select(Notification).where(Notification.role.in_(roles))
                                 .order_by(Notification.id.desc()).limit(limit * 20))
    return [n for n in candidates if addressed_to(actor, n.role, n.scope)][:limit]
