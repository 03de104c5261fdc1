"""Lanes against the organisation: unnamed and unknown lanes are errors, lanes nobody holds are warnings."""

from __future__ import annotations

from pathlib import Path

from engine.lane_roles import lane_problems
from engine.xml_safety import load_xml

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()
ROLES = {"办事处": "办事处", "大区经理": "大区经理", "销售大区经理": "大区经理", "财务部": "财务部"}


def problems(data: bytes, roles: dict, staffed: set):
    errors, warnings = lane_problems(load_xml(data), roles, staffed)
    return [(p.element_id, p.message) for p in errors], [(p.element_id, p.message) for p in warnings]


def test_lanes_that_name_held_roles_or_aliases_pass():
    aliased = APPROVAL.replace('name="大区经理"'.encode(), 'name="销售大区经理"'.encode())
    assert problems(aliased, ROLES, {"办事处", "大区经理"}) == ([], [])


def test_unnamed_and_unknown_lanes_are_errors_and_only_lanes_with_user_tasks_count():
    data = (APPROVAL.replace('name="办事处"'.encode(), b"")
            .replace('name="大区经理"'.encode(), 'name="区域经理"'.encode())
            .replace('name="财务部"'.encode(), 'name="不存在"'.encode()))  # holds only a service task
    errors, warnings = problems(data, ROLES, {"办事处", "大区经理", "财务部"})
    assert errors == [("lane_office", "泳道没有名称: 泳道名称就是处理其中任务的角色"),
                      ("lane_rm", "泳道「区域经理」不是已知的角色 (已知角色: 办事处、大区经理、财务部)")]
    assert warnings == []


def test_without_an_organisation_only_unheld_lanes_are_reported_as_warnings():
    errors, warnings = problems(APPROVAL.replace('name="大区经理"'.encode(), 'name="区域经理"'.encode()), {},
                                {"办事处"})
    assert errors == []
    assert warnings == [("lane_rm", "泳道「区域经理」的角色 区域经理 目前没有任何用户, 其中的任务将无人处理")]


def test_view_only_processes_are_not_checked():
    view_only = APPROVAL.replace(b'isExecutable="true"', b'isExecutable="false"')
    assert problems(view_only, ROLES, set()) == ([], [])
