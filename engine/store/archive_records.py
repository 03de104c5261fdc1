"""Reading the archive (备案) records of an instance, oldest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import ArchiveRecord


def for_instance(session: Session, instance_id: int) -> list[ArchiveRecord]:
    return list(session.scalars(select(ArchiveRecord).where(ArchiveRecord.instance_id == instance_id)
                                .order_by(ArchiveRecord.archived_at, ArchiveRecord.id)))
