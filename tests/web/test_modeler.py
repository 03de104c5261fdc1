"""The process owner's modeler: the page, validating without storing, deploying the edited XML as a new version."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from testkit import broken

from engine.store import definitions
from engine.store.models import Grant, Role

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()
CHANGED = APPROVAL.replace("1 提交".encode(), "1 填写".encode())


def line_of(marker: str) -> int:
    """The line of the fixture where `marker` first appears (problems are reported by line)."""
    return APPROVAL[:APPROVAL.index(marker.encode())].count(b"\n") + 1


def owned_by(data: bytes, role: str) -> bytes:
    props = (f'<bpmn:extensionElements><camunda:properties><camunda:property name="smflow:owner" value="{role}"/>'
             '</camunda:properties></bpmn:extensionElements>')
    return data.decode().replace('<bpmn:laneSet id="lanes">', props + '<bpmn:laneSet id="lanes">').encode()


@pytest.fixture
def post_xml(client, auth):
    """POST a diagram as the request body, with this session's CSRF token in the header."""

    def post(url: str, data: bytes, filename: str | None = None, token: bool = True):
        headers = {"X-CSRF-Token": auth.token()} if token else {}
        return client.post(url, data=data, content_type="application/xml", headers=headers,
                           query_string={"filename": filename} if filename else None)

    return post


def stored_versions(flow, process_id: str = "approval") -> list[int]:
    return flow.tx(lambda s: [d.version for d in definitions.all_versions(s) if d.process_id == process_id])


def test_edit_page_loads_the_stored_version_into_the_modeler_bundle(client, auth):
    auth.login("admin")
    text = client.get("/processes/approval/1/edit").get_data(as_text=True)
    assert "编辑流程: 费用申请审批 第 1 版" in text
    assert 'data-xml-url="/processes/approval/1/download"' in text and 'data-filename="approval.bpmn"' in text
    assert 'data-validate-url="/processes/validate"' in text and 'data-deploy-url="/processes/deploy-xml"' in text
    assert "/static/build/modeler/modeler.js" in text and "/static/build/modeler/modeler.css" in text
    assert 'data-csrf="' in text
    for label in ("校验", "部署为新版本", "下载"):
        assert f">{label}</button>" in text


def test_edit_links_only_for_those_who_may_upload(client, auth):
    auth.login("admin")
    assert 'href="/processes/approval/1/edit"' in client.get("/processes/").get_data(as_text=True)
    assert 'href="/processes/approval/1/edit"' in client.get("/processes/approval/1/diagram").get_data(as_text=True)
    assert 'href="/processes/new/edit"' in client.get("/processes/").get_data(as_text=True)
    auth.logout()
    auth.login("bj")
    assert "/edit" not in client.get("/processes/").get_data(as_text=True)
    assert "/edit" not in client.get("/processes/approval/1/diagram").get_data(as_text=True)
    response = client.get("/processes/approval/1/edit")
    assert response.status_code == 403
    assert "只有流程拥有者和管理员可以编辑流程" in response.get_data(as_text=True)


def test_an_owner_edits_but_only_admins_start_a_new_diagram(client, auth, flow):
    flow.tx(lambda s: flow.services.engine.deploy(s, owned_by(APPROVAL, "财务部"), "approval.bpmn", "admin"))
    auth.login("finance")
    assert client.get("/processes/approval/2/edit").status_code == 200
    assert 'href="/processes/new/edit"' not in client.get("/processes/").get_data(as_text=True)
    response = client.get("/processes/new/edit")
    assert response.status_code == 403 and "只有管理员可以新建流程" in response.get_data(as_text=True)
    assert client.get("/processes/new/diagram.bpmn").status_code == 403


def test_new_diagram_is_a_valid_starting_point(client, auth, post_xml):
    auth.login("admin")
    page = client.get("/processes/new/edit").get_data(as_text=True)
    assert 'data-xml-url="/processes/new/diagram.bpmn"' in page and 'data-filename=""' in page
    blank = client.get("/processes/new/diagram.bpmn")
    assert blank.mimetype == "application/xml"
    answer = post_xml("/processes/validate", blank.data).get_json()
    assert answer["ok"] is True
    assert answer["processes"] == [{"process_id": "Process_new", "name": "新流程", "executable": True,
                                    "owner": None}]


def test_validate_a_good_file_stores_nothing(client, auth, flow, post_xml):
    auth.login("admin")
    response = post_xml("/processes/validate", CHANGED, "approval.bpmn")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "warnings": [], "processes": [
        {"process_id": "approval", "name": "费用申请审批", "executable": True, "owner": None}]}
    assert stored_versions(flow) == [1]


def test_validate_lists_every_problem_by_element_and_line(client, auth, post_xml):
    auth.login("admin")
    response = post_xml("/processes/validate", broken(APPROVAL), "坏文件.bpmn")
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["ok"] is False and "3 处" in answer["message"]
    by_id = {p["element_id"]: p for p in answer["problems"]}
    assert set(by_id) == {"file", "f4", "amount"}
    assert (by_id["file"]["element_name"], by_id["file"]["line"]) == ("3 费用备案", line_of('id="file"'))
    assert "没有名为 'no_such_topic' 的处理程序" in by_id["file"]["message"]
    assert (by_id["f4"]["element_name"], by_id["f4"]["line"]) == ("批准", line_of('id="f4"'))
    assert "条件被沙箱拒绝" in by_id["f4"]["message"]
    assert by_id["amount"]["line"] == line_of('id="amount"') and "element_name" in by_id["amount"]


def test_validate_reports_broken_xml_and_an_empty_body(client, auth, post_xml):
    auth.login("admin")
    answer = post_xml("/processes/validate", b"<bpmn:definitions").get_json()
    assert answer["ok"] is False and answer["problems"][0]["line"] == 1
    assert "XML 格式错误" in answer["problems"][0]["message"]
    answer = post_xml("/processes/validate", b"  ").get_json()
    assert answer == {"ok": False, "message": "没有收到流程图内容", "warnings": [],
                      "problems": [{"element_id": None, "element_name": None, "line": None,
                                    "message": "没有收到流程图内容"}]}


def test_validate_and_deploy_need_the_csrf_header(client, auth, flow, post_xml):
    auth.login("admin")
    for url in ("/processes/validate", "/processes/deploy-xml"):
        response = post_xml(url, CHANGED, token=False)
        assert response.status_code == 400
        assert "安全令牌不符" in response.get_data(as_text=True)
    assert stored_versions(flow) == [1]


def test_validate_and_deploy_are_refused_to_those_who_may_not_upload(client, auth, flow, post_xml):
    auth.login("bj")
    for url in ("/processes/validate", "/processes/deploy-xml"):
        response = post_xml(url, CHANGED)
        assert response.status_code == 403
        assert response.get_json()["ok"] is False
        assert "只有流程拥有者" in response.get_json()["message"]
    assert stored_versions(flow) == [1]


def test_login_is_required(client):
    response = client.post("/processes/validate", data=APPROVAL, content_type="application/xml")
    assert response.status_code in (302, 400)  # no session: no CSRF token and no login
    assert client.get("/processes/approval/1/edit").status_code == 302


def test_deploy_from_the_modeler_creates_a_new_version_and_same_bytes_are_unchanged(client, auth, flow, post_xml):
    auth.login("admin")
    response = post_xml("/processes/deploy-xml", CHANGED, "approval.bpmn")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "warnings": [], "results": [{
        "process_id": "approval", "version": 2, "status": "deployed", "message": "approval 第 2 版: 已部署",
        "diagram_url": "/processes/approval/2/diagram", "edit_url": "/processes/approval/2/edit",
        "compare_url": "/processes/approval/compare?a=1&b=2"}]}
    assert client.get("/processes/approval/2/download").data == CHANGED
    assert "approval.bpmn" in client.get("/processes/approval/2/download").headers["Content-Disposition"]
    again = post_xml("/processes/deploy-xml", CHANGED, "approval.bpmn").get_json()
    assert again["ok"] is True
    assert [(r["version"], r["status"]) for r in again["results"]] == [(2, "unchanged")]
    assert again["results"][0]["message"] == "approval: 与第 2 版内容相同, 未生成新版本"
    assert stored_versions(flow) == [1, 2]


def test_deploy_of_a_bad_file_lists_its_problems_and_stores_nothing(client, auth, flow, post_xml):
    auth.login("admin")
    response = post_xml("/processes/deploy-xml", broken(APPROVAL), "approval.bpmn")
    assert response.status_code == 422
    answer = response.get_json()
    assert answer["ok"] is False
    assert {p["element_id"] for p in answer["problems"]} == {"file", "f4", "amount"}
    assert stored_versions(flow) == [1]


def test_deploy_keeps_the_owner_rules_of_the_upload_form(client, auth, flow, post_xml):
    owned = owned_by(APPROVAL, "财务部")
    flow.tx(lambda s: flow.services.engine.deploy(s, owned, "approval.bpmn", "admin"))
    auth.login("finance")
    response = post_xml("/processes/deploy-xml", CHANGED)  # the owner may not drop the owner
    assert response.status_code == 403 and "没有指定拥有者" in response.get_json()["message"]
    renamed = owned_by(CHANGED, "财务部")
    answer = post_xml("/processes/deploy-xml", renamed).get_json()
    assert answer["ok"] is True and answer["results"][0]["version"] == 3
    # without a file name the download is named after the process and version
    download = client.get("/processes/approval/3/download")
    assert download.data == renamed and "approval_v3.bpmn" in download.headers["Content-Disposition"]
    assert stored_versions(flow) == [1, 2, 3]


def test_validate_gives_warnings_that_do_not_block_and_deploy_passes_them_on(client, auth, flow, post_xml):
    flow.tx(lambda s: [s.delete(g) for g in s.scalars(select(Grant).where(Grant.role == "财务部"))])
    auth.login("admin")
    with_task = APPROVAL.replace(b"<bpmn:flowNodeRef>file</bpmn:flowNodeRef>",
                                 b"<bpmn:flowNodeRef>file</bpmn:flowNodeRef><bpmn:flowNodeRef>request</bpmn:flowNodeRef>")
    answer = post_xml("/processes/validate", with_task).get_json()
    assert answer["ok"] is True
    assert answer["warnings"] == [{"element_id": "lane_fin", "element_name": "财务部", "line": line_of('id="lane_fin"'),
                                   "message": "泳道「财务部」的角色 财务部 目前没有任何用户, 其中的任务将无人处理"}]
    deployed = post_xml("/processes/deploy-xml", with_task).get_json()
    assert deployed["ok"] is True and deployed["results"][0]["version"] == 2
    assert [w["element_id"] for w in deployed["warnings"]] == ["lane_fin"]
    # with errors too, both lists come back; nothing is stored
    answer = post_xml("/processes/validate", broken(with_task)).get_json()
    assert answer["ok"] is False and len(answer["problems"]) == 3 and len(answer["warnings"]) == 1
    assert stored_versions(flow) == [1, 2]


def test_unknown_lane_roles_are_errors_once_the_organisation_has_roles(client, auth, flow, post_xml):
    flow.tx(lambda s: s.add_all([Role(name=n, aliases=[]) for n in ("办事处", "大区经理", "财务部")]))
    auth.login("admin")
    answer = post_xml("/processes/validate", APPROVAL.replace('name="大区经理"'.encode(), 'name="区域经理"'.encode()))
    assert answer.get_json()["problems"] == [{
        "element_id": "lane_rm", "element_name": "区域经理", "line": line_of('id="lane_rm"'),
        "message": "泳道「区域经理」不是已知的角色 (已知角色: 办事处、大区经理、财务部)"}]


def test_deploying_the_same_model_rewritten_makes_no_version(client, auth, flow, post_xml):
    auth.login("admin")
    rewritten = APPROVAL.replace(b"bpmn:", b"b:").replace(b"xmlns:bpmn=", b"xmlns:b=").replace(b"  ", b" ")
    answer = post_xml("/processes/deploy-xml", rewritten, "approval.bpmn").get_json()
    assert answer["ok"] is True
    assert [(r["version"], r["status"], r["compare_url"]) for r in answer["results"]] == [(1, "unchanged", None)]
    assert answer["results"][0]["message"] == "approval: 与第 1 版内容相同, 未生成新版本"
    assert stored_versions(flow) == [1]


def test_an_owner_of_another_process_may_not_edit_or_deploy_this_one(client, auth, flow, post_xml):
    other = owned_by(APPROVAL, "财务部").replace(b'id="approval"', b'id="approval_b"')
    flow.tx(lambda s: flow.services.engine.deploy(s, other, "b.bpmn", "admin"))
    auth.login("finance")  # 财务部 holds no user task of approval: it may not even see it
    response = client.get("/processes/approval/1/edit")
    assert response.status_code == 404
    assert "没有找到流程 &#39;approval&#39; 的第 1 版, 请先部署" in response.get_data(as_text=True)
    mine = owned_by(APPROVAL, "办事处").replace(b'id="approval"', b'id="approval_b"')
    flow.tx(lambda s: flow.services.engine.deploy(s, mine, "b.bpmn", "admin"))
    auth.logout()
    auth.login("bj")  # owns approval_b now, and sees approval through its lane
    assert client.get("/processes/approval_b/2/edit").status_code == 200
    response = client.get("/processes/approval/1/edit")
    assert response.status_code == 403
    assert "流程 approval 没有指定拥有者, 只有管理员可以部署" in response.get_data(as_text=True)
    text = client.get("/processes/").get_data(as_text=True)
    assert 'href="/processes/approval_b/2/edit"' in text and 'href="/processes/approval/1/edit"' not in text
    answer = post_xml("/processes/deploy-xml", CHANGED)
    assert answer.status_code == 403
    assert answer.get_json()["message"] == "流程 approval 没有指定拥有者, 只有管理员可以部署"
    flow.tx(lambda s: flow.services.engine.deploy(s, owned_by(APPROVAL, "营销副总"), "a.bpmn", "admin"))
    response = client.get("/processes/approval/2/edit")
    assert response.status_code == 403
    assert "只有流程 approval 的拥有者「营销副总」或管理员可以编辑并部署它" in response.get_data(as_text=True)
    answer = post_xml("/processes/deploy-xml", owned_by(CHANGED, "营销副总"))
    assert answer.status_code == 403 and answer.get_json()["message"] == "只有「营销副总」或管理员可以部署流程 approval"
    assert stored_versions(flow) == [1, 2]


def test_the_panel_gets_the_registered_topics(client, auth, flow):
    auth.login("admin")
    topics = client.get("/processes/topics").get_json()["topics"]
    assert topics == sorted(flow.services.engine.handlers.topics) and "archive" in topics
    page = client.get("/processes/approval/1/edit").get_data(as_text=True)
    assert "data-topics='[&#34;archive&#34;" in page or 'data-topics=\'["archive"' in page
    assert "smflow 设置" in page  # the custom group's labels, in the page's language
    auth.logout()
    auth.login("bj")
    assert client.get("/processes/topics").status_code == 403
