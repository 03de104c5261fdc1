"""Helpers of the security suites: the demo organisation on a real database, logins, a figures file.

Every suite writes what it counted (inputs tried, crashes, escapes, kills survived...) to
tests/security/artifacts/figures.json (git-ignored), so a long run's numbers can be read afterwards.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

from werkzeug.security import generate_password_hash

from engine.store import org
from engine.store.models import User
from engine.store.unit_of_work import in_transaction
from web.app import create_app
from web.demo import MANUAL_FILES, demo_data, load_organisation, manual_file

HERE = Path(__file__).parent
ARTIFACTS = Path(os.environ.get("SMFLOW_SECURITY_ARTIFACTS") or HERE / "artifacts")  # another folder for a long run
FIXTURES = HERE.parent / "fixtures"
PASSWORD = "demo123"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_figures_lock = threading.Lock()


def record_figures(suite: str, figures: dict) -> None:
    """Add (sum) a suite's counts to artifacts/figures.json."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "figures.json"
    with _figures_lock:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        mine = data.setdefault(suite, {})
        for key, value in figures.items():
            mine[key] = mine.get(key, 0) + value if isinstance(value, int | float) else value
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def load_demo(sessions, engine, clock, extra_files: tuple[str, ...] = ("approval.bpmn",)) -> None:
    """The demo organisation (quick password hashes), the manual's five processes and `extra_files`."""
    data = demo_data()

    def organisation(s):
        quick = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        for user in data["users"]:
            if s.get(User, user["login"]) is None:
                org.add_user(s, user["login"], user["name"], quick)
        load_organisation(s, data, clock.now())

    in_transaction(sessions, organisation)
    for name in MANUAL_FILES:
        in_transaction(sessions, lambda s, name=name: engine.deploy(s, manual_file(name), name, "admin"))
    for name in extra_files:
        content = (FIXTURES / name).read_bytes()
        in_transaction(sessions, lambda s, name=name, content=content: engine.deploy(s, content, name, "admin"))


def make_demo_app(url: str, clock):
    app = create_app({"TESTING": True, "SECRET_KEY": "security-suite", "DATABASE_URL": url, "SMFLOW_CLOCK": clock})
    services = app.extensions["smflow"]
    load_demo(services.sessions, services.engine, clock)
    return app


class Session:
    """One person's Flask test client: log in, GET, form POST and JSON POST with this session's CSRF token."""

    def __init__(self, app, login: str | None = None):
        self.client = app.test_client()
        self.login_name = login
        if login:
            self.log_in(login)

    def log_in(self, login: str, password: str = PASSWORD):
        page = self.client.get("/auth/login").get_data(as_text=True)
        response = self.client.post("/auth/login", data={"login": login, "password": password,
                                                         "csrf_token": TOKEN.search(page).group(1)})
        assert response.status_code == 302, f"{login} could not log in"
        return response

    def token(self) -> str:
        return self.client.get("/api/csrf").get_json()["csrf_token"]

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url: str, data=None, **kwargs):
        if isinstance(data, dict) or data is None:
            data = {**(data or {}), "csrf_token": self.token()}
        return self.client.post(url, data=data, **kwargs)

    def api(self, url: str, body=None, method: str = "POST", **kwargs):
        return self.client.open(url, method=method, json=body, headers={"X-CSRF-Token": self.token()}, **kwargs)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


class Env:
    """An engine on a database URL, with a helper to run one unit of work (as tests/conftest.py's Env)."""

    def __init__(self, url: str, clock):
        from engine import Engine, Sandbox
        from engine.store.db import make_engine, make_session_factory
        from handlers import default_registry

        self.url, self.clock = url, clock
        self.db = make_engine(url)
        self.sessions = make_session_factory(self.db)
        self.engine = Engine(default_registry(), Sandbox(), clock)

    def tx(self, work):
        return in_transaction(self.sessions, work)
