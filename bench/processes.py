"""The benchmark's synthetic processes (BPMN text) and a form filler that answers any smflow form.

All user tasks are in one lane, 计划部, so one benchmark user may do every step.
"""

from __future__ import annotations

STEPS = 20
LANE = "计划部"
_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="{pid}_defs" targetNamespace="http://smflow/bench">"""


def _user_task(task_id: str, step: int, field: str, extra: str = "", loop: str = "", scope: str | None = None) -> str:
    scoped = f'<camunda:property name="smflow:scope" value="{scope}"/>' if scope else ""
    return f"""<bpmn:userTask id="{task_id}" name="{step} 第{step}步">
      <bpmn:extensionElements><camunda:properties><camunda:property name="smflow:step" value="{step}"/>{scoped}
      </camunda:properties><camunda:formData><camunda:formField id="{field}" label="数值" type="long">
      <camunda:validation><camunda:constraint name="required"/></camunda:validation></camunda:formField>
      </camunda:formData></bpmn:extensionElements>{extra}{loop}</bpmn:userTask>"""


def _process(pid: str, name: str, nodes: list[str], flows: list[str], refs: list[str]) -> bytes:
    lane = "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in refs)
    return (_HEAD.format(pid=pid) + f"""
  <bpmn:process id="{pid}" name="{name}" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="{LANE}">{lane}</bpmn:lane></bpmn:laneSet>
    {''.join(nodes)}
    {''.join(flows)}
  </bpmn:process>
</bpmn:definitions>""").encode()


def sequential(steps: int = STEPS, scope: str | None = None, field: str | None = None) -> bytes:
    """`steps` user tasks in a row, one required number each (`v1`, `v2`, … or all `field`): process `bench20`.

    `scope`: an expression giving every task's scope."""
    nodes, flows, refs = ['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>'], [], ["start", "end"]
    previous = "start"
    for n in range(1, steps + 1):
        nodes.append(_user_task(f"t{n}", n, field or f"v{n}", scope=scope))
        flows.append(f'<bpmn:sequenceFlow id="f{n}" sourceRef="{previous}" targetRef="t{n}"/>')
        refs.append(f"t{n}")
        previous = f"t{n}"
    flows.append(f'<bpmn:sequenceFlow id="f_end" sourceRef="{previous}" targetRef="end"/>')
    return _process("bench20", f"{steps} 步顺序流程", nodes, flows, refs)


def multi_instance() -> bytes:
    """One parallel multi-instance user task over the start data's `items`, then one closing task: `bench_mi`."""
    loop = '<bpmn:multiInstanceLoopCharacteristics camunda:collection="items" camunda:elementVariable="item"/>'
    nodes = ['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>',
             _user_task("each", 1, "answer", loop=loop), _user_task("close", 2, "total")]
    flows = ['<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="each"/>',
             '<bpmn:sequenceFlow id="f2" sourceRef="each" targetRef="close"/>',
             '<bpmn:sequenceFlow id="f3" sourceRef="close" targetRef="end"/>']
    return _process("bench_mi", "多实例", nodes, flows, ["start", "end", "each", "close"])


def loop() -> bytes:
    """One user task taken again while its answer `round` is below the start data's `rounds`: `bench_loop`."""
    nodes = ['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>', _user_task("again", 1, "round"),
             '<bpmn:exclusiveGateway id="more" default="f_done"/>']
    flows = ['<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="again"/>',
             '<bpmn:sequenceFlow id="f2" sourceRef="again" targetRef="more"/>',
             '<bpmn:sequenceFlow id="f_back" sourceRef="more" targetRef="again">'
             '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">round &lt; rounds</bpmn:conditionExpression>'
             '</bpmn:sequenceFlow>',
             '<bpmn:sequenceFlow id="f_done" sourceRef="more" targetRef="end"/>']
    return _process("bench_loop", "循环", nodes, flows, ["start", "end", "again", "more"])


# -- answering forms -------------------------------------------------------------------------------
_SCALARS = {"string": "基准测试", "text": "基准测试: 一段说明文字。", "long": 10, "double": 12.5,
            "boolean": True, "date": "2027-04-12"}


def _cell(column: dict):
    return _SCALARS.get(column["type"], "基准测试")


def answer(form: dict | None, prefill: dict | None) -> dict:
    """Valid values for every editable field: given table rows filled in, choices approved."""
    values = {}
    prefill = prefill or {}
    for field in (form or {}).get("fields", []):
        if field.get("readonly"):
            continue
        kind, given = field["type"], prefill.get(field["id"])
        if kind == "table":
            rows = given if isinstance(given, list) and given else [{}]
            values[field["id"]] = [{c["id"]: row.get(c["id"]) if row.get(c["id"]) is not None else _cell(c)
                                    for c in field.get("columns", [])} for row in rows]
        elif kind == "enum":
            options = [o["id"] for o in field.get("options", [])]
            values[field["id"]] = "approve" if "approve" in options else options[0]
        elif given is not None:
            values[field["id"]] = given
        else:
            values[field["id"]] = _SCALARS.get(kind, "基准测试")
    return values
