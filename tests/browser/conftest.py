"""Browser tests: Debian's Chromium driven by Playwright against the app behind a real HTTP server.

They fail (never skip) when Chromium, Playwright or the front-end build (`npm ci`) is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit import ApprovalFlow, serving
from werkzeug.security import generate_password_hash

from engine.store import org
from engine.store.unit_of_work import in_transaction
from web.app import create_app

ROOT = Path(__file__).parents[2]
SHOTS = Path(__file__).parent / "screenshots"
APPROVAL = (ROOT / "tests" / "fixtures" / "approval.bpmn").read_bytes()
PASSWORD = "secret-pw"
PEOPLE = [
    ("bj", "宋晓东", [("办事处", "华北/北京办事处")]),
    ("rm_huabei", "罗平", [("大区经理", "华北")]),
    ("rm_huadong", "韩国栋", [("大区经理", "华东")]),
    ("admin", "系统管理员", [("admin", "*")]),
]


class Live(ApprovalFlow):
    """The running app, its URL, and a way to set up state through the engine."""

    def __init__(self, app, url: str):
        super().__init__(app)
        self.url = url


@pytest.fixture
def live(sqlite_url, clock):
    app = create_app({"TESTING": True, "SECRET_KEY": "browser-test", "DATABASE_URL": sqlite_url,
                      "SMFLOW_CLOCK": clock})

    def seed(s):
        hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        for login, name, grants in PEOPLE:
            org.add_user(s, login, name, hashed)
            for role, scope in grants:
                org.grant(s, login, role, scope)
        app.extensions["smflow"].engine.deploy(s, APPROVAL, "approval.bpmn", "admin")

    in_transaction(app.extensions["smflow"].sessions, seed)
    with serving(app) as url:
        yield Live(app, url)
    app.extensions["smflow"].sessions.kw["bind"].dispose()


@pytest.fixture
def page(browser, live):
    """A fresh browser tab; any JavaScript error or failed asset load fails the test."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("console", lambda msg: problems.append(f"console: {msg.text}")
           if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    tab.on("response", lambda r: problems.append(f"{r.status} {r.url}")
           if r.status >= 400 and "/static/" in r.url else None)
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert not problems, problems


@pytest.fixture
def shot():
    """Save a full-page screenshot to tests/browser/screenshots/<name>.png (look at them)."""

    def take(tab, name: str) -> Path:
        SHOTS.mkdir(exist_ok=True)
        path = SHOTS / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def login(live):
    def log_in(tab, user: str) -> None:
        tab.goto(live.url + "/auth/login")
        tab.fill("#login", user)
        tab.fill("#password", PASSWORD)
        tab.click("form button.primary")
        tab.wait_for_url(live.url + "/")

    return log_in
