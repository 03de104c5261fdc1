"""Files uploaded into task forms, kept in the database next to the task they belong to."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from ..errors import NotFound
from .models import Attachment


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
        raise NotFound(f"没有编号为 {attachment_id} 的附件", attachment_id=attachment_id)
    return row


def describe(session: Session, attachment_id: int) -> Attachment | None:
    """The attachment's name, size and owner, without loading its bytes."""
    return session.scalars(select(Attachment).where(Attachment.id == attachment_id).options(
        load_only(Attachment.id, Attachment.task_id, Attachment.instance_id, Attachment.field,
                  Attachment.filename, Attachment.content_type, Attachment.size))).first()
