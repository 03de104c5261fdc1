"""Human tasks: the rows behind every inbox."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import String, and_, bindparam, case, cast, false, func, insert, or_, select, true, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.functions import FunctionElement

from ..errors import NotFound
from ..messages import say
from ..routing import ACTIVE_STATES, ADMIN_ROLE, ANY, CLAIMED, OPEN, Actor
from .driver_statements import DriverStatement, as_loaded, by_name, mapped_columns, per_transaction
from .models import HumanTask, ProcessDefinition, ProcessInstance


def get(session: Session, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(say("task.not_found", id=task_id), task_id=task_id)
    return row


class _comma_joined(FunctionElement):  # noqa: N801 - an SQL function, named as one
    """Text values joined with commas: SQLAlchemy's aggregate_strings, with the comma written into the statement
    (there it is a value put in when the statement runs, which a DriverStatement does not do)."""

    type = String()
    inherit_cache = True


@compiles(_comma_joined, "postgresql")
def _comma_joined_postgresql(element, compiler, **kw):
    return f"string_agg({compiler.process(element.clauses, **kw)}, ',')"


@compiles(_comma_joined, "sqlite")
def _comma_joined_sqlite(element, compiler, **kw):
    return f"group_concat({compiler.process(element.clauses, **kw)}, ',')"


# The statements of every completion are built once: building one costs more than running it (bench/README.md).
# The instance's state is not read with its task: the engine usually holds the workflow of that exact
# revision already, and a large instance's state is megabytes; reading `instance.state` loads it.
# Both are read as plain columns on the driver's cursor, into plain objects (TaskRow, InstanceRow).
_TASK_ATTRIBUTES = mapped_columns(HumanTask)
_INSTANCE_ATTRIBUTES = mapped_columns(ProcessInstance, leave_out=["state"])
_task_with_instance = (select(*(c for _, c in _TASK_ATTRIBUTES), *(c for _, c in _INSTANCE_ATTRIBUTES))
                       .join(ProcessInstance.__table__, ProcessInstance.id == HumanTask.instance_id)
                       .where(HumanTask.id == bindparam("task_id")))
_ACTIVE = or_(*(HumanTask.state == state for state in ACTIVE_STATES))  # spelled out for the driver's cursor
# When the workflow is not in memory: its state, and its open and claimed tasks ("guid:id,guid:id") with it.
_STATE = DriverStatement(select(
    ProcessInstance.state,
    select(_comma_joined(HumanTask.task_guid + ":" + cast(HumanTask.id, String)))
    .where(HumanTask.instance_id == ProcessInstance.id, _ACTIVE).scalar_subquery().label("active"))
    .where(ProcessInstance.id == bindparam("instance_id")))
_ACTIVE_GUIDS = DriverStatement(select(HumanTask.task_guid, HumanTask.id)
                                .where(HumanTask.instance_id == bindparam("instance_id"), _ACTIVE))
_INSERT = insert(HumanTask.__table__).returning(HumanTask.__table__.c.id, sort_by_parameter_order=True)
_CANCEL = (update(HumanTask.__table__)
           .where(HumanTask.__table__.c.id.in_(bindparam("ids", expanding=True)),
                  HumanTask.__table__.c.state.in_(ACTIVE_STATES))
           .values(state="cancelled", completed_at=bindparam("at", type_=HumanTask.__table__.c.completed_at.type)))


# For a change: the instance's row stays locked until the unit of work ends (PostgreSQL; SQLite has one
# writer at a time), so that its revision cannot move on before this unit of work writes the next one. A
# racing completion of the same instance waits here, then reads what the first one wrote.
_TASK_WITH_INSTANCE_FOR_CHANGE = DriverStatement(_task_with_instance.with_for_update(of=ProcessInstance.__table__))


class TaskRow:
    """A task's columns as read for a change, or for the inbox's list: a plain object with the attributes of a
    HumanTask, not the session's. Making the ORM's object, and reading its instrumented attributes, took about
    10 % of a completion (alternating runs in one process); nothing a completion or a list does with its
    task needs the ORM."""

    def __init__(self, columns: dict):
        self.__dict__.update(columns)


class InstanceRow:
    """An instance's columns as read with its task for a change: a plain object, not the session's (about 6 % of
    a completion, as for TaskRow). It has the attributes of a ProcessInstance; its state is read when first
    asked for, as the ORM's deferred column is, and with it `active_with_state`: its open and claimed tasks
    (guid → task id) at that moment, the row locked, which a workflow rebuilt from that state needs."""

    def __init__(self, session: Session, columns: dict):
        self.__dict__.update(columns)
        self._session = session

    @property
    def state(self) -> str:
        if "_state" not in self.__dict__:
            found = _STATE.first(self._session, {"instance_id": self.id})
            self._state = found.state
            pairs = (item.split(":") for item in found.active.split(",")) if found.active else ()
            self.active_with_state = {guid: int(task_id) for guid, task_id in pairs}
        return self._state


def get_with_instance(session: Session, task_id: int) -> tuple[HumanTask | TaskRow, ProcessInstance | InstanceRow]:
    """A task and its instance in one round trip, the instance's row locked for the rest of the unit of work (the
    hot path of every completion); not again in the same transaction (the API reads them first, to check that the
    task may be seen).

    Each is a plain row (TaskRow, InstanceRow), or the session's object when the session holds it already; then
    it is brought up to date, as the ORM's `populate_existing` would."""
    held = _read_for_change(session).get(task_id)
    if held is not None:
        return held
    found = _TASK_WITH_INSTANCE_FOR_CHANGE.first(session, {"task_id": task_id})
    if found is None:
        raise NotFound(say("task.not_found", id=task_id), task_id=task_id)
    split = len(_TASK_ATTRIBUTES)
    row = _plain_or_held(session, HumanTask, TaskRow, _TASK_ATTRIBUTES, found[:split], ())
    instance = _plain_or_held(session, ProcessInstance, lambda columns: InstanceRow(session, columns),
                              _INSTANCE_ATTRIBUTES, found[split:], ["state"])
    _read_for_change(session)[task_id] = (row, instance)
    return row, instance


def _plain_or_held(session: Session, cls, plain, attributes, values, unloaded):
    columns = by_name(attributes, values)
    if session.identity_map.get(identity_key(cls, columns["id"])) is not None:
        return as_loaded(session, cls, attributes, values, unloaded)
    return plain(columns)


def refreshed(session: Session, row: HumanTask | TaskRow) -> HumanTask:
    """The task as stored now, as the session's object (read again)."""
    if isinstance(row, HumanTask):
        session.refresh(row)
        return row
    return session.get(HumanTask, row.id, populate_existing=True)


def saved(session: Session, instance: ProcessInstance | InstanceRow) -> None:
    """The instance's row has been written: what was read of it, and of its tasks, is read again when next asked
    for (the lock is still held: a later read takes it again at no cost)."""
    held = _read_for_change(session)
    for task_id in [t for t, (_row, read) in held.items() if read.id == instance.id]:
        del held[task_id]
    if isinstance(instance, ProcessInstance):
        session.expire(instance)


def _read_for_change(session: Session) -> dict[int, tuple]:
    # Locks end with their transaction: what was read locked (task id → task, instance) is kept with it.
    return per_transaction(session, "smflow_read_for_change", dict)


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
    kinds, values = _grant_shape(actor)
    return _grant_terms(kinds, values)


def _grant_shape(actor: Actor) -> tuple[tuple[str, ...], dict]:
    """The kinds of the actor's grants in a fixed order, and the values that fill them in.

    The inbox's statements depend only on the kinds, so they are built once per kind of user (building
    one costs more than running it) and filled in with the values."""
    kinds, values = [], {"g_login": actor.login}
    for n, (role, scope) in enumerate(sorted(actor.grants)):
        if role == ADMIN_ROLE:
            kinds.append("admin")
        elif scope == ANY:
            kinds.append("role")
            values[f"g_role{n}"] = role
        else:
            kinds.append("scope")
            values.update({f"g_role{n}": role, f"g_scope{n}": scope, f"g_under{n}": scope + "/",
                           f"g_after{n}": scope + "0"})
    return tuple(kinds), values


def _grant_terms(kinds: tuple[str, ...], values: dict | None = None) -> list:
    def value(name: str):
        return bindparam(name, values[name]) if values is not None else bindparam(name)

    reachable = []
    for n, kind in enumerate(kinds):
        if kind == "admin":
            reachable.append(HumanTask.role == ANY)  # tasks in no lane
        elif kind == "role":
            reachable.append(HumanTask.role == value(f"g_role{n}"))
        else:
            # The scope itself, and everything under "scope/" as a range ("/" + 1 is "0"), so that both are
            # searches of the (state, role, scope) index; byte order: scope is COLLATE "C" on PostgreSQL.
            role = HumanTask.role == value(f"g_role{n}")
            reachable.append(and_(role, HumanTask.scope == value(f"g_scope{n}")))
            reachable.append(and_(role, HumanTask.scope >= value(f"g_under{n}"),
                                  HumanTask.scope < value(f"g_after{n}")))
    return reachable


def _inbox_term_list(kinds: tuple[str, ...], values: dict | None = None) -> list:
    login = bindparam("g_login", values["g_login"]) if values is not None else bindparam("g_login")
    terms = [and_(HumanTask.assignee == login, HumanTask.state == CLAIMED)]
    return terms + [and_(HumanTask.state == OPEN, grant) for grant in _grant_terms(kinds, values)]


def _inbox_terms(kinds: tuple[str, ...], values: dict | None = None):
    return or_(*_inbox_term_list(kinds, values))


def inbox_filter(actor: Actor):
    """Claimed by the actor, or open in one of their roles and scopes.

    Written as a flat OR of terms that each start with equalities on an index's leading columns
    (`assignee, state` and `state, role, scope`), so both databases combine index scans instead of
    reading the whole table (SQLite's multi-index OR, PostgreSQL's BitmapOr)."""
    return _inbox_terms(*_grant_shape(actor))


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
    rows: list[tuple[TaskRow, str | None]]  # each task (without prefill, draft, submission, instructions), its key
    matching: int  # tasks that pass the filters (for paging)
    counts: InboxCounts  # over the whole inbox, ignoring filters
    steps: list[dict] = field(default_factory=list)  # process_id, process_name, element_id, step, name, count

    @property
    def process_names(self) -> dict[str, str]:
        """Process id → its newest version's name, for every process in the inbox (so every row's)."""
        return {s["process_id"]: s["process_name"] or s["process_id"] for s in self.steps}


def _due_condition(due: str | None):
    """Filled in with "now" and "soon" (now + DUE_SOON) by `_moment`."""
    now, soon = bindparam("now", type_=HumanTask.due_at.type), bindparam("soon", type_=HumanTask.due_at.type)
    if due == "overdue":
        return and_(HumanTask.due_at.is_not(None), HumanTask.due_at < now)
    if due == "soon":
        return and_(HumanTask.due_at >= now, HumanTask.due_at < soon)
    if due == "none":
        return HumanTask.due_at.is_(None)
    return true()


def _moment(now: datetime) -> dict:
    return {"now": now, "soon": now + DUE_SOON}


def _order(sort: str) -> list:
    by_due = [HumanTask.due_at.is_(None), HumanTask.due_at]
    if sort == "received":
        return [HumanTask.created_at.desc(), HumanTask.id.desc()]
    if sort == "process":
        return [HumanTask.process_id, HumanTask.step, *by_due, HumanTask.id]
    return [*by_due, HumanTask.id]


def _tally(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# The name a process shows under is its newest version's; asked per group of the inbox (a handful), by
# the (process_id, version) key, so that the page needs no query of its own for the names.
_PROCESS_NAME = (select(ProcessDefinition.name).where(ProcessDefinition.process_id == HumanTask.process_id)
                 .order_by(ProcessDefinition.version.desc()).limit(1).correlate(HumanTask).scalar_subquery())
# A page's business keys by primary key, for the page's rows.
_BUSINESS_KEY = (select(ProcessInstance.business_key).where(ProcessInstance.id == HumanTask.instance_id)
                 .correlate(HumanTask).scalar_subquery())


# A list shows no prefill, draft, submission or instructions: not read (their JSON is most of a row's cost).
_LISTED = [(name, column) for name, column in _TASK_ATTRIBUTES
           if name not in ("prefill", "draft", "submitted", "documentation")]


# The inbox's statements, one per kind of user and kind of query (see _grant_shape). They run on the driver's
# cursor, into plain rows: loading the page's tasks as the ORM's objects was a sixth of an inbox request's time
# in its web process, and SQLAlchemy's execution of the counts another sixth (bench http, 8 clients).
@functools.lru_cache(maxsize=512)
def _counts_statement(kinds: tuple[str, ...]) -> DriverStatement:
    return DriverStatement(select(func.count(), *(_tally(_due_condition(due)) for due in DUE_STATES))
                           .select_from(HumanTask).where(_inbox_terms(kinds)))


@functools.lru_cache(maxsize=512)
def _steps_statement(kinds: tuple[str, ...]) -> DriverStatement:
    # Grouped by what the inbox index holds (process, element, due date), so that thousands of tasks are
    # counted from the index alone; each group's step number and name are then read from one of its tasks,
    # the newest (its id is in every index entry on SQLite).
    groups = (select(HumanTask.process_id, HumanTask.element_id, func.count().label("n"),
                     *(_tally(_due_condition(due)).label(due) for due in DUE_STATES),
                     func.max(HumanTask.id).label("newest"))
              .where(_inbox_terms(kinds)).group_by(HumanTask.process_id, HumanTask.element_id).subquery())
    return DriverStatement(
        select(groups.c.process_id, groups.c.element_id, HumanTask.step, HumanTask.name, groups.c.n,
               *(groups.c[due] for due in DUE_STATES), _PROCESS_NAME)
        .join_from(groups, HumanTask, HumanTask.id == groups.c.newest)
        .order_by(groups.c.process_id, HumanTask.step, groups.c.element_id))


def _filtered(kinds: tuple[str, ...], process: bool, element: bool, due: str | None) -> list:
    filters = [_due_condition(due)] if due else []
    if process:
        filters.append(HumanTask.process_id == bindparam("process_id"))
    if element:
        filters.append(HumanTask.element_id == bindparam("element_id"))
    if not filters:
        return [_inbox_terms(kinds)]
    # The filters go into every term of the OR, where they narrow that term's index search. Beside the OR,
    # they invited SQLite to answer them alone by skipping through the whole inbox index instead.
    return [or_(*(and_(term, *filters) for term in _inbox_term_list(kinds)))]


@functools.lru_cache(maxsize=512)
def _matching_statement(kinds: tuple[str, ...], process: bool, element: bool, due: str | None):
    return select(func.count()).select_from(HumanTask).where(*_filtered(kinds, process, element, due))


@functools.lru_cache(maxsize=512)
def _page_statement(kinds: tuple[str, ...], process: bool, element: bool, due: str | None, sort: str):
    # The page's ids are chosen first and the business keys looked up for those rows only: a key in the
    # sorted query itself would be looked up for every matching task before the sort (SQLite does).
    order = _order(sort)
    page = (select(HumanTask.id).where(*_filtered(kinds, process, element, due))
            .order_by(*order).limit(bindparam("limit")).offset(bindparam("offset")))
    return (select(*(column for _, column in _LISTED), _BUSINESS_KEY).where(HumanTask.id.in_(page))
            .order_by(*order))


@functools.lru_cache(maxsize=512)
def _page_rows(kinds: tuple[str, ...], process: bool, element: bool, due: str | None, sort: str) -> DriverStatement:
    return DriverStatement(_page_statement(kinds, process, element, due, sort))  # the statement: for EXPLAIN too


def inbox_counts(session: Session, actor: Actor, now: datetime) -> InboxCounts:
    """The menu's figures: all my tasks, overdue, due within two days, without a due date (one indexed query)."""
    kinds, values = _grant_shape(actor)
    total, overdue, soon, none = _counts_statement(kinds).first(session, {**values, **_moment(now)})
    return InboxCounts(int(total), int(overdue), int(soon), int(none))


def _steps(session: Session, grants: tuple[tuple[str, ...], dict], now: datetime) -> tuple[list[dict], InboxCounts]:
    """The processes and steps in my inbox with how many tasks each (the filters' choices), and the
    menu's counts summed from them: one pass over my tasks instead of two."""
    kinds, values = grants
    found = _steps_statement(kinds).all(session, {**values, **_moment(now)})
    steps = [{"process_id": p, "process_name": row[-1], "element_id": e, "step": s, "name": n, "count": c}
             for row in found for p, e, s, n, c in [row[:5]]]
    totals = [sum(int(row[k]) for row in found) for k in range(4, 8)]
    return steps, InboxCounts(*totals)


def _page_parameters(grants: tuple[tuple[str, ...], dict], query: InboxQuery,
                     now: datetime) -> tuple[tuple, str, dict]:
    """The page's statement shape (grant kinds, then the filters asked for), its order and its values."""
    kinds, grant_values = grants
    shape = (kinds, bool(query.process_id), bool(query.element_id), query.due if query.due in DUE_STATES else None)
    values = {**grant_values, **_moment(now), "process_id": query.process_id, "element_id": query.element_id,
              "limit": query.per_page, "offset": (max(query.page, 1) - 1) * query.per_page}
    return shape, query.sort if query.sort in SORTS else "due", values


def inbox_query(actor: Actor, query: InboxQuery, now: datetime):
    """The SELECT behind one inbox page, each task with its business key, filled in (so a test can EXPLAIN it)."""
    shape, sort, values = _page_parameters(_grant_shape(actor), query, now)
    return _page_statement(*shape, sort).params(values)


def inbox_page(session: Session, actor: Actor, query: InboxQuery, now: datetime) -> InboxPage:
    """One page of my inbox: filtered, sorted, counted; every query starts from the inbox indexes."""
    grants = _grant_shape(actor)
    shape, sort, values = _page_parameters(grants, query, now)
    split = len(_LISTED)
    rows = [(TaskRow(by_name(_LISTED, found[:split])), found[split])
            for found in _page_rows(*shape, sort).all(session, values)]
    steps, counts = _steps(session, grants, now)
    if any(shape[1:]):  # a process, step or due-date filter
        matching = int(session.scalar(_matching_statement(*shape), values) or 0)
    else:
        matching = counts.total  # no filter: the page's rows are the whole inbox
    return InboxPage(rows=rows, matching=matching, counts=counts, steps=steps)


@functools.cache
def _insert_one(columns: tuple[str, ...]) -> DriverStatement:
    return DriverStatement(insert(HumanTask.__table__).returning(HumanTask.__table__.c.id), columns)


@functools.cache
def _transition_statement(columns: tuple[str, ...], unassigned: bool):
    table = HumanTask.__table__
    holder = table.c.assignee.is_(None) if unassigned else table.c.assignee == bindparam("was_assignee")
    return DriverStatement(
        update(table).where(table.c.id == bindparam("was_id"), table.c.state == bindparam("was_state"), holder)
        .values({c: bindparam(f"new_{c}", type_=table.c[c].type) for c in columns}))


def transition(session: Session, row: HumanTask, **values) -> bool:
    """Move a task on only if its state and holder are still what `row` was read with (compare and set):
    the guard against double completions and against acting on a task someone has just claimed."""
    statement = _transition_statement(tuple(sorted(values)), row.assignee is None)
    params = {"was_id": row.id, "was_state": row.state, **{f"new_{c}": v for c, v in values.items()}}
    if row.assignee is not None:
        params["was_assignee"] = row.assignee
    return statement.rowcount(session, params) == 1


def now_stored(row: HumanTask | TaskRow, **values) -> None:
    """Tell the loaded `row` what a successful `transition` wrote, so that reading it needs no query."""
    if isinstance(row, TaskRow):
        vars(row).update(values)
        return
    for column, value in values.items():
        set_committed_value(row, column, value)


def add(session: Session, **columns) -> HumanTask:
    row = HumanTask(**columns)
    session.add(row)
    session.flush()
    return row


def add_many(session: Session, rows: list[dict]) -> list[int]:
    """Insert new tasks (dicts of the same columns) in one statement; their ids, in order."""
    if not rows:
        return []
    if len(rows) == 1:  # the usual case: on the driver's cursor (driver_statements)
        return [_insert_one(tuple(rows[0])).first(session, rows[0]).id]
    return list(session.scalars(_INSERT, rows))


def active_guids(session: Session, instance_id: int) -> dict[str, int]:
    """The open and claimed tasks of an instance: task guid → task id."""
    return dict(_ACTIVE_GUIDS.all(session, {"instance_id": instance_id}))


def cancel(session: Session, task_ids: list[int], at: datetime) -> None:
    """Cancel active tasks the workflow no longer waits for."""
    if task_ids:
        session.execute(_CANCEL, {"ids": list(task_ids), "at": at})
