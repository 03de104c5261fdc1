"""Database connections: a SQLite file by default (WAL), PostgreSQL by URL."""

from __future__ import annotations

import ast
import os
import re
import time
from functools import cache
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import NotReady

DEFAULT_URL = "sqlite:///smflow.db"
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# A script's module-level `revision = "0008"` or `down_revision: str | None = "0007"` (Alembic's two templates).
_REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=\n]*=\s*(.+?)\s*$", re.MULTILINE)


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
    # On the driver's connection: through SQLAlchemy, BEGIN cost as much as a completion's own statements.
    connection.connection.driver_connection.execute("BEGIN")


def make_engine(url: str | None = None) -> SqlEngine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


# A pooled connection that has sat unused may have been closed by the server (a restart, an idle timeout):
# it is tried with a trivial query before use, and replaced if that fails. One in steady use is not: a
# ping on every checkout was one round trip in four of an inbox request.
IDLE_BEFORE_PING = 10.0  # seconds


def _note_checkin(_dbapi_connection, record) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    if time.monotonic() - record.info.get("checked_in", 0.0) < IDLE_BEFORE_PING:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()  # the ping's own transaction, not the caller's
    except Exception as exc:  # noqa: BLE001 - any failure means: not usable, take another
        raise DisconnectionError("stale pooled connection") from exc


def make_session_factory(engine: SqlEngine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: SqlEngine) -> sessionmaker[Session]:
    """Sessions for a web request's reads. On PostgreSQL they run without a transaction: a page's queries
    need no common snapshot, and BEGIN and ROLLBACK would be two more round trips on every request.
    Changes never go through them (every change is a unit of work of its own)."""
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: SqlEngine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@cache
def head_revision(versions: Path = MIGRATIONS / "versions") -> str:
    """The newest migration's revision id, read from the scripts' `revision = ...` lines.

    Alembic would import itself and every script to find it, which was most of a server's start-up after
    the imports; tests/store/test_schema_check.py holds this answer equal to Alembic's."""
    revisions, replaced = set(), set()
    for script in versions.glob("*.py"):
        assigned = dict(_REVISION_LINE.findall(script.read_text(encoding="utf-8")))
        if "revision" not in assigned:
            continue
        revisions.add(ast.literal_eval(assigned["revision"]))
        down = ast.literal_eval(assigned.get("down_revision", "None"))
        replaced.update(down if isinstance(down, tuple | list) else [down] if down else [])
    heads = revisions - replaced
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have exactly one head, they have {sorted(heads)}")
    return heads.pop()


def stored_revisions(connection: Connection, tables: set[str]) -> list[str]:
    """What alembic_version says the schema is at (several rows: branches we never have, so not at head)."""
    if VERSION_TABLE not in tables:
        return []
    return list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def ensure_schema(engine: SqlEngine) -> bool:
    """Create the schema in an empty database (True when it did); refuse one left at an older revision."""
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        stored = stored_revisions(connection, tables)
    if not tables:
        upgrade(engine)
        return True
    if stored != [head_revision()]:
        raise NotReady(f"数据库结构是旧版本 ({', '.join(stored) or '未知'}), 请先运行: smflow db upgrade")
    return False
