"""SpiffWorkflow's task-tree walk, made cheaper, and the workflow classes that use it.

SpiffWorkflow finds work by walking the whole task tree from its root (`get_tasks`): at least twice
per engine step, and again for our own questions (ready user tasks, started service tasks). A loop
taken many times makes the tree deep, so each walk grows with the instance's history. Its iterator
keeps the pending tasks in a list it pops from the front and rebuilds by concatenation, and builds a
list of children per task; this one keeps them on a stack and tests a task's state before its filter.

It returns exactly the same tasks in the same order, with the same pruning (predicted tasks only
when asked for, `max_depth`, `end_at_spec`, subprocesses): tests/engine/test_task_walk.py compares
the two walk for walk on the manual's processes. Only the workflows' default depth differs (see
NO_DEPTH_LIMIT).
"""

from __future__ import annotations

import sys

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState


class TaskWalk(BpmnTaskIterator):
    """BpmnTaskIterator's depth-first walk; `_pending` is its task list reversed (the next task last)."""

    def __init__(self, task, *args, **kwargs):
        super().__init__(task, *args, **kwargs)
        self._pending = [task]
        self._subprocesses = task.workflow.top_workflow.subprocesses
        self._wanted = self.task_filter.state

    def __next__(self):
        pending, wanted, matches = self._pending, self._wanted, self.task_filter.matches
        while pending:
            task = self._step(pending)
            if task._state & wanted and matches(task):
                return task
        raise StopIteration()

    def _step(self, pending: list):
        task = pending.pop()
        tasks = task.workflow.tasks
        subprocess = self._subprocesses.get(task.id)
        if ((task._children or subprocess is not None)
                and (task._state >= self.min_state or subprocess is not None)
                and self.depth < self.max_depth and task.task_spec.name != self.end_at_spec):
            pending.extend(tasks.get(child) for child in reversed(task._children))
            if subprocess is not None and not self.skip_subprocesses and not (
                    task._state >= TaskState.FINISHED_MASK and self.task_filter.state <= TaskState.FINISHED_MASK):
                pending.append(subprocess.task_tree)  # walked before the task's children
            self.depth += 1
        elif pending:
            # Back up to the level of the next task (SpiffWorkflow's _handle_leaf_depth).
            ancestor, current = pending[-1].parent, task.parent
            while current is not None and current != ancestor:
                current = current.parent
                self.depth -= 1
        return task


class PlainTaskWalk(TaskWalk):
    """SpiffWorkflow's plain TaskIterator (what it walks after every task it completes): it does not go
    into subprocesses."""

    def __init__(self, task, *args, **kwargs):
        super().__init__(task, *args, **kwargs)
        self._subprocesses = {}


# SpiffWorkflow stops walking 1,000 tasks deep. A loop taken about 500 times (two tasks a round) is that
# deep: its next task was never found, and the instance counted as completed with that task still to do.
# The engine's walks go all the way down, unless a caller asks for a depth.
NO_DEPTH_LIMIT = sys.maxsize


class _Walks:
    def get_tasks_iterator(self, first_task=None, **kwargs):
        if not kwargs.get("depth_first", True):
            return super().get_tasks_iterator(first_task, **kwargs)
        kwargs.setdefault("max_depth", NO_DEPTH_LIMIT)
        return TaskWalk(first_task or self.task_tree, **kwargs)

    # SpiffWorkflow's own two, with the plain walk in place of its TaskIterator.
    def update_waiting_tasks(self):
        for task in PlainTaskWalk(self.task_tree, state=TaskState.WAITING, max_depth=NO_DEPTH_LIMIT):
            task.task_spec._update(task)

    def is_completed(self):
        if not self.completed and next(PlainTaskWalk(self.task_tree, state=TaskState.NOT_FINISHED_MASK,
                                                     max_depth=NO_DEPTH_LIMIT), None) is None:
            self.completed = True
        return self.completed


class SubWorkflow(_Walks, BpmnSubWorkflow):
    """A subprocess or call activity's workflow."""


class Workflow(_Walks, BpmnWorkflow):
    """A process instance's workflow; its subprocesses walk the same way."""

    def create_subprocess(self, my_task, spec_name):
        subprocess = SubWorkflow(self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self)
        self.subprocesses[my_task.id] = subprocess
        return subprocess


def register_workflow_classes(registry) -> None:
    """Stored subprocesses keep SpiffWorkflow's type name, so states stay readable either way, and are
    restored as SubWorkflow."""
    BpmnSubWorkflowConverter(SubWorkflow, registry, typename=BpmnSubWorkflow.__name__)
