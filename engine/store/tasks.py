"""Human tasks: the rows behind every inbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.orm import Session, load_only

from ..errors import NotFound
from ..routing import ACTIVE_STATES, ADMIN_ROLE, ANY, CLAIMED, OPEN, Actor
from .models import HumanTask, ProcessInstance


def get(session: Session, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"没有编号为 {task_id} 的任务", task_id=task_id)
    return row


def get_with_instance(session: Session, task_id: int) -> tuple[HumanTask, ProcessInstance]:
    """A task and its instance in one round trip (the hot path of every completion)."""
    found = session.execute(select(HumanTask, ProcessInstance)
                            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                            .where(HumanTask.id == task_id)).first()
    if found is None:
        raise NotFound(f"没有编号为 {task_id} 的任务", task_id=task_id)
    return found[0], found[1]


def active_for_instance(session: Session, instance_id: int, light: bool = False) -> list[HumanTask]:
    """The open and claimed tasks of an instance; `light` loads only what task syncing needs."""
    query = select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state.in_(ACTIVE_STATES))
    if light:
        query = query.options(load_only(HumanTask.id, HumanTask.task_guid, HumanTask.state))
    return list(session.scalars(query.order_by(HumanTask.id)))


def for_instance(session: Session, instance_id: int) -> list[HumanTask]:
    return list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)
                                .order_by(HumanTask.id)))


def reachable_by(actor: Actor):
    """SQL: the tasks whose role and scope one of the actor's grants covers (mirrors routing.holds)."""
    reachable = []
    for role, scope in actor.grants:
        if role == ADMIN_ROLE:
            reachable.append(HumanTask.role == ANY)  # tasks in no lane
        elif scope == ANY:
            reachable.append(HumanTask.role == role)
        else:
            reachable.append(and_(HumanTask.role == role, or_(
                HumanTask.scope == scope, HumanTask.scope.startswith(scope + "/", autoescape=True))))
    return or_(*reachable) if reachable else false()


def inbox(session: Session, actor: Actor) -> list[HumanTask]:
    """Tasks claimed by the actor, plus the unclaimed tasks of their roles in their scopes."""
    mine = and_(HumanTask.state == CLAIMED, HumanTask.assignee == actor.login)
    return list(session.scalars(select(HumanTask).where(or_(mine, and_(HumanTask.state == OPEN, reachable_by(actor))))
                                .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)))


def transition(session: Session, row: HumanTask, **values) -> bool:
    """Move a task on only if its state and holder are still what `row` was read with (compare and set):
    the guard against double completions and against acting on a task someone has just claimed."""
    result = session.execute(
        update(HumanTask)
        .where(HumanTask.id == row.id, HumanTask.state == row.state,
               HumanTask.assignee.is_(None) if row.assignee is None else HumanTask.assignee == row.assignee)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def add(session: Session, **columns) -> HumanTask:
    row = HumanTask(**columns)
    session.add(row)
    session.flush()
    return row


def cancel_missing(active: list[HumanTask], keep_guids: set[str], at: datetime) -> list[HumanTask]:
    """Cancel the active tasks (of one instance) that the workflow no longer waits for."""
    gone = [t for t in active if t.task_guid not in keep_guids and t.state in ACTIVE_STATES]
    for row in gone:
        row.state, row.completed_at = "cancelled", at
    return gone
