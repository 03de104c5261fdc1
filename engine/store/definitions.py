"""Deployed files and process definition versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import NotFound
from .models import BpmnFile, ProcessDefinition


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
        suffix = "" if version is None else f" 的第 {version} 版"
        raise NotFound(f"没有找到流程 '{process_id}'{suffix}, 请先部署", process_id=process_id)
    return row


def next_version(session: Session, process_id: str) -> int:
    current = session.scalar(select(func.max(ProcessDefinition.version))
                             .where(ProcessDefinition.process_id == process_id))
    return (current or 0) + 1


def add_definition(session: Session, **columns) -> ProcessDefinition:
    row = ProcessDefinition(**columns)
    session.add(row)
    session.flush()
    return row


def latest_of_each(session: Session) -> list[ProcessDefinition]:
    newest = (select(ProcessDefinition.process_id, func.max(ProcessDefinition.version).label("v"))
              .group_by(ProcessDefinition.process_id).subquery())
    return list(session.scalars(
        select(ProcessDefinition).join(newest, (ProcessDefinition.process_id == newest.c.process_id)
                                       & (ProcessDefinition.version == newest.c.v))
        .order_by(ProcessDefinition.process_id)
    ))


def all_versions(session: Session) -> list[ProcessDefinition]:
    return list(session.scalars(select(ProcessDefinition)
                                .order_by(ProcessDefinition.process_id, ProcessDefinition.version)))
