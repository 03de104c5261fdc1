"""The inbox query on 100,000 open tasks: right rows, right counts, and index plans on both databases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from helpers import plans_of
from sqlalchemy import insert

from engine.routing import Actor, holds
from engine.store import tasks
from engine.store.models import BpmnFile, ProcessDefinition, ProcessInstance

NOW = datetime(2027, 4, 2, 1, 0, tzinfo=UTC)
REGIONS = {"华北": ["北京办事处", "天津办事处", "石家庄办事处"], "华东": ["上海办事处", "南京办事处", "杭州办事处"],
           "华南": ["广州办事处", "深圳办事处"], "华中": ["武汉办事处", "长沙办事处"],
           "西南": ["成都办事处", "重庆办事处"], "西北": ["西安办事处", "兰州办事处"]}
OFFICE_SCOPES = [f"{r}/{o}" for r, offices in REGIONS.items() for o in offices]
# role → the scopes its tasks are in
ROLES = {"办事处": OFFICE_SCOPES, "渠道经理": OFFICE_SCOPES, "大区经理": list(REGIONS) + OFFICE_SCOPES,
         "计划部": ["*"], "财务部": ["*"], "市场总监": ["*"], "销售总监": list(REGIONS), "生产部": ["*"],
         "供应部": ["*"], "客户服务部": list(REGIONS)}
PROCESSES = {"SM1_3": [("Task_3", "3", "制定本地区本渠道销售计划"), ("Task_4", "4", "初审区内销售预测")],
             "SM2_1": [("Task_1", "1", "客户资信调查"), ("Task_5", "5", "审批客户")],
             "SM1_1": [("Task_12", "12", "分解区域销售目标")]}
OPEN_TASKS = 100_000
RM = Actor("rm_huabei", "罗平", frozenset({("大区经理", "华北")}))


def _build(env) -> list[dict]:
    """A bpmn file, 3 definitions, 2,000 instances and 100,000 open tasks, by bulk insert."""
    rnd = random.Random(4)
    rows = []
    for n in range(1, OPEN_TASKS + 1):
        role = rnd.choice(list(ROLES))
        process_id = rnd.choice(list(PROCESSES))
        element_id, step, name = rnd.choice(PROCESSES[process_id])
        due = rnd.choice([None, NOW - timedelta(days=rnd.randint(1, 9)), NOW + timedelta(hours=rnd.randint(1, 47)),
                          NOW + timedelta(days=rnd.randint(3, 30))])
        claimed = n % 97 == 0
        rows.append({"id": n, "task_guid": f"guid-{n}", "instance_id": rnd.randint(1, 2000), "process_id": process_id,
                     "element_id": element_id, "step": step, "name": name, "role": role,
                     "scope": rnd.choice(ROLES[role]), "state": "claimed" if claimed else "open",
                     "assignee": rnd.choice(["rm_huabei", "someone"]) if claimed else None, "due_at": due,
                     "created_at": NOW - timedelta(minutes=n)})

    def work(s):
        s.add(BpmnFile(sha256="0" * 64, filename="x.bpmn", content=b"<x/>", uploaded_at=NOW))
        s.flush()
        for number, pid in enumerate(PROCESSES, start=1):
            s.add(ProcessDefinition(id=number, process_id=pid, version=1, name=pid, executable=True,
                                    file_sha256="0" * 64, deployed_at=NOW))
        s.flush()
        s.execute(insert(ProcessInstance), [
            {"id": i, "definition_id": 1, "process_id": "SM1_3", "version": 1, "status": "running", "state": "{}",
             "revision": 1, "business_key": f"2027-04 计划 {i}", "started_at": NOW} for i in range(1, 2001)])

    env.tx(work)
    _bulk_insert(env, rows)
    with env.db.begin() as conn:  # planner statistics, as a database in use has them
        conn.exec_driver_sql("ANALYZE")
    return rows


def _bulk_insert(env, rows: list[dict]) -> None:
    """100,000 rows through the driver itself (COPY on PostgreSQL): seconds less than the ORM's executemany."""
    columns = list(rows[0])
    raw = env.db.raw_connection()
    try:
        cursor = raw.cursor()
        if env.db.dialect.name == "postgresql":
            with cursor.copy(f"COPY human_task ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
        else:
            def stored(value):  # what UtcDateTime stores on SQLite: naive UTC text
                return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value

            marks = ", ".join("?" * len(columns))
            cursor.execute("BEGIN")  # the engine's SQLite connections are in autocommit mode: one transaction
            cursor.executemany(f"INSERT INTO human_task ({', '.join(columns)}) VALUES ({marks})",
                               [[stored(row[c]) for c in columns] for row in rows])
        raw.commit()
    finally:
        raw.close()


def _mine(rows: list[dict], actor: Actor) -> list[dict]:
    return [r for r in rows if (r["state"] == "claimed" and r["assignee"] == actor.login)
            or (r["state"] == "open" and holds(actor, r["role"], r["scope"]))]


def _due_key(r: dict):
    return (r["due_at"] is None, r["due_at"] or NOW, r["id"])


def test_inbox_on_100k_open_tasks_is_right_and_uses_the_indexes(env):
    rows = _build(env)
    mine = _mine(rows, RM)
    assert 500 < len(mine) < 5000  # a realistic share, not a trivial one

    page = env.tx(lambda s: tasks.inbox_page(s, RM, tasks.InboxQuery(per_page=25), NOW))
    assert page.matching == len(mine)
    assert [t.id for t, _ in page.rows] == [r["id"] for r in sorted(mine, key=_due_key)[:25]]
    assert all(key == f"2027-04 计划 {t.instance_id}" for t, key in page.rows)
    overdue = [r for r in mine if r["due_at"] and r["due_at"] < NOW]
    soon = [r for r in mine if r["due_at"] and NOW <= r["due_at"] < NOW + timedelta(days=2)]
    assert (page.counts.total, page.counts.overdue, page.counts.due_soon, page.counts.no_due) == (
        len(mine), len(overdue), len(soon), sum(r["due_at"] is None for r in mine))
    assert sum(s["count"] for s in page.steps) == len(mine)
    assert {(s["process_id"], s["element_id"]) for s in page.steps} == {
        (r["process_id"], r["element_id"]) for r in mine}

    query = tasks.InboxQuery(process_id="SM1_3", element_id="Task_4", due="overdue", sort="received", page=3,
                             per_page=10)
    filtered = env.tx(lambda s: tasks.inbox_page(s, RM, query, NOW))
    expected = sorted([r for r in overdue if (r["process_id"], r["element_id"]) == ("SM1_3", "Task_4")],
                      key=lambda r: (r["created_at"], r["id"]), reverse=True)
    assert filtered.matching == len(expected)
    assert [t.id for t, _ in filtered.rows] == [r["id"] for r in expected[20:30]]
    assert filtered.counts == page.counts  # the menu's figures ignore the filters

    claimed = [r["id"] for r in mine if r["state"] == "claimed"]
    assert claimed and set(claimed) <= {t.id for t in env.tx(lambda s: tasks.inbox(s, RM))}
    assert all(holds(RM, r["role"], r["scope"]) for r in mine if r["state"] == "open")

    plans = plans_of(env, lambda s: tasks.inbox_page(s, RM, query, NOW), "human_task")
    assert len(plans) == 3  # the page, its count, the filter choices with the menu counts
    for plan in plans:
        assert "ix_human_task_inbox" in plan and "ix_human_task_assignee" in plan, plan
        if env.db.dialect.name == "sqlite":
            assert "SCAN human_task" not in plan, plan
        else:
            assert "Seq Scan on human_task" not in plan, plan
