"""Helpers of the worker tests: a database with an engine, `smflow` commands, a local SMTP inbox, the web app."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from engine import Engine, FixedClock, Sandbox
from engine.clock import COMPANY_TZ
from engine.store import org
from engine.store.db import make_engine, make_session_factory
from engine.store.models import Event, HumanTask, Job, ProcessInstance
from engine.store.unit_of_work import in_transaction
from engine.worker import Worker
from handlers import default_registry

HERE = Path(__file__).parent
SMFLOW = [sys.executable, "-c", "from web.cli import main; main()"]


def slow_handlers():
    """The test-only handler module, loaded the way `smflow worker --handlers` loads it."""
    spec = importlib.util.spec_from_file_location("slow_handler", HERE / "slow_handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class WorkerDb:
    """A database, an engine on it with a fixed clock, and `smflow` commands against it."""

    def __init__(self, url: str, clock: FixedClock):
        self.url = url
        self.db = make_engine(url)
        self.sessions = make_session_factory(self.db)
        registry = default_registry()
        slow_handlers().register(registry)
        self.engine = Engine(registry, Sandbox(), clock)
        self.clock = clock

    def tx(self, work):
        return in_transaction(self.sessions, work)

    def deploy(self, name: str) -> None:
        self.tx(lambda s: self.engine.deploy(s, (HERE / name).read_bytes(), name, None))

    def start_many(self, process_id: str, count: int, chunk: int = 50) -> list[int]:
        ids = []
        for first in range(0, count, chunk):
            ids += self.tx(lambda s, first=first: [self.engine.start(s, process_id, None, {"n": n})
                                                   for n in range(first, min(first + chunk, count))])
        return ids

    def command(self, *args: str) -> list[str]:
        return [*SMFLOW, "--db", self.url, *args]

    def spawn(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **(env or {})})


class Inbox:
    """What a local SMTP server (aiosmtpd) received: (recipients, parsed message)."""

    def __init__(self):
        self.messages: list[tuple[list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler hook
        from email import message_from_bytes, policy

        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"

    def to(self, address: str) -> list[str]:
        """The subjects of the messages sent to `address`, in order."""
        return [str(m["Subject"]) for rcpts, m in self.messages if address in rcpts]


class Site:
    """The web app on a SQLite file with a few people, and a logged-in test client per person."""

    PASSWORD = "secret-pw"
    TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

    def __init__(self, url: str, clock: FixedClock, people: dict[str, list[tuple[str, str]]]):
        from werkzeug.security import generate_password_hash

        from engine.store import org
        from web.app import create_app

        self.app = create_app({"TESTING": True, "SECRET_KEY": "k", "DATABASE_URL": url, "SMFLOW_CLOCK": clock})
        self.services = self.app.extensions["smflow"]
        self.clock = clock

        def seed(s):
            hashed = generate_password_hash(self.PASSWORD, method="pbkdf2:sha256:1000")
            for login, grants in people.items():
                org.add_user(s, login, f"用户{login}", hashed)
                for role, scope in grants:
                    org.grant(s, login, role, scope)
        self.tx(seed)

    @property
    def engine(self) -> Engine:
        return self.services.engine

    def tx(self, work):
        return in_transaction(self.services.sessions, work)

    def client(self, login: str):
        client = self.app.test_client()
        page = client.get("/auth/login").get_data(as_text=True)
        client.post("/auth/login", data={"login": login, "password": self.PASSWORD,
                                         "csrf_token": self.TOKEN.search(page).group(1)})
        return client

    def post(self, client, url: str, data: dict | None = None):
        token = client.get("/api/csrf").get_json()["csrf_token"]
        return client.post(url, data={**(data or {}), "csrf_token": token}, follow_redirects=True)


def approval_at_its_archive(site: Site) -> int:
    """The approval process deployed and one instance taken through its two steps to its archive service task
    (people bj and rm); its id."""
    approval = (HERE.parent / "fixtures" / "approval.bpmn").read_bytes()
    site.tx(lambda s: site.engine.deploy(s, approval, "approval.bpmn", "admin"))
    instance_id = site.tx(lambda s: site.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"}))
    (task,) = site.tx(lambda s: site.engine.inbox(s, "bj"))
    site.tx(lambda s: site.engine.complete(s, task.id, "bj", {"amount": 1, "purpose": "会议"}))
    (review,) = site.tx(lambda s: site.engine.inbox(s, "rm"))
    site.tx(lambda s: site.engine.complete(s, review.id, "rm", {"decision": "approve"}))
    return instance_id


def wait_for(condition, what: str, limit: float = 60.0):
    """Poll until `condition()` is true (a bound against hanging, not a timing assertion)."""
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


DUE = datetime(2027, 4, 3, 9, tzinfo=COMPANY_TZ)  # the timers of timer_check, boundary_check, timer_isolation


def at(minutes: float) -> datetime:
    """`minutes` after the fixtures' timers are due."""
    return DUE + timedelta(minutes=minutes)


class Stock:
    """The stock_level handler: answers the level a test sets, and notes when it was asked."""

    def __init__(self, clock: FixedClock):
        self.clock = clock
        self.level: object = "未知"  # not a number: the gateway's `level >= 3` fails
        self.asked: list[datetime] = []

    def __call__(self, ctx):
        self.asked.append(self.clock.now())
        return {"level": self.level}


class Company:
    """An engine and a worker on a real database, a planner and an administrator."""

    def __init__(self, url: str):
        self.clock = FixedClock(datetime(2027, 3, 31, 9, tzinfo=COMPANY_TZ))
        self.db = make_engine(url)
        self.sessions = make_session_factory(self.db)
        self.stock = Stock(self.clock)
        registry = default_registry()
        registry.register("stock_level", self.stock)
        self.engine = Engine(registry, Sandbox(), self.clock)
        self.worker = Worker(self.engine, self.sessions)

        def seed(s):
            for login, role in (("planner", "计划部"), ("admin", "admin")):
                org.add_user(s, login, login, None)
                org.grant(s, login, role, "*")
        self.tx(seed)

    def tx(self, work):
        return in_transaction(self.sessions, work)

    def deploy(self, name: str) -> None:
        self.tx(lambda s: self.engine.deploy(s, (HERE / name).read_bytes(), name, None))

    def round_at(self, moment: datetime):
        self.clock.set(moment)
        return self.worker.run_once()

    def jobs(self) -> list[Job]:
        return self.tx(lambda s: list(s.scalars(select(Job).order_by(Job.id))))

    def instance(self, instance_id: int) -> ProcessInstance:
        return self.tx(lambda s: s.get(ProcessInstance, instance_id))

    def events(self, kind: str) -> list[Event]:
        return self.tx(lambda s: list(s.scalars(select(Event).where(Event.kind == kind).order_by(Event.id))))

    def open_tasks(self, instance_id: int) -> list[tuple[int, str, str]]:
        return self.tx(lambda s: [(t.id, t.element_id, t.state) for t in s.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance_id).order_by(HumanTask.id))])
