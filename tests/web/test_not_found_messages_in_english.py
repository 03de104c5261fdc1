"""A task, an instance or a process that does not exist, or that the person may not see (the very same answer, so
that ids and names reveal nothing), said in the page's language on the pages and in the JSON API: English after
choosing English, the engine's Chinese otherwise. Also the instance page's dry run naming the steps a newer
version lacks, quoted and listed the reader's way."""

from __future__ import annotations

import pytest
from test_instance_migrate import OWNED, deploy, without_request_task
from testkit import in_lang, page_text

UNKNOWN = 999999
TASK = {"en": "There is no task number {id}", "zh": "没有编号为 {id} 的任务"}
INSTANCE = {"en": "There is no instance number {id}", "zh": "没有编号为 {id} 的流程实例"}
PROCESS = {"en": "The process '{process}' was not found; deploy it first", "zh": "没有找到流程 '{process}', 请先部署"}
VERSION = {"en": "Version {version} of the process '{process}' was not found; deploy it first",
           "zh": "没有找到流程 '{process}' 的第 {version} 版, 请先部署"}
LANGS = ["en", "zh"]


def _hidden_and_unknown(client, url: str, hidden_id: int) -> tuple[str, str]:
    """The 404 pages for an id the person may not see and for one that does not exist."""
    hidden, unknown = client.get(url.format(id=hidden_id)), client.get(url.format(id=UNKNOWN))
    assert hidden.status_code == unknown.status_code == 404
    return page_text(hidden), page_text(unknown)


@pytest.mark.parametrize("lang", LANGS)
def test_a_task_i_may_not_see_and_a_missing_one(client, auth, flow, lang):
    task_id = flow.open_task(flow.start())  # 华北's
    auth.login("rm_huadong")
    in_lang(auth, lang)
    hidden, unknown = _hidden_and_unknown(client, "/tasks/{id}", task_id)
    assert TASK[lang].format(id=task_id) in hidden and TASK[lang].format(id=UNKNOWN) in unknown
    assert hidden == unknown.replace(str(UNKNOWN), str(task_id))
    for url in (f"/api/tasks/{task_id}", f"/api/tasks/{UNKNOWN}"):
        answer = client.get(url)
        assert answer.status_code == 404
        assert answer.get_json()["message"] == TASK[lang].format(id=url.rsplit("/", 1)[1])


@pytest.mark.parametrize("lang", LANGS)
def test_claiming_a_task_i_may_not_see_on_the_page(client, auth, flow, lang):
    task_id = flow.open_task(flow.start())
    auth.login("rm_huadong")
    in_lang(auth, lang)
    for shown_id in (task_id, UNKNOWN):
        response = auth.post(f"/tasks/{shown_id}/claim")
        assert response.status_code == 404 and TASK[lang].format(id=shown_id) in page_text(response)


@pytest.mark.parametrize("lang", LANGS)
def test_an_instance_i_may_not_see_and_a_missing_one(client, auth, flow, lang):
    instance_id = flow.start()
    auth.login("rm_huadong")
    in_lang(auth, lang)
    hidden, unknown = _hidden_and_unknown(client, "/instances/{id}", instance_id)
    assert INSTANCE[lang].format(id=instance_id) in hidden and INSTANCE[lang].format(id=UNKNOWN) in unknown
    assert hidden == unknown.replace(str(UNKNOWN), str(instance_id))
    for shown_id in (instance_id, UNKNOWN):
        answer = client.get(f"/api/instances/{shown_id}")
        assert answer.status_code == 404 and answer.get_json()["message"] == INSTANCE[lang].format(id=shown_id)
        refused = auth.post(f"/instances/{shown_id}/migrate")
        assert refused.status_code == 404 and INSTANCE[lang].format(id=shown_id) in page_text(refused)


@pytest.mark.parametrize("lang", LANGS)
def test_a_process_i_may_not_see_and_a_missing_one(client, auth, lang):
    auth.login("outsider")  # no lane of the approval process, no instance of it
    in_lang(auth, lang)
    for url in ("/processes/{p}/1/diagram", "/processes/{p}/1/download"):
        hidden, missing = client.get(url.format(p="approval")), client.get(url.format(p="nope"))
        assert hidden.status_code == missing.status_code == 404
        assert VERSION[lang].format(process="approval", version=1) in page_text(hidden)
        assert page_text(hidden) == page_text(missing).replace("nope", "approval")
    form = {"business_key": "x", "d.0.key": "office", "d.0.value": "华北"}
    for ask in (lambda p: client.get(f"/processes/{p}/start"), lambda p: auth.post(f"/start/{p}", form),
                lambda p: client.get(f"/processes/{p}/migrate")):
        hidden, missing = ask("approval"), ask("nope")
        assert hidden.status_code == missing.status_code == 404
        assert PROCESS[lang].format(process="approval") in page_text(hidden)
        assert PROCESS[lang].format(process="nope") in page_text(missing)
    for process in ("approval", "nope"):
        answer = auth.api_post("/api/instances", {"process_id": process, "data": {}})
        assert answer.status_code == 404 and answer.get_json()["message"] == PROCESS[lang].format(process=process)


@pytest.mark.parametrize("lang", LANGS)
def test_a_version_that_does_not_exist(client, auth, lang):
    auth.login("bj")  # may see the process
    in_lang(auth, lang)
    response = client.get("/processes/approval/7/download")
    assert response.status_code == 404
    assert VERSION[lang].format(process="approval", version=7) in page_text(response)


# -- what the store says itself: a missing id the web layer does not look up first ----------------------------


def test_claiming_a_missing_task_through_the_api_in_english(client, auth, flow):
    task_id = flow.open_task(flow.start())
    auth.login("rm_huadong")
    in_lang(auth, "en")
    hidden, unknown = auth.api_post(f"/api/tasks/{task_id}/claim"), auth.api_post(f"/api/tasks/{UNKNOWN}/claim")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.get_json()["message"] == TASK["en"].format(id=task_id)
    assert unknown.get_json()["message"] == TASK["en"].format(id=UNKNOWN)


def test_comparing_with_a_version_that_does_not_exist_in_english(client, auth):
    auth.login("admin")
    in_lang(auth, "en")
    response = client.get("/processes/approval/compare?a=7&b=1")
    assert response.status_code == 404
    assert VERSION["en"].format(process="approval", version=7) in page_text(response)


# -- the dry run on the instance page ------------------------------------------------------------------------
DRY_RUN = {
    "en": "Dry run: this instance cannot move: it is at “1 提交费用申请”, which version 3 does not have.",
    "zh": "预演结果: 不能迁移。当前步骤「1 提交费用申请」在第 3 版中不存在。",
}


@pytest.mark.parametrize("lang", LANGS)
def test_the_dry_run_names_the_missing_steps_the_readers_way(client, auth, flow, lang):
    instance_id = flow.start()  # at step 1, "request"
    deploy(flow, OWNED)
    deploy(flow, without_request_task(), "finance")
    auth.login("admin")
    in_lang(auth, lang)
    text = page_text(client.get(f"/instances/{instance_id}"))
    assert DRY_RUN[lang] in text
    assert ("「" in text) == (lang == "zh")
