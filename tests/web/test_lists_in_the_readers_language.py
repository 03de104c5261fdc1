"""Lists inside a page's sentences joined the reader's way: "、" in Chinese, ", " in English. The migration page's
steps a newer version lacks, a gateway's chosen paths in an instance's history and what changed in an element on
the compare page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_migration_pages import OWNED, RENAMED
from testkit import edit, in_lang, page_text

FIXTURES = Path(__file__).parents[1] / "fixtures"
PARALLEL = (FIXTURES / "parallel.bpmn").read_bytes()
# both steps of the parallel review under new ids: an instance at them cannot move to version 2
PARALLEL_RENUMBERED = (PARALLEL.replace(b'"market"', b'"market_v2"').replace(b">market<", b">market_v2<")
                       .replace(b'"sales"', b'"sales_v2"').replace(b">sales<", b">sales_v2<"))
APPROVAL = (FIXTURES / "approval.bpmn").read_bytes()
# the decision as an inclusive gateway whose two paths are both taken on approval
BOTH_PATHS = edit(APPROVAL,
                  ('<bpmn:exclusiveGateway id="decide" name="是否批准?" default="f_back">',
                   '<bpmn:inclusiveGateway id="decide" name="是否批准?">'),
                  ("</bpmn:exclusiveGateway>", "</bpmn:inclusiveGateway>"),
                  ('<bpmn:sequenceFlow id="f_back" name="退回" sourceRef="decide" targetRef="request"/>',
                   '<bpmn:sequenceFlow id="f_back" name="退回" sourceRef="decide" targetRef="request">'
                   '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == \'approve\''
                   '</bpmn:conditionExpression></bpmn:sequenceFlow>'))
LANGS = ["en", "zh"]
MISSING = {"en": "cannot move: market 5 市场调整方案, sales 6 销售调整方案 not in version 2",
           "zh": "不能迁移: market 5 市场调整方案、sales 6 销售调整方案 在第 2 版中不存在"}
CHOSEN = {"en": "是否批准? → 3 费用备案, 1 提交费用申请", "zh": "是否批准? → 3 费用备案、1 提交费用申请"}
CHANGED = {"en": "changed: form, name", "zh": "改动: 表单、名称"}


def _plain(text: str) -> str:
    """The page's text without its tags, runs of white space as one space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text))


@pytest.mark.parametrize("lang", LANGS)
def test_the_steps_a_newer_version_lacks_on_the_migration_page(client, auth, flow, lang):
    engine = flow.services.engine
    flow.tx(lambda s: engine.deploy(s, PARALLEL, "parallel.bpmn", "admin"))
    instance_id = flow.tx(lambda s: engine.start(s, "parallel", "admin", {}))  # at both of its steps
    flow.tx(lambda s: engine.deploy(s, PARALLEL_RENUMBERED, "parallel.bpmn", "admin"))
    auth.login("admin")
    in_lang(auth, lang)
    text = page_text(client.get("/processes/parallel/migrate"))
    row = text[text.index(f'id="plan-{instance_id}"'):]
    assert MISSING[lang] in _plain(row[:row.index("</tr>")])


@pytest.mark.parametrize("lang", LANGS)
def test_the_paths_a_gateway_chose_in_the_history(client, auth, flow, lang):
    flow.tx(lambda s: flow.services.engine.deploy(s, BOTH_PATHS, "approval.bpmn", "admin"))
    instance_id, review_id = flow.request_done()
    flow.complete(review_id, "rm_huabei", {"decision": "approve"})
    auth.login("rm_huabei")
    in_lang(auth, lang)
    text = page_text(client.get(f"/instances/{instance_id}"))
    summaries = re.findall(r'<b class="ev-kind">[^<]*</b> <span class="ev-summary">([^<]*)</span>', text)
    assert CHOSEN[lang] in summaries


@pytest.mark.parametrize("lang", LANGS)
def test_what_changed_in_an_element_on_the_compare_page(client, auth, flow, lang):
    flow.tx(lambda s: flow.services.engine.deploy(s, OWNED, "approval.bpmn", "admin"))
    flow.tx(lambda s: flow.services.engine.deploy(s, RENAMED, "approval.bpmn", "finance"))
    auth.login("bj")
    in_lang(auth, lang)
    text = page_text(client.get("/processes/approval/compare?a=1&b=3"))
    review = re.search(r'data-element-id="review">(.*?)</li>', text, re.S).group(1)
    assert CHANGED[lang] in _plain(review)
