"""SpiffWorkflow's task-tree walk, made cheaper, and the workflow classes that use it.

SpiffWorkflow finds work by walking the whole task tree from its root (`get_tasks`): at least twice
per engine step, and again for our own questions (ready user tasks, started service tasks). A loop
taken many times makes the tree deep, so each walk grows with the instance's history. Its iterator
keeps the pending tasks in a list it pops from the front and rebuilds by concatenation, and builds a
list of children per task; this one keeps them on a stack and tests a task's state before its filter.
Before walking at all it looks at the workflows' task tables (TaskWalk._shortcut), and `is_completed`
asks the table alone; both look only at the tasks that may be unfinished (TaskTable): most walks of a step
then cost little however long the history.

It returns exactly the same tasks in the same order, with the same pruning (predicted tasks only
when asked for, `max_depth`, `end_at_spec`, subprocesses): tests/engine/test_task_walk.py compares
the two walk for walk on the manual's processes. Only the workflows' default depth differs (see
NO_DEPTH_LIMIT).
"""

from __future__ import annotations

import sys

from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

# Only a reset takes a task back from these (and it starts the tables' lists afresh, `_Walks.reset_from_task_id`);
# a task in ERROR may be run again.
_DONE_FOR_GOOD = TaskState.COMPLETED | TaskState.CANCELLED


class TaskTable(dict):
    """A workflow's task table (id -> task) that also keeps, apart, the tasks that may still be unfinished, and
    those not yet stored apart from the state (runtime.History): what a step looks at is then the work in
    hand, not the whole history."""

    __slots__ = ("_open", "not_stored_apart")

    def __init__(self, *args):
        super().__init__(*args)
        self._open = dict(self)
        self.not_stored_apart = dict(self)

    def __setitem__(self, task_id, task):
        super().__setitem__(task_id, task)
        self._open[task_id] = task
        self.not_stored_apart[task_id] = task

    def __delitem__(self, task_id):
        self.pop(task_id)

    def pop(self, task_id, *default):
        self._open.pop(task_id, None)
        self.not_stored_apart.pop(task_id, None)
        return super().pop(task_id, *default)

    def unfinished(self):
        """The tasks that may be unfinished: every unfinished task, and some that finished since last asked."""
        open_tasks = self._open
        for task_id in [task_id for task_id, task in open_tasks.items() if task._state & _DONE_FOR_GOOD]:
            del open_tasks[task_id]
        return open_tasks.values()

    def reopen(self) -> None:
        self._open = dict(self)

    def store_all_in_state(self) -> None:
        """Every task is written in the state again: the history stored apart was dropped (runtime.History)."""
        self.not_stored_apart = dict(self)

    def stored_apart(self, task_id) -> None:
        """The task is in a batch of the history stored apart, no longer in the state."""
        del self.not_stored_apart[task_id]


class TaskWalk(BpmnTaskIterator):
    """BpmnTaskIterator's depth-first walk; `_pending` is its task list reversed (the next task last)."""

    def __init__(self, task, *args, listed: bool = False, **kwargs):
        super().__init__(task, *args, **kwargs)
        self._listed = listed  # the caller takes every task before it acts on any (get_tasks)
        self._pending = [task]
        self._subprocesses = task.workflow.top_workflow.subprocesses
        self._wanted = self.task_filter.state
        self._looked = False
        self._alone = False  # the shortcut found the one task: nothing to walk below it

    def __next__(self):
        pending, wanted, matches = self._pending, self._wanted, self.task_filter.matches
        if not self._looked:
            self._looked = True
            self._shortcut(pending)
        while pending:
            task = self._step(pending)
            if task._state & wanted and matches(task):
                return task
        raise StopIteration()

    def _shortcut(self, pending: list) -> None:
        """Look at the workflows' task tables first, much cheaper than the walk: when no task there matches,
        the walk finds nothing; when one does, the walk finds it if each task above it lets the walk in. Most
        walks of a step find nothing (waiting tasks, started service tasks) or one task (the one ready), and
        then need not go down the whole tree, which a loop makes as deep as its history."""
        first = pending[0]
        tables = [first.workflow.tasks]
        if self._subprocesses and not self.skip_subprocesses:
            tables += [subprocess.tasks for subprocess in self._subprocesses.values()]
        wanted, matches, found = self._wanted, self.task_filter.matches, []
        for table in tables:
            candidates = table.values() if wanted & _DONE_FOR_GOOD else table.unfinished()
            found += [task for task in candidates if task._state & wanted and matches(task)]
            if len(found) > 1:
                return  # their order is the walk's
        if not found:
            pending.clear()
        # Acting on a task as it comes (update_waiting_tasks) may make a task below it match when the walk gets
        # there: only a walk listed at once may stop at the one it found.
        elif self._listed and self.max_depth == NO_DEPTH_LIMIT and self.end_at_spec is None:
            pending[:] = found if self._reached(first, found[0]) else []
            self._alone = True

    def _reached(self, first, task) -> bool:
        """Whether the walk from `first` comes to `task`: every task above it (up through the subprocesses it
        is in) lets the walk go down to its children, by the rule of `_step`."""
        top = first.workflow.top_workflow
        # A finished task lets every walk in; a chain of them up to the root stays so (only a reset makes a
        # finished task unfinished, and it drops the task's subtree and clears this memo). Climbs from the root
        # stop at the first task known to have such a chain above it: a loop's climb then costs a few steps,
        # not its whole history.
        rooted = top.smflow_rooted if first is top.task_tree else None
        climbed = []
        while task is not first:
            if rooted is not None and task.id in rooted:
                break
            climbed.append(task)
            parent = task.parent
            if parent is None:  # a subprocess's root (its table is looked at only when the walk enters them)
                workflow = task.workflow
                if workflow is workflow.top_workflow:
                    return False
                task = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)  # the task that started it
                continue
            if not (parent._state >= self.min_state or parent.id in self._subprocesses):
                return False
            task = parent
        if rooted is not None:
            for above in reversed(climbed):  # from the top down, while finished
                if not above._state & TaskState.FINISHED_MASK:
                    break
                rooted.add(above.id)
        return True

    def _step(self, pending: list):
        task = pending.pop()
        if self._alone:
            return task
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
    @property
    def tasks(self) -> TaskTable:
        return self._smflow_tasks

    @tasks.setter
    def tasks(self, tasks: dict) -> None:  # SpiffWorkflow sets it when it makes the workflow and when it restores one
        self._smflow_tasks = tasks if isinstance(tasks, TaskTable) else TaskTable(tasks)

    @property
    def smflow_rooted(self) -> set:
        """Finished tasks whose every ancestor up to the root has finished (see TaskWalk._reached)."""
        rooted = self.__dict__.get("_smflow_rooted")
        if rooted is None:
            rooted = self._smflow_rooted = set()
        return rooted

    # A reset or a migration may change or drop finished tasks: what the memo of TaskWalk._reached and the
    # history stored apart (runtime.History) hold of them no longer holds.
    def reset_from_task_id(self, task_id, *args, **kwargs):
        top = self.top_workflow
        top.__dict__.pop("_smflow_rooted", None)
        top.smflow_history = None
        removed = super().reset_from_task_id(task_id, *args, **kwargs)
        for workflow in (top, *top.subprocesses.values()):
            workflow.tasks.reopen()
        return removed

    def _remove_task(self, task_id):
        if task_id not in self.tasks.not_stored_apart:
            self.top_workflow.smflow_history = None
        super()._remove_task(task_id)

    def get_tasks(self, first_task=None, **kwargs):
        return list(self.get_tasks_iterator(first_task, listed=True, **kwargs))

    def get_tasks_iterator(self, first_task=None, listed: bool = False, **kwargs):
        if not kwargs.get("depth_first", True):
            return super().get_tasks_iterator(first_task, **kwargs)
        kwargs.setdefault("max_depth", NO_DEPTH_LIMIT)
        return TaskWalk(first_task or self.task_tree, listed=listed, **kwargs)

    # SpiffWorkflow's own two, with the plain walk in place of its TaskIterator.
    def update_waiting_tasks(self):
        for task in PlainTaskWalk(self.task_tree, state=TaskState.WAITING, max_depth=NO_DEPTH_LIMIT):
            task.task_spec._update(task)

    def is_completed(self):
        # SpiffWorkflow's walk for an unfinished task goes into every branch, and a workflow's task table holds
        # exactly its tree (a dropped task leaves both with its subtree): the table answers without the walk.
        if not self.completed and not any(task._state & TaskState.NOT_FINISHED_MASK
                                          for task in self.tasks.unfinished()):
            self.completed = True
        return self.completed


class SubWorkflow(_Walks, BpmnSubWorkflow):
    """A subprocess or call activity's workflow."""


class Workflow(_Walks, BpmnWorkflow):
    """A process instance's workflow; its subprocesses walk the same way."""

    def delete_subprocess(self, my_task):
        self.smflow_history = None
        return super().delete_subprocess(my_task)

    def create_subprocess(self, my_task, spec_name):
        subprocess = SubWorkflow(self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self)
        self.subprocesses[my_task.id] = subprocess
        return subprocess
