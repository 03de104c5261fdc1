"""The first gate: size, DOCTYPE and well-formedness are checked before any parsing."""

import pytest

from engine.definitions import parse_bpmn
from engine.errors import ValidationFailed
from engine.xml_safety import MAX_BYTES, load_xml

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</definitions>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"""


def _problems(data: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_bpmn(data, "upload.bpmn")
    return caught.value


def test_doctype_with_external_entity_is_refused_before_parsing():
    error = _problems(XXE)
    assert "DOCTYPE" in error.message
    assert error.problems[0].line == 2


def test_billion_laughs_is_refused():
    error = _problems(BILLION_LAUGHS)
    assert "DOCTYPE" in error.message


def test_a_50_mib_file_is_refused_by_size():
    data = b"<definitions>" + b" " * (50 * 1024 * 1024) + b"</definitions>"
    error = _problems(data)
    assert "5 MiB" in error.message


def test_a_file_just_under_the_limit_is_read():
    data = b"<a>" + b" " * (MAX_BYTES - 10) + b"</a>"
    assert load_xml(data).tag == "a"


def test_malformed_xml_reports_the_line():
    error = _problems(b"<definitions>\n  <process id='p'>\n</definitions>")
    assert "XML" in error.message
    assert error.problems[0].line == 3


def test_utf16_is_refused_with_a_clear_message():
    error = _problems("<definitions/>".encode("utf-16"))
    assert "UTF-16" in error.message
