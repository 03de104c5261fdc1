"""流程与版本: listing, download of the exact bytes, diagram page, upload with every problem, starting."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from testkit import broken

from engine.store.models import Grant, ProcessInstance, Role

APPROVAL_PATH = "tests/fixtures/approval.bpmn"


@pytest.fixture
def approval_bytes():
    with open(APPROVAL_PATH, "rb") as f:
        return f.read()


def owned_by(data: bytes, role: str) -> bytes:
    marker = '<bpmn:laneSet id="lanes">'
    props = (f'<bpmn:extensionElements><camunda:properties><camunda:property name="smflow:owner" value="{role}"/>'
             '</camunda:properties></bpmn:extensionElements>')
    return data.decode().replace(marker, props + marker).encode()


def test_list_shows_processes_versions_and_actions(client, auth):
    auth.login("bj")
    text = client.get("/processes/").get_data(as_text=True)
    assert "费用申请审批" in text and "approval" in text and "v1" in text and "approval.bpmn" in text
    assert 'href="/processes/approval/1/download"' in text and 'href="/processes/approval/1/diagram"' in text
    assert 'href="/processes/approval/start"' in text     # bj holds the 办事处 lane's role
    assert 'action="/processes/deploy"' not in text       # but owns no process


def test_download_gives_the_exact_uploaded_bytes(client, auth, approval_bytes):
    auth.login("bj")
    response = client.get("/processes/approval/1/download")
    assert response.status_code == 200
    assert response.data == approval_bytes
    assert "approval.bpmn" in response.headers["Content-Disposition"]


def test_unknown_version_is_404(client, auth):
    auth.login("bj")
    response = client.get("/processes/approval/7/download")
    assert response.status_code == 404
    assert "没有找到流程 &#39;approval&#39; 的第 7 版" in response.get_data(as_text=True)


def test_diagram_page_loads_bpmn_js_from_our_static_build(client, auth):
    auth.login("bj")
    text = client.get("/processes/approval/1/diagram").get_data(as_text=True)
    assert "/static/build/bpmn-js/bpmn-navigated-viewer.production.min.js" in text
    assert 'data-xml-url="/processes/approval/1/download"' in text
    assert "/static/diagram.js" in text


def test_upload_lists_every_problem_by_element_in_chinese(client, auth, approval_bytes):
    auth.login("admin")
    response = auth.post("/processes/deploy", {"file": (io.BytesIO(broken(approval_bytes)), "坏文件.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "文件「坏文件.bpmn」未部署" in text
    def line_of(element_id: str) -> int:
        return approval_bytes[:approval_bytes.index(f'id="{element_id}"'.encode())].count(b"\n") + 1

    for element_id, name, message in (("file", "3 费用备案", "没有名为 &#39;no_such_topic&#39; 的处理程序"),
                                      ("f4", "批准", "条件被沙箱拒绝"), ("amount", "", "约束 max 需要数字")):
        line = line_of(element_id)
        assert f'class="mono">{element_id}</td>' in text
        assert f">{line}</td>" in text and message in text and name in text


def test_admin_deploys_a_new_version(client, auth, approval_bytes):
    auth.login("admin")
    changed = approval_bytes.replace(b"1 \xe6\x8f\x90\xe4\xba\xa4", b"1 \xe5\xa1\xab\xe5\x86\x99")  # 提交 → 填写
    response = auth.post("/processes/deploy", {"file": (io.BytesIO(changed), "approval.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 302
    text = client.get("/processes/").get_data(as_text=True)
    assert "approval 第 2 版: 已部署" in text and "v2" in text
    again = auth.post("/processes/deploy", {"file": (io.BytesIO(changed), "approval.bpmn")},
                      content_type="multipart/form-data")
    assert again.status_code == 302
    assert "approval: 与第 2 版内容相同, 未生成新版本" in client.get("/processes/").get_data(as_text=True)


def test_only_the_owner_role_may_deploy(client, auth, flow, approval_bytes):
    flow.tx(lambda s: flow.services.engine.deploy(s, owned_by(approval_bytes, "财务部"), "approval.bpmn", "admin"))
    auth.login("bj")
    assert 'action="/processes/deploy"' not in client.get("/processes/").get_data(as_text=True)
    response = auth.post("/processes/deploy", {"file": (io.BytesIO(approval_bytes), "a.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 403
    auth.logout()
    auth.login("finance")
    assert 'action="/processes/deploy"' in client.get("/processes/").get_data(as_text=True)
    # the owner may not hand the process to nobody (a file without owner): administrators only
    response = auth.post("/processes/deploy", {"file": (io.BytesIO(approval_bytes + b"\n"), "a.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 403
    assert "没有指定拥有者" in response.get_data(as_text=True)
    response = auth.post("/processes/deploy",
                         {"file": (io.BytesIO(owned_by(approval_bytes, "财务部") + b"\n"), "a.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 302


def test_upload_without_a_file(client, auth):
    auth.login("admin")
    response = auth.post("/processes/deploy", {}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "请选择一个 .bpmn 文件" in response.get_data(as_text=True)


def test_start_form_and_start(client, auth, flow):
    auth.login("bj")
    page = client.get("/processes/approval/start").get_data(as_text=True)
    assert "发起流程「费用申请审批」" in page and 'name="business_key"' in page and 'name="d.0.key"' in page
    response = auth.post("/processes/approval/start", {
        "business_key": "2027-04 北京", "version": "", "d.0.key": "office", "d.0.value": "华北/北京办事处",
        "d.3.key": "budget", "d.3.value": "12.5"})
    assert response.status_code == 302
    instance_id = int(response.headers["Location"].rsplit("/", 1)[1])
    data = flow.tx(lambda s: flow.services.engine.workflow_data(s, instance_id))
    assert data["office"] == "华北/北京办事处" and data["budget"] == 12.5
    assert flow.tx(lambda s: s.get(ProcessInstance, instance_id).business_key) == "2027-04 北京"
    assert "已发起流程实例" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_duplicate_business_key_keeps_the_form(client, auth, flow):
    flow.start(key="2027-04")
    auth.login("bj")
    response = auth.post("/processes/approval/start", {"business_key": "2027-04", "d.0.key": "office",
                                                       "d.0.value": "华北/北京办事处"})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "已有业务键为 &#39;2027-04&#39; 的实例" in text and 'value="华北/北京办事处"' in text


def test_bad_data_name_is_explained(client, auth):
    auth.login("bj")
    response = auth.post("/processes/approval/start", {"d.0.key": "1 office", "d.0.value": "x"})
    assert response.status_code == 422
    assert "不能作为数据名称" in response.get_data(as_text=True)


def test_someone_without_a_lane_role_may_not_start(client, auth, flow):
    auth.login("outsider")  # nor may see the process: the answer for one that does not exist
    assert 'href="/processes/approval/start"' not in client.get("/processes/").get_data(as_text=True)
    for response in (client.get("/processes/approval/start"),
                     auth.post("/processes/approval/start", {"d.0.key": "office", "d.0.value": "华北"})):
        assert response.status_code == 404
        assert "没有找到流程 &#39;approval&#39;, 请先部署" in response.get_data(as_text=True)
    flow.start()  # by bj, who then leaves 办事处: the instance keeps the process visible, starting it is refused
    flow.leave_the_lanes("bj")
    auth.logout()
    auth.login("bj")
    for response in (client.get("/processes/approval/start"),
                     auth.post("/processes/approval/start", {"d.0.key": "office", "d.0.value": "华北"})):
        assert response.status_code == 403
        assert "泳道角色" in response.get_data(as_text=True)


def test_a_view_only_process_cannot_be_started(client, auth, flow, approval_bytes):
    view_only = (approval_bytes.replace(b'isExecutable="true"', b'isExecutable="false"')
                 .replace(b'"approval"', b'"approval_view"'))
    flow.tx(lambda s: flow.services.engine.deploy(s, view_only, "view.bpmn", "admin"))
    auth.login("admin")
    text = client.get("/processes/").get_data(as_text=True)
    assert "仅供查看" in text and 'href="/processes/approval_view/start"' not in text
    response = client.get("/processes/approval_view/start")
    assert response.status_code == 403 and "仅供查看" in response.get_data(as_text=True)


def test_upload_warns_of_lanes_nobody_holds_and_refuses_unknown_roles(client, auth, flow, approval_bytes):
    flow.tx(lambda s: [s.delete(g) for g in s.scalars(select(Grant).where(Grant.role == "大区经理"))])
    auth.login("admin")
    changed = approval_bytes.replace("1 提交".encode(), "1 填写".encode())
    response = auth.post("/processes/deploy", {"file": (io.BytesIO(changed), "approval.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 302
    text = client.get("/processes/").get_data(as_text=True)
    assert "approval 第 2 版: 已部署" in text
    assert ('<div class="alert warning" role="status">提醒 · 大区经理: 泳道「大区经理」的角色 大区经理 目前没有任何用户'
            in text)
    flow.tx(lambda s: s.add_all([Role(name=n, aliases=[]) for n in ("办事处", "大区经理", "财务部")]))
    renamed = changed.replace('name="办事处"'.encode(), 'name="营业部"'.encode())
    response = auth.post("/processes/deploy", {"file": (io.BytesIO(renamed), "approval.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "泳道「营业部」不是已知的角色 (已知角色: 办事处、大区经理、财务部)" in text
    assert 'class="mono">lane_office</td>' in text
    assert "提醒 (不影响部署)" in text and "lane_rm" in text  # the warning is listed too
