"""engine/versions.py: what changed between two files (as models, not text), and moving a running workflow
onto a newer spec that keeps its tasks, data and waiting steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from SpiffWorkflow.util.task import TaskState
from testkit import edit

from engine import versions
from engine.clock import Clock
from engine.definitions import parse_bpmn
from engine.errors import WorkflowError
from engine.runtime import Runtime
from engine.sandbox import Sandbox

ROOT = Path(__file__).parents[2]
APPROVAL = (ROOT / "tests" / "fixtures" / "approval.bpmn").read_bytes()
DEADLINE = (ROOT / "tests" / "fixtures" / "deadline.bpmn").read_bytes()
SM2_1 = (ROOT / "bpmn" / "SM2_1.bpmn").read_bytes()
CUSTOMERS = [{"name": "北京益民医药", "region": "华北", "office": "北京办事处", "channel": "医院"},
             {"name": "上海申康医药", "region": "华东", "office": "上海办事处", "channel": "医院"}]


# the approval process with a new step 2a between the review and the decision, and the review renamed
WITH_CHECK = edit(
    APPROVAL, ("2 审批费用申请", "2 审核费用申请"),
    ('<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="decide"/>',
     '<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="check"/>'
     '<bpmn:userTask id="check" name="2a 复核"/><bpmn:sequenceFlow id="f3b" sourceRef="check" targetRef="decide"/>'),
    ("<bpmn:flowNodeRef>decide</bpmn:flowNodeRef>",
     "<bpmn:flowNodeRef>decide</bpmn:flowNodeRef><bpmn:flowNodeRef>check</bpmn:flowNodeRef>"))


def spec_of(data: bytes):
    parsed = parse_bpmn(data, "test.bpmn", None).executable[0]
    return parsed.spec, parsed.subprocess_specs


class Run:
    """A workflow in memory, reloaded from its stored state after every step as the engine does."""

    def __init__(self, data: bytes, start: dict):
        self.runtime = Runtime(Sandbox(), Clock())
        self.spec = spec_of(data)
        self.workflow = self.runtime.new_workflow(*self.spec, start)
        self.runtime.advance(self.workflow, lambda *_: {})

    def reload(self):
        self.workflow = self.runtime.load_state(self.runtime.dump_state(self.workflow), *self.spec)

    def ready(self) -> list:
        return self.workflow.get_tasks(state=TaskState.READY, manual=True)

    def ready_ids(self) -> list[str]:
        return sorted(t.task_spec.bpmn_id for t in self.ready())

    def complete(self, element_id: str, data: dict) -> None:
        task = next(t for t in self.ready() if t.task_spec.bpmn_id == element_id)
        self.runtime.complete_user_task(self.workflow, str(task.id), data)
        self.runtime.advance(self.workflow, lambda *_: {"done": True})
        self.reload()

    def move_to(self, data: bytes) -> None:
        spec = spec_of(data)
        versions.move_workflow(self.workflow, *spec)
        self.spec = spec
        self.reload()


# -- diff ----------------------------------------------------------------------------------------------
def test_same_file_written_differently_is_unchanged():
    """Other prefixes, attribute order, indentation, incoming/outgoing lists and the default xsi:type."""
    rewritten = edit(
        APPROVAL, ("bpmn:", "model:"), ("xmlns:bpmn=", "xmlns:model="),
        ('<model:exclusiveGateway id="decide" name="是否批准?" default="f_back">',
         '<model:exclusiveGateway default="f_back"   name="是否批准?"\n   id="decide">'),
        ("<model:incoming>f2</model:incoming>", ""),
        (' xsi:type="model:tFormalExpression"', ""))
    diff = versions.diff_files(APPROVAL, rewritten)
    assert diff.unchanged and not diff.model_changed and not diff.layout_changed


def test_added_removed_and_changed_elements_by_id_with_what_changed():
    diff = versions.diff_files(APPROVAL, WITH_CHECK)
    assert [(c.element_id, c.kind, c.name) for c in diff.added] == [
        ("check", "userTask", "2a 复核"), ("f3b", "sequenceFlow", None)]
    assert diff.removed == []
    assert {c.element_id: c.aspects for c in diff.changed} == {
        "lane_rm": ("flowNodeRef",), "review": ("name",), "f3": ("targetRef",)}
    assert all(c.process_id == "approval" for c in diff.added + diff.changed)
    back = versions.diff_files(WITH_CHECK, APPROVAL)
    assert sorted(c.element_id for c in back.removed) == ["check", "f3b"]


def test_form_condition_documentation_and_topic_changes_are_named():
    changed = edit(APPROVAL, ('label="用途"', 'label="用途说明"'), ("decision == 'approve'", "decision == 'ok'"),
                   ("办事处提交本办事处的费用申请。", "办事处提交费用申请。"),
                   ('camunda:topic="archive"', 'camunda:topic="notify"'))
    aspects = {c.element_id: c.aspects for c in versions.diff_files(APPROVAL, changed).changed}
    assert aspects == {"request": ("documentation", "formData"), "f4": ("conditionExpression",),
                       "file": ("camunda:topic",)}


def test_layout_only_changes_are_told_apart():
    moved = edit(SM2_1, ('<dc:Bounds x="', '<dc:Bounds x="1'))
    diff = versions.diff_files(SM2_1, moved)
    assert diff.layout_changed and not diff.model_changed and not diff.unchanged


def test_diff_round_trips_through_json_and_filters_by_process():
    diff = versions.diff_files(APPROVAL, WITH_CHECK)
    again = versions.VersionDiff.from_dict(diff.to_dict())
    assert again == diff
    assert versions.diff_files(APPROVAL, WITH_CHECK).for_process("other").added == []


# -- moving a workflow ------------------------------------------------------------------------------------
def test_an_instance_waiting_at_a_kept_step_moves_and_runs_the_new_steps():
    run = Run(APPROVAL, {"office": "华北/北京办事处"})
    run.complete("request", {"amount": 12.5, "purpose": "会议"})
    review = run.ready()[0]
    plan = versions.plan_migration(run.workflow, *spec_of(WITH_CHECK))
    assert plan.movable and plan.active == [versions.ActiveStep("review", "2 审批费用申请", "READY")]
    run.move_to(WITH_CHECK)
    moved = run.ready()[0]
    assert (moved.id, moved.task_spec.bpmn_name) == (review.id, "2 审核费用申请")  # same task, the new name
    assert moved.data["amount"] == 12.5
    run.complete("review", {"decision": "approve"})
    assert run.ready_ids() == ["check"]  # the step the new version inserted
    run.complete("check", {})
    assert run.workflow.is_completed()


def test_an_instance_at_a_removed_step_cannot_move():
    run = Run(WITH_CHECK, {"office": "华北/北京办事处"})
    run.complete("request", {"amount": 1.0, "purpose": "x"})
    run.complete("review", {"decision": "approve"})
    plan = versions.plan_migration(run.workflow, *spec_of(APPROVAL))
    assert not plan.movable and plan.missing == [versions.ActiveStep("check", "2a 复核", "READY")]
    with pytest.raises(WorkflowError) as caught:
        versions.move_workflow(run.workflow, *spec_of(APPROVAL))
    assert "check" in caught.value.message


def test_finished_steps_the_new_version_dropped_are_folded_out():
    run = Run(WITH_CHECK, {"office": "华北/北京办事处"})
    run.complete("request", {"amount": 1.0, "purpose": "x"})
    run.complete("review", {"decision": "reject"})  # 2a, then back to step 1
    run.complete("check", {})
    assert run.ready_ids() == ["request"]
    run.move_to(APPROVAL)  # step 2a no longer exists; the instance is at step 1
    names = [t.task_spec.name for t in run.workflow.get_tasks(state=TaskState.FINISHED_MASK)]
    assert "check" not in names and names.count("review") == 1
    run.complete("request", {"amount": 2.0, "purpose": "y"})
    run.complete("review", {"decision": "approve"})
    assert run.workflow.is_completed()
    assert run.workflow.last_task.data["amount"] == 2.0


def test_a_multi_instance_step_moves_with_its_items_and_gets_the_new_field():
    new_field = ('<camunda:formField id="copy_kept" label="办事处已留存一份" type="boolean">',
                 '<camunda:formField id="visit_date" label="拜访日期" type="date"/>'
                 '<camunda:formField id="copy_kept" label="办事处已留存一份" type="boolean">')
    newer = edit(SM2_1, ("3 拜访客户收集客户信息", "3 拜访客户并收集信息"), new_field)
    run = Run(SM2_1, {"regions": [], "offices": [], "channels": []})
    run.complete("Task_1", {})
    run.complete("Task_2", {"potential_customers": CUSTOMERS})
    before = {t.id: t.data["customer"]["name"] for t in run.ready()}
    assert run.ready_ids() == ["Task_3", "Task_3"]
    run.move_to(newer)
    after = {t.id: t.data["customer"]["name"] for t in run.ready()}
    assert after == before
    task = run.ready()[0]
    assert task.task_spec.bpmn_name == "3 拜访客户并收集信息"
    fields = [f["id"] for f in task.task_spec.extensions["smflow:form"]["fields"]]
    assert "visit_date" in fields
    for _ in before:
        run.complete("Task_3", {"visit_date": "2027-04-03", "copy_kept": True})
    assert run.ready_ids() == ["Task_4", "Task_4"]  # the next multi-instance step, one per candidate
    assert sorted(t.data["customer"]["name"] for t in run.ready()) == sorted(c["name"] for c in CUSTOMERS)


def test_a_task_with_a_boundary_timer_moves_and_keeps_waiting_for_it():
    renamed = edit(DEADLINE, ("6 整合销售预测", "6 整合并提交销售预测"))
    run = Run(DEADLINE, {"started_at": "2027-04-01T09:00:00+08:00"})
    assert run.ready_ids() == ["report"]
    waiting = [t.task_spec.name for t in run.workflow.get_tasks(state=TaskState.WAITING)]
    run.move_to(renamed)
    assert run.ready()[0].task_spec.bpmn_name == "6 整合并提交销售预测"
    assert [t.task_spec.name for t in run.workflow.get_tasks(state=TaskState.WAITING)] == waiting
    assert run.workflow.waiting_events()  # the timer is still registered
    run.complete("report", {})
    assert run.workflow.is_completed()


def test_versions_and_lane_checks_are_pure():
    """No database and no web in what compares versions, moves workflows and checks lanes."""
    import ast

    for name in ("versions", "lane_roles"):
        tree = ast.parse((ROOT / "engine" / f"{name}.py").read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.split(".")[0] in ("flask", "sqlalchemy", "store", "web")}, name
