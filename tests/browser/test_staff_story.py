"""The staff story of issue 4 in Chromium, with the demo organisation: an office rep fills a sales forecast table
with totals and submits it; the regional manager sends it back with a comment; the rep sees the comment and the
earlier values, corrects and resubmits; the manager approves; the instance page shows the path taken.

Screenshots go to tests/browser/artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from testkit import serving
from werkzeug.security import generate_password_hash

from engine.store import org, tasks
from engine.store.unit_of_work import in_transaction
from web.app import create_app
from web.demo import demo_data, load_organisation

ROOT = Path(__file__).parents[2]
ARTIFACTS = Path(__file__).parent / "artifacts"
FORECAST = (ROOT / "tests" / "fixtures" / "forecast_review.bpmn").read_bytes()
REP, MANAGER = "office_huabei_beijing", "rm_huabei"  # 宋晓东, 华北/北京办事处 · 罗平, 华北大区经理
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def demo(sqlite_url, clock):
    """The app behind a real HTTP server, with the demo organisation and the forecast process."""
    app = create_app({"TESTING": True, "SECRET_KEY": "story", "DATABASE_URL": sqlite_url, "SMFLOW_CLOCK": clock})
    services = app.extensions["smflow"]
    data = demo_data()

    def seed(s):
        quick = generate_password_hash("demo123", method="pbkdf2:sha256:1000")  # the demo's password, hashed fast
        for user in data["users"]:
            org.add_user(s, user["login"], user["name"], quick)
        load_organisation(s, data, clock.now())
        services.engine.deploy(s, FORECAST, "forecast_review.bpmn", "admin")

    in_transaction(services.sessions, seed)
    with serving(app) as url:
        app.url = url
        yield app
    services.sessions.kw["bind"].dispose()


def _tab(browser):
    """A fresh browser tab whose JavaScript errors and failed static files are collected."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.problems = []
    tab.on("pageerror", lambda exc: tab.problems.append(f"page error: {exc}"))
    tab.on("console", lambda msg: tab.problems.append(f"console: {msg.text}")
           if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    tab.on("response", lambda r: tab.problems.append(f"{r.status} {r.url}")
           if r.status >= 400 and "/static/" in r.url else None)
    tab.set_default_timeout(10_000)
    return context, tab


def _login(tab, url: str, login: str) -> None:
    tab.goto(url + "/auth/login")
    tab.fill("#login", login)
    tab.fill("#password", "demo123")
    tab.click("form button.primary")
    tab.wait_for_url(url + "/")


def _shot(tab, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_forecast_sent_back_with_a_comment_then_approved(browser, demo, clock):
    engine, sessions, url = demo.extensions["smflow"].engine, demo.extensions["smflow"].sessions, demo.url

    def tx(work):
        return in_transaction(sessions, work)

    def start(office: str, key: str) -> int:
        return tx(lambda s: engine.start(s, "forecast_review", REP, {"office": office, "target": 50.0}, None, key))

    earlier = start("华北/北京办事处", "2027-03 月度销售预测")
    clock.advance(days=6)                                   # March's forecast is now overdue
    instance_id = start("华北/北京办事处", "2027-04 月度销售预测")
    start("华北/天津办事处", "2027-04 天津")                  # another office: not in this rep's inbox
    story_task = tx(lambda s: tasks.active_for_instance(s, instance_id)[0].id)

    # 1 the rep fills the forecast table (totals follow the typing), attaches the basis, submits
    context, rep = _tab(browser)
    _login(rep, url, REP)
    expect(rep.locator("h1")).to_contain_text("我的待办")
    expect(rep.locator(".main-nav .nav-count")).to_have_text("(2)")
    expect(rep.locator(".main-nav .nav-overdue")).to_have_text("⚠ 逾期 1")
    expect(rep.locator("tr.task-row")).to_have_count(2)
    row = rep.locator(f"tr[data-task-id='{story_task}']")
    expect(row.locator(".key")).to_have_text("2027-04 月度销售预测 · 华北/北京办事处")
    expect(row.locator("td.step")).to_contain_text("3 制定本地区本渠道销售预测")
    expect(rep.locator("tr.task-row.overdue .badge.red")).to_have_text("⚠ 已逾期")
    _shot(rep, "01_inbox")

    row.locator("a.button:has-text('处理')").click()
    expect(rep.locator("h1")).to_have_text("3 制定本地区本渠道销售预测")
    expect(rep.locator(".documentation")).to_contain_text("以年度销售计划及上月的月销售计划为基准")
    expect(rep.locator("#field-target .readonly-value")).to_have_text("50 万元")
    expect(rep.locator("#field-growth .unit")).to_have_text("%")
    rep.fill("[name='f.forecast.0.product']", "心脑血管")
    rep.fill("[name='f.forecast.0.qty']", "120")
    rep.fill("[name='f.forecast.0.amount']", "36.5")
    rep.click("text=+ 添加一行")
    rep.fill("[name='f.forecast.1.product']", "抗感染")
    rep.fill("[name='f.forecast.1.qty']", "80")
    rep.fill("[name='f.forecast.1.amount']", "12")
    totals = rep.locator("#table-forecast tfoot")
    expect(totals.locator("output[data-col='qty']")).to_have_text("200")
    expect(totals.locator("output[data-col='amount']")).to_have_text("48.5")
    rep.fill("#in-growth", "4.5")
    rep.set_input_files("#in-basis", files=[{"name": "扫描件.pdf", "mimeType": "application/pdf",
                                               "buffer": PDF + b"0" * (6 * 1024 * 1024)}])
    expect(rep.locator("#field-basis .error-msg")).to_have_text(
        "预测依据 (附件): 文件「扫描件.pdf」超过 5 MB 的上限, 请压缩或拆分后再上传")   # refused before sending
    assert rep.eval_on_selector("#in-basis", "input => input.files.length") == 0
    rep.set_input_files("#in-basis", files=[{"name": "四月预测依据.pdf", "mimeType": "application/pdf",
                                               "buffer": PDF}])
    expect(rep.locator("#field-basis .error-msg")).to_have_count(0)
    rep.fill("#in-note", "新品上市, 心脑血管增加")
    _shot(rep, "02_task_form")
    rep.click("button:has-text('提交')")
    expect(rep).to_have_url(url + "/")
    expect(rep.locator(".alert.success")).to_have_text("已提交「3 制定本地区本渠道销售预测」")
    expect(rep.locator(f"tr[data-task-id='{story_task}']")).to_have_count(0)     # it left the inbox
    expect(rep.locator("tr.task-row")).to_have_count(1)
    expect(rep.locator(".main-nav .nav-count")).to_have_text("(1)")

    # 2 the regional manager sees what the rep produced and sends it back with a comment
    context2, manager = _tab(browser)
    _login(manager, url, MANAGER)
    expect(manager.locator("tr.task-row")).to_have_count(1)
    manager.locator("tr.task-row a.button:has-text('处理')").click()
    expect(manager.locator("h1")).to_have_text("4 初审区内销售预测")
    earlier_steps = manager.locator(".earlier")
    expect(earlier_steps).to_contain_text("宋晓东 (office_huabei_beijing)")
    expect(earlier_steps.locator("tfoot output[data-col='amount']")).to_have_text("48.5")
    expect(earlier_steps.locator(".file-link")).to_have_text("四月预测依据.pdf")
    manager.select_option("#in-decision", "reject")
    manager.click("button:has-text('提交')")
    expect(manager.locator("#field-comment .error-msg")).to_have_text("审核意见: 必填")
    expect(manager.locator("#in-decision")).to_have_value("reject")
    manager.fill("#in-comment", "抗感染数量偏低, 请按上月实际复核后再报")
    _shot(manager, "03_review_form")
    manager.click("button:has-text('提交')")
    expect(manager.locator(".empty")).to_have_text("暂无待办任务")

    # 3 the rep sees it back: the comment, and the table as they left it
    rep.goto(url + "/")
    expect(rep.locator("tr.task-row")).to_have_count(2)
    back = tx(lambda s: tasks.active_for_instance(s, instance_id)[0].id)
    rep.locator(f"tr[data-task-id='{back}'] a.button").click()
    expect(rep.locator(".alert.returned")).to_contain_text("这是第 2 次办理")
    expect(rep.locator(".earlier")).to_contain_text("抗感染数量偏低, 请按上月实际复核后再报")
    expect(rep.locator(".earlier")).to_contain_text("不通过, 退回修改")
    expect(rep.locator("[name='f.forecast.1.qty']")).to_have_value("80")
    expect(rep.locator("[name='f.forecast.0.amount']")).to_have_value("36.5")
    expect(rep.locator("#field-basis .file-link")).to_have_text("四月预测依据.pdf")
    expect(rep.locator("#table-forecast tfoot output[data-col='qty']")).to_have_text("200")
    _shot(rep, "04_task_sent_back")
    rep.fill("[name='f.forecast.1.qty']", "110")
    rep.fill("[name='f.forecast.1.amount']", "16.5")
    expect(rep.locator("#table-forecast tfoot output[data-col='amount']")).to_have_text("53")
    rep.click("button:has-text('提交')")
    expect(rep.locator(f"tr[data-task-id='{back}']")).to_have_count(0)

    # 4 the manager approves
    manager.goto(url + "/")
    manager.locator("tr.task-row a.button:has-text('处理')").click()
    expect(manager.locator(".earlier tfoot output[data-col='qty']")).to_have_text("230")
    manager.select_option("#in-decision", "approve")
    manager.click("button:has-text('提交')")
    expect(manager.locator(".empty")).to_have_text("暂无待办任务")

    # 5 the instance page: the path taken on the diagram, the timeline, the archive record
    manager.goto(f"{url}/instances/{instance_id}")
    expect(manager.locator("#diagram")).to_have_attribute("data-state", "ready")
    taken = manager.locator(".djs-connection.smflow-taken")
    expect(taken).to_have_count(6)                          # every flow, the way back included
    expect(manager.locator(".djs-shape.smflow-done")).to_have_count(6)
    expect(manager.locator(".legend")).to_contain_text("已走过的路径")
    expect(manager.locator("ol.timeline li.ev-completed")).to_have_count(4)
    expect(manager.locator("ol.timeline")).to_contain_text("抗感染数量偏低")
    expect(manager.locator(".archive")).to_contain_text("销售预测 华北/北京办事处")
    expect(manager.locator(".current-tasks")).to_contain_text("没有进行中的任务")
    _shot(manager, "05_instance")

    # a task of March, still waiting, shows who it waits for on the diagram
    rep.goto(f"{url}/instances/{earlier}")
    expect(rep.locator("#diagram")).to_have_attribute("data-state", "ready")
    expect(rep.locator(".smflow-holder")).to_have_text(re.compile("华北/北京办事处: 等待「办事处」认领"))
    expect(rep.locator(".djs-connection.smflow-taken")).to_have_count(1)
    for tab, ctx in ((rep, context), (manager, context2)):
        assert not tab.problems, tab.problems
        ctx.close()
