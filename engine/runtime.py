"""Running workflows in memory: create, restore, advance, read ready work, fire timers.

No database here: the engine hands in the spec and gets back state (JSON) and facts to persist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter, BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .clock import Clock
from .errors import HandlerFailed, Message, ScriptRejected, SmflowError, WorkflowError
from .messages import say
from .sandbox import Sandbox
from .script_engine import SandboxScriptEngine
from .spiff_dialect import make_serializer
from .task_walk import SubWorkflow, TaskTable, Workflow
from .timers import after, parse_when

ANY_SCOPE = "*"
# A choice (approve or reject, a rating, yes or no) is made afresh in every round of a loop: carrying
# last round's "reject" into the next meeting invites a hurried repeat. So is a field marked `fresh` (the
# comment that explains this round's choice). Other answers carry over.
FRESH_CHOICES = {"enum", "boolean"}


# A task's data is stored as its changes against its parent's. SpiffWorkflow gives every multi-instance
# child a copy of the whole data and updates the collection on the parent as each child finishes, so
# every open child's copy of the collection differs from the parent's: N copies of an N-item collection.
# Such a repeated value (equal to the one the previous task stored under that name) is stored once and
# referred to as {"same_as": {name: task id}}. Only containers of at least this many entries are compared.
_SHARED_MIN_LEN = 8


_FINISHED = (TaskState.COMPLETED, TaskState.CANCELLED)

# A long history is stored apart from the state, in batches written once (the store's instance_history):
# a step then writes its unfinished tasks and the few finished since the last batch, not its whole history.
# A finished task goes into a batch once it cannot change any more (_finished_for_good), with at least this
# many others: a short process never writes a batch, and its state is one row as before.
HISTORY_BATCH = 48
_HISTORY_KEY = "smflow_history"  # in a state: how many batches of its history are stored apart
_STORED_APART: ContextVar[History | None] = ContextVar("smflow_stored_apart", default=None)  # left out of a dump


@dataclass
class History:
    """What of a workflow's history is stored apart: how many batches, and the finished subprocesses (by the id
    of the task that started them) whose every task is in them. Which tasks are: task_walk.TaskTable.

    A workflow without one (rebuilt from a whole state, or after a reset or a migration changed its history)
    is saved whole, and the batches stored before are dropped (StateParts.rewrite)."""

    batches: int = 0
    subprocesses: set[UUID] = field(default_factory=set)


@dataclass
class StateParts:
    """A workflow as stored: its state, and a new batch of its history to store apart (number, JSON text)."""

    state: str
    batch: tuple[int, str] | None
    rewrite: bool  # the batches stored before no longer hold: drop them


def _finished_for_good(task) -> bool:
    """Finished, below a finished task, and above finished ones only: SpiffWorkflow changes such a task no more,
    unless a reset or a migration takes it out of the tree (task_walk._Walks forgets the history then)."""
    if task._state not in _FINISHED:
        return False
    parent = task.parent
    if parent is not None and parent._state not in _FINISHED:
        return False
    tasks = task.workflow.tasks
    return all(tasks[child]._state in _FINISHED for child in task._children)


class _KeptTaskDict(dict):
    """A finished task's serialized form, with its JSON text (as an entry of the tasks mapping) once written:
    a long history's finished tasks are then neither converted nor encoded again at every step, only copied
    into the state's text."""

    __slots__ = ("text", "shared")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.text: str | None = None
        self.shared: tuple[dict, _KeptTaskDict] | None = None  # its form with repeats referred to (_share_repeats)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_TASKS_MARK = f"smflow-tasks-{uuid4().hex}"  # stands for a tasks mapping while the rest is encoded


def _encode_tasks(tasks: dict) -> str:
    parts = []
    for task_id, task in tasks.items():
        if isinstance(task, _KeptTaskDict):
            if task.text is None:
                task.text = f"{_encode(task_id)}:{_encode(task)}"
            parts.append(task.text)
        else:
            parts.append(f"{_encode(task_id)}:{_encode(task)}")
    return "{" + ",".join(parts) + "}"


def _encode_state(dct: dict) -> str:
    """The same text as encoding `dct` whole (which it changes), with kept tasks' texts reused."""
    texts = {}
    for n, part in enumerate((dct, *dct["subprocesses"].values())):
        mark = f"{_TASKS_MARK}-{n}"
        texts[_encode(mark)] = _encode_tasks(part["tasks"])
        part["tasks"] = mark
    text = _encode(dct)
    for mark, tasks_text in texts.items():
        text = text.replace(mark, tasks_text, 1)
    return text


def _keep_finished_task_dicts(registry) -> None:
    """Serialize a finished task once: its dict is kept on it while nothing it depends on changes.

    A finished task's data, and its parent's when that has finished too, no longer change; the dict
    (which stores the data as changes against the parent's) is kept with the state it was made in, its
    spec, children and trigger, and made afresh if any of these differ. Without this every completion
    serialized the instance's whole history again."""
    from SpiffWorkflow.task import Task

    typename = registry.typenames[Task]
    plain = registry.convert_to_dict[typename]

    def convert(task, **kwargs):
        key = _keep_key(task)
        if key is None:
            return plain(task, **kwargs)
        kept = task.__dict__.get("_smflow_dict")
        if kept is None or kept[0] != key:
            kept = (key, _KeptTaskDict(plain(task, **kwargs)))
            task._smflow_dict = kept
        return kept[1]

    registry.convert_to_dict[typename] = convert


def _keep_key(task) -> tuple | None:
    """What a task's kept dict depends on; None for a task whose dict is not kept."""
    parent = task.parent
    if task._state in _FINISHED and (parent is None or parent._state in _FINISHED):
        return (task._state, task.last_state_change, task.task_spec.name, tuple(task._children), task.triggered,
                id(task.data), None if parent is None else id(parent.data))
    if not task.data and not task.internal_data:
        # A task not reached yet (predicted ahead): with no data of its own, its dict holds only which of its
        # parent's names it lacks (SpiffWorkflow's delta). A 20-step process has a dozen of these at every step.
        return (task._state, task.last_state_change, task.task_spec.name, tuple(task._children), task.triggered,
                task._parent, None if parent is None else tuple(parent.data))
    return None


def _keep_read_task_dicts(registry) -> None:
    """A task read back from a state keeps the dict it was read from, where a dict would be kept
    (_keep_finished_task_dicts): that dict is what serializing the task gives. Without it the first save
    after a read serialized every task again, which took longer than the read (a completion on an instance
    no process holds in memory)."""
    from SpiffWorkflow.task import Task

    typename = registry.typenames[Task]
    plain = registry.convert_from_dict[typename]

    def restore(dct, **kwargs):
        task = plain(dct, **kwargs)
        key = _keep_key(task)  # its parent is read first (a tree's order), or the key will not hold when saved
        if key is not None:
            kept = _KeptTaskDict(dct)
            kept["typename"] = typename  # the registry takes it off what it restores from, and puts it last
            task._smflow_dict = (key, kept)
        return task

    registry.convert_from_dict[typename] = restore


def _kept_dict(task) -> dict | None:
    """The task's kept dict if it still holds (see _keep_finished_task_dicts)."""
    kept = task.__dict__.get("_smflow_dict")
    return kept[1] if kept is not None and kept[0] == _keep_key(task) else None


def _share_repeats(tasks: dict) -> None:
    last: dict[str, tuple[str, object]] = {}
    for task_id, task in tasks.items():
        updates = (task.get("delta") or {}).get("updates")
        if not updates:
            continue
        same = {}
        for name, value in updates.items():
            if not isinstance(value, (list, dict)) or len(value) < _SHARED_MIN_LEN:
                continue
            before = last.get(name)
            if before is not None and (before[1] is value or before[1] == value):
                same[name] = before[0]
            else:
                last[name] = (task_id, value)
        if not same:
            continue
        # A new dict: the task's own may be kept for later dumps (_keep_finished_task_dicts). A kept one keeps
        # this form too, and its text, while it refers to the same tasks: a finished multi-instance item's was
        # made and encoded again at every step (SM1.3: 21 tasks, 23 KB of JSON per completion).
        kept = task if isinstance(task, _KeptTaskDict) else None
        if kept is not None and kept.shared is not None and kept.shared[0] == same:
            tasks[task_id] = kept.shared[1]
            continue
        shared = {**task, "delta": {**task["delta"], "same_as": same,
                                    "updates": {k: v for k, v in updates.items() if k not in same}}}
        if kept is not None:
            shared = _KeptTaskDict(shared)
            kept.shared = (same, shared)
        tasks[task_id] = shared


def _resolve_repeats(tasks: dict) -> None:
    for task in tasks.values():
        delta = task.get("delta") or {}
        for name, source in delta.pop("same_as", {}).items():
            delta["updates"][name] = tasks[source]["delta"]["updates"][name]  # restored into a fresh copy per task


def _parents_first(tasks: dict, root: str) -> dict:
    """The tasks in the tree's order: a task's data is restored from its parent's, which must come first. A
    task may have gone into a batch before its parent (the parent still had a child running)."""
    ordered, pending = {}, [root]
    while pending:
        task_id = pending.pop()
        task = tasks.get(task_id)
        if task is None:
            raise WorkflowError(f"流程实例的历史记录不完整: 缺少任务 {task_id}")
        ordered[task_id] = task
        pending.extend(reversed(task["children"]))
    return ordered


class _TaskMapping:
    def mapping_to_dict(self, mapping, **kwargs):
        # A workflow's tasks: a kept dict is taken as it is (its id too), without the registry's round per task,
        # which is most of the cost of a long history. Tasks stored apart are left out.
        out, convert, apart = {}, self.registry.convert, _STORED_APART.get()
        items = mapping.items()
        if apart is not None:
            items = (mapping.not_stored_apart.items() if isinstance(mapping, TaskTable)
                     else [(key, sub) for key, sub in items if key not in apart.subprocesses])
        for key, value in items:
            kept = _kept_dict(value) if isinstance(value, Task) else None
            if kept is not None:
                out[kept["id"]] = kept
            else:
                out[str(key)] = convert(value, **kwargs)
        return out


class _SubWorkflowConverter(_TaskMapping, BpmnSubWorkflowConverter):
    """A subprocess's workflow, restored as SubWorkflow (task_walk)."""


class _StatelessSpecConverter(_TaskMapping, BpmnWorkflowConverter):
    """The workflow without its spec: the spec is stored once per definition version."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        for part in (dct, *dct["subprocesses"].values()):
            _resolve_repeats(part["tasks"])
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


@dataclass
class ReadyTask:
    """A user task waiting for a person, with everything routing and the inbox need."""

    guid: str
    element_id: str
    name: str
    step: str | None
    lane: str | None
    scope: str
    due_at: datetime | None
    form: dict | None
    prefill: dict | None
    documentation: str | None


@dataclass
class Advance:
    """What happened while the workflow ran: audit facts and handler failures."""

    decisions: list[dict] = field(default_factory=list)
    service_calls: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)


ServiceDispatch = Callable[[Task, str, dict], dict | None]


def _describe(exc: Exception) -> str:
    """Why a step failed; a sandbox refusal or a handler's Message stays one, so that it is read in the reader's
    language."""
    inner = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
    if isinstance(inner, SmflowError):
        return inner.message
    if isinstance(exc, ScriptRejected) or (isinstance(exc, HandlerFailed) and isinstance(exc.message, Message)):
        return exc.message  # a handler's Message says its cause already
    text = str(exc)
    if isinstance(inner, Exception) and str(inner) not in text:  # the cause ("NoneType >= int"), not only where
        text += f": {type(inner).__name__}: {inner}"
    return text


class Runtime:
    def __init__(self, sandbox: Sandbox, clock: Clock):
        self.sandbox = sandbox
        self.clock = clock
        self.script_engine = SandboxScriptEngine(sandbox, clock)
        self.serializer = make_serializer()
        _keep_finished_task_dicts(self.serializer.registry)
        _keep_read_task_dicts(self.serializer.registry)
        # Stored under SpiffWorkflow's own type name: states read either way.
        _SubWorkflowConverter(SubWorkflow, self.serializer.registry, typename=BpmnSubWorkflow.__name__)
        self._state_converter = _StatelessSpecConverter(Workflow, self.serializer.registry)

    # -- specs and state -------------------------------------------------------------------------
    def dump_spec(self, spec, subprocess_specs: dict) -> str:
        registry = self.serializer.registry
        return json.dumps({
            "spec": registry.convert(spec),
            "subprocess_specs": {k: registry.convert(v) for k, v in subprocess_specs.items()},
        })

    def load_spec(self, spec_json: str):
        dct = json.loads(spec_json)
        registry = self.serializer.registry
        return registry.restore(dct["spec"]), {k: registry.restore(v) for k, v in dct["subprocess_specs"].items()}

    def new_workflow(self, spec, subprocess_specs: dict, data: dict) -> BpmnWorkflow:
        workflow = Workflow(spec, subprocess_specs, script_engine=self.script_engine)
        workflow.task_tree.data.update(data)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        workflow.smflow_history = History()  # nothing stored apart yet
        return workflow

    def dump_state(self, workflow: BpmnWorkflow) -> str:
        """The whole workflow as one JSON text."""
        dct = self._state_converter.to_dict(workflow)
        for part in (dct, *dct["subprocesses"].values()):
            _share_repeats(part["tasks"])
        return self._encode(dct)

    def dump_parts(self, workflow: BpmnWorkflow) -> StateParts:
        """The workflow as stored by the engine: the state without the history stored apart, and a new batch of
        that history when enough tasks have finished for good since the last one (see History)."""
        history = workflow.__dict__.get("smflow_history")
        rewrite = history is None
        if rewrite:
            history = workflow.smflow_history = History()
            for part in (workflow, *workflow.subprocesses.values()):
                part.tasks.store_all_in_state()
        token = _STORED_APART.set(history)
        try:
            dct = self._state_converter.to_dict(workflow)
        finally:
            _STORED_APART.reset(token)
        subprocesses = dct["subprocesses"]
        parts = {"": (dct["tasks"], workflow),
                 **{key: (sub["tasks"], workflow.subprocesses[UUID(key)]) for key, sub in subprocesses.items()}}
        batch, done = None, []
        if sum(len(part.tasks.not_stored_apart) for _, part in parts.values()) >= HISTORY_BATCH:  # else too few
            done = [(key, task_id) for key, (tasks, part) in parts.items()
                    for task_id, task in part.tasks.not_stored_apart.items() if _finished_for_good(task)]
        if len(done) >= HISTORY_BATCH:
            tasks_apart: dict[str, dict] = {}
            for key, task_id in done:
                tasks, part = parts[key]
                tasks_apart.setdefault(key, {})[str(task_id)] = tasks.pop(str(task_id))
                part.tasks.stored_apart(task_id)
            # A finished subprocess with nothing left in the state goes too: a loop around a call activity
            # would otherwise keep one per round.
            ended = [key for key, sub in subprocesses.items() if sub["completed"] and not sub["tasks"]]
            history.subprocesses.update(UUID(key) for key in ended)
            for tasks in tasks_apart.values():
                _share_repeats(tasks)  # within the batch: a stored batch never changes, nor may what it refers to
            history.batches += 1
            ended_text = _encode({key: subprocesses.pop(key) for key in ended})
            tasks_text = ",".join(f"{_encode(key)}:{_encode_tasks(tasks)}" for key, tasks in tasks_apart.items())
            batch = (history.batches, f'{{"subprocesses":{ended_text},"tasks":{{{tasks_text}}}}}')
        for tasks, _ in parts.values():
            _share_repeats(tasks)
        dct[_HISTORY_KEY] = history.batches
        return StateParts(self._encode(dct), batch, rewrite)

    def _encode(self, dct: dict) -> str:
        # Not SpiffWorkflow's "encoder mode": it is a flag on the shared registry, and web threads share it.
        dct[self.serializer.VERSION_KEY] = self.serializer.VERSION
        return _encode_state(dct)

    def load_state(self, state: str, spec, subprocess_specs: dict,
                   history: Callable[[], list[str]] = list) -> BpmnWorkflow:
        """A workflow from its state, and from the batches of its history stored apart (`history()` reads them,
        oldest first; only called when the state says there are some)."""
        dct = json.loads(state)
        batches = dct.pop(_HISTORY_KEY, None)
        apart: dict[str, set[str]] = {}  # by part: the tasks that are stored apart only
        ended = set()
        if batches:
            texts = history()
            if len(texts) != batches:
                raise WorkflowError(f"流程实例的历史记录不完整: 应有 {batches} 批, 只找到 {len(texts)} 批")
            stored: dict[str, dict] = {}
            for text in texts:
                batch = json.loads(text)
                for key, sub in batch["subprocesses"].items():
                    dct["subprocesses"][key] = sub
                    ended.add(key)
                for key, tasks in batch["tasks"].items():
                    stored.setdefault(key, {}).update(tasks)
            for key, tasks in stored.items():
                part = dct if key == "" else dct["subprocesses"][key]
                apart[key] = tasks.keys() - part["tasks"].keys()
                part["tasks"] = _parents_first({**tasks, **part["tasks"]}, part["root"])
        self.serializer.migrate(dct)
        workflow = self._state_converter.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
        # Deserialization attaches SpiffWorkflow's default (unrestricted) engine; never keep it.
        workflow.script_engine = self.script_engine
        if batches is not None:  # else a whole state: saved whole once more, then in parts
            workflow.smflow_history = History(batches, {UUID(key) for key in ended})
            for key, task_ids in apart.items():
                table = (workflow if key == "" else workflow.subprocesses[UUID(key)]).tasks
                for task_id in task_ids:
                    table.stored_apart(UUID(task_id))
        return workflow

    # -- running --------------------------------------------------------------------------------
    def advance(self, workflow: BpmnWorkflow, dispatch: ServiceDispatch,
                waiting_retry: Callable[[], set[str]] = set) -> Advance:
        """Run engine steps, then service tasks, until every branch waits for a person, a timer or a retry.

        `waiting_retry()` gives the service tasks that failed before and wait for the worker; it is only
        called when there are service tasks to run.
        """
        result, skip = Advance(), None

        def record(task: Task):
            spec = task.task_spec
            if isinstance(spec, (ExclusiveGateway, InclusiveGateway)):
                chosen = [_display_name(c) for c in task.children
                          if c.has_state(TaskState.DEFINITE_MASK | TaskState.FINISHED_MASK)]
                result.decisions.append({"element_id": spec.bpmn_id, "name": spec.bpmn_name, "chosen": chosen})

        while True:
            try:
                workflow.do_engine_steps(did_complete_task=record)
            except SpiffWorkflowException as exc:
                raise WorkflowError(say("runtime.failed", reason=_describe(exc)), element_id=_element_of(exc)) from exc
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
                # SpiffWorkflow lets some data errors through unwrapped (a multi-instance collection that is
                # None raises TypeError): the process cannot go on with this data, it is not a crash.
                raise WorkflowError(say("runtime.failed", reason=f"{type(exc).__name__}: {exc}")) from exc
            started = [t for t in workflow.get_tasks(state=TaskState.STARTED) if isinstance(t.task_spec, ServiceTask)]
            if started and skip is None:
                skip = set(waiting_retry())
            pending = [t for t in started if str(t.id) not in skip]
            if not pending:
                return result
            for task in pending:
                topic = task.task_spec.extensions.get("smflow:topic")
                try:
                    params = {name: self.script_engine.evaluate(task, expr)
                              for name, expr in task.task_spec.extensions.get("smflow:params", {}).items()}
                    output = dispatch(task, topic, params)
                except (HandlerFailed, SpiffWorkflowException, ScriptRejected) as exc:
                    skip.add(str(task.id))
                    result.failures.append({"task_guid": str(task.id), "topic": topic,
                                            "element_id": task.task_spec.bpmn_id, "error": _describe(exc),
                                            "retryable": getattr(exc, "retryable", False)})
                    continue
                task.data.update(output or {})
                task.complete()
                result.service_calls.append({"element_id": task.task_spec.bpmn_id, "topic": topic})

    def ready_tasks(self, workflow: BpmnWorkflow) -> list[ReadyTask]:
        return [self._describe_ready(t) for t in workflow.get_tasks(state=TaskState.READY, manual=True)]

    def ready_work(self, workflow: BpmnWorkflow, known: set[str] | dict) -> tuple[set[str], list[ReadyTask]]:
        """Every ready user task's guid, and the description of those not in `known` (already have a row):
        describing evaluates scope, due date and prefill expressions, which a task needs only once."""
        guids, new = set(), []
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            guid = str(task.id)
            guids.add(guid)
            if guid not in known:
                new.append(self._describe_ready(task))
        return guids, new

    def _describe_ready(self, task: Task) -> ReadyTask:
        spec = task.task_spec
        ext = getattr(spec, "extensions", {}) or {}
        scope = ANY_SCOPE
        if ext.get("smflow:scope"):
            scope = self._evaluate(task, ext["smflow:scope"], "runtime.what.scope")
            scope = ANY_SCOPE if scope in (None, "") else str(scope)
            if len(scope) > 255 or "\x00" in scope or not scope.isprintable():  # what a scope column can hold
                raise WorkflowError(say("runtime.bad_scope", value=repr(scope[:40])), element_id=spec.bpmn_id)
        form = ext.get("smflow:form")
        prefill = {}
        for f in (form or {}).get("fields", []):
            if f.get("rows"):
                prefill[f["id"]] = self._evaluate(task, f["rows"], "runtime.what.form_rows", field=f["id"])
            elif f["id"] in task.data and (f.get("readonly") or not (f["type"] in FRESH_CHOICES or f.get("fresh"))):
                # A step that revises an earlier answer starts from it (and read-only fields show it).
                prefill[f["id"]] = task.data[f["id"]]
        return ReadyTask(
            guid=str(task.id), element_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id,
            step=ext.get("smflow:step"), lane=ext.get("smflow:lane") or spec.lane, scope=scope,
            due_at=self._due(task, ext.get("smflow:due")), form=form, prefill=prefill or None,
            documentation=spec.documentation,
        )

    def _evaluate(self, task: Task, expression: str, what: str, **params) -> Any:
        """`what` and `params` name what is evaluated (runtime.what.*); the message is only made when it fails."""
        try:
            return self.script_engine.evaluate(task, expression)
        except Exception as exc:  # noqa: BLE001 - reported with the element so the owner can fix the diagram
            raise WorkflowError(say("runtime.evaluation_failed", what=say(what, **params), reason=_describe(exc)),
                                element_id=task.task_spec.bpmn_id) from exc

    def _due(self, task: Task, expression: str | None) -> datetime | None:
        if not expression:
            return None
        value = self._evaluate(task, expression, "runtime.what.due")
        try:
            parsed = parse_when(value)
        except (ValueError, TypeError, AttributeError) as exc:
            raise WorkflowError(say("runtime.bad_due", value=value),
                                element_id=task.task_spec.bpmn_id) from exc
        return after(self.clock.now(), parsed) if isinstance(parsed, dict) else parsed

    def complete_user_task(self, workflow: BpmnWorkflow, guid: str, values: dict) -> None:
        """Merge a validated submission into the task and complete it.

        In a multi-instance task whose item is a dict, the submission is also merged into the item,
        so the collection ends up holding every instance's answers.
        """
        task = find_task(workflow, guid)
        task.data.update(values)
        parent = task.parent
        if parent is not None and isinstance(parent.task_spec, MultiInstanceTask):
            item_ref = parent.task_spec.input_item or parent.task_spec.output_item
            if item_ref is not None and isinstance(task.data.get(item_ref.bpmn_id), dict):
                task.data[item_ref.bpmn_id] = {**task.data[item_ref.bpmn_id], **values}
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise WorkflowError(say("runtime.failed", reason=_describe(exc)),
                                element_id=task.task_spec.bpmn_id) from exc

    def next_timer(self, workflow: BpmnWorkflow) -> datetime | None:
        due = []
        for pending in workflow.waiting_events():
            value = pending.value
            if isinstance(value, dict):
                value = value.get("next")
            if isinstance(value, str):
                try:
                    parsed = parse_when(value)
                except (ValueError, TypeError):
                    continue
                if isinstance(parsed, datetime):
                    due.append(parsed)
        return min(due) if due else None

    def fire_timers(self, workflow: BpmnWorkflow) -> None:
        workflow.refresh_timers()


def find_task(workflow: BpmnWorkflow, guid: str) -> Task:
    task = workflow.get_task_from_id(UUID(guid))
    if task is None:
        raise KeyError(guid)
    return task


def _display_name(task: Task) -> str:
    spec = task.task_spec
    if not spec.bpmn_name and isinstance(spec, MultiInstanceTask):
        spec = task.workflow.spec.task_specs.get(spec.task_spec, spec)  # the name is on the repeated task
    return spec.bpmn_name or spec.bpmn_id


def _element_of(exc: Exception) -> str | None:
    task = getattr(exc, "task", None)
    return getattr(getattr(task, "task_spec", None), "bpmn_id", None)
