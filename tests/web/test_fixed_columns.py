"""Tables with fixed columns (`#`) on the task page and through the API: the given cells are text, the rows
are the given ones, and neither a crafted POST nor a JSON body changes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from engine.store import tasks
from web.inbox import field_views, parse_submission

FIXED_TABLE = (Path(__file__).parents[1] / "fixtures" / "fixed_table.bpmn").read_bytes()
GIVEN = [("心脑血管", "医院"), ("心脑血管", "零售药店"), ("抗感染", "医院"), ("抗感染", "零售药店")]


@pytest.fixture
def fixed(flow):
    """The fixture process deployed next to approval; returns a function that starts one and gives its task."""
    flow.tx(lambda s: flow.services.engine.deploy(s, FIXED_TABLE, "fixed_table.bpmn", "admin"))

    def start(office: str = "华北/北京办事处") -> tuple[int, int]:
        instance_id = flow.tx(lambda s: flow.services.engine.start(s, "fixed_table", "bj", {"office": office}))
        return instance_id, flow.open_task(instance_id)

    return start


def posted(qty: list, **extra) -> dict:
    """The page's form as a browser posts it: a row marker and the editable cells of every given row."""
    data = {"f.remark": "按上月滚动"}
    for n, q in enumerate(qty):
        data.update({f"f.forecast_rows.{n}.__row": "1", f"f.forecast_rows.{n}.qty": q,
                     f"f.forecast_rows.{n}.note": ""})
    return {**data, **extra}


def stored(flow, instance_id: int) -> list[tuple]:
    rows = flow.tx(lambda s: flow.services.engine.show(s, instance_id))["data"]["forecast_rows"]
    return [(r["product"], r["channel"], r["qty"]) for r in rows]


def test_fixed_cells_are_text_and_the_rows_cannot_be_added_or_removed_on_the_page(client, auth, fixed):
    _, task_id = fixed()
    auth.login("bj")
    text = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    table = re.search(r'<table class="grid fixed-rows" id="table-forecast_rows".*?</table>', text, re.S).group(0)
    assert "data-fixed-rows" in table
    cells = re.findall(r'<span class="fixed-value"[^>]*>([^<]*)</span>', table)
    assert cells == [value for row in GIVEN for value in row]           # product and channel of each row, as text
    assert 'name="f.forecast_rows.0.product"' not in text and 'name="f.forecast_rows.0.channel"' not in text
    assert [f'name="f.forecast_rows.{n}.qty"' in table for n in range(5)] == [True] * 4 + [False]
    assert table.count('.__row" value="1"') == 4
    assert 'data-add-row="' not in text and "data-remove-row" not in text and 'id="template-' not in text
    assert "各行由流程给定, 不能增减; 灰底的列不能修改。" in text


def test_a_crafted_post_cannot_change_a_fixed_cell(client, auth, flow, fixed):
    instance_id, task_id = fixed()
    auth.login("bj")
    response = auth.post(f"/tasks/{task_id}/complete", posted(
        ["120", "80", "60", "40"], **{"f.forecast_rows.0.product": "保健品", "f.forecast_rows.1.channel": "电商"}))
    assert response.status_code == 302
    assert stored(flow, instance_id) == [(*GIVEN[0], 120), (*GIVEN[1], 80), (*GIVEN[2], 60), (*GIVEN[3], 40)]


def test_a_crafted_post_cannot_add_or_drop_a_row(client, auth, flow, fixed):
    instance_id, task_id = fixed()
    auth.login("bj")
    extra = {"f.forecast_rows.4.__row": "1", "f.forecast_rows.4.product": "保健品",
             "f.forecast_rows.4.channel": "医院", "f.forecast_rows.4.qty": "999"}
    for data in (posted(["120", "80", "60", "40"], **extra),            # a fifth row
                 posted(["120", "80", "60"]),                             # the last row left out
                 {"f.remark": "全部删掉"}):                               # every row left out
        response = auth.post(f"/tasks/{task_id}/complete", data)
        assert response.status_code == 422
        text = response.get_data(as_text=True)
        assert re.search(r'id="field-forecast_rows">.*?要货预测: 应有 4 行 \(各行由流程给定, 不能增减\)', text, re.S)
        assert len(re.findall(r'name="f\.forecast_rows\.\d\.qty"', text)) == 4   # the page shows the given rows
        assert ">保健品<" not in text and 'value="999"' not in text
    assert [t.state for t in flow.tx(lambda s: tasks.active_for_instance(s, instance_id))] == ["open"]
    assert auth.post(f"/tasks/{task_id}/complete", posted(["1", "2", "3", "4"])).status_code == 302
    assert [q for *_, q in stored(flow, instance_id)] == [1, 2, 3, 4]


def test_errors_show_in_their_cell_and_what_was_typed_is_kept(client, auth, fixed):
    _, task_id = fixed()
    auth.login("bj")
    response = auth.post(f"/tasks/{task_id}/complete", posted(
        ["120", "很多", "", "40"], **{"f.forecast_rows.0.note": "新品", "f.forecast_rows.0.product": "保健品"}))
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "表单有 2 处需要修改" in text
    rows = re.findall(r"<tr>.*?</tr>", re.search(r'<tbody>(.*?)</tbody>', text, re.S).group(1), re.S)
    assert len(rows) == 4
    assert ">心脑血管<" in rows[0] and 'value="120"' in rows[0] and 'value="新品"' in rows[0] and "保健品" not in text
    bad = re.search(r'<td class="has-error"[^>]*>[^<]*<input[^>]*name="f\.forecast_rows\.1\.qty" value="很多".*?</td>',
                    rows[1], re.S)
    assert bad and "要货预测 第 2 行 数量(箱): 应为整数" in bad.group(0)
    assert re.search(r'name="f\.forecast_rows\.2\.qty".*?要货预测 第 3 行 数量\(箱\): 必填', rows[2], re.S)
    assert ">抗感染<" in rows[2] and ">零售药店<" in rows[3]          # the fixed cells show the given values


def test_a_draft_keeps_the_given_rows_and_the_next_step_starts_from_them(client, auth, flow, fixed):
    instance_id, task_id = fixed()
    auth.login("bj")
    assert auth.post(f"/tasks/{task_id}/draft", posted(["5", "", "", ""])).status_code == 302
    text = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "显示的是您保存的草稿" in text and 'name="f.forecast_rows.0.qty" value="5"' in text
    assert re.findall(r'<span class="fixed-value"[^>]*>([^<]*)</span>', text)[:4] == [*GIVEN[0], *GIVEN[1]]
    assert auth.post(f"/tasks/{task_id}/complete", posted(["5", "6", "7", "8"])).status_code == 302

    review = flow.open_task(instance_id)        # step 2: the same table, its rows the earlier answer
    auth.logout()
    auth.login("rm_huabei")
    text = client.get(f"/tasks/{review}").get_data(as_text=True)
    assert re.findall(r'<span class="fixed-value"[^>]*>([^<]*)</span>', text) == [v for row in GIVEN for v in row]
    assert 'name="f.forecast_rows.3.qty" value="8"' in text and "data-add-row" not in text
    response = auth.post(f"/tasks/{review}/complete", {
        **{k: v for k, v in posted(["5", "6", "7", "10"]).items() if k != "f.remark"},
        "f.forecast_rows.3.channel": "电商"})
    assert response.status_code == 302
    assert stored(flow, instance_id)[3] == (*GIVEN[3], 10)


def test_the_json_api_keeps_fixed_values_and_refuses_other_rows(client, auth, flow, fixed):
    instance_id, task_id = fixed()
    auth.login("bj")
    detail = client.get(f"/api/tasks/{task_id}").get_json()
    columns = detail["fields"][0]["columns"]
    assert [c["id"] for c in columns if c.get("fixed")] == ["product", "channel"]
    given = detail["prefill"]["forecast_rows"]
    assert [(r["product"], r["channel"]) for r in given] == GIVEN
    more = auth.api_post(f"/api/tasks/{task_id}/complete",
                         {"forecast_rows": [dict(r, qty=1) for r in given] + [{"product": "保健品", "qty": 9}]})
    assert more.status_code == 422
    assert [(p["field"], p["message"]) for p in more.get_json()["problems"]] == [
        ("forecast_rows", "要货预测: 应有 4 行 (各行由流程给定, 不能增减)")]
    tampered = [dict(r, qty=10 * n, product="保健品") for n, r in enumerate(given, start=1)]
    done = auth.api_post(f"/api/tasks/{task_id}/complete", {"forecast_rows": tampered})
    assert done.status_code == 200 and done.get_json()["task"]["state"] == "completed"
    assert stored(flow, instance_id) == [(*g, 10 * n) for n, g in enumerate(GIVEN, start=1)]


FORM = {"fields": [{"id": "t", "type": "table", "label": "表", "columns": [
    {"id": "region", "type": "string", "label": "大区", "required": True, "fixed": True},
    {"id": "target", "type": "double", "label": "目标", "required": False}]}]}


def test_parse_and_views_take_fixed_cells_from_the_given_rows():
    given = {"t": [{"region": "华北"}, {"region": "华东"}]}
    form = MultiDict({"t.x": "", "f.t.0.__row": "1", "f.t.0.region": "改名", "f.t.0.target": "",
                      "f.t.1.__row": "1", "f.t.1.target": "7"})
    assert parse_submission(FORM, form, given) == {"t": [{"region": "华北", "target": None},   # a blank row stays
                                                         {"region": "华东", "target": "7"}]}
    (view,) = field_views(FORM, {"t": [{"region": "改名", "target": 3}]}, {}, given=given)
    assert view["fixed"] and len(view["rows"]) == 2
    assert [(c["text"], c["fixed"]) for c in view["rows"][0]] == [("华北", True), ("3", False)]
    assert view["rows"][1][0]["text"] == "华东" and view["rows"][1][1]["value"] == ""
    (none,) = field_views(FORM, {}, {}, given={"t": []})
    assert none["rows"] == []                     # nothing given: no blank row to fill either
