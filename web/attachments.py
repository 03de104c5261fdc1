"""Files in task forms: storing an upload with the task, and the download link (role and scope checked)."""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Blueprint, Response, g
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict

from engine.errors import NotFound, Problem
from engine.forms import MAX_UPLOAD_BYTES, check_upload
from engine.store import attachments
from engine.store.models import HumanTask

from .app import db, engine, tx
from .auth import login_required

bp = Blueprint("attachments", __name__, url_prefix="/attachments")

_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]')


def clean_filename(name: str) -> str:
    """The file's own name (no folders, no control or path characters), at most 200 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" .") or "file"
    return base[-200:]


def _value(row) -> dict:
    return {"id": row.id, "name": row.filename, "size": row.size}


def _earlier_id(task: HumanTask, field_id: str) -> int | None:
    """The attachment this field held in an earlier round (the task starts from it)."""
    earlier = (task.prefill or {}).get(field_id)
    return earlier.get("id") if isinstance(earlier, dict) else None


def resolve_files(session: Session, task: HumanTask, data: dict, files: MultiDict, login: str) -> list[Problem]:
    """Store this submission's uploads and put `{"id", "name", "size"}` into `data` for each file field.

    A kept attachment must belong to this task (or be the one the task started from); any other id that
    a crafted post names is dropped. Returns a problem per refused upload, keyed by its field."""
    problems = []
    for spec in (task.form or {}).get("fields", []):
        if spec["type"] != "file" or spec.get("readonly"):
            continue
        fid = spec["id"]
        upload: FileStorage | None = files.get(f"f.{fid}.upload")
        if upload is not None and upload.filename:
            name = clean_filename(upload.filename)
            content = upload.stream.read(MAX_UPLOAD_BYTES + 1)
            upload.close()  # a large upload is spooled to a temporary file: let it go now
            content_type, problem = check_upload(spec["label"], name, content)
            if problem:
                problems.append(Problem(problem, field=fid))
            else:
                stored = tx(lambda s, n=name, c=content, ct=content_type, f=fid: _value(attachments.add(
                    s, task_id=task.id, instance_id=task.instance_id, field=f, filename=n, content_type=ct,
                    content=c, by=login, at=engine().clock.now())))
                data[fid] = stored
                continue
        kept = data.pop(fid, None)
        if isinstance(kept, dict) and isinstance(kept.get("id"), int):
            row = attachments.describe(session, kept["id"])
            if row is not None and row.instance_id == task.instance_id and (
                    row.task_id == task.id or row.id == _earlier_id(task, fid)):
                data[fid] = _value(row)
    return problems


@bp.get("/<int:attachment_id>")
@login_required
def download(attachment_id: int):
    """The file, to whoever may see its instance; anyone else gets the same 404 as for a missing id."""
    from .instances import visible_instance

    session = db()
    row = attachments.describe(session, attachment_id)
    if row is None:
        raise NotFound(f"没有编号为 {attachment_id} 的附件", attachment_id=attachment_id)
    try:
        visible_instance(session, row.instance_id, g.actor)
    except NotFound:
        raise NotFound(f"没有编号为 {attachment_id} 的附件", attachment_id=attachment_id) from None
    content = attachments.get(session, attachment_id).content
    ascii_name = row.filename.encode("ascii", "replace").decode().replace("?", "_")
    return Response(content, mimetype=row.content_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.filename)}",
        "Cache-Control": "private, no-store",
    })


@bp.app_template_filter("filesize")
def filesize(size: int | None) -> str:
    """1536 → '1.5 KB': sizes as people read them."""
    if not size:
        return ""
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""
