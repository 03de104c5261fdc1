"""Files uploaded into task forms, kept in the database next to the task they belong to, and the search for
those nothing uses any more (an upload replaced or abandoned on a task that has ended), which the worker removes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, cast, delete, exists, false, func, literal, literal_column, not_, select
from sqlalchemy.dialects.postgresql import JSONB, JSONPATH
from sqlalchemy.orm import Session, load_only

from ..errors import NotFound
from ..messages import say
from ..routing import CANCELLED, COMPLETED
from .models import ArchiveRecord, Attachment, Event, HumanTask, InstanceHistory, ProcessInstance


def add(session: Session, *, task_id: int, instance_id: int, field: str, filename: str, content_type: str,
        content: bytes, by: str | None, at: datetime) -> Attachment:
    row = Attachment(task_id=task_id, instance_id=instance_id, field=field, filename=filename,
                     content_type=content_type, size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                     content=content, uploaded_by=by, uploaded_at=at)
    session.add(row)
    session.flush()
    return row


def get(session: Session, attachment_id: int) -> Attachment:
    row = session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound(say("attachment.not_found", id=attachment_id), attachment_id=attachment_id)
    return row


def describe(session: Session, attachment_id: int) -> Attachment | None:
    """The attachment's name, size and owner, without loading its bytes."""
    return session.scalars(select(Attachment).where(Attachment.id == attachment_id).options(
        load_only(Attachment.id, Attachment.task_id, Attachment.instance_id, Attachment.field,
                  Attachment.filename, Attachment.content_type, Attachment.size))).first()


# -- uploads nothing uses ------------------------------------------------------------------------
# A day after the upload and after its task ended. The task page stores an upload in a unit of work of its own,
# before the submission's, so the task may end in between (someone else completed it, the process moved on): that
# page then shows the person what they sent, the file's link included, to download it or send it elsewhere. A
# working day covers that, and any clock difference between web hosts and workers many times over.
UNUSED_GRACE = timedelta(days=1)
UNUSED_SCAN = 500  # attachment ids a batch looks at: a batch's work stays small however many files are stored
UNUSED_BATCH = 50  # attachments a batch removes at most (each up to 5 MB)


@dataclass(frozen=True)
class Unused:
    """An attachment nothing uses, without its bytes."""

    id: int
    instance_id: int
    task_id: int
    field: str
    filename: str
    size: int
    uploaded_at: datetime

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.filename, "task_id": self.task_id, "field": self.field, "size": self.size}


@dataclass(frozen=True)
class Sweep:
    """One batch of the search for unused attachments, and where the next batch goes on."""

    unused: list[Unused]
    next_after: int  # the attachment id the next batch starts after; 0: this pass has looked at every one


# The next `scan` attachment ids: only the primary key is read.
_window = (select(Attachment.id).where(Attachment.id > bindparam("after")).order_by(Attachment.id)
           .limit(bindparam("scan")).subquery())


def unused(session: Session, before: datetime, after: int = 0, limit: int = UNUSED_BATCH,
           scan: int = UNUSED_SCAN, lock: bool = False) -> Sweep:
    """Attachments after id `after` that no one may use any more: uploaded, into a task that ended (completed or
    cancelled: its page can no longer be submitted), both before `before`, and named by nothing of their
    instance's (`named_in_instances`). At most `limit`, from the next `scan` ids.

    `lock` (PostgreSQL) locks the ones found, and skips those another worker has locked, until this unit of work
    ends: two workers never remove, and audit, the same file."""
    upper, seen = session.execute(select(func.max(_window.c.id), func.count()).select_from(_window),
                                  {"after": after, "scan": scan}).one()
    if upper is None:
        return Sweep([], 0)
    query = _candidates(session.bind.dialect.name, after, upper, before, limit)
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(of=Attachment, skip_locked=True)
    found = [Unused(*row) for row in session.execute(query)]
    # An upload that came in after its task ended (someone else completed it meanwhile) waits its own grace period.
    settled = [u for u in found if u.uploaded_at < before]
    names = named_in_instances(session, {u.instance_id for u in settled})
    next_after = found[-1].id if len(found) == limit else upper if seen == scan else 0
    return Sweep([u for u in settled if u.id not in names[u.instance_id]], next_after)


def _candidates(dialect: str, after: int, upper: int, ended_before: datetime, limit: int):
    """SQL: the window's attachments whose task ended before `ended_before` and whose own task's submission or
    draft does not name them (by far the most stored files: those need no closer look).

    The task is a correlated EXISTS, not a join, so that SQLite (which has no statistics) goes through the window
    by primary key and looks each task up, rather than through every ended task of the inbox index. Nothing after
    the bytes (`uploaded_at`) is in the condition: SQLite would walk each file's overflow pages to read it."""
    ended = exists().where(HumanTask.id == Attachment.task_id, HumanTask.state.in_((COMPLETED, CANCELLED)),
                           HumanTask.completed_at < ended_before, not_(_names_at_top(dialect, HumanTask.submitted)),
                           not_(_names_at_top(dialect, HumanTask.draft)))
    return (select(Attachment.id, Attachment.instance_id, Attachment.task_id, Attachment.field, Attachment.filename,
                   Attachment.size, Attachment.uploaded_at)
            .where(Attachment.id > after, Attachment.id <= upper, ended)
            .order_by(Attachment.id).limit(limit))


def _names_at_top(dialect: str, column):
    """SQL, never NULL: a value of the JSON object in `column` is an object whose "id" is the attachment's.

    JSON functions differ: SQLite walks the object with json_each (CASE keeps json_extract off values that are no
    object), PostgreSQL asks a JSON path."""
    if dialect == "postgresql":
        named = func.jsonb_path_exists(cast(column, JSONB), cast(literal("$.* ? (@.id == $id)"), JSONPATH),
                                       func.jsonb_build_object(literal_column("'id'"), Attachment.id))
        return func.coalesce(named, false())
    values = func.json_each(column).table_valued("type", "value").alias("item")
    return exists().select_from(values).where(
        case((values.c.type == "object", func.json_extract(values.c.value, "$.id"))) == Attachment.id,
    ).correlate_except(values)


def named_in_instances(session: Session, instance_ids: set[int]) -> dict[int, set[int]]:
    """By instance, the attachment ids anything of the instance's names: a task's submission, draft or prefill (the
    file a later round starts from), the instance's data (what later tasks are prefilled from) and its 备案 records.

    Only its own instance's: a task keeps no other instance's attachment (web/attachments.py `_kept`). Audit events
    are not read: the one that holds values, `completed`, holds the task's submission, read already."""
    names: dict[int, set[int]] = {i: set() for i in instance_ids}
    if not instance_ids:
        return names
    ids = sorted(instance_ids)
    for instance_id, *values in session.execute(
            select(HumanTask.instance_id, HumanTask.submitted, HumanTask.draft, HumanTask.prefill)
            .where(HumanTask.instance_id.in_(ids))):
        _collect_ids(values, names[instance_id])
    for instance_id, state in session.execute(select(ProcessInstance.id, ProcessInstance.state)
                                              .where(ProcessInstance.id.in_(ids))):
        _collect_ids(json.loads(state), names[instance_id])
    for instance_id, tasks in session.execute(select(InstanceHistory.instance_id, InstanceHistory.tasks)
                                              .where(InstanceHistory.instance_id.in_(ids))):
        _collect_ids(json.loads(tasks), names[instance_id])
    for instance_id, document in session.execute(select(ArchiveRecord.instance_id, ArchiveRecord.document)
                                                 .where(ArchiveRecord.instance_id.in_(ids))):
        _collect_ids(document, names[instance_id])
    return names


def _collect_ids(value, found: set[int]) -> None:
    """Every integer "id" of an object anywhere in a JSON value: a file value is {"id": 7, "name": ..., "size": ...},
    in a form's values, a table's rows or the engine's state alike. Naming one too many only keeps a file longer."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            named = item.get("id")
            if isinstance(named, int) and not isinstance(named, bool):
                found.add(named)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def removed_from(session: Session, attachment_id: int) -> list[int]:
    """The instances whose clean-up removed attachment `attachment_id`: their `attachments_removed` events (written
    by `remove`'s caller, engine/scheduling.py) list it as {"attachments": [{"id": ..., ...}]}. Those events have an
    index of their own (migration 0015), so a link to a removed file costs no pass over the audit trail."""
    if session.bind.dialect.name == "postgresql":
        names = cast(Event.detail, JSONB).contains({"attachments": [{"id": attachment_id}]})
    else:
        item = func.json_each(Event.detail, "$.attachments").table_valued("value").alias("item")
        names = (exists().select_from(item).where(func.json_extract(item.c.value, "$.id") == attachment_id)
                 .correlate_except(item))
    return list(session.scalars(select(Event.instance_id).distinct()
                                .where(Event.kind == "attachments_removed", Event.instance_id.is_not(None), names)))


def remove(session: Session, found: list[Unused]) -> list[Unused]:
    """Delete the attachments found; returns those this unit of work deleted (another may have been first)."""
    if not found:
        return []
    deleted = set(session.scalars(delete(Attachment).where(Attachment.id.in_([u.id for u in found]))
                                  .returning(Attachment.id)))
    return [u for u in found if u.id in deleted]
