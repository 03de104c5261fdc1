"""Task dicts kept from one save to the next (runtime._keep_finished_task_dicts): a state written with them is
the state written without them, at every step, for finished tasks and for tasks predicted ahead alike."""

import json

import pytest
from workflow_driver import LOOPED_SUBPROCESS, drive, executable

from bench.processes import sequential
from bench.throughput import sm13_initial
from engine import runtime as runtime_module
from engine.clock import Clock
from engine.runtime import Runtime
from engine.sandbox import Sandbox
from web.demo import MANUAL_FILES, manual_file


@pytest.fixture
def runtime(monkeypatch):
    monkeypatch.setattr(runtime_module, "HISTORY_BATCH", 10**6)  # the whole state at every step, nothing apart
    return Runtime(Sandbox(), Clock())


def _forget_kept(workflow) -> int:
    forgotten = 0
    for part in (workflow, *workflow.subprocesses.values()):
        for task in part.tasks.values():
            forgotten += task.__dict__.pop("_smflow_dict", None) is not None
    return forgotten


def _check_each_step(runtime: Runtime, reused: list[int]):
    def each_step(workflow):
        with_kept = runtime.dump_parts(workflow).state  # the dicts kept at the step before, where they still hold
        reused.append(_forget_kept(workflow))
        assert with_kept == runtime.dump_parts(workflow).state  # made afresh (and kept for the next step)
        return workflow

    return each_step


CASES = [(sequential(), "seq.bpmn", {}), (LOOPED_SUBPROCESS, "looped.bpmn", {"rounds": 0}),
         *[(manual_file(n), n, sm13_initial()) for n in MANUAL_FILES]]


@pytest.mark.parametrize(("data", "name", "start"), CASES, ids=[c[1] for c in CASES])
def test_a_state_written_with_kept_task_dicts_is_the_state_written_afresh(runtime, data, name, start):
    reused: list[int] = []
    drive(runtime, executable(data, name)[0], start, _check_each_step(runtime, reused))
    assert sum(reused) > 0


def test_tasks_predicted_ahead_are_kept_too(runtime):
    (process,) = executable(sequential(), "seq.bpmn")
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, {})
    workflow.do_engine_steps()
    runtime.dump_parts(workflow)
    predicted = [t for t in workflow.tasks.values() if t.task_spec.name == "t12"]
    assert predicted and runtime_module._kept_dict(predicted[0]) is not None



def _unordered_deletions(text: str) -> dict:
    """A state with each task's deleted names as a set: their order follows the parent's data, whose order a
    workflow read back need not have."""
    state = json.loads(text)
    for part in (state, *state["subprocesses"].values()):
        for task in part["tasks"].values():
            if task.get("delta"):
                task["delta"]["deletions"] = sorted(task["delta"]["deletions"])
    return state


@pytest.mark.parametrize(("data", "name", "start"), CASES, ids=[c[1] for c in CASES])
def test_a_workflow_read_back_keeps_the_task_dicts_it_was_read_from(runtime, data, name, start):
    (process,) = executable(data, name)
    reused: list[int] = []

    def each_step(workflow):
        text = runtime.dump_parts(workflow).state  # from the dicts read at the step before, where they still hold
        reused.append(_forget_kept(workflow))
        assert _unordered_deletions(text) == _unordered_deletions(runtime.dump_parts(workflow).state)
        read = runtime.load_state(text, process.spec, process.subprocess_specs)
        kept_on_reading.append(sum(runtime_module._kept_dict(task) is not None
                                   for part in (read, *read.subprocesses.values()) for task in part.tasks.values()))
        assert runtime.dump_parts(read).state == text  # nothing changed: what was read is written
        return read  # the process goes on from what was read

    kept_on_reading: list[int] = []
    drive(runtime, process, start, each_step)
    assert sum(reused) > 0
    assert min(kept_on_reading) > 0


def test_a_finished_tasks_form_with_repeats_referred_to_is_kept_with_it(runtime):
    """A multi-instance item's finished task refers to the collection its siblings repeat (_share_repeats): that
    form is made once and kept, not made and encoded again at every step."""
    (process,) = executable(manual_file("SM1_3.bpmn"), "SM1_3.bpmn")
    reused: list[int] = []

    def shared_forms(workflow) -> dict:
        tasks = runtime._state_converter.to_dict(workflow)["tasks"]
        runtime_module._share_repeats(tasks)
        return {task_id: task for task_id, task in tasks.items() if "same_as" in (task.get("delta") or {})}

    def each_step(workflow):
        first, again = shared_forms(workflow), shared_forms(workflow)
        assert first.keys() == again.keys()
        reused.append(sum(first[task_id] is again[task_id] for task_id in first))
        return workflow

    drive(runtime, process, sm13_initial(), each_step)
    assert max(reused) > 5
