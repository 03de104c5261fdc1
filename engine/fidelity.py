"""Fidelity check: does a BPMN file still follow the paper manual's step table?

Pure module (lxml, json and the shared XML gate). Every numbered step of the manual must be exactly one flow node
that carries ``smflow:step``, sits directly in the lane of the step's role and is named
"<number> <manual name>", so that staff can hold the paper manual next to the screen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from .errors import ValidationFailed
from .xml_safety import load_xml

__all__ = ["LintProblem", "load_step_table", "lint_bpmn"]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
STEP_PROPERTY = "smflow:step"
STEP_TABLE = "manual_steps.json"

# Elements that can stand for a manual step (flow nodes); lanes reference these.
_FLOW_NODE_TAGS = {
    f"{{{BPMN_NS}}}{tag}"
    for tag in (
        "task",
        "userTask",
        "serviceTask",
        "scriptTask",
        "manualTask",
        "sendTask",
        "receiveTask",
        "businessRuleTask",
        "callActivity",
        "subProcess",
        "transaction",
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
        "complexGateway",
    )
}
_CONTAINER_TAGS = {f"{{{BPMN_NS}}}subProcess", f"{{{BPMN_NS}}}transaction", f"{{{BPMN_NS}}}adHocSubProcess"}


@dataclass(frozen=True)
class LintProblem:
    """One departure from the manual, with a message a process owner can act on."""

    process_id: str | None
    step: str | None
    element_id: str | None
    message: str


def load_step_table() -> dict:
    """The manual's step table shipped with the ``bpmn`` package (``bpmn/manual_steps.json``)."""
    text = resources.files("bpmn").joinpath(STEP_TABLE).read_text(encoding="utf-8")
    return json.loads(text)


def lint_bpmn(xml: bytes, table: dict | None = None) -> list[LintProblem]:
    """Every problem of the file against the step table; processes not in the table are not checked."""
    if table is None:
        table = load_step_table()
    try:
        root = load_xml(xml)
    except ValidationFailed as exc:
        return [LintProblem(None, None, p.element_id, f"无法读取 BPMN 文件: {exc.message}: {p.message}")
                for p in exc.problems]
    problems: list[LintProblem] = []
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        pid = process.get("id")
        if pid in table:
            problems.extend(_lint_process(process, pid, table[pid]))
    return problems


def _step_of(node) -> str | None:
    for prop in node.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", NS):
        if prop.get("name") == STEP_PROPERTY:
            return (prop.get("value") or "").strip()
    return None


def _lanes_by_node(process) -> dict[str, list[str]]:
    lanes: dict[str, list[str]] = {}
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lanes.setdefault((ref.text or "").strip(), []).append(lane.get("name") or "")
    return lanes


def _inside_container(node, process) -> bool:
    parent = node.getparent()
    while parent is not None and parent is not process:
        if parent.tag in _CONTAINER_TAGS:
            return True
        parent = parent.getparent()
    return False


def _lint_process(process, pid: str, spec: dict) -> list[LintProblem]:
    problems: list[LintProblem] = []
    lanes = _lanes_by_node(process)
    by_step: dict[str, list] = {}
    unnumbered_by_prefix: dict[str, list] = {}
    for node in process.iter():
        if node.tag not in _FLOW_NODE_TAGS:
            continue
        step = _step_of(node)
        if step is not None:
            by_step.setdefault(step, []).append(node)
        else:
            prefix = (node.get("name") or "").split(" ", 1)[0]
            if prefix.isdigit():
                unnumbered_by_prefix.setdefault(prefix, []).append(node)

    expected = {str(s["step"]): s for s in spec.get("steps", [])}
    for step, row in expected.items():
        nodes = by_step.get(step, [])
        label = f"步骤 {step}「{row['name']}」"
        found = f"smflow:step={step}"
        if not nodes and unnumbered_by_prefix.get(step):
            for node in unnumbered_by_prefix[step]:
                zh = f"{label}: 元素 {node.get('id')}「{node.get('name')}」缺少 camunda 属性 {found}"
                problems.append(_problem(pid, step, node, zh, "element lacks the smflow:step property"))
        elif not nodes:
            zh = f"{label} 缺失: 应在泳道「{row['role']}」中有一个 {found} 的节点"
            problems.append(
                _problem(pid, step, None, zh, f"step is missing (expected in lane {row['role']})")
            )
        elif len(nodes) > 1:
            ids = ", ".join(n.get("id") or "?" for n in nodes)
            zh = f"{label} 重复: {len(nodes)} 个节点 ({ids}) 都标为 {found}, 手册中每步只能对应一个节点"
            problems.extend(_problem(pid, step, node, zh, "step is duplicated") for node in nodes)
        else:
            problems.extend(_lint_node(pid, step, row, nodes[0], lanes, process))

    for step, nodes in by_step.items():
        if step not in expected:
            for node in nodes:
                what = f"元素 {node.get('id')}「{node.get('name')}」"
                zh = f"{what}标为 smflow:step={step}, 但手册 {pid} 无此步骤"
                problems.append(_problem(pid, step, node, zh, "the manual has no such step"))
    return problems


def _problem(pid, step, node, zh: str, en: str) -> LintProblem:
    element_id = node.get("id") if node is not None else None
    return LintProblem(pid, step, element_id, f"{zh} / step {step}: {en}")


def _lint_node(pid, step, row, node, lanes, process) -> list[LintProblem]:
    problems = []
    label = f"步骤 {step}「{row['name']}」({node.get('id')})"
    name = node.get("name") or ""
    wanted = f"{step} {row['name']}"
    role = row["role"]
    if not name.startswith(f"{step} "):
        zh = f"{label}: 名称「{name}」必须以步骤号和空格开头, 应为「{wanted}」"
        problems.append(_problem(pid, step, node, zh, f"the name must start with '{step} '"))
    elif name[len(step) + 1 :].strip() != row["name"]:
        zh = f"{label}: 名称「{name}」与手册不符, 应为「{wanted}」"
        problems.append(_problem(pid, step, node, zh, "the name differs from the manual"))
    if _inside_container(node, process):
        zh = f"{label}: 不得放在子流程中, 必须直接位于泳道「{role}」中"
        problems.append(_problem(pid, step, node, zh, "must not be inside a sub-process"))
    node_lanes = lanes.get(node.get("id"), [])
    if not node_lanes:
        zh = f"{label}: 不在任何泳道中, 应在泳道「{role}」"
        problems.append(_problem(pid, step, node, zh, f"not in any lane (expected {role})"))
    elif node_lanes != [role]:
        zh = f"{label}: 位于泳道「{'、'.join(node_lanes)}」, 手册规定由「{role}」负责"
        problems.append(_problem(pid, step, node, zh, f"in lane {', '.join(node_lanes)}, expected {role}"))
    return problems
