"""Files through the JSON API: complete and draft as multipart (`data` + a part per file field), by the page's rules.

A refused submission stores nothing; plain JSON bodies work as before. Fixture: tests/fixtures/forecast_review.bpmn,
whose step 3 has an optional file field `basis` (a variant below makes it required).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from test_openapi import Checked
from testkit import ApprovalFlow, edit, post_multipart

from engine.store import tasks
from engine.store.models import Attachment

FORECAST = (Path(__file__).parents[1] / "fixtures" / "forecast_review.bpmn").read_bytes()
FILE_FIELD = '<camunda:formField id="basis" label="预测依据 (附件)" type="file"/>'
REQUIRED_FILE = edit(FORECAST, (FILE_FIELD, FILE_FIELD.replace(
    "/>", '><camunda:validation><camunda:constraint name="required"/></camunda:validation></camunda:formField>')))
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ROWS = {"forecast": [{"product": "心脑血管", "qty": 120, "amount": 36.5},
                     {"product": "抗感染", "qty": 80, "amount": 12}]}


class Api:
    """A script's session: logged in through the API, posting JSON or multipart with the X-CSRF-Token header."""

    def __init__(self, app, login: str):
        self.client = app.test_client()
        token = self.client.get("/api/csrf").get_json()["csrf_token"]
        response = self.client.post("/api/login", json={"login": login, "password": "secret-pw"},
                                    headers={"X-CSRF-Token": token})
        assert response.status_code == 200
        self.token = response.get_json()["csrf_token"]

    def json(self, task_id: int, body, action: str = "complete"):
        return self.client.post(f"/api/tasks/{task_id}/{action}", json=body, headers={"X-CSRF-Token": self.token})

    def multipart(self, task_id: int, values: dict | str | None, files: dict | None = None, action: str = "complete",
                  extra: dict | None = None, csrf: bool = True):
        """`values` goes into the `data` part (a str as it is, None: no data part); `files` maps a part's name to
        (filename, bytes) or a list of them. The request body (spooled to a file when large) is closed afterwards."""
        parts: dict = dict(extra or {})
        if values is not None:
            parts["data"] = values if isinstance(values, str) else json.dumps(values, ensure_ascii=False)
        for name, sent in (files or {}).items():
            sent = sent if isinstance(sent, list) else [sent]
            parts[name] = [(io.BytesIO(content), filename) for filename, content in sent]
        return post_multipart(self.client, f"/api/tasks/{task_id}/{action}", parts,
                              {"X-CSRF-Token": self.token} if csrf else None)

    def task(self, task_id: int) -> dict:
        return self.client.get(f"/api/tasks/{task_id}").get_json()


def _forecast(flow: ApprovalFlow, bpmn: bytes = FORECAST, office: str = "华北/北京办事处", by: str = "bj",
              key: str = "2027-04 月度销售预测") -> tuple[int, int]:
    engine = flow.services.engine
    flow.tx(lambda s: engine.deploy(s, bpmn, "forecast_review.bpmn", "admin"))
    instance_id = flow.tx(lambda s: engine.start(s, "forecast_review", by, {"office": office, "target": 50.0},
                                                 None, key))
    return instance_id, flow.open_task(instance_id)


def _stored(flow: ApprovalFlow) -> list[tuple[int, str, str]]:
    return flow.tx(lambda s: [(a.task_id, a.field, a.filename) for a in s.query(Attachment).order_by(Attachment.id)])


def _state(flow: ApprovalFlow, task_id: int) -> tuple[str, dict | None]:
    return flow.tx(lambda s: (tasks.get(s, task_id).state, tasks.get(s, task_id).draft))


def _problems(response) -> dict[str, str]:
    return {p.get("field", ""): p["message"] for p in response.get_json()["problems"]}


def test_a_file_sent_with_the_values_is_stored_and_downloads_as_sent(db_app):
    flow = ApprovalFlow(db_app)
    instance_id, task_id = _forecast(flow)
    office = Api(db_app, "bj")
    response = office.multipart(task_id, {**ROWS, "note": "新品上市"}, {"basis": ("依据.pdf", PDF)})
    assert response.status_code == 200 and response.get_json()["task"]["state"] == "completed"
    basis = office.task(task_id)["submitted"]["basis"]
    assert basis == {"id": basis["id"], "name": "依据.pdf", "size": len(PDF)}
    assert _stored(flow) == [(task_id, "basis", "依据.pdf")]
    download = office.client.get(f"/attachments/{basis['id']}")
    assert download.status_code == 200 and download.data == PDF and download.mimetype == "application/pdf"
    review = flow.open_task(instance_id)
    earlier = Api(db_app, "rm_huabei").task(review)["earlier"][0]["values"]
    assert earlier["basis"] == basis and earlier["note"] == "新品上市"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("计划.exe", b"MZ\x90\x00", "预测依据 (附件): 不接受「计划.exe」这种文件, 可以上传"),
    ("计划.pdf", b"<html><script>alert(1)</script></html>", "预测依据 (附件): 文件「计划.pdf」的内容不是 pdf 文件"),
    ("空.txt", b"", "预测依据 (附件): 文件「空.txt」是空的"),
    ("大.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "预测依据 (附件): 文件「大.pdf」超过 5 MB 的上限"),
])
def test_a_refused_file_is_422_with_every_problem_and_nothing_is_stored(app, flow, name, content, message):
    _, task_id = _forecast(flow)
    rows = {"forecast": [{"product": "心脑血管", "qty": "x", "amount": 36.5}]}
    response = Api(app, "bj").multipart(task_id, rows, {"basis": (name, content)})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == 422 and body["message"] == "表单有 2 处需要修改, 什么也没有保存"
    problems = _problems(response)
    assert problems["basis"].startswith(message)
    assert problems["forecast[0].qty"] == "销售预测 第 1 行 数量(箱): 应为整数, 收到 'x'"   # the rest, at once
    assert _stored(flow) == [] and _state(flow, task_id) == ("open", None)


def test_an_accepted_file_in_a_refused_form_leaves_no_attachment_behind(db_app):
    flow = ApprovalFlow(db_app)
    _, task_id = _forecast(flow)
    office = Api(db_app, "bj")
    rows = {"forecast": [{"product": "心脑血管", "qty": "x", "amount": 36.5}]}
    response = office.multipart(task_id, rows, {"basis": ("依据.pdf", PDF)})
    assert response.status_code == 422
    assert _problems(response) == {"forecast[0].qty": "销售预测 第 1 行 数量(箱): 应为整数, 收到 'x'"}
    assert _stored(flow) == [] and _state(flow, task_id) == ("open", None)
    assert office.multipart(task_id, ROWS, {"basis": ("依据.pdf", PDF)}).status_code == 200
    assert _stored(flow) == [(task_id, "basis", "依据.pdf")]


def test_a_required_file_must_be_sent(app, flow):
    _, task_id = _forecast(flow, REQUIRED_FILE)
    office = Api(app, "bj")
    for response in (office.multipart(task_id, ROWS), office.json(task_id, ROWS)):
        assert response.status_code == 422
        assert _problems(response) == {"basis": "预测依据 (附件): 必填"}
    assert _stored(flow) == [] and _state(flow, task_id) == ("open", None)
    assert office.multipart(task_id, ROWS, {"basis": ("计划.txt", "一月 120 箱".encode())}).status_code == 200
    assert _stored(flow) == [(task_id, "basis", "计划.txt")]


def test_json_bodies_work_as_before_and_keep_only_files_the_task_may_keep(app, flow):
    _, elsewhere = _forecast(flow, office="华东/上海办事处", by="sh", key="华东")
    assert Api(app, "sh").multipart(elsewhere, {}, {"basis": ("上海.pdf", PDF)}, action="draft").status_code == 200
    foreign = flow.tx(lambda s: s.query(Attachment).one().id)
    instance_id, task_id = _forecast(flow)
    office = Api(app, "bj")
    borrowed = office.json(task_id, {**ROWS, "basis": {"id": foreign, "name": "上海.pdf"}})
    assert borrowed.status_code == 422
    assert _problems(borrowed) == {"basis": f"预测依据 (附件): 附件 {foreign} 不是这个任务的文件, 请重新上传"}
    named = office.json(task_id, {**ROWS, "basis": "上海.pdf"})
    assert _problems(named) == {"basis": '预测依据 (附件): 应为上传的文件, 或这个任务已有附件的编号 {"id": 编号}'}
    assert _state(flow, task_id) == ("open", None)

    assert office.multipart(task_id, ROWS, {"basis": ("依据.pdf", PDF)}).status_code == 200
    basis = office.task(task_id)["submitted"]["basis"]
    review = flow.open_task(instance_id)
    assert Api(app, "rm_huabei").json(review, {"decision": "reject", "comment": "抗感染偏低"}).status_code == 200
    again = flow.open_task(instance_id)
    assert office.task(again)["prefill"]["basis"] == basis         # sent back: the task starts from the earlier file
    kept = office.json(again, {**ROWS, "basis": {"id": basis["id"]}})   # plain JSON, keeping it
    assert kept.status_code == 200 and office.task(again)["submitted"]["basis"] == basis
    assert len(_stored(flow)) == 2                                  # no copy made


def test_a_draft_keeps_a_file_that_complete_then_keeps(app, flow):
    _, task_id = _forecast(flow)
    office = Api(app, "bj")
    saved = office.multipart(task_id, {"note": "草稿"}, {"basis": ("依据.pdf", PDF)}, action="draft")
    assert saved.status_code == 200
    draft = office.task(task_id)["draft"]
    assert draft["note"] == "草稿" and draft["basis"]["name"] == "依据.pdf"
    refused = office.multipart(task_id, {"note": "新草稿"}, {"basis": ("计划.exe", b"MZ")}, action="draft")
    assert refused.status_code == 422 and refused.get_json()["message"] == "草稿有 1 处需要修改, 什么也没有保存"
    assert office.task(task_id)["draft"] == draft and len(_stored(flow)) == 1
    done = office.json(task_id, {**ROWS, "basis": draft["basis"]})
    assert done.status_code == 200 and office.task(task_id)["submitted"]["basis"] == draft["basis"]


def test_multipart_needs_the_csrf_header(app, flow):
    _, task_id = _forecast(flow)
    response = Api(app, "bj").multipart(task_id, ROWS, {"basis": ("依据.pdf", PDF)}, csrf=False)
    assert response.status_code == 400
    assert response.get_json() == {"error": 400, "message": "页面已过期或安全令牌不符, 请返回并刷新页面后重试"}
    assert _stored(flow) == [] and _state(flow, task_id) == ("open", None)


@pytest.mark.parametrize(("values", "files", "extra", "message"), [
    (None, {"basis": ("依据.pdf", PDF)}, None, "multipart 请求缺少 data 部分"),
    ("{'forecast': []}", {}, None, "data 部分不是有效的 JSON: 第 1 行第 2 列"),
    ("[1]", {}, None, "data 部分应为 JSON 对象"),
    ({}, {"plan": ("依据.pdf", PDF)}, None, "没有名为「plan」的文件字段; 可以上传文件的字段: basis"),
    ({}, {"basis": [("a.pdf", PDF), ("b.pdf", PDF)]}, None, "预测依据 (附件): 只能上传一个文件, 收到 2 个"),
    ({}, {}, {"note": "写错了地方"}, "多余的部分「note」: 字段的值请写在 data 部分的 JSON 对象中"),
])
def test_a_malformed_multipart_body_is_422_and_says_what_to_change(app, flow, values, files, extra, message):
    _, task_id = _forecast(flow)
    response = Api(app, "bj").multipart(task_id, values, files, extra=extra)
    assert response.status_code == 422 and response.get_json()["error"] == 422
    assert [p["message"] for p in response.get_json()["problems"]][0].startswith(message)
    assert _stored(flow) == [] and _state(flow, task_id) == ("open", None)


def test_a_task_i_may_not_see_is_404_before_its_form_is_read(app, flow):
    _, task_id = _forecast(flow)
    response = Api(app, "rm_huadong").multipart(task_id, {}, {"plan": ("依据.pdf", PDF)})
    assert response.status_code == 404
    assert response.get_json() == {"error": 404, "message": f"没有编号为 {task_id} 的任务", "task_id": task_id}
    assert _stored(flow) == []


def test_multipart_answers_match_the_document(app, flow):
    check = Checked()
    _, task_id = _forecast(flow)
    office = Api(app, "bj")
    for action in ("draft", "complete"):
        path = f"/api/tasks/{{task_id}}/{action}"
        assert check(office.multipart(task_id, {}, {"basis": ("x.exe", b"MZ")}, action=action), "post",
                     path).status_code == 422
        assert check(office.multipart(task_id, {}, {"basis": ("big.pdf", b"%PDF-" + b"0" * (7 * 1024 * 1024))},
                                      action=action), "post", path).status_code == 413
        assert check(office.multipart(task_id, {}, csrf=False, action=action), "post", path).status_code == 400
        assert check(office.multipart(task_id + 99, {}, action=action), "post", path).status_code == 404
    assert check(office.multipart(task_id, ROWS, {"basis": ("依据.pdf", PDF)}), "post",
                 "/api/tasks/{task_id}/complete").status_code == 200
