"""Part 4, the inbox at scale: 100,000 open tasks, 10,000 users, a realistic spread of roles and scopes.

The organisation: 8 regions × 25 offices, 8 product lines, 9 company-wide roles. Users: mostly office
representatives (办事处, scope region/office, ~48 per office, 5 % of them covering a second office),
240 channel managers and 24 regional managers (scope region), 40 product managers, 45 holders of the
company roles, 5 administrators. Open tasks: 55 % office tasks, 20 % channel tasks scoped to an office
(reached through the region's prefix), 10 % region, 5 % product line, 8 % company-wide, 2 % lane-less
(administrators); 60 % have a due date within ±20 days. Besides them, 5,000 claimed tasks and 100,000
completed ones (the history every inbox query must skip).

Timed, through the store's public inbox functions: one inbox page (page 1, the default order) and the
counts, for a sample of users of every kind; the report shows the query plans.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from .common import database, migrated, percentile, progress

REGIONS = ["华北", "华东", "华南", "华中", "西南", "西北", "东北", "华西"]
OFFICES_PER_REGION = 25
PRODUCT_LINES = ["心脑血管", "抗感染", "消化系统", "呼吸系统", "中药注射剂", "儿科用药", "妇科用药", "保健品"]
COMPANY_ROLES = ["营销副总", "决策层", "计划部", "市场总监", "销售总监", "销售拓展部", "财务部", "生产部", "供应部"]
TASK_MIX = [("办事处", 0.55), ("渠道经理", 0.20), ("大区经理", 0.10), ("产品经理", 0.05), ("company", 0.08),
            ("admin", 0.02)]
BATCH = 5000


def _offices() -> list[str]:
    return [f"{r}/办事处{n:02d}" for r in REGIONS for n in range(1, OFFICES_PER_REGION + 1)]


def people(users: int, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """login → grants."""
    offices = _offices()
    out: dict[str, list[tuple[str, str]]] = {}
    for n in range(5):
        out[f"admin{n}"] = [("admin", "*")]
    for role in COMPANY_ROLES:
        for n in range(5):
            out[f"hq_{COMPANY_ROLES.index(role)}_{n}"] = [(role, "*")]
    for line in PRODUCT_LINES:
        for n in range(5):
            out[f"pm_{PRODUCT_LINES.index(line)}_{n}"] = [("产品经理", line)]
    for region in REGIONS:
        for n in range(3):
            out[f"rm_{REGIONS.index(region)}_{n}"] = [("大区经理", region)]
        for n in range(30):
            grants = [("渠道经理", region)]
            if n < 2:  # a few cover a neighbouring region too
                grants.append(("渠道经理", REGIONS[(REGIONS.index(region) + 1) % len(REGIONS)]))
            out[f"cm_{REGIONS.index(region)}_{n}"] = grants
    n = 0
    while len(out) < users:
        office = offices[n % len(offices)]
        grants = [("办事处", office)]
        if rng.random() < 0.05:
            grants.append(("办事处", rng.choice(offices)))
        out[f"rep{n:05d}"] = sorted(set(grants))
        n += 1
    return out


def _task_route(kind: str, rng: random.Random, offices: list[str]) -> tuple[str, str]:
    if kind == "办事处":
        return "办事处", rng.choice(offices)
    if kind == "渠道经理":
        return "渠道经理", rng.choice(offices)
    if kind == "大区经理":
        return "大区经理", rng.choice(REGIONS)
    if kind == "产品经理":
        return "产品经理", rng.choice(PRODUCT_LINES)
    if kind == "company":
        return rng.choice(COMPANY_ROLES), "*"
    return "*", "*"


def populate(sessions, engine, tasks: int, users: int, rng: random.Random) -> dict:
    """Users, grants, instances and tasks by bulk inserts (the engine would take hours to make 200,000 tasks)."""
    from engine.store.models import Grant, HumanTask, ProcessDefinition, ProcessInstance, User
    from engine.store.unit_of_work import in_transaction

    from .processes import sequential

    in_transaction(sessions, lambda s: engine.deploy(s, sequential(), "bench20.bpmn", None))
    definition_id = in_transaction(sessions, lambda s: s.scalar(select(ProcessDefinition.id)))
    grants = people(users, rng)
    now = datetime.now(UTC)

    def write(table, rows):
        for start in range(0, len(rows), BATCH):
            in_transaction(sessions, lambda s, chunk=rows[start:start + BATCH]: s.execute(insert(table), chunk))

    write(User.__table__, [{"login": login, "name": f"用户{login}", "password_hash": None, "active": True}
                           for login in grants])
    write(Grant.__table__, [{"login": login, "role": role, "scope": scope}
                            for login, gs in grants.items() for role, scope in gs])
    progress(f"收件箱: {len(grants)} 个用户, {sum(len(g) for g in grants.values())} 项授权")
    instances = max(1, (tasks * 2 + 5000) // 10)
    write(ProcessInstance.__table__, [
        {"definition_id": definition_id, "process_id": "bench20", "version": 1, "status": "running", "state": "{}",
         "revision": 1, "business_key": f"BK-{n}", "started_by": "admin0", "started_at": now}
        for n in range(instances)])
    first_instance = in_transaction(sessions, lambda s: s.scalar(select(func.min(ProcessInstance.id))))
    offices = _offices()
    logins = list(grants)
    kinds = [k for k, _ in TASK_MIX]
    weights = [w for _, w in TASK_MIX]

    def task_rows(count: int, state: str):
        rows = []
        for _ in range(count):
            role, scope = _task_route(rng.choices(kinds, weights)[0], rng, offices)
            step = rng.randint(1, 20)
            due = now + timedelta(hours=rng.uniform(-480, 480)) if rng.random() < 0.6 else None
            created = now - timedelta(hours=rng.uniform(0, 720))
            row = {"task_guid": str(uuid.UUID(int=rng.getrandbits(128))),
                   "instance_id": first_instance + rng.randrange(instances), "process_id": "bench20",
                   "element_id": f"t{step}", "step": str(step), "name": f"{step} 第{step}步", "documentation": None,
                   "lane": role, "role": role, "scope": scope, "state": state, "assignee": None, "due_at": due,
                   "form": None, "prefill": None, "draft": None, "submitted": None, "created_at": created,
                   "claimed_at": None, "completed_by": None, "completed_at": None}
            if state == "claimed":
                row.update(assignee=rng.choice(logins), claimed_at=now)
            elif state == "completed":
                row.update(assignee=rng.choice(logins), completed_by=row["assignee"], completed_at=now)
            rows.append(row)
        return rows

    for state, count in (("open", tasks), ("claimed", max(1, tasks // 20)), ("completed", tasks)):
        for start in range(0, count, 20_000):
            write(HumanTask.__table__, task_rows(min(20_000, count - start), state))
            progress(f"收件箱: {state} 任务 {min(start + 20_000, count)}/{count}")
    return grants


def sample_users(grants: dict, rng: random.Random, per_kind: int = 6) -> list[tuple[str, str]]:
    """(kind, login): users of every kind, including ones with two grants."""
    kinds: dict[str, list[str]] = {}
    for login, gs in grants.items():
        kind = {"admin": "管理员", "产品经理": "产品经理", "大区经理": "大区经理", "渠道经理": "渠道经理",
                "办事处": "办事处"}.get(gs[0][0], "公司级角色")
        if len(gs) > 1:
            kind += " (多项授权)"
        kinds.setdefault(kind, []).append(login)
    return [(kind, login) for kind, logins in sorted(kinds.items())
            for login in rng.sample(logins, min(per_kind, len(logins)))]


def _page_function():
    """The store's inbox page (filters, counts, paging) when it exists, else the plain inbox list."""
    from engine.store import tasks

    if hasattr(tasks, "inbox_page") and hasattr(tasks, "InboxQuery"):
        return "tasks.inbox_page(page 1)", lambda s, actor, now: tasks.inbox_page(s, actor, tasks.InboxQuery(), now)
    return "tasks.inbox", lambda s, actor, now: tasks.inbox(s, actor)


def _counts_function():
    from engine.store import tasks

    if hasattr(tasks, "inbox_counts"):
        return "tasks.inbox_counts", lambda s, actor, now: tasks.inbox_counts(s, actor, now)
    return None


def _statements(actor, now):
    """The SELECTs to EXPLAIN: the page query and the counts."""
    from engine.store import tasks
    from engine.store.models import HumanTask

    out = []
    if hasattr(tasks, "inbox_query"):
        out.append(("inbox page", tasks.inbox_query(actor, tasks.InboxQuery(), now)))
    elif hasattr(tasks, "inbox_filter"):
        out.append(("inbox", select(HumanTask).where(tasks.inbox_filter(actor)).order_by(HumanTask.id)))
    if hasattr(tasks, "inbox_filter"):
        out.append(("counts", select(func.count()).select_from(HumanTask).where(tasks.inbox_filter(actor))))
    return out


def explain(session, statement) -> str:
    """The database's plan for a statement, with the statement's own parameters."""
    bind = session.get_bind()
    dialect = bind.dialect
    compiled = statement.compile(dialect=dialect)
    params = compiled.construct_params()
    processors = compiled._bind_processors
    values = {k: processors[k](v) if k in processors else v for k, v in params.items()}
    sql = compiled.string
    args = tuple(values[k] for k in compiled.positiontup) if compiled.positional else values
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    rows = session.connection().exec_driver_sql(prefix + sql, args).all()
    if dialect.name == "postgresql":
        return "\n".join(r[0] for r in rows)
    return "\n".join(f"{r[0]:>3} {r[1]:>3} {r[-1]}" for r in rows)


def measure(url: str, kind: str, tasks: int, users: int, samples: int) -> dict:
    from engine import Engine
    from engine.store import org
    from engine.store.db import make_session_factory
    from engine.store.unit_of_work import in_transaction
    from handlers import default_registry

    rng = random.Random(8)
    db = migrated(url)
    sessions = make_session_factory(db)
    engine = Engine(default_registry())
    started = time.perf_counter()
    grants = populate(sessions, engine, tasks, users, rng)
    with db.connect() as conn:  # fresh statistics, as autovacuum (PostgreSQL) or `smflow db` upkeep would give
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    load_s = time.perf_counter() - started
    who = sample_users(grants, rng)
    now = datetime.now(UTC)
    functions = [_page_function(), _counts_function()]
    functions = [f for f in functions if f is not None]
    out = {"tasks": tasks, "users": len(grants), "load_s": load_s, "queries": {}, "by_kind": {}, "plans": {}}
    actors = {login: in_transaction(sessions, lambda s, x=login: org.actor(s, x)) for _, login in who}
    for name, fn in functions:
        fn_timings = []
        rows_seen = []
        for _ in range(2):  # warm the caches (the database's and SQLAlchemy's statement cache)
            in_transaction(sessions, lambda s, a=actors[who[0][1]], f=fn: f(s, a, now))
        for n in range(samples):
            kind_name, login = who[n % len(who)]
            with sessions() as session:
                began = time.perf_counter()
                result = fn(session, actors[login], now)
                spent = time.perf_counter() - began
            fn_timings.append(spent)
            out["by_kind"].setdefault(name, {}).setdefault(kind_name, []).append(spent * 1e3)
            size = getattr(result, "matching", None)
            rows_seen.append(size if size is not None else len(result) if isinstance(result, list)
                             else getattr(result, "total", 0))
        ms = [t * 1e3 for t in fn_timings]
        out["queries"][name] = {"n": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
                                "p99_ms": percentile(ms, 99), "max_ms": max(ms),
                                "mean_rows": sum(rows_seen) / len(rows_seen)}
        progress(f"收件箱 {kind}: {name} p95 {percentile(ms, 95):.1f} ms")
    out["by_kind"] = {name: {k: {"p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95), "n": len(v)}
                             for k, v in kinds.items()} for name, kinds in out["by_kind"].items()}
    # Plans for a typical office representative and for a user with several grants.
    for kind_name, login in [next((w for w in who if w[0] == "办事处"), who[0]),
                             next((w for w in who if "多项授权" in w[0]), who[0])]:
        for label, statement in _statements(actors[login], now):
            with sessions() as session:
                try:
                    out["plans"][f"{label} — {kind_name} ({login}, {len(actors[login].grants)} 项授权)"] = \
                        explain(session, statement)
                except Exception as exc:  # noqa: BLE001 - the report says why the plan is missing
                    out["plans"][f"{label} — {kind_name}"] = f"(不可用: {type(exc).__name__}: {exc})"
    db.dispose()
    return out


def run(tasks: int = 100_000, users: int = 10_000, samples: int = 200, databases=("sqlite", "postgresql")) -> dict:
    results = {}
    for kind in databases:
        with database(kind) as url:
            progress(f"收件箱 {kind}: 生成 {tasks} 项待办, {users} 个用户")
            results[kind] = measure(url, kind, tasks, users, samples)
    return results
