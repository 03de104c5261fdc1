"""The JSON API: same login, role/scope and CSRF rules as the pages; errors as JSON with Chinese messages."""

from __future__ import annotations

import pytest


@pytest.fixture
def api(client, auth):
    """Log in through the API itself, as a script would."""

    def login(login: str = "bj"):
        token = client.get("/api/csrf").get_json()["csrf_token"]
        response = client.post("/api/login", json={"login": login, "password": auth.password},
                               headers={"X-CSRF-Token": token})
        assert response.status_code == 200
        return response.get_json()

    return login


def test_not_logged_in_is_401_json(client):
    response = client.get("/api/tasks")
    assert response.status_code == 401
    assert response.get_json() == {"error": 401, "message": "请先登录"}


def test_unknown_api_route_is_404_json(client):
    response = client.get("/api/nothing")
    assert response.status_code == 404 and response.get_json()["error"] == 404


def test_login_wrong_password(client):
    token = client.get("/api/csrf").get_json()["csrf_token"]
    response = client.post("/api/login", json={"login": "bj", "password": "x"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 401 and response.get_json()["message"] == "登录名或密码不正确"


def test_login_returns_me_and_a_fresh_token(client, api):
    me = api("rm_huabei")
    assert me["login"] == "rm_huabei" and me["grants"] == [{"role": "大区经理", "scope": "华北"}]
    assert me["csrf_token"] == client.get("/api/csrf").get_json()["csrf_token"]
    assert client.get("/api/me").get_json()["name"] == "罗平"


def test_tasks_claim_complete(client, auth, flow, api):
    instance_id = flow.start()
    api("bj")
    listing = client.get("/api/tasks").get_json()["tasks"]
    assert [(t["title"], t["process_name"], t["scope"], t["state"]) for t in listing] == \
        [("1 提交费用申请", "费用申请审批", "华北/北京办事处", "open")]
    task_id = listing[0]["task_id"]
    detail = client.get(f"/api/tasks/{task_id}").get_json()
    assert detail["can_act"] and [f["id"] for f in detail["fields"]] == ["amount", "purpose", "lines"]
    assert detail["documentation"] == "办事处提交本办事处的费用申请。"
    claimed = auth.api_post(f"/api/tasks/{task_id}/claim")
    assert claimed.status_code == 200 and claimed.get_json()["task"]["assignee"] == "bj"

    bad = auth.api_post(f"/api/tasks/{task_id}/complete", {"amount": 900, "lines": [{"item": "", "cost": "x"}]})
    assert bad.status_code == 422
    fields = {p["field"]: p["message"] for p in bad.get_json()["problems"]}
    assert set(fields) == {"amount", "purpose", "lines[0].item", "lines[0].cost"}
    assert fields["amount"] == "金额(万元): 不能大于 500"

    good = auth.api_post(f"/api/tasks/{task_id}/complete",
                         {"amount": 12, "purpose": "会议", "lines": [{"item": "场地", "cost": 12}]})
    assert good.status_code == 200 and good.get_json()["task"]["state"] == "completed"
    again = auth.api_post(f"/api/tasks/{task_id}/complete", {"amount": 1, "purpose": "x"})
    assert again.status_code == 409 and "该任务已由 宋晓东 (bj) 于" in again.get_json()["message"]
    shown = client.get(f"/api/instances/{instance_id}").get_json()
    assert [t["state"] for t in shown["tasks"]] == ["completed", "open"]


def test_draft_and_unclaim(client, auth, flow, api):
    task_id = flow.open_task(flow.start())
    api("bj")
    assert auth.api_post(f"/api/tasks/{task_id}/draft", {"purpose": "草稿"}).status_code == 200
    assert client.get(f"/api/tasks/{task_id}").get_json()["draft"] == {"purpose": "草稿"}
    auth.api_post(f"/api/tasks/{task_id}/claim")
    assert auth.api_post(f"/api/tasks/{task_id}/unclaim").get_json()["task"]["state"] == "open"


def test_wrong_scope_is_403_json_everywhere(client, auth, flow, api):
    instance_id, task_id = flow.request_done()
    api("rm_huadong")
    reason = "该任务属于 华北 的「大区经理」, 您没有该角色与范围的权限"
    for response in (client.get(f"/api/tasks/{task_id}"), auth.api_post(f"/api/tasks/{task_id}/claim"),
                     auth.api_post(f"/api/tasks/{task_id}/complete", {"decision": "approve"})):
        assert response.status_code == 403 and response.get_json()["message"] == reason
    assert client.get(f"/api/instances/{instance_id}").status_code == 403
    assert client.get("/api/instances").get_json() == {"instances": []}


def test_start_an_instance(client, auth, api):
    api("bj")
    response = auth.api_post("/api/instances", {"process_id": "approval", "data": {"office": "华北/北京办事处"},
                                                "business_key": "A-1"})
    assert response.status_code == 201
    instance_id = response.get_json()["instance_id"]
    assert client.get(f"/api/instances/{instance_id}").get_json()["business_key"] == "A-1"
    duplicate = auth.api_post("/api/instances", {"process_id": "approval", "data": {}, "business_key": "A-1"})
    assert duplicate.status_code == 409
    assert auth.api_post("/api/instances", {"process_id": 3}).status_code == 422
    assert auth.api_post("/api/instances", {"process_id": "nope"}).status_code == 404


def test_starting_needs_a_lane_role(auth, api):
    api("outsider")
    response = auth.api_post("/api/instances", {"process_id": "approval", "data": {"office": "华北"}})
    assert response.status_code == 403 and "泳道角色" in response.get_json()["message"]


def test_processes_and_deploy(client, auth, api):
    api("admin")
    listing = client.get("/api/processes").get_json()["processes"]
    assert listing[0]["process_id"] == "approval" and listing[0]["versions"][0]["version"] == 1
    with open("tests/fixtures/approval.bpmn", "rb") as f:
        data = f.read()
    response = client.post("/api/processes?filename=approval.bpmn", data=data + b"\n",
                           headers={"X-CSRF-Token": auth.token(), "Content-Type": "application/xml"})
    assert response.status_code == 201
    assert response.get_json()["deployed"][0]["version"] == 2
    broken = data.replace(b'camunda:topic="archive"', b'camunda:topic="nope"')
    response = client.post("/api/processes?filename=x.bpmn", data=broken,
                           headers={"X-CSRF-Token": auth.token(), "Content-Type": "application/xml"})
    assert response.status_code == 422
    problem = response.get_json()["problems"][0]
    assert problem["element_id"] == "file" and problem["line"] == 83 and "nope" in problem["message"]


def test_non_owner_may_not_deploy(client, auth, api):
    api("bj")
    with open("tests/fixtures/approval.bpmn", "rb") as f:
        response = client.post("/api/processes", data={"file": (f, "approval.bpmn")},
                               headers={"X-CSRF-Token": auth.token()}, content_type="multipart/form-data")
    assert response.status_code == 403


def test_body_must_be_a_json_object(auth, flow, api):
    task_id = flow.open_task(flow.start())
    api("bj")
    response = auth.api_post(f"/api/tasks/{task_id}/complete", [1, 2])
    assert response.status_code == 422 and "JSON 对象" in response.get_json()["message"]
