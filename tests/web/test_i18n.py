"""Chinese first; a switch in the header turns the same pages English (kept in the session)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from babel.messages.pofile import read_po

from web.i18n import LANGS, catalogues, compile_catalogues

WEB = Path(__file__).parents[2] / "web"
# t("key") / t('key') in Python and in templates; keys are dotted lower-case words
USED_KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")


def _messages(po: Path) -> dict[str, str]:
    with po.open("rb") as source:
        return {m.id: m.string for m in read_po(source) if m.id}


def test_both_languages_have_every_string():
    found = catalogues()
    assert sorted(found) == sorted(LANGS)
    zh, en = (_messages(found[lang]) for lang in LANGS)
    assert zh.keys() == en.keys()
    assert [key for key, text in {**zh, **en}.items() if not text] == []
    assert [key for key in zh if zh[key].count("{") != en[key].count("{")] == []


def test_every_key_the_code_uses_is_translated():
    known = _messages(catalogues()["zh"]).keys()
    sources = [*WEB.glob("*.py"), *WEB.glob("templates/**/*.html")]
    used = {key for path in sources for key in USED_KEY.findall(path.read_text(encoding="utf-8"))}
    assert used and sorted(used - known) == []


def test_a_changed_catalogue_is_compiled_again(tmp_path):
    folder = tmp_path / "zh" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po = folder / "messages.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\nmsgid "a.b"\nmsgstr "甲"\n',
                  encoding="utf-8")
    compile_catalogues(tmp_path)
    first = (folder / "messages.mo").read_bytes()
    assert "甲".encode() in first
    po.write_text(po.read_text(encoding="utf-8").replace("甲", "乙"), encoding="utf-8")
    os.utime(po, (po.stat().st_atime, (folder / "messages.mo").stat().st_mtime + 5))
    compile_catalogues(tmp_path)
    assert "乙".encode() in (folder / "messages.mo").read_bytes()


def test_switch_to_english_and_back(client, auth, flow):
    task_id = flow.open_task(flow.start())
    auth.login("bj")
    assert 'action="/lang/en"' in client.get("/").get_data(as_text=True)
    response = auth.post("/lang/en", {"next": f"/tasks/{task_id}"})
    assert response.status_code == 302 and response.headers["Location"] == f"/tasks/{task_id}"
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'lang="en"' in page
    assert "What to do" in page and "Save draft" in page and "Claim (I will do it)" in page
    assert "办事处提交本办事处的费用申请。" in page          # the process's own words stay as written
    inbox = client.get("/").get_data(as_text=True)
    assert "My tasks" in inbox and ">Open</a>" in inbox and "unclaimed" in inbox
    auth.post("/lang/zh", {"next": "/"})
    assert "我的待办" in client.get("/").get_data(as_text=True)


def test_language_survives_login(client, auth):
    auth.post("/lang/en", {"next": "/auth/login"})
    assert "Log in" in client.get("/auth/login").get_data(as_text=True)
    auth.login("bj")
    assert "No tasks for you right now" in client.get("/").get_data(as_text=True)


def test_error_pages_follow_the_language(client, auth):
    auth.login("bj")
    assert "找不到" in client.get("/nowhere").get_data(as_text=True)
    auth.post("/lang/en")
    response = client.get("/nowhere")
    assert response.status_code == 404 and "Not found" in response.get_data(as_text=True)


def test_switch_refuses_foreign_targets(client, auth):
    response = auth.post("/lang/en", {"next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_unknown_language_keeps_chinese(client, auth):
    auth.post("/lang/xx")
    assert "登录" in client.get("/auth/login").get_data(as_text=True)
