"""Process instances: their serialized state, guarded by an optimistic-lock revision."""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, inspect, select, true, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer, load_only

from ..errors import Conflict, NotFound, StaleAction
from ..messages import say
from ..routing import ACTIVE_STATES, CANCELLED, CLAIMED, COMPLETED, OPEN, Actor
from . import audit, jobs, tasks
from .driver_statements import DriverStatement, RowsInsert
from .models import Event, HumanTask, InstanceHistory, ProcessDefinition, ProcessInstance, User


def get(session: Session, instance_id: int) -> ProcessInstance:
    row = session.get(ProcessInstance, instance_id)
    if row is None:
        raise NotFound(say("instance.not_found", id=instance_id), instance_id=instance_id)
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


@functools.cache
def _save_statement(columns: tuple[str, ...], events: int = 0) -> DriverStatement:
    """The state's update of `columns`; with `events`, that many audit events written by the same statement
    (PostgreSQL: a data-modifying WITH), each as `<column>_<n>`."""
    statement = (update(_TABLE)
                 .where(_TABLE.c.id == bindparam("instance_id"), _TABLE.c.revision == bindparam("read"))
                 .values({"revision": bindparam("taken"),
                          **{c: bindparam(c, type_=_TABLE.c[c].type) for c in columns}}))
    if events:
        table = Event.__table__
        statement = statement.add_cte(insert(table).values([
            {c: bindparam(f"{c}_{n}", type_=table.c[c].type) for c in audit.COLUMNS} for n in range(events)])
            .cte("events"))
    return DriverStatement(statement)


_HISTORY = InstanceHistory.__table__
_ADD_BATCH = RowsInsert(_HISTORY, ("instance_id", "batch", "tasks"))
_DROP_BATCHES = DriverStatement(delete(_HISTORY).where(_HISTORY.c.instance_id == bindparam("instance_id")))
_BATCHES = (select(_HISTORY.c.tasks).where(_HISTORY.c.instance_id == bindparam("instance_id"))
            .order_by(_HISTORY.c.batch))


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


def save_state(session: Session, instance: ProcessInstance | tasks.InstanceRow, revision: int, state: str, status: str,
               next_timer_at: datetime | None, ended_at: datetime | None, read_revision: int | None = None,
               batch: tuple[int, str] | None = None, rewrite: bool = False, events: list[dict] = ()) -> None:
    """Write the state as `revision`: the one this unit of work took with `take_revision`, or the next after
    `read_revision` when it read the instance locked instead (tasks.get_with_instance).

    `batch` is a new batch of the history stored apart (its number and text); `rewrite` drops those stored
    before, when the state holds the whole workflow again (runtime.StateParts). `events` are audit rows
    (audit.rows) of the same step: on PostgreSQL the state's statement writes them, a round trip saved on
    every completion; SQLite, in the same process, needs none."""
    # Only the columns whose value changes: SQLite rewrites an index's page for every indexed column the
    # statement sets, changed or not (status and the next timer are indexed; most steps change neither). What
    # `instance` was read with is what is stored: every writer moves the revision on, which guards this update.
    loaded = inspect(instance).dict if isinstance(instance, ProcessInstance) else vars(instance)
    values = {"status": status, "next_timer_at": next_timer_at, "ended_at": ended_at}
    columns = ("state", *(c for c, value in values.items() if c not in loaded or loaded[c] != value))
    params = {"instance_id": instance.id, "taken": revision, "state": state, **values,
              "read": revision if read_revision is None else read_revision}
    together = 0 < len(events) <= RowsInsert.CHUNK and session.get_bind().dialect.name == "postgresql"
    if together:
        params.update((f"{column}_{n}", row[column]) for n, row in enumerate(events) for column in audit.COLUMNS)
    else:
        audit.record_rows(session, list(events))
    saved = _save_statement(columns, len(events) if together else 0).rowcount(session, params)
    if saved != 1:
        raise Conflict("流程实例刚被其他人更新, 请重试", instance_id=instance.id)
    if rewrite:
        _DROP_BATCHES.rowcount(session, {"instance_id": instance.id})
    if batch is not None:
        _ADD_BATCH.run(session, [{"instance_id": instance.id, "batch": batch[0], "tasks": batch[1]}])


def history(session: Session, instance_id: int) -> list[str]:
    """The batches of the instance's history stored apart from its state, oldest first."""
    return list(session.scalars(_BATCHES, {"instance_id": instance_id}))


# Every state a task can be in: naming them all lets the (state, role, scope) index find a role's tasks.
TASK_STATES = (OPEN, CLAIMED, COMPLETED, CANCELLED)


def visible_condition(actor: Actor, owned: set[str] = frozenset()):
    """SQL: the instances the actor started, owns the process of, or has (or had) a task of in their roles and
    scopes. Administrators see all."""
    if actor.is_admin:
        return true()
    # One IN over a union rather than an OR, so that each part is an index search (started_by, process, assignee,
    # completed_by, role and scope) on both databases: PostgreSQL searches no index for an OR that holds a
    # subquery, and SQLite's index OR sorts every visible row before a page's LIMIT (migration 0011).
    return ProcessInstance.id.in_(union(
        select(ProcessInstance.id).where(ProcessInstance.started_by == actor.login),
        select(ProcessInstance.id).where(ProcessInstance.process_id.in_(owned)),
        select(HumanTask.instance_id).where(HumanTask.assignee == actor.login),
        select(HumanTask.instance_id).where(HumanTask.completed_by == actor.login),
        select(HumanTask.instance_id).where(HumanTask.state.in_(TASK_STATES), tasks.reachable_by(actor))))


def listing(session: Session, process_id: str | None = None, limit: int = 500,
            visible_to: Actor | None = None, owned: set[str] = frozenset()) -> list[ProcessInstance]:
    """The newest instances; with `visible_to`, only those `visible_condition` lets the actor see."""
    query = select(ProcessInstance).order_by(ProcessInstance.id.desc()).limit(limit)
    if process_id:
        query = query.where(ProcessInstance.process_id == process_id)
    if visible_to is not None:
        query = query.where(visible_condition(visible_to, owned))
    return list(session.scalars(query))


def visible_counts(session: Session, actor: Actor, owned: set[str] = frozenset()) -> dict[tuple[str, str], int]:
    """How many instances the actor may see, per (process, status): a list's total and its filters' counts."""
    query = (select(ProcessInstance.process_id, ProcessInstance.status, func.count())
             .where(visible_condition(actor, owned))
             .group_by(ProcessInstance.process_id, ProcessInstance.status))
    return {(process_id, status): n for process_id, status, n in session.execute(query)}


def visible_page(session: Session, actor: Actor, owned: set[str], offset: int, limit: int,
                 process_id: str | None = None,
                 status: str | None = None) -> list[tuple[ProcessInstance, str | None, User | None]]:
    """One page of the instances the actor may see, newest first (the primary key's order), each with the name
    of the version it runs on and its starter. The serialized state stays unread: a list never needs it."""
    query = (select(ProcessInstance, ProcessDefinition.name, User)
             .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .outerjoin(User, User.login == ProcessInstance.started_by)
             .options(defer(ProcessInstance.state))
             .where(visible_condition(actor, owned))
             .order_by(ProcessInstance.id.desc()).offset(offset).limit(limit))
    if process_id:
        query = query.where(ProcessInstance.process_id == process_id)
    if status:
        query = query.where(ProcessInstance.status == status)
    return [(instance, name, starter) for instance, name, starter in session.execute(query)]


def current_tasks(session: Session, instance_ids: list[int]) -> dict[int, list[HumanTask]]:
    """The open and claimed tasks of these instances (one query for a whole page), by instance."""
    found: dict[int, list[HumanTask]] = {i: [] for i in instance_ids}
    if not instance_ids:
        return found
    rows = session.scalars(select(HumanTask).options(load_only(HumanTask.instance_id, HumanTask.step,
                                                               HumanTask.name, HumanTask.scope, HumanTask.state))
                           .where(HumanTask.instance_id.in_(instance_ids), HumanTask.state.in_(ACTIVE_STATES))
                           .order_by(HumanTask.id))
    for row in rows:
        found[row.instance_id].append(row)
    return found


def due_for_timers(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Running instances whose next timer is due, soonest first (process_instance.next_timer_at is indexed);
    not those whose timers failed to fire: their timer job fires them, after its back-off."""
    return list(session.scalars(
        select(ProcessInstance.id)
        .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at <= now, ~jobs.timer_waits())
        .order_by(ProcessInstance.next_timer_at).limit(limit)
    ))


def claim_due(session: Session, instance_id: int, now: datetime) -> bool:
    """Is the instance still due, and ours to fire?  On PostgreSQL the row stays locked until the unit of
    work ends and a concurrent worker skips it; on SQLite (one worker) the revision check suffices."""
    query = select(ProcessInstance.id).where(
        ProcessInstance.id == instance_id, ProcessInstance.status == "running", ProcessInstance.next_timer_at <= now,
        ~jobs.timer_waits())
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
