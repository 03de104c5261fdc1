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


def _open_task(demo, instance_id: int, step: str):
    from sqlalchemy import select

    from engine.store.models import HumanTask

    return demo.tx(lambda s: s.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.step == step, HumanTask.state == "open")).one())


def test_distributor_maintenance_step_4_decides_over_every_evaluated_customer(page, demo, shot):
    """SM2.2 step 4: every customer finance evaluated is a row, its recommendation shown and ticked; the
    sales development manager ticks one more, and all three go to the director's review (step 5)."""
    engine = demo.services.engine
    instance_id = demo.tx(lambda s: engine.start(s, "SM2_2", "sales_dev", None, business_key="2028 年度分销商维护"))
    one = _open_task(demo, instance_id, "1")
    demo.tx(lambda s: engine.complete(s, one.id, "sales_dev", {"survey_findings": "西南零售渠道竞争加剧"}))
    two = _open_task(demo, instance_id, "2")
    files = [dict(r, annual_sales=3000.0, payment_days=45) for r in two.prefill["customer_files"]]
    demo.tx(lambda s: engine.complete(s, two.id, "customer_service", {"customer_files": files}))
    three = _open_task(demo, instance_id, "3")
    first, second, third = (e["name"] for e in three.prefill["customer_evaluations"][:3])
    evaluations = [dict(e, payment_rate=95.0, recommend_terminate=e["name"] == first,
                        note="回款严重逾期" if e["name"] == first else None)
                   for e in three.prefill["customer_evaluations"]]
    demo.tx(lambda s: engine.complete(s, three.id, "finance", {"customer_evaluations": evaluations,
                                                               "evaluation_report": "年度评估"}))

    page.goto(demo.url + "/auth/login")
    page.fill("#login", "sales_dev")
    page.fill("#password", "demo123")
    page.click("form button.primary")
    page.goto(f"{demo.url}/tasks/{_open_task(demo, instance_id, '4').id}")
    expect(page.locator("h1")).to_contain_text("4 确定解除合作客户名单")
    rows = page.locator("#table-termination_decisions tbody tr")
    expect(rows).to_have_count(len(evaluations))
    expect(rows.nth(0)).to_contain_text(first)
    expect(rows.nth(0).locator("td[data-col='recommended']")).to_have_text("是")
    expect(rows.nth(0).locator("td[data-col='terminate'] input[type=checkbox]")).to_be_checked()
    expect(rows.nth(1).locator("td[data-col='terminate'] input[type=checkbox]")).not_to_be_checked()
    rows.nth(2).locator("td[data-col='terminate'] input[type=checkbox]").check()
    rows.nth(2).locator("td[data-col='reason'] input").fill("渠道重叠")
    shot(page, "15_sm2_2_step_4")
    page.click("button:has-text('提交')")
    expect(page.locator(".alert.success")).to_be_visible()

    five = _open_task(demo, instance_id, "5")
    assert [(r["name"], r["reason"]) for r in five.prefill["termination_review"]] == [
        (first, "回款严重逾期"), (third, "渠道重叠")]
    assert second not in {r["name"] for r in five.prefill["termination_review"]}
