"""Small builders shared by the store tests."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event

from engine.store import org

FIXTURES = Path(__file__).parents[1] / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def add_people(session, people: dict[str, list[tuple[str, str]]]) -> None:
    """people: login -> [(role, scope)]"""
    for login, grants in people.items():
        org.add_user(session, login, f"用户{login}", None)
        for role, scope in grants:
            org.grant(session, login, role, scope)


@contextmanager
def statements_sent(db) -> Iterator[list[str]]:
    """The statements sent on `db` while the block runs (as the cursor events see them), in order."""
    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        sent.append(statement)

    event.listen(db, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db, "before_cursor_execute", record)


def plans_of(env, work, table: str) -> list[str]:
    """Run `work(session)` as a unit of work and return the database's plan of every SELECT on `table` it sent."""
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and table in statement:
            # a DriverStatement sends SQLite its values as a list, which exec_driver_sql takes as many rows
            sent.append((statement, tuple(parameters) if isinstance(parameters, list) else parameters))

    event.listen(env.db, "before_cursor_execute", record)
    try:
        env.tx(work)
    finally:
        event.remove(env.db, "before_cursor_execute", record)
    prefix = "EXPLAIN QUERY PLAN " if env.db.dialect.name == "sqlite" else "EXPLAIN "
    with env.db.connect() as conn:
        return ["\n".join(str(r[-1]) for r in conn.exec_driver_sql(prefix + statement, parameters).all())
                for statement, parameters in sent]


def complete_in_own_process(url: str, task_id: int, login: str, data: dict, barrier) -> str:
    """Run in a separate OS process: wait for the others, then complete the task through the engine."""
    from datetime import datetime

    from engine import Engine, FixedClock, Sandbox, SmflowError
    from engine.clock import COMPANY_TZ
    from engine.store.db import make_engine, make_session_factory
    from engine.store.unit_of_work import in_transaction
    from handlers import default_registry

    db = make_engine(url)
    sessions = make_session_factory(db)
    engine = Engine(default_registry(), Sandbox(), FixedClock(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ)))
    with db.connect():
        pass  # open the connection before the race starts
    barrier.wait()
    try:
        in_transaction(sessions, lambda s: engine.complete(s, task_id, login, data), retries=30)
        return "ok"
    except SmflowError as exc:
        return f"{type(exc).__name__}: {exc.message}"
    finally:
        db.dispose()
