"""What keeps a BPMN file from being deployed, in the page's language: on the upload form of the processes page and
in the modeler's JSON answers (validate, deploy). English after choosing English, the engine's Chinese otherwise;
element ids and names, lane names, topics and the XML parser's own words stay as written."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from testkit import broken, in_lang, page_text

from engine.store.models import Grant, Role

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()
TOPICS = "archive, budget_variance, consolidate, credit_rating, customer_register, notify"
LANGS = ["en", "zh"]


def _bad_file() -> bytes:
    """The approval process with a condition's bad syntax, an unknown topic, a bound that is no number, a form
    field of an unknown type and a send task."""
    text = broken(APPROVAL).decode()
    text = text.replace('type="text"', 'type="colour"', 1)
    text = text.replace("</bpmn:process>", '<bpmn:sendTask id="send" name="通知"/></bpmn:process>', 1)
    return text.encode()


BAD = {
    "en": {"top": "“坏文件.bpmn” was not deployed: Things in the file the engine cannot execute: 5",
           "problems": [f"There is no handler named 'no_such_topic' (available: {TOPICS})",
                        "The engine cannot execute a send task (sendTask)",
                        "Condition refused by the sandbox: ",
                        "The constraint max of field 'amount' needs a number, not 'lots'",
                        "The type 'colour' of form field 'comment' is not supported"]},
    "zh": {"top": "文件「坏文件.bpmn」未部署: 文件中有 5 处引擎无法执行的内容",
           "problems": [f"没有名为 'no_such_topic' 的处理程序 (可用: {TOPICS})",
                        "引擎不能执行发送任务 (sendTask)",
                        "条件被沙箱拒绝: ",
                        "字段 'amount' 的约束 max 需要数字, 而不是 'lots'",
                        "表单字段 'comment' 的类型 'colour' 不受支持"]},
}
NOT_XML = {"en": ("The file is not well-formed XML", "XML error: Namespace prefix bpmn on definitions"),
           "zh": ("文件不是格式正确的 XML", "XML 格式错误: Namespace prefix bpmn on definitions")}
NOT_BPMN = {"en": ("The file does not follow the BPMN 2.0 standard (problems: 1)",
                   "Not valid BPMN 2.0: Element 'foo': No matching global declaration"),
            "zh": ("文件不符合 BPMN 2.0 规范 (1 处)",
                   "不符合 BPMN 2.0 规范: Element 'foo': No matching global declaration")}
NO_PROCESS = {"en": ("Things in the file the engine cannot execute: 1", "The file holds no process (bpmn:process)"),
              "zh": ("文件中有 1 处引擎无法执行的内容", "文件中没有任何流程 (bpmn:process)")}
EMPTY_FILE = (b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
              b'targetNamespace="http://smflow/bpmn"/>')
UNKNOWN_ROLE = {"en": "The lane “区域经理” is not a known role (known roles: 办事处, 大区经理, 财务部)",
                "zh": "泳道「区域经理」不是已知的角色 (已知角色: 办事处、大区经理、财务部)"}
UNSTAFFED = {"en": "Nobody holds the role 大区经理 of the lane “大区经理” yet; its tasks will wait for no one",
             "zh": "泳道「大区经理」的角色 大区经理 目前没有任何用户, 其中的任务将无人处理"}


def _upload(auth, data: bytes, filename: str):
    return auth.post("/processes/deploy", {"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def _post_xml(client, auth, url: str, data: bytes):
    return client.post(url, data=data, content_type="application/xml", headers={"X-CSRF-Token": auth.token()})


def _problem_cells(text: str) -> list[str]:
    return re.findall(r'<td data-label="[^"]*" *>([^<]*)</td>\s*</tr>', text)


@pytest.mark.parametrize("lang", LANGS)
def test_the_upload_form_lists_the_problems_in_the_page_language(client, auth, lang):
    auth.login("admin")
    in_lang(auth, lang)
    response = _upload(auth, _bad_file(), "坏文件.bpmn")
    assert response.status_code == 422
    text = page_text(response)
    assert BAD[lang]["top"] in text
    cells = _problem_cells(text)
    assert len(cells) == 5
    for cell, expected in zip(cells, BAD[lang]["problems"], strict=True):
        assert cell.startswith(expected)
    if lang == "en":
        assert not re.search(r"处理程序|引擎不能|沙箱|约束|不受支持|未部署", text)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("data", "expected"), [(b"<bpmn:definitions", NOT_XML), (b"<foo/>", NOT_BPMN),
                                                (EMPTY_FILE, NO_PROCESS)], ids=["not_xml", "not_bpmn", "no_process"])
def test_a_file_that_is_no_bpmn_on_the_upload_form_and_in_the_modeler(client, auth, lang, data, expected):
    auth.login("admin")
    in_lang(auth, lang)
    top, problem = expected[lang]
    text = page_text(_upload(auth, data, "x.bpmn"))
    assert top in text and problem in text
    for url in ("/processes/validate", "/processes/deploy-xml"):
        answer = _post_xml(client, auth, url, data).get_json()
        assert answer["ok"] is False and answer["message"] == top
        assert [p["message"][:len(problem)] for p in answer["problems"]] == [problem]


@pytest.mark.parametrize("lang", LANGS)
def test_the_modeler_says_element_problems_in_the_page_language(client, auth, lang):
    auth.login("admin")
    in_lang(auth, lang)
    answer = _post_xml(client, auth, "/processes/validate", _bad_file()).get_json()
    assert answer["ok"] is False
    assert answer["message"] == BAD[lang]["top"].split(": ", 1)[1]
    messages = [p["message"] for p in answer["problems"]]
    assert [m[:len(e)] for m, e in zip(messages, BAD[lang]["problems"], strict=True)] == BAD[lang]["problems"]
    assert [p["element_id"] for p in answer["problems"]] == ["file", "send", "f4", "amount", "comment"]


@pytest.mark.parametrize("lang", LANGS)
def test_lanes_against_the_organisation_in_the_page_language(client, auth, flow, lang):
    flow.tx(lambda s: [s.delete(g) for g in s.scalars(select(Grant).where(Grant.role == "大区经理"))])
    flow.tx(lambda s: s.add_all([Role(name=n, aliases=[]) for n in ("办事处", "大区经理", "财务部")]))
    auth.login("admin")
    in_lang(auth, lang)
    answer = _post_xml(client, auth, "/processes/validate", APPROVAL).get_json()
    assert answer["ok"] is True and [w["message"] for w in answer["warnings"]] == [UNSTAFFED[lang]]
    renamed = APPROVAL.replace('name="办事处"'.encode(), 'name="区域经理"'.encode())
    answer = _post_xml(client, auth, "/processes/validate", renamed).get_json()
    assert [p["message"] for p in answer["problems"]] == [UNKNOWN_ROLE[lang]]
    assert [w["message"] for w in answer["warnings"]] == [UNSTAFFED[lang]]
    text = page_text(_upload(auth, renamed, "approval.bpmn"))
    assert UNKNOWN_ROLE[lang] in text and UNSTAFFED[lang] in text
    # a deployed file's warning, flashed on the processes page
    changed = APPROVAL.replace("1 提交".encode(), "1 填写".encode())
    assert _upload(auth, changed, "approval.bpmn").status_code == 302
    assert UNSTAFFED[lang] in page_text(client.get("/processes/"))
