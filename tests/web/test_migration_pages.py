"""Versions on the web: the library's changes and running counts, comparing two versions, and migrating
running instances (dry run, one, bulk), which only the owner role and administrators may do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from testkit import edit

from engine.store import instances
from engine.store.models import Event

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()
OWNER_PROPS = ('<bpmn:extensionElements><camunda:properties><camunda:property name="smflow:owner" value="财务部"/>'
               '</camunda:properties></bpmn:extensionElements><bpmn:laneSet id="lanes">')


OWNED = edit(APPROVAL, ('<bpmn:laneSet id="lanes">', OWNER_PROPS))
# the owned process with step 2 renamed, a new form field, and step 1 gone from version 3 (see `third`)
RENAMED = edit(OWNED, ("2 审批费用申请", "2 审核费用申请"),
               ('<camunda:formField id="comment" label="意见" type="text">',
                '<camunda:formField id="budget_line" label="预算科目" type="string"/>'
                '<camunda:formField id="comment" label="意见" type="text">'))


@pytest.fixture
def versions(flow):
    """v1 (admin's, no owner), then v2 owned by 财务部; one instance at step 1 and one at step 2, both on v1;
    then v3 (renamed step 2, a new field)."""
    at_request = flow.start()
    at_review, _ = flow.request_done()
    flow.tx(lambda s: flow.services.engine.deploy(s, OWNED, "approval.bpmn", "admin"))
    flow.tx(lambda s: flow.services.engine.deploy(s, RENAMED, "approval.bpmn", "finance"))
    return at_request, at_review


def version_of(flow, instance_id: int) -> int:
    return flow.tx(lambda s: instances.get(s, instance_id).version)


def migrated_events(flow) -> list[tuple[int, str, dict]]:
    return flow.tx(lambda s: [(e.instance_id, e.actor, e.detail)
                              for e in s.scalars(select(Event).where(Event.kind == "migrated"))])


# -- the library ---------------------------------------------------------------------------------------
def test_library_shows_owner_versions_changes_and_running_instances(client, auth, versions):
    auth.login("finance")
    text = client.get("/processes/").get_data(as_text=True)
    section = text[text.index('id="process-approval"'):]
    assert '<span class="owner">财务部</span>' in section and "运行中实例 2 个" in section
    rows = re.findall(r'<tr data-version="(\d)">(.*?)</tr>', section, re.S)
    assert [v for v, _ in rows] == ["3", "2", "1"]
    v3, v2, v1 = (row for _, row in rows)
    assert "赵磊" in v3 and "系统管理员" in v2  # who deployed each
    assert '<span class="chg changed">~1</span>' in v3 and 'href="/processes/approval/compare?a=2&amp;b=3"' in v3
    assert '<span class="chg changed">~1</span>' in v2  # the process element (its owner property)
    assert "首个版本" in v1 and '<td data-label="运行中" class="running"><a' in v1
    assert re.search(r'class="running">\s*0\s*<', v3) or 'class="running">0<' in v3
    assert 'href="/processes/approval/migrate"' in section and "迁移旧版本实例 (2)" in section
    assert 'href="/processes/approval/3/edit"' in section


def test_library_hides_deploy_and_migrate_from_others(client, auth, versions):
    auth.login("bj")
    text = client.get("/processes/").get_data(as_text=True)
    assert "/migrate" not in text and "/edit" not in text and 'action="/processes/deploy"' not in text
    assert 'href="/processes/approval/compare?a=2&amp;b=3"' in text  # comparing is open to every reader


# -- compare ---------------------------------------------------------------------------------------------
def test_compare_lists_changes_and_marks_both_diagrams(client, auth, versions):
    auth.login("bj")
    text = client.get("/processes/approval/compare?a=1&b=3").get_data(as_text=True)
    assert "版本对比: 费用申请审批 第 1 版 → 第 3 版" in text
    assert "新增 0 个元素" in text and "删除 0 个元素" in text and "修改 2 个元素" in text
    assert re.search(r'data-element-id="review"><span class="kind mono">review</span> 2 审核费用申请', text)
    assert "改动: 表单、名称" in text
    assert "/static/build/modeler/diagram_viewers.js" in text and "bpmn-navigated-viewer.production.min.js" in text
    marks = {side: json.loads(m.replace("&#34;", '"')) for side, m in
             re.findall(r'id="compare-(left|right)".*?data-marks=\'([^\']*)\'', text, re.S)}
    assert marks == {"left": {"smflow-removed": [], "smflow-changed": ["approval", "review"]},
                     "right": {"smflow-added": [], "smflow-changed": ["approval", "review"]}}
    assert 'data-xml-url="/processes/approval/1/download"' in text
    assert 'data-xml-url="/processes/approval/3/download"' in text


def test_compare_defaults_to_the_newest_two_and_says_when_they_are_the_same(client, auth, versions):
    auth.login("bj")
    text = client.get("/processes/approval/compare").get_data(as_text=True)
    assert "第 2 版 → 第 3 版" in text
    same = client.get("/processes/approval/compare?a=3&b=3").get_data(as_text=True)
    assert "两个版本的流程与布局完全相同" in same
    response = client.get("/processes/nothing/compare")
    assert response.status_code == 404 and "没有找到流程 &#39;nothing&#39;" in response.get_data(as_text=True)
    assert client.get("/processes/approval/compare?a=9&b=3").status_code == 404


# -- migrate ---------------------------------------------------------------------------------------------
def test_dry_run_lists_every_older_instance_and_moves_nothing(client, auth, flow, versions):
    at_request, at_review = versions
    auth.login("finance")
    text = client.get("/processes/approval/migrate").get_data(as_text=True)
    assert "迁移实例到新版本: 费用申请审批 第 3 版" in text
    assert "预演: 2 个旧版本实例, 2 个可以迁移, 0 个不能迁移" in text
    for instance_id, step in ((at_request, "request"), (at_review, "review")):
        row = text[text.index(f'id="plan-{instance_id}"'):]
        row = row[:row.index("</tr>")]
        assert "v1 → v3" in row and f'<span class="mono">{step}</span>' in row and "可以迁移" in row
        assert f'name="instance_id" value="{instance_id}" checked' in row
    assert [version_of(flow, i) for i in versions] == [1, 1]
    assert migrated_events(flow) == []


def test_migrate_one_then_the_rest_in_bulk_each_audited(client, auth, flow, versions):
    at_request, at_review = versions
    auth.login("finance")
    response = auth.post("/processes/approval/migrate", {"only": str(at_review), "instance_id": str(at_request)})
    assert response.status_code == 302 and response.headers["Location"] == "/processes/approval/migrate"
    assert (version_of(flow, at_review), version_of(flow, at_request)) == (3, 1)
    text = client.get("/processes/approval/migrate").get_data(as_text=True)
    assert f"已将 1 个实例迁移到第 3 版: {at_review}" in text
    assert f'id="plan-{at_review}"' not in text and f'id="plan-{at_request}"' in text
    # the moved instance's open task shows the new name and field
    task_page = client.get(f"/instances/{at_review}").get_data(as_text=True)
    assert "2 审核费用申请" in task_page and "迁移到新版本" in task_page  # and the move is in its audit trail
    auth.post("/processes/approval/migrate", {"all": "1"})
    assert version_of(flow, at_request) == 3
    assert migrated_events(flow) == [
        (at_review, "finance", {"process_id": "approval", "from_version": 1, "to_version": 3, "steps": ["review"]}),
        (at_request, "finance", {"process_id": "approval", "from_version": 1, "to_version": 3, "steps": ["request"]})]
    text = client.get("/processes/approval/migrate").get_data(as_text=True)
    assert "没有运行在旧版本上的实例" in text
    # the audit trail of the versions: the two migrations, then the three deploys, newest first
    history = text[text.index('id="version-history"'):]
    kinds = re.findall(r'<tr class="ev-(\w+)">', history)
    assert kinds == ["migrated", "migrated", "deployed", "deployed", "deployed"]
    assert f'<a href="/instances/{at_request}">#{at_request}</a> v1 → v3' in history and "赵磊" in history


def test_instances_moved_together_are_listed_as_the_language_lists_them(client, auth, flow, versions):
    at_request, at_review = versions
    auth.login("finance")
    auth.post("/processes/approval/migrate", {"instance_id": [str(at_request), str(at_review)]})
    text = client.get("/processes/approval/migrate").get_data(as_text=True)
    assert f"已将 2 个实例迁移到第 3 版: {at_request}、{at_review}" in text


def test_an_instance_that_cannot_move_is_shown_and_refused(client, auth, flow, versions):
    at_request, _ = versions
    dropped = edit(RENAMED, ("<bpmn:flowNodeRef>request</bpmn:flowNodeRef>", ""),
                   ('<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="request"/>',
                    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>'),
                   ('<bpmn:sequenceFlow id="f_back" name="退回" sourceRef="decide" targetRef="request"/>',
                    '<bpmn:sequenceFlow id="f_back" name="退回" sourceRef="decide" targetRef="review"/>'),
                   ('<bpmn:sequenceFlow id="f2" sourceRef="request" targetRef="review"/>', ""))
    text = dropped.decode()
    start, end = text.index('<bpmn:userTask id="request"'), text.index('<bpmn:userTask id="review"')
    dropped = (text[:start] + text[end:]).encode()
    flow.tx(lambda s: flow.services.engine.deploy(s, dropped, "approval.bpmn", "finance"))
    auth.login("admin")
    page = client.get("/processes/approval/migrate").get_data(as_text=True)
    row = page[page.index(f'id="plan-{at_request}"'):]
    row = row[:row.index("</tr>")]
    assert "不能迁移" in row and "request" in row and "在第 4 版中不存在" in row and 'type="checkbox"' not in row
    auth.post("/processes/approval/migrate", {"instance_id": str(at_request)})
    text = client.get("/processes/approval/migrate").get_data(as_text=True)
    assert f"流程实例 {at_request} 不能迁移到第 4 版: 新版本中没有它当前所在的步骤" in text
    assert "当前步骤「1 提交费用申请」在第 4 版中不存在" in text
    assert version_of(flow, at_request) == 1 and migrated_events(flow) == []


def test_only_the_owner_role_and_admins_may_migrate(client, auth, flow, versions):
    at_request, _ = versions
    for login in ("bj", "rm_huabei"):  # who may not see the process: tests/web/test_process_visibility.py
        auth.login(login)
        for response in (client.get("/processes/approval/migrate"),
                         auth.post("/processes/approval/migrate", {"all": "1"})):
            assert response.status_code == 403
            assert "只有流程「费用申请审批」的拥有者「财务部」或管理员可以迁移其实例" in response.get_data(as_text=True)
        auth.logout()
    assert version_of(flow, at_request) == 1
    auth.login("admin")
    assert client.get("/processes/approval/migrate").status_code == 200


def test_a_process_without_owner_is_migrated_by_admins_only(client, auth, flow):
    flow.start()
    flow.tx(lambda s: flow.services.engine.deploy(s, edit(APPROVAL, ("1 提交", "1 填写")), "a.bpmn", "admin"))
    auth.login("rm_huabei")
    response = client.get("/processes/approval/migrate")
    assert response.status_code == 403 and "没有指定拥有者, 只有管理员可以部署" in response.get_data(as_text=True)


def test_ids_of_other_processes_or_current_instances_are_not_moved(client, auth, flow, versions):
    at_request, _ = versions
    newest = flow.start()  # already on version 3
    auth.login("finance")
    auth.post("/processes/approval/migrate", {"instance_id": [str(newest), "999"]})
    text = client.get("/processes/approval/migrate").get_data(as_text=True)
    assert f"实例 {newest} 不是该流程旧版本上运行中的实例 (最新为第 3 版)" in text
    assert "实例 999 不是该流程旧版本上运行中的实例" in text
    auth.post("/processes/approval/migrate", {})
    assert "没有选中任何实例" in client.get("/processes/approval/migrate").get_data(as_text=True)
    assert version_of(flow, at_request) == 1


def test_the_version_pages_in_english(client, auth, versions):
    auth.login("finance")
    auth.post("/lang/en", {"next": "/processes/"})
    assert "Migrate older instances (2)" in client.get("/processes/").get_data(as_text=True)
    assert "Compare: 费用申请审批 version 1 → 3" in client.get("/processes/approval/compare?a=1&b=3").get_data(
        as_text=True)
    text = client.get("/processes/approval/migrate").get_data(as_text=True)
    assert "Dry run: 2 instances on older versions, 2 can move, 0 cannot" in text
