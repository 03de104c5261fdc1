"""What stops moving an instance to its process's newest version (engine/instance_migration.py), said in the page's
language on the instance page and on the migration page: English after choosing English, the engine's Chinese
otherwise; step names from the BPMN stay as written."""

from __future__ import annotations

import pytest
from test_instance_migrate import APPROVAL, OWNED, RENAMED, REQUEST, deploy, without_request_task
from testkit import edit, in_lang, page_text


def _flashed_after(client, auth, url: str, back: str, data: dict | None = None) -> str:
    """POST to `url`, then the page it returns to, with the messages it flashed."""
    response = auth.post(url, data)
    assert response.status_code == 302 and response.headers["Location"] == back
    return page_text(client.get(back))


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "Instance {id} already runs on version 2 (the newest)"),
    ("zh", "流程实例 {id} 已在第 2 版 (最新版本)"),
])
def test_moving_an_instance_already_on_the_newest_version(client, auth, flow, lang, expected):
    instance_id = flow.start()
    deploy(flow, RENAMED)
    auth.login("admin")
    in_lang(auth, lang)
    page = f"/instances/{instance_id}"
    assert auth.post(f"{page}/migrate").status_code == 302
    text = _flashed_after(client, auth, f"{page}/migrate", page)  # the second click, an old tab
    assert expected.format(id=instance_id) in text and 'class="alert error"' in text


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "Instance {id} has ended and needs no migration"),
    ("zh", "流程实例 {id} 已结束, 不需要迁移"),
])
def test_moving_an_ended_instance(client, auth, flow, lang, expected):
    finished = flow.start()
    flow.complete(flow.open_task(finished), "bj", REQUEST)
    flow.complete(flow.open_task(finished), "rm_huabei", {"decision": "approve"})
    deploy(flow, RENAMED)
    auth.login("admin")
    in_lang(auth, lang)
    page = f"/instances/{finished}"
    assert expected.format(id=finished) in _flashed_after(client, auth, f"{page}/migrate", page)


MISSING = {
    "en": "Instance {id} cannot move to version 3: the new version lacks the steps it is at "
          "(The current step “1 提交费用申请” does not exist in version 3)",
    "zh": "流程实例 {id} 不能迁移到第 3 版: 新版本中没有它当前所在的步骤 (当前步骤「1 提交费用申请」在第 3 版中不存在)",
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_instance_at_a_step_the_new_version_lacks_on_both_pages(client, auth, flow, lang):
    instance_id = flow.start()  # at step 1, "request"
    deploy(flow, OWNED)
    deploy(flow, without_request_task(), "finance")
    auth.login("admin")
    in_lang(auth, lang)
    expected = MISSING[lang].format(id=instance_id)
    page = f"/instances/{instance_id}"
    assert expected in _flashed_after(client, auth, f"{page}/migrate", page)  # forced anyway
    migration = "/processes/approval/migrate"
    assert expected in _flashed_after(client, auth, migration, migration, {"instance_id": str(instance_id)})


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "The newest version of the process 'approval' is for viewing only; instances cannot move to it"),
    ("zh", "流程 'approval' 的最新版本仅供查看, 不能把实例迁移到该版本"),
])
def test_moving_to_a_view_only_newest_version(client, auth, flow, lang, expected):
    running = flow.start()
    deploy(flow, edit(APPROVAL, ('isExecutable="true"', 'isExecutable="false"')))
    auth.login("admin")
    in_lang(auth, lang)
    page = f"/instances/{running}"
    assert expected in _flashed_after(client, auth, f"{page}/migrate", page)
