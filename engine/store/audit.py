"""The append-only audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Message, message_record
from .driver_statements import RowsInsert
from .models import Event

# Not ORM objects: events are never read back or changed in the unit of work that writes them, and the ORM's
# flush cost several times the statement itself. One multi-row INSERT on the driver's cursor (bench/README.md).
COLUMNS = ("kind", "at", "actor", "instance_id", "task_id", "detail")
_INSERT = RowsInsert(Event.__table__, COLUMNS)


def _row(kind: str, at: datetime, actor: str | None, instance_id: int | None, task_id: int | None,
         detail: dict) -> dict:
    # An engine message (an error) is stored as its Chinese text, with its key and parameters beside it under
    # "<name>_message", so that the trail can be read in the reader's language (errors.stored_message).
    said = {f"{name}_message": message_record(value) for name, value in detail.items() if isinstance(value, Message)}
    return {"kind": kind, "at": at, "actor": actor, "instance_id": instance_id, "task_id": task_id,
            "detail": {**detail, **said} if said else detail or None}


def record(session: Session, kind: str, at: datetime, actor: str | None = None, instance_id: int | None = None,
           task_id: int | None = None, **detail) -> None:
    _INSERT.run(session, [_row(kind, at, actor, instance_id, task_id, detail)])


def record_many(session: Session, events: list[tuple[str, dict]], at: datetime, actor: str | None = None,
                instance_id: int | None = None) -> None:
    """Several events of one moment, as (kind, detail) with an optional "task_id" in detail: one statement."""
    record_rows(session, rows(events, at, actor, instance_id))


def rows(events: list[tuple[str, dict]], at: datetime, actor: str | None = None,
         instance_id: int | None = None) -> list[dict]:
    """The table's rows (by COLUMNS) for events as record_many takes them, to be written with other rows."""
    return [_row(kind, at, actor, instance_id, detail.pop("task_id", None), detail)
            for kind, detail in ((k, dict(d)) for k, d in events)]


def record_rows(session: Session, event_rows: list[dict]) -> None:
    if event_rows:
        _INSERT.run(session, event_rows)


def for_instance(session: Session, instance_id: int) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)))
