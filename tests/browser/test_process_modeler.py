"""The process owner's modeler: edit SM1.3 through the properties panel, validate, find a problem, deploy v2;
the SM2.1 story: rename a step and add a field, a broken condition blocks the deploy, version 2, compare,
migrate a running instance, and a new instance shows the new field."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.security import generate_password_hash

from engine.store import definitions, instances, tasks
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
    # the count is said once, with what to do about it
    expect(page.locator("#modeler-status")).to_have_text("文件中有 1 处引擎无法执行的内容 — 改正后才能部署")
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


ARTIFACTS = Path(__file__).parent / "artifacts"
SM2_1_TASK = "1 渠道调研与客户接触"


def artifact(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def versions_of(demo, process_id: str) -> list[int]:
    return demo.tx(lambda s: [d.version for d in definitions.all_versions(s) if d.process_id == process_id])


def test_owner_changes_sm2_1_deploys_version_2_and_migrates_a_running_instance(page, demo):
    engine = demo.services.engine
    before = demo.tx(lambda s: engine.start(s, "SM2_1", "sales_dev", {}, None, "2027 渠道拓展 (旧版)"))
    log_in(page, demo.url, "sales_dev")  # 销售拓展部: the owner of SM2.x
    page.click("nav >> text=流程与版本")
    page.click("#process-SM2_1 tr[data-version='1'] a.edit-link")
    page.wait_for_url(demo.url + "/processes/SM2_1/1/edit")
    modeler = page.locator("#modeler-page")
    expect(modeler).to_have_attribute("data-state", "ready", timeout=15_000)

    # 1. rename step 1 and add a field to its form, in the properties panel; then check and save a copy
    page.locator(".djs-element.djs-shape[data-element-id='Task_1']").click()
    open_group(page, "general")
    page.locator("#bio-properties-panel-name").fill(SM2_1_TASK)
    expect(page.locator(".djs-element[data-element-id='Task_1']")).to_contain_text("客户接触")
    open_group(page, "CamundaPlatform__FormData")
    fields = page.locator("#modeler-properties [data-group-id='group-CamundaPlatform__FormData']")
    fields.locator(".bio-properties-panel-group-header .bio-properties-panel-add-entry").click()
    page.locator("#bio-properties-panel-Task_1-formField-3-formFieldID").fill("visit_count")
    page.locator("#bio-properties-panel-Task_1-formField-3-formFieldLabel").fill("拜访客户数")
    page.locator("#bio-properties-panel-Task_1-formField-3-formFieldType").select_option("long")
    page.wait_for_function("() => window.smflowModeler.get('elementRegistry').get('Task_1').businessObject"
                           ".extensionElements.values.find(v => v.$type === 'camunda:FormData').fields"
                           ".some(f => f.id === 'visit_count' && f.label === '拜访客户数' && f.type === 'long')")
    artifact(page, "30_sm2_1_new_field")
    page.click("#modeler-validate")
    expect(page.locator("#modeler-status")).to_contain_text("校验通过")
    with page.expect_download() as download:
        page.click("#modeler-download")
    saved = download.value.path().read_text(encoding="utf-8")
    assert SM2_1_TASK in saved and 'id="visit_count"' in saved

    # 2. a broken condition: an error at that flow (marker and badge) and in the list; nothing deploys
    flow = "Flow_Gateway_8_Task_9"
    select(page, flow)
    open_group(page, "CamundaPlatform__Condition")
    condition = page.locator("#bio-properties-panel-conditionExpression")
    expect(condition).to_have_value("len(rejected_customers) > 0")
    condition.fill("len(rejected_customers) >")
    page.wait_for_function(f"() => window.smflowModeler.get('elementRegistry').get('{flow}')"
                           ".businessObject.conditionExpression.body === 'len(rejected_customers) >'")
    select(page, None)
    page.click("#modeler-deploy")
    expect(page.locator("#modeler-status")).to_contain_text("未部署")
    problems = page.locator("#modeler-problems li")
    expect(problems).to_have_count(1)
    expect(problems.first).to_contain_text(flow)
    expect(problems.first).to_contain_text("条件")
    expect(page.locator(f".djs-element.smflow-problem[data-element-id='{flow}']")).to_have_count(1)
    expect(page.locator(f".smflow-badge.error[data-element-id='{flow}']")).to_be_visible()
    problems.first.locator("button.problem-element").click()
    assert selected(page) == [flow]
    artifact(page, "31_sm2_1_broken_condition_blocks_deploy")
    assert versions_of(demo, "SM2_1") == [1]

    # 3. fixed, it deploys as version 2
    condition.fill("len(rejected_customers) > 0")
    page.wait_for_function(f"() => window.smflowModeler.get('elementRegistry').get('{flow}')"
                           ".businessObject.conditionExpression.body === 'len(rejected_customers) > 0'")
    page.click("#modeler-deploy")
    result = page.locator("#modeler-status .deploy-result")
    expect(result).to_contain_text("SM2_1 第 2 版: 已部署")
    expect(page.locator(".djs-element.smflow-problem")).to_have_count(0)
    assert versions_of(demo, "SM2_1") == [1, 2]
    artifact(page, "32_sm2_1_deployed_v2")

    # the two versions side by side, the changed step marked on both
    result.locator("a", has_text="对比上一版").click()
    page.wait_for_url(demo.url + "/processes/SM2_1/compare?a=1&b=2")
    for side in ("left", "right"):
        expect(page.locator(f"#compare-{side}")).to_have_attribute("data-state", "ready", timeout=15_000)
        expect(page.locator(f"#compare-{side} .djs-element.smflow-changed[data-element-id='Task_1']")).to_have_count(1)
    expect(page.locator("#diff-changed li[data-element-id='Task_1']")).to_contain_text("表单、名称")
    artifact(page, "33_sm2_1_compare_v1_v2")

    # 4. the instance started before still runs on version 1 and can be migrated (dry run first)
    assert demo.tx(lambda s: instances.get(s, before).version) == 1
    page.click("nav >> text=流程与版本")
    expect(page.locator("#process-SM2_1 tr[data-version='1'] td.running")).to_have_text("1")
    page.click("#process-SM2_1 a.migrate-link")
    page.wait_for_url(demo.url + "/processes/SM2_1/migrate")
    row = page.locator(f"#plan-{before}")
    expect(row).to_contain_text("v1 → v2")
    expect(row).to_contain_text("可以迁移")
    artifact(page, "34_sm2_1_migration_dry_run")
    row.locator("button.migrate-one").click()
    expect(page.locator(".alert.success")).to_contain_text(f"已将 1 个实例迁移到第 2 版: {before}")
    assert demo.tx(lambda s: instances.get(s, before).version) == 2
    moved = demo.tx(lambda s: tasks.active_for_instance(s, before)[0])
    assert moved.name == SM2_1_TASK and "visit_count" in [f["id"] for f in moved.form["fields"]]
    artifact(page, "35_sm2_1_migrated")

    # 5. a new instance runs version 2 and its step 1 shows the new field
    page.goto(demo.url + "/processes/SM2_1/start")
    page.fill("#business_key", "2027 渠道拓展 (新版)")
    page.click("form.task-form button.primary")
    page.wait_for_url(demo.url + "/instances/*")
    new_id = int(page.url.rsplit("/", 1)[1])
    assert demo.tx(lambda s: instances.get(s, new_id).version) == 2
    task_id = demo.tx(lambda s: tasks.active_for_instance(s, new_id)[0].id)
    page.goto(demo.url + f"/tasks/{task_id}")
    expect(page.locator("h1")).to_contain_text(SM2_1_TASK)
    expect(page.locator("label", has_text="拜访客户数")).to_be_visible()
    artifact(page, "36_sm2_1_new_instance_new_field")


def test_the_smflow_group_edits_step_scope_due_topic_and_owner(page, demo):
    log_in(page, demo.url, "sales_dev")
    page.goto(demo.url + "/processes/SM2_1/1/edit")
    expect(page.locator("#modeler-page")).to_have_attribute("data-state", "ready", timeout=15_000)
    # deploying the diagram unedited (the modeler writes its own XML) makes no new version, and says so
    page.click("#modeler-deploy")
    expect(page.locator("#modeler-status .deploy-result[data-status='unchanged']")).to_contain_text(
        "SM2_1: 与第 1 版内容相同, 未生成新版本")
    assert versions_of(demo, "SM2_1") == [1]
    group = page.locator("#modeler-properties [data-group-id='group-smflow']")

    # a user task: step, scope, due — right after 常规
    select(page, "Task_3")
    expect(group.locator(".bio-properties-panel-group-header-title")).to_have_text("smflow 设置")
    ids = page.eval_on_selector_all("#modeler-properties [data-group-id]", "els => els.map(e => e.dataset.groupId)")
    assert ids[:2] == ["group-general", "group-smflow"]
    open_group(page, "smflow")
    expect(page.locator("#bio-properties-panel-smflow-step")).to_have_value("3")
    expect(page.locator("#bio-properties-panel-smflow-scope")).to_have_value("customer['scope']")
    page.locator("#bio-properties-panel-smflow-due").fill("'P5D'")
    page.wait_for_function("() => window.smflowModeler.get('elementRegistry').get('Task_3').businessObject"
                           ".extensionElements.values.filter(v => v.$type === 'camunda:Properties')"
                           ".some(l => l.values.some(p => p.name === 'smflow:due' && p.value === \"'P5D'\"))")

    # a service task: the handler is chosen from the registered topics
    select(page, "Task_11")
    open_group(page, "smflow")
    topic = page.locator("#bio-properties-panel-smflow-topic")
    expect(topic).to_have_value("archive")
    options = topic.locator("option").all_inner_texts()
    assert options[0] == "— 请选择 —" and sorted(options[1:]) == sorted(demo.services.engine.handlers.topics)
    topic.select_option("notify")
    chosen = business_value(page, "Task_11", "bo.get('camunda:topic') + ' ' + bo.get('camunda:type')")
    assert chosen == "notify external"

    # a task without a step gets one (extension elements created as needed)
    select(page, "Script_prepare")
    open_group(page, "smflow")
    page.locator("#bio-properties-panel-smflow-step").fill("2a")
    page.wait_for_function("() => (window.smflowModeler.get('elementRegistry').get('Script_prepare').businessObject"
                           ".extensionElements || {values: []}).values.some(v => v.$type === 'camunda:Properties'"
                           " && v.values.some(p => p.name === 'smflow:step' && p.value === '2a'))")

    # the process (its pool): its owner
    select(page, "Participant_SM2_1")
    open_group(page, "smflow")
    expect(page.locator("#bio-properties-panel-smflow-owner")).to_have_value("销售拓展部")
    page.screenshot(path=str(ARTIFACTS / "37_smflow_group_owner.png"))

    page.click("#modeler-validate")
    expect(page.locator("#modeler-status")).to_contain_text("校验通过")
    xml = page.evaluate("async () => (await window.smflowModeler.saveXML({ format: true })).xml")
    assert '<camunda:property name="smflow:due" value="&#39;P5D&#39;" />' in xml or "smflow:due" in xml
    assert 'camunda:topic="notify"' in xml and '<camunda:property name="smflow:step" value="2a" />' in xml
