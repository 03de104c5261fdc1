"""The JSON API: same login, role/scope and CSRF rules as the pages; errors as JSON with Chinese messages."""

from __future__ import annotations

import json

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


def test_another_scope_is_404_like_a_missing_id_everywhere(client, auth, flow, api):
    """A 华东 manager learns nothing about a 华北 task or instance: the answer is that of a missing id."""
    instance_id, task_id = flow.request_done()
    api("rm_huadong")
    calls = {
        "get": lambda n: client.get(f"/api/tasks/{n}"),
        "claim": lambda n: auth.api_post(f"/api/tasks/{n}/claim"),
        "unclaim": lambda n: auth.api_post(f"/api/tasks/{n}/unclaim"),
        "complete": lambda n: auth.api_post(f"/api/tasks/{n}/complete", {"decision": "approve"}),
        "draft": lambda n: auth.api_post(f"/api/tasks/{n}/draft", {"decision": "approve"}),
    }
    for name, call in calls.items():
        hidden, missing = call(task_id), call(999999)
        assert hidden.status_code == missing.status_code == 404, name
        assert hidden.get_json() == {"error": 404, "message": f"没有编号为 {task_id} 的任务", "task_id": task_id}
        assert set(missing.get_json()) == set(hidden.get_json())
    hidden, missing = client.get(f"/api/instances/{instance_id}"), client.get("/api/instances/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == {"error": 404, "message": f"没有编号为 {instance_id} 的流程实例",
                                 "instance_id": instance_id}
    assert client.get("/api/instances").get_json() == {"instances": [], "page": 1, "per_page": 25, "total": 0,
                                                       "pages": 1}
    assert client.get("/api/tasks").get_json()["tasks"] == []
    # nothing was changed by the attempts
    assert client.get(f"/api/tasks/{task_id}").status_code == 404
    api("rm_huabei")
    assert client.get(f"/api/tasks/{task_id}").get_json()["state"] == "open"


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


def test_starting_needs_a_lane_role_and_a_process_i_may_not_see_is_not_found(auth, api, flow):
    api("outsider")  # no lane of the approval process, no instance of it: the answer for a missing process
    for body in ({"process_id": "approval"}, {"process_id": "approval", "version": 1}):
        hidden = auth.api_post("/api/instances", {**body, "data": {"office": "华北"}})
        missing = auth.api_post("/api/instances", {**body, "process_id": "nope", "data": {"office": "华北"}})
        assert hidden.status_code == missing.status_code == 404
        assert json.dumps(hidden.get_json()) == json.dumps(missing.get_json()).replace("nope", "approval")
    flow.start()  # by bj, who then leaves 办事处: the instance keeps the process visible, starting it is refused
    flow.leave_the_lanes("bj")
    api("bj")
    response = auth.api_post("/api/instances", {"process_id": "approval", "data": {"office": "华北"}})
    assert response.status_code == 403 and "泳道角色" in response.get_json()["message"]


def test_processes_and_deploy(client, auth, api):
    api("admin")
    listing = client.get("/api/processes").get_json()["processes"]
    assert listing[0]["process_id"] == "approval" and listing[0]["versions"][0]["version"] == 1
    with open("tests/fixtures/approval.bpmn", "rb") as f:
        data = f.read()
    changed = data.replace("办事处提交本办事处的费用申请。".encode(), "办事处提交费用申请。".encode())
    response = client.post("/api/processes?filename=approval.bpmn", data=changed,
                           headers={"X-CSRF-Token": auth.token(), "Content-Type": "application/xml"})
    assert response.status_code == 201
    assert response.get_json()["deployed"][0]["version"] == 2
    broken = data.replace(b'camunda:topic="archive"', b'camunda:topic="nope"')
    response = client.post("/api/processes?filename=x.bpmn", data=broken,
                           headers={"X-CSRF-Token": auth.token(), "Content-Type": "application/xml"})
    assert response.status_code == 422
    problem = response.get_json()["problems"][0]
    line = next(n for n, text in enumerate(broken.decode().splitlines(), 1) if 'id="file"' in text)
    assert problem["element_id"] == "file" and problem["line"] == line and "nope" in problem["message"]


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


# -- the same operations as the pages: inbox filters, history, start list; every rule and error ------------
def test_every_api_route_but_the_public_ones_needs_login(app, client):
    public = {"/api/csrf", "/api/login", "/api/logout", "/api/openapi.json", "/api/docs"}
    urls = app.url_map.bind("localhost")
    token = client.get("/api/csrf").get_json()["csrf_token"]
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule in public:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            url = urls.build(rule.endpoint, {name: "1" for name in rule.arguments}, method=method)
            response = client.open(url, method=method, json={}, headers={"X-CSRF-Token": token})
            assert response.status_code == 401, (method, rule.rule)
            assert response.get_json() == {"error": 401, "message": "请先登录"}
            checked += 1
    assert checked >= 14


def test_inbox_filters_sort_and_pages(client, auth, flow, api, clock):
    first = flow.open_task(flow.start(key="B-1"))
    clock.advance(hours=1)
    second = flow.open_task(flow.start(key="B-2"))
    api("bj")
    listing = client.get("/api/tasks").get_json()
    assert [t["task_id"] for t in listing["tasks"]] == [first, second]  # by due date
    assert listing["counts"] == {"total": 2, "overdue": 0, "due_soon": 0, "no_due": 0}
    assert listing["steps"] == [{"process_id": "approval", "process_name": "费用申请审批", "element_id": "request",
                                 "step": "1", "name": "1 提交费用申请", "count": 2}]
    assert (listing["page"], listing["pages"], listing["total"]) == (1, 1, 2)
    task = listing["tasks"][0]
    assert task["business_key"] == "B-1" and task["title"] == "1 提交费用申请" and task["overdue"] is False
    assert task["due_at"] == "2027-04-05T01:00:00+00:00" and task["received_at"] == "2027-04-02T01:00:00+00:00"
    newest = client.get("/api/tasks?sort=received").get_json()["tasks"]
    assert [t["task_id"] for t in newest] == [second, first]
    paged = client.get("/api/tasks?per_page=1&page=2").get_json()
    assert [t["task_id"] for t in paged["tasks"]] == [second] and paged["pages"] == 2 and paged["total"] == 2
    assert client.get("/api/tasks?process=other").get_json()["tasks"] == []
    assert client.get("/api/tasks?step=review").get_json()["tasks"] == []
    assert len(client.get("/api/tasks?step=request&process=approval").get_json()["tasks"]) == 2
    clock.advance(days=2, hours=23, minutes=30)  # 04-05 09:30: the first is past its due date (P3D), the second not
    overdue = client.get("/api/tasks?due=overdue").get_json()
    assert [t["task_id"] for t in overdue["tasks"]] == [first] and overdue["tasks"][0]["overdue"] is True
    assert overdue["counts"]["overdue"] == 1 and overdue["counts"]["total"] == 2
    assert [t["task_id"] for t in client.get("/api/tasks?due=soon").get_json()["tasks"]] == [second]
    assert client.get("/api/tasks?due=none").get_json()["tasks"] == []
    # unknown values are ignored rather than refused, as on the page
    assert len(client.get("/api/tasks?due=whenever&sort=sideways&page=x").get_json()["tasks"]) == 2


def _second_northern_manager(flow):
    from engine.store import org

    def add(s):
        org.add_user(s, "rm_huabei2", "钱多多", None)
        org.grant(s, "rm_huabei2", "大区经理", "华北")
    flow.tx(add)
    return flow.services.engine


def test_a_task_claimed_by_a_colleague_is_visible_but_not_theirs(client, auth, flow, api):
    _second_northern_manager(flow)
    _, review = flow.request_done()
    flow.tx(lambda s: flow.services.engine.claim(s, review, "rm_huabei"))
    flow.tx(lambda s: flow.services.engine.save_draft(s, review, "rm_huabei", {"comment": "私下的草稿"}))
    api("rm_huabei")
    assert client.get(f"/api/tasks/{review}").get_json()["draft"] == {"comment": "私下的草稿"}
    from werkzeug.security import generate_password_hash

    from engine.store.models import User

    def set_password(s):
        s.get(User, "rm_huabei2").password_hash = generate_password_hash(auth.password, method="pbkdf2:sha256:1000")
    flow.tx(set_password)
    api("rm_huabei2")
    detail = client.get(f"/api/tasks/{review}").get_json()
    assert detail["can_act"] is False and detail["draft"] is None and detail["assignee"] == "rm_huabei"
    for action in ("claim", "complete", "draft"):
        response = auth.api_post(f"/api/tasks/{review}/{action}", {"decision": "approve"})
        assert response.status_code == 403, action
        assert response.get_json()["message"] == "该任务已由 罗平 (rm_huabei) 认领"
    response = auth.api_post(f"/api/tasks/{review}/unclaim")
    assert response.status_code == 403 and response.get_json()["message"] == "只有认领人或管理员可以退回该任务"
    api("admin")
    assert auth.api_post(f"/api/tasks/{review}/unclaim").get_json()["task"]["state"] == "open"


def test_unclaiming_an_open_task_is_refused(auth, flow, api):
    task_id = flow.open_task(flow.start())
    api("bj")
    response = auth.api_post(f"/api/tasks/{task_id}/unclaim")
    assert response.status_code == 403 and response.get_json()["message"] == "该任务未被认领"


def test_draft_and_complete_need_a_json_object(auth, flow, api):
    task_id = flow.open_task(flow.start())
    api("bj")
    for action in ("draft", "complete"):
        response = auth.api_post(f"/api/tasks/{task_id}/{action}", "text")
        assert response.status_code == 422 and "JSON 对象" in response.get_json()["message"]


def test_login_body_errors(client, auth):
    token = auth.token()
    response = client.post("/api/login", data="login=bj", headers={"X-CSRF-Token": token,
                                                                   "Content-Type": "text/plain"})
    assert response.status_code == 422 and response.get_json()["error"] == 422
    response = client.post("/api/login", json={"login": "bj"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 401 and response.get_json() == {"error": 401, "message": "登录名或密码不正确"}


def test_start_list_and_start_validation(client, auth, api):
    api("bj")
    listing = client.get("/api/start").get_json()["processes"]
    assert listing == [{"process_id": "approval", "name": "费用申请审批", "version": 1, "owner": "",
                        "suggested_key": "2027-04-02 费用申请审批"}]
    bad = [{"process_id": "approval", "data": []}, {"process_id": "approval", "version": "1"},
           {"process_id": "approval", "business_key": 7}, {"process_id": "approval", "business_key": "年" * 256},
           {"data": {}}]
    for body in bad:
        response = auth.api_post("/api/instances", body)
        assert response.status_code == 422, body
        assert response.get_json()["message"].startswith("需要 process_id (文字)")
    reserved = auth.api_post("/api/instances", {"process_id": "approval", "data": {"_x": 1, "regions": []}})
    assert reserved.status_code == 422
    assert [p["field"] for p in reserved.get_json()["problems"]] == ["_x", "regions"]
    assert auth.api_post("/api/instances", {"process_id": "approval", "version": 9}).status_code == 404
    api("outsider")
    assert client.get("/api/start").get_json() == {"processes": []}


def test_errors_are_json_with_status_and_message(client, auth, api):
    api("bj")
    wrong_method = client.get("/api/tasks/1/claim")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["error"] == 405
    assert wrong_method.get_json()["message"] == "该页面不支持这个操作"
    missing = client.get("/api/tasks/424242")
    assert missing.get_json() == {"error": 404, "message": "没有编号为 424242 的任务", "task_id": 424242}


def test_a_task_shows_what_earlier_steps_produced(client, flow, api):
    _, review = flow.request_done()
    api("rm_huabei")
    detail = client.get(f"/api/tasks/{review}").get_json()
    assert detail["label"] == "华北" and detail["due_soon"] is False  # no business key: the scope alone
    [earlier] = detail["earlier"]
    assert earlier["title"] == "1 提交费用申请" and earlier["completed_by"] == "bj"
    assert earlier["values"] == {"amount": 12.5, "purpose": "学术会议", "lines": [{"item": "场地", "cost": 12.5}]}


def test_the_api_inbox_answers_what_the_inbox_page_shows(client, auth, flow, clock):
    """Same filters, same order, same tasks: the page's rows and the API's list, side by side."""
    import re

    ids = []
    for n in range(3):
        ids.append(flow.open_task(flow.start(key=f"S-{n}")))
        clock.advance(hours=10)
    flow.tx(lambda s: flow.services.engine.claim(s, ids[1], "bj"))
    clock.advance(days=2, hours=12)  # 04-06 03:00: the first two are past due (P3D), the third due in 2 hours
    auth.login("bj")
    for query in ("", "?due=overdue", "?due=soon", "?sort=received", "?sort=process", "?process=approval&step=request",
                  "?process=none", "?page=2"):
        page = client.get(f"/{query}").get_data(as_text=True)
        shown = [int(n) for n in re.findall(r'data-task-id="(\d+)"', page)]
        listed = [t["task_id"] for t in client.get(f"/api/tasks{query}").get_json()["tasks"]]
        assert listed == shown, query
        if query in ("", "?due=overdue"):
            assert sorted(listed) == (ids if not query else ids[:2]), query
