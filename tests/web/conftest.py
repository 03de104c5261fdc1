"""The web layer's fixtures, after Flask's tutorial: app (on a fresh SQLite file) → client → auth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import update
from testkit import ApprovalFlow
from werkzeug.security import generate_password_hash

from engine.store import org
from engine.store.models import Grant
from web.app import create_app

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()
PASSWORD = "secret-pw"
# login, name, grants (role, scope): the approval process's lanes are 办事处 → 大区经理 → 财务部
PEOPLE = [
    ("bj", "宋晓东", [("办事处", "华北/北京办事处")]),
    ("sh", "彭立新", [("办事处", "华东/上海办事处")]),
    ("rm_huabei", "罗平", [("大区经理", "华北")]),
    ("rm_huadong", "韩国栋", [("大区经理", "华东")]),
    ("finance", "赵磊", [("财务部", "*")]),
    ("outsider", "路人甲", [("生产部", "*")]),
    ("admin", "系统管理员", [("admin", "*")]),
]
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def seed(app) -> None:
    """The people above (quick password hashes) and the approval process, deployed by admin."""
    services = app.extensions["smflow"]

    def work(s):
        hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        for login, name, grants in PEOPLE:
            org.add_user(s, login, name, hashed)
            for role, scope in grants:
                org.grant(s, login, role, scope)
        services.engine.deploy(s, APPROVAL, "approval.bpmn", "admin")

    from engine.store.unit_of_work import in_transaction

    in_transaction(services.sessions, work)


def make_app(url: str, clock):
    app = create_app({"TESTING": True, "SECRET_KEY": "test-key", "DATABASE_URL": url, "SMFLOW_CLOCK": clock})
    seed(app)
    return app


@pytest.fixture
def app(sqlite_url, clock):
    application = make_app(sqlite_url, clock)
    yield application
    application.extensions["smflow"].sessions.kw["bind"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class AuthActions:
    password = PASSWORD

    def __init__(self, client):
        self._client = client

    def login(self, login: str = "bj", password: str = PASSWORD, next_url: str | None = None):
        page = self._client.get("/auth/login").get_data(as_text=True)
        token = TOKEN.search(page).group(1)
        return self._client.post("/auth/login", query_string={"next": next_url} if next_url else None,
                                 data={"login": login, "password": password, "csrf_token": token})

    def logout(self):
        return self.post("/auth/logout")

    def token(self) -> str:
        return self._client.get("/api/csrf").get_json()["csrf_token"]

    def post(self, url: str, data: dict | None = None, **kwargs):
        """A form POST with this session's CSRF token."""
        return self._client.post(url, data={**(data or {}), "csrf_token": self.token()}, **kwargs)

    def api_post(self, url: str, body=None, **kwargs):
        return self._client.post(url, json=body, headers={"X-CSRF-Token": self.token()}, **kwargs)


@pytest.fixture
def auth(client):
    return AuthActions(client)


class Flow(ApprovalFlow):
    def leave_the_lanes(self, login: str) -> None:
        """The person moves to 生产部, a role of no lane of the approval process (their instances stay theirs)."""
        self.tx(lambda s: s.execute(update(Grant).where(Grant.login == login).values(role="生产部", scope="*")))

    def request_done(self, office: str = "华北/北京办事处", by: str = "bj") -> tuple[int, int]:
        """Start an instance and submit step 1; returns (instance id, the review task's id)."""
        instance_id = self.start(office, by)
        self.complete(self.open_task(instance_id), by,
                      {"amount": 12.5, "purpose": "学术会议", "lines": [{"item": "场地", "cost": 12.5}]})
        return instance_id, self.open_task(instance_id)


@pytest.fixture
def flow(app):
    return Flow(app)


@pytest.fixture
def db_app(db_url, clock):
    """The app on SQLite and on PostgreSQL (the `db_url` fixture runs each test twice)."""
    application = make_app(db_url, clock)
    yield application
    application.extensions["smflow"].sessions.kw["bind"].dispose()


@pytest.fixture
def auth_for():
    """AuthActions for any test client."""
    return AuthActions
