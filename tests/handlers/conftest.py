"""Handler tests get real sessions on SQLite and PostgreSQL (the `db_url` fixture runs each test twice)."""

import pytest

from engine.store.db import make_engine, make_session_factory


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()
