"""The engine's task walk returns what SpiffWorkflow's own iterator returns, in the same order.

The manual's processes and the conformance files with subprocesses are run in memory, answering every
form; at every step both walks are compared for the questions SpiffWorkflow and the engine ask.
"""

from itertools import product

import pytest
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState
from workflow_driver import LOOPED_SUBPROCESS, drive, executable, take_rounds

from bench.processes import loop
from bench.throughput import sm13_initial
from engine.clock import Clock
from engine.runtime import Runtime
from engine.sandbox import Sandbox
from engine.task_walk import NO_DEPTH_LIMIT, PlainTaskWalk, SubWorkflow, TaskWalk, Workflow
from web.demo import MANUAL_FILES, manual_file

# One item at a time: finished items sit below the multi-instance task while it runs, so a walk for finished
# tasks must not go down to them, however it came to know them earlier.
SEQUENTIAL_ITEMS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="http://smflow/tests">
  <bpmn:process id="items" name="items" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="each" name="each">
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:loopCardinality>3</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="each"/>
    <bpmn:sequenceFlow id="f2" sourceRef="each" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""

QUESTIONS = [
    {},
    {"state": TaskState.READY},
    {"state": TaskState.READY, "manual": True},
    {"state": TaskState.STARTED},
    {"state": TaskState.WAITING},
    {"state": TaskState.NOT_FINISHED_MASK, "skip_subprocesses": True},
    {"state": TaskState.PREDICTED_MASK},
    {"state": TaskState.FINISHED_MASK},
    {"max_depth": 4},
    {"state": TaskState.DEFINITE_MASK, "max_depth": 7},
]


def _comparing(seen: dict):
    def each_step(workflow):
        _compare(workflow, seen)
        return workflow
    return each_step


def _compare(workflow, seen: dict) -> None:
    for part in (workflow, *workflow.subprocesses.values()):
        # What is_completed relies on: the task table holds exactly the tree.
        assert {t.id for t in TaskIterator(part.task_tree, max_depth=10**6)} == set(part.tasks)
        for asked in QUESTIONS:
            # Listed at once (get_tasks) or taken one by one, with the workflows' own depth (none) and Spiff's.
            for question, listed in product((asked, {"max_depth": NO_DEPTH_LIMIT, **asked}), (True, False)):
                ours = [t.id for t in TaskWalk(part.task_tree, listed=listed, **question)]
                theirs = [t.id for t in BpmnTaskIterator(part.task_tree, **question)]
                assert ours == theirs, question
                seen["tasks"] += len(theirs)
                if "skip_subprocesses" not in question:  # SpiffWorkflow's plain walk (after every completed task)
                    assert ([t.id for t in PlainTaskWalk(part.task_tree, listed=listed, **question)]
                            == [t.id for t in TaskIterator(part.task_tree, **question)]), question
        # One kind of task in one kind of state: mostly a single match, which the walk finds by climbing from it.
        for name, state in product({t.task_spec.name for t in part.tasks.values()},
                                   (TaskState.FINISHED_MASK, TaskState.DEFINITE_MASK, TaskState.COMPLETED)):
            question = {"spec_name": name, "state": state, "max_depth": NO_DEPTH_LIMIT}
            assert ([t.id for t in TaskWalk(part.task_tree, listed=True, **question)]
                    == [t.id for t in BpmnTaskIterator(part.task_tree, **question)]), question
        seen["walks"] += 1
        seen["subprocess_walks"] += part is not workflow


@pytest.fixture(scope="module")
def runtime():
    return Runtime(Sandbox(), Clock())


@pytest.mark.parametrize("name", MANUAL_FILES)
def test_walks_agree_on_the_manual(runtime, name):
    seen = {"walks": 0, "tasks": 0, "subprocess_walks": 0}
    for process in executable(manual_file(name), name):
        drive(runtime, process, sm13_initial(), _comparing(seen))
    assert seen["walks"] >= 2 and seen["tasks"] > 50


def test_walks_agree_inside_subprocesses_and_down_a_long_loop(runtime):
    seen = {"walks": 0, "tasks": 0, "subprocess_walks": 0}
    (process,) = executable(LOOPED_SUBPROCESS, "looped.bpmn")
    workflow = drive(runtime, process, {"rounds": 0}, _comparing(seen))
    assert workflow.is_completed() and workflow.data["rounds"] == 12
    assert seen["subprocess_walks"] > 20


def test_walks_agree_below_a_running_sequential_multi_instance_task(runtime):
    seen = {"walks": 0, "tasks": 0, "subprocess_walks": 0}
    (process,) = executable(SEQUENTIAL_ITEMS, "items.bpmn")
    workflow = drive(runtime, process, {}, _comparing(seen))
    assert workflow.is_completed() and seen["walks"] == 4


def test_workflows_and_their_subprocesses_use_the_walk_and_survive_a_round_trip(runtime):
    (process,) = executable(LOOPED_SUBPROCESS, "looped.bpmn")
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, {})
    for _ in range(10):
        workflow.do_engine_steps()
        if workflow.subprocesses:
            break
        for task in workflow.get_tasks(state=TaskState.READY, manual=True)[:1]:
            runtime.complete_user_task(workflow, str(task.id), {})
    assert isinstance(workflow, Workflow) and workflow.subprocesses
    assert all(isinstance(s, SubWorkflow) for s in workflow.subprocesses.values())
    state = runtime.dump_state(workflow)
    assert '"typename":"BpmnSubWorkflow"' in state  # SpiffWorkflow's name: the stored state reads either way
    restored = runtime.load_state(state, process.spec, process.subprocess_specs)
    assert isinstance(restored, Workflow)
    assert all(isinstance(s, SubWorkflow) for s in restored.subprocesses.values())
    assert runtime.dump_state(restored) == state


def test_a_loop_taken_600_times_runs_every_round_and_ends_only_after_the_last(runtime):
    # Two tasks a round: 1,200 deep, past the 1,000 at which SpiffWorkflow's own walk stops looking.
    (process,) = executable(loop(), "bench_loop.bpmn")
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, {"rounds": 600})
    workflow.do_engine_steps()
    take_rounds(runtime, workflow, range(1, 600))
    assert not workflow.is_completed()
    take_rounds(runtime, workflow, range(600, 601))
    assert workflow.is_completed() and workflow.last_task.data["round"] == 600


def test_walks_agree_after_going_back_to_an_earlier_round(runtime):
    (process,) = executable(loop(), "bench_loop.bpmn")
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, {"rounds": 8})
    workflow.do_engine_steps()
    done = take_rounds(runtime, workflow, range(1, 6),
                       after=lambda w: _compare(w, {"walks": 0, "tasks": 0, "subprocess_walks": 0}))
    workflow.reset_from_task_id(done[1].id)  # back to the second round: the rounds after it leave the tree
    workflow.do_engine_steps()
    _compare(workflow, {"walks": 0, "tasks": 0, "subprocess_walks": 0})
    assert workflow.get_tasks(state=TaskState.READY, manual=True) == [done[1]]
