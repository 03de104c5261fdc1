"""Logging in and out, login_required, and the CSRF guard."""

from __future__ import annotations

from engine.store.models import User


def test_login_page_is_chinese(client):
    page = client.get("/auth/login")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "登录名" in text and "密码" in text
    assert 'lang="zh-CN"' in text


def test_pages_need_login(client):
    response = client.get("/tasks/1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=/tasks/1")


def test_wrong_password_is_refused_in_chinese(auth):
    response = auth.login("bj", "nope")
    assert response.status_code == 401
    assert "登录名或密码不正确" in response.get_data(as_text=True)


def test_unknown_user_is_refused_like_a_wrong_password(auth):
    response = auth.login("nobody", auth.password)
    assert response.status_code == 401
    assert "登录名或密码不正确" in response.get_data(as_text=True)


def test_login_then_inbox_then_logout(client, auth):
    response = auth.login()
    assert response.status_code == 302 and response.headers["Location"] == "/"
    inbox = client.get("/").get_data(as_text=True)
    assert "我的待办" in inbox and "宋晓东" in inbox
    assert auth.logout().status_code == 302
    assert client.get("/").status_code == 302


def test_login_follows_only_local_next(client, auth):
    response = auth.login(next_url="https://evil.example/x")
    assert response.headers["Location"] == "/"
    auth.logout()
    response = auth.login(next_url="//evil.example/x")
    assert response.headers["Location"] == "/"
    auth.logout()
    response = auth.login(next_url="/instances/")
    assert response.headers["Location"] == "/instances/"


def test_login_starts_a_new_session(client, auth):
    before = auth.token()
    auth.login()
    assert auth.token() != before


def test_post_without_csrf_token_is_refused(client, auth):
    auth.login()
    response = client.post("/auth/logout")
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # still logged in


def test_login_form_without_token_is_refused(client, auth):
    response = client.post("/auth/login", data={"login": "bj", "password": auth.password})
    assert response.status_code == 400


def test_json_post_needs_the_header(client, auth):
    auth.login()
    response = client.post("/api/tasks/1/claim", json={})
    assert response.status_code == 400
    assert response.get_json()["error"] == 400
    assert "安全令牌" in response.get_json()["message"]


def test_removed_user_loses_the_session(client, auth, flow):
    auth.login()

    def deactivate(s):
        s.get(User, "bj").active = False

    flow.tx(deactivate)
    assert client.get("/").status_code == 302


def test_security_headers(client):
    response = client.get("/auth/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
