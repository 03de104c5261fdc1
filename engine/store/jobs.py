"""Service tasks whose handler failed, waiting for a retry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Job


def due(session: Session, now: datetime) -> list[int]:
    return list(session.scalars(select(Job.id).where(Job.done.is_(False), Job.due_at <= now).order_by(Job.due_at)))


def waiting(session: Session, instance_id: int) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.instance_id == instance_id, Job.done.is_(False))
                                .order_by(Job.id)))


def open_for_task(session: Session, task_guid: str) -> Job | None:
    return session.scalars(select(Job).where(Job.task_guid == task_guid, Job.done.is_(False))).first()


def claim(session: Session, job_id: int) -> Job | None:
    """The job if it still waits and no other worker holds it (its row stays locked on PostgreSQL)."""
    query = select(Job).where(Job.id == job_id, Job.done.is_(False))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()
