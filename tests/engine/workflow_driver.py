"""Running a process in memory to its end, answering every form: shared by the engine tests that check
something at every step (tests/engine/test_task_walk.py, test_history_apart.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from bench.processes import answer
from engine.definitions import parse_bpmn
from engine.errors import SmflowError
from engine.runtime import Runtime

# A subprocess with parallel branches, inside a loop taken 12 times: subprocess walks and a deep tree.
LOOPED_SUBPROCESS = (Path(__file__).parents[1] / "fixtures" / "looped_subprocess.bpmn").read_bytes()


def executable(data: bytes, name: str) -> list:
    return [p for p in parse_bpmn(data, name).processes if p.executable]


def drive(runtime: Runtime, process, data: dict, each_step: Callable, max_steps: int = 400):
    """Run the engine's steps, call `each_step(workflow)` (it returns the workflow to go on with), finish the
    started service tasks and answer the first ready user task; until nothing is ready. Stops at the first
    error: a process may need data or handlers this does not give, and was looked at up to there."""
    workflow = runtime.new_workflow(process.spec, process.subprocess_specs, data)
    for _ in range(max_steps):
        try:
            workflow.do_engine_steps()
        except SpiffWorkflowException:
            return workflow
        workflow = each_step(workflow)
        for task in workflow.get_tasks(state=TaskState.STARTED, spec_class=ServiceTask):
            task.complete()
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            return workflow
        task = ready[0]
        try:
            runtime.complete_user_task(workflow, str(task.id), answer(task.task_spec.extensions.get("smflow:form"),
                                                                      None))
        except SmflowError:
            return workflow
    return workflow


def take_rounds(runtime: Runtime, workflow, rounds: range, after: Callable = lambda workflow: None) -> list:
    """Answer a loop's one ready task (bench.processes.loop) once per round, calling `after(workflow)` after
    each; the tasks answered."""
    answered = []
    for n in rounds:
        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        runtime.complete_user_task(workflow, str(task.id), {"round": n})
        workflow.do_engine_steps()
        after(workflow)
        answered.append(task)
    return answered
