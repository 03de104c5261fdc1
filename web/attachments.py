"""Files in task forms: storing an upload with the task, and the download link (role and scope checked)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from flask import Blueprint, Response, g
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict

from engine.errors import NotFound, Problem, ValidationFailed
from engine.forms import MAX_UPLOAD_BYTES, check_upload, validate_submission
from engine.messages import say
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


@dataclass(frozen=True)
class Upload:
    """A file that passed `check_upload`, read into memory and not yet stored."""

    field: str
    filename: str
    content_type: str
    content: bytes


def file_fields(task: HumanTask) -> list[dict]:
    """The task's file fields a person fills in (a read-only one shows what the process gave)."""
    return [f for f in (task.form or {}).get("fields", []) if f["type"] == "file" and not f.get("readonly")]


def page_part(field_id: str) -> str:
    """The task page's name for a file field's upload (`f.<id>` holds the attachment it keeps)."""
    return f"f.{field_id}.upload"


def checked_uploads(task: HumanTask, files: MultiDict, part=page_part) -> tuple[dict[str, Upload], list[Problem]]:
    """The uploads of a submission, by field, that pass the size and type rules, and a problem per refused one.

    `part(field_id)` names the multipart part that carries a field's file; a part without a file name
    (an empty file input) is no upload."""
    uploads, problems = {}, []
    for spec in file_fields(task):
        fid = spec["id"]
        upload: FileStorage | None = files.get(part(fid))
        if upload is None or not upload.filename:
            continue
        name = clean_filename(upload.filename)
        content = upload.stream.read(MAX_UPLOAD_BYTES + 1)
        upload.close()  # a large upload is spooled to a temporary file: let it go now
        content_type, problem = check_upload(spec["label"], name, content)
        if problem:
            problems.append(Problem(problem, field=fid))
        else:
            uploads[fid] = Upload(fid, name, content_type, content)
    return uploads, problems


def store_upload(session: Session, task: HumanTask, upload: Upload, login: str) -> dict:
    """Store an accepted upload with the task, in the caller's unit of work; returns the field's value."""
    return _value(attachments.add(
        session, task_id=task.id, instance_id=task.instance_id, field=upload.field, filename=upload.filename,
        content_type=upload.content_type, content=upload.content, by=login, at=engine().clock.now()))


def _kept(session: Session, task: HumanTask, field_id: str, named) -> dict | None:
    """The attachment a submission names for a field, if it may keep it: one of this task's own, or the
    one the task started from. Any other id (a crafted post, another instance's file) is not kept."""
    attachment_id = named.get("id") if isinstance(named, dict) else None
    if not isinstance(attachment_id, int) or isinstance(attachment_id, bool):
        return None
    row = attachments.describe(session, attachment_id)
    if row is not None and row.instance_id == task.instance_id and (
            row.task_id == task.id or row.id == _earlier_id(task, field_id)):
        return _value(row)
    return None


def _not_kept(spec: dict, named) -> Problem:
    attachment_id = named.get("id") if isinstance(named, dict) else None
    if isinstance(attachment_id, int) and not isinstance(attachment_id, bool):
        return Problem(say("attachment.not_this_tasks", label=spec["label"], id=attachment_id), field=spec["id"])
    return Problem(say("attachment.not_a_file", label=spec["label"]), field=spec["id"])


def put_files(session: Session, task: HumanTask, data: dict, uploads: dict[str, Upload],
              store: Callable[[Upload], dict]) -> list[Problem]:
    """Put `{"id", "name", "size"}` into `data` for each file field: the new upload (stored by `store`), else
    the attachment the submission keeps. Returns a problem per field whose named attachment was not kept
    (it is left out of `data`)."""
    refused = []
    for spec in file_fields(task):
        fid = spec["id"]
        if fid in uploads:
            data[fid] = store(uploads[fid])
            continue
        named = data.pop(fid, None)
        kept = _kept(session, task, fid, named)
        if kept is not None:
            data[fid] = kept
        elif named is not None:
            refused.append(_not_kept(spec, named))
    return refused


def resolve_files(session: Session, task: HumanTask, data: dict, files: MultiDict, login: str) -> list[Problem]:
    """The task page's uploads: store each accepted one at once (in its own unit of work, so that the page
    keeps it when the form comes back with problems) and put the file fields' values into `data`.

    An attachment the post names that the task may not keep is dropped. Returns a problem per refused upload."""
    uploads, problems = checked_uploads(task, files)
    put_files(session, task, data, uploads, lambda upload: tx(lambda s: store_upload(s, task, upload, login)))
    return problems


def other_problems(task: HumanTask, data: dict, skip: set[str]) -> list[Problem]:
    """The form's problems outside the fields in `skip` (refused uploads), so that every message is given at once."""
    context = {**(task.prefill or {}), **data}
    try:
        validate_submission(task.form, {k: v for k, v in data.items() if k not in skip}, context,
                            engine().sandbox, task.prefill)
    except ValidationFailed as exc:
        return [p for p in exc.problems if (p.field or "").split("[")[0] not in skip]
    return []


def _may_see(session: Session, instance_id: int, actor) -> bool:
    from .instances import visible_instance

    try:
        visible_instance(session, instance_id, actor)
    except NotFound:
        return False
    return True


def _missing(session: Session, attachment_id: int) -> NotFound:
    """A missing attachment: said to be cleaned up when an instance the person may see removed it, else (nothing
    about other instances is told) the answer for an id that never existed."""
    if any(_may_see(session, i, g.actor) for i in attachments.removed_from(session, attachment_id)):
        return NotFound(say("attachment.removed", id=attachment_id), attachment_id=attachment_id)
    return NotFound(say("attachment.not_found", id=attachment_id), attachment_id=attachment_id)


@bp.get("/<int:attachment_id>")
@login_required
def download(attachment_id: int):
    """The file, to whoever may see its instance; anyone else gets the same 404 as for a missing id."""
    session = db()
    row = attachments.describe(session, attachment_id)
    if row is None:
        raise _missing(session, attachment_id)
    if not _may_see(session, row.instance_id, g.actor):
        raise NotFound(say("attachment.not_found", id=attachment_id), attachment_id=attachment_id)
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
