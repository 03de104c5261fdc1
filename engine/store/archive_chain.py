"""The archive (备案) as a hash chain: each record holds the chain hash of the record before it.

A record's chain hash covers the previous chain hash and every field of the record (the document
through its sha256), so changing, removing or reordering a record breaks the link to the next one.
Database triggers (migration 0006) refuse UPDATE and DELETE; the chain catches what bypasses them
(a dropped trigger, an edited database file). `verify` recomputes the chain and names the first break.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .models import ArchiveRecord

GENESIS = "0" * 64  # the "previous chain hash" of the first record
_PG_LOCK = 7_000_001  # advisory lock: one writer appends to the chain at a time
TRIGGER_NAMES = ("archive_record_no_update", "archive_record_no_delete")


def canonical_json(document) -> str:
    """The one text form of a document that its sha256 is taken over."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def document_hash(document) -> str:
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive UTC when read without the model's type
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(prev_hash: str, fields: dict) -> str:
    """sha256 over the previous chain hash and the record's fields (a dict with the model's column names)."""
    payload = [prev_hash, fields["instance_id"], fields["process_id"], fields["version"], fields["step"],
               fields["kind"], fields["title"], fields["scope"], fields["sha256"], fields["archived_by"],
               _when(fields["archived_at"]), fields.get("job_key")]
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _fields(record: ArchiveRecord) -> dict:
    return {name: getattr(record, name) for name in (
        "instance_id", "process_id", "version", "step", "kind", "title", "scope", "sha256", "archived_by",
        "archived_at", "job_key")}


def _lock(session: Session) -> None:
    # SQLite serialises writers already (the unit of work has written before a handler runs).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})


def head(session: Session) -> str:
    """The chain hash of the newest record (GENESIS for an empty archive)."""
    last = session.scalars(select(ArchiveRecord.chain_hash).order_by(ArchiveRecord.id.desc()).limit(1)).first()
    return last or GENESIS


def append(session: Session, record: ArchiveRecord) -> ArchiveRecord:
    """Link `record` to the end of the chain and insert it (flushed, so it has its id)."""
    _lock(session)
    record.sha256 = document_hash(record.document)
    record.prev_hash = head(session)
    record.chain_hash = chain_hash(record.prev_hash, _fields(record))
    session.add(record)
    session.flush()
    return record


@dataclass
class Verification:
    """What `verify` found: how many records, the head, and the first broken link (None when intact)."""

    records: int = 0
    head: str = GENESIS
    broken_id: int | None = None
    reason: str | None = None
    missing_triggers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken_id is None and self.reason is None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "records": self.records, "head": self.head, "broken_id": self.broken_id,
                "reason": self.reason, "missing_triggers": self.missing_triggers}


def installed_triggers(session: Session) -> set[str]:
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'archive_record'::regclass AND NOT tgisinternal "
            "AND tgenabled <> 'D'"))
    else:
        rows = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                    "AND tbl_name = 'archive_record'"))
    return {name for (name,) in rows}


def verify(session: Session) -> Verification:
    """Recompute every record's document hash and chain hash, oldest first; stop at the first break."""
    result = Verification(missing_triggers=sorted(set(TRIGGER_NAMES) - installed_triggers(session)))
    expected_prev = GENESIS
    for record in session.scalars(select(ArchiveRecord).order_by(ArchiveRecord.id)).yield_per(500):
        result.records += 1
        if document_hash(record.document) != record.sha256:
            result.broken_id, result.reason = record.id, "备案内容与其 sha256 不符 (内容被修改)"
        elif record.prev_hash != expected_prev:
            result.broken_id = record.id
            result.reason = "与前一条备案的链接断开 (前一条被删除、插入或修改)"
        elif chain_hash(record.prev_hash, _fields(record)) != record.chain_hash:
            result.broken_id, result.reason = record.id, "备案的字段与其链哈希不符 (字段被修改)"
        if result.broken_id is not None:
            return result
        expected_prev = result.head = record.chain_hash
    return result
