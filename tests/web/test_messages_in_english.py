"""The engine's messages a person reads (a form's validation, what stops an action on a task) in their language:
English on the English UI (task page and JSON API), the engine's Chinese text otherwise; labels from the BPMN and
people's names stay as written."""

from __future__ import annotations

import io
import re
from pathlib import Path
from string import Formatter

import pytest
from babel.messages.pofile import read_po
from testkit import in_lang, page_text, post_multipart

from engine.messages import TEXTS
from web.i18n import catalogues

FORECAST = (Path(__file__).parents[1] / "fixtures" / "forecast_review.bpmn").read_bytes()
BAD_REQUEST = {"f.amount": "12,5", "f.purpose": "", "f.lines.0.item": "", "f.lines.0.cost": "1"}


def _catalogue(lang: str) -> dict[str, str]:
    with catalogues()[lang].open("rb") as source:
        return {m.id: m.string for m in read_po(source) if m.id}


def _names(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def _field(text: str, field_id: str) -> str:
    """The markup of one field's block on the task page (its input and its messages)."""
    return re.search(rf'id="field-{re.escape(field_id)}">.*?(?=<div class="field |</fieldset>|$)', text, re.S).group(0)


def test_every_message_is_in_both_catalogues_the_chinese_as_the_engine_says_it():
    zh, en = _catalogue("zh"), _catalogue("en")
    assert {key: zh.get(key) for key in TEXTS} == TEXTS
    assert [key for key in TEXTS if _names(en.get(key, "")) != _names(TEXTS[key])] == []
    assert [key for key in TEXTS if re.search(r"[\u4e00-\u9fff]", en[key])] == []
    assert (zh["form.list_separator"], en["form.list_separator"]) == ("、", ", ")


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", {"amount": "金额(万元): should be a number, got '12,5'", "purpose": "用途: required",
            "cell": "明细, row 1, 项目: required", "top": "Problems to fix in the form: 3."}),
    ("zh", {"amount": "金额(万元): 应为数字, 收到 '12,5'", "purpose": "用途: 必填",
            "cell": "明细 第 1 行 项目: 必填", "top": "表单有 3 处需要修改"}),
], ids=["en", "zh"])
def test_task_page_says_the_problems_in_the_page_language(client, auth, flow, lang, expected):
    task_id = flow.open_task(flow.start())
    auth.login("bj")
    in_lang(auth, lang)
    response = auth.post(f"/tasks/{task_id}/complete", BAD_REQUEST)
    assert response.status_code == 422
    text = page_text(response)
    assert expected["top"] in text
    assert expected["amount"] in _field(text, "amount") and 'value="12,5"' in text
    assert expected["purpose"] in _field(text, "purpose")
    cell = re.search(r'name="f\.lines\.0\.item".*?</td>', text, re.S).group(0)
    assert expected["cell"] in cell
    if lang == "en":
        assert not re.search(r"必填|应为|第 1 行", text)


def test_number_bounds_and_a_bad_row_cell_in_english(client, auth, flow):
    task_id = flow.open_task(flow.start())
    auth.login("bj")
    in_lang(auth, "en")
    response = auth.post(f"/tasks/{task_id}/complete", {"f.amount": "600", "f.purpose": "会议",
                                                        "f.lines.0.item": "场地", "f.lines.0.cost": "x"})
    text = page_text(response)
    assert "金额(万元): must not be more than 500" in _field(text, "amount")
    cell = re.search(r'name="f\.lines\.0\.cost".*?</td>', text, re.S).group(0)
    assert "明细, row 1, 金额(万元): should be a number, got 'x'" in cell


def _upload(auth, task_id: int, name: str, content: bytes):
    """The forecast task page posted with a file and a bad quantity in the table's first row."""
    posted = {"f.forecast.0.product": "心脑血管", "f.forecast.0.qty": "x", "f.forecast.0.amount": "36.5",
              "csrf_token": auth.token(), "f.basis.upload": (io.BytesIO(content), name)}
    return post_multipart(auth._client, f"/tasks/{task_id}/complete", posted)


def _forecast_task(flow) -> int:
    engine = flow.services.engine
    flow.tx(lambda s: engine.deploy(s, FORECAST, "forecast_review.bpmn", "admin"))
    instance_id = flow.tx(lambda s: engine.start(s, "forecast_review", "bj", {"office": "华北/北京办事处",
                                                                              "target": 50.0}, None, "2027-04"))
    return flow.open_task(instance_id)


@pytest.mark.parametrize(("lang", "file_message", "row_message"), [
    ("en", "预测依据 (附件): files like “计划.exe” are not accepted; you can upload csv, doc, docx, jpg, pdf, png, "
           "pptx, txt, xls, xlsx", "销售预测, row 1, 数量(箱): should be a whole number, got 'x'"),
    ("zh", "预测依据 (附件): 不接受「计划.exe」这种文件, 可以上传 csv、doc、docx、jpg、pdf、png、pptx、txt、xls、xlsx",
     "销售预测 第 1 行 数量(箱): 应为整数, 收到 'x'"),
], ids=["en", "zh"])
def test_a_refused_file_and_a_table_row_problem_in_the_page_language(client, auth, flow, lang, file_message,
                                                                    row_message):
    task_id = _forecast_task(flow)
    auth.login("bj")
    in_lang(auth, lang)
    response = _upload(auth, task_id, "计划.exe", b"MZ\x90\x00")
    assert response.status_code == 422
    text = page_text(response)
    assert file_message in _field(text, "basis")
    assert row_message in re.search(r'name="f\.forecast\.0\.qty".*?</td>', text, re.S).group(0)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("空.txt", b"", "预测依据 (附件): the file “空.txt” is empty"),
    ("计划.pdf", b"<html></html>", "预测依据 (附件): the content of “计划.pdf” is not a pdf file"),
    ("说明.txt", b"\xff\xfe\x00", "预测依据 (附件): the file “说明.txt” is not UTF-8 text"),
], ids=["empty", "wrong-content", "not-utf8"])
def test_every_kind_of_refused_file_in_english(client, auth, flow, name, content, message):
    task_id = _forecast_task(flow)
    auth.login("bj")
    in_lang(auth, "en")
    text = page_text(_upload(auth, task_id, name, content))
    assert message in _field(text, "basis")


class ApiClient:
    """A script logged in through the API; `lang` is chosen the way the UI does (POST /lang/<lang>)."""

    def __init__(self, app, login: str, lang: str | None):
        self.client = app.test_client()
        token = self.client.get("/api/csrf").get_json()["csrf_token"]
        response = self.client.post("/api/login", json={"login": login, "password": "secret-pw"},
                                    headers={"X-CSRF-Token": token})
        self.token = response.get_json()["csrf_token"]
        if lang:
            assert self.client.post(f"/lang/{lang}", headers={"X-CSRF-Token": self.token}).status_code == 302

    def post(self, url: str, body):
        return self.client.post(url, json=body, headers={"X-CSRF-Token": self.token})


API_BODY = {"amount": "12,5", "purpose": "", "lines": [{"item": "", "cost": 1, "extra": 2}], "bogus": 1}


def _answer(app, flow, lang: str | None, action: str = "complete", body=None) -> dict:
    task_id = flow.open_task(flow.start())
    response = ApiClient(app, "bj", lang).post(f"/api/tasks/{task_id}/{action}", body or API_BODY)
    assert response.status_code == 422
    return response.get_json()


def test_the_api_answers_422_in_english_after_choosing_english(app, flow):
    body = _answer(app, flow, "en")
    assert body["error"] == 422 and body["message"] == "Problems to fix in the form: 5"
    assert {p.get("field"): p["message"] for p in body["problems"]} == {
        "bogus": "The form has no field 'bogus'",
        "amount": "金额(万元): should be a number, got '12,5'",
        "purpose": "用途: required",
        "lines[0].item": "明细, row 1, 项目: required",
        "lines": "明细, row 1: unknown columns extra",
    }


@pytest.mark.parametrize("lang", [None, "zh"])
def test_the_api_keeps_the_chinese_by_default_and_in_chinese(app, flow, lang):
    body = _answer(app, flow, lang)
    assert body["message"] == "表单有 5 处需要修改"
    assert {p.get("field"): p["message"] for p in body["problems"]} == {
        "bogus": "表单中没有字段 'bogus'",
        "amount": "金额(万元): 应为数字, 收到 '12,5'",
        "purpose": "用途: 必填",
        "lines[0].item": "明细 第 1 行 项目: 必填",
        "lines": "明细 第 1 行: 未知的列 extra",
    }


def test_the_json_shape_is_the_same_in_both_languages(app, flow):
    english, chinese = _answer(app, flow, "en"), _answer(app, flow, None)
    assert english.keys() == chinese.keys() == {"error", "message", "problems"}
    assert [sorted(p) for p in english["problems"]] == [sorted(p) for p in chinese["problems"]]
    assert all("code" not in p and "params" not in p for p in english["problems"])


def test_a_draft_that_cannot_be_kept_says_why_in_english(app, flow):
    deep: list = []
    for _ in range(25):
        deep = [deep]
    body = _answer(app, flow, "en", "draft", {"purpose": deep})
    assert body["message"] == "The draft cannot be saved: the data is nested too deeply"
    assert [p["message"] for p in body["problems"]] == ["the data is nested too deeply"]
    chinese = _answer(app, flow, None, "draft", {"purpose": deep})
    assert chinese["message"] == "草稿无法保存: 数据嵌套过深"


def test_a_task_someone_else_completed_first_says_so_in_english(client, auth, flow):
    task_id = flow.open_task(flow.start())
    flow.complete(task_id, "bj", {"amount": 1, "purpose": "x", "lines": []})
    auth.login("bj")
    in_lang(auth, "en")
    response = auth.post(f"/tasks/{task_id}/complete", {"f.amount": "2", "f.purpose": "y"})
    assert response.status_code == 409
    assert "This task was completed by 宋晓东 (bj) at 2027-04-02 09:00" in page_text(response)
    refused = auth.api_post(f"/api/tasks/{task_id}/unclaim")
    assert refused.status_code == 403 and refused.get_json()["message"] == "This task is not claimed"
    in_lang(auth, "zh")
    assert auth.api_post(f"/api/tasks/{task_id}/unclaim").get_json()["message"] == "该任务未被认领"


def test_a_business_key_already_taken_is_said_in_english(client, auth, flow):
    flow.start(key="2027-04")
    auth.login("bj")
    in_lang(auth, "en")
    response = auth.post("/processes/approval/start", {"business_key": "2027-04", "d.0.key": "office",
                                                       "d.0.value": "华北/北京办事处"})
    assert response.status_code == 409
    assert "The process 'approval' already has an instance with the business key '2027-04'" in page_text(response)
