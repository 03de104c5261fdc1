"""Reading a BPMN file: XSD, supported elements and sandbox compilation, every problem at once."""

from pathlib import Path

import pytest

from engine.definitions import parse_bpmn
from engine.errors import ValidationFailed

FIXTURES = Path(__file__).parents[1] / "fixtures"
CONFORMANCE = Path("/work/shared/conformance/miwg-reference")
if not CONFORMANCE.exists():  # the corpus as shipped beside the repository
    CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "miwg-reference"
TOPICS = {"archive", "notify"}


def approval() -> str:
    return (FIXTURES / "approval.bpmn").read_text(encoding="utf-8")


def refused(xml: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_bpmn(xml.encode(), "x.bpmn", TOPICS)
    return caught.value


def test_the_fixture_parses_with_forms_steps_and_lanes():
    parsed = parse_bpmn((FIXTURES / "approval.bpmn").read_bytes(), "approval.bpmn", TOPICS)
    (process,) = parsed.executable
    review = process.spec.task_specs["review"]
    assert review.extensions["smflow:step"] == "2"
    assert review.extensions["smflow:lane"] == "大区经理"
    assert [f["id"] for f in review.extensions["smflow:form"]["fields"]] == ["decision", "comment"]
    assert process.spec.task_specs["file"].extensions["smflow:topic"] == "archive"


def test_every_xsd_error_is_reported_with_its_line():
    xml = approval().replace('<bpmn:endEvent id="end">', '<bpmn:endEvent id="end" bogus="1">')
    xml = xml.replace('<bpmn:startEvent id="start">', '<bpmn:startEvent id="start" wrong="2">')
    error = refused(xml)
    assert len(error.problems) == 2
    assert all(p.line for p in error.problems)
    assert {p.element_id for p in error.problems} == {"start", "end"}


def test_hostile_code_is_refused_at_deploy_with_element_ids():
    xml = approval().replace("decision == 'approve'", "().__class__.__bases__[0].__subclasses__()")
    xml = xml.replace("'费用申请 ' + office", "__import__('os').system('id')")
    xml = xml.replace('<camunda:property name="smflow:scope" value="office"/>',
                      '<camunda:property name="smflow:scope" value="office +"/>')
    error = refused(xml)
    by_element = {p.element_id: p.message for p in error.problems}
    assert set(by_element) == {"f4", "file", "request"}
    assert "沙箱" in by_element["f4"]


def test_a_script_with_import_os_is_refused():
    xml = approval().replace(
        '<bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>',
        '<bpmn:scriptTask id="evil" name="evil" scriptFormat="python"><bpmn:script>import os\nos.system("id")'
        '</bpmn:script></bpmn:scriptTask><bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>')
    error = refused(xml)
    assert [(p.element_id, p.element_name) for p in error.problems] == [("evil", "evil")]
    assert "import" in error.problems[0].message


def test_unknown_topics_unsupported_elements_and_bad_forms_are_all_listed():
    xml = approval().replace('camunda:topic="archive"', 'camunda:topic="mail"')
    xml = xml.replace('type="double"', 'type="money"')
    xml = xml.replace('<bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>',
                      '<bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>'
                      '<bpmn:receiveTask id="wait" name="等回执"/>')
    error = refused(xml)
    messages = " | ".join(p.message for p in error.problems)
    assert "mail" in messages and "接收任务" in messages and "money" in messages


def test_a_file_without_executable_processes_is_kept_for_viewing():
    parsed = parse_bpmn((CONFORMANCE / "A.1.0.bpmn").read_bytes(), "A.1.0.bpmn", TOPICS)
    assert parsed.processes and not parsed.executable


@pytest.mark.parametrize("path", sorted(CONFORMANCE.glob("*.bpmn")), ids=lambda p: p.name)
def test_every_conformance_file_parses_or_lists_element_level_problems(path):
    try:
        parsed = parse_bpmn(path.read_bytes(), path.name, TOPICS)
    except ValidationFailed as error:
        assert error.problems
        assert all(p.element_id and p.line for p in error.problems), error.problems
    else:
        assert parsed.processes


def test_an_unreadable_calendar_cycle_is_refused_at_deploy():
    xml = (FIXTURES / "deadline.bpmn").read_text(encoding="utf-8").replace(
        '"R/2027-01-02T09:00:00+08:00/P1M"', '"R/2027-01-02T09:00:00+08:00/P1Q"')
    error = refused(xml)
    assert [(p.element_id, "P1Q" in p.message) for p in error.problems] == [("start", True)]
