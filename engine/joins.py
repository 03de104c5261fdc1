"""Joins that merge what each parallel branch *changed*, not each branch's whole copy of the data.

SpiffWorkflow's joins deep-merge every branch's full data in completion order, so a branch that did
not touch a value still carries the copy it got at the split and overwrites a sibling's edit (SM1.1's
23–26 revise four different plans in parallel; only the last branch's edits would survive).  Here each
branch is compared with the data at the split, and only its changes are applied.
"""

from __future__ import annotations

from copy import deepcopy

from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway, ParallelGateway
from SpiffWorkflow.util.task import TaskState


def merge_changes(target: dict, base: dict, branch: dict) -> None:
    """Apply to `target` what `branch` changed relative to `base` (dicts recursively, other values whole)."""
    for key, value in branch.items():
        before = base.get(key, _MISSING)
        if before == value:
            continue
        current = target.get(key)
        if isinstance(value, dict) and isinstance(before, dict) and isinstance(current, dict):
            merge_changes(current, before, value)
        else:
            target[key] = deepcopy(value)
    for key in base:
        if key not in branch:
            target.pop(key, None)


_MISSING = object()


def _lineage(task) -> list:
    chain = []
    while task is not None:
        chain.append(task)
        task = task.parent
    return chain


def _common_ancestor(tasks: list):
    shared = None
    lineages = [_lineage(t) for t in tasks]
    ids = [{id(t) for t in lineage} for lineage in lineages]
    for candidate in lineages[0]:
        if all(id(candidate) in seen for seen in ids[1:]):
            shared = candidate
            break
    return shared


class ChangeMergingJoin:
    def _run_hook(self, my_task):
        branches = sorted(
            (t for t in my_task.workflow.tasks.values()
             if t.task_spec == self and t.has_state(TaskState.FINISHED_MASK) and not my_task.is_descendant_of(t)),
            key=lambda t: t.last_state_change,
        )
        sources = [t.parent for t in branches] + [my_task.parent]
        split = _common_ancestor(sources)
        base = split.data if split is not None else {}
        merged = deepcopy(base)
        for source in sources:
            merge_changes(merged, base, source.data)
        for task in branches:
            if task.has_state(TaskState.COMPLETED):
                task._drop_children(force=True)
        my_task.data = merged
        return True


class MergingParallelGateway(ChangeMergingJoin, ParallelGateway):
    pass


class MergingInclusiveGateway(ChangeMergingJoin, InclusiveGateway):
    pass
