"""What stops starting a process, in the page's language: start data that would send work outside the starter's
scopes (engine/start_data.py), system fields, a business key that is no text, data that cannot be kept
(Engine.start), on both start pages and the JSON API. English after choosing English, the engine's Chinese
otherwise; field names, values and scopes stay as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit import edit, in_lang, page_text, post_start

from engine.store import org

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()
FOREIGN = "华东/上海办事处"
REFUSED = {
    "en": "The start data “office” decides where in the organisation tasks go; its value '华东/上海办事处' is "
          "outside your scopes (your scopes: 华北/北京办事处, and the scopes under them)",
    "zh": "初始数据「office」决定任务发往的组织范围, 其值 '华东/上海办事处' 不在您的权限范围内 "
          "(您的范围: 华北/北京办事处, 及其下级范围)",
}
PAGES = ("/processes/approval/start", "/start/approval")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("url", PAGES, ids=["processes", "start"])
def test_start_data_outside_my_scopes_on_both_start_pages(client, auth, lang, url):
    response = post_start(auth, "bj", lang, url, FOREIGN)
    assert response.status_code == 422
    text = page_text(response)
    assert REFUSED[lang] in text
    assert ("初始数据" in text) == (lang == "zh")


def test_two_refused_fields_and_several_scopes_in_english(client, auth, flow):
    """Each refusal said in turn, then the starter's scopes joined the English way."""
    routed_twice = edit(APPROVAL, ("office.split('/')[0]", "region or office.split('/')[0]"))
    flow.tx(lambda s: flow.services.engine.deploy(s, routed_twice, "approval.bpmn", "admin"))
    flow.tx(lambda s: org.grant(s, "bj", "大区经理", "华东"))
    auth.login("bj")
    posted = {"business_key": "K-2", "d.0.key": "office", "d.0.value": "华南/广州办事处",
              "d.1.key": "region", "d.1.value": "华南"}
    in_lang(auth, "en")
    text = page_text(auth.post("/start/approval", posted))
    assert ("The start data “office” decides where in the organisation tasks go; its value '华南/广州办事处' is "
            "outside your scopes. The start data “region” decides where in the organisation tasks go; its value "
            "'华南' is outside your scopes (your scopes: 华东, 华北/北京办事处, and the scopes under them)") in text
    in_lang(auth, "zh")
    text = page_text(auth.post("/start/approval", posted))
    assert ("初始数据「office」决定任务发往的组织范围, 其值 '华南/广州办事处' 不在您的权限范围内; "
            "初始数据「region」决定任务发往的组织范围, 其值 '华南' 不在您的权限范围内 "
            "(您的范围: 华东、华北/北京办事处, 及其下级范围)") in text


@pytest.mark.parametrize(("lang", "problem", "scopes"), [
    ("en", "The start data “office” decides where in the organisation tasks go; its value 'null' is outside your "
           "scopes", " (your scopes: the whole company, 华北/北京办事处, and the scopes under them)"),
    (None, "初始数据「office」决定任务发往的组织范围, 其值 'null' 不在您的权限范围内",
     " (您的范围: 全公司、华北/北京办事处, 及其下级范围)"),
], ids=["en", "default"])
def test_the_api_says_it_too_with_a_company_wide_starter(client, auth, flow, lang, problem, scopes):
    flow.tx(lambda s: org.grant(s, "bj", "办事处", "*"))  # any office is theirs now, but no scope is not one
    auth.login("bj")
    if lang:
        in_lang(auth, lang)
    response = auth.api_post("/api/instances", {"process_id": "approval", "data": {"office": None}})
    assert response.status_code == 422
    body = response.get_json()
    assert body["message"] == problem + scopes
    assert body["problems"] == [{"element_id": None, "line": None, "field": "office", "message": problem}]


# -- Engine.start's own checks --------------------------------------------------------------------------
@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "The start data cannot set system fields: started_by"),
    ("zh", "初始数据不能设置系统字段: started_by"),
])
def test_a_system_field_in_the_start_data(client, auth, lang, expected):
    auth.login("bj")
    in_lang(auth, lang)
    response = auth.post("/start/approval", {"business_key": "K-3", "d.0.key": "office",
                                             "d.0.value": "华北/北京办事处", "d.1.key": "started_by",
                                             "d.1.value": "boss"})
    assert response.status_code == 422
    assert expected in page_text(response)


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "A business key should be text of at most 255 visible characters"),
    ("zh", "业务键应为最多 255 个可见字符的文字"),
])
def test_a_business_key_with_a_control_character(client, auth, lang, expected):
    auth.login("bj")
    in_lang(auth, lang)
    response = auth.post("/processes/approval/start", {"business_key": "K\x074", "d.0.key": "office",
                                                       "d.0.value": "华北/北京办事处"})
    assert response.status_code == 422
    assert expected in page_text(response)


def _nested(depth: int) -> list:
    deep: list = []
    for _ in range(depth):
        deep = [deep]
    return deep


STARTED = {"process_id": "approval", "data": {"office": "华北/北京办事处"}}
ENGINE_REFUSALS = {  # body → (message, problems by field) in English, then in Chinese
    "system": ({**STARTED, "data": {"office": "华北/北京办事处", "_secret": 1, "started_by": "x"}},
               ("The start data cannot set system fields: _secret, started_by",
                {"_secret": "'_secret' is set by the system", "started_by": "'started_by' is set by the system"}),
               ("初始数据不能设置系统字段: _secret, started_by",
                {"_secret": "'_secret' 由系统设置", "started_by": "'started_by' 由系统设置"})),
    "key": ({**STARTED, "business_key": "K\t5"},
            ("A business key should be text of at most 255 visible characters",
             {"business_key": "Invalid business key"}),
            ("业务键应为最多 255 个可见字符的文字", {"business_key": "业务键无效"})),
    "unsaved": ({**STARTED, "data": {"office": "华北/北京办事处", "plan": _nested(25)}},
                ("The start data cannot be saved: the data is nested too deeply",
                 {None: "the data is nested too deeply"}),
                ("初始数据无法保存: 数据嵌套过深", {None: "数据嵌套过深"})),
}


@pytest.mark.parametrize("refusal", list(ENGINE_REFUSALS))
def test_the_api_says_the_engines_refusals_in_english_after_choosing_english(client, auth, refusal):
    body, english, chinese = ENGINE_REFUSALS[refusal]
    auth.login("bj")
    for lang, (message, problems) in (("en", english), ("zh", chinese)):
        in_lang(auth, lang)
        response = auth.api_post("/api/instances", body)
        assert response.status_code == 422, lang
        answer = response.get_json()
        assert (answer["message"], {p.get("field"): p["message"] for p in answer["problems"]}) == (message, problems)
