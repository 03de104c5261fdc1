"""The task page: the form drawn from the field definitions, submit with errors, draft, claim, put back."""

from __future__ import annotations

import re

from werkzeug.datastructures import MultiDict

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


def test_other_region_gets_403_with_the_reason_even_by_direct_url(client, auth, flow):
    _, task_id = flow.request_done()
    auth.login("rm_huadong")
    for response in (client.get(f"/tasks/{task_id}"), auth.post(f"/tasks/{task_id}/claim"),
                     auth.post(f"/tasks/{task_id}/complete", {"f.decision": "approve"}),
                     auth.post(f"/tasks/{task_id}/draft", {"f.comment": "x"})):
        assert response.status_code == 403
        assert "该任务属于 华北 的「大区经理」, 您没有该角色与范围的权限" in response.get_data(as_text=True)


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
    assert views["count"]["attrs"] == {"step": "1", "min": "1", "max": "9"} and views["count"]["errors"] == ["太多"]
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
