"""通知: a message to everyone holding a role in a scope (shown in their inbox)."""

from __future__ import annotations

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.store.models import Notification


def notify(ctx: HandlerContext, role: str, message: str, scope: str = "*") -> dict:
    if not role or not message:
        raise HandlerFailed("通知需要 role 和 message", retryable=False)
    ctx.session.add(Notification(role=str(role), scope=str(scope or "*"), message=str(message),
                                 instance_id=ctx.instance_id, created_at=ctx.now))
    return {}
