"""Form validation: every problem per field, nothing accepted on error."""

import pytest
from lxml import etree

from engine.errors import ValidationFailed
from engine.forms import parse_columns, parse_form, validate_submission
from engine.sandbox import Sandbox

FORM = {"fields": [
    {"id": "amount", "type": "double", "label": "金额", "required": True, "min": 0, "max": 100},
    {"id": "boxes", "type": "long", "label": "箱数"},
    {"id": "name", "type": "string", "label": "名称", "minlength": 2, "maxlength": 5},
    {"id": "rating", "type": "enum", "label": "资信等级",
     "options": [{"id": "A", "name": "A 级"}, {"id": "B", "name": "B 级"}]},
    {"id": "on", "type": "date", "label": "日期"},
    {"id": "ok", "type": "boolean", "label": "确认"},
    {"id": "decision", "type": "enum", "label": "结论",
     "options": [{"id": "approve", "name": "批准"}, {"id": "reject", "name": "不通过"}]},
    {"id": "comment", "type": "text", "label": "意见", "required_if": "decision == 'reject'"},
    {"id": "fixed", "type": "string", "label": "只读", "readonly": True},
    {"id": "rows", "type": "table", "label": "预测", "columns": [
        {"id": "product", "type": "string", "label": "产品", "required": True},
        {"id": "qty", "type": "long", "label": "数量(箱)", "required": False}]},
]}


def check(data, context=None):
    return validate_submission(FORM, data, context or {}, Sandbox())


def test_valid_values_are_converted_to_their_types():
    clean = check({"amount": "12.5", "boxes": "3", "name": "华北", "rating": "A", "on": "2027-04-10", "ok": "on",
                   "decision": "approve", "rows": [{"product": "心脑血管", "qty": "40"}]})
    assert clean["amount"] == 12.5 and clean["boxes"] == 3 and clean["ok"] is True
    assert clean["rows"] == [{"product": "心脑血管", "qty": 40}]


def test_every_problem_is_reported_per_field():
    with pytest.raises(ValidationFailed) as caught:
        check({"amount": 101, "boxes": "1.5", "name": "x", "rating": "E", "on": "10/04/2027", "decision": "reject",
               "rows": [{"product": "", "qty": "many"}], "unknown": 1})
    fields = {p.field for p in caught.value.problems}
    assert fields == {"amount", "boxes", "name", "rating", "on", "comment", "rows[0].product", "rows[0].qty",
                      "unknown"}
    messages = {p.field: p.message for p in caught.value.problems}
    assert "不能大于 100" in messages["amount"]
    assert "A 级" in messages["rating"]
    assert messages["comment"] == "意见: 必填"


def test_required_field_missing():
    with pytest.raises(ValidationFailed) as caught:
        check({})
    assert [p.field for p in caught.value.problems] == ["amount"]


def test_comment_is_optional_on_approve_and_readonly_fields_are_ignored():
    clean = check({"amount": 1, "decision": "approve", "fixed": "tampered"})
    assert "fixed" not in clean
    assert clean["comment"] is None and clean["rows"] == []  # empty optional answers are still answers


def test_a_table_must_be_a_list_of_rows():
    with pytest.raises(ValidationFailed) as caught:
        check({"amount": 1, "rows": "not a table"})
    assert caught.value.problems[0].field == "rows"


def test_booleans_are_not_numbers():
    with pytest.raises(ValidationFailed):
        check({"amount": True})


def test_form_definition_is_read_from_camunda_form_data():
    node = etree.fromstring("""<userTask xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
        xmlns:camunda="http://camunda.org/schema/1.0/bpmn"><extensionElements><camunda:formData>
        <camunda:formField id="grade" label="Grade" type="enum"><camunda:value id="A" name="A"/></camunda:formField>
        <camunda:formField id="t" type="table"><camunda:properties>
          <camunda:property id="columns" value="p:string:产品!;q:long:数量"/>
          <camunda:property id="rows" value="[{'p': x} for x in items]"/></camunda:properties></camunda:formField>
        <camunda:formField id="n" type="long"><camunda:validation><camunda:constraint name="min" config="abc"/>
        </camunda:validation></camunda:formField>
        <camunda:formField id="m" type="money"/>
        </camunda:formData></extensionElements></userTask>""".encode())
    form, problems = parse_form(node)
    assert [f["id"] for f in form["fields"]] == ["grade", "t", "n"]
    assert form["fields"][1]["columns"][0] == {"id": "p", "type": "string", "label": "产品", "required": True}
    assert form["fields"][1]["rows"].startswith("[{")
    assert len(problems) == 2


def test_bad_column_definitions_are_explained():
    with pytest.raises(ValueError) as caught:
        parse_columns("p:money:金额")
    assert "money" in str(caught.value)


def test_fixed_columns_keep_the_given_values_and_rows():
    columns = parse_columns("region:string:大区!#;target:double:目标(万元)!")
    assert columns[0] == {"id": "region", "type": "string", "label": "大区", "required": True, "fixed": True}
    form = {"fields": [{"id": "targets", "type": "table", "label": "区域目标", "columns": columns}]}
    given = {"targets": [{"region": "华北"}, {"region": "华东"}]}
    clean = validate_submission(form, {"targets": [{"region": "改名", "target": 10}, {"target": "20"}]}, {},
                                Sandbox(), given)
    assert clean["targets"] == [{"region": "华北", "target": 10.0}, {"region": "华东", "target": 20.0}]
    with pytest.raises(ValidationFailed) as caught:
        validate_submission(form, {"targets": [{"target": 10}]}, {}, Sandbox(), given)
    assert "不能增减" in caught.value.problems[0].message
    for emptied in ({"targets": []}, {}):  # nor can every given row be dropped by leaving the table out
        with pytest.raises(ValidationFailed) as caught:
            validate_submission(form, emptied, {}, Sandbox(), given)
        assert [(p.field, p.message) for p in caught.value.problems] == [
            ("targets", "区域目标: 应有 2 行 (各行由流程给定, 不能增减)")]
    assert validate_submission(form, {}, {}, Sandbox(), {"targets": []}) == {"targets": []}  # none given: none due
