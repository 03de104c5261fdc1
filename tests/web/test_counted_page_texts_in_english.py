"""Counts on the pages in English that read as well for one as for many: worded without a plural after the
number ("Running instances: 1", "Attempts so far: 1") or said for one ("Dry run: 1 instance on an older version"),
never "1 running instances"; the Chinese as before. The process library, the migration page's dry run and its
report, a service task waiting for a retry on the instance page, and the modeler's messages.

Messages from the engine with a count: tests/web/test_counted_messages_in_english.py."""

from __future__ import annotations

import html
import json
import re

import pytest
from test_messages_in_english import _catalogue
from test_migration_pages import OWNED, RENAMED
from testkit import in_lang, page_text

from engine import HandlerFailed

LANGS = ["en", "zh"]


@pytest.fixture
def one_older(flow):
    """One instance at step 1 of version 1 of the approval process, whose version 3 (owned by 财务部) can take it."""
    instance_id = flow.start()
    flow.tx(lambda s: flow.services.engine.deploy(s, OWNED, "approval.bpmn", "admin"))
    flow.tx(lambda s: flow.services.engine.deploy(s, RENAMED, "approval.bpmn", "finance"))
    return instance_id


@pytest.mark.parametrize(("lang", "running"), [("en", "Running instances: 1"), ("zh", "运行中实例 1 个")])
def test_one_running_instance_in_the_library(client, auth, flow, lang, running):
    flow.start()
    auth.login("admin")
    in_lang(auth, lang)
    text = page_text(client.get("/processes/"))
    section = text[text.index('id="process-approval"'):]
    assert running in section and not re.search(r"\b1 running instances\b", section)


DRY_RUN = {"en": "Dry run: 1 instance on an older version, 1 can move, 0 cannot",
           "zh": "预演: 1 个旧版本实例, 1 个可以迁移, 0 个不能迁移"}
MOVED = {"en": "Instances moved to version 3: {id} (1 in all)", "zh": "已将 1 个实例迁移到第 3 版: {id}"}


@pytest.mark.parametrize("lang", LANGS)
def test_one_instance_in_the_dry_run_and_moved(client, auth, one_older, lang):
    auth.login("finance")
    in_lang(auth, lang)
    text = page_text(client.get("/processes/approval/migrate"))
    assert DRY_RUN[lang] in text and not re.search(r"\b1 instances\b", text)
    moved = page_text(auth.post("/processes/approval/migrate", {"all": "1"}, follow_redirects=True))
    assert MOVED[lang].format(id=one_older) in moved and not re.search(r"\b1 instances\b", moved)


@pytest.mark.parametrize(("lang", "attempts"), [("en", "Attempts so far: 1"), ("zh", "已尝试 1 次")])
def test_a_service_task_tried_once_on_the_instance_page(client, auth, flow, lang, attempts):
    def archive_down(ctx, **params):
        raise HandlerFailed("档案库维护中")  # retryable: the worker tries again later

    flow.services.engine.handlers.register("archive", archive_down)
    instance_id, review_id = flow.request_done()
    flow.complete(review_id, "rm_huabei", {"decision": "approve"})
    auth.login("rm_huabei")
    in_lang(auth, lang)
    text = page_text(client.get(f"/instances/{instance_id}"))
    jobs = text[text.index('<section class="problems">'):]
    assert f"<strong>archive</strong>: 档案库维护中 · {attempts} ·" in jobs[:jobs.index("</section>")]


MODELER = {  # the modeler's messages with a count, filled in for one as the page's script does
    "en": {"problems": "Problems found: 1",
           "valid_with_warnings": "Valid, with notes that do not block deploying: 1"},
    "zh": {"problems": "发现 1 处问题",
           "valid_with_warnings": "校验通过, 有 1 条提醒 (不影响部署)"},
}


@pytest.mark.parametrize("lang", LANGS)
def test_the_modelers_counted_messages(client, auth, lang):
    auth.login("admin")
    in_lang(auth, lang)
    text = client.get("/processes/approval/1/edit").get_data(as_text=True)
    messages = json.loads(html.unescape(re.search(r"data-messages='([^']*)'", text).group(1)))
    assert {key: messages[key].format(n=1) for key in MODELER[lang]} == MODELER[lang]


def test_no_english_page_text_puts_a_plural_noun_after_a_count():
    """"{n} instances" reads wrong for one: say it another way ("Running instances: {n}")."""
    counted = re.compile(r"\{(?:n|count|total|movable|blocked|unread)\} (?:\w+ )?"
                         r"(?:instances|attempts|problems|errors|notes|tasks|rows|characters|files|steps)\b")
    never_one = {"start.key_too_long", "starting.bad_key", "api.start_body",  # a limit (255)
                 "inbox.page_of",  # shown from a second page on: more tasks than a page holds
                 "versions.dry_run"}  # for more than one (versions.dry_run_one: for one)
    english = _catalogue("en")
    assert sorted(key for key, text in english.items() if key not in never_one and counted.search(text)) == []
