"""The database's floor: the statements a run sent, sent again by the bare driver, and the completions timed.

No engine on top of a database can persist a completion faster than the database takes for the writes it
needs. To tell the engine's own cost from the database's, `Recorder` writes down every transaction a run
sends (its statements and their parameters as the driver got them, and whether it was a timed completion);
`replay` sends the same transactions, in the same order, to a second scratch database of the same kind
through the driver alone (sqlite3 or psycopg, no SQLAlchemy, no engine), so every row and id comes out as in
the first, and times the completions. What is left between the engine's time and this one is the engine's:
SpiffWorkflow, serializing the state, routing, validation and SQLAlchemy.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from sqlalchemy import create_engine, event, text

from .common import migrated, summary_ms


@dataclass
class _Transaction:
    timed: bool
    statements: list[tuple[str, object, bool]] = field(default_factory=list)  # (sql, parameters, executemany)
    ended: str | None = None  # "commit" or "rollback"


class Recorder:
    """Writes down the transactions sent on a SQLAlchemy engine; those begun inside `timing()` are timed."""

    def __init__(self, db):
        self.db = db
        self.transactions: list[_Transaction] = []
        self._timing = False
        self._listeners = [("begin", self._begin), ("before_cursor_execute", self._statement),
                           ("commit", self._end("commit")), ("rollback", self._end("rollback"))]
        for name, listener in self._listeners:
            event.listen(db, name, listener)

    def close(self) -> None:
        """Stop recording, and note what the run left in the database (see `fingerprint`)."""
        for name, listener in self._listeners:
            event.remove(self.db, name, listener)
        self.fingerprint = fingerprint(self.db.url.render_as_string(hide_password=False))

    def timing(self, on: bool) -> None:
        self._timing = on

    def _begin(self, _connection) -> None:
        self.transactions.append(_Transaction(self._timing))

    def _statement(self, _connection, _cursor, statement, parameters, _context, executemany) -> None:
        if not self.transactions or self.transactions[-1].ended:
            self.transactions.append(_Transaction(self._timing))  # a statement outside a transaction of its own
        try:  # values sent are not changed afterwards by the driver, but a caller's dict may be
            parameters = copy.deepcopy(parameters)
        except TypeError:  # memoryview (bytes read back): never changed
            pass
        self.transactions[-1].statements.append((statement, parameters, executemany))

    def _end(self, how: str):
        def ended(_connection) -> None:
            if self.transactions and not self.transactions[-1].ended:
                self.transactions[-1].ended = how
        return ended


def replay(recorder: Recorder, url: str) -> dict:
    """Send the recorded transactions to a fresh database at `url` (migrated like the first) through the bare
    driver; the time of each timed one, from BEGIN to the end of COMMIT, and the CPU time this process spent.
    Raises if the second database does not end as the first did (the replay did other work)."""
    migrated(url).dispose()
    driver = _SQLite(url) if url.startswith("sqlite") else _Postgres(url)
    seconds, cpu = [], 0.0
    try:
        for transaction in recorder.transactions:
            started, cpu_started = time.perf_counter(), time.process_time()
            driver.run(transaction)
            if transaction.timed and transaction.ended == "commit":
                seconds.append(time.perf_counter() - started)
                cpu += time.process_time() - cpu_started
    finally:
        driver.close()
    replayed = fingerprint(url)
    if replayed != recorder.fingerprint:
        raise RuntimeError(f"the replay did not end as the run did: {replayed} != {recorder.fingerprint}")
    result = summary_ms(seconds)
    result["cpu_ms"] = cpu / len(seconds) * 1e3 if seconds else 0.0
    return result


_COUNTS = text("SELECT (SELECT count(*) FROM process_instance), (SELECT sum(revision) FROM process_instance), "
               "(SELECT count(*) FROM human_task WHERE state = 'completed'), (SELECT count(*) FROM event), "
               "(SELECT max(length(state)) FROM process_instance)")


def fingerprint(url: str) -> tuple:
    """Instances and their revisions, completed tasks, audit events, the longest state: the same after a replay."""
    db = create_engine(url)
    try:
        with db.connect() as connection:
            return tuple(connection.execute(_COUNTS).one())
    finally:
        db.dispose()


class _Driver:
    def __init__(self, connection):
        self.connection = connection
        self.cursor = connection.cursor()

    def run(self, transaction: _Transaction) -> None:
        self.begin()
        for sql, parameters, many in transaction.statements:
            if sql.strip().upper() == "BEGIN":
                continue
            # SQLAlchemy's "insertmanyvalues" says executemany but sends one statement of many rows, flattened.
            if many and isinstance(parameters, (list, tuple)) and isinstance(parameters[0], (list, tuple, dict)):
                self.cursor.executemany(sql, parameters)
            else:
                self.cursor.execute(sql, parameters)
            if self.cursor.description is not None:
                self.cursor.fetchall()  # the engine reads what it selects
        if transaction.ended == "commit":
            self.commit()
        else:
            self.connection.rollback()

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        self.cursor.close()
        self.connection.close()


class _SQLite(_Driver):
    """As engine.store.db sets up its connections: WAL, synchronous NORMAL, foreign keys, explicit BEGIN."""

    def __init__(self, url: str):
        import sqlite3

        connection = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        super().__init__(connection)

    def begin(self) -> None:
        self.cursor.execute("BEGIN")

    def commit(self) -> None:
        self.cursor.execute("COMMIT")


class _Postgres(_Driver):
    """psycopg begins a transaction before the first statement, as it does under SQLAlchemy."""

    def __init__(self, url: str):
        import psycopg

        super().__init__(psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)))
