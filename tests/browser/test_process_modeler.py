"""The process owner's modeler: edit SM1.3 through the properties panel, validate, find a problem, deploy v2."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.security import generate_password_hash

from web.demo import demo_data, deploy_manual, load_organisation

BROKEN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="Definitions_b" targetNamespace="http://smflow/bpmn">
  <bpmn:process id="Broken" name="坏流程" isExecutable="true">
    <bpmn:startEvent id="Start_1"/>
    <bpmn:serviceTask id="Service_1" name="归档" camunda:type="external" camunda:topic="nowhere"/>
    <bpmn:exclusiveGateway id="Gateway_1" default="Flow_3"/>
    <bpmn:endEvent id="End_1"/>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Service_1"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Service_1" targetRef="Gateway_1"/>
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Gateway_1" targetRef="End_1"/>
    <bpmn:sequenceFlow id="Flow_4" name="危险" sourceRef="Gateway_1" targetRef="End_1">
      <bpmn:conditionExpression>__import__('os').system('id')</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_b">
    <bpmndi:BPMNPlane id="Plane_b" bpmnElement="Broken">
      <bpmndi:BPMNShape id="Start_1_di" bpmnElement="Start_1">
        <dc:Bounds x="100" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Service_1_di" bpmnElement="Service_1">
        <dc:Bounds x="190" y="78" width="100" height="80"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Gateway_1_di" bpmnElement="Gateway_1">
        <dc:Bounds x="345" y="93" width="50" height="50"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="End_1_di" bpmnElement="End_1">
        <dc:Bounds x="452" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_1_di" bpmnElement="Flow_1">
        <di:waypoint x="136" y="118"/>
        <di:waypoint x="190" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_2_di" bpmnElement="Flow_2">
        <di:waypoint x="290" y="118"/>
        <di:waypoint x="345" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_3_di" bpmnElement="Flow_3">
        <di:waypoint x="395" y="118"/>
        <di:waypoint x="452" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_4_di" bpmnElement="Flow_4">
        <di:waypoint x="370" y="143"/>
        <di:waypoint x="370" y="200"/>
        <di:waypoint x="470" y="200"/>
        <di:waypoint x="470" y="136"/>
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
BUNDLE = Path(__file__).parents[2] / "web" / "static" / "build" / "modeler" / "modeler.js"
FLOW = "Flow_Gateway_4_Task_3"  # 区内审核是否全部通过? → 不通过 (back to step 3), a Python condition
NEW_NAME = "1 掌握客户库存及要货计划 (含新品)"


@pytest.fixture
def demo(live, monkeypatch, clock):
    """The demo organisation (every password demo123) and the five processes of the manual."""
    if not BUNDLE.exists():
        pytest.fail("the modeler is not bundled: run `npm ci` (its postinstall runs esbuild)", pytrace=False)
    monkeypatch.setattr("web.demo.generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))
    live.tx(lambda s: load_organisation(s, demo_data(), clock.now()))
    live.tx(lambda s: deploy_manual(s, live.services.engine, "admin", lambda _m: None))
    return live


def log_in(page, url: str, login: str) -> None:
    page.goto(url + "/auth/login")
    page.fill("#login", login)
    page.fill("#password", "demo123")
    page.click("form button.primary")
    page.wait_for_url(url + "/")


def select(page, element_id: str) -> None:
    page.evaluate("id => { const m = window.smflowModeler;"
                  " m.get('selection').select(id ? m.get('elementRegistry').get(id) : []); }", element_id)


def selected(page) -> list[str]:
    return page.evaluate("() => window.smflowModeler.get('selection').get().map(e => e.id)")


def business_value(page, element_id: str, expression: str):
    return page.evaluate(f"id => {{ const bo = window.smflowModeler.get('elementRegistry').get(id).businessObject;"
                         f" return {expression}; }}", element_id)


def open_group(page, group: str) -> None:
    header = page.locator(f"#modeler-properties [data-group-id='group-{group}'] .bio-properties-panel-group-header")
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def test_owner_edits_validates_and_deploys_a_new_version(page, demo, shot):
    log_in(page, demo.url, "planning")  # 张志强, 计划部: the owner of SM1.3
    page.click("nav >> text=流程与版本")
    page.click("#process-SM1_3 a.edit-link")
    page.wait_for_url(demo.url + "/processes/SM1_3/1/edit")
    modeler = page.locator("#modeler-page")
    expect(modeler).to_have_attribute("data-state", "ready", timeout=15_000)
    expect(page.locator("h1")).to_have_text("编辑流程: SM1.3 月度销售计划制定流程 第 1 版")
    expect(page.locator("#modeler-status")).to_have_text("没有未保存的修改")
    expect(page.locator("#modeler-properties .bio-properties-panel")).to_be_visible()
    expect(page.locator(".djs-palette")).to_be_visible()

    # rename step 1 through the properties panel: click the task, edit 常规 → 名称
    page.locator(".djs-element.djs-shape[data-element-id='Task_1']").click()
    expect(page.locator(".bio-properties-panel-header-type")).to_have_text("用户任务")
    open_group(page, "general")
    name = page.locator("#bio-properties-panel-name")
    expect(name).to_have_value("1 掌握客户库存及要货计划")
    name.fill(NEW_NAME)
    expect(page.locator(".djs-element[data-element-id='Task_1']")).to_contain_text("含新品")
    expect(modeler).to_have_attribute("data-dirty", "true")
    expect(page.locator("#modeler-status")).to_have_text("有未保存的修改")
    # the Camunda 7 groups the manual's processes use are there: forms, extension properties, multi-instance
    for group in ("CamundaPlatform__Form", "CamundaPlatform__FormData", "CamundaPlatform__ExtensionProperties",
                  "multiInstance"):
        expect(page.locator(f"#modeler-properties [data-group-id='group-{group}']")).to_be_visible()
    open_group(page, "multiInstance")
    collection = business_value(page, "Task_1", "bo.loopCharacteristics.get('camunda:collection')")
    assert collection
    expect(page.locator("#bio-properties-panel-collection")).to_have_value(collection)
    open_group(page, "CamundaPlatform__FormData")
    fields = page.locator("#modeler-properties [data-group-id='group-CamundaPlatform__FormData']")
    expect(fields).to_contain_text("表单字段")
    field_ids = business_value(page, "Task_1", "bo.extensionElements.values.find(v => v.$type === 'camunda:FormData')"
                                               ".fields.map(f => f.id)")
    assert field_ids
    expect(fields.locator(".bio-properties-panel-collapsible-entry-header-title").first).to_have_text(field_ids[0])
    for group in ("general", "multiInstance"):  # folded again, so the screenshot shows the form fields
        page.click(f"#modeler-properties [data-group-id='group-{group}'] .bio-properties-panel-group-header")
    fields.locator(".bio-properties-panel-collapsible-entry-header").first.click()
    shot(page, "20_modeler_sm1_3_panel")
    # lanes are the roles: their names are edited in the same 常规 group
    select(page, "Lane_SM1_3_1")
    open_group(page, "general")
    expect(page.locator(".bio-properties-panel-header-type")).to_have_text("泳道")
    expect(page.locator("#bio-properties-panel-name")).to_have_value("办事处")

    page.click("#modeler-validate")
    expect(page.locator("#modeler-status")).to_have_text("校验通过, 没有发现问题")
    expect(page.locator("#modeler-problems")).to_be_hidden()

    # a gateway condition that imports a module: the server's sandbox check names the flow
    select(page, FLOW)
    open_group(page, "CamundaPlatform__Condition")
    condition = page.locator("#bio-properties-panel-conditionExpression")
    expect(condition).to_have_value("len(returned_regions) > 0")
    condition.fill("import os")
    page.wait_for_function(f"() => window.smflowModeler.get('elementRegistry').get('{FLOW}')"
                           ".businessObject.conditionExpression.body === 'import os'")
    select(page, None)
    page.click("#modeler-validate")
    problems = page.locator("#modeler-problems li")
    expect(problems).to_have_count(1)
    expect(problems.first).to_contain_text(FLOW)
    expect(problems.first).to_contain_text("沙箱")
    expect(page.locator(f".djs-element.smflow-problem[data-element-id='{FLOW}']")).to_have_count(1)
    assert selected(page) == []
    problems.first.locator("button.problem-element").click()
    assert selected(page) == [FLOW]
    expect(page.locator(".bio-properties-panel-header-label")).to_have_text("不通过")
    shot(page, "21_modeler_problem_selected")

    condition.fill("len(returned_regions) > 0")
    page.click("#modeler-validate")
    expect(page.locator("#modeler-status")).to_have_text("校验通过, 没有发现问题")
    expect(page.locator("#modeler-problems")).to_be_hidden()
    expect(page.locator(".djs-element.smflow-problem")).to_have_count(0)

    # leaving with unsaved changes asks first (dismissed: the page stays)
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.click("nav >> text=流程与版本", no_wait_after=True)
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    assert page.url == demo.url + "/processes/SM1_3/1/edit"

    with page.expect_download() as download:
        page.click("#modeler-download")
    assert download.value.suggested_filename == "SM1_3.bpmn"
    saved = download.value.path().read_text(encoding="utf-8")
    assert NEW_NAME in saved and "len(returned_regions) &gt; 0" in saved

    page.click("#modeler-deploy")
    result = page.locator("#modeler-status .deploy-result")
    expect(result).to_contain_text("SM1_3 第 2 版: 已部署")
    expect(modeler).to_have_attribute("data-dirty", "false")
    shot(page, "22_modeler_deployed")

    result.locator("a", has_text="查看流程图").click()
    page.wait_for_url(demo.url + "/processes/SM1_3/2/diagram")
    expect(page.locator("#diagram")).to_have_attribute("data-state", "ready", timeout=15_000)
    expect(page.locator("#diagram .djs-element[data-element-id='Task_1']")).to_contain_text("含新品")
    page.click("nav >> text=流程与版本")
    versions = page.locator("#process-SM1_3 table.versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("v2")
    expect(versions.first).to_contain_text("张志强")
    shot(page, "23_processes_sm1_3_v2")


def test_admin_starts_a_new_process_in_the_modeler(page, demo, shot, login):
    login(page, "admin")  # seeded before the demo data, with the test password
    page.click("nav >> text=流程与版本")
    page.click("#new-process")
    page.wait_for_url(demo.url + "/processes/new/edit")
    expect(page.locator("#modeler-page")).to_have_attribute("data-state", "ready", timeout=15_000)
    expect(page.locator(".djs-element[data-element-id='Start_new']")).to_have_count(1)
    expect(page.locator("h1")).to_have_text("新建流程")
    page.click("#modeler-validate")
    expect(page.locator("#modeler-status")).to_have_text("校验通过, 没有发现问题")
    # a broken file loaded into the modeler: every problem is listed, those with an element are clickable
    page.evaluate("xml => window.smflowModeler.importXML(xml)", BROKEN)
    page.click("#modeler-validate")
    problems = page.locator("#modeler-problems li")
    expect(problems).to_have_count(2)
    expect(page.locator("#modeler-problems")).to_contain_text("没有名为 'nowhere' 的处理程序")
    expect(page.locator("#modeler-problems")).to_contain_text("条件被沙箱拒绝")
    expect(page.locator(".djs-element.smflow-problem")).to_have_count(2)
    page.locator("#modeler-problems button[data-element-id='Service_1']").click()
    assert selected(page) == ["Service_1"]
    shot(page, "24_modeler_broken_file")
    # deploying it is refused with the same list
    page.click("#modeler-deploy")
    expect(page.locator("#modeler-status")).to_contain_text("未部署")
    expect(problems).to_have_count(2)
