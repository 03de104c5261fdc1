"""Form dialect additions of issue 4: `unit`, table `totals`, and `file` fields (their values and their uploads)."""

from __future__ import annotations

import pytest
from lxml import etree

from engine.errors import ValidationFailed
from engine.forms import MAX_UPLOAD_BYTES, check_upload, parse_form, table_totals, validate_submission
from engine.sandbox import Sandbox

NS = ('xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"')


def _parse(fields: str):
    node = etree.fromstring(f"<userTask {NS}><extensionElements><camunda:formData>{fields}"
                            f"</camunda:formData></extensionElements></userTask>".encode())
    return parse_form(node)


def test_unit_totals_and_file_are_read():
    form, problems = _parse("""
        <camunda:formField id="target" label="目标" type="double">
          <camunda:properties><camunda:property id="unit" value=" 万元 "/></camunda:properties></camunda:formField>
        <camunda:formField id="rows" label="预测" type="table"><camunda:properties>
          <camunda:property id="columns" value="p:string:产品;q:long:数量;a:double:金额"/>
          <camunda:property id="totals" value="q, a"/></camunda:properties></camunda:formField>
        <camunda:formField id="report" label="评估报告" type="file"/>""")
    assert problems == []
    target, rows, report = form["fields"]
    assert target["unit"] == "万元" and "properties" not in target
    assert rows["totals"] == ["q", "a"]
    assert report == {"id": "report", "type": "file", "label": "评估报告"}


def test_totals_must_name_number_columns():
    _, problems = _parse("""
        <camunda:formField id="rows" label="预测" type="table"><camunda:properties>
          <camunda:property id="columns" value="p:string:产品;q:long:数量"/>
          <camunda:property id="totals" value="p,zz"/></camunda:properties></camunda:formField>""")
    assert [m for _, m in problems] == ["表格字段 'rows' 的 totals 列 'p' 不是数字列",
                                        "表格字段 'rows' 的 totals 列 'zz' 不是数字列"]


TABLE = {"id": "rows", "type": "table", "label": "预测", "columns": [
    {"id": "p", "type": "string", "label": "产品"}, {"id": "q", "type": "long", "label": "数量"},
    {"id": "a", "type": "double", "label": "金额"}]}


def test_table_totals_count_numbers_and_skip_what_is_not_one():
    rows = [{"p": "甲", "q": 3, "a": 0.1}, {"p": "乙", "q": "4", "a": "0.2"}, {"p": "丙", "q": "x", "a": None},
            {"q": True}, "not a row"]
    assert table_totals(TABLE, rows) == {"q": 7, "a": 0.3}
    assert table_totals({**TABLE, "totals": ["a"]}, rows) == {"a": 0.3}
    assert table_totals({**TABLE, "columns": TABLE["columns"][:1]}, rows) == {}
    assert table_totals(TABLE, None) == {"q": 0, "a": 0}


FORM = {"fields": [{"id": "report", "type": "file", "label": "评估报告", "required": True}]}


def test_a_file_value_names_an_attachment():
    clean = validate_submission(FORM, {"report": {"id": 7, "name": "评估.pdf", "size": 10, "x": 1}}, {}, Sandbox())
    assert clean == {"report": {"id": 7, "name": "评估.pdf", "size": 10}}


@pytest.mark.parametrize("value", ["评估.pdf", 7, {"id": "7", "name": "a"}, {"id": True, "name": "a"}, {"id": 7}])
def test_anything_else_in_a_file_field_is_refused(value):
    with pytest.raises(ValidationFailed) as caught:
        validate_submission(FORM, {"report": value}, {}, Sandbox())
    assert [p.message for p in caught.value.problems] == ["评估报告: 应为上传的文件"]


def test_a_required_file_field_left_empty_is_required():
    with pytest.raises(ValidationFailed) as caught:
        validate_submission(FORM, {}, {}, Sandbox())
    assert [(p.field, p.message) for p in caught.value.problems] == [("report", "评估报告: 必填")]


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("a.pdf", b"%PDF-1.7 ...", ("application/pdf", None)),
    ("a.XLSX", b"PK\x03\x04...", ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", None)),
    ("a.doc", b"\xd0\xcf\x11\xe0...", ("application/msword", None)),
    ("a.jpeg", b"\xff\xd8\xff\xe0", ("image/jpeg", None)),
    ("a.csv", "产品,数量\n甲,3\n".encode(), ("text/csv", None)),
    ("a.csv", b"\xff\xfe\x00bad", (None, "附件: 文件「a.csv」不是 UTF-8 文本")),
    ("a.png", b"GIF89a", (None, "附件: 文件「a.png」的内容不是 png 文件")),
    ("a.html", b"<html>", (None, "附件: 不接受「a.html」这种文件, 可以上传 csv、doc、docx、jpg、pdf、png、pptx、"
                                  "txt、xls、xlsx")),
    ("noextension", b"x", (None, "附件: 不接受「noextension」这种文件, 可以上传 csv、doc、docx、jpg、pdf、png、pptx、"
                                  "txt、xls、xlsx")),
    ("a.pdf", b"", (None, "附件: 文件「a.pdf」是空的")),
    ("a.pdf", b"%PDF-" + b"0" * MAX_UPLOAD_BYTES, (None, "附件: 文件「a.pdf」超过 5 MB 的上限")),
])
def test_uploads_are_checked_by_extension_first_bytes_and_size(name, content, expected):
    assert check_upload("附件", name, content) == expected
