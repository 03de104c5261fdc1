"""Process instances: their serialized state, guarded by an optimistic-lock revision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound, StaleAction
from ..routing import Actor
from . import tasks
from .models import HumanTask, ProcessDefinition, ProcessInstance


def get(session: Session, instance_id: int) -> ProcessInstance:
    row = session.get(ProcessInstance, instance_id)
    if row is None:
        raise NotFound(f"没有编号为 {instance_id} 的流程实例", instance_id=instance_id)
    return row


def by_business_key(session: Session, process_id: str, key: str) -> ProcessInstance | None:
    return session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_id == process_id, ProcessInstance.business_key == key)).first()


def add(session: Session, **columns) -> ProcessInstance:
    row = ProcessInstance(revision=1, **columns)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # another process started the same business key first
        raise StaleAction(f"已有业务键为 '{row.business_key}' 的实例", business_key=row.business_key) from exc
    return row


# Built once (Core, on the table): every completion runs both, and building costs more than running.
_TABLE = ProcessInstance.__table__
_TAKE_REVISION = (update(_TABLE).where(_TABLE.c.id == bindparam("instance_id"),
                                       _TABLE.c.revision == bindparam("expected"))
                  .values(revision=bindparam("next")))
_SAVE_STATE = (update(_TABLE).where(_TABLE.c.id == bindparam("instance_id"), _TABLE.c.revision == bindparam("read"))
               .values({"revision": bindparam("taken"),
                        **{c: bindparam(c, type_=_TABLE.c[c].type) for c in ("state", "status", "next_timer_at",
                                                                             "ended_at")}}))


def take_revision(session: Session, instance_id: int, expected_revision: int) -> int:
    """Claim the next revision before writing anything else; raises Conflict if someone else got there first.

    Done first in a unit of work that changes an instance it has not read locked (a completion has: see
    tasks.get_with_instance): on PostgreSQL the row lock makes a racing writer wait and then fail this
    check, on SQLite the check alone does it.
    """
    result = session.execute(_TAKE_REVISION, {"instance_id": instance_id, "expected": expected_revision,
                                              "next": expected_revision + 1})
    if result.rowcount != 1:
        raise Conflict("流程实例刚被其他人更新, 请重试", instance_id=instance_id)
    return expected_revision + 1


def save_state(session: Session, instance_id: int, revision: int, state: str, status: str,
               next_timer_at: datetime | None, ended_at: datetime | None, read_revision: int | None = None) -> None:
    """Write the state as `revision`: the one this unit of work took with `take_revision`, or the next after
    `read_revision` when it read the instance locked instead (tasks.get_with_instance(for_change=True))."""
    result = session.execute(_SAVE_STATE, {
        "instance_id": instance_id, "taken": revision, "read": revision if read_revision is None else read_revision,
        "state": state, "status": status, "next_timer_at": next_timer_at, "ended_at": ended_at})
    if result.rowcount != 1:
        raise Conflict("流程实例刚被其他人更新, 请重试", instance_id=instance_id)


def listing(session: Session, process_id: str | None = None, limit: int = 500,
            visible_to: Actor | None = None, owned: set[str] = frozenset()) -> list[ProcessInstance]:
    """The newest instances; with `visible_to`, only those the actor started, owns the process of, or has
    (or had) a task in their roles and scopes. Administrators see all."""
    query = select(ProcessInstance).order_by(ProcessInstance.id.desc()).limit(limit)
    if process_id:
        query = query.where(ProcessInstance.process_id == process_id)
    if visible_to is not None and not visible_to.is_admin:
        involved = select(HumanTask.instance_id).where(or_(
            HumanTask.assignee == visible_to.login, HumanTask.completed_by == visible_to.login,
            tasks.reachable_by(visible_to)))
        query = query.where(or_(ProcessInstance.started_by == visible_to.login,
                                ProcessInstance.process_id.in_(owned), ProcessInstance.id.in_(involved)))
    return list(session.scalars(query))


def due_for_timers(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Running instances whose next timer is due, soonest first (process_instance.next_timer_at is indexed)."""
    return list(session.scalars(
        select(ProcessInstance.id)
        .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at <= now)
        .order_by(ProcessInstance.next_timer_at).limit(limit)
    ))


def claim_due(session: Session, instance_id: int, now: datetime) -> bool:
    """Is the instance still due, and ours to fire?  On PostgreSQL the row stays locked until the unit of
    work ends and a concurrent worker skips it; on SQLite (one worker) the revision check suffices."""
    query = select(ProcessInstance.id).where(
        ProcessInstance.id == instance_id, ProcessInstance.status == "running", ProcessInstance.next_timer_at <= now)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query) is not None


def business_keys(session: Session, process_id: str) -> set[str]:
    """The business keys a process's instances already have (the calendar skips those periods)."""
    return set(session.scalars(select(ProcessInstance.business_key).where(
        ProcessInstance.process_id == process_id, ProcessInstance.business_key.is_not(None))))


def first_deployed_at(session: Session, process_id: str) -> datetime:
    """When the process's first version was deployed: the calendar starts no period that had ended before."""
    return session.scalar(select(func.min(ProcessDefinition.deployed_at))
                          .where(ProcessDefinition.process_id == process_id))
