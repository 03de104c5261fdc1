"""通知: a message to everyone holding a role in a scope (the bell in their header, and e-mail if configured)."""

from __future__ import annotations

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.messages import say
from engine.store import notifications


def notify(ctx: HandlerContext, role: str, message: str, scope: str = "*") -> dict:
    if not role or not message:
        raise HandlerFailed(say("handler.notify_needs"), retryable=False)
    # Under the job key: a retry of the same service task finds its notification instead of sending another.
    notifications.add(ctx.session, str(role), str(scope or "*"), str(message), ctx.instance_id, ctx.now,
                      job_key=ctx.job_key)
    return {}
