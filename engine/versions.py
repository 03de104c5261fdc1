"""Versions of a process: what changed between two files (by element id), and moving a running workflow
onto a newer version's spec. Pure: no database, no web.

Two files are compared as models, not as text: a modeler that re-serialises a diagram (other prefixes,
attribute order, indentation, `incoming`/`outgoing` lists) changes nothing here. The drawing (BPMN DI) is
compared separately, so "only the layout moved" can be told from "the process changed".

SpiffWorkflow 3.2 cannot move an instance to another spec by itself. `move_workflow` keeps every task the
instance has (same ids, same data) and points it at the new spec's task of the same name (the element id);
finished steps that the new version dropped are folded out of the tree, and what lies ahead of the waiting
steps is predicted afresh from the new spec.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.util.task import TaskState

from .errors import WorkflowError
from .xml_safety import load_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
XSI_TYPE = "xsi:type"
PREFIXES = {BPMN_NS: "", "http://camunda.org/schema/1.0/bpmn": "camunda:",
            "http://www.w3.org/2001/XMLSchema-instance": "xsi:"}
# References a modeler adds or drops freely; the flows themselves carry source and target.
IGNORED_CHILDREN = {"incoming", "outgoing"}
# Re-serialised by every tool with its own name and version: not part of the process.
IGNORED_ELEMENTS = {"definitions"}
EXTENSION = f"{{{BPMN_NS}}}extensionElements"
# Attribute values the BPMN 2.0 schema gives by default: writing them or leaving them out is the same model
# (bpmn-js leaves them out, other tools write them all).
DEFAULTS = {
    "isForCompensation": "false", "startQuantity": "1", "completionQuantity": "1", "triggeredByEvent": "false",
    "isInterrupting": "true", "cancelActivity": "true", "parallelMultiple": "false", "isClosed": "false",
    "gatewayDirection": "Unspecified", "instantiate": "false", "eventGatewayType": "Exclusive",
    "isSequential": "false", "behavior": "All", "testBefore": "false", "isCollection": "false",
    "textFormat": "text/plain", "associationDirection": "None", "method": "##Compensate",
    "waitForCompletion": "true", "cancelRemainingInstances": "true", "processType": "None",
    "implementation": ("##unspecified", "##WebService"), "isImmediate": None,
}

# Tasks still to be done or waiting: what must exist in the new version for an instance to move.
ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING
AHEAD = TaskState.FUTURE | TaskState.PREDICTED_MASK


# -- comparing two files ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ElementChange:
    """One element that was added, removed or changed; `aspects` says what changed (e.g. name, formData)."""

    element_id: str
    kind: str
    name: str | None = None
    process_id: str | None = None
    aspects: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "aspects": list(self.aspects)}

    @classmethod
    def from_dict(cls, dct: dict) -> ElementChange:
        return cls(dct["element_id"], dct["kind"], dct.get("name"), dct.get("process_id"),
                   tuple(dct.get("aspects") or ()))


@dataclass
class VersionDiff:
    added: list[ElementChange] = field(default_factory=list)
    removed: list[ElementChange] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)
    layout_changed: bool = False

    @property
    def model_changed(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    @property
    def unchanged(self) -> bool:
        return not self.model_changed and not self.layout_changed

    def for_process(self, process_id: str) -> VersionDiff:
        """The part of the diff about one process (collaboration-level elements count for every process)."""
        def mine(items):
            return [c for c in items if c.process_id in (None, process_id)]

        return VersionDiff(mine(self.added), mine(self.removed), mine(self.changed), self.layout_changed)

    def to_dict(self) -> dict:
        return {"added": [c.to_dict() for c in self.added], "removed": [c.to_dict() for c in self.removed],
                "changed": [c.to_dict() for c in self.changed], "layout_changed": self.layout_changed}

    @classmethod
    def from_dict(cls, dct: dict | None) -> VersionDiff:
        dct = dct or {}
        return cls(*[[ElementChange.from_dict(c) for c in dct.get(key, [])] for key in ("added", "removed", "changed")],
                   bool(dct.get("layout_changed")))


def _local(tag) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _is_element(node) -> bool:
    return isinstance(node.tag, str)


def _is_bpmn_element(node) -> bool:
    """A model element of its own (diffed separately from its parent): BPMN namespace, with an id."""
    return _is_element(node) and node.tag.startswith(f"{{{BPMN_NS}}}") and node.get("id") is not None


def _attribute_name(key: str) -> str:
    qname = etree.QName(key)
    return PREFIXES.get(qname.namespace or BPMN_NS, f"{{{qname.namespace}}}") + qname.localname


def _attribute_value(node, key: str, value: str) -> str:
    if _attribute_name(key) == XSI_TYPE and ":" in value:  # a QName: the prefix is the writer's choice
        prefix, local = value.split(":", 1)
        return f"{{{node.nsmap.get(prefix, prefix)}}}{local}"
    if _attribute_name(key) == "name":  # a label: tools write its line breaks and spaces each their own way
        return " ".join(value.split())
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _text(node) -> str:
    return "\n".join(line.strip() for line in (node.text or "").replace("\r\n", "\n").strip().split("\n"))


def _is_default(name: str, value: str) -> bool:
    default = DEFAULTS.get(name, ())
    return default is None or value.strip() in ((default,) if isinstance(default, str) else default)


def _attributes(node, ids: frozenset[str] = frozenset()) -> dict[str, str]:
    attrs = {}
    for key, value in node.attrib.items():
        name = _attribute_name(key)
        if key == "id" or _is_default(name, value) or _dangling(name, value, ids):
            continue
        attrs[name] = _attribute_value(node, key, value)
    if attrs.get(XSI_TYPE, "").endswith("}tFormalExpression"):
        del attrs[XSI_TYPE]  # the default expression type: some tools write it, others leave it out
    return attrs


def _dangling(name: str, value: str, ids: frozenset[str]) -> bool:
    """A reference to no element of the file: modelers drop it on import, so it says nothing."""
    return bool(ids) and name.endswith("Ref") and value.strip() not in ids


def _parts(node, ids: frozenset[str]):
    """The children that belong to an element: not nested model elements (they have their own entry), not
    incoming/outgoing lists, not references to nothing."""
    for child in node:
        if not _is_element(child) or _is_bpmn_element(child) or _local(child.tag) in IGNORED_CHILDREN:
            continue
        if _dangling(_local(child.tag), (child.text or "").strip(), ids) and not len(child):
            continue
        yield child


def _signature(node, ids: frozenset[str]) -> tuple:
    """Everything that defines an element, in a form that does not depend on how the XML was written."""
    children = tuple(_signature(c, ids) for c in _parts(node, ids))
    return node.tag, tuple(sorted(_attributes(node, ids).items())), _text(node), children


def _aspects(old, new, old_ids: frozenset[str], new_ids: frozenset[str]) -> tuple[str, ...]:
    """Which attributes and which parts (documentation, formData, conditionExpression, …) differ."""
    found = set()
    a, b = _attributes(old, old_ids), _attributes(new, new_ids)
    found |= {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    if _text(old) != _text(new):
        found.add("text")

    def parts(node, ids) -> dict[str, list]:
        grouped: dict[str, list] = {}
        for child in _parts(node, ids):
            if child.tag == EXTENSION:  # one level deeper: formData, properties, inputOutput are told apart
                for ext in child:
                    if _is_element(ext):
                        grouped.setdefault(_local(ext.tag), []).append(_signature(ext, ids))
                continue
            grouped.setdefault(_local(child.tag), []).append(_signature(child, ids))
        return grouped

    pa, pb = parts(old, old_ids), parts(new, new_ids)
    found |= {k for k in pa.keys() | pb.keys() if pa.get(k) != pb.get(k)}
    return tuple(sorted(found))


def _process_of(node) -> str | None:
    while node is not None:
        if node.tag == f"{{{BPMN_NS}}}process":
            return node.get("id")
        if node.tag == f"{{{BPMN_NS}}}participant":
            return node.get("processRef")
        node = node.getparent()
    return None


def _model_elements(root) -> dict[str, etree._Element]:
    found = {}
    for node in root.iter():
        if _is_bpmn_element(node) and _local(node.tag) not in IGNORED_ELEMENTS:
            found.setdefault(node.get("id"), node)
    return found


def _number(value: str | None) -> float | None:
    try:
        return round(float(value)) if value is not None else None
    except ValueError:
        return None


def _layout(root) -> dict[str, tuple]:
    """Shapes and edges by the element they draw: bounds and waypoints, rounded to whole pixels."""
    drawn = {}
    for node in root.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge"):
        bounds = node.find(f"{{{DC_NS}}}Bounds")
        box = tuple(_number(bounds.get(k)) for k in ("x", "y", "width", "height")) if bounds is not None else ()
        points = tuple((_number(p.get("x")), _number(p.get("y"))) for p in node.findall(f"{{{DI_NS}}}waypoint"))
        drawn[node.get("bpmnElement")] = (box, points, node.get("isExpanded"))
    return drawn


def _change(node, aspects: tuple[str, ...] = ()) -> ElementChange:
    return ElementChange(node.get("id"), _local(node.tag), node.get("name"), _process_of(node), aspects)


def diff_files(old: bytes, new: bytes) -> VersionDiff:
    """What `new` adds, removes and changes against `old`, element by element (raises ValidationFailed on bad XML)."""
    old_root, new_root = load_xml(old), load_xml(new)
    before, after = _model_elements(old_root), _model_elements(new_root)
    diff = VersionDiff(
        added=[_change(after[i]) for i in after if i not in before],
        removed=[_change(before[i]) for i in before if i not in after],
        layout_changed=_layout(old_root) != _layout(new_root),
    )
    old_ids, new_ids = _ids(old_root), _ids(new_root)
    for element_id, node in after.items():
        previous = before.get(element_id)
        if previous is None:
            continue
        if previous.tag != node.tag:
            diff.changed.append(_change(node, ("type",)))
        elif _signature(previous, old_ids) != _signature(node, new_ids):
            diff.changed.append(_change(node, _aspects(previous, node, old_ids, new_ids)))
    return diff


def _ids(root) -> frozenset[str]:
    return frozenset(node.get("id") for node in root.iter() if _is_element(node) and node.get("id") is not None)


# -- moving a running workflow to a newer spec -----------------------------------------------------------
@dataclass(frozen=True)
class ActiveStep:
    """A step an instance is at: its element, name and SpiffWorkflow state (READY, WAITING, STARTED)."""

    element_id: str
    name: str | None
    state: str


@dataclass
class MigrationPlan:
    """Whether an instance can move: its active steps, and those the new version does not have."""

    active: list[ActiveStep]
    missing: list[ActiveStep]

    @property
    def movable(self) -> bool:
        return not self.missing


def _workflows(workflow):
    """The top workflow and each sub-workflow (embedded sub-process, call activity)."""
    yield workflow
    yield from workflow.subprocesses.values()


def _target(workflow, top, new_spec, new_subprocess_specs):
    return new_spec if workflow is top else new_subprocess_specs.get(workflow.spec.name)


def _is_active(task) -> bool:
    if task.has_state(ACTIVE):
        return True
    # a step that is due next (its predecessor finished) but has not been made ready yet
    return task.has_state(TaskState.FUTURE) and task.parent is not None and task.parent.has_state(
        TaskState.FINISHED_MASK)


def _step(task) -> ActiveStep:
    spec = task.task_spec
    return ActiveStep(spec.bpmn_id or spec.name, spec.bpmn_name, TaskState.get_name(task.state))


def plan_migration(workflow, new_spec, new_subprocess_specs: dict) -> MigrationPlan:
    """Which of the instance's active steps exist in the new version (by element id, i.e. task spec name)."""
    active, missing = [], []
    for wf in _workflows(workflow):
        target = _target(wf, workflow, new_spec, new_subprocess_specs)
        for task in wf.get_tasks(state=TaskState.NOT_FINISHED_MASK, skip_subprocesses=True):
            if not _is_active(task):
                continue
            step = _step(task)
            if step not in active:
                active.append(step)
            if (target is None or task.task_spec.name not in target.task_specs) and step not in missing:
                missing.append(step)
    return MigrationPlan(active, missing)


def _instance_spec_name(task) -> str | None:
    """For a multi-instance task: the spec name of its instances (children that are not predictions)."""
    return task.task_spec.task_spec if isinstance(task.task_spec, LoopTask) else None


def _fold_out(workflow, task) -> None:
    """Remove a finished task whose element the new version dropped; its children take its place."""
    parent = task.parent
    if parent is None:
        raise WorkflowError(f"流程的根任务 {task.task_spec.name} 在新版本中不存在, 无法迁移")
    position = parent._children.index(task.id)
    parent._children[position:position + 1] = list(task._children)
    for child in task.children:
        child._parent = parent.id
    workflow.tasks.pop(task.id)
    if workflow.last_task is task:
        workflow.last_task = parent


def _drop_predictions(task) -> None:
    """Remove what was predicted after an active task (its real children, e.g. multi-instance items, stay)."""
    instances = _instance_spec_name(task)
    for child in list(task.children):
        if child.has_state(AHEAD) and not child.triggered and child.task_spec.name != instances:
            task.workflow._remove_task(child.id)


def _predict_ahead(task) -> None:
    """Predict what follows an active task from its (new) spec, as SpiffWorkflow would have."""
    present = {child.task_spec.name for child in task.children}
    if _instance_spec_name(task) is None and not present:
        task.task_spec._predict_hook(task)
    else:  # children that are real (instances, boundary events) stay; only missing outputs are added
        for output in task.task_spec.outputs:
            if output.name not in present:
                task._add_child(output, TaskState.FUTURE)
    for child in task.children:
        if child.has_state(AHEAD):
            child.task_spec._predict(child, mask=AHEAD)


def _connect_instances(spec) -> None:
    """Multi-instance steps hear of their instances' completion; a spec fresh from the parser (not restored by
    the serializer) is only connected when it first creates instances, and running ones exist already."""
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, LoopTask) and hasattr(task_spec, "merge_child"):
            child = spec.task_specs.get(task_spec.task_spec)
            if child is not None and not child.completed_event.is_connected(task_spec.merge_child):
                child.completed_event.connect(task_spec.merge_child)


def move_workflow(workflow, new_spec, new_subprocess_specs: dict) -> None:
    """Point the workflow (in place) at the new specs; raises WorkflowError if an active step is missing."""
    for spec in (new_spec, *new_subprocess_specs.values()):
        _connect_instances(spec)
    plan = plan_migration(workflow, new_spec, new_subprocess_specs)
    if not plan.movable:
        names = ", ".join(s.element_id for s in plan.missing)
        raise WorkflowError(f"新版本中没有当前步骤 {names}, 无法迁移")
    for wf in list(_workflows(workflow)):
        target = _target(wf, workflow, new_spec, new_subprocess_specs)
        if target is None:  # a finished sub-process the new version no longer has: its tasks are history
            workflow.subprocesses.pop(wf.parent_task_id, None)
            continue
        active = [t for t in wf.tasks.values() if _is_active(t)]
        for task in active:  # predictions made from the old spec go first, so only history is left to map
            if task.id in wf.tasks:
                _drop_predictions(task)
        for task in list(wf.tasks.values()):
            if task.id not in wf.tasks:  # went with a removed prediction
                continue
            spec = target.task_specs.get(task.task_spec.name)
            if spec is not None:
                task.task_spec = spec
            elif task.has_state(TaskState.FINISHED_MASK):
                _fold_out(wf, task)
            else:  # a prediction under a finished task: predicted again below if still reachable
                wf._remove_task(task.id)
        wf.spec = target
        for task in active:
            if task.id in wf.tasks:
                _predict_ahead(task)
    workflow.subprocess_specs = new_subprocess_specs
