"""Shared fixtures: real databases (a SQLite file and the machine's PostgreSQL), a controllable clock."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine import Engine, FixedClock, Sandbox
from engine.clock import COMPANY_TZ
from engine.store.db import make_engine, make_session_factory, upgrade
from engine.store.models import Base
from engine.store.unit_of_work import in_transaction
from handlers import default_registry

FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN_URL = os.environ.get("SMFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def scratch_postgres(prefix: str):
    """A new PostgreSQL database at the newest schema; its URL, and the database dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    with scratch_postgres("smflow_test") as url:
        yield url


@pytest.fixture
def own_postgres_url():
    """A PostgreSQL database for one test (e.g. one whose worker processes leave many rows behind)."""
    with scratch_postgres("smflow_one") as url:
        yield url


def _empty_tables(engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Every store test runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'smflow.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    _empty_tables(engine)
    engine.dispose()
    return url


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'smflow.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def clock():
    return FixedClock(datetime(2027, 4, 2, 9, 0, tzinfo=COMPANY_TZ))


class Env:
    """An engine on a real database, with a helper to run one unit of work."""

    def __init__(self, url: str, clock: FixedClock):
        self.url = url
        self.db = make_engine(url)
        self.sessions = make_session_factory(self.db)
        self.clock = clock
        self.engine = Engine(default_registry(), Sandbox(), clock)

    def tx(self, work):
        return in_transaction(self.sessions, work)

    def restart(self) -> None:
        """A new engine (empty spec cache) on the same database, as after a process restart."""
        self.db.dispose()
        self.db = make_engine(self.url)
        self.sessions = make_session_factory(self.db)
        self.engine = Engine(default_registry(), Sandbox(), self.clock)


@pytest.fixture
def env(db_url, clock):
    environment = Env(db_url, clock)
    yield environment
    environment.db.dispose()


@pytest.fixture
def sqlite_env(sqlite_url, clock):
    environment = Env(sqlite_url, clock)
    yield environment
    environment.db.dispose()


# -- the browser: Debian's Chromium driven by Playwright, one per run (tests/browser, tests/security) --------
CHROMIUM = Path("/usr/bin/chromium")
VIEWER = Path(__file__).parents[1] / "web" / "static" / "build" / "bpmn-js" / "bpmn-navigated-viewer.production.min.js"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Fails (never skips) when Chromium, Playwright or the front-end build (`npm ci`) is missing.

    One for the whole run: Playwright's sync API cannot start a second one while the first is open."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-wqy-microhei", pytrace=False)
    if not VIEWER.exists():
        pytest.fail("bpmn-js is not built: run `npm ci` (its postinstall copies bpmn-js to web/static/build/)",
                    pytrace=False)
    from playwright.sync_api import sync_playwright  # an ImportError here fails the run, as it should

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()
