"""The fidelity check: each step of the manual is one node, in its role's lane, named as in the manual."""

from importlib import resources

import pytest
from lxml import etree

from engine.fidelity import LintProblem, lint_bpmn, load_step_table

PROCESSES = ["SM1_1", "SM1_2", "SM1_3", "SM2_1", "SM2_2"]
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "camunda": "http://camunda.org/schema/1.0/bpmn"}


def _xml(pid: str) -> bytes:
    return resources.files("bpmn").joinpath(f"{pid}.bpmn").read_bytes()


def _step_node(root, step: str):
    (prop,) = root.xpath(
        f"//bpmn:process//camunda:property[@name='smflow:step'][@value='{step}']", namespaces=NS
    )
    return prop.getparent().getparent().getparent()


def _lane(root, name: str):
    (lane,) = root.xpath(f"//bpmn:lane[@name='{name}']", namespaces=NS)
    return lane


def _move_to_lane(root, node_id: str, lane_name: str) -> None:
    (ref,) = root.xpath(f"//bpmn:lane/bpmn:flowNodeRef[text()='{node_id}']", namespaces=NS)
    ref.getparent().remove(ref)
    etree.SubElement(_lane(root, lane_name), f"{{{NS['bpmn']}}}flowNodeRef").text = node_id


@pytest.fixture(scope="module")
def table():
    return load_step_table()


def test_step_table_lists_the_five_processes(table):
    assert set(PROCESSES) <= set(table)
    assert [s["step"] for s in table["SM1_1"]["steps"]] == [str(i) for i in range(1, 33)]
    assert table["SM1_3"]["owner"] == "计划部"
    assert {"step": "12", "role": "销售总监", "name": "分解区域销售目标", "reconstructed": False}.items() <= (
        table["SM1_1"]["steps"][11].items()
    )


@pytest.mark.parametrize("pid", PROCESSES)
def test_shipped_file_follows_the_manual(pid, table):
    assert lint_bpmn(_xml(pid), table) == []


@pytest.mark.parametrize("pid", PROCESSES)
def test_every_table_role_is_a_lane_of_the_file(pid, table):
    root = etree.fromstring(_xml(pid))
    lanes = {lane.get("name") for lane in root.iter(f"{{{NS['bpmn']}}}lane")}
    assert {s["role"] for s in table[pid]["steps"]} <= lanes
    assert [lane for lane in table[pid]["lanes"]] == [
        lane.get("name") for lane in root.iter(f"{{{NS['bpmn']}}}lane")
    ]


def test_default_table_is_the_shipped_one():
    assert lint_bpmn(_xml("SM1_3")) == []


def test_removed_step_is_reported(table):
    root = etree.fromstring(_xml("SM1_1"))
    node = _step_node(root, "12")
    node.getparent().remove(node)
    problems = lint_bpmn(etree.tostring(root), table)
    assert [(p.process_id, p.step, p.element_id) for p in problems] == [("SM1_1", "12", None)]
    assert "缺失" in problems[0].message and "销售总监" in problems[0].message


def test_step_in_the_wrong_lane_is_reported(table):
    root = etree.fromstring(_xml("SM1_3"))
    node = _step_node(root, "4")
    _move_to_lane(root, node.get("id"), "计划部")
    problems = lint_bpmn(etree.tostring(root), table)
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.process_id, problem.step, problem.element_id) == ("SM1_3", "4", node.get("id"))
    assert "计划部" in problem.message and "大区经理" in problem.message


def test_node_in_no_lane_is_reported(table):
    root = etree.fromstring(_xml("SM1_2"))
    node = _step_node(root, "3")
    (ref,) = root.xpath(f"//bpmn:flowNodeRef[text()='{node.get('id')}']", namespaces=NS)
    ref.getparent().remove(ref)
    problems = lint_bpmn(etree.tostring(root), table)
    assert [(p.step, p.element_id) for p in problems] == [("3", node.get("id"))]
    assert "不在任何泳道" in problems[0].message


def test_duplicated_step_number_is_reported(table):
    root = etree.fromstring(_xml("SM2_1"))
    other = _step_node(root, "5")
    (prop,) = other.xpath(
        "bpmn:extensionElements/camunda:properties/camunda:property[@name='smflow:step']", namespaces=NS
    )
    prop.set("value", "6")
    problems = lint_bpmn(etree.tostring(root), table)
    dup = [p for p in problems if p.step == "6"]
    assert len(dup) == 2 and all("重复" in p.message for p in dup)
    assert {p.element_id for p in dup} == {other.get("id"), "Task_6"}
    missing = [p for p in problems if p.step == "5"]
    assert len(missing) == 1 and "缺失" in missing[0].message


def test_renamed_step_is_reported(table):
    root = etree.fromstring(_xml("SM2_2"))
    node = _step_node(root, "9")
    node.set("name", "9 调整客户等级")
    problems = lint_bpmn(etree.tostring(root), table)
    assert [(p.step, p.element_id) for p in problems] == [("9", node.get("id"))]
    assert "与手册不符" in problems[0].message and "9 确定客户资信调整" in problems[0].message


def test_name_without_step_number_is_reported(table):
    root = etree.fromstring(_xml("SM2_2"))
    node = _step_node(root, "9")
    node.set("name", "确定客户资信调整")
    problems = lint_bpmn(etree.tostring(root), table)
    assert [(p.step, p.element_id) for p in problems] == [("9", node.get("id"))]
    assert "必须以步骤号和空格开头" in problems[0].message


def test_missing_step_property_is_reported(table):
    root = etree.fromstring(_xml("SM1_2"))
    node = _step_node(root, "7")
    (prop,) = node.xpath(
        "bpmn:extensionElements/camunda:properties/camunda:property[@name='smflow:step']", namespaces=NS
    )
    prop.getparent().remove(prop)
    problems = lint_bpmn(etree.tostring(root), table)
    assert [(p.step, p.element_id) for p in problems] == [("7", node.get("id"))]
    assert "smflow:step" in problems[0].message


def test_step_not_in_the_manual_is_reported(table):
    root = etree.fromstring(_xml("SM1_2"))
    node = _step_node(root, "7")
    (prop,) = node.xpath(
        "bpmn:extensionElements/camunda:properties/camunda:property[@name='smflow:step']", namespaces=NS
    )
    prop.set("value", "99")
    node.set("name", "99 额外步骤")
    problems = lint_bpmn(etree.tostring(root), table)
    assert sorted(p.step for p in problems) == ["7", "99"]


def test_unknown_process_is_not_checked(table):
    xml = _xml("SM1_2").replace(b'"SM1_2"', b'"OTHER"')
    assert lint_bpmn(xml, table) == []


def test_unparsable_file_is_one_problem(table):
    problems = lint_bpmn(b"<bpmn:definitions", table)
    assert len(problems) == 1 and problems[0].process_id is None


def test_problems_are_frozen_values():
    problem = LintProblem("SM1_1", "1", "Task_1", "x")
    with pytest.raises(AttributeError):
        problem.step = "2"
    assert problem == LintProblem("SM1_1", "1", "Task_1", "x")
