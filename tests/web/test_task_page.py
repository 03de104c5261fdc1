"""The task page: the form drawn from the field definitions, submit with errors, draft, claim, put back."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
from testkit import post_multipart
from werkzeug.datastructures import MultiDict

from engine.store import tasks
from engine.store.models import Attachment
from web.inbox import field_views, parse_submission


def _open(flow):
    instance_id = flow.start()
    return instance_id, flow.open_task(instance_id)


def test_task_page_shows_documentation_and_the_form(client, auth, flow):
    instance_id, task_id = _open(flow)
    auth.login("bj")
    text = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "办事处提交本办事处的费用申请。" in text
    assert f'href="/instances/{instance_id}"' in text
    assert 'type="number" name="f.amount"' in text and 'min="0.1"' in text and 'max="500"' in text
    assert 'type="text" name="f.purpose"' in text and 'maxlength="50"' in text
    assert 'name="f.lines.0.item"' in text and 'name="f.lines.0.cost"' in text
    assert 'data-add-row="lines"' in text and "data-remove-row" in text
    assert "提交" in text and "保存草稿" in text and "认领 (由我处理)" in text
    assert 'name="csrf_token"' in text


def test_validation_errors_are_shown_next_to_fields_and_cells_keeping_the_input(client, auth, flow):
    _, task_id = _open(flow)
    auth.login("bj")
    response = auth.post(f"/tasks/{task_id}/complete", {
        "f.amount": "600", "f.purpose": "",
        "f.lines.0.item": "", "f.lines.0.cost": "12,5",
        "f.lines.4.item": "", "f.lines.4.cost": "",            # a blank row is dropped
        "f.lines.7.item": "茶歇", "f.lines.7.cost": "1.5",
    })
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "表单有 4 处需要修改" in text
    assert re.search(r'id="field-amount">.*?value="600".*?金额\(万元\): 不能大于 500', text, re.S)
    assert re.search(r'id="field-purpose">.*?用途: 必填', text, re.S)
    cell = re.search(r'name="f\.lines\.0\.cost" value="12,5".*?</td>', text, re.S).group(0)
    assert "应为数字" in cell
    assert re.search(r'name="f\.lines\.0\.item".*?明细 第 1 行 项目: 必填', text, re.S)
    assert 'name="f.lines.1.item" value="茶歇"' in text       # renumbered, typed value kept
    assert 'name="f.lines.2.item"' not in text


def test_submit_completes_and_returns_to_the_inbox(client, auth, flow):
    instance_id, task_id = _open(flow)
    auth.login("bj")
    response = auth.post(f"/tasks/{task_id}/complete", {
        "f.amount": "12.5", "f.purpose": "学术会议", "f.lines.0.item": "场地", "f.lines.0.cost": "12.5"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    inbox = client.get("/").get_data(as_text=True)
    assert "已提交「1 提交费用申请」" in inbox and "暂无待办任务" in inbox
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "该任务已由 宋晓东 (bj) 于 2027-04-02 09:00 完成" in page
    assert f'action="/tasks/{task_id}/complete"' not in page
    assert "学术会议" in page and "场地" in page   # what was submitted, read-only
    show = flow.tx(lambda s: flow.services.engine.show(s, instance_id))
    assert show["data"]["lines"] == [{"item": "场地", "cost": 12.5}]


def test_a_second_submit_is_a_conflict_in_chinese(client, auth, flow):
    _, task_id = _open(flow)
    flow.complete(task_id, "bj", {"amount": 1, "purpose": "x", "lines": []})
    auth.login("bj")
    response = auth.post(f"/tasks/{task_id}/complete", {"f.amount": "2", "f.purpose": "y"})
    assert response.status_code == 409
    assert "该任务已由 宋晓东 (bj) 于" in response.get_data(as_text=True)


def test_save_draft_keeps_what_was_typed(client, auth, flow):
    _, task_id = _open(flow)
    auth.login("bj")
    response = auth.post(f"/tasks/{task_id}/draft", {"f.amount": "abc", "f.purpose": "草稿用途",
                                                      "f.lines.0.item": "场地", "f.lines.0.cost": ""})
    assert response.status_code == 302
    text = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "草稿已保存" in text and "显示的是您保存的草稿" in text
    assert 'value="草稿用途"' in text and 'value="abc"' in text and 'value="场地"' in text


def test_claim_and_put_back(client, auth, flow):
    _, task_id = _open(flow)
    auth.login("bj")
    response = auth.post(f"/tasks/{task_id}/claim")
    assert response.status_code == 302
    text = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "已认领任务「1 提交费用申请」" in text and "放回待办池" in text and "认领 (由我处理)" not in text
    assert auth.post(f"/tasks/{task_id}/unclaim").status_code == 302
    assert "已放回任务" in client.get("/").get_data(as_text=True)


def test_a_task_claimed_by_a_colleague_shows_who_has_it(client, auth, flow):
    _, task_id = flow.request_done()
    flow.tx(lambda s: flow.services.engine.claim(s, task_id, "rm_huabei"))
    auth.login("admin")
    text = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "该任务已由 罗平 (rm_huabei) 认领" in text
    assert "放回待办池" in text                      # an administrator may put it back
    assert f'action="/tasks/{task_id}/complete"' not in text


def test_other_region_gets_404_like_a_missing_id_even_by_direct_url(client, auth, flow):
    _, task_id = flow.request_done()
    auth.login("rm_huadong")
    for response in (client.get(f"/tasks/{task_id}"), auth.post(f"/tasks/{task_id}/claim"),
                     auth.post(f"/tasks/{task_id}/unclaim"),
                     auth.post(f"/tasks/{task_id}/complete", {"f.decision": "approve"}),
                     auth.post(f"/tasks/{task_id}/draft", {"f.comment": "x"})):
        assert response.status_code == 404
        text = response.get_data(as_text=True)
        assert f"没有编号为 {task_id} 的任务" in text and "华北" not in text.split("<main>")[1]
    assert flow.tx(lambda s: flow.services.engine.show(s, 1))["tasks"][1]["state"] == "open"  # nothing changed


def test_unknown_task_is_404_in_chinese(client, auth):
    auth.login("bj")
    response = client.get("/tasks/999")
    assert response.status_code == 404
    assert "没有编号为 999 的任务" in response.get_data(as_text=True)


def test_enum_select_and_conditional_comment(client, auth, flow):
    _, task_id = flow.request_done()
    auth.login("rm_huabei")
    text = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert '<select id="in-decision" name="f.decision"' in text
    assert '<option value="approve">批准</option>' in text and '<textarea id="in-comment"' in text
    response = auth.post(f"/tasks/{task_id}/complete", {"f.decision": "reject"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert '<option value="reject" selected>退回修改</option>' in text
    assert "意见: 必填" in text
    response = auth.post(f"/tasks/{task_id}/complete", {"f.decision": "reject", "f.comment": "预算过高"})
    assert response.status_code == 302


def test_rework_prefills_the_previous_values(client, auth, flow):
    instance_id, review_id = flow.request_done()
    flow.complete(review_id, "rm_huabei", {"decision": "reject", "comment": "请拆分明细"})
    again = flow.open_task(instance_id)
    auth.login("bj")
    text = client.get(f"/tasks/{again}").get_data(as_text=True)
    assert 'name="f.lines.0.item" value="场地"' in text and 'name="f.amount" value="12.5"' in text


FORM = {"fields": [
    {"id": "code", "type": "string", "label": "编号", "readonly": True},
    {"id": "ok", "type": "boolean", "label": "同意"},
    {"id": "day", "type": "date", "label": "日期", "required": True},
    {"id": "count", "type": "long", "label": "数量", "min": 1, "max": 9},
    {"id": "level", "type": "enum", "label": "级别", "options": [{"id": "a", "name": "甲"}, {"id": "b", "name": "乙"}]},
    {"id": "rows", "type": "table", "label": "表", "readonly": True,
     "columns": [{"id": "x", "type": "boolean", "label": "X", "required": False}]},
]}


def test_field_views_cover_every_kind():
    views = {v["id"]: v for v in field_views(FORM, {"code": "A-1", "ok": True, "day": "2027-04-10", "count": 3,
                                                    "level": "b", "rows": [{"x": True}]}, {"count": ["太多"]})}
    assert views["code"]["readonly"] and views["code"]["text"] == "A-1"
    assert views["ok"]["kind"] == "checkbox" and views["ok"]["checked"]
    assert views["day"]["kind"] == "date" and views["day"]["value"] == "2027-04-10"
    assert views["count"]["attrs"] == {"step": "1", "min": "1", "max": "9", "inputmode": "numeric"}
    assert views["count"]["errors"] == ["太多"]
    assert views["level"]["text"] == "乙" and [o["selected"] for o in views["level"]["options"]] == [False, True]
    assert views["rows"]["readonly"] and views["rows"]["rows"][0][0]["text"] == "是"


def test_parse_submission_leaves_out_readonly_and_blank_values():
    posted = MultiDict({"f.code": "hacked", "f.ok": "true", "f.day": " ", "f.count": " 4 ", "f.level": "a"})
    assert parse_submission(FORM, posted) == {"ok": True, "count": "4", "level": "a"}


def test_task_page_renders_readonly_and_checkbox_fields(app, client, auth, flow):
    _, task_id = _open(flow)

    def change_form(s):
        from engine.store.models import HumanTask

        row = s.get(HumanTask, task_id)
        row.form = FORM
        row.prefill = {"code": "A-1", "rows": [{"x": False}]}

    flow.tx(change_form)
    auth.login("bj")
    text = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert '<div class="readonly-value">A-1</div>' in text and 'name="f.code"' not in text
    assert 'type="checkbox" name="f.ok" value="true"' in text
    assert 'type="date" name="f.day"' in text
    assert "<td>否</td>" in text


# -- the forecast fixture: units, totals, a file field, earlier steps (tests/fixtures/forecast_review.bpmn) -------
FORECAST = (Path(__file__).parents[1] / "fixtures" / "forecast_review.bpmn").read_bytes()
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ROWS = {"f.forecast.0.product": "心脑血管", "f.forecast.0.qty": "120", "f.forecast.0.amount": "36.5",
        "f.forecast.1.product": "抗感染", "f.forecast.1.qty": "80", "f.forecast.1.amount": "12"}


def _forecast(flow, office="华北/北京办事处", by="bj", key="2027-04 月度销售预测") -> tuple[int, int]:
    engine = flow.services.engine
    flow.tx(lambda s: engine.deploy(s, FORECAST, "forecast_review.bpmn", "admin"))
    instance_id = flow.tx(lambda s: engine.start(s, "forecast_review", by, {"office": office, "target": 50.0},
                                                 None, key))
    return instance_id, flow.open_task(instance_id)


def _upload(auth, task_id, action="complete", data=None, name="依据.pdf", content=PDF):
    """A multipart POST; the body (spooled to a temporary file when large) is closed afterwards."""
    posted = {**ROWS, **(data or {}), "csrf_token": auth.token(), "f.basis.upload": (io.BytesIO(content), name)}
    return post_multipart(auth._client, f"/tasks/{task_id}/{action}", posted)


def test_units_totals_and_the_file_input_are_drawn(client, auth, flow):
    _, task_id = _forecast(flow)
    auth.login("bj")
    text = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert re.search(r'<div class="readonly-value">50 万元</div>', text)                  # the target, read-only
    assert re.search(r'name="f\.growth"[^>]*aria-describedby="in-growth-unit"><span class="unit" id="in-growth-unit">%',
                     text)
    assert 'enctype="multipart/form-data"' in text and 'type="file" name="f.basis.upload"' in text
    assert 'data-totals' in text and '<output class="total" data-col="qty">0</output>' in text
    assert '<output class="total" data-col="amount">0</output>' in text
    assert 'data-col="product"' in text


def test_totals_are_computed_on_the_server_when_the_page_comes_back(client, auth, flow):
    _, task_id = _forecast(flow)
    auth.login("bj")
    response = auth.post(f"/tasks/{task_id}/complete", {**ROWS, "f.forecast.1.amount": "12.25",
                                                         "f.forecast.2.product": "消化系统", "f.forecast.2.qty": "x"})
    assert response.status_code == 422
    text = html.unescape(response.get_data(as_text=True))
    assert '<output class="total" data-col="qty">200</output>' in text           # "x" counts as nothing
    assert '<output class="total" data-col="amount">48.75</output>' in text
    assert "销售预测 第 3 行 数量(箱): 应为整数, 收到 'x'" in text
    assert "销售预测 第 3 行 金额(万元): 必填" in text
    assert 'name="f.forecast.2.qty" value="x"' in text                          # kept as typed


def test_a_file_is_stored_kept_on_errors_and_submitted_as_a_reference(client, auth, flow):
    instance_id, task_id = _forecast(flow)
    auth.login("bj")
    response = _upload(auth, task_id, data={"f.forecast.1.qty": ""})              # one error elsewhere
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    link = re.search(r'href="(/attachments/(\d+))" class="file-link">依据.pdf</a>', text)
    assert link, "the chosen file stays on the page"
    attachment_id = int(link.group(2))
    assert f'type="hidden" name="f.basis" value="{attachment_id}"' in text
    download = client.get(link.group(1))
    assert download.status_code == 200 and download.data == PDF and download.mimetype == "application/pdf"
    assert "attachment;" in download.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E4%BE%9D%E6%8D%AE.pdf" in download.headers["Content-Disposition"]
    response = auth.post(f"/tasks/{task_id}/complete", {**ROWS, "f.basis": str(attachment_id)})
    assert response.status_code == 302
    data = flow.tx(lambda s: flow.services.engine.show(s, instance_id))["data"]
    assert data["basis"] == {"id": attachment_id, "name": "依据.pdf", "size": len(PDF)}


@pytest.mark.parametrize(("name", "content", "message"), [
    ("计划.exe", b"MZ\x90\x00", "预测依据 (附件): 不接受「计划.exe」这种文件, 可以上传"),
    ("计划.pdf", b"<html><script>alert(1)</script></html>", "预测依据 (附件): 文件「计划.pdf」的内容不是 pdf 文件"),
    ("计划.xlsx", b"%PDF-1.4", "预测依据 (附件): 文件「计划.xlsx」的内容不是 xlsx 文件"),
    ("空.txt", b"", "预测依据 (附件): 文件「空.txt」是空的"),
    ("大.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "预测依据 (附件): 文件「大.pdf」超过 5 MB 的上限"),
])
def test_refused_uploads_say_why_next_to_the_field_and_keep_the_rest(client, auth, flow, name, content, message):
    instance_id, task_id = _forecast(flow)
    auth.login("bj")
    response = _upload(auth, task_id, data={"f.note": "保留我"}, name=name, content=content)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert re.search(r'id="field-basis">.*?' + re.escape(html.escape(message, quote=False)), text, re.S)
    assert "表单有 1 处需要修改" in text and ">保留我</textarea>" in text and 'value="36.5"' in text
    assert flow.tx(lambda s: s.query(Attachment).count()) == 0
    assert flow.tx(lambda s: tasks.get(s, task_id).state) == "open"


def test_a_crafted_post_cannot_borrow_another_tasks_attachment(client, auth, flow):
    _, other_task = _forecast(flow, office="华东/上海办事处", by="sh", key="华东")
    auth.login("sh")
    _upload(auth, other_task, action="draft")
    stolen = flow.tx(lambda s: s.query(Attachment).one().id)
    auth.logout()
    instance_id, task_id = _forecast(flow)
    auth.login("bj")
    assert auth.post(f"/tasks/{task_id}/complete", {**ROWS, "f.basis": str(stolen)}).status_code == 302
    assert flow.tx(lambda s: flow.services.engine.show(s, instance_id))["data"]["basis"] is None
    assert client.get(f"/attachments/{stolen}").status_code == 404         # another scope's file: 404, as unknown
    assert client.get("/attachments/999").status_code == 404


def test_attachments_are_for_those_who_may_see_the_instance(client, auth, flow):
    instance_id, task_id = _forecast(flow)
    auth.login("bj")
    _upload(auth, task_id)
    attachment_id = flow.tx(lambda s: s.query(Attachment).one().id)
    auth.logout()
    for login, status in (("rm_huabei", 200), ("admin", 200), ("rm_huadong", 404), ("sh", 404), ("outsider", 404)):
        auth.login(login)
        assert client.get(f"/attachments/{attachment_id}").status_code == status, login
        auth.logout()
    assert client.get(f"/attachments/{attachment_id}").status_code in (302, 401)   # not logged in


def test_the_reviewer_sees_what_the_office_produced_and_the_office_sees_the_comment(client, auth, flow):
    instance_id, task_id = _forecast(flow)
    auth.login("bj")
    _upload(auth, task_id, data={"f.note": "新品上市"})
    auth.logout()
    review = flow.open_task(instance_id)
    auth.login("rm_huabei")
    text = client.get(f"/tasks/{review}").get_data(as_text=True)
    assert "被退回修改" not in text
    earlier = text.partition('<section class="earlier')[2].split("</section>")[0]
    assert "3 制定本地区本渠道销售预测" in earlier and "宋晓东 (bj)" in earlier
    assert "<td>心脑血管</td>" in earlier and '<output class="total" data-col="qty">200</output>' in earlier
    assert "依据.pdf" in earlier and "新品上市" in earlier
    response = auth.post(f"/tasks/{review}/complete", {"f.decision": "reject", "f.comment": "抗感染数量偏低"})
    assert response.status_code == 302
    auth.logout()
    again = flow.open_task(instance_id)
    auth.login("bj")
    text = client.get(f"/tasks/{again}").get_data(as_text=True)
    earlier = text.partition('<section class="earlier')[2].split("</section>")[0]
    assert "4 初审区内销售预测" in earlier and "抗感染数量偏低" in earlier and "不通过, 退回修改" in earlier
    assert "该任务被退回修改, 这是第 2 次办理" in text
    assert "<td>心脑血管</td>" not in earlier                      # its own earlier answers are on the form instead
    assert 'name="f.forecast.1.qty" value="80"' in text and "file-link\">依据.pdf" in text


def _second_manager(flow):
    from engine.store import org

    flow.tx(lambda s: (org.add_user(s, "rm2", "李雷", None), org.grant(s, "rm2", "大区经理", "华北")))


def test_completing_a_task_someone_else_completed_says_who_and_keeps_the_typed_values(client, auth, flow):
    instance_id, review = flow.request_done()
    _second_manager(flow)
    auth.login("rm_huabei")
    client.get(f"/tasks/{review}")                                 # the page is open…
    flow.tx(lambda s: flow.services.engine.complete(s, review, "rm2", {"decision": "approve"}))
    response = auth.post(f"/tasks/{review}/complete", {"f.decision": "reject", "f.comment": "预算过高, 请压缩"})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "该任务已由 李雷 (rm2) 于 2027-04-02 09:00:00 完成" in text
    unsent = text.split('class="unsent"')[1].split("</section>")[0]
    assert "预算过高, 请压缩" in unsent and "不通过" not in unsent and "退回修改" in unsent
    assert f'action="/tasks/{review}/complete"' not in text
    draft = auth.post(f"/tasks/{review}/draft", {"f.comment": "草稿"})
    assert draft.status_code == 409 and "草稿" in draft.get_data(as_text=True)


def test_the_form_of_a_task_claimed_by_a_colleague_is_not_offered(client, auth, flow):
    _, review = flow.request_done()
    _second_manager(flow)
    flow.tx(lambda s: flow.services.engine.claim(s, review, "rm2"))
    auth.login("rm_huabei")
    response = auth.post(f"/tasks/{review}/complete", {"f.decision": "approve"})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "该任务已由 李雷 (rm2) 认领" in text and "批准" in text.split('class="unsent"')[1]
