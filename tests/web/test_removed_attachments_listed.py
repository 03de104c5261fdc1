"""The history's line for the worker's clean-up names the removed files joined the reader's way, from the event's
list of attachments ("初稿.pdf, 二稿.pdf" in English, "初稿.pdf、二稿.pdf" in Chinese); an event that has no such
list shows the names it was written with. On SQLite and on PostgreSQL.

The clean-up itself and the removed file's link: tests/web/test_removed_attachments.py."""

from __future__ import annotations

import re

import pytest
from test_task_page import _forecast, _upload
from testkit import ApprovalFlow, in_lang, page_text

from engine.store import audit

LANGS = ["en", "zh"]
REMOVED = {"en": "removed unused attachments", "zh": "清理无用附件"}
NAMES = {"en": "初稿.pdf, 二稿.pdf", "zh": "初稿.pdf、二稿.pdf"}
LINE = r'<b class="ev-kind">{kind}</b> <span class="ev-summary">([^<]*)</span>'


def _removed_lines(client, instance_id: int, lang: str) -> list[str]:
    text = page_text(client.get(f"/instances/{instance_id}"))
    return re.findall(LINE.format(kind=REMOVED[lang]), text)


@pytest.mark.parametrize("lang", LANGS)
def test_the_removed_files_are_listed_in_the_readers_language(db_app, auth_for, clock, lang):
    flow = ApprovalFlow(db_app)
    instance_id, task_id = _forecast(flow)
    client = db_app.test_client()
    auth = auth_for(client)
    auth.login("bj")
    for draft in ("初稿.pdf", "二稿.pdf"):  # each back with a problem (stored), then replaced
        assert _upload(auth, task_id, data={"f.forecast.1.qty": ""}, name=draft).status_code == 422
    assert _upload(auth, task_id, name="定稿.pdf").status_code == 302
    clock.advance(days=1, minutes=1)
    assert len(flow.tx(lambda s: flow.services.engine.remove_unused_attachments(s)).unused) == 2

    auth.login("admin")
    in_lang(auth, lang)
    assert _removed_lines(client, instance_id, lang) == [NAMES[lang]]


@pytest.mark.parametrize("lang", LANGS)
def test_an_event_without_the_list_shows_its_names(db_app, auth_for, clock, lang):
    flow = ApprovalFlow(db_app)
    instance_id = flow.start()
    flow.tx(lambda s: audit.record(s, "attachments_removed", clock.now(), instance_id=instance_id,
                                   name="旧稿.pdf、旧表.xlsx"))
    client = db_app.test_client()
    auth = auth_for(client)
    auth.login("admin")
    in_lang(auth, lang)
    assert _removed_lines(client, instance_id, lang) == ["旧稿.pdf、旧表.xlsx"]
