"""Part 2, growth: time per completion and stored bytes as one instance grows.

- Multi-instance: one parallel multi-instance user task over 10, 100 and 1,000 items (all open at once),
  then a closing task. Active tasks fall from N to 0 while the history grows from 0 to N.
- Loop: one user task taken 1, 10 and 100 times (one active task, a growing history); also run in memory
  by bare SpiffWorkflow, whose own step grows with the history too.

Stored bytes per instance: the state text (and the history stored apart from it) plus the instance's
human-task and audit rows as written (JSON columns as their JSON text, other columns as their text),
measured after the instance ended.
"""

from __future__ import annotations

import json
import statistics
import time

from sqlalchemy import select

from .common import database, migrated, progress
from .processes import LANE, loop, multi_instance

# Above this many items only the first SAMPLE completions are timed (and the bytes are those after them):
# SpiffWorkflow gives every multi-instance child a copy of the whole data, so one completion of a
# 1,000-item instance costs seconds and all of them would take the better part of an hour.
SAMPLE_ABOVE = 200
SAMPLE = 30


def _row_bytes(row, columns) -> int:
    total = 0
    for column in columns:
        value = getattr(row, column.key)
        if value is None:
            continue
        total += len(json.dumps(value, ensure_ascii=False).encode() if isinstance(value, (dict, list))
                     else str(value).encode())
    return total


def stored_bytes(session, instance_id: int) -> dict:
    from engine.store import instances
    from engine.store.models import Event, HumanTask, ProcessInstance

    instance = session.get(ProcessInstance, instance_id)
    tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)))
    events = list(session.scalars(select(Event).where(Event.instance_id == instance_id)))
    state = len(instance.state.encode()) + sum(len(text.encode()) for text in instances.history(session, instance_id))
    task_bytes = sum(_row_bytes(t, HumanTask.__table__.columns) for t in tasks)
    event_bytes = sum(_row_bytes(e, Event.__table__.columns) for e in events)
    return {"state_bytes": state, "task_rows": len(tasks), "task_bytes": task_bytes, "event_rows": len(events),
            "event_bytes": event_bytes, "total_bytes": state + task_bytes + event_bytes}


def _open_tasks(session, instance_id: int) -> list[tuple[int, str]]:
    from engine.store.models import HumanTask

    return list(session.execute(select(HumanTask.id, HumanTask.element_id).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "open").order_by(HumanTask.id)).all())


def _series(timings: list[float]) -> dict:
    ms = [t * 1e3 for t in timings]
    tenth = max(1, len(ms) // 10)
    # The tenths' medians beside their means: a few slow completions (a full garbage collection, a batch of
    # history written) move a mean, not the time a completion usually takes.
    return {"completions": len(ms), "mean_ms": statistics.fmean(ms), "median_ms": statistics.median(ms),
            "first_tenth_ms": statistics.fmean(ms[:tenth]), "last_tenth_ms": statistics.fmean(ms[-tenth:]),
            "first_tenth_p50_ms": statistics.median(ms[:tenth]), "last_tenth_p50_ms": statistics.median(ms[-tenth:]),
            "max_ms": max(ms)}


def _complete_all(sessions, engine, instance_id: int, value,
                  limit: int | None = None) -> tuple[list[float], list[float]]:
    """Complete open tasks until none is left (or `limit` completions); returns (each completion's seconds,
    the closing task's seconds)."""
    from engine.store.unit_of_work import in_transaction

    timings, closing = [], []
    while True:
        open_now = in_transaction(sessions, lambda s: _open_tasks(s, instance_id))
        if not open_now or (limit is not None and len(timings) >= limit):
            return timings, closing
        if limit is not None:
            open_now = open_now[:limit - len(timings)]
        for n, (task_id, element_id) in enumerate(open_now, start=1):
            data = {"total": 1} if element_id == "close" else value(len(timings) + 1)
            started = time.perf_counter()
            in_transaction(sessions, lambda s, t=task_id, d=data: engine.complete(s, t, "p", d))
            (closing if element_id == "close" else timings).append(time.perf_counter() - started)
            if n % 200 == 0:
                progress(f"    {n}/{len(open_now)}")


def measure(url: str, kind: str, mi_sizes: list[int], loop_sizes: list[int]) -> dict:
    from engine import Engine
    from engine.store import org
    from engine.store.db import make_session_factory
    from engine.store.unit_of_work import in_transaction
    from handlers import default_registry

    db = migrated(url)
    sessions = make_session_factory(db)
    engine = Engine(default_registry())
    in_transaction(sessions, lambda s: engine.deploy(s, multi_instance(), "bench_mi.bpmn", None))
    in_transaction(sessions, lambda s: engine.deploy(s, loop(), "bench_loop.bpmn", None))
    in_transaction(sessions, lambda s: (org.add_user(s, "p", "计划员", None), org.grant(s, "p", LANE, "*")))
    out: dict = {"multi_instance": [], "loop": []}
    try:
        for size in mi_sizes:
            progress(f"增长 {kind}: 多实例 {size} 项")
            items = [{"n": n, "name": f"项目 {n}"} for n in range(size)]
            started = time.perf_counter()
            instance_id = in_transaction(sessions, lambda s, i=items: engine.start(s, "bench_mi", "p", {"items": i}))
            start_s = time.perf_counter() - started
            limit = SAMPLE if size > SAMPLE_ABOVE else None
            timings, closing = _complete_all(sessions, engine, instance_id, lambda n: {"answer": n}, limit)
            row = {"size": size, "start_ms": start_s * 1e3, "sampled": limit is not None, **_series(timings),
                   "closing_ms": closing[0] * 1e3 if closing else None,
                   **in_transaction(sessions, lambda s, i=instance_id: stored_bytes(s, i))}
            row["bytes_per_completion"] = row["total_bytes"] / (row["completions"] + len(closing))
            out["multi_instance"].append(row)
        for size in loop_sizes:
            progress(f"增长 {kind}: 循环 {size} 次")
            instance_id = in_transaction(sessions, lambda s, r=size: engine.start(s, "bench_loop", "p", {"rounds": r}))
            timings, _ = _complete_all(sessions, engine, instance_id, lambda n: {"round": n})
            row = {"size": size, **_series(timings), **in_transaction(sessions, lambda s, i=instance_id:
                                                                    stored_bytes(s, i))}
            row["bytes_per_completion"] = row["total_bytes"] / row["completions"]
            out["loop"].append(row)
    finally:
        db.dispose()
    return out


def bare_loop(sizes: list[int]) -> list[dict]:
    """The loop in memory by bare SpiffWorkflow (no persistence): how much of the growth with history is its own."""
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
    from SpiffWorkflow.util.task import TaskState

    parser = CamundaParser()
    parser.add_bpmn_str(loop())
    spec = parser.get_spec("bench_loop")
    out = []
    for size in sizes:
        workflow = BpmnWorkflow(spec)
        workflow.task_tree.data["rounds"] = size
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data["rounds"] = size
        workflow.do_engine_steps()
        timings = []
        while not workflow.is_completed():
            started = time.perf_counter()
            (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
            task.data["round"] = len(timings) + 1
            task.run()
            workflow.do_engine_steps()
            timings.append(time.perf_counter() - started)
        out.append({"size": size, **_series(timings)})
    return out


def run(mi_sizes: list[int], loop_sizes: list[int], databases=("sqlite", "postgresql")) -> dict:
    results = {"mi_sizes": mi_sizes, "loop_sizes": loop_sizes, "spiff": {"loop": bare_loop(loop_sizes)}}
    for kind in databases:
        with database(kind) as url:
            results[kind] = measure(url, kind, mi_sizes, loop_sizes)
    return results
