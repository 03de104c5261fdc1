"""Statements on the driver's own cursor (engine/store/driver_statements.py): what they write and read is what
SQLAlchemy writes and reads, errors are SQLAlchemy's, rows become the session's objects as the ORM loads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from helpers import statements_sent
from sqlalchemy import bindparam, event, insert, select
from sqlalchemy.exc import IntegrityError

from engine.store import org
from engine.store.driver_statements import DriverStatement, RowsInsert, as_loaded, mapped_columns
from engine.store.models import Event, User

EVENTS = Event.__table__
COLUMNS = ("kind", "at", "actor", "instance_id", "task_id", "detail")
WHEN = datetime(2027, 4, 2, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))


def _stored(env) -> list[tuple]:
    with env.sessions() as session:
        return [tuple(r) for r in session.execute(select(EVENTS.c.kind, EVENTS.c.at, EVENTS.c.actor, EVENTS.c.detail)
                                                  .order_by(EVENTS.c.id))]


def test_a_row_written_on_the_driver_reads_back_as_one_written_by_sqlalchemy(env):
    row = {"kind": "x", "at": WHEN, "actor": "张三", "instance_id": None, "task_id": None,
           "detail": {"名称": "年度目标", "n": [1, 2.5, None], "ok": True}}
    env.tx(lambda s: s.execute(insert(EVENTS), [row]))
    env.tx(lambda s: RowsInsert(EVENTS, COLUMNS).run(s, [row]))
    env.tx(lambda s: RowsInsert(EVENTS, COLUMNS).run(s, [{**row, "detail": None, "actor": None}]))
    by_orm, by_driver, empty = _stored(env)
    assert by_driver == by_orm
    assert by_driver[1] == WHEN.astimezone(UTC) and by_driver[1].tzinfo is not None  # UtcDateTime both ways
    assert empty[2:] == (None, None)  # None stays NULL, not the JSON text 'null'


def test_many_rows_go_in_chunks_in_their_order(env):
    rows = [{"kind": f"k{n}", "at": WHEN, "actor": None, "instance_id": None, "task_id": None, "detail": {"n": n}}
            for n in range(RowsInsert.CHUNK * 2 + 7)]
    with statements_sent(env.db) as sent:
        env.tx(lambda s: RowsInsert(EVENTS, COLUMNS).run(s, rows))
    assert [r[0] for r in _stored(env)] == [r["kind"] for r in rows]
    assert sum(s.startswith("INSERT INTO event") for s in sent) == 3


def test_a_select_reads_values_converted_and_by_name(env):
    env.tx(lambda s: (org.add_user(s, "li", "李四", None), org.grant(s, "li", "大区经理", "华东")))
    statement = DriverStatement(select(User.login, User.active, User.name).where(User.login == bindparam("login")))
    with env.sessions() as session:
        found = statement.first(session, {"login": "li"})
        assert statement.first(session, {"login": "nobody"}) is None
    assert (found.login, found.active, found.name) == ("li", True, "李四")
    assert found.active is True  # SQLite keeps 1: converted as SQLAlchemy would


def test_an_update_says_how_many_rows_it_changed(env):
    env.tx(lambda s: org.add_user(s, "li", "李四", None))
    rename = DriverStatement(User.__table__.update().where(User.__table__.c.login == bindparam("who"))
                             .values(name=bindparam("new_name")))
    assert env.tx(lambda s: rename.rowcount(s, {"who": "li", "new_name": "李四四"})) == 1
    assert env.tx(lambda s: rename.rowcount(s, {"who": "nobody", "new_name": "x"})) == 0
    with env.sessions() as session:
        assert session.get(User, "li").name == "李四四"


def test_a_session_kept_across_transactions_runs_each_statement_in_its_current_one(env):
    """The driver's connection is kept with the transaction it belongs to: after a commit or a rollback the
    next statement runs in the session's next transaction, whose fate is its own."""
    row = {"kind": "x", "at": WHEN, "actor": None, "instance_id": None, "task_id": None, "detail": None}
    events = RowsInsert(EVENTS, COLUMNS)
    with env.sessions() as session:
        events.run(session, [{**row, "kind": "kept"}])
        session.commit()
        events.run(session, [{**row, "kind": "undone"}])
        session.rollback()
        events.run(session, [{**row, "kind": "kept too"}])
        session.commit()
    assert [r[0] for r in _stored(env)] == ["kept", "kept too"]


def test_a_driver_error_is_sqlalchemys_and_the_unit_of_work_loses_nothing(env):
    env.tx(lambda s: org.add_user(s, "li", "李四", None))
    add_user = RowsInsert(User.__table__, ("login", "name", "active"))

    def twice(session):
        org.add_user(session, "wang", "王五", None)  # pending in the session: flushed before the statement
        add_user.run(session, [{"login": "li", "name": "again", "active": True}])

    with pytest.raises(IntegrityError):
        env.tx(twice)
    with env.sessions() as session:
        assert session.scalars(select(User.login).order_by(User.login)).all() == ["li"]


def test_statements_that_need_sqlalchemy_to_compute_values_are_refused(env):
    with env.sessions() as session:
        with pytest.raises(TypeError, match="computed by SQLAlchemy"):
            DriverStatement(insert(User.__table__), ["login", "name"]).rowcount(session, {"login": "x", "name": "x"})
        with pytest.raises(TypeError, match="expands"):
            DriverStatement(select(User.login).where(User.login.in_(bindparam("ids", expanding=True)))).first(
                session, {"ids": ["x"]})


def test_a_row_becomes_the_sessions_object_as_the_orm_would_load_it(env):
    env.tx(lambda s: org.add_user(s, "li", "李四", None))
    attributes = mapped_columns(User, leave_out=["password_hash"])
    statement = DriverStatement(select(*(c for _, c in attributes)).where(User.login == bindparam("login")))
    with env.sessions() as session:
        user = as_loaded(session, User, attributes, statement.first(session, {"login": "li"}))
        assert session.get(User, "li") is user  # in the identity map: no second object, no query
        assert user not in session.dirty and user.name == "李四"
        assert user.password_hash is None  # not selected: loaded when first read
        user.name = "改名"
        session.commit()
    with env.sessions() as session:
        assert session.get(User, "li").name == "改名"  # a change to it is flushed like any other


def test_a_row_read_again_refreshes_the_object_the_session_holds(env):
    env.tx(lambda s: org.add_user(s, "li", "李四", None))
    attributes = mapped_columns(User, leave_out=["password_hash"])
    statement = DriverStatement(select(*(c for _, c in attributes)).where(User.login == bindparam("login")))
    with env.sessions() as session:
        held = session.get(User, "li")
        assert held.password_hash is None
        session.commit()  # the next read starts a new transaction, which sees the other's change
        with env.sessions() as other:
            changed = other.get(User, "li")
            changed.name, changed.password_hash = "李四四", "changed elsewhere"
            other.commit()
        again = as_loaded(session, User, attributes, statement.first(session, {"login": "li"}),
                          unloaded=["password_hash"])
        assert again is held
        assert held.name == "李四四" and held not in session.dirty  # what was read wins, as with populate_existing
        assert held.password_hash == "changed elsewhere"  # forgotten, so read again


def test_the_cursor_events_see_driver_statements(env):
    sent: list[tuple] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(env.db, "before_cursor_execute", record)
    try:
        env.tx(lambda s: DriverStatement(select(User.login).where(User.login == bindparam("login")))
               .first(s, {"login": "li"}))
    finally:
        event.remove(env.db, "before_cursor_execute", record)
    assert any("FROM app_user" in statement and "li" in str(parameters) for statement, parameters in sent)


def test_a_connection_the_server_dropped_is_not_used_again(own_postgres_url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from engine.store.db import make_engine, make_session_factory, upgrade

    engine, admin = make_engine(own_postgres_url), create_engine(own_postgres_url, isolation_level="AUTOCOMMIT")
    statement = DriverStatement(select(User.login).where(User.login == bindparam("login")))
    try:
        upgrade(engine)
        sessions = make_session_factory(engine)
        with sessions() as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            with admin.connect() as conn:  # a server restart, seen from this connection
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as raised:
                statement.first(session, {"login": "li"})
        assert raised.value.connection_invalidated
        with sessions() as session:  # the pool gives a new connection
            assert statement.first(session, {"login": "li"}) is None
            assert session.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        engine.dispose()
        admin.dispose()
