"""流程实例's queries on 3,000 instances: the counts per (process, status) and a page filtered by both are
right, and both read ix_process_instance_process_status instead of every row (state included) on both
databases. A staff member's count and page are right too, and find the instances they started by searching
ix_process_instance_started_by, not by testing started_by on every row."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

from helpers import plans_of
from sqlalchemy import insert

from engine.routing import Actor
from engine.store import instances
from engine.store.models import BpmnFile, HumanTask, ProcessDefinition, ProcessInstance

NOW = datetime(2027, 4, 2, 1, 0, tzinfo=UTC)
PROCESSES = [f"SM{n}" for n in range(1, 13)]
STATUSES = ("running", "completed", "cancelled")
INSTANCES = 3_000
ADMIN = Actor("admin", "系统管理员", frozenset({("admin", "*")}))
INDEX = "ix_process_instance_process_status"
STARTERS = [f"u{n}" for n in range(29)] + ["bj"]  # bj started one instance in 30
OFFICES = [f"{region}/{city}办事处" for region, city in
           [("华北", "北京"), ("华北", "天津"), ("华东", "上海"), ("华东", "南京"), ("华南", "广州"), ("西南", "成都")]]
BJ = Actor("bj", "宋晓东", frozenset({("办事处", "华北/北京办事处")}))
STARTED_BY = "ix_process_instance_started_by"
TABLE = "process_instance"
# A state of a short process, kept in the row itself (under PostgreSQL's TOAST threshold): a scan of the
# table would read it, the index does not.
STATE = '{"tasks": [' + ", ".join(f'{{"id": "{n:032x}", "state": 64}}' for n in range(35)) + "]}"


def _build(env) -> list[dict]:
    """12 definitions and 3,000 instances by bulk insert, started by 30 people, each with one task of an office
    (done by someone at random); planner statistics as autovacuum leaves them."""
    rnd = random.Random(9)
    rows = [{"id": i, "definition_id": PROCESSES.index(p) + 1, "process_id": p, "version": 1, "status": s,
             "state": STATE, "revision": 1, "business_key": f"k{i}", "started_by": STARTERS[i % 30],
             "started_at": NOW, "office": rnd.choice(OFFICES), "done_by": rnd.choice(STARTERS)}
            for i in range(1, INSTANCES + 1)
            for p, s in [(rnd.choice(PROCESSES), rnd.choices(STATUSES, (15, 80, 5))[0])]]
    tasks = [{"id": r["id"], "task_guid": f"{r['id']:036d}", "instance_id": r["id"], "process_id": r["process_id"],
              "element_id": "request", "name": "1 提交", "role": "办事处", "scope": r["office"], "state": "completed",
              "assignee": r["done_by"], "completed_by": r["done_by"], "created_at": NOW} for r in rows]

    def work(s):
        s.add(BpmnFile(sha256="0" * 64, filename="x.bpmn", content=b"<x/>", uploaded_at=NOW))
        s.flush()
        s.execute(insert(ProcessDefinition), [
            {"id": n, "process_id": p, "version": 1, "name": p, "executable": True, "file_sha256": "0" * 64,
             "deployed_at": NOW} for n, p in enumerate(PROCESSES, start=1)])
        s.execute(insert(ProcessInstance), [{k: v for k, v in r.items() if k not in ("office", "done_by")}
                                            for r in rows])
        s.execute(insert(HumanTask), tasks)

    env.tx(work)
    if env.db.dialect.name == "postgresql":  # an index-only scan needs the visibility map VACUUM writes
        with env.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE process_instance")
            conn.exec_driver_sql("VACUUM ANALYZE human_task")
    return rows


def test_the_counts_per_process_and_status_read_the_index_alone(env):
    rows = _build(env)
    counts = env.tx(lambda s: instances.visible_counts(s, ADMIN))
    assert counts == Counter((r["process_id"], r["status"]) for r in rows)
    assert len(counts) == len(PROCESSES) * len(STATUSES)

    (plan,) = plans_of(env, lambda s: instances.visible_counts(s, ADMIN), TABLE)
    if env.db.dialect.name == "sqlite":
        assert plan == f"SCAN process_instance USING COVERING INDEX {INDEX}", plan
    else:
        assert f"Index Only Scan using {INDEX} on process_instance" in plan, plan
        assert "Seq Scan" not in plan, plan


def test_a_page_filtered_by_process_and_status_searches_the_index(env):
    rows = _build(env)
    matching = sorted((r["id"] for r in rows if (r["process_id"], r["status"]) == ("SM3", "cancelled")),
                      reverse=True)
    assert len(matching) > 10

    def page(s):
        return [i.id for i, _, _ in instances.visible_page(s, ADMIN, set(), 5, 5, "SM3", "cancelled")]

    assert env.tx(page) == matching[5:10]
    (plan,) = plans_of(env, page, TABLE)
    if env.db.dialect.name == "sqlite":
        assert f"SEARCH process_instance USING INDEX {INDEX} (process_id=? AND status=?)" in plan, plan
    else:
        assert f"Index Scan on {INDEX}" in plan or f"Index Scan using {INDEX}" in plan, plan
        assert "Seq Scan on process_instance" not in plan, plan


def _seen_by_bj(rows: list[dict]) -> list[dict]:
    """Who sees what, spelled out: bj started it, or did its task, or its task is of 北京办事处."""
    return [r for r in rows if "bj" in (r["started_by"], r["done_by"]) or r["office"] == "华北/北京办事处"]


def _started_by_searched(env, plan: str) -> bool:
    """The plan finds bj's own instances by searching ix_process_instance_started_by, and tests started_by on no
    row it reads otherwise."""
    if env.db.dialect.name == "sqlite":
        return (f"SEARCH process_instance USING COVERING INDEX {STARTED_BY} (started_by=?)" in plan
                and "SCAN process_instance" not in plan)
    searched = any(f"{scan} {STARTED_BY}" in plan for scan in
                   ("Bitmap Index Scan on", "Index Only Scan using", "Index Scan using"))
    return searched and not any("Filter:" in line and "started_by" in line for line in plan.splitlines())


def test_a_staff_members_count_and_page_search_the_instances_they_started(env):
    seen = _seen_by_bj(_build(env))
    assert 100 < len(seen) < 1_000  # some started, some done, some of the office, most not bj's at all
    newest = sorted((r["id"] for r in seen), reverse=True)

    def page(s):
        return [i.id for i, _, _ in instances.visible_page(s, BJ, set(), 5, 5)]

    assert env.tx(lambda s: instances.visible_counts(s, BJ)) == Counter((r["process_id"], r["status"]) for r in seen)
    assert env.tx(page) == newest[5:10]
    (count_plan,) = plans_of(env, lambda s: instances.visible_counts(s, BJ), TABLE)
    (page_plan,) = plans_of(env, page, TABLE)
    assert _started_by_searched(env, count_plan), count_plan
    assert _started_by_searched(env, page_plan), page_plan
