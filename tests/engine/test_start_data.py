"""Start data that decides a scope: only scopes the starter holds a grant in, or under one (engine/start_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ValidationFailed
from engine.routing import Actor
from engine.start_data import check_start_data, may_route_to, names_read, routing_names

ROOT = Path(__file__).parents[2]
OFFICE = Actor("bj", "宋晓东", frozenset({("办事处", "华北/北京办事处")}))
REGION = Actor("rm_huabei", "罗平", frozenset({("大区经理", "华北")}))
COMPANY = Actor("finance", "赵磊", frozenset({("财务部", "*")}))
ADMIN = Actor("admin", "系统管理员", frozenset({("admin", "*")}))


def _file(path: str) -> bytes:
    return (ROOT / path).read_bytes()


def test_the_names_a_scope_expression_reads():
    assert names_read("office") == {"office"}
    assert names_read("office.split('/')[0]") == {"office"}
    assert names_read("product['product_line']") == {"product"}
    assert names_read("'*'") == set()
    assert names_read("[o['scope'] for o in offices][0]") == {"o", "offices"}  # its own names too: harmless
    assert names_read("office ==") == set()  # deploying refuses such a file before it is ever started


def test_the_names_that_route_in_each_file_lanes_and_handler_scopes():
    assert routing_names(_file("tests/fixtures/approval.bpmn")) == {"office"}
    assert routing_names(_file("bpmn/SM1_1.bpmn")) == {"assist", "plan", "product"}
    assert routing_names(_file("tests/fixtures/parallel.bpmn")) == set()
    # A notify or archive step's `scope` input addresses a scope too (here the only place that reads it).
    notify_only = _file("tests/fixtures/forecast_review.bpmn").replace(
        b'<camunda:property name="smflow:scope" value="office"/>', b"").replace(
        b"""<camunda:property name="smflow:scope" value="office.split('/')[0]"/>""", b"")
    assert b"smflow:scope" not in notify_only
    assert routing_names(notify_only) == {"office"}


def test_a_scope_of_ones_own_or_under_it_is_allowed_nothing_else():
    assert may_route_to(OFFICE, "华北/北京办事处")
    assert may_route_to(OFFICE, "华北/北京办事处/朝阳")      # under the grant
    assert not may_route_to(OFFICE, "华北/北京办事处2")       # a prefix is not a parent
    assert not may_route_to(OFFICE, "华东/上海办事处")        # another office
    assert not may_route_to(OFFICE, "华北")                   # the region above: its people's inbox, not mine
    assert not may_route_to(OFFICE, "*") and not may_route_to(OFFICE, "")  # company-wide ("" is read as "*")
    assert may_route_to(REGION, "华北/天津办事处") and not may_route_to(REGION, "华东/上海办事处")
    assert may_route_to(COMPANY, "华东/上海办事处") and may_route_to(COMPANY, "*")
    for not_a_scope in (None, 3, ["华北/北京办事处"], {"scope": "华北/北京办事处"}):
        assert not may_route_to(COMPANY, not_a_scope)
    assert not may_route_to(ADMIN, "华东/上海办事处")  # the admin grant is no scope; check_start_data lets admins by


def test_a_refusal_names_every_field_its_value_and_the_starters_scopes():
    data = {"office": "华东/上海办事处", "plan": {"region": "华东"}, "product": "华北/北京办事处", "budget": 12.5}
    with pytest.raises(ValidationFailed) as refused:
        check_start_data(data, {"office", "plan", "product", "assist"}, OFFICE)
    assert [p.field for p in refused.value.problems] == ["office", "plan"]
    message = refused.value.message
    assert "初始数据「office」决定任务发往的组织范围, 其值 '华东/上海办事处' 不在您的权限范围内" in message
    assert "「plan」" in message and '{"region": "华东"}' in message
    assert "「product」" not in message and "budget" not in message
    assert "您的范围: 华北/北京办事处" in message


def test_what_passes():
    check_start_data({"office": "华北/北京办事处", "budget": 1}, {"office"}, OFFICE)
    check_start_data({"budget": "华东/上海办事处"}, {"office"}, OFFICE)  # not read by any scope expression
    check_start_data({"office": "华东/上海办事处", "plan": {"region": "华东"}}, {"office", "plan"}, ADMIN)


def test_a_long_value_is_shortened_in_the_message():
    with pytest.raises(ValidationFailed) as refused:
        check_start_data({"office": "华东/" + "很长" * 100}, {"office"}, REGION)
    assert "很…' 不在" in refused.value.message and "很长" * 20 not in refused.value.message
    assert "您的范围: 华北" in refused.value.message
