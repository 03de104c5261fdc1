"""Worker tests: real `smflow worker` OS processes on a PostgreSQL database of their own, a local SMTP server."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text
from worker_helpers import PG_ADMIN_URL, Inbox, Site, WorkerDb

from engine import FixedClock
from engine.clock import COMPANY_TZ
from engine.store.db import make_engine, upgrade


@pytest.fixture
def pg_url():
    """A PostgreSQL database for one test (workers leave many rows behind), dropped afterwards."""
    name = f"smflow_worker_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg(pg_url):
    environment = WorkerDb(pg_url, FixedClock(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ)))
    yield environment
    environment.db.dispose()


@pytest.fixture
def smtp():
    """A real SMTP server on a free local port; yields (port, Inbox)."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture
def site_factory(sqlite_url):
    made = []

    def make(people, clock=None):
        site = Site(sqlite_url, clock or FixedClock(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ)), people)
        made.append(site)
        return site
    yield make
    for site in made:
        site.services.sessions.kw["bind"].dispose()
