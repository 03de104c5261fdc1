"""The append-only audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Event


def record(session: Session, kind: str, at: datetime, actor: str | None = None, instance_id: int | None = None,
           task_id: int | None = None, **detail) -> None:
    session.add(Event(kind=kind, at=at, actor=actor, instance_id=instance_id, task_id=task_id, detail=detail or None))


def for_instance(session: Session, instance_id: int) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)))
