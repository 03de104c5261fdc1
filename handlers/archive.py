"""备案: an immutable record of a plan, forecast or report, the basis of a later assessment."""

from __future__ import annotations

import hashlib
import json

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.store.models import ArchiveRecord


def canonical_json(document) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def archive(ctx: HandlerContext, title: str, kind: str, document, scope: str = "*") -> dict:
    """Insert an archive record (never updated) and return `{"<kind>_archive_id": id}`."""
    if not title or not kind:
        raise HandlerFailed("备案需要 title 和 kind", retryable=False)
    try:
        text = canonical_json(document)
    except (TypeError, ValueError) as exc:
        raise HandlerFailed(f"备案内容无法保存为 JSON: {exc}", retryable=False) from exc
    record = ArchiveRecord(
        instance_id=ctx.instance_id, process_id=ctx.process_id, version=ctx.version, step=ctx.step, kind=kind,
        title=str(title), scope=str(scope or "*"), document=json.loads(text),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), archived_by=ctx.actor, archived_at=ctx.now,
    )
    ctx.session.add(record)
    ctx.session.flush()
    return {f"{kind}_archive_id": record.id}
