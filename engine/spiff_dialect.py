"""smflow's dialect of SpiffWorkflow's Camunda parser and serializer.

Extension points only (subclasses and configuration maps), never edits to SpiffWorkflow itself:
- `camunda:properties` of the element itself (not of nested elements) become `task_spec.extensions`;
- the lane a node is listed in is kept as `smflow:lane` (SpiffWorkflow gives tasks inside an embedded
  sub-process the sub-process's lane);
- user tasks carry their form as `smflow:form`; service tasks their topic and input parameters;
- timers read the engine's clock;
- parallel and inclusive joins merge what each branch changed (engine/joins.py).
"""

from __future__ import annotations

from copy import deepcopy

from SpiffWorkflow.bpmn.parser.node_parser import DEFAULT_NSMAP
from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser, GatewayParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    CallActivity,
    InclusiveGateway,
    IntermediateCatchEvent,
    ManualTask,
    NoneTask,
    ParallelGateway,
    ServiceTask,
    StartEvent,
)
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
)
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (
    CamundaBoundaryEventParser,
    CamundaIntermediateCatchEventParser,
    CamundaStartEventParser,
)
from SpiffWorkflow.camunda.parser.task_spec import (
    CallActivityParser,
    CamundaTaskParser,
    SubWorkflowParser,
    UserTaskParser,
)
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.user_task import UserTask

from .forms import CAMUNDA_NS, parse_form
from .joins import MergingInclusiveGateway, MergingParallelGateway
from .timers import CLOCK_TIMERS

NSMAP = {**DEFAULT_NSMAP, "camunda": CAMUNDA_NS}


class _OwnExtensions:
    """Read only the element's own `camunda:properties` (CamundaTaskParser also reads nested ones)."""

    def parse_extensions(self, node=None):
        node = self.node if node is None else node
        extensions = {}
        for prop in node.xpath("./bpmn:extensionElements/camunda:properties/camunda:property", namespaces=NSMAP):
            if prop.get("name"):
                extensions[prop.get("name")] = prop.get("value") or ""
        own_lane = self.process_parser.lanes_by_node_id.get(self.bpmn_id)
        if own_lane or self.lane:
            extensions["smflow:lane"] = own_lane or self.lane
        return extensions


class SmflowTaskParser(_OwnExtensions, CamundaTaskParser):
    pass


class SmflowUserTaskParser(_OwnExtensions, UserTaskParser):
    def parse_extensions(self, node=None):
        extensions = super().parse_extensions(node)
        form, _problems = parse_form(self.node)  # problems were reported before SpiffWorkflow parsed
        if form is not None:
            extensions["smflow:form"] = form
        return extensions


class SmflowServiceTaskParser(_OwnExtensions, CamundaTaskParser):
    def parse_extensions(self, node=None):
        extensions = super().parse_extensions(node)
        extensions["smflow:topic"] = self.node.get(f"{{{CAMUNDA_NS}}}topic")
        params = {}
        for param in self.node.xpath(
            "./bpmn:extensionElements/camunda:inputOutput/camunda:inputParameter", namespaces=NSMAP
        ):
            params[param.get("name")] = (param.text or "").strip() or "None"
        extensions["smflow:params"] = params
        # camunda:asyncBefore: the engine stops before the task and the worker runs it (a job under a lease).
        extensions["smflow:async"] = self.node.get(f"{{{CAMUNDA_NS}}}asyncBefore") == "true"
        return extensions


class SmflowSubWorkflowParser(_OwnExtensions, SubWorkflowParser):
    pass


class SmflowCallActivityParser(_OwnExtensions, CallActivityParser):
    pass


class _ClockTimers:
    def parse_timer_event(self, event):
        definition = super().parse_timer_event(event)
        definition.__class__ = CLOCK_TIMERS.get(type(definition), type(definition))
        return definition


class SmflowStartEventParser(_ClockTimers, CamundaStartEventParser):
    def parse_timer_event(self, event):
        definition = super().parse_timer_event(event)
        if isinstance(definition, CycleTimerEventDefinition):
            # The cycle is the worker's schedule (one instance per period, see Engine.start_scheduled);
            # inside an instance the start event simply passes.
            return NoneEventDefinition()
        return definition


class SmflowBoundaryEventParser(_ClockTimers, CamundaBoundaryEventParser):
    pass


class SmflowIntermediateCatchEventParser(_ClockTimers, CamundaIntermediateCatchEventParser):
    pass


class SmflowParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (SmflowUserTaskParser, UserTask),
        full_tag("serviceTask"): (SmflowServiceTaskParser, ServiceTask),
        full_tag("task"): (SmflowTaskParser, NoneTask),
        full_tag("manualTask"): (SmflowTaskParser, ManualTask),
        full_tag("subProcess"): (SmflowSubWorkflowParser, CallActivity),
        full_tag("callActivity"): (SmflowCallActivityParser, CallActivity),
        full_tag("startEvent"): (SmflowStartEventParser, StartEvent),
        full_tag("boundaryEvent"): (SmflowBoundaryEventParser, BoundaryEvent),
        full_tag("intermediateCatchEvent"): (SmflowIntermediateCatchEventParser, IntermediateCatchEvent),
        full_tag("parallelGateway"): (GatewayParser, MergingParallelGateway),
        full_tag("inclusiveGateway"): (ConditionalGatewayParser, MergingInclusiveGateway),
    }

    def __init__(self):
        super().__init__(namespaces=NSMAP)


def make_serializer() -> BpmnWorkflowSerializer:
    config = deepcopy(CAMUNDA_CONFIG)
    # SpiffWorkflow's own config has no plain ServiceTask (its service tasks are spiff-specific).
    config[ServiceTask] = config[NoneTask]
    timer_converter = config[TimeDateEventDefinition]
    for clock_class in CLOCK_TIMERS.values():
        config[clock_class] = timer_converter
    config[MergingParallelGateway] = config[ParallelGateway]
    config[MergingInclusiveGateway] = config[InclusiveGateway]
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
