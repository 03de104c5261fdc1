"""The app behind a real HTTP server (werkzeug in a thread), driven with urllib and a cookie jar."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from testkit import serving


@pytest.fixture
def live_url(app):
    with serving(app) as url:
        yield url


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()

    def post(self, path: str, fields: dict) -> tuple[int, str]:
        body = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(self.base + path, data=body, method="POST")
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()

    def token(self) -> str:
        return json.loads(self.get("/api/csrf")[1])["csrf_token"]


def test_a_person_logs_in_and_completes_a_task_over_http(live_url, flow, auth):
    task_id = flow.open_task(flow.start())
    browser = Browser(live_url)
    status, page = browser.get("/auth/login")
    assert status == 200 and "登录名" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    status, inbox = browser.post("/auth/login", {"login": "bj", "password": auth.password, "csrf_token": token})
    assert status == 200 and "1 提交费用申请" in inbox          # followed the redirect to 我的待办
    status, page = browser.get(f"/tasks/{task_id}")
    assert status == 200 and 'name="f.lines.0.item"' in page
    status, page = browser.post(f"/tasks/{task_id}/complete", {
        "csrf_token": browser.token(), "f.amount": "8", "f.purpose": "拜访", "f.lines.0.item": "差旅",
        "f.lines.0.cost": "8"})
    assert status == 200 and "已提交「1 提交费用申请」" in page and "暂无待办任务" in page
    status, _ = browser.post(f"/tasks/{task_id}/complete", {"f.amount": "8"})
    assert status == 400                                         # no CSRF token


def test_static_files_are_served(live_url):
    status, css = Browser(live_url).get("/static/smflow.css")
    assert status == 200 and "--brand" in css
