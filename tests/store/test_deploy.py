"""Deploying stores the exact bytes and a new version per executable process; bad files store nothing."""

import pytest
from helpers import fixture_bytes
from sqlalchemy import func, select

from engine.errors import ValidationFailed
from engine.store.models import BpmnFile, Event, ProcessDefinition


def count(env, model):
    return env.tx(lambda s: s.scalar(select(func.count()).select_from(model)))


def test_deploy_then_same_bytes_is_unchanged_and_changed_bytes_is_a_new_version(env):
    data = fixture_bytes("approval.bpmn")
    first = env.tx(lambda s: env.engine.deploy(s, data, "approval.bpmn", "owner"))
    again = env.tx(lambda s: env.engine.deploy(s, data, "approval.bpmn", "owner"))
    changed = data.replace("审批费用申请".encode(), "审核费用申请".encode())
    newer = env.tx(lambda s: env.engine.deploy(s, changed, "approval.bpmn", "owner"))
    assert [(r.process_id, r.version, r.status) for r in first] == [("approval", 1, "deployed")]
    assert [(r.version, r.status) for r in again] == [(1, "unchanged")]
    assert [(r.version, r.status) for r in newer] == [(2, "deployed")]
    assert count(env, ProcessDefinition) == 2
    kinds = env.tx(lambda s: [e.kind for e in s.scalars(select(Event))])
    assert kinds == ["deployed", "deployed"]


def test_stored_bytes_are_byte_identical(env):
    data = fixture_bytes("approval.bpmn")
    env.tx(lambda s: env.engine.deploy(s, data, "approval.bpmn", None))
    stored = env.tx(lambda s: s.scalars(select(BpmnFile)).one().content)
    assert stored == data


def test_a_collaboration_deploys_each_executable_process(env):
    results = env.tx(lambda s: env.engine.deploy(s, fixture_bytes("two_pools.bpmn"), "pools.bpmn", None))
    assert {(r.process_id, r.executable) for r in results} == {
        ("order", True), ("shipping", True), ("customer", False)}
    assert env.tx(lambda s: env.engine.start(s, "shipping", None)) > 0


def test_a_viewing_only_file_is_stored_and_cannot_be_started(env):
    data = (fixture_bytes("two_pools.bpmn").replace(b'isExecutable="true"', b'isExecutable="false"'))
    results = env.tx(lambda s: env.engine.deploy(s, data, "view.bpmn", None))
    assert all(not r.executable for r in results)
    with pytest.raises(Exception) as caught:
        env.tx(lambda s: env.engine.start(s, "order", None))
    assert "仅供查看" in str(caught.value)


@pytest.mark.parametrize("bad", [
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
    b"<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'lol'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>"
    b"<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;'>]><l>&c;</l>",
    fixture_bytes("approval.bpmn").replace(b"'expense'", b"__import__('os').getcwd()"),
    b"<definitions",
    b"<a>" + b" " * (50 * 1024 * 1024) + b"</a>",
])
def test_bad_files_store_nothing(env, bad):
    with pytest.raises(ValidationFailed):
        env.tx(lambda s: env.engine.deploy(s, bad, "bad.bpmn", None))
    assert count(env, BpmnFile) == 0 and count(env, ProcessDefinition) == 0 and count(env, Event) == 0


def test_a_hostile_condition_stores_nothing(env):
    bad = fixture_bytes("approval.bpmn").replace(
        b"decision == 'approve'", b"().__class__.__bases__[0].__subclasses__()")
    with pytest.raises(ValidationFailed) as caught:
        env.tx(lambda s: env.engine.deploy(s, bad, "bad.bpmn", None))
    assert caught.value.problems[0].element_id == "f4"
    assert count(env, BpmnFile) == 0 and count(env, ProcessDefinition) == 0


def test_a_script_that_loops_forever_is_stopped_and_nothing_is_stored(env):
    looping = fixture_bytes("approval.bpmn").replace(
        b'<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="request"/>',
        b'<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="spin"/>'
        b'<bpmn:sequenceFlow id="f1b" sourceRef="spin" targetRef="request"/>'
        b'<bpmn:scriptTask id="spin" name="spin" scriptFormat="python"><bpmn:script>while True:\n    pass'
        b"</bpmn:script></bpmn:scriptTask>",
    ).replace(b"<bpmn:flowNodeRef>start</bpmn:flowNodeRef>",
              b"<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>spin</bpmn:flowNodeRef>")
    env.engine.sandbox.time_limit = 0.3
    env.tx(lambda s: env.engine.deploy(s, looping, "loop.bpmn", None))
    with pytest.raises(Exception) as caught:
        env.tx(lambda s: env.engine.start(s, "approval", None, {"office": "华北/北京办事处"}))
    assert "0.3 秒" in caught.value.message
    from engine.store.models import ProcessInstance

    assert count(env, ProcessInstance) == 0
