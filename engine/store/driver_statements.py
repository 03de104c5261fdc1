"""The few statements of every completion, run on the database driver's own cursor.

SQLAlchemy's work around one small statement run through a Session (its cache key, execution context and
result) cost 15 to 25 times what sqlite3 itself spends on it: 200 µs against 9 µs, on the bench machine, for
the actor's query. A completion sends six of them, and they were most of its cost (bench/README.md).

A `DriverStatement` is a Core statement compiled once per dialect by SQLAlchemy, so the SQL text, the
parameter style and each value's conversion (datetimes, JSON, booleans) are SQLAlchemy's own. It runs on the
connection of the session's transaction, after the session has flushed, as `session.execute` would. Driver
errors come out as SQLAlchemy's exceptions, so retries on a lock race work as before, and the cursor events
(`before_cursor_execute`, `after_cursor_execute`) are sent, without an execution context and without a
listener's rewriting of the statement. What it does not do: statements that need SQLAlchemy to compute values
(Python-side defaults, expanding IN lists), and ORM loading (`as_loaded` stands in for it, for one row).
"""

from __future__ import annotations

import contextlib
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters, in the order of a positional paramstyle
    positional: bool
    processors: tuple  # per name: SQLAlchemy's conversion of a value for this driver, or None
    fixed: dict  # the values the statement carries itself (`column == "open"`), by name
    row: type | None  # a named tuple of the result's columns
    results: tuple  # per result column: its conversion, or None


class DriverStatement:
    """A Core statement (`columns`: an INSERT's columns) run on the driver's cursor of the session's transaction."""

    def __init__(self, statement, columns: Sequence[str] | None = None):
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def rowcount(self, session: Session, params: dict) -> int:
        """Run it once; how many rows it changed."""
        return self._run(session, params, lambda cursor, _compiled: cursor.rowcount)

    def first(self, session: Session, params: dict):
        """Run it once; its first result row (a named tuple), or None."""
        rows = self.all(session, params, limit=1)
        return rows[0] if rows else None

    def all(self, session: Session, params: dict, limit: int | None = None) -> list:
        """Run it once; its result rows as named tuples, each value converted as SQLAlchemy would."""
        def read(cursor, compiled):
            found = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
            converters = compiled.results
            return [compiled.row(*(value if convert is None else convert(value)
                                   for value, convert in zip(row, converters, strict=True))) for row in found]

        return self._run(session, params, read)

    # -- running ---------------------------------------------------------------------------------
    def _run(self, session: Session, params: dict, read):
        session.flush()  # what session.execute does first: pending ORM changes go before this statement
        connection = _connection(session)
        compiled = self._for(connection.dialect)
        values = _bind(compiled, params)
        cursor = connection.connection.cursor()
        dispatch = connection.dispatch  # the cursor events, for whoever listens (logging, tests, tracing)
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(connection, cursor, compiled.sql, values, None, False)
        dialect = connection.dialect
        try:
            cursor.execute(compiled.sql, values)
            if dispatch.after_cursor_execute:
                dispatch.after_cursor_execute(connection, cursor, compiled.sql, values, None, False)
            return read(cursor, compiled)
        except dialect.loaded_dbapi.Error as exc:
            # As SQLAlchemy does: a connection the server has dropped is not given back to the pool.
            lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor)
            if lost:
                connection.invalidate(exc)
            raise DBAPIError.instance(compiled.sql, values, exc, dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=dialect) from exc
        finally:
            with contextlib.suppress(dialect.loaded_dbapi.Error):  # a dropped connection's cursor, as SQLAlchemy does
                cursor.close()

    def _for(self, dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _compile(self.statement, self.columns, dialect)
        return compiled


class RowsInsert:
    """An INSERT of several rows of a table's `columns` as one statement (one multi-row VALUES per chunk).

    Not the driver's executemany: psycopg runs that in pipeline mode, whose set-up cost more than a round
    trip per row for the two or three audit events of a completion."""

    CHUNK = 100

    def __init__(self, table, columns: Sequence[str]):
        self.table, self.columns = table, tuple(columns)
        self._by_count: dict[int, DriverStatement] = {}

    def run(self, session: Session, rows: list[dict]) -> None:
        for start in range(0, len(rows), self.CHUNK):
            chunk = rows[start:start + self.CHUNK]
            self._statement(len(chunk)).rowcount(
                session, {f"{column}_{n}": row[column] for n, row in enumerate(chunk) for column in self.columns})

    def _statement(self, count: int) -> DriverStatement:
        statement = self._by_count.get(count)
        if statement is None:
            statement = self._by_count[count] = DriverStatement(insert(self.table).values([
                {column: bindparam(f"{column}_{n}", type_=self.table.c[column].type) for column in self.columns}
                for n in range(count)]))
        return statement


def per_transaction(session: Session, key: str, make):
    """What `make()` gives, once per transaction of the session: kept in `session.info` under `key` with the
    transaction it was made in, and made afresh in the next one."""
    held, transaction = session.info.get(key), session.get_transaction()
    if held is not None and transaction is not None and held[0] is transaction:
        return held[1]
    value = make()
    session.info[key] = (session.get_transaction(), value)  # `make` may have begun the transaction
    return value


def _connection(session: Session):
    # Asking the session for its connection costs as much as a small statement, and a completion runs six.
    return per_transaction(session, "smflow_driver_connection", session.connection)


def _bind(compiled: _Compiled, params: dict):
    if compiled.fixed:
        params = {**compiled.fixed, **params}
    values = [params[name] if convert is None else convert(params[name])
              for name, convert in zip(compiled.names, compiled.processors, strict=True)]
    return values if compiled.positional else dict(zip(compiled.names, values, strict=True))


def _compile(statement, columns: list[str] | None, dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=columns)
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise TypeError(f"{statement} needs values computed by SQLAlchemy: run it through the session")
    binds = compiled.binds
    if any(bind.expanding for bind in binds.values()):
        raise TypeError(f"{statement} expands a list of values: run it through the session")
    names = tuple(compiled.positiontup) if compiled.positional else tuple(binds)
    processors = tuple(binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    fixed = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
    row, results = None, ()
    selected = statement.exported_columns  # a SELECT's columns, or what an INSERT or UPDATE returns
    if selected:
        row = namedtuple("Row", [column.key for column in selected], rename=True)
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected)
    return _Compiled(compiled.string, names, compiled.positional, processors, fixed, row, results)


def mapped_columns(cls, leave_out: Sequence[str] = ()) -> list[tuple[str, object]]:
    """A mapped class's (attribute, column) pairs: what a `DriverStatement` selects for `as_loaded`."""
    return [(prop.key, prop.columns[0]) for prop in inspect(cls).column_attrs if prop.key not in leave_out]


def by_name(attributes: Sequence[tuple[str, object]], values: Sequence) -> dict:
    """A row's values read through a `DriverStatement` of `mapped_columns`, by attribute name."""
    return {name: value for (name, _column), value in zip(attributes, values, strict=True)}


def as_loaded(session: Session, cls, attributes: Sequence[tuple[str, object]], values: Sequence,
              unloaded: Sequence[str] = ()):
    """The session's object for a row read through a `DriverStatement`, as if the ORM had loaded it with
    `populate_existing`: one already in the session takes the values read (and forgets `unloaded`, read again
    when used); otherwise a new one joins the session as persistent, its other attributes expired."""
    mapper = inspect(cls)
    row = by_name(attributes, values)
    key = identity_key(cls, tuple(row[column.key] for column in mapper.primary_key))
    obj = session.identity_map.get(key)
    if obj is not None:
        for name, value in row.items():
            set_committed_value(obj, name, value)
        if unloaded:
            session.expire(obj, unloaded)
        return obj
    obj = mapper.class_manager.new_instance()
    obj.__dict__.update(row)  # where the ORM's loading puts what it read; the next line makes it the loaded state
    make_transient_to_detached(obj)
    session.add(obj)
    return obj
