"""Why the expression sandbox refuses a condition, a script or an expression (engine/sandbox.py), in the page's
language: when a BPMN file is validated or deployed (the modeler's JSON and the upload form) and when a started
process runs into a limit (both start pages and the JSON API). English after choosing English, the engine's Chinese
otherwise, word for word as before; RestrictedPython's own reasons (English) stay as it says them."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import session
from testkit import edit, in_lang, page_text, post_start

from engine.errors import Message, ScriptRejected
from web.i18n import LANG_KEY, localized

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()
OFFICE = "华北/北京办事处"
LANGS = ["en", "zh"]
CHINESE = re.compile(r"被沙箱拒绝|不被允许|无法读取|过长|过大|流程运行出错|计算失败|不是有效的范围|不是日期时间或时长")


def _with_script(data: bytes, script: str) -> bytes:
    """The file with a script task between the start event and the first user task."""
    return edit(
        data,
        ('<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="request"/>',
         '<bpmn:scriptTask id="prepare" name="准备" scriptFormat="python"><bpmn:script>'
         f'{script}</bpmn:script></bpmn:scriptTask>'
         '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare"/>'
         '<bpmn:sequenceFlow id="f0" sourceRef="prepare" targetRef="request"/>'),
        ("<bpmn:incoming>f1</bpmn:incoming>", "<bpmn:incoming>f0</bpmn:incoming>"),
    )


def _refused_file() -> bytes:
    """Refused when compiled: a condition with a name RestrictedPython refuses, a script with an import and a class;
    refused when evaluated at deploy: a start cycle that builds too long a text."""
    data = _with_script(APPROVAL, "import os\nclass A: pass")
    return edit(data, ("decision == 'approve'", "decision == _approve"),
                ('<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>',
                 '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing><bpmn:timerEventDefinition id="t">'
                 "<bpmn:timeCycle>'R/2027-01-01T00:00:00/P1D' * 10000000</bpmn:timeCycle>"
                 "</bpmn:timerEventDefinition></bpmn:startEvent>"))


UNDERSCORE = 'Line 1: "_approve" is an invalid variable name because it starts with "_"'
REFUSED = {
    "en": {"top": "Things in the file the engine cannot execute: 3",
           "f4": f"Condition refused by the sandbox: Expression not allowed: {UNDERSCORE}",
           "prepare": "Script refused by the sandbox: Script not allowed: Line 1: import statements are not allowed; "
                      "Line 2: class definitions are not allowed",
           "start": "The start event's cycle cannot be read: The repeated sequence is too long"},
    "zh": {"top": "文件中有 3 处引擎无法执行的内容",
           "f4": f"条件被沙箱拒绝: 表达式不被允许: {UNDERSCORE}",
           "prepare": "脚本被沙箱拒绝: 脚本不被允许: Line 1: import 语句不被允许; Line 2: class 定义不被允许",
           "start": "开始事件的周期无法读取: 重复的序列过长"},
}


@pytest.mark.parametrize("lang", LANGS)
def test_the_modeler_says_why_the_sandbox_refuses(client, auth, lang):
    auth.login("admin")
    in_lang(auth, lang)
    answer = client.post("/processes/validate", data=_refused_file(), content_type="application/xml",
                         headers={"X-CSRF-Token": auth.token()}).get_json()
    assert answer["ok"] is False and answer["message"] == REFUSED[lang]["top"]
    expected = {key: text for key, text in REFUSED[lang].items() if key != "top"}
    assert {p["element_id"]: p["message"] for p in answer["problems"]} == expected


@pytest.mark.parametrize("lang", LANGS)
def test_the_upload_form_says_why_the_sandbox_refuses(client, auth, lang):
    auth.login("admin")
    in_lang(auth, lang)
    response = auth.post("/processes/deploy", {"file": (io.BytesIO(_refused_file()), "approval.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 422
    text = page_text(response)
    assert all(expected in text for expected in REFUSED[lang].values())
    assert bool(CHINESE.search(text)) == (lang == "zh")


# -- while the process runs -------------------------------------------------------------------------------------
TOO_LONG_SCOPE = (OFFICE * 40)[:40]  # over the 255 characters a scope may have: the message shows its start
RUNNING = {
    "script": (lambda data: _with_script(data, "note = 'ab' * 900000"),
               {"en": "Error while running the process: The repeated sequence is too long",
                "zh": "流程运行出错: 重复的序列过长"}),
    "scope": (lambda data: edit(data, ('"smflow:scope" value="office"', '"smflow:scope" value="office * 10000000"')),
              {"en": "The scope smflow:scope could not be evaluated: The repeated sequence is too long",
               "zh": "范围 smflow:scope 计算失败: 重复的序列过长"}),
    # evaluated, but what came out cannot be used
    "bad scope": (lambda data: edit(data, ('"smflow:scope" value="office"', '"smflow:scope" value="office * 40"')),
                  {"en": f"The value of the scope smflow:scope is not a valid scope: {TOO_LONG_SCOPE!r}",
                   "zh": f"范围 smflow:scope 的值不是有效的范围: {TOO_LONG_SCOPE!r}"}),
    "bad due": (lambda data: edit(data, ("\"smflow:due\" value=\"'P3D'\"", "\"smflow:due\" value=\"'soon'\"")),
                {"en": "The value 'soon' of the due date smflow:due is neither a date and time nor a duration "
                       "(such as 'P5D')",
                 "zh": "期限 smflow:due 的值 'soon' 不是日期时间或时长 (如 'P5D')"}),
}


def _deploy(flow, change) -> None:
    flow.tx(lambda s: flow.services.engine.deploy(s, change(APPROVAL), "approval.bpmn", "admin"))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", RUNNING, ids=list(RUNNING))
@pytest.mark.parametrize("url", ["/processes/approval/start", "/start/approval"], ids=["processes", "start"])
def test_a_start_page_says_why_the_sandbox_stopped_the_process(client, auth, flow, lang, case, url):
    change, expected = RUNNING[case]
    _deploy(flow, change)
    response = post_start(auth, "bj", lang, url, OFFICE)
    assert response.status_code == 400
    text = page_text(response)
    assert expected[lang] in text
    assert bool(CHINESE.search(text)) == (lang == "zh")


@pytest.mark.parametrize("lang", [*LANGS, None])
@pytest.mark.parametrize("case", RUNNING, ids=list(RUNNING))
def test_the_api_says_why_the_sandbox_stopped_the_process(client, auth, flow, lang, case):
    change, expected = RUNNING[case]
    _deploy(flow, change)
    auth.login("bj")
    if lang:
        in_lang(auth, lang)
    response = auth.api_post("/api/instances", {"process_id": "approval", "data": {"office": OFFICE}})
    assert response.status_code == 400
    assert response.get_json()["message"] == expected[lang or "zh"]


# -- the refusals with a part that names what was too big ------------------------------------------------------
@pytest.mark.parametrize(("source", "english", "chinese"), [
    ("d", "The expression's result is too large (limit on characters and items: 5,000,000)",
     "表达式的结果过大 (超过 5,000,000 个字符/元素)"),
    ("str(d)", "The data to convert to text is too large (limit on characters and items: 5,000,000)",
     "要转换为文字的数据过大 (超过 5,000,000 个字符/元素)"),
    ("f'{d}'", "The data to format is too large (limit on characters and items: 5,000,000)",
     "格式化的数据过大 (超过 5,000,000 个字符/元素)"),
    ("deep", "The data is nested more than 100 levels deep", "数据嵌套超过 100 层"),
], ids=["result", "str", "format", "deep"])
def test_what_was_too_big_is_said_in_english_too(app, flow, source, english, chinese):
    deep: list = []
    for _ in range(150):
        deep = [deep]
    context = {"d": ["x" * 1000] * 6000, "deep": deep}
    with pytest.raises(ScriptRejected) as caught:
        flow.services.engine.sandbox.evaluate(source, context)
    message = caught.value.message
    assert isinstance(message, Message) and message.code.startswith("sandbox.") and str(message) == chinese
    with app.test_request_context():
        assert localized(message) == chinese
        session[LANG_KEY] = "en"
        assert localized(message) == english
