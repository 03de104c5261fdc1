"""Messages with a count in English: worded so that one reads as well as many ("Problems to fix in the form: 1",
"too many rows (the maximum is 1)"), never "1 problems"; the Chinese as the engine says it."""

from __future__ import annotations

import re

import pytest
from test_api_attachments import FORECAST, ROWS, Api
from test_api_messages_in_english import _in
from test_messages_in_english import _catalogue, _field
from testkit import edit, in_lang, page_text

from engine.messages import TEXTS


@pytest.mark.parametrize(("lang", "top", "field"), [
    ("en", "Problems to fix in the form: 1. The fields to fix are marked in red; everything you typed is kept.",
     "用途: required"),
    ("zh", "表单有 1 处需要修改, 请查看标红的字段。您填写的内容都保留着。", "用途: 必填"),
])
def test_one_problem_on_the_task_page(client, auth, flow, lang, top, field):
    task_id = flow.open_task(flow.start())
    auth.login("bj")
    in_lang(auth, lang)
    response = auth.post(f"/tasks/{task_id}/complete", {"f.amount": "12.5", "f.purpose": "",
                                                        "f.lines.0.item": "场地", "f.lines.0.cost": "12.5"})
    assert response.status_code == 422
    text = page_text(response)
    assert top in text and field in _field(text, "purpose")
    assert not re.search(r"\b1 problems\b", text)


@pytest.mark.parametrize(("lang", "message", "problem"), [
    ("en", "Problems to fix in the form: 1", "销售预测: too many rows (the maximum is 1)"),
    (None, "表单有 1 处需要修改", "销售预测: 最多 1 个行"),
], ids=["en", "default"])
def test_one_row_too_many_through_the_api(app, flow, lang, message, problem):
    one_row = edit(FORECAST, ('<camunda:constraint name="minlength" config="1"/>',
                              '<camunda:constraint name="maxlength" config="1"/>'))
    engine = flow.services.engine
    flow.tx(lambda s: engine.deploy(s, one_row, "forecast_review.bpmn", "admin"))
    instance_id = flow.tx(lambda s: engine.start(s, "forecast_review", "bj", {"office": "华北/北京办事处",
                                                                              "target": 50.0}, None, "2027-04"))
    api = _in(Api(app, "bj"), lang)
    response = api.json(flow.open_task(instance_id), {"forecast": ROWS["forecast"] * 2})
    assert response.status_code == 422
    body = response.get_json()
    assert body["message"] == message and [p["message"] for p in body["problems"]] == [problem]


def test_no_english_message_counts_things_in_the_plural_only():
    """A count before a plural noun ("{count} problems", "{n} rows") reads wrong for one: say it another way."""
    english = _catalogue("en")
    counted = re.compile(r"\{(?:count|n)\} (?:problems|rows|characters|errors)\b")
    fixed = {"api.start_body"}  # its n is the business key's limit (255), never one
    assert [key for key in TEXTS if key not in fixed and counted.search(english[key])] == []
    assert not counted.search(english["task.fix_errors"])
