"""Deployed files and process definition versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from ..errors import NotFound
from ..messages import say
from .models import BpmnFile, Event, Grant, ProcessDefinition, ProcessInstance, Role, User


def save_file(session: Session, sha256: str, content: bytes, filename: str | None, by: str | None,
              at: datetime) -> BpmnFile:
    existing = session.get(BpmnFile, sha256)
    if existing is not None:
        return existing
    row = BpmnFile(sha256=sha256, content=content, filename=filename, uploaded_by=by, uploaded_at=at)
    session.add(row)
    return row


def latest(session: Session, process_id: str) -> ProcessDefinition | None:
    return session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    ).first()


def get_version(session: Session, process_id: str, version: int | None) -> ProcessDefinition:
    """The given version of a process, or its latest when `version` is None."""
    if version is None:
        row = latest(session, process_id)
    else:
        row = session.scalars(select(ProcessDefinition).where(
            ProcessDefinition.process_id == process_id, ProcessDefinition.version == version)).first()
    if row is None:
        raise not_found(process_id, version)
    return row


def not_found(process_id: str, version: int | None) -> NotFound:
    """What a missing process (`version` None: any version) or version of it is told."""
    message = (say("process.not_found", process=process_id) if version is None
               else say("process.version_not_found", process=process_id, version=version))
    return NotFound(message, process_id=process_id)


def next_version(session: Session, process_id: str) -> int:
    current = session.scalar(select(func.max(ProcessDefinition.version))
                             .where(ProcessDefinition.process_id == process_id))
    return (current or 0) + 1


def add_definition(session: Session, **columns) -> ProcessDefinition:
    row = ProcessDefinition(**columns)
    session.add(row)
    session.flush()
    return row


def _newest(query):
    """`query` (on ProcessDefinition) restricted to each process's newest version."""
    newest = (select(ProcessDefinition.process_id, func.max(ProcessDefinition.version).label("v"))
              .group_by(ProcessDefinition.process_id).subquery())
    return query.join(newest, (ProcessDefinition.process_id == newest.c.process_id)
                      & (ProcessDefinition.version == newest.c.v))


def latest_of_each(session: Session) -> list[ProcessDefinition]:
    return list(session.scalars(
        _newest(select(ProcessDefinition))
        .options(defer(ProcessDefinition.spec_json))  # every inbox asks for the names; specs are 100s of kB
        .order_by(ProcessDefinition.process_id)
    ))


def latest_names(session: Session) -> dict[str, str]:
    """Process id → the name its newest version shows under (the id when it has none)."""
    found = session.execute(_newest(select(ProcessDefinition.process_id, ProcessDefinition.name)))
    return {process_id: name or process_id for process_id, name in found}


def all_versions(session: Session) -> list[ProcessDefinition]:
    return list(session.scalars(select(ProcessDefinition)
                                .order_by(ProcessDefinition.process_id, ProcessDefinition.version)))


def lane_roles(session: Session) -> tuple[dict[str, str], set[str]]:
    """What deploying checks lanes against: role name or alias → role, and the roles an active user holds."""
    names: dict[str, str] = {}
    for name, aliases in session.execute(select(Role.name, Role.aliases)):
        names[name] = name
        for alias in aliases or []:
            names.setdefault(alias, name)
    staffed = set(session.scalars(select(Grant.role).join(User, User.login == Grant.login)
                                  .where(User.active.is_(True)).distinct()))
    return names, staffed


def running_counts(session: Session, process_id: str | None = None) -> dict[tuple[str, int], int]:
    """Running instances per (process, version)."""
    query = (select(ProcessInstance.process_id, ProcessInstance.version, func.count())
             .where(ProcessInstance.status == "running")
             .group_by(ProcessInstance.process_id, ProcessInstance.version))
    if process_id is not None:
        query = query.where(ProcessInstance.process_id == process_id)
    return {(pid, version): n for pid, version, n in session.execute(query)}


def running_instances(session: Session, process_id: str, before_version: int | None = None,
                      ids: list[int] | None = None) -> list[ProcessInstance]:
    """The running instances of a process, oldest first; only those on a version before `before_version`."""
    query = select(ProcessInstance).where(ProcessInstance.process_id == process_id,
                                          ProcessInstance.status == "running")
    if before_version is not None:
        query = query.where(ProcessInstance.version < before_version)
    if ids is not None:
        query = query.where(ProcessInstance.id.in_(ids))
    return list(session.scalars(query.order_by(ProcessInstance.id)))


def file_content(session: Session, definition: ProcessDefinition) -> bytes:
    return session.get(BpmnFile, definition.file_sha256).content


def move_instance(session: Session, instance: ProcessInstance, definition: ProcessDefinition) -> None:
    """Pin a running instance to another version of its process (its state is written by the caller)."""
    instance.definition_id, instance.version = definition.id, definition.version
    session.flush()


def version_events(session: Session, process_id: str, limit: int = 100) -> list[Event]:
    """The audit trail of a process's versions: its deploys and migrations, newest first."""
    rows = session.scalars(select(Event).where(Event.kind.in_(("deployed", "migrated")))
                           .order_by(Event.id.desc()).limit(limit * 10))
    return [e for e in rows if (e.detail or {}).get("process_id") == process_id][:limit]
