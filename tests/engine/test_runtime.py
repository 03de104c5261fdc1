"""The in-memory runtime: state round trips, and the sandbox stays attached after deserialization."""

import json
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from engine.definitions import parse_bpmn
from engine.errors import WorkflowError
from engine.runtime import Runtime
from engine.sandbox import Sandbox
from engine.spiff_dialect import SmflowParser
from engine.xml_safety import load_xml

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def runtime(clock):
    return Runtime(Sandbox(time_limit=0.5), clock)


def approval_spec():
    (process,) = parse_bpmn((FIXTURES / "approval.bpmn").read_bytes(), "approval.bpmn", {"archive"}).executable
    return process.spec, process.subprocess_specs


def no_service(task, topic, params):
    return {"archived": params["title"]}


def test_state_round_trip_after_engine_steps_continues_exactly(runtime):
    spec, subs = approval_spec()
    spec_json = runtime.dump_spec(spec, subs)
    spec, subs = runtime.load_spec(spec_json)
    workflow = runtime.new_workflow(spec, subs, {"office": "华北/北京办事处"})
    runtime.advance(workflow, no_service)
    (ready,) = runtime.ready_tasks(workflow)
    runtime.complete_user_task(workflow, ready.guid, {"amount": 5.0, "purpose": "会议"})
    runtime.advance(workflow, no_service)
    state = runtime.dump_state(workflow)

    restored = runtime.load_state(state, spec, subs)
    assert isinstance(restored.script_engine.environment.sandbox, Sandbox)
    assert type(restored.script_engine) is not PythonScriptEngine
    assert runtime.dump_state(restored) == state
    (review,) = runtime.ready_tasks(restored)
    assert (review.step, review.lane, review.scope) == ("2", "大区经理", "华北")
    runtime.complete_user_task(restored, review.guid, {"decision": "approve"})
    result = runtime.advance(restored, no_service)
    assert restored.is_completed()
    assert result.decisions[0]["element_id"] == "decide"
    assert restored.last_task.data["archived"] == "费用申请 华北/北京办事处"


def test_a_hostile_expression_that_skipped_deploy_checks_is_refused_at_run_time(runtime):
    # Build the spec with the bare parser, as if the file had bypassed deploy validation.
    xml = (FIXTURES / "approval.bpmn").read_bytes().replace(
        b"decision == 'approve'", b"().__class__.__bases__[0].__subclasses__()")
    parser = SmflowParser()
    parser.add_bpmn_xml(load_xml(xml))
    spec = parser.get_spec("approval")
    workflow = runtime.new_workflow(spec, {}, {"office": "华北/北京办事处"})
    restored = runtime.load_state(runtime.dump_state(workflow), spec, {})
    runtime.advance(restored, no_service)
    (ready,) = runtime.ready_tasks(restored)
    runtime.complete_user_task(restored, ready.guid, {"amount": 5.0, "purpose": "会议"})
    runtime.advance(restored, no_service)
    (review,) = runtime.ready_tasks(restored)
    runtime.complete_user_task(restored, review.guid, {"decision": "approve"})
    with pytest.raises(WorkflowError) as caught:
        runtime.advance(restored, no_service)
    assert "__subclasses__" in caught.value.message or "__class__" in caught.value.message


def test_the_time_budget_applies_inside_workflows(clock):
    runtime = Runtime(Sandbox(time_limit=0.2), clock)
    xml = (FIXTURES / "approval.bpmn").read_bytes().replace(
        "'费用申请 ' + office".encode(), b"len([1 for x in range(10 ** 6) for y in range(10 ** 6)])")
    parser = SmflowParser()
    parser.add_bpmn_xml(load_xml(xml))
    spec = parser.get_spec("approval")
    workflow = runtime.new_workflow(spec, {}, {"office": "华北/北京办事处"})
    runtime.advance(workflow, no_service)
    (ready,) = runtime.ready_tasks(workflow)
    runtime.complete_user_task(workflow, ready.guid, {"amount": 5.0, "purpose": "会议"})
    runtime.advance(workflow, no_service)
    (review,) = runtime.ready_tasks(workflow)
    runtime.complete_user_task(workflow, review.guid, {"decision": "approve"})
    result = runtime.advance(workflow, no_service)
    (failure,) = result.failures
    assert "秒" in failure["error"]
    assert not workflow.is_completed()


def test_state_text_reuses_finished_tasks_and_equals_plain_json_at_every_step(runtime):
    def plain(workflow) -> str:
        dct = runtime._state_converter.to_dict(workflow)
        dct[runtime.serializer.VERSION_KEY] = runtime.serializer.VERSION
        return json.dumps(dct, ensure_ascii=False, separators=(",", ":"))

    spec, subs = approval_spec()
    workflow = runtime.new_workflow(spec, subs, {"office": "华北/北京办事处"})
    runtime.advance(workflow, no_service)
    for answer in ({"amount": 5.0, "purpose": "会议"}, {"decision": "approve"}):
        first = runtime.dump_state(workflow)
        assert first == runtime.dump_state(workflow) == plain(workflow)  # kept texts reused, same text
        (ready,) = runtime.ready_tasks(workflow)
        runtime.complete_user_task(workflow, ready.guid, answer)
        runtime.advance(workflow, no_service)
        assert runtime.dump_state(workflow) == plain(workflow) != first  # nothing stale carried over
    assert workflow.is_completed()
