"""Migrating one instance from its own page: the version it runs on for everyone; for the process's owner role
and administrators, the dry run's verdict for this instance and a button that moves it (the migration page's
code path, audited); on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select
from testkit import ApprovalFlow, edit

from engine.store import instances
from engine.store.models import Event

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()
OWNED = edit(APPROVAL, ('<bpmn:laneSet id="lanes">',
                        '<bpmn:extensionElements><camunda:properties><camunda:property name="smflow:owner" '
                        'value="财务部"/></camunda:properties></bpmn:extensionElements><bpmn:laneSet id="lanes">'))
RENAMED = edit(OWNED, ("2 审批费用申请", "2 审核费用申请"))
# step 1 ("request") gone: an instance still there cannot move
WITHOUT_REQUEST = edit(RENAMED, ("<bpmn:flowNodeRef>request</bpmn:flowNodeRef>", ""),
                       ('<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="request"/>',
                        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>'),
                       ('<bpmn:sequenceFlow id="f_back" name="退回" sourceRef="decide" targetRef="request"/>',
                        '<bpmn:sequenceFlow id="f_back" name="退回" sourceRef="decide" targetRef="review"/>'),
                       ('<bpmn:sequenceFlow id="f2" sourceRef="request" targetRef="review"/>', ""))
REQUEST = {"amount": 12.5, "purpose": "学术会议", "lines": [{"item": "场地", "cost": 12.5}]}


def without_request_task() -> bytes:
    text = WITHOUT_REQUEST.decode()
    start, end = text.index('<bpmn:userTask id="request"'), text.index('<bpmn:userTask id="review"')
    return (text[:start] + text[end:]).encode()


@pytest.fixture
def site(db_app, auth_for):
    client = db_app.test_client()
    return client, auth_for(client), ApprovalFlow(db_app)


def deploy(flow, data: bytes, by: str = "admin") -> None:
    flow.tx(lambda s: flow.services.engine.deploy(s, data, "approval.bpmn", by))


def version_of(flow, instance_id: int) -> int:
    return flow.tx(lambda s: instances.get(s, instance_id).version)


def migrated(flow) -> list[tuple[int, str, dict]]:
    return flow.tx(lambda s: [(e.instance_id, e.actor, e.detail)
                              for e in s.scalars(select(Event).where(Event.kind == "migrated"))])


def section(text: str) -> str:
    """The page's migrate section ('' when there is none)."""
    if 'id="migrate-instance"' not in text:
        return ""
    part = text[text.index('id="migrate-instance"'):]
    return part[:part.index("</section>")]


def test_the_owner_sees_the_verdict_and_moves_the_instance_from_its_page(site):
    client, auth, flow = site
    at_review = flow.start()
    flow.complete(flow.open_task(at_review), "bj", REQUEST)
    other = flow.start(key="stays")  # another old instance: only the one asked for moves
    deploy(flow, OWNED)
    deploy(flow, RENAMED, "finance")
    auth.login("finance")  # the owner role of versions 2 and 3 (version 1 had none)
    text = client.get(f"/instances/{at_review}").get_data(as_text=True)
    assert "按第 1 版运行" in text and '<span class="badge orange" id="newer-version">已有更新的第 3 版</span>' in text
    part = section(text)
    assert "迁移到第 3 版" in part and "预演结果: 可以迁移" in part and 'class="alert info verdict-movable"' in part
    assert f'action="/instances/{at_review}/migrate"' in part and re.search(r'name="csrf_token" value="[^"]+"', part)
    assert "从第 1 版迁移到第 3 版" in part and 'href="/processes/approval/migrate"' in part
    assert (version_of(flow, at_review), migrated(flow)) == (1, [])  # looking moves nothing

    response = auth.post(f"/instances/{at_review}/migrate")
    assert response.status_code == 302 and response.headers["Location"] == f"/instances/{at_review}"
    text = client.get(f"/instances/{at_review}").get_data(as_text=True)
    assert f"已将流程实例 {at_review} 迁移到第 3 版" in text and 'class="alert success"' in text
    assert "按第 3 版运行" in text and 'id="newer-version"' not in text and section(text) == ""
    assert "2 审核费用申请" in text and 'data-xml-url="/processes/approval/3/download"' in text
    assert '<b class="ev-kind">迁移到新版本</b> <span class="ev-summary">v1 → v3</span>' in text
    assert (version_of(flow, at_review), version_of(flow, other)) == (3, 1)
    assert migrated(flow) == [(at_review, "finance", {"process_id": "approval", "from_version": 1, "to_version": 3,
                                                      "steps": ["review"]})]
    # the same move again (a second click, an old tab): told in words, nothing happens
    auth.post(f"/instances/{at_review}/migrate")
    again = client.get(f"/instances/{at_review}").get_data(as_text=True)
    assert f"流程实例 {at_review} 已在第 3 版 (最新版本)" in again and 'class="alert error"' in again
    assert len(migrated(flow)) == 1


def test_others_see_only_the_version_and_may_not_migrate(site):
    client, auth, flow = site
    instance_id = flow.start()
    deploy(flow, OWNED)
    auth.login("bj")  # the starter: sees the instance, is not the owner
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "按第 1 版运行" in text and "已有更新的第 2 版" in text
    assert section(text) == "" and "/migrate" not in text and "预演" not in text
    response = auth.post(f"/instances/{instance_id}/migrate")
    assert response.status_code == 403
    assert "只有流程「费用申请审批」的拥有者「财务部」或管理员可以迁移其实例" in response.get_data(as_text=True)
    auth.logout()
    auth.login("rm_huadong")  # may not even see it: the answer for an unknown instance
    response = auth.post(f"/instances/{instance_id}/migrate")
    assert response.status_code == 404 and f"没有编号为 {instance_id} 的流程实例" in response.get_data(as_text=True)
    assert auth.post("/instances/999999/migrate").status_code == 404
    assert version_of(flow, instance_id) == 1 and migrated(flow) == []


def test_an_instance_at_a_step_the_new_version_lacks_says_why_and_is_not_moved(site):
    client, auth, flow = site
    instance_id = flow.start()  # at step 1, "request"
    deploy(flow, OWNED)
    deploy(flow, without_request_task(), "finance")
    auth.login("admin")
    part = section(client.get(f"/instances/{instance_id}").get_data(as_text=True))
    assert "预演结果: 不能迁移。当前步骤「1 提交费用申请」在第 3 版中不存在" in part
    assert "请待实例离开这些步骤后再迁移" in part and "<form" not in part
    assert 'class="alert error verdict-blocked"' in part
    auth.post(f"/instances/{instance_id}/migrate")  # forced anyway: refused by the engine, in words
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert f"流程实例 {instance_id} 不能迁移到第 3 版: 新版本中没有它当前所在的步骤" in text
    assert "当前步骤「1 提交费用申请」在第 3 版中不存在" in text
    assert version_of(flow, instance_id) == 1 and migrated(flow) == []


def test_a_view_only_newest_version_and_a_finished_instance(site):
    client, auth, flow = site
    finished = flow.start()
    flow.complete(flow.open_task(finished), "bj", REQUEST)
    flow.complete(flow.open_task(finished), "rm_huabei", {"decision": "approve"})
    running = flow.start(key="running")
    deploy(flow, edit(APPROVAL, ('isExecutable="true"', 'isExecutable="false"')))
    auth.login("admin")
    text = client.get(f"/instances/{finished}").get_data(as_text=True)
    assert "已有更新的第 2 版" in text and section(text) == ""  # an ended instance stays where it ran
    part = section(client.get(f"/instances/{running}").get_data(as_text=True))
    assert "最新版本仅供查看" in part and "<form" not in part
    auth.post(f"/instances/{running}/migrate")
    assert "最新版本仅供查看, 不能把实例迁移到该版本" in client.get(f"/instances/{running}").get_data(as_text=True)
    assert version_of(flow, running) == 1


def test_on_the_newest_version_nothing_is_offered(client, auth, flow):
    instance_id = flow.start()
    auth.login("admin")
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "按第 1 版运行" in text and 'id="newer-version"' not in text and section(text) == ""


def test_migrating_in_english(client, auth, flow):
    instance_id = flow.start()
    deploy(flow, RENAMED)
    auth.login("admin")
    auth.post("/lang/en", {"next": f"/instances/{instance_id}"})
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "Runs on version 1" in text and "Version 2 is newer" in text and "Dry run: this instance can move" in text
    auth.post(f"/instances/{instance_id}/migrate")
    assert f"Instance {instance_id} now runs on version 2" in client.get(f"/instances/{instance_id}").get_data(
        as_text=True)
