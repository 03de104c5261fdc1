"""Persisted task completions per second through the engine API, against bare in-memory SpiffWorkflow.

    python bench/bench_completions.py [--instances 20] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

A 20-step sequential process (one lane, one form field per step). The engine figure includes
everything a completion costs in production: authorisation, form validation, state load from the
database, engine steps, task sync, audit events, state save and commit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import Engine  # noqa: E402
from engine.store import org  # noqa: E402
from engine.store.db import make_engine, make_session_factory, upgrade  # noqa: E402
from engine.store.models import HumanTask  # noqa: E402
from engine.store.unit_of_work import in_transaction  # noqa: E402
from handlers import default_registry  # noqa: E402

STEPS = 20


def sequential_process(steps: int = STEPS) -> bytes:
    tasks, flows, refs = [], [], ["start", "end"]
    previous = "start"
    for n in range(1, steps + 1):
        tasks.append(f"""<bpmn:userTask id="t{n}" name="{n} 第{n}步">
      <bpmn:extensionElements><camunda:properties><camunda:property name="smflow:step" value="{n}"/>
      </camunda:properties><camunda:formData><camunda:formField id="v{n}" label="数值" type="long">
      <camunda:validation><camunda:constraint name="required"/></camunda:validation></camunda:formField>
      </camunda:formData></bpmn:extensionElements></bpmn:userTask>""")
        flows.append(f'<bpmn:sequenceFlow id="f{n}" sourceRef="{previous}" targetRef="t{n}"/>')
        refs.append(f"t{n}")
        previous = f"t{n}"
    flows.append(f'<bpmn:sequenceFlow id="f_end" sourceRef="{previous}" targetRef="end"/>')
    lane = "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in refs)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="bench" targetNamespace="http://smflow/bench">
  <bpmn:process id="bench20" name="20 步顺序流程" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="计划部">{lane}</bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"/><bpmn:endEvent id="end"/>
    {''.join(tasks)}
    {''.join(flows)}
  </bpmn:process>
</bpmn:definitions>""".encode()


def bare_spiff_seconds_per_step(xml: bytes, instances: int) -> float:
    parser = CamundaParser()
    parser.add_bpmn_str(xml)
    spec = parser.get_spec("bench20")
    steps, started = 0, time.perf_counter()
    for _ in range(instances):
        workflow = BpmnWorkflow(spec)
        workflow.do_engine_steps()
        while not workflow.is_completed():
            (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
            task.data[f"v{steps % STEPS + 1}"] = 1
            task.run()
            workflow.do_engine_steps()
            steps += 1
    return (time.perf_counter() - started) / steps


def engine_seconds_per_step(url: str, xml: bytes, instances: int, label: str) -> float:
    db = make_engine(url)
    upgrade(db)
    sessions = make_session_factory(db)
    engine = Engine(default_registry())
    in_transaction(sessions, lambda s: engine.deploy(s, xml, "bench.bpmn", None))
    in_transaction(sessions, lambda s: (org.add_user(s, "p", "计划员", None), org.grant(s, "p", "计划部", "*")))
    ids = [in_transaction(sessions, lambda s: engine.start(s, "bench20", "p")) for _ in range(instances)]
    timings = []
    for n, instance_id in enumerate(ids, start=1):
        for step in range(1, STEPS + 1):
            task_id = in_transaction(sessions, lambda s, i=instance_id: s.scalar(select(HumanTask.id).where(
                HumanTask.instance_id == i, HumanTask.state == "open")))
            started = time.perf_counter()
            in_transaction(sessions, lambda s, t=task_id, v=step: engine.complete(s, t, "p", {f"v{v}": v}))
            timings.append(time.perf_counter() - started)
        print(f"  {label}: 实例 {n}/{instances} 完成 ({len(timings)} 次提交)", flush=True)
    db.dispose()
    return statistics.fmean(timings)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--instances", type=int, default=20)
    args.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                      help="an existing PostgreSQL database to create a scratch database from ('' to skip)")
    opts = args.parse_args()
    xml = sequential_process()
    total = opts.instances * STEPS
    print(f"20 步顺序流程, {opts.instances} 个实例, 共 {total} 次任务提交")
    bare = bare_spiff_seconds_per_step(xml, opts.instances)
    print(f"SpiffWorkflow 内存基线: {bare * 1e3:.3f} ms/步  ({1 / bare:,.0f} 步/秒)")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["SQLite"] = engine_seconds_per_step(f"sqlite:///{folder}/bench.db", xml, opts.instances, "SQLite")
    if opts.pg:
        name = f"smflow_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(opts.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            results["PostgreSQL"] = engine_seconds_per_step(opts.pg.rsplit("/", 1)[0] + "/" + name, xml,
                                                            opts.instances, "PostgreSQL")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print("\n数据库        提交/秒   ms/提交   相对内存基线")
    for label, seconds in results.items():
        print(f"{label:<12} {1 / seconds:8.1f} {seconds * 1e3:9.2f} {seconds / bare:10.1f}×")


if __name__ == "__main__":
    main()
