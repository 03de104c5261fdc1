"""Reading an uploaded BPMN file into deployable process specs, reporting every problem at once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException

from .errors import Problem, ScriptRejected, ValidationFailed
from .forms import form_expressions, parse_form
from .messages import say
from .sandbox import Sandbox, compile_expression, compile_script
from .spiff_dialect import NSMAP, SmflowParser
from .timers import cycle_periods
from .xml_safety import load_xml
from .xsd import xsd_problems

BPMN = "{{{}}}".format(NSMAP["bpmn"])
CAMUNDA = "{{{}}}".format(NSMAP["camunda"])

SUPPORTED_NODES = {
    "startEvent", "endEvent", "userTask", "serviceTask", "scriptTask", "task", "manualTask",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "subProcess", "callActivity",
    "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
}
# What the engine cannot execute; each is named to the owner by its key deploy.kind.<tag> (engine/messages.py).
UNSUPPORTED_NODES = {
    "sendTask", "receiveTask", "businessRuleTask", "complexGateway", "eventBasedGateway", "adHocSubProcess",
    "transaction",
}
SUPPORTED_EVENTS = {
    "timerEventDefinition", "errorEventDefinition", "escalationEventDefinition", "signalEventDefinition",
    "terminateEventDefinition",
}
UNSUPPORTED_EVENTS = {
    "messageEventDefinition", "conditionalEventDefinition", "compensateEventDefinition", "cancelEventDefinition",
    "linkEventDefinition",
}


@dataclass
class ParsedProcess:
    process_id: str
    name: str | None
    executable: bool
    spec: object | None = None
    subprocess_specs: dict = field(default_factory=dict)
    owner: str | None = None
    start_cycle: str | None = None  # the timeCycle expression of a timer start event


@dataclass
class ParsedFile:
    sha256: str
    processes: list[ParsedProcess]

    @property
    def executable(self) -> list[ParsedProcess]:
        return [p for p in self.processes if p.executable]


def _local(tag) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _problem(element, message: str) -> Problem:
    return Problem(message, element_id=element.get("id"), element_name=element.get("name"), line=element.sourceline)


def _owner_element(element):
    """The nearest ancestor-or-self with an id: what a person looks for in the modeler."""
    while element is not None and element.get("id") is None:
        element = element.getparent()
    return element


def _is_executable(process) -> bool:
    return process.get("isExecutable", "true") == "true"


def _support_problems(process, known_topics: set[str] | None) -> list[Problem]:
    problems = []
    for element in process.iter(etree.Element):  # elements only: a comment's or PI's tag is not text
        name = _local(element.tag)
        if element.tag.startswith(BPMN) and name in UNSUPPORTED_NODES:
            problems.append(_problem(element, say("deploy.cannot_execute", kind=say(f"deploy.kind.{name}"), tag=name)))
        elif name in UNSUPPORTED_EVENTS and element.tag.startswith(BPMN):
            event = _owner_element(element.getparent())
            problems.append(_problem(event, say("deploy.cannot_execute", kind=say(f"deploy.kind.{name}"), tag=name)))
        elif element.tag == BPMN + "serviceTask":
            topic = element.get(CAMUNDA + "topic")
            if not topic:
                problems.append(_problem(element, say("deploy.service_no_topic")))
            elif known_topics is not None and topic not in known_topics:
                available = ", ".join(sorted(known_topics))
                problems.append(_problem(element, say("deploy.unknown_topic", topic=topic, available=available)))
        elif element.tag == BPMN + "scriptTask":
            fmt = (element.get("scriptFormat") or "python").lower()
            if fmt not in ("python", "py", "text/x-python"):
                problems.append(_problem(element, say("deploy.script_format", format=element.get("scriptFormat"))))
    return problems


def _expressions(process) -> list[tuple[etree._Element, str, str, bool]]:
    """Every (element, what, source, is_script) in the process that the sandbox will run."""
    found = []
    for element in process.iter():
        if not isinstance(element.tag, str):
            continue
        name, owner = _local(element.tag), _owner_element(element)
        if element.tag == BPMN + "conditionExpression" and (element.text or "").strip():
            found.append((owner, say("deploy.what.condition"), element.text, False))
        elif element.tag == BPMN + "script" and (element.text or "").strip():
            found.append((owner, say("deploy.what.script"), element.text, True))
        elif name in ("timeDate", "timeDuration", "timeCycle") and element.tag.startswith(BPMN):
            found.append((owner, say("deploy.what.timer"), element.text or "", False))
        elif name in ("loopCardinality", "completionCondition") and (element.text or "").strip():
            found.append((owner, say("deploy.what.multi_instance"), element.text, False))
        elif element.tag == CAMUNDA + "property" and element.get("name") in ("smflow:scope", "smflow:due"):
            found.append((owner, element.get("name"), element.get("value") or "", False))
        elif element.tag == CAMUNDA + "inputParameter" and not len(element):
            found.append((owner, say("deploy.what.parameter", name=element.get("name")),
                          (element.text or "").strip() or "None", False))
        elif element.tag == BPMN + "userTask":
            form, _ = parse_form(element)
            found.extend((element, what, source, False) for what, source in form_expressions(form))
    return found


def _compile_problems(process) -> list[Problem]:
    problems = []
    for element, what, source, is_script in _expressions(process):
        try:
            (compile_script if is_script else compile_expression)(source)
        except ScriptRejected as exc:
            problems.append(_problem(element, say("deploy.rejected", what=what, reason=exc.message)))
        except (SyntaxError, ValueError) as exc:
            problems.append(_problem(element, say("deploy.syntax_error", what=what, error=str(exc))))
    return problems


def _form_and_parameter_problems(process) -> list[Problem]:
    problems = []
    for task in process.iter(BPMN + "userTask"):
        _, found = parse_form(task)
        problems += [_problem(_owner_element(element), message) for element, message in found]
    for param in process.iter(CAMUNDA + "inputParameter"):
        if len(param):
            problems.append(_problem(_owner_element(param), say("deploy.input_parameter", name=param.get("name"))))
    return problems


def _lane_problems(process) -> list[Problem]:
    in_lanes = {ref.text for ref in process.iter(BPMN + "flowNodeRef")}
    if not in_lanes:
        return []
    return [
        _problem(task, say("deploy.task_not_in_lane"))
        for task in process.iter(BPMN + "userTask")
        if task.get("id") not in in_lanes and task.getparent() is process
    ]


def _cycle_problems(process) -> list[Problem]:
    """A calendar start must be a constant recurring interval the worker can read."""
    problems = []
    for cycle in process.xpath("./bpmn:startEvent/bpmn:timerEventDefinition/bpmn:timeCycle", namespaces=NSMAP):
        event = cycle.getparent().getparent()
        try:
            cycle_periods(str(Sandbox().evaluate((cycle.text or "").strip(), {})), datetime.now(UTC))
        except Exception as exc:  # noqa: BLE001 - whatever the expression raises, the owner reads why
            message = exc.message if isinstance(exc, ScriptRejected) else f"{type(exc).__name__}: {exc}"
            problems.append(_problem(event, say("deploy.bad_cycle", error=message)))
    return problems


def _process_property(process, name: str) -> str | None:
    for prop in process.xpath("./bpmn:extensionElements/camunda:properties/camunda:property", namespaces=NSMAP):
        if prop.get("name") == name:
            return prop.get("value")
    return None


def _start_cycle(process) -> str | None:
    for cycle in process.xpath("./bpmn:startEvent/bpmn:timerEventDefinition/bpmn:timeCycle", namespaces=NSMAP):
        return (cycle.text or "").strip()
    return None


def _settle_specs(specs) -> None:
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if hasattr(task_spec, "data_input_associations"):
                # In smflow, data objects document what passes between roles; values travel in task data.
                # SpiffWorkflow would otherwise require every associated data object to hold a value.
                task_spec.data_input_associations = []
                task_spec.data_output_associations = []
            if isinstance(task_spec, MultiInstanceTask) and task_spec.cardinality is None and task_spec.data_output:
                # SpiffWorkflow's Camunda multi-instance sets its input only in memory when the step starts;
                # set it in the stored spec, so an instance reloaded mid-step updates its items in place.
                task_spec.data_input = TaskDataReference(task_spec.data_output.bpmn_id)
                if task_spec.output_item is not None:
                    task_spec.input_item = TaskDataReference(task_spec.output_item.bpmn_id)


# What the database keeps of an element (engine/store/models.py): longer values cannot be stored.
_MAX_LENGTHS = {"id": 255, "name": 255}


def _shape_problems(root, processes) -> list[Problem]:
    """A file must be <bpmn:definitions> holding at least one process; ids and names must fit the database."""
    if root.tag != BPMN + "definitions":
        return [Problem(say("deploy.wrong_root", tag=_local(root.tag)), line=root.sourceline)]
    problems = [] if processes else [Problem(say("deploy.no_process"), line=root.sourceline)]
    for element in root.iter():
        for attribute, limit in _MAX_LENGTHS.items():
            value = element.get(attribute) if isinstance(element.tag, str) else None
            if value is not None and len(value) > limit:
                too_long = say("deploy.too_long", tag=_local(element.tag), attribute=attribute, limit=limit)
                problems.append(Problem(too_long,
                                        element_id=(element.get("id") or "")[:40] or None, line=element.sourceline))
    for lane in root.iter(BPMN + "lane"):
        if len(lane.get("name") or "") > 64:  # the lane's name is the task's role
            problems.append(_problem(lane, say("deploy.lane_name_too_long")))
    for prop in root.iter(CAMUNDA + "property"):
        if prop.get("name") == "smflow:step" and len(prop.get("value") or "") > 32:
            problems.append(_problem(_owner_element(prop), say("deploy.step_too_long")))
    return problems


def parse_bpmn(data: bytes, filename: str | None = None, known_topics: set[str] | None = None) -> ParsedFile:
    """Parse and check a BPMN file; raises ValidationFailed listing every problem found."""
    root = load_xml(data, filename)
    problems = xsd_problems(root)
    if problems:
        raise ValidationFailed(say("deploy.not_bpmn", count=len(problems)), problems, file=filename)
    processes = root.findall(f".//{BPMN}process")
    executable = [p for p in processes if _is_executable(p)]
    problems += _shape_problems(root, processes)
    for process in executable:
        problems += _support_problems(process, known_topics)
        problems += _compile_problems(process)
        problems += _form_and_parameter_problems(process)
        problems += _cycle_problems(process)
        problems += _lane_problems(process)
    if executable:
        problems += [_problem(store, say("deploy.data_store")) for store in root.iter(BPMN + "dataStore")]
    if problems:
        raise ValidationFailed(say("deploy.problems", count=len(problems)), problems, file=filename)

    result = ParsedFile(sha256=hashlib.sha256(data).hexdigest(), processes=[
        ParsedProcess(
            process_id=process.get("id"), name=process.get("name"), executable=_is_executable(process),
            owner=_process_property(process, "smflow:owner"), start_cycle=_start_cycle(process),
        )
        for process in processes
    ])
    if not executable:
        return result  # stored for viewing only; nothing for SpiffWorkflow to build
    parser = SmflowParser()
    try:
        parser.add_bpmn_xml(root, filename)
        for parsed in result.executable:
            parsed.spec = parser.get_spec(parsed.process_id)
            parsed.subprocess_specs = parser.get_subprocess_specs(parsed.process_id)
            _settle_specs([parsed.spec, *parsed.subprocess_specs.values()])
    except ValidationException as exc:
        line = exc.line_number if isinstance(exc.line_number, int) else None
        problems.append(Problem(str(exc.args[0] if exc.args else exc), element_id=exc.id or None,
                                element_name=exc.name or None, line=line))
    except (SpiffWorkflowException, LookupError, TypeError, ValueError, AttributeError) as exc:
        # SpiffWorkflow's parser has no element context for these; say what we know.
        problems.append(Problem(say("deploy.unparsable", error=f"{type(exc).__name__}: {exc}")))
    if problems:
        raise ValidationFailed(say("deploy.problems", count=len(problems)), problems, file=filename)
    return result
