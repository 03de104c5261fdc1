"""What a service-task handler receives, and how handlers are registered by topic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


@dataclass
class HandlerContext:
    """Where a handler is running: the unit of work, the instance and the step, and who triggered it."""

    session: Session
    instance_id: int
    process_id: str
    version: int
    element_id: str
    step: str | None
    actor: str | None
    now: datetime
    business_key: str | None = None
    # The same for every attempt at one service task: effects written under it happen once (archive and
    # notify keep one row per key; a handler writing several rows derives keys, e.g. f"{job_key}:2").
    job_key: str | None = None


Handler = Callable[..., dict | None]


class HandlerRegistry:
    """Handlers by topic (`camunda:topic`). A handler is `fn(ctx, **params) -> dict | None`."""

    def __init__(self, handlers: dict[str, Handler] | None = None):
        self._handlers: dict[str, Handler] = dict(handlers or {})

    def register(self, topic: str, handler: Handler | None = None):
        if handler is None:
            return lambda fn: self.register(topic, fn)
        self._handlers[topic] = handler
        return handler

    def get(self, topic: str) -> Handler | None:
        return self._handlers.get(topic)

    @property
    def topics(self) -> set[str]:
        return set(self._handlers)

    def __call__(self, topic: str, ctx: HandlerContext, params: dict[str, Any]) -> dict | None:
        return self._handlers[topic](ctx, **params)
