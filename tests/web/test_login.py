"""Logging in and out, login_required, and the CSRF guard."""

from __future__ import annotations

import re

from engine.store.models import User
from web.app import create_app

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


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


# -- hardening: cookie flags, fixation, CSRF on every POST, failed-login limits ----------------------------
def _set_cookie(response) -> str:
    return next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session="))


def test_session_cookie_is_httponly_samesite_and_ends_when_idle(auth):
    response = auth.login()
    cookie = _set_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # a permanent session: its lifetime (8 h) is the idle timeout
    assert "Secure" not in cookie  # plain HTTP by default (a local demo); see the next test


def test_session_cookie_is_renewed_every_few_minutes_not_on_every_response(client, auth, monkeypatch):
    from web import auth as web_auth

    auth.login()
    assert not any(k == "Set-Cookie" for k, _ in client.get("/api/me").headers.items())  # renewed at login
    later = web_auth._real_now() + web_auth.RENEW_EVERY
    monkeypatch.setattr(web_auth, "_real_now", lambda: later)
    renewed = _set_cookie(client.get("/api/me"))  # an active user's idle timeout starts again
    assert "Expires=" in renewed
    assert not any(k == "Set-Cookie" for k, _ in client.get("/api/me").headers.items())


def _second_app(url, clock, **config):
    """Another app on the same (seeded) database: another server process, or other settings."""
    return create_app({"TESTING": True, "SECRET_KEY": "test-key", "DATABASE_URL": url, "SMFLOW_CLOCK": clock,
                       **config})


def test_session_cookie_is_secure_when_configured(app, sqlite_url, clock, auth_for):
    secure = _second_app(sqlite_url, clock, SESSION_COOKIE_SECURE=True)
    try:
        cookie = _set_cookie(auth_for(secure.test_client()).login())
        assert "Secure" in cookie and "HttpOnly" in cookie
    finally:
        secure.extensions["smflow"].sessions.kw["bind"].dispose()


def test_a_planted_session_cookie_does_not_become_logged_in(app, client, auth):
    """Session fixation: the cookie a visitor had before logging in never carries the login."""
    client.get("/auth/login")
    planted = client.get_cookie("session").value
    auth.login()
    assert client.get_cookie("session").value != planted
    attacker = app.test_client()
    attacker.set_cookie("session", planted)
    assert attacker.get("/").status_code == 302
    assert attacker.get("/api/me").status_code == 401


def test_the_anonymous_token_is_worthless_after_login(client, auth):
    page = client.get("/auth/login").get_data(as_text=True)
    old = TOKEN.search(page).group(1)
    auth.login()
    response = client.post("/auth/logout", data={"csrf_token": old})
    assert response.status_code == 400
    assert client.get("/").status_code == 200


def test_a_token_from_another_session_is_refused_on_the_login_form(app, client, auth):
    other = app.test_client()
    foreign = TOKEN.search(other.get("/auth/login").get_data(as_text=True)).group(1)
    client.get("/auth/login")
    response = client.post("/auth/login", data={"login": "bj", "password": auth.password, "csrf_token": foreign})
    assert response.status_code == 400 and "安全令牌" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_every_post_route_needs_the_csrf_token(app, client, auth):
    auth.login("admin")
    posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods]
    assert len(posts) > 15
    urls = app.url_map.bind("localhost")
    for rule in posts:
        url = urls.build(rule.endpoint, {name: "1" for name in rule.arguments}, method="POST")
        response = client.post(url, data={"login": "admin", "password": auth.password})
        assert response.status_code == 400, (rule.rule, response.status_code)
    assert client.get("/").status_code == 200  # nothing happened: still logged in


def test_logout_ends_the_session_and_keeps_the_language(client, auth):
    auth.login()
    auth.post("/lang/en", {"next": "/"})
    assert auth.logout().headers["Location"] == "/auth/login"
    page = client.get("/auth/login").get_data(as_text=True)
    assert "You have logged out" in page and 'lang="en"' in page
    assert client.get("/").status_code == 302 and client.get("/api/me").status_code == 401


def test_logout_needs_post(client, auth):
    auth.login()
    assert client.get("/auth/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_next_with_a_backslash_is_not_followed(auth):
    assert auth.login(next_url="/\\evil.example").headers["Location"] == "/"


def _fail(auth, login="bj", times=1):
    return [auth.login(login, "wrong") for _ in range(times)][-1]


def test_five_failures_lock_the_login_from_that_address_with_the_time_to_retry(client, auth, clock):
    for n in range(4):
        assert auth.login("bj", f"wrong{n}").status_code == 401
    locked = auth.login("bj", "wrong")  # the fifth failure locks
    assert locked.status_code == 429
    text = locked.get_data(as_text=True)
    assert "登录失败次数过多" in text and "2027-04-02 09:15" in text and "15 分钟" in text
    assert locked.headers["Retry-After"] == "900"
    clock.advance(minutes=5)
    right = auth.login("bj", auth.password)  # even the right password waits
    assert right.status_code == 429 and "2027-04-02 09:15" in right.get_data(as_text=True)
    assert right.headers["Retry-After"] == "600"
    assert client.get("/").status_code == 302
    clock.advance(minutes=10)
    assert auth.login("bj", auth.password).status_code == 302


def test_trying_during_the_lockout_does_not_make_it_longer(auth, clock):
    """An attacker cannot keep a user out for good by trying on and on: the lock ends on time."""
    _fail(auth, times=5)
    for _ in range(30):
        clock.advance(seconds=20)
        assert auth.login("bj", "wrong").status_code == 429
    clock.advance(minutes=5)  # 15 minutes after the fifth failure
    assert auth.login("bj", auth.password).status_code == 302


def test_a_locked_login_still_works_from_another_address(app, auth, auth_for):
    _fail(auth, times=5)
    assert auth.login("bj", auth.password).status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert auth_for(elsewhere).login("bj", auth.password).status_code == 302
    assert auth.login("sh", auth.password).status_code == 302  # and other logins from here too


def test_one_address_trying_many_logins_is_locked(app, auth, auth_for):
    people = ["bj", "sh", "rm_huabei", "rm_huadong", "finance", "outsider", "admin"]
    for n in range(20):  # at most 3 per login: it is the address's count that locks
        response = auth.login(people[n % len(people)], "wrong")
    assert response.status_code == 429
    assert auth.login("bj", auth.password).status_code == 429  # that address, whatever the login
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert auth_for(elsewhere).login("bj", auth.password).status_code == 302


def test_a_successful_login_forgets_the_earlier_failures(client, auth):
    _fail(auth, times=4)
    assert auth.login().status_code == 302
    auth.logout()
    assert _fail(auth, times=4).status_code == 401
    assert auth.login().status_code == 302


def test_the_lockout_holds_across_server_processes(app, sqlite_url, clock, auth, auth_for):
    """Two apps on one database stand for two gunicorn workers: the count is in the database."""
    _fail(auth, times=5)
    second = _second_app(sqlite_url, clock)
    try:
        response = auth_for(second.test_client()).login("bj", auth.password)
        assert response.status_code == 429
    finally:
        second.extensions["smflow"].sessions.kw["bind"].dispose()


def test_the_api_login_is_limited_too(client, auth):
    _fail(auth, times=5)
    response = client.post("/api/login", json={"login": "bj", "password": auth.password},
                           headers={"X-CSRF-Token": auth.token()})
    assert response.status_code == 429 and response.headers["Retry-After"] == "900"
    body = response.get_json()
    assert body["error"] == 429 and body["retry_after"] == 900 and "请于 2027-04-02 09:15 之后再试" in body["message"]


def test_the_lockout_message_is_english_when_english_is_chosen(auth):
    auth.post("/lang/en", {"next": "/auth/login"})
    text = _fail(auth, times=5).get_data(as_text=True)
    assert "Too many failed logins" in text and "2027-04-02 09:15" in text


def test_a_copy_of_the_cookie_is_worthless_after_logout(app, client, auth):
    auth.login()
    copied = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/").status_code == 200  # before logout the copy works (that is what a cookie is)
    auth.logout()
    assert thief.get("/").status_code == 302
    assert thief.get("/api/me").status_code == 401


def test_logging_out_ends_only_that_session(app, client, auth, auth_for):
    other = app.test_client()
    auth_for(other).login("bj")
    auth.login("bj")
    auth.logout()
    assert other.get("/").status_code == 200
    assert client.get("/").status_code == 302


def test_sessions_are_kept_in_the_database_on_both_databases(db_app, auth_for):
    """Sessions and failure counts work on PostgreSQL as on SQLite."""
    client = db_app.test_client()
    auth = auth_for(client)
    assert auth.login("bj").status_code == 302 and client.get("/").status_code == 200
    auth.logout()
    assert client.get("/").status_code == 302
    for n in range(5):
        response = auth.login("bj", f"wrong{n}")
    assert response.status_code == 429 and auth.login("bj").status_code == 429


def test_logging_in_again_ends_the_previous_session(app, client, auth):
    auth.login("bj")
    copied = client.get_cookie("session").value
    assert auth.login("sh").status_code == 302  # another person at the same desk, without logging out
    assert "彭立新" in client.get("/").get_data(as_text=True)
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/").status_code == 302
