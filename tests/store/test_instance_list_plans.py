"""流程实例's queries on 3,000 instances: the counts per (process, status) and a page filtered by both are
right, and both read ix_process_instance_process_status instead of every row (state included) on both
databases."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import event, insert

from engine.routing import Actor
from engine.store import instances
from engine.store.models import BpmnFile, ProcessDefinition, ProcessInstance

NOW = datetime(2027, 4, 2, 1, 0, tzinfo=UTC)
PROCESSES = [f"SM{n}" for n in range(1, 13)]
STATUSES = ("running", "completed", "cancelled")
INSTANCES = 3_000
ADMIN = Actor("admin", "系统管理员", frozenset({("admin", "*")}))
INDEX = "ix_process_instance_process_status"
# A state of a short process, kept in the row itself (under PostgreSQL's TOAST threshold): a scan of the
# table would read it, the index does not.
STATE = '{"tasks": [' + ", ".join(f'{{"id": "{n:032x}", "state": 64}}' for n in range(35)) + "]}"


def _build(env) -> list[dict]:
    """12 definitions and 3,000 instances by bulk insert; planner statistics as autovacuum leaves them."""
    rnd = random.Random(9)
    rows = [{"id": i, "definition_id": PROCESSES.index(p) + 1, "process_id": p, "version": 1, "status": s,
             "state": STATE, "revision": 1, "business_key": f"k{i}", "started_by": "bj", "started_at": NOW}
            for i in range(1, INSTANCES + 1)
            for p, s in [(rnd.choice(PROCESSES), rnd.choices(STATUSES, (15, 80, 5))[0])]]

    def work(s):
        s.add(BpmnFile(sha256="0" * 64, filename="x.bpmn", content=b"<x/>", uploaded_at=NOW))
        s.flush()
        s.execute(insert(ProcessDefinition), [
            {"id": n, "process_id": p, "version": 1, "name": p, "executable": True, "file_sha256": "0" * 64,
             "deployed_at": NOW} for n, p in enumerate(PROCESSES, start=1)])
        s.execute(insert(ProcessInstance), rows)

    env.tx(work)
    if env.db.dialect.name == "postgresql":  # an index-only scan needs the visibility map VACUUM writes
        with env.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE process_instance")
    return rows


def _plans(env, work) -> list[str]:
    """Run `work(session)` and return the plan of every SELECT on process_instance it sent."""
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "process_instance" in statement:
            sent.append((statement, parameters))

    event.listen(env.db, "before_cursor_execute", record)
    try:
        env.tx(work)
    finally:
        event.remove(env.db, "before_cursor_execute", record)
    prefix = "EXPLAIN QUERY PLAN " if env.db.dialect.name == "sqlite" else "EXPLAIN "
    with env.db.connect() as conn:
        return ["\n".join(str(r[-1]) for r in conn.exec_driver_sql(prefix + statement, parameters).all())
                for statement, parameters in sent]


def test_the_counts_per_process_and_status_read_the_index_alone(env):
    rows = _build(env)
    counts = env.tx(lambda s: instances.visible_counts(s, ADMIN))
    assert counts == Counter((r["process_id"], r["status"]) for r in rows)
    assert len(counts) == len(PROCESSES) * len(STATUSES)

    (plan,) = _plans(env, lambda s: instances.visible_counts(s, ADMIN))
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
    (plan,) = _plans(env, page)
    if env.db.dialect.name == "sqlite":
        assert f"SEARCH process_instance USING INDEX {INDEX} (process_id=? AND status=?)" in plan, plan
    else:
        assert f"Index Scan on {INDEX}" in plan or f"Index Scan using {INDEX}" in plan, plan
        assert "Seq Scan on process_instance" not in plan, plan
