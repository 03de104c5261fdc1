"""备案: an immutable record of a plan, forecast or report, the basis of a later assessment."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.messages import say
from engine.store import archive_chain
from engine.store.archive_chain import canonical_json
from engine.store.models import ArchiveRecord


def archive(ctx: HandlerContext, title: str, kind: str, document, scope: str = "*") -> dict:
    """Insert an archive record (never updated) and return `{"<kind>_archive_id": id}`."""
    if not title or not kind:
        raise HandlerFailed(say("handler.archive_needs"), retryable=False)
    try:
        text = canonical_json(document)
    except (TypeError, ValueError) as exc:
        raise HandlerFailed(say("handler.archive_not_json", error=str(exc)), retryable=False) from exc
    if ctx.job_key is not None:  # a repeated run of the same service task: the record exists already
        done = ctx.session.scalars(select(ArchiveRecord).where(ArchiveRecord.job_key == ctx.job_key)).first()
        if done is not None:
            return {f"{kind}_archive_id": done.id}
    record = ArchiveRecord(
        instance_id=ctx.instance_id, process_id=ctx.process_id, version=ctx.version, step=ctx.step, kind=kind,
        title=str(title), scope=str(scope or "*"), document=json.loads(text),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), archived_by=ctx.actor, archived_at=ctx.now,
        job_key=ctx.job_key,
    )
    archive_chain.append(ctx.session, record)  # linked to the previous record by hash, then inserted
    return {f"{kind}_archive_id": record.id}
