"""A workflow's history stored apart from its state (runtime.History, StateParts): what is read back is the
workflow that was saved, at every step, and the state a step writes stays small however long the history."""

import json

import pytest
from SpiffWorkflow.util.task import TaskState
from workflow_driver import LOOPED_SUBPROCESS, drive, executable, take_rounds

from bench.processes import loop
from bench.throughput import sm13_initial
from engine import runtime as runtime_module
from engine.clock import Clock
from engine.errors import WorkflowError
from engine.runtime import Runtime
from engine.sandbox import Sandbox
from web.demo import MANUAL_FILES, manual_file


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


def run(runtime: Runtime, process, data: dict, stored: Stored, reload_every: int = 3):
    """Drive the process, saving at every step; every few steps go on from what was saved, as a process that
    did not keep the workflow in memory would. Returns the last workflow."""
    steps = iter(range(10**6))

    def each_step(workflow):
        stored.save(runtime, workflow)
        restored = stored.load(runtime, process)
        assert tree(restored) == tree(workflow)
        return restored if next(steps) % reload_every == 0 else workflow

    return drive(runtime, process, data, each_step)


def _looping(runtime: Runtime, rounds: int):
    (process,) = executable(loop(), "bench_loop.bpmn")
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, {"rounds": rounds})
    workflow.do_engine_steps()
    return process, workflow


def test_a_long_loop_writes_its_history_once_and_a_state_that_stays_small(runtime):
    (process, workflow), stored, sizes = _looping(runtime, 200), Stored(), []

    def save(workflow):
        stored.save(runtime, workflow)
        sizes.append(len(stored.state))

    for first in range(1, 201, 25):  # going on from what was saved every 25 rounds
        take_rounds(runtime, workflow, range(first, first + 25), after=save)
        workflow = stored.load(runtime, process)
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
        run(runtime, executable(data, name)[0], start, stored)
        assert stored.rewrites == 0, name
        batches += len(stored.batches)
    assert batches >= 10


def test_a_reset_saves_the_workflow_whole_again(runtime, monkeypatch):
    monkeypatch.setattr(runtime_module, "HISTORY_BATCH", 4)
    (process, workflow), stored = _looping(runtime, 30), Stored()
    done = take_rounds(runtime, workflow, range(1, 13), after=lambda w: stored.save(runtime, w))
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
    (process, workflow), stored = _looping(runtime, 10), Stored()
    take_rounds(runtime, workflow, range(1, 6), after=lambda w: stored.save(runtime, w))
    stored.batches.pop()
    with pytest.raises(WorkflowError, match="历史记录不完整"):
        stored.load(runtime, process)


def test_a_whole_state_written_before_reads_as_it_is_and_is_split_at_its_next_save(runtime, monkeypatch):
    monkeypatch.setattr(runtime_module, "HISTORY_BATCH", 3)
    process, workflow = _looping(runtime, 10)
    take_rounds(runtime, workflow, range(1, 6))
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
    workflow = run(runtime, executable(LOOPED_SUBPROCESS, "looped.bpmn")[0], {"rounds": 0}, stored)
    assert workflow.is_completed() and len(workflow.subprocesses) == 12
    assert len(json.loads(stored.state)["subprocesses"]) <= 1
    assert len(stored.load(runtime, executable(LOOPED_SUBPROCESS, "looped.bpmn")[0]).subprocesses) == 12
