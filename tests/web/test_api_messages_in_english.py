"""The JSON API's own refusals in the caller's language (web/api.py: a body that is no JSON object, starting
without the needed fields, complete and draft as multipart with files) and the attachments a submission names
or a link asks for (web/attachments.py): English after choosing English, the engine's Chinese otherwise."""

from __future__ import annotations

import pytest
from test_api_attachments import PDF, ROWS, Api, _forecast
from testkit import in_lang, page_text

from engine.store.models import Attachment


def _in(api: Api, lang: str | None) -> Api:
    """The script's session in `lang` (None: never chose one), as the UI's switch does it."""
    if lang:
        assert api.client.post(f"/lang/{lang}", headers={"X-CSRF-Token": api.token}).status_code == 302
    return api


def _said(response) -> tuple[str, list[str]]:
    assert response.status_code == 422
    body = response.get_json()
    return body["message"], [p["message"] for p in body["problems"]]


MALFORMED = [  # the data part, the file parts, other parts → the problem in English, then in Chinese
    (None, {"basis": ("依据.pdf", PDF)}, None,
     "The multipart request has no data part: put the form's values as a JSON object into a text part named data "
     "(write {} when there are none)",
     "multipart 请求缺少 data 部分: 请把表单的值作为 JSON 对象放进名为 data 的文本部分 (没有值时写 {})"),
    ("{'forecast': []}", {}, None,
     "The data part is not valid JSON: line 1, column 2 (Expecting property name enclosed in double quotes)",
     "data 部分不是有效的 JSON: 第 1 行第 2 列 (Expecting property name enclosed in double quotes)"),
    ("[1]", {}, None, "The data part should be a JSON object", "data 部分应为 JSON 对象"),
    ({}, {"plan": ("依据.pdf", PDF)}, None,
     "There is no file field named “plan”; the fields that take a file: basis",
     "没有名为「plan」的文件字段; 可以上传文件的字段: basis"),
    ({}, {"basis": [("a.pdf", PDF), ("b.pdf", PDF)]}, None,
     "预测依据 (附件): only one file can be uploaded, got 2", "预测依据 (附件): 只能上传一个文件, 收到 2 个"),
    ({}, {}, {"note": "写错了地方"},
     "Unexpected part “note”: put the fields' values in the JSON object of the data part",
     "多余的部分「note」: 字段的值请写在 data 部分的 JSON 对象中"),
]
TOP = {  # the answer's message for the problem at that index of MALFORMED (the parts' count otherwise)
    0: ("The multipart request has no data part: put the form's values as a JSON object into a text part named "
        "data (write {} when there are none)",
        "multipart 请求缺少 data 部分: 请把表单的值作为 JSON 对象放进名为 data 的文本部分 (没有值时写 {})"),
    2: ("The data part should be a JSON object (field id: value)", "data 部分应为 JSON 对象 (字段 id: 值)"),
}


@pytest.mark.parametrize("case", range(len(MALFORMED)), ids=["no-data", "bad-json", "not-object", "no-such-field",
                                                             "two-files", "stray-part"])
@pytest.mark.parametrize("lang", ["en", None], ids=["en", "default"])
def test_a_malformed_multipart_body_in_the_callers_language(app, flow, case, lang):
    values, files, extra, english, chinese = MALFORMED[case]
    _, task_id = _forecast(flow)
    response = _in(Api(app, "bj"), lang).multipart(task_id, values, files, extra=extra)
    message, problems = _said(response)
    assert problems == [english if lang else chinese]
    if case == 1:  # the JSON error's own words are Python's, in both languages
        assert message == problems[0]
    elif case in TOP:
        assert message == TOP[case][0 if lang else 1]
    else:
        parts = "Problems in the request: 1; nothing was saved" if lang else "请求有 1 处不符合要求, 什么也没有保存"
        assert message == parts


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "There is no file field named “plan”; this task's form has no field that takes a file"),
    ("zh", "没有名为「plan」的文件字段; 这个任务的表单没有可以上传文件的字段"),
])
def test_a_file_for_a_form_without_file_fields(app, flow, lang, expected):
    task_id = flow.open_task(flow.start())  # the approval process's first step: no file field
    response = _in(Api(app, "bj"), lang).multipart(task_id, {}, {"plan": ("依据.pdf", PDF)})
    assert _said(response)[1] == [expected]


@pytest.mark.parametrize(("lang", "complete", "draft", "row"), [
    ("en", "Problems to fix in the form: 2; nothing was saved", "Problems to fix in the draft: 1; nothing was saved",
     "销售预测, row 1, 数量(箱): should be a whole number, got 'x'"),
    (None, "表单有 2 处需要修改, 什么也没有保存", "草稿有 1 处需要修改, 什么也没有保存",
     "销售预测 第 1 行 数量(箱): 应为整数, 收到 'x'"),
], ids=["en", "default"])
def test_a_refused_file_refuses_the_form_and_the_draft(app, flow, lang, complete, draft, row):
    _, task_id = _forecast(flow)
    api = _in(Api(app, "bj"), lang)
    bad_row = {"forecast": [{"product": "心脑血管", "qty": "x", "amount": 36.5}]}
    message, problems = _said(api.multipart(task_id, bad_row, {"basis": ("计划.exe", b"MZ")}))
    assert message == complete and problems[1] == row
    assert _said(api.multipart(task_id, {}, {"basis": ("计划.exe", b"MZ")}, action="draft"))[0] == draft


@pytest.mark.parametrize(("lang", "borrowed", "named"), [
    ("en", "预测依据 (附件): attachment {id} is not a file of this task; please upload it again",
     '预测依据 (附件): should be an uploaded file, or the number of an attachment this task already has '
     '{"id": number}'),
    (None, "预测依据 (附件): 附件 {id} 不是这个任务的文件, 请重新上传",
     '预测依据 (附件): 应为上传的文件, 或这个任务已有附件的编号 {"id": 编号}'),
], ids=["en", "default"])
def test_an_attachment_the_task_may_not_keep(app, flow, lang, borrowed, named):
    _, elsewhere = _forecast(flow, office="华东/上海办事处", by="sh", key="华东")
    assert Api(app, "sh").multipart(elsewhere, {}, {"basis": ("上海.pdf", PDF)}, action="draft").status_code == 200
    foreign = flow.tx(lambda s: s.query(Attachment).one().id)
    _, task_id = _forecast(flow)
    api = _in(Api(app, "bj"), lang)
    assert _said(api.json(task_id, {**ROWS, "basis": {"id": foreign}}))[1] == [borrowed.format(id=foreign)]
    assert _said(api.json(task_id, {**ROWS, "basis": "上海.pdf"}))[1] == [named]


@pytest.mark.parametrize(("lang", "expected"), [("en", "There is no attachment number {id}"),
                                                ("zh", "没有编号为 {id} 的附件")])
def test_an_attachment_link_i_may_not_follow(app, client, auth, flow, lang, expected):
    _, elsewhere = _forecast(flow, office="华东/上海办事处", by="sh", key="华东")
    assert Api(app, "sh").multipart(elsewhere, {}, {"basis": ("上海.pdf", PDF)}, action="draft").status_code == 200
    foreign = flow.tx(lambda s: s.query(Attachment).one().id)
    auth.login("bj")  # may not see the Shanghai instance: the answer for a missing attachment
    in_lang(auth, lang)
    for attachment_id in (foreign, 999999):
        response = client.get(f"/attachments/{attachment_id}")
        assert response.status_code == 404
        assert expected.format(id=attachment_id) in page_text(response)


@pytest.mark.parametrize(("lang", "not_json", "start_body"), [
    ("en", "The request body should be a JSON object (Content-Type: application/json)",
     "Needs process_id (text), data (a JSON object), version (a whole number or null), business_key (text of at most "
     "255 characters, or null)"),
    ("zh", "请求体应为 JSON 对象 (Content-Type: application/json)",
     "需要 process_id (文字), data (JSON 对象), version (整数或 null), business_key (最多 255 字的文字或 null)"),
])
def test_a_body_that_is_not_what_the_api_needs(client, auth, lang, not_json, start_body):
    auth.login("bj")
    in_lang(auth, lang)
    refused = client.post("/api/notifications/read", data="[1]", content_type="application/json",
                          headers={"X-CSRF-Token": auth.token()})
    assert refused.status_code == 422 and refused.get_json()["message"] == not_json
    refused = auth.api_post("/api/instances", {"process_id": 7})
    assert refused.status_code == 422 and refused.get_json()["message"] == start_body
