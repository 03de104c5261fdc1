"""In Chromium: an administrator opens an instance that runs on an older version, reads the dry run's verdict
for it, presses the button, and the page says (in Chinese) that it moved and shows the new version.
Screenshots go to tests/browser/artifacts/ (git-ignored): 38 before, 39 after."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect
from testkit import edit

from engine.store import instances

ARTIFACTS = Path(__file__).parent / "artifacts"
APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()


def test_an_administrator_migrates_an_instance_from_its_page(page, live, login):
    instance_id = live.start(key="2027-04 北京学术会议")
    live.complete(live.open_task(instance_id), "bj", {"amount": 12.5, "purpose": "学术会议",
                                                     "lines": [{"item": "场地", "cost": 12.5}]})
    renamed = edit(APPROVAL, ("2 审批费用申请", "2 审核费用申请"))
    live.tx(lambda s: live.services.engine.deploy(s, renamed, "approval.bpmn", "admin"))
    ARTIFACTS.mkdir(exist_ok=True)

    login(page, "admin")
    page.goto(f"{live.url}/instances/{instance_id}")
    expect(page.locator("#instance-version")).to_contain_text("按第 1 版运行")
    expect(page.locator("#newer-version")).to_have_text("已有更新的第 2 版")
    expect(page.locator("#migrate-verdict")).to_contain_text("预演结果: 可以迁移")
    button = page.locator("#migrate-button")
    expect(button).to_have_text("从第 1 版迁移到第 2 版")
    page.locator("#migrate-instance").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "38_instance_migrate_verdict.png"), full_page=True)

    button.click()
    page.wait_for_url(f"{live.url}/instances/{instance_id}")
    expect(page.locator(".alert.success")).to_have_text(f"已将流程实例 {instance_id} 迁移到第 2 版")
    expect(page.locator("#instance-version")).to_have_text("按第 2 版运行")
    expect(page.locator("#newer-version")).to_have_count(0)
    expect(page.locator("#migrate-instance")).to_have_count(0)
    expect(page.locator(".current-tasks")).to_contain_text("2 审核费用申请")
    expect(page.locator("#diagram")).to_have_attribute("data-xml-url", "/processes/approval/2/download")
    page.screenshot(path=str(ARTIFACTS / "39_instance_migrated.png"), full_page=True)
    assert live.tx(lambda s: instances.get(s, instance_id).version) == 2
