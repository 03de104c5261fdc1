"""The security suites' fixtures (helpers in support.py): the demo app on SQLite, and behind real HTTP."""

from __future__ import annotations

import threading

import pytest
from support import ARTIFACTS, make_demo_app
from werkzeug.serving import make_server


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
    server = make_server("127.0.0.1", 0, demo_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
