"""Chinese first; a switch in the header turns the same pages English (kept in the session)."""

from __future__ import annotations

from web.i18n import STRINGS


def test_every_string_has_both_languages():
    assert all(len(pair) == 2 and all(pair) for pair in STRINGS.values())


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
