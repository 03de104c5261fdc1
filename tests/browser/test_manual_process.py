"""The manual's own process (SM1.1) with the demo organisation: start it, see the highlighted diagram."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from werkzeug.security import generate_password_hash

from web.demo import demo_data, deploy_manual, load_organisation


@pytest.fixture
def demo(live, monkeypatch, clock):
    """The demo organisation (every password demo123) and the five processes of the manual."""
    monkeypatch.setattr("web.demo.generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))
    live.tx(lambda s: load_organisation(s, demo_data(), clock.now()))
    live.tx(lambda s: deploy_manual(s, live.services.engine, "admin", lambda _m: None))
    return live


def test_vp_starts_the_annual_plan_and_sees_where_it_stands(page, demo, shot):
    page.goto(demo.url + "/auth/login")
    page.fill("#login", "vp")
    page.fill("#password", "demo123")
    page.click("form button.primary")
    page.click("nav >> text=流程与版本")
    expect(page.locator("#process-SM1_1 .button.primary")).to_have_text("发起")
    shot(page, "09_processes")
    page.click("#process-SM1_1 .button.primary")
    expect(page.locator("h1")).to_contain_text("发起流程")
    page.fill("#business_key", "2028 年度计划")
    page.click("button:has-text('发起流程')")
    expect(page.locator(".alert.success")).to_contain_text("已发起流程实例")
    expect(page.locator("#diagram")).to_have_attribute("data-state", "ready", timeout=15_000)
    active = page.locator("#diagram .djs-element.smflow-active")
    expect(active).to_have_count(1)
    expect(active).to_have_attribute("data-element-id", "Task_1")
    shot(page, "10_sm1_1_instance")

    page.click("nav >> text=我的待办")
    expect(page.locator("tr.task-row .step")).to_have_text("1 启动年度营销计划编制")
    page.click("a.button:has-text('处理')")
    shot(page, "11_sm1_1_task")


def test_process_diagram_page(page, demo, shot):
    page.goto(demo.url + "/auth/login")
    page.fill("#login", "planning")
    page.fill("#password", "demo123")
    page.click("form button.primary")
    page.goto(demo.url + "/processes/SM1_3/1/diagram")
    expect(page.locator("#diagram")).to_have_attribute("data-state", "ready", timeout=15_000)
    expect(page.locator("#diagram .djs-element[data-element-id='Start_SM1_3']")).to_have_count(1)
    shot(page, "12_sm1_3_diagram")
