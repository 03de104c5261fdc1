"""Versions in the database: a deploy records what changed, an unchanged model is no new version, running
instances stay on their version until migrated, and a migrated instance continues on the new one."""

from __future__ import annotations

import pytest
from helpers import add_people, fixture_bytes
from sqlalchemy import select
from testkit import edit

from engine.errors import NotPermitted, StaleAction, ValidationFailed
from engine.store import definitions, instances, tasks
from engine.store.models import Event, ProcessDefinition, Role

APPROVAL = fixture_bytes("approval.bpmn")
PEOPLE = {"bj": [("办事处", "华北/北京办事处")], "rm": [("大区经理", "*")], "fin": [("财务部", "*")]}


# v1 has a step 2a 复核 after the review; v2 drops it, renames the review and adds a field to its form
WITH_CHECK = edit(
    APPROVAL,
    ('<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="decide"/>',
     '<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="check"/>'
     '<bpmn:userTask id="check" name="2a 复核"/><bpmn:sequenceFlow id="f3b" sourceRef="check" targetRef="decide"/>'),
    ("<bpmn:flowNodeRef>decide</bpmn:flowNodeRef>",
     "<bpmn:flowNodeRef>decide</bpmn:flowNodeRef><bpmn:flowNodeRef>check</bpmn:flowNodeRef>"))
NEWER = edit(APPROVAL, ("2 审批费用申请", "2 审核费用申请"),
             ('<camunda:formField id="comment" label="意见" type="text">',
              '<camunda:formField id="budget_line" label="预算科目" type="string"/>'
              '<camunda:formField id="comment" label="意见" type="text">'))


@pytest.fixture
def two_versions(env):
    """v1 deployed, one instance at step 2 (review) and one at step 2a (check); then v2 deployed."""
    env.tx(lambda s: add_people(s, PEOPLE))
    env.tx(lambda s: env.engine.deploy(s, WITH_CHECK, "approval.bpmn", "admin"))
    at_review = start_and_submit(env)
    at_check = start_and_submit(env)
    complete(env, at_check, "review", "rm", {"decision": "approve"})
    result = env.tx(lambda s: env.engine.deploy(s, NEWER, "approval.bpmn", "admin"))
    assert [(r.version, r.status) for r in result] == [(2, "deployed")]
    return at_review, at_check


def start_and_submit(env) -> int:
    instance_id = env.tx(lambda s: env.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"}))
    complete(env, instance_id, "request", "bj", {"amount": 12.5, "purpose": "学术会议"})
    return instance_id


def open_task(env, instance_id: int):
    return env.tx(lambda s: tasks.active_for_instance(s, instance_id)[0])


def complete(env, instance_id: int, element_id: str, login: str, data: dict) -> None:
    task = open_task(env, instance_id)
    assert task.element_id == element_id
    env.tx(lambda s: env.engine.complete(s, task.id, login, data))


def test_a_deploy_records_what_changed_and_running_instances_stay(env, two_versions):
    at_review, at_check = two_versions
    v2 = env.tx(lambda s: definitions.get_version(s, "approval", 2))
    assert [c["element_id"] for c in v2.changes["removed"]] == ["check", "f3b"]
    assert {c["element_id"]: c["aspects"] for c in v2.changes["changed"]} == {
        "lane_rm": ["flowNodeRef"], "review": ["formData", "name"], "f3": ["targetRef"]}
    assert env.tx(lambda s: definitions.get_version(s, "approval", 1).changes) is None
    # running instances keep version 1; a new start uses version 2
    assert env.tx(lambda s: [instances.get(s, i).version for i in (at_review, at_check)]) == [1, 1]
    new_id = start_and_submit(env)
    assert env.tx(lambda s: instances.get(s, new_id).version) == 2
    assert env.tx(lambda s: definitions.running_counts(s)) == {("approval", 1): 2, ("approval", 2): 1}
    event = env.tx(lambda s: s.scalars(select(Event).where(Event.kind == "deployed")).all()[-1].detail)
    assert event["version"] == 2 and event["changes"] == {"added": 0, "removed": 2, "changed": 3}


def test_a_model_written_differently_is_not_a_new_version(env):
    env.tx(lambda s: env.engine.deploy(s, APPROVAL, "approval.bpmn", "admin"))
    rewritten = edit(APPROVAL, ("bpmn:", "semantic:"), ("xmlns:bpmn=", "xmlns:semantic="), ("    ", "\t"))
    results = env.tx(lambda s: env.engine.deploy(s, rewritten, "approval.bpmn", "admin"))
    assert [(r.version, r.status) for r in results] == [(1, "unchanged")]
    assert env.tx(lambda s: len(s.scalars(select(ProcessDefinition)).all())) == 1
    assert env.tx(lambda s: [e.kind for e in s.scalars(select(Event))]) == ["deployed"]


def test_dry_run_lists_what_moves_and_what_cannot(env, two_versions):
    at_review, at_check = two_versions
    plans = {p.instance_id: p for p in env.tx(lambda s: env.engine.migration_plans(s, "approval"))}
    assert set(plans) == {at_review, at_check}
    assert plans[at_review].movable and [s.element_id for s in plans[at_review].active] == ["review"]
    assert not plans[at_check].movable and [s.element_id for s in plans[at_check].missing] == ["check"]
    assert (plans[at_review].from_version, plans[at_review].to_version) == (1, 2)
    # a dry run stores nothing
    assert env.tx(lambda s: [instances.get(s, i).version for i in (at_review, at_check)]) == [1, 1]


def test_a_migrated_instance_keeps_its_task_shows_the_new_form_and_completes_on_version_2(env, two_versions):
    at_review, _ = two_versions
    task = open_task(env, at_review)
    env.tx(lambda s: env.engine.claim(s, task.id, "rm"))
    move = env.tx(lambda s: env.engine.migrate(s, at_review, "admin"))
    assert move.movable and (move.from_version, move.to_version) == (1, 2)
    instance = env.tx(lambda s: instances.get(s, at_review))
    assert (instance.version, instance.status) == (2, "running")
    assert instance.definition_id == env.tx(lambda s: definitions.get_version(s, "approval", 2).id)
    moved = open_task(env, at_review)
    assert (moved.id, moved.state, moved.assignee) == (task.id, "claimed", "rm")  # same task, same holder
    assert moved.name == "2 审核费用申请" and "budget_line" in [f["id"] for f in moved.form["fields"]]
    event = env.tx(lambda s: s.scalars(select(Event).where(Event.kind == "migrated")).one())
    assert (event.instance_id, event.actor) == (at_review, "admin")
    assert event.detail == {"process_id": "approval", "from_version": 1, "to_version": 2, "steps": ["review"]}
    # the instance continues on version 2: no step 2a any more, straight to the archive and the end
    env.restart()
    env.tx(lambda s: env.engine.complete(s, task.id, "rm", {"decision": "approve", "budget_line": "会议费"}))
    assert env.tx(lambda s: instances.get(s, at_review).status) == "completed"
    data = env.tx(lambda s: env.engine.workflow_data(s, at_review))
    assert data["budget_line"] == "会议费" and data["amount"] == 12.5


def test_an_instance_at_a_removed_step_is_refused_and_left_as_it_was(env, two_versions):
    _, at_check = two_versions
    before = env.tx(lambda s: (instances.get(s, at_check).revision, instances.get(s, at_check).state))
    with pytest.raises(ValidationFailed) as caught:
        env.tx(lambda s: env.engine.migrate(s, at_check, "admin"))
    assert "不能迁移到第 2 版" in caught.value.message
    assert [(p.element_id, p.message) for p in caught.value.problems] == [
        ("check", "当前步骤「2a 复核」在第 2 版中不存在")]
    after = env.tx(lambda s: (instances.get(s, at_check).revision, instances.get(s, at_check).state))
    assert after == before and env.tx(lambda s: instances.get(s, at_check).version) == 1
    assert env.tx(lambda s: s.scalars(select(Event).where(Event.kind == "migrated")).all()) == []
    complete(env, at_check, "check", "rm", {})  # it still runs on version 1
    assert env.tx(lambda s: instances.get(s, at_check).version) == 1


def test_lanes_are_checked_against_the_organisation(env):
    env.tx(lambda s: add_people(s, {"bj": [("办事处", "华北/北京办事处")]}))
    # no roles loaded: lane names cannot be checked; lanes nobody holds are warnings that do not block
    results = env.tx(lambda s: env.engine.deploy(s, APPROVAL, "approval.bpmn", "admin"))
    assert [(w.element_id, w.message) for w in results[0].warnings] == [
        ("lane_rm", "泳道「大区经理」的角色 大区经理 目前没有任何用户, 其中的任务将无人处理")]  # 财务部: no user task

    def roles(s):
        for name, aliases in (("办事处", []), ("大区经理", ["销售大区经理"]), ("财务部", [])):
            s.add(Role(name=name, aliases=aliases))

    env.tx(roles)
    aliased = edit(APPROVAL, ('name="大区经理"', 'name="销售大区经理"'), ('name="办事处"', 'name="营业部"'),
                   ("decision == 'approve'", "decision = 'approve'"))
    with pytest.raises(ValidationFailed) as caught:
        env.tx(lambda s: env.engine.check(s, aliased, "approval.bpmn"))
    assert "2 处" in caught.value.message  # the condition and the unknown lane, at once
    problems = {p.element_id: p.message for p in caught.value.problems}
    assert set(problems) == {"f4", "lane_office"}
    assert problems["lane_office"] == "泳道「营业部」不是已知的角色 (已知角色: 办事处、大区经理、财务部)"
    # an alias names its role: 销售大区经理 is 大区经理, whom nobody holds yet
    assert [(w.element_id, w.message) for w in caught.value.context["warnings"]] == [
        ("lane_rm", "泳道「销售大区经理」的角色 大区经理 目前没有任何用户, 其中的任务将无人处理")]


def test_what_cannot_be_migrated_says_why(env, two_versions):
    at_review, at_check = two_versions
    env.tx(lambda s: env.engine.migrate(s, at_review, "admin"))
    with pytest.raises(StaleAction) as current:
        env.tx(lambda s: env.engine.migrate(s, at_review, "admin"))
    assert current.value.message == f"流程实例 {at_review} 已在第 2 版 (最新版本)"
    complete(env, at_review, "review", "rm", {"decision": "approve"})
    with pytest.raises(StaleAction) as ended:
        env.tx(lambda s: env.engine.migrate(s, at_review, "admin"))
    assert ended.value.message == f"流程实例 {at_review} 已结束, 不需要迁移"
    view_only = NEWER.replace(b'isExecutable="true"', b'isExecutable="false"').replace("审核".encode(), "复审".encode())
    env.tx(lambda s: env.engine.deploy(s, view_only, "approval.bpmn", "admin"))
    for attempt in (lambda s: env.engine.migrate(s, at_check, "admin"),
                    lambda s: env.engine.migration_plans(s, "approval")):
        with pytest.raises(NotPermitted) as caught:
            env.tx(attempt)
        assert caught.value.message == "流程 'approval' 的最新版本仅供查看, 不能把实例迁移到该版本"


def test_an_instance_held_in_memory_that_went_through_a_dropped_step_migrates_and_completes(env):
    """Step 2a, finished on the way back to step 1, is folded out of the workflow this process holds (with the
    serialized tasks it keeps): the state saved is the moved tree, not the one the kept dicts were made from."""
    env.tx(lambda s: add_people(s, PEOPLE))
    env.tx(lambda s: env.engine.deploy(s, WITH_CHECK, "approval.bpmn", "admin"))
    instance_id = start_and_submit(env)
    complete(env, instance_id, "review", "rm", {"decision": "reject", "comment": "请补充"})
    complete(env, instance_id, "check", "rm", {})
    assert open_task(env, instance_id).element_id == "request"
    env.tx(lambda s: env.engine.deploy(s, NEWER, "approval.bpmn", "admin"))
    move = env.tx(lambda s: env.engine.migrate(s, instance_id, "admin"))
    assert (move.from_version, move.to_version) == (1, 2)
    complete(env, instance_id, "request", "bj", {"amount": 8, "purpose": "学术会议"})
    complete(env, instance_id, "review", "rm", {"decision": "approve", "budget_line": "会议费"})
    assert env.tx(lambda s: instances.get(s, instance_id).status) == "completed"
    env.restart()  # and read back from the database alone
    assert env.tx(lambda s: env.engine.path_taken(s, instance_id))
    assert env.tx(lambda s: env.engine.workflow_data(s, instance_id))["amount"] == 8
