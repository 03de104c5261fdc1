"""A workflow's history stored apart from its state (runtime.History, StateParts): what is read back is the
workflow that was saved, at every step, and the state a step writes stays small however long the history."""

import json
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from bench.processes import answer, loop
from bench.throughput import sm13_initial
from engine import runtime as runtime_module
from engine.clock import Clock
from engine.definitions import parse_bpmn
from engine.errors import SmflowError, WorkflowError
from engine.runtime import Runtime
from engine.sandbox import Sandbox
from web.demo import MANUAL_FILES, manual_file

LOOPED_SUBPROCESS = (Path(__file__).parents[1] / "fixtures" / "looped_subprocess.bpmn").read_bytes()


@pytest.fixture(scope="module")
def runtime():
    return Runtime(Sandbox(), Clock())


class Stored:
    """What the store keeps of one instance: its state and its batches (engine.store.instances.save_state)."""

    def __init__(self):
        self.state, self.batches, self.rewrites = None, [], 0

    def save(self, runtime: Runtime, workflow) -> None:
        parts = runtime.dump_parts(workflow)
        if parts.rewrite:
            self.batches.clear()
            self.rewrites += 1
        if parts.batch is not None:
            assert parts.batch[0] == len(self.batches) + 1
            self.batches.append(parts.batch[1])
        self.state = parts.state

    def load(self, runtime: Runtime, process):
        return runtime.load_state(self.state, process.spec, process.subprocess_specs, lambda: list(self.batches))


def tree(workflow) -> dict:
    """Everything of every task that the next steps depend on."""
    return {str(task.id): (task.task_spec.name, task._state, str(task._parent), [str(c) for c in task._children],
                           task.data, task.internal_data, task.last_state_change, task.triggered)
            for part in (workflow, *workflow.subprocesses.values()) for task in part.tasks.values()}


def run(runtime: Runtime, process, data: dict, stored: Stored, max_steps: int = 400, reload_every: int = 3):
    """Answer every user task; save after each step, and every few steps go on from what was saved, as a
    process that did not keep the workflow in memory would. Returns the last workflow."""
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, data)
    for step in range(max_steps):
        try:
            workflow.do_engine_steps()
            for task in workflow.get_tasks(state=TaskState.STARTED, spec_class=ServiceTask):
                task.complete()
            workflow.do_engine_steps()
        except SpiffWorkflowException:  # needs data a handler would give: compared up to here
            return workflow
        stored.save(runtime, workflow)
        restored = stored.load(runtime, process)
        assert tree(restored) == tree(workflow)
        if step % reload_every == 0:
            workflow = restored
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            return workflow
        task = ready[0]
        form = task.task_spec.extensions.get("smflow:form")
        try:
            runtime.complete_user_task(workflow, str(task.id), answer(form, None))
        except SmflowError:
            return workflow
    return workflow


def _process(data: bytes, name: str):
    (process, *_) = [p for p in parse_bpmn(data, name).processes if p.executable]
    return process


def test_a_long_loop_writes_its_history_once_and_a_state_that_stays_small(runtime):
    process, stored = _process(loop(), "bench_loop.bpmn"), Stored()
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, {"rounds": 200})
    workflow.do_engine_steps()
    sizes = []
    for done in range(1, 201):
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        runtime.complete_user_task(workflow, str(task.id), {"round": done})
        workflow.do_engine_steps()
        stored.save(runtime, workflow)
        sizes.append(len(stored.state))
        if done % 25 == 0:
            workflow = stored.load(runtime, process)
            assert tree(workflow) == tree(stored.load(runtime, process))
    assert workflow.is_completed() and workflow.last_task.data["round"] == 200
    assert stored.rewrites == 0 and len(stored.batches) >= 6
    whole = len(runtime.dump_state(workflow))
    assert max(sizes[100:]) < 2 * max(sizes[:60]) and max(sizes) < whole / 4
    assert sum(map(len, stored.batches)) + sizes[-1] < 1.2 * whole  # each finished task is stored once


@pytest.mark.parametrize("batch", [2, 7])
def test_what_is_read_back_is_the_saved_workflow_at_every_step(runtime, monkeypatch, batch):
    monkeypatch.setattr(runtime_module, "HISTORY_BATCH", batch)  # batches in processes this short too
    batches = 0
    for data, name, start in [(LOOPED_SUBPROCESS, "looped.bpmn", {"rounds": 0}),
                              *[(manual_file(n), n, sm13_initial()) for n in MANUAL_FILES]]:
        stored = Stored()
        run(runtime, _process(data, name), start, stored)
        assert stored.rewrites == 0, name
        batches += len(stored.batches)
    assert batches >= 10


def test_a_reset_saves_the_workflow_whole_again(runtime, monkeypatch):
    monkeypatch.setattr(runtime_module, "HISTORY_BATCH", 4)
    process, stored = _process(loop(), "bench_loop.bpmn"), Stored()
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, {"rounds": 30})
    workflow.do_engine_steps()
    done = []
    for n in range(1, 13):
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        runtime.complete_user_task(workflow, str(task.id), {"round": n})
        workflow.do_engine_steps()
        stored.save(runtime, workflow)
        done.append(task)
    assert len(stored.batches) >= 2
    workflow.reset_from_task_id(done[1].id)  # back to round 2: the rounds after it, stored apart, are gone
    workflow.do_engine_steps()
    stored.save(runtime, workflow)
    assert stored.rewrites == 1 and not stored.batches
    restored = stored.load(runtime, process)
    assert tree(restored) == tree(workflow)
    assert restored.get_tasks(state=TaskState.READY, manual=True)[0].id == done[1].id


def test_a_state_whose_batches_are_missing_is_refused_with_a_message(runtime, monkeypatch):
    monkeypatch.setattr(runtime_module, "HISTORY_BATCH", 2)
    process, stored = _process(loop(), "bench_loop.bpmn"), Stored()
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, {"rounds": 10})
    workflow.do_engine_steps()
    for n in range(1, 6):
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        runtime.complete_user_task(workflow, str(task.id), {"round": n})
        workflow.do_engine_steps()
        stored.save(runtime, workflow)
    stored.batches.pop()
    with pytest.raises(WorkflowError, match="历史记录不完整"):
        stored.load(runtime, process)


def test_a_whole_state_written_before_reads_as_it_is_and_is_split_at_its_next_save(runtime, monkeypatch):
    monkeypatch.setattr(runtime_module, "HISTORY_BATCH", 3)
    process = _process(loop(), "bench_loop.bpmn")
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, {"rounds": 10})
    workflow.do_engine_steps()
    for n in range(1, 6):
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        runtime.complete_user_task(workflow, str(task.id), {"round": n})
        workflow.do_engine_steps()
    whole = runtime.dump_state(workflow)
    stored = Stored()
    stored.state = whole
    old = stored.load(runtime, process)
    assert tree(old) == tree(workflow)
    stored.save(runtime, old)
    assert stored.rewrites == 1 and stored.batches and len(stored.state) < len(whole)
    assert tree(stored.load(runtime, process)) == tree(workflow)


def test_finished_subprocesses_go_apart_with_their_tasks(runtime, monkeypatch):
    monkeypatch.setattr(runtime_module, "HISTORY_BATCH", 4)
    stored = Stored()
    workflow = run(runtime, _process(LOOPED_SUBPROCESS, "looped.bpmn"), {"rounds": 0}, stored)
    assert workflow.is_completed() and len(workflow.subprocesses) == 12
    assert len(json.loads(stored.state)["subprocesses"]) <= 1
    assert len(stored.load(runtime, _process(LOOPED_SUBPROCESS, "looped.bpmn")).subprocesses) == 12
