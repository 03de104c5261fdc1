"""Database connections: a SQLite file by default (WAL), PostgreSQL by URL."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Session, sessionmaker

from ..errors import NotReady

DEFAULT_URL = "sqlite:///smflow.db"


def database_url(explicit: str | None = None) -> str:
    """The URL to use: an explicit one, else SMFLOW_DATABASE_URL, else a SQLite file in the working folder."""
    url = explicit or os.environ.get("SMFLOW_DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _sqlite_pragmas(dbapi_connection, _record):
    # pysqlite begins transactions on its own (and not before SELECTs), which breaks SAVEPOINTs;
    # SQLAlchemy emits BEGIN instead (see _sqlite_begin), so a unit of work reads one snapshot.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection):
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str | None = None) -> SqlEngine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def make_session_factory(engine: SqlEngine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


def upgrade(engine: SqlEngine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def ensure_schema(engine: SqlEngine) -> bool:
    """Create the schema in an empty database (True when it did); refuse one left at an older revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        has_tables = bool(inspect(connection).get_table_names())
    if current is None and not has_tables:
        upgrade(engine)
        return True
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if current != head:
        raise NotReady(f"数据库结构是旧版本 ({current or '未知'}), 请先运行: smflow db upgrade")
    return False
