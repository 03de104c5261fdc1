"""Parallel joins keep every branch's changes; a branch's untouched copy never undoes a sibling's edit."""

from pathlib import Path

from engine.definitions import parse_bpmn
from engine.joins import merge_changes
from engine.runtime import Runtime
from engine.sandbox import Sandbox

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_merge_changes_applies_only_what_a_branch_changed():
    base = {"budget": 100, "plans": [1, 2], "meta": {"a": 1, "b": 1}, "gone": True}
    target = {"budget": 120, "plans": [1, 2], "meta": {"a": 5, "b": 1}, "gone": True}  # a sibling's edits
    branch = {"budget": 100, "plans": [1, 2, 3], "meta": {"a": 1, "b": 7}, "new": "x"}
    merge_changes(target, base, branch)
    assert target == {"budget": 120, "plans": [1, 2, 3], "meta": {"a": 5, "b": 7}, "new": "x"}


def test_a_sibling_finishing_last_does_not_revert_an_edit(clock):
    xml = (FIXTURES / "parallel.bpmn").read_bytes().replace(
        b'<camunda:formField id="market_note" label="\xe5\xb8\x82\xe5\x9c\xba\xe8\xb0\x83\xe6\x95\xb4" type="string"/>',
        b'<camunda:formField id="market_note" label="m" type="string"/>'
        b'<camunda:formField id="budget" label="b" type="double"/>')
    (process,) = parse_bpmn(xml, "p.bpmn", set()).executable
    runtime = Runtime(Sandbox(), clock)
    workflow = runtime.new_workflow(process.spec, {}, {"budget": 100.0, "regions": ["华北"]})
    runtime.advance(workflow, lambda *a: {})
    ready = {t.element_id: t for t in runtime.ready_tasks(workflow)}
    runtime.complete_user_task(workflow, ready["market"].guid, {"market_note": "加大投入", "budget": 120.0})
    runtime.advance(workflow, lambda *a: {})
    runtime.complete_user_task(workflow, ready["sales"].guid, {"sales_note": "维持"})
    runtime.advance(workflow, lambda *a: {})
    assert workflow.is_completed()
    data = workflow.last_task.data
    assert (data["budget"], data["market_note"], data["sales_note"]) == (120.0, "加大投入", "维持")
    assert data["regions"] == ["华北"]
