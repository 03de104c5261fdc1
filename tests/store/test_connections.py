"""Pooled PostgreSQL connections: one the server has dropped while it sat idle is replaced, not used."""

from __future__ import annotations

from sqlalchemy import create_engine, event, text

from engine.store import db as store_db


def test_a_connection_dropped_while_idle_is_replaced_before_use(own_postgres_url, monkeypatch):
    engine = store_db.make_engine(own_postgres_url)
    admin = create_engine(own_postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as conn:  # what a server restart or an idle timeout does to the pooled connection
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar()
        monkeypatch.setattr(store_db, "IDLE_BEFORE_PING", 0.0)  # it has been idle long enough to be tried
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert second != first
    finally:
        engine.dispose()
        admin.dispose()


def test_a_connection_in_steady_use_is_not_pinged(own_postgres_url):
    engine = store_db.make_engine(own_postgres_url)
    sent: list[str] = []
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
        with engine.connect() as conn:
            conn.execute(text("SELECT 2"))
        assert sent == ["SELECT 2"]  # no ping before it: the connection was used a moment ago
    finally:
        engine.dispose()
