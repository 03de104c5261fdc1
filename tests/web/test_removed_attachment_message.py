"""The link of a file the worker's clean-up removed (an upload given up on a task that has ended, named by nothing of
its process: engine/store/attachments.py) says so, to whoever may see its instance, in their language; anyone else
gets the answer for an attachment that never existed, which tells nothing about the instance.

On SQLite and on PostgreSQL: the removal is found in the instance's `attachments_removed` event (a JSON query).
How a given-up upload is removed: tests/web/test_removed_attachments.py.
"""

from __future__ import annotations

import re

import pytest
from test_task_page import _forecast, _upload
from testkit import ApprovalFlow, in_lang, page_text

CLEANED = {"en": "Attachment {id} was cleaned up: its task has ended and nothing in the process refers to it",
           "zh": "附件 {id} 已被清理: 它所属的任务已结束, 且流程中没有任何地方引用它"}
MISSING = {"en": "There is no attachment number {id}", "zh": "没有编号为 {id} 的附件"}


def _given_up_and_removed(app, auth_for, clock, office: str = "华北/北京办事处", by: str = "bj") -> tuple[int, int]:
    """An upload that came back with the form's problems, then another file chosen and submitted; a day later the
    clean-up removes the first. Returns (its id, the kept file's id)."""
    flow = ApprovalFlow(app)
    instance_id, task_id = _forecast(flow, office=office, by=by, key=office)
    auth = auth_for(app.test_client())
    auth.login(by)
    page = _upload(auth, task_id, data={"f.forecast.1.qty": ""}, name="初稿.pdf")
    assert page.status_code == 422
    draft_id = int(re.search(r'href="/attachments/(\d+)" class="file-link">初稿.pdf', page.get_data(as_text=True))[1])
    assert _upload(auth, task_id, name="定稿.pdf").status_code == 302
    final_id = flow.tx(lambda s: flow.services.engine.show(s, instance_id))["data"]["basis"]["id"]
    clock.advance(days=1, minutes=1)
    removed = flow.tx(lambda s: flow.services.engine.remove_unused_attachments(s))
    assert [u.id for u in removed.unused] == [draft_id]
    return draft_id, final_id


def _reader(app, auth_for, login: str, lang: str):
    """Someone logged in who reads `lang`: a function from an attachment id to its link's 404 page."""
    client = app.test_client()
    auth = auth_for(client)
    auth.login(login)
    in_lang(auth, lang)

    def said(attachment_id: int) -> str:
        response = client.get(f"/attachments/{attachment_id}")
        assert response.status_code == 404
        return page_text(response)

    return said


def _said(app, auth_for, login: str, lang: str, attachment_id: int) -> str:
    return _reader(app, auth_for, login, lang)(attachment_id)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_removed_upload_says_it_was_cleaned_up(db_app, auth_for, clock, lang):
    draft_id, final_id = _given_up_and_removed(db_app, auth_for, clock)
    for login in ("bj", "rm_huabei", "admin"):  # the uploader, the next step's region, an administrator
        text = _said(db_app, auth_for, login, lang, draft_id)
        assert CLEANED[lang].format(id=draft_id) in text, login
        assert MISSING[lang].format(id=draft_id) not in text
    never = final_id + 1000
    assert MISSING[lang].format(id=never) in _said(db_app, auth_for, "bj", lang, never)  # no event names it


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_someone_who_may_not_see_the_instance_gets_the_answer_for_a_missing_id(db_app, auth_for, clock, lang):
    draft_id, final_id = _given_up_and_removed(db_app, auth_for, clock)
    never = final_id + 1000
    for login in ("sh", "rm_huadong", "outsider"):  # another office, another region, no role of the process
        said = _reader(db_app, auth_for, login, lang)
        text = said(draft_id)
        assert MISSING[lang].format(id=draft_id) in text and "初稿" not in text, login
        assert text == said(never).replace(str(never), str(draft_id))


def test_each_person_is_told_about_the_files_of_the_instances_they_see(db_app, auth_for, clock):
    """Two instances' clean-ups: each office hears about its own removed file only."""
    beijing, _ = _given_up_and_removed(db_app, auth_for, clock)
    shanghai, _ = _given_up_and_removed(db_app, auth_for, clock, office="华东/上海办事处", by="sh")
    assert CLEANED["en"].format(id=beijing) in _said(db_app, auth_for, "bj", "en", beijing)
    assert MISSING["en"].format(id=shanghai) in _said(db_app, auth_for, "bj", "en", shanghai)
    assert CLEANED["zh"].format(id=shanghai) in _said(db_app, auth_for, "sh", "zh", shanghai)
    assert MISSING["zh"].format(id=beijing) in _said(db_app, auth_for, "sh", "zh", beijing)
