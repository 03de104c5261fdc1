"""The path an instance has taken so far: which sequence flows it went along, read from the task tree.

Pure: works on a SpiffWorkflow workflow in memory; the instance page draws the result on the diagram.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.util.task import TaskState

# A task in one of these states was reached: the flow into it was taken.
REACHED = TaskState.COMPLETED | TaskState.STARTED | TaskState.READY | TaskState.WAITING | TaskState.ERROR


def _element(task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _nearest_element(task) -> str | None:
    """The closest ancestor that is a BPMN element (SpiffWorkflow adds tasks of its own in between)."""
    parent = task.parent
    while parent is not None and _element(parent) is None:
        parent = parent.parent
    return _element(parent) if parent is not None else None


def taken_flows(workflow) -> list[tuple[str, str]]:
    """(source element id, target element id) of every sequence flow taken, in the order first taken.

    A join (parallel or inclusive gateway) sits under one incoming branch in the tree; its other incoming
    flows count as taken when their source has completed."""
    every = list(workflow.get_tasks())
    for sub in getattr(workflow, "subprocesses", {}).values():
        every += list(sub.get_tasks())
    completed = {_element(t) for t in every if t.has_state(TaskState.COMPLETED) and _element(t)}
    pairs: dict[tuple[str, str], None] = {}
    for task in every:
        target = _element(task)
        if target is None or not task.has_state(REACHED):
            continue
        source = _nearest_element(task)
        if source and source != target:
            pairs[(source, target)] = None
        if isinstance(task.task_spec, (ParallelGateway, InclusiveGateway)):
            for spec in task.task_spec.inputs:
                source = getattr(spec, "bpmn_id", None)
                if source in completed and source != target:
                    pairs[(source, target)] = None
    return list(pairs)
