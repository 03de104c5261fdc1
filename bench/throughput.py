"""Part 1, engine throughput: persisted completions per second through the engine API, against bare SpiffWorkflow.

Two workloads, each on SQLite and on PostgreSQL and, in the same run, in memory by bare SpiffWorkflow:
- `seq20`: a 20-step sequential process (one form field per step);
- `sm13`: the manual's SM1.3 (monthly sales plan) with 6 regions × 3 offices: 69 user tasks per instance,
  multi-instance steps per office and per region, parallel branches, archive and consolidation handlers.

An engine completion is one unit of work as the web does it: authorisation (role and scope), form
validation, loading the instance (or the warm workflow), engine steps and handlers, task sync, audit
events, saving the state under its revision, commit. Finding the task to do is not timed.

Bare SpiffWorkflow runs the same spec in memory: set the task's data, `task.run()`, `do_engine_steps()`;
service tasks get the same outputs computed without a database. No validation, routing or persistence. It
takes turns with the engine, one instance each, so that both are timed on the machine as it is at the time.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import time
from collections.abc import Callable
from datetime import UTC, datetime

from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from web.serving import keep_out_of_full_collections

from .common import database, migrated, progress, summary_ms
from .db_floor import Recorder, replay
from .processes import STEPS, answer, sequential

# Untimed instances first, engine and bare SpiffWorkflow alike: a process's first completions compile and
# prepare its statements and fill its caches, which a server does once (the first instance took 1.4 times
# as long per completion as the others, on SQLite).
WARM_UP = 1
EXTRA_OFFICES = {"华南": "珠海办事处", "西北": "银川办事处"}  # the demo has 16 offices; SM1.3 here runs 6 × 3


def org_6x3() -> dict:
    """The demo organisation with exactly three offices in each of the six regions (and a representative each)."""
    from web.demo import demo_data

    data = copy.deepcopy(demo_data())
    for region in data["regions"]:
        extra = EXTRA_OFFICES.get(region["name"])
        if extra and len(region["offices"]) == 2:
            region["offices"].append(extra)
            data["users"].append({"login": f"office_bench_{len(data['users'])}", "name": f"{extra}代表",
                                  "password": "demo123",
                                  "grants": [{"role": "办事处", "scope": f"{region['name']}/{extra}"}]})
    assert [len(r["offices"]) for r in data["regions"]] == [3] * 6
    return data


def load_org(sessions, data: dict) -> None:
    """The organisation with one password hash for every user (hashing 60 passwords is not the benchmark)."""
    import web.demo as demo
    from engine.store.unit_of_work import in_transaction

    real = demo.generate_password_hash
    hashed = real("demo123")
    demo.generate_password_hash = lambda _password: hashed
    try:
        in_transaction(sessions, lambda s: demo.load_organisation(s, data, datetime.now(UTC)))
    finally:
        demo.generate_password_hash = real


class Doer:
    """Who does a task: the first user whose grants cover its role and scope (cached per role and scope)."""

    def __init__(self, session):
        from engine.store import org
        from engine.store.models import User

        self.actors = [org.actor(session, login) for login in session.scalars(select(User.login).order_by(User.login))]
        self._by_route: dict[tuple[str, str], str] = {}

    def __call__(self, role: str, scope: str) -> str:
        from engine.routing import TaskRef, can_act

        key = (role, scope)
        if key not in self._by_route:
            ref = TaskRef(role=role, scope=scope, state="open")
            self._by_route[key] = next(a.login for a in self.actors if can_act(a, ref))
        return self._by_route[key]


def _open_task(session, instance_id: int):
    from engine.store.models import HumanTask

    return session.execute(select(HumanTask.id, HumanTask.role, HumanTask.scope, HumanTask.form, HumanTask.prefill,
                                  HumanTask.element_id)
                           .where(HumanTask.instance_id == instance_id, HumanTask.state == "open")
                           .order_by(HumanTask.id).limit(1)).first()


def run_instances(sessions, engine, process_id: str, starter: str, instances: int, label: str,
                  start_data: dict | None = None, answers: dict | None = None,
                  between: Callable[[], None] | None = None, recorder: Recorder | None = None,
                  held: bool = True) -> dict:
    """Start `instances` instances and complete every task of each until it ends; times each completion, after
    WARM_UP instances untimed. `between()` runs after each timed instance (bare SpiffWorkflow's turn);
    `recorder` marks the timed completions. Not `held`: before each completion the engine forgets the workflows
    it holds, so that every completion reads its instance from the database, as one on an instance another
    process moved on last."""
    from engine.store.unit_of_work import in_transaction

    doer = in_transaction(sessions, Doer)
    timings, cpu_seconds = [], 0.0
    for n in range(1 - WARM_UP, instances + 1):
        timed = n > 0
        instance_id = in_transaction(sessions, lambda s: engine.start(s, process_id, starter, start_data))
        while True:
            task = in_transaction(sessions, lambda s, i=instance_id: _open_task(s, i))
            if task is None:
                break
            login = doer(task.role, task.scope)
            values = answer(task.form, task.prefill)
            if answers is not None:
                answers.setdefault(task.element_id, values)
            if not held:
                engine.forget_workflows()
            if recorder is not None:
                recorder.timing(timed)
            started, cpu = time.perf_counter(), time.process_time()
            in_transaction(sessions, lambda s, t=task.id, u=login, v=values: engine.complete(s, t, u, v))
            if timed:
                timings.append(time.perf_counter() - started)
                cpu_seconds += time.process_time() - cpu
            if recorder is not None:
                recorder.timing(False)
        if not timed:
            continue
        if between is not None:
            between()
        if n == 1 or n == instances or n % max(1, instances // 5) == 0:
            progress(f"{label}: 实例 {n}/{instances} 完成, 共 {len(timings)} 次提交")
    result = summary_ms(timings)
    result["completions"] = len(timings)
    result["completions_per_s"] = len(timings) / sum(timings) if timings else 0.0
    # This process's CPU time: on a busy machine (other processes on the two cores) a steadier measure of
    # the engine's own cost than the wall clock; PostgreSQL's server work is not in it.
    result["cpu_ms"] = cpu_seconds / len(timings) * 1e3 if timings else 0.0
    return result


def _engine():
    from engine import Engine
    from handlers import default_registry

    return Engine(default_registry())


def engine_seq20(url: str, instances: int, label: str, between: Callable[[], None] | None = None,
                 floor_url: str | None = None, held: bool = True) -> dict:
    """The 20-step process (see _engine_run)."""
    from engine.store import org
    from engine.store.unit_of_work import in_transaction

    def setup(sessions, engine) -> None:
        in_transaction(sessions, lambda s: engine.deploy(s, sequential(), "bench20.bpmn", None))
        in_transaction(sessions, lambda s: (org.add_user(s, "p", "计划员", None), org.grant(s, "p", "计划部", "*")))

    return _engine_run(url, label, setup, floor_url, process_id="bench20", starter="p", instances=instances,
                       between=between, held=held)


def engine_sm13(url: str, instances: int, label: str, answers: dict | None = None,
                between: Callable[[], None] | None = None, floor_url: str | None = None, held: bool = True) -> dict:
    """SM1.3 with 6 regions × 3 offices (see _engine_run)."""
    from engine.store.unit_of_work import in_transaction
    from web.demo import manual_file

    def setup(sessions, engine) -> None:
        load_org(sessions, org_6x3())
        in_transaction(sessions, lambda s: engine.deploy(s, manual_file("SM1_3.bpmn"), "SM1_3.bpmn", "admin"))

    return _engine_run(url, label, setup, floor_url, process_id="SM1_3", starter="planning", instances=instances,
                       answers=answers, between=between, held=held)


def _engine_run(url: str, label: str, setup: Callable, floor_url: str | None, **run) -> dict:
    """A fresh database at `url`, `setup(sessions, engine)`, then `run_instances(**run)`. With `floor_url`, the
    run's statements are sent again there by the bare driver (db_floor), and the result holds the database's own
    time per completion as "floor"."""
    from engine.store.db import make_session_factory

    db = migrated(url)
    recorder = Recorder(db) if floor_url else None
    sessions, engine = make_session_factory(db), _engine()
    setup(sessions, engine)
    # As `smflow serve` and `smflow worker` run: what setup built is kept out of the garbage collector's full
    # passes (one took 48 ms, once in a few hundred completions), for the engine and bare SpiffWorkflow alike.
    keep_out_of_full_collections()
    try:
        result = run_instances(sessions, engine, label=label, recorder=recorder, **run)
    finally:
        gc.unfreeze()
        db.dispose()
    if recorder is not None:
        recorder.close()
        progress(f"{label}: 同样的语句由驱动直接重放 (数据库本身的耗时)")
        result["floor"] = replay(recorder, floor_url)
    return result


# -- bare SpiffWorkflow ----------------------------------------------------------------------------
class Bare:
    """Bare SpiffWorkflow running the same workload one instance at a time, in turn with the engine's instances:
    both see the machine at the same moments, whose speed drifts by a third within a minute."""

    def __init__(self, run_instance: Callable[[], int] | None = None):
        self.run_instance = run_instance  # runs one instance in memory; the steps it took
        self.steps, self.seconds, self.cpu_seconds = 0, 0.0, 0.0
        self.warm_up = WARM_UP

    def __call__(self) -> None:
        while self.warm_up:
            self.warm_up -= 1
            self.run_instance()
        started, cpu = time.perf_counter(), time.process_time()
        self.steps += self.run_instance()
        self.seconds += time.perf_counter() - started
        self.cpu_seconds += time.process_time() - cpu

    def add(self, other: Bare) -> None:
        self.steps += other.steps
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds

    def figures(self) -> dict:
        per_step = self.seconds / self.steps
        return {"completions": self.steps, "ms_per_step": per_step * 1e3, "completions_per_s": 1 / per_step,
                "cpu_ms": self.cpu_seconds / self.steps * 1e3}


def bare_seq20() -> Bare:
    parser = CamundaParser()
    parser.add_bpmn_str(sequential())
    spec = parser.get_spec("bench20")

    def run_instance() -> int:
        workflow, steps = BpmnWorkflow(spec), 0
        workflow.do_engine_steps()
        while not workflow.is_completed():
            (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
            task.data[f"v{steps % STEPS + 1}"] = 1
            task.run()
            workflow.do_engine_steps()
            steps += 1
        return steps

    return Bare(run_instance)


def _bare_service(script_engine, task) -> dict | None:
    """What the handlers return, computed without a database (archive ids are made up)."""
    from handlers.consolidate import consolidate_forecasts

    topic = task.task_spec.extensions.get("smflow:topic")
    params = {name: script_engine.evaluate(task, expr)
              for name, expr in task.task_spec.extensions.get("smflow:params", {}).items()}
    if topic == "consolidate":
        return {"monthly_plan": consolidate_forecasts(params["forecasts"])}
    if topic == "archive":
        return {f"{params['kind']}_archive_id": 1}
    return None


def _merge_into_item(task, values: dict) -> None:
    """smflow's multi-instance rule (each answer is merged into its item), as the dialect defines it."""
    from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask

    parent = task.parent
    if parent is not None and isinstance(parent.task_spec, MultiInstanceTask):
        ref = parent.task_spec.input_item or parent.task_spec.output_item
        if ref is not None and isinstance(task.data.get(ref.bpmn_id), dict):
            task.data[ref.bpmn_id] = {**task.data[ref.bpmn_id], **values}


def bare_sm13(answers: dict, initial: dict) -> Bare:
    """SM1.3 in memory with the engine's answers per step (SpiffWorkflow needs our dialect's parser and sandbox);
    `answers` fills in while the engine runs its first instance, before bare SpiffWorkflow's first turn."""
    from engine.clock import Clock
    from engine.definitions import parse_bpmn
    from engine.sandbox import Sandbox
    from engine.script_engine import SandboxScriptEngine
    from web.demo import manual_file

    (process,) = [p for p in parse_bpmn(manual_file("SM1_3.bpmn"), "SM1_3.bpmn").processes if p.executable]
    script_engine = SandboxScriptEngine(Sandbox(), Clock())

    def run_instance() -> int:
        workflow, steps = BpmnWorkflow(process.spec, process.subprocess_specs, script_engine=script_engine), 0
        workflow.task_tree.data.update(initial)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(initial)
        while True:
            workflow.do_engine_steps()
            services = [t for t in workflow.get_tasks(state=TaskState.STARTED) if isinstance(t.task_spec, ServiceTask)]
            for task in services:
                task.data.update(_bare_service(script_engine, task) or {})
                task.complete()
            if services:
                continue
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            task = ready[0]
            values = answers.get(task.task_spec.bpmn_id, {})
            task.data.update(values)
            _merge_into_item(task, values)
            task.run()
            steps += 1
        if not workflow.is_completed():
            raise RuntimeError("bare SpiffWorkflow did not finish SM1.3 with the engine's answers")
        return steps

    return Bare(run_instance)


def _against_bare(row: dict, bare: Bare) -> None:
    """The engine's time per completion against bare SpiffWorkflow's per step, measured in turn with it."""
    figures = bare.figures()
    row["bare_ms_per_step"], row["bare_cpu_ms"] = figures["ms_per_step"], figures["cpu_ms"]
    row["x_bare"] = row["mean_ms"] / figures["ms_per_step"]
    row["x_bare_cpu"] = row["cpu_ms"] / figures["cpu_ms"]
    floor = row.get("floor")
    if floor:
        floor["x_bare"] = floor["mean_ms"] / figures["ms_per_step"]
        row["above_floor_ms"] = row["mean_ms"] - floor["mean_ms"]
        row["above_floor_x_bare"] = row["above_floor_ms"] / figures["ms_per_step"]


def _measured(kind: str, workload: str, instances: int, answers: dict, held: bool) -> tuple[dict, Bare]:
    """One engine run of `workload` ("seq20" or "sm13") on a scratch database of `kind`, in turns with bare
    SpiffWorkflow, and its ratios against those turns; with the database's floor when the workflows are `held`
    (db_floor replays the run on a second scratch database)."""
    label = f"{'seq20' if workload == 'seq20' else 'SM1.3'} {kind}{'' if held else ', 不在内存'}"
    bare = bare_seq20() if workload == "seq20" else bare_sm13(answers, sm13_initial())
    with database(kind) as url, (database(kind) if held else contextlib.nullcontext()) as floor_url:
        if workload == "seq20":
            row = engine_seq20(url, instances, label, between=bare, floor_url=floor_url, held=held)
        else:
            row = engine_sm13(url, instances, label, answers, between=bare, floor_url=floor_url, held=held)
    _against_bare(row, bare)
    return row, bare


def sm13_initial() -> dict:
    """The start data the engine gives SM1.3 (the organisation snapshot, who started and when)."""
    data = org_6x3()
    return {"regions": [r["name"] for r in data["regions"]],
            "offices": [{"name": o, "region": r["name"], "scope": f"{r['name']}/{o}"}
                        for r in data["regions"] for o in r["offices"]],
            "channels": list(data["channels"]), "product_lines": list(data["product_lines"]),
            "started_at": datetime.now(UTC).isoformat(), "started_by": "planning"}


def run(instances: int = 20, sm13_instances: int = 3, databases=("sqlite", "postgresql")) -> dict:
    progress(f"引擎吞吐: 20 步顺序流程 × {instances} 实例, SM1.3 (6 大区 × 3 办事处) × {sm13_instances} 实例")
    results: dict = {"instances": instances, "sm13_instances": sm13_instances, "warm_up": WARM_UP,
                     "seq20": {}, "sm13": {}, "not_held": {"seq20": {}, "sm13": {}}}
    # Each engine run takes turns with bare SpiffWorkflow, instance by instance, and its ratio is against the
    # bare instances run in those turns: one bare run at the start made every ratio move with the machine's drift.
    pooled = {"seq20": Bare(), "sm13": Bare()}
    answers: dict = {}
    for kind in databases:
        # Both workloads, then both again with every completion on an instance the engine does not hold in memory
        # (after a restart, or one another web process moved on last: with several processes, most completions).
        for held in (True, False):
            for workload, count in (("seq20", instances), ("sm13", sm13_instances)):
                if not count:
                    continue
                row, bare = _measured(kind, workload, count, answers, held)
                (results if held else results["not_held"])[workload][kind] = row
                if held:
                    pooled[workload].add(bare)
    for workload, bare in pooled.items():
        if bare.steps:
            results[workload]["spiff"] = bare.figures()
    seq = results["seq20"]
    results["summary"] = {
        "sqlite_completions_per_s": seq.get("sqlite", {}).get("completions_per_s"),
        "postgres_completions_per_s": seq.get("postgresql", {}).get("completions_per_s"),
        "spiff_in_memory_completions_per_s": seq["spiff"]["completions_per_s"],
        "sqlite_x_bare": seq.get("sqlite", {}).get("x_bare"),
        "postgres_x_bare": seq.get("postgresql", {}).get("x_bare"),
        "sqlite_cpu_ms": seq.get("sqlite", {}).get("cpu_ms"),
        "postgres_cpu_ms": seq.get("postgresql", {}).get("cpu_ms"),
        "spiff_cpu_ms": seq["spiff"]["cpu_ms"], "sqlite_x_bare_cpu": seq.get("sqlite", {}).get("x_bare_cpu"),
        # The same statements sent by the bare driver: what the database itself takes per completion (db_floor).
        "sqlite_floor_ms": seq.get("sqlite", {}).get("floor", {}).get("mean_ms"),
        "postgres_floor_ms": seq.get("postgresql", {}).get("floor", {}).get("mean_ms"),
        "sm13_sqlite_completions_per_s": results["sm13"].get("sqlite", {}).get("completions_per_s"),
        "sm13_postgres_completions_per_s": results["sm13"].get("postgresql", {}).get("completions_per_s"),
        "sm13_spiff_in_memory_completions_per_s": results["sm13"].get("spiff", {}).get("completions_per_s"),
        # Every completion on an instance the engine does not hold in memory (read from the database).
        "sqlite_not_held_ms": results["not_held"]["seq20"].get("sqlite", {}).get("mean_ms"),
        "postgres_not_held_ms": results["not_held"]["seq20"].get("postgresql", {}).get("mean_ms"),
    }
    return results
