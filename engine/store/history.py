"""我的已办: the tasks a person completed, newest first, a page at a time."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..routing import COMPLETED
from .models import HumanTask, ProcessInstance


def completed_by(session: Session, login: str, offset: int,
                 limit: int) -> tuple[list[tuple[HumanTask, str | None]], int]:
    """(task, its instance's business key) for one page, and how many there are in all."""
    mine = (HumanTask.completed_by == login, HumanTask.state == COMPLETED)
    total = session.scalar(select(func.count()).select_from(HumanTask).where(*mine)) or 0
    rows = session.execute(
        select(HumanTask, ProcessInstance.business_key)
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(*mine)
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .offset(offset).limit(limit)
    ).all()
    return [(task, key) for task, key in rows], total
