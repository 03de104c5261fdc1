"""The OpenAPI document (web/openapi.json) is valid, lists exactly the /api routes, and real answers match it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC = json.loads((Path(__file__).parents[2] / "web" / "openapi.json").read_text(encoding="utf-8"))
BASE = "urn:smflow:openapi"
REGISTRY = Registry().with_resource(BASE, Resource.from_contents(DOC, default_specification=DRAFT202012))
REQUEST = {"amount": 12.5, "purpose": "学术会议", "lines": [{"item": "场地", "cost": 12.5}]}


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _template(rule: str) -> str:
    """Flask's /api/tasks/<int:task_id> → OpenAPI's /api/tasks/{task_id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


class Checked:
    """Asserts that a response's status is documented for its operation and its JSON body fits the schema."""

    def __init__(self):
        self.seen: set[tuple[str, str, str]] = set()

    def __call__(self, response, method: str, path: str):
        operation = DOC["paths"][path][method]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method.upper()} {path}: {status} is not documented"
        pointer = _pointer("paths", path, method, "responses", status)
        answer = operation["responses"][status]
        if "$ref" in answer:
            pointer = answer["$ref"].removeprefix("#")
            answer = DOC["components"]["responses"][pointer.rsplit("/", 1)[1]]
        media = next(iter(answer.get("content", {})), None)  # None: a redirect, no body to check
        assert media is None or response.mimetype == media, (method, path, status, response.mimetype)
        if media == "application/json":
            schema = {"$ref": f"{BASE}#{pointer}{_pointer('content', media, 'schema')}"}
            errors = list(Draft202012Validator(schema, registry=REGISTRY).iter_errors(response.get_json()))
            assert not errors, f"{method.upper()} {path} {status}: {errors[0].message} at {list(errors[0].path)}"
        for header in answer.get("headers", {}):
            assert header in response.headers, (method, path, status, header)
        self.seen.add((method, path, status))
        return response


@pytest.fixture
def check():
    return Checked()


def test_the_document_is_valid_openapi_3_1():
    validate(DOC)
    assert DOC["openapi"].startswith("3.1")


def test_every_api_route_is_documented_and_every_documented_operation_exists(app):
    routes = {(method.lower(), _template(rule.rule)) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(method, path) for path, item in DOC["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    assert sorted(routes - documented) == [], "routes missing from web/openapi.json"
    assert sorted(documented - routes) == [], "documented operations that no route serves"


def test_every_operation_has_an_id_a_summary_and_its_error_answers():
    ids = []
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            assert operation["summary"] and operation["responses"]
            schemes = {name for requirement in operation["security"] for name in requirement}
            if "session" in schemes:  # a page sends a person to log in, the API answers a script 401
                page = any("text/html" in (answer.get("content") or {}) for answer in operation["responses"].values())
                assert ("302" if page else "401") in operation["responses"], (method, path)
            if "csrf" in schemes:
                assert "400" in operation["responses"], (method, path)  # the CSRF refusal
            if "{task_id}" in path or "{instance_id}" in path:
                assert "404" in operation["responses"] and "403" not in (operation["responses"] if method == "get"
                                                                         else {}), (method, path)
    assert len(ids) == len(set(ids))


def test_the_document_is_served_as_json_after_login(client, auth, check):
    refused = check(client.get("/api/openapi.json"), "get", "/api/openapi.json")
    assert refused.status_code == 401 and "paths" not in refused.get_json()
    auth.login("outsider")  # any logged-in person: nothing in it depends on roles
    response = check(client.get("/api/openapi.json"), "get", "/api/openapi.json")
    assert response.get_json() == DOC


def test_the_docs_page_sends_a_visitor_to_log_in_and_back(client, auth, check):
    response = check(client.get("/api/docs"), "get", "/api/docs")
    assert response.status_code == 302 and "JSON 接口说明" not in response.get_data(as_text=True)
    assert response.headers["Location"] == "/auth/login?next=/api/docs"
    back = auth.login("outsider", next_url="/api/docs")
    assert back.status_code == 302 and back.headers["Location"] == "/api/docs"


def test_the_docs_page_shows_every_operation(client, auth, check):
    auth.login("outsider")
    response = check(client.get("/api/docs"), "get", "/api/docs")
    text = response.get_data(as_text=True)
    assert "JSON 接口说明" in text and "<script" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # drawn here: nothing from a CDN
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            assert f'id="{operation["operationId"]}"' in text
            assert f">{method.upper()}</span> <span class=\"mono\">{path}</span>" in text
    assert 'id="schema-InboxTask"' in text and "array of InboxTask" in text
    login = text[text.index('id="login"'):text.index('id="logout"')]
    assert "无需登录" in login and "429" in login and "LoginRequest" in login
    me = text[text.index('id="me"'):text.index('id="listTasks"')]
    assert "需要登录" in me
    assert "需要登录" in text[text.index('id="openapi"'):text.index('id="docs"')]
    assert "X-CSRF-Token" in text


def test_real_answers_match_the_document(client, auth, flow, check, clock):
    """A walk through the API as a script would use it, every answer checked against the document."""
    token = check(client.get("/api/csrf"), "get", "/api/csrf").get_json()["csrf_token"]

    def post(url, path, body=None, expect=None):
        response = client.post(url, json=body, headers={"X-CSRF-Token": token})
        if expect:
            assert response.status_code == expect, (url, response.get_json())
        return check(response, "post", path)

    check(client.get("/api/me"), "get", "/api/me")
    post("/api/login", "/api/login", {"login": "bj", "password": "wrong"}, 401)
    post("/api/login", "/api/login", [1], 422)
    token = post("/api/login", "/api/login", {"login": "bj", "password": auth.password}, 200) \
        .get_json()["csrf_token"]
    check(client.get("/api/me"), "get", "/api/me")

    start = post("/api/instances", "/api/instances",
                 {"process_id": "approval", "data": {"office": "华北/北京办事处"}, "business_key": "D-1"}, 201)
    instance_id = start.get_json()["instance_id"]
    post("/api/instances", "/api/instances", {"process_id": "approval", "business_key": "D-1",
                                              "data": {"office": "华北/北京办事处"}}, 409)
    post("/api/instances", "/api/instances", {"process_id": 1}, 422)
    post("/api/instances", "/api/instances", {"process_id": "nope"}, 404)
    check(client.get("/api/start"), "get", "/api/start")

    listing = check(client.get("/api/tasks?sort=received"), "get", "/api/tasks").get_json()
    task_id = listing["tasks"][0]["task_id"]
    check(client.get(f"/api/tasks/{task_id}"), "get", "/api/tasks/{task_id}")
    check(client.get("/api/tasks/999"), "get", "/api/tasks/{task_id}")
    post(f"/api/tasks/{task_id}/draft", "/api/tasks/{task_id}/draft", {"purpose": "草稿"}, 200)
    post(f"/api/tasks/{task_id}/claim", "/api/tasks/{task_id}/claim", None, 200)
    post(f"/api/tasks/{task_id}/unclaim", "/api/tasks/{task_id}/unclaim", None, 200)
    post(f"/api/tasks/{task_id}/unclaim", "/api/tasks/{task_id}/unclaim", None, 403)
    post(f"/api/tasks/{task_id}/complete", "/api/tasks/{task_id}/complete", {"amount": 900}, 422)
    post(f"/api/tasks/{task_id}/complete", "/api/tasks/{task_id}/complete", REQUEST, 200)
    post(f"/api/tasks/{task_id}/complete", "/api/tasks/{task_id}/complete", REQUEST, 409)
    post("/api/tasks/999/claim", "/api/tasks/{task_id}/claim", None, 404)
    check(client.get("/api/history"), "get", "/api/history")
    check(client.get("/api/instances"), "get", "/api/instances")
    check(client.get(f"/api/instances/{instance_id}"), "get", "/api/instances/{instance_id}")
    check(client.get("/api/instances/999"), "get", "/api/instances/{instance_id}")
    check(client.get("/api/processes"), "get", "/api/processes")
    with open("tests/fixtures/approval.bpmn", "rb") as f:
        check(client.post("/api/processes", data={"file": (f, "approval.bpmn")}, headers={"X-CSRF-Token": token},
                          content_type="multipart/form-data"), "post", "/api/processes")
    check(client.post("/api/tasks/1/claim", json={}), "post", "/api/tasks/{task_id}/claim")  # no CSRF header: 400
    post("/api/logout", "/api/logout", None, 200)
    check(client.get("/api/tasks"), "get", "/api/tasks")  # 401

    token = check(client.get("/api/csrf"), "get", "/api/csrf").get_json()["csrf_token"]  # logout ended the old
    for n in range(5):
        post("/api/login", "/api/login", {"login": "bj", "password": f"wrong{n}"})
    post("/api/login", "/api/login", {"login": "bj", "password": auth.password}, 429)

    statuses = {status for _, _, status in check.seen}
    assert statuses >= {"200", "201", "400", "401", "403", "404", "409", "422", "429"}


def test_an_administrator_deploys_and_the_answer_matches(client, auth, check):
    auth.login("admin")
    with open("tests/fixtures/approval.bpmn", "rb") as f:
        data = f.read().replace("办事处提交本办事处的费用申请。".encode(), "办事处提交费用申请。".encode())
    response = client.post("/api/processes?filename=approval.bpmn", data=data,
                           headers={"X-CSRF-Token": auth.token(), "Content-Type": "application/xml"})
    assert check(response, "post", "/api/processes").status_code == 201
    broken = data.replace(b'camunda:topic="archive"', b'camunda:topic="nope"')
    response = client.post("/api/processes?filename=x.bpmn", data=broken,
                           headers={"X-CSRF-Token": auth.token(), "Content-Type": "application/xml"})
    assert check(response, "post", "/api/processes").status_code == 422


def test_an_upload_too_large_is_a_documented_json_error(client, auth, check):
    auth.login("admin")
    response = client.post("/api/processes?filename=big.bpmn", data=b"x" * (7 * 1024 * 1024),
                           headers={"X-CSRF-Token": auth.token(), "Content-Type": "application/xml"})
    assert check(response, "post", "/api/processes").status_code == 413
    assert "5 MiB" in response.get_json()["message"] and "6 MiB" in response.get_json()["message"]


def test_notification_and_instance_pages_match_the_document(client, auth, flow, check):
    from engine.store.models import Notification

    instance_id = flow.start()
    flow.tx(lambda s: s.add(Notification(role="办事处", scope="华北", message="四月预算已下达", instance_id=instance_id,
                                         created_at=flow.services.engine.clock.now())))
    check(client.get("/api/notifications"), "get", "/api/notifications")  # 401
    auth.login("bj")
    listing = check(client.get("/api/notifications?per_page=1"), "get", "/api/notifications").get_json()
    assert listing["notifications"][0]["instance_id"] == instance_id and listing["unread"] == 1

    def post(body, headers=True):
        return check(client.post("/api/notifications/read", json=body,
                                 headers={"X-CSRF-Token": auth.token()} if headers else {}),
                     "post", "/api/notifications/read")

    assert post({"ids": ["x"]}).status_code == 422
    assert post({}, headers=False).status_code == 400
    assert post({"ids": [listing["notifications"][0]["id"]]}).get_json() == {"marked": 1, "unread": 0}
    page = check(client.get("/api/instances?status=running&page=1&per_page=5"), "get", "/api/instances").get_json()
    assert [i["id"] for i in page["instances"]] == [instance_id] and page["total"] == 1
