"""The security suites' fixtures (helpers in support.py): the demo app on SQLite, and behind real HTTP."""

from __future__ import annotations

import pytest
from support import ARTIFACTS, make_demo_app
from testkit import serving


@pytest.fixture(scope="session", autouse=True)
def fresh_figures():
    """Each run writes its own figures (artifacts/figures.json sums what the suites of this run counted)."""
    (ARTIFACTS / "figures.json").unlink(missing_ok=True)


@pytest.fixture
def demo_app(sqlite_url, clock):
    app = make_demo_app(sqlite_url, clock)
    yield app
    app.extensions["smflow"].sessions.kw["bind"].dispose()


@pytest.fixture
def live(demo_app):
    """The demo app behind a real HTTP server (werkzeug, threaded)."""
    with serving(demo_app) as url:
        yield url
