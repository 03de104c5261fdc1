"""A service task's error is stored as the engine's Chinese text with its message key beside it, so that its
instance's page and the incidents list say it in the reader's language: English after choosing English, the
Chinese text as before otherwise, also for an error stored without a key (before the key was kept)."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from testkit import page_text
from worker_helpers import approval_at_its_archive

from engine.store.models import Job

ENGLISH = "Filing needs a title and a kind"
CHINESE = "备案需要 title 和 kind"


@pytest.fixture
def incident(site_factory):
    """The archive handler, given an empty title by the process, gives up at once: an incident."""
    site = site_factory({"bj": [("办事处", "华北/北京办事处")], "rm": [("大区经理", "华北")],
                         "admin": [("admin", "*")]})
    real_archive = site.engine.handlers.get("archive")
    site.engine.handlers.register("archive", lambda ctx, **params: real_archive(ctx, **{**params, "title": ""}))
    return site, approval_at_its_archive(site)


def _pages(site, instance_id: int, lang: str | None) -> tuple[str, str]:
    admin = site.client("admin")
    if lang is not None:
        site.post(admin, f"/lang/{lang}", {"next": "/"})
    return (page_text(admin.get(f"/instances/{instance_id}")), page_text(admin.get("/incidents/")))


def test_the_error_is_said_in_english_on_the_instance_page_and_the_incidents_list(incident):
    site, instance_id = incident
    instance_page, listing = _pages(site, instance_id, "en")
    # the audit trail's error, the waiting job's error, the incident's error
    assert instance_page.count(ENGLISH) >= 2 and CHINESE not in instance_page
    assert ENGLISH in listing and CHINESE not in listing


def test_the_chinese_page_says_it_as_the_engine_did(incident):
    site, instance_id = incident
    instance_page, listing = _pages(site, instance_id, None)
    assert instance_page.count(CHINESE) >= 2 and ENGLISH not in instance_page
    assert CHINESE in listing


def test_an_error_stored_without_its_key_is_shown_as_it_was_stored(incident):
    site, instance_id = incident
    site.tx(lambda s: s.execute(update(Job).values(last_error_message=None)))
    _, listing = _pages(site, instance_id, "en")
    assert CHINESE in listing and ENGLISH not in listing


# -- a calculation's own reason for refusing its figures ---------------------------------------------------------
@pytest.mark.parametrize(("handler", "params", "english", "chinese"), [
    ("consolidate", {"forecasts": [{"name": "北京办事处", "region": "华北",
                                    "forecast": [{"product": "A", "m1_qty": "很多"}, "x"]}]},
     "Cannot consolidate the sales forecasts: 北京办事处 / A month 1 quantity: should be a number, got '很多'; "
     "北京办事处 row 2: should be an object",
     "无法汇总销售预测: 北京办事处 / A 第1月数量: 应为数字, 收到 '很多'; 北京办事处 第 2 行: 应为对象"),
    ("budget_variance", {"lines": [{"item": "会议", "budget": -1, "actual": 2}], "threshold": "10%"},
     "Cannot compute the budget variance: 会议 budget: cannot be negative",
     "无法计算费用预算差异: 会议 预算: 不能为负数"),
    ("credit_rating", {"figures": {"annual_sales": -5}},
     "Cannot suggest a credit rating: annual sales cannot be negative: -5",
     "无法建议资信等级: 年销售额 不能为负数: -5"),
], ids=["consolidate", "variance", "rating"])
def test_a_calculation_says_why_it_refuses_the_figures_in_the_readers_language(site_factory, handler, params,
                                                                               english, chinese):
    from flask import session

    from engine import HandlerFailed
    from engine.handler_api import HandlerContext
    from web.i18n import LANG_KEY, localized

    site = site_factory({"admin": [("admin", "*")]})
    run = site.engine.handlers.get(handler)
    with site.services.sessions() as s, pytest.raises(HandlerFailed) as caught:
        run(HandlerContext(session=s, instance_id=1, process_id="p", version=1, element_id="e", step=None,
                           actor=None, now=site.clock.now(), business_key=None, job_key=None), **params)
    message = caught.value.message
    assert str(message) == chinese
    with site.app.test_request_context():
        session[LANG_KEY] = "en"
        assert localized(message) == english
