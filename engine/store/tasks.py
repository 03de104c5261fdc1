"""Human tasks: the rows behind every inbox."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, false, func, insert, or_, select, true, update
from sqlalchemy.orm import Session, defer, load_only

from ..errors import NotFound
from ..routing import ACTIVE_STATES, ADMIN_ROLE, ANY, CLAIMED, OPEN, Actor
from .models import HumanTask, ProcessInstance


def get(session: Session, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"没有编号为 {task_id} 的任务", task_id=task_id)
    return row


# The statements of every completion are built once: building one costs more than running it (bench/README.md).
# The instance's state is not read with its task: the engine usually holds the workflow of that exact
# revision already, and a large instance's state is megabytes; reading `instance.state` loads it.
_TASK_WITH_INSTANCE = (select(HumanTask, ProcessInstance)
                       .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                       .where(HumanTask.id == bindparam("task_id"))
                       .options(defer(ProcessInstance.state)))
_ACTIVE_GUIDS = (select(HumanTask.task_guid, HumanTask.id)
                 .where(HumanTask.instance_id == bindparam("instance_id"), HumanTask.state.in_(ACTIVE_STATES)))
_INSERT = insert(HumanTask.__table__).returning(HumanTask.__table__.c.id, sort_by_parameter_order=True)
_CANCEL = (update(HumanTask.__table__)
           .where(HumanTask.__table__.c.id.in_(bindparam("ids", expanding=True)),
                  HumanTask.__table__.c.state.in_(ACTIVE_STATES))
           .values(state="cancelled", completed_at=bindparam("at", type_=HumanTask.__table__.c.completed_at.type)))


def get_with_instance(session: Session, task_id: int) -> tuple[HumanTask, ProcessInstance]:
    """A task and its instance in one round trip (the hot path of every completion)."""
    found = session.execute(_TASK_WITH_INSTANCE, {"task_id": task_id}).first()
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
    grants = grant_conditions(actor)
    return or_(*grants) if grants else false()


def grant_conditions(actor: Actor) -> list:
    """One SQL condition per grant of the actor: the tasks its role and scope cover."""
    reachable = []
    for role, scope in sorted(actor.grants):
        if role == ADMIN_ROLE:
            reachable.append(HumanTask.role == ANY)  # tasks in no lane
        elif scope == ANY:
            reachable.append(HumanTask.role == role)
        else:
            # The scope itself, and everything under "scope/" as a range ("/" + 1 is "0"), so that both are
            # searches of the (state, role, scope) index; byte order: scope is COLLATE "C" on PostgreSQL.
            reachable.append(and_(HumanTask.role == role, HumanTask.scope == scope))
            reachable.append(and_(HumanTask.role == role, HumanTask.scope >= scope + "/",
                                  HumanTask.scope < scope + "0"))
    return reachable


def inbox_filter(actor: Actor):
    """Claimed by the actor, or open in one of their roles and scopes.

    Written as a flat OR of terms that each start with equalities on an index's leading columns
    (`assignee, state` and `state, role, scope`), so both databases combine index scans instead of
    reading the whole table (SQLite's multi-index OR, PostgreSQL's BitmapOr)."""
    terms = [and_(HumanTask.assignee == actor.login, HumanTask.state == CLAIMED)]
    terms += [and_(HumanTask.state == OPEN, grant) for grant in grant_conditions(actor)]
    return or_(*terms)


def inbox(session: Session, actor: Actor) -> list[HumanTask]:
    """Tasks claimed by the actor, plus the unclaimed tasks of their roles in their scopes."""
    return list(session.scalars(select(HumanTask).where(inbox_filter(actor))
                                .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)))


# -- the inbox page: filters, counts, one page at a time --------------------------------------------
DUE_STATES = ("overdue", "soon", "none")
SORTS = ("due", "received", "process")
DUE_SOON = timedelta(days=2)


@dataclass(frozen=True)
class InboxQuery:
    """What the inbox page asks for: filters (process, step = element id, due state), order and page."""

    process_id: str | None = None
    element_id: str | None = None
    due: str | None = None  # one of DUE_STATES
    sort: str = "due"
    page: int = 1
    per_page: int = 25


@dataclass
class InboxCounts:
    total: int = 0
    overdue: int = 0
    due_soon: int = 0
    no_due: int = 0


@dataclass
class InboxPage:
    rows: list[tuple[HumanTask, str | None]]  # each task with its instance's business key
    matching: int  # tasks that pass the filters (for paging)
    counts: InboxCounts  # over the whole inbox, ignoring filters
    steps: list[dict] = field(default_factory=list)  # process_id, element_id, step, name, count


def _due_condition(due: str | None, now: datetime):
    if due == "overdue":
        return and_(HumanTask.due_at.is_not(None), HumanTask.due_at < now)
    if due == "soon":
        return and_(HumanTask.due_at >= now, HumanTask.due_at < now + DUE_SOON)
    if due == "none":
        return HumanTask.due_at.is_(None)
    return true()


def _order(sort: str) -> list:
    by_due = [HumanTask.due_at.is_(None), HumanTask.due_at]
    if sort == "received":
        return [HumanTask.created_at.desc(), HumanTask.id.desc()]
    if sort == "process":
        return [HumanTask.process_id, HumanTask.step, *by_due, HumanTask.id]
    return [*by_due, HumanTask.id]


def inbox_counts(session: Session, actor: Actor, now: datetime, mine=None) -> InboxCounts:
    """The menu's figures: all my tasks, overdue, due within two days, without a due date (one indexed query).

    `mine` is `inbox_filter(actor)` when the caller has built it already."""
    total, overdue, soon, none = session.execute(
        select(func.count(), *(_tally(_due_condition(due, now)) for due in DUE_STATES))
        .select_from(HumanTask).where(inbox_filter(actor) if mine is None else mine)).one()
    return InboxCounts(int(total), int(overdue), int(soon), int(none))


def _tally(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def inbox_steps(session: Session, mine, now: datetime) -> tuple[list[dict], InboxCounts]:
    """The processes and steps in my inbox with how many tasks each (the filters' choices), and the
    menu's counts summed from them: one pass over my tasks instead of two."""
    found = session.execute(
        select(HumanTask.process_id, HumanTask.element_id, HumanTask.step, HumanTask.name, func.count(),
               *(_tally(_due_condition(due, now)) for due in DUE_STATES))
        .where(mine)
        .group_by(HumanTask.process_id, HumanTask.element_id, HumanTask.step, HumanTask.name)
        .order_by(HumanTask.process_id, HumanTask.step, HumanTask.element_id)).all()
    steps = [{"process_id": p, "element_id": e, "step": s, "name": n, "count": c} for p, e, s, n, c, *_ in found]
    totals = [sum(int(row[k]) for row in found) for k in range(4, 8)]
    return steps, InboxCounts(*totals)


def _filtered(mine, query: InboxQuery, now: datetime) -> list:
    conditions = [mine, _due_condition(query.due, now)]
    if query.process_id:
        conditions.append(HumanTask.process_id == query.process_id)
    if query.element_id:
        conditions.append(HumanTask.element_id == query.element_id)
    return conditions


def inbox_query(actor: Actor, query: InboxQuery, now: datetime, mine=None):
    """The SELECT behind one inbox page (exposed so a test can EXPLAIN it)."""
    return (select(HumanTask).where(*_filtered(inbox_filter(actor) if mine is None else mine, query, now))
            .order_by(*_order(query.sort if query.sort in SORTS else "due"))
            .limit(query.per_page).offset((max(query.page, 1) - 1) * query.per_page))


def inbox_page(session: Session, actor: Actor, query: InboxQuery, now: datetime) -> InboxPage:
    """One page of my inbox: filtered, sorted, counted; every query starts from the inbox indexes."""
    mine = inbox_filter(actor)  # built once: an actor with many grants makes a long OR
    found = list(session.scalars(inbox_query(actor, query, now, mine)))
    # Business keys by primary key for this page only: joining first lets a planner walk all instances.
    keys = dict(session.execute(select(ProcessInstance.id, ProcessInstance.business_key)
                                .where(ProcessInstance.id.in_({t.instance_id for t in found}))).all()) if found else {}
    rows = [(task, keys.get(task.instance_id)) for task in found]
    steps, counts = inbox_steps(session, mine, now)
    if query.process_id or query.element_id or query.due:
        matching = int(session.scalar(select(func.count()).select_from(HumanTask)
                                      .where(*_filtered(mine, query, now))) or 0)
    else:
        matching = counts.total  # no filter: the page's rows are the whole inbox
    return InboxPage(rows=rows, matching=matching, counts=counts, steps=steps)


@functools.cache
def _transition_statement(columns: tuple[str, ...], unassigned: bool):
    table = HumanTask.__table__
    holder = table.c.assignee.is_(None) if unassigned else table.c.assignee == bindparam("was_assignee")
    return (update(table).where(table.c.id == bindparam("was_id"), table.c.state == bindparam("was_state"), holder)
            .values({c: bindparam(f"new_{c}", type_=table.c[c].type) for c in columns}))


def transition(session: Session, row: HumanTask, **values) -> bool:
    """Move a task on only if its state and holder are still what `row` was read with (compare and set):
    the guard against double completions and against acting on a task someone has just claimed."""
    statement = _transition_statement(tuple(sorted(values)), row.assignee is None)
    params = {"was_id": row.id, "was_state": row.state, **{f"new_{c}": v for c, v in values.items()}}
    if row.assignee is not None:
        params["was_assignee"] = row.assignee
    return session.execute(statement, params).rowcount == 1


def add(session: Session, **columns) -> HumanTask:
    row = HumanTask(**columns)
    session.add(row)
    session.flush()
    return row


def add_many(session: Session, rows: list[dict]) -> list[int]:
    """Insert new tasks (dicts of the same columns) in one statement; their ids, in order."""
    if not rows:
        return []
    return list(session.scalars(_INSERT, rows))


def active_guids(session: Session, instance_id: int) -> dict[str, int]:
    """The open and claimed tasks of an instance: task guid → task id."""
    return dict(session.execute(_ACTIVE_GUIDS, {"instance_id": instance_id}).all())


def cancel(session: Session, task_ids: list[int], at: datetime) -> None:
    """Cancel active tasks the workflow no longer waits for."""
    if task_ids:
        session.execute(_CANCEL, {"ids": list(task_ids), "at": at})
