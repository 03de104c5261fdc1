"""Worker tests: real `smflow worker` OS processes on a PostgreSQL database of their own, a local SMTP server."""

from __future__ import annotations

from datetime import datetime

import pytest
from worker_helpers import Company, Inbox, Site, WorkerDb

from engine import FixedClock
from engine.clock import COMPANY_TZ


@pytest.fixture
def pg(own_postgres_url):
    environment = WorkerDb(own_postgres_url, FixedClock(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ)))
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


@pytest.fixture
def company(db_url):
    """The timer tests' company (worker_helpers.Company) on SQLite and on PostgreSQL."""
    environment = Company(db_url)
    yield environment
    environment.db.dispose()
