"""The JSON API under /api/: the same operations and rules as the pages, documented in web/openapi.json.

A script logs in with `GET /api/csrf` → `POST /api/login` (header `X-CSRF-Token`), keeps the session
cookie, and sends the token returned by login in `X-CSRF-Token` on every POST. Errors are
`{"error": <status>, "message": "<Chinese text>", ...}` (English once the session chose it: `POST /lang/en`);
a task or instance outside the caller's roles and scopes answers 404 exactly like one that does not exist, so
ids reveal nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from flask import Blueprint, g, request
from sqlalchemy.orm import Session

from engine.engine import human_task_dict
from engine.errors import Problem, ValidationFailed
from engine.messages import say
from engine.routing import can_act
from engine.store import tasks
from engine.store.models import HumanTask

from . import csrf
from .app import db, engine, tx
from .attachments import Upload, checked_uploads, file_fields, other_problems, put_files, store_upload
from .auth import end_session, login_required, start_session, try_login
from .errors import error_response
from .history import MAX_PER_PAGE, completed_page, page_number
from .history import PER_PAGE as HISTORY_PER_PAGE
from .i18n import t
from .inbox import (
    PER_PAGE,
    business_key_of,
    business_label,
    due_state,
    earlier_steps,
    process_names,
    seen_by,
    step_title,
    task_ref,
    visible_task,
)
from .instances import PER_PAGE as INSTANCES_PER_PAGE
from .instances import instance_page, instance_query, visible_instance
from .notifications import PER_PAGE as NOTIFICATIONS_PER_PAGE
from .notifications import mark_read_for, notification_page
from .paging import page_count
from .processes import deploy_checked, process_listing, start_checked, visible_version
from .start import KEY_MAX
from .start import listing as startable_listing

bp = Blueprint("api", __name__, url_prefix="/api")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed(say("api.not_json"), [])
    return body


def _me() -> dict:
    actor = g.actor
    return {"login": actor.login, "name": actor.name,
            "grants": [{"role": r, "scope": s} for r, s in sorted(actor.grants)]}


def _per_page(default: int = PER_PAGE) -> int:
    value = request.args.get("per_page", "")
    return min(int(value), MAX_PER_PAGE) if value.isdigit() and int(value) > 0 else default


# -- session -----------------------------------------------------------------------------------------
@bp.get("/csrf")
def csrf_token():
    return {"csrf_token": csrf.token()}


@bp.post("/login")
def login():
    body = _body()
    result = try_login(str(body.get("login", "")).strip(), str(body.get("password", "")))
    if result.actor is None:
        extra = {"retry_after": result.retry_after} if result.retry_after else None
        response, status = error_response(result.status, result.message or "", payload=extra)
        response.headers.update(result.headers())
        return response, status
    start_session(result.actor)
    return {**_me(), "csrf_token": csrf.token()}


@bp.post("/logout")
def logout():
    end_session()
    return {"ok": True}


@bp.get("/me")
@login_required
def me():
    return _me()


# -- tasks -------------------------------------------------------------------------------------------
def _task(row: HumanTask, names: dict | None = None, business_key: str | None = None,
          now: datetime | None = None) -> dict:
    """A task as the inbox shows it: the engine's fields plus title, process, business key and due state."""
    if business_key is None:
        business_key = business_key_of(db(), row)
    names = process_names(db()) if names is None else names
    due = due_state(row, now or engine().clock.now())
    return {**human_task_dict(row), "title": step_title(row), "process_name": names.get(row.process_id, row.process_id),
            "business_key": business_key or None, "label": business_label(business_key, row.scope),
            "overdue": due == "overdue", "due_soon": due == "soon", "received_at": row.created_at.isoformat()}


def _earlier(session: Session, row: HumanTask) -> list[dict]:
    """What the task page shows under 前面步骤的结果, with the values as submitted (not as displayed)."""
    out = []
    for step in earlier_steps(session, row, tasks.for_instance(session, row.instance_id)):
        done = tasks.get(session, step["task_id"])
        out.append({"task_id": done.id, "title": step["title"], "scope": done.scope, "completed_by": done.completed_by,
                    "completed_at": done.completed_at.isoformat() if done.completed_at else None,
                    "values": {f["id"]: (done.submitted or {}).get(f["id"]) for f in step["fields"]}})
    return out


def inbox_query() -> tasks.InboxQuery:
    """The inbox page's filters from the query string: process, step (element id), due, sort, page."""
    args = request.args
    due = args.get("due") or None
    return tasks.InboxQuery(process_id=args.get("process") or None, element_id=args.get("step") or None,
                            due=due if due in tasks.DUE_STATES else None,
                            sort=args.get("sort") if args.get("sort") in tasks.SORTS else "due",
                            page=page_number(args.get("page")), per_page=_per_page())


@bp.get("/tasks")
@login_required
def task_list():
    session = db()
    query = inbox_query()
    now = engine().clock.now()
    found = tasks.inbox_page(session, g.actor, query, now)
    names = found.process_names
    return {
        "tasks": [_task(row, names, key or "", now) for row, key in found.rows],  # "": no lookup, there is none
        "page": query.page, "per_page": query.per_page, "total": found.matching,
        "pages": page_count(found.matching, query.per_page),
        "counts": {"total": found.counts.total, "overdue": found.counts.overdue,
                   "due_soon": found.counts.due_soon, "no_due": found.counts.no_due},
        "steps": found.steps,
    }


@bp.get("/tasks/<int:task_id>")
@login_required
def task_detail(task_id: int):
    session = db()
    row = visible_task(session, task_id, g.actor)  # 404 outside my roles and scopes
    acting = can_act(g.actor, task_ref(row))
    return {**_task(row), "documentation": row.documentation, "fields": (row.form or {}).get("fields", []),
            "prefill": row.prefill, "draft": row.draft if acting else None, "submitted": row.submitted,
            "earlier": _earlier(session, row), "can_act": acting}


def _act(task_id: int, action) -> dict:
    """Check the task may be seen at all (404 otherwise), then act on it (the engine finds the session's object
    read already), in one unit of work."""
    def work(session):
        row = visible_task(session, task_id, g.actor)  # 404 outside my roles and scopes
        action(session, row)
        return human_task_dict(row)

    return {"task": tx(work)}


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int):
    return _act(task_id, lambda s, _row: engine().claim(s, task_id, g.actor))


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
def unclaim(task_id: int):
    return _act(task_id, lambda s, _row: engine().unclaim(s, task_id, g.actor))


class _Submission(NamedTuple):
    data: dict
    uploads: dict[str, Upload]
    problems: list[Problem]  # refused uploads


def _multipart_values() -> dict:
    """The `data` part: the same JSON object of values that a JSON body carries."""
    raw = request.form.get("data")
    if raw is None:
        message = say("api.no_data_part")
        raise ValidationFailed(message, [Problem(message)])
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        message = say("api.data_not_json", line=exc.lineno, column=exc.colno, error=exc.msg)
        raise ValidationFailed(message, [Problem(message)]) from None
    if not isinstance(data, dict):
        raise ValidationFailed(say("api.data_not_object_detail"), [Problem(say("api.data_not_object"))])
    return data


def _stray_parts(row: HumanTask) -> list[Problem]:
    """Parts that are neither `data` nor one file for a file field: said, rather than silently dropped."""
    fields = {f["id"]: f for f in file_fields(row)}
    allowed = say("api.file_fields", fields=list(fields)) if fields else say("api.no_file_fields")
    problems = []
    for name, parts in request.files.lists():
        if name not in fields:
            problems.append(Problem(say("api.no_file_field", name=name, allowed=allowed), field=name))
        elif len(parts) > 1:
            problems.append(Problem(say("api.one_file_only", label=fields[name]["label"], n=len(parts)), field=name))
    problems += [Problem(say("api.extra_part", name=name), field=name)
                 for name in request.form if name not in ("data", csrf.FIELD)]
    return problems


def _submission(task_id: int) -> _Submission:
    """A JSON body, or multipart/form-data: `data` (that JSON object) and one part per file field, named by its id."""
    if request.mimetype != "multipart/form-data":
        return _Submission(_body(), {}, [])
    row = visible_task(db(), task_id, g.actor)  # 404 before anything about the form is told
    data = _multipart_values()
    stray = _stray_parts(row)
    if stray:
        raise ValidationFailed(say("api.parts_refused", count=len(stray)), stray)
    uploads, problems = checked_uploads(row, request.files, part=lambda field_id: field_id)
    return _Submission(data, uploads, problems)


def _with_files(session: Session, row, sent: _Submission, whole_form: bool) -> dict:
    """The values with each file field's attachment: a new upload stored in this unit of work, or one the
    task may keep (the task page's rules). Any refusal raises, so the unit of work stores nothing;
    `whole_form` adds the other fields' problems, so that every problem is told at once."""
    login = g.actor.login
    values = dict(sent.data)  # a retried unit of work starts again from what was sent
    problems = sent.problems + put_files(session, row, values, sent.uploads,
                                         lambda upload: store_upload(session, row, upload, login))
    if problems:
        skip = {p.field for p in problems}
        problems += other_problems(row, values, skip) if whole_form else []
        raise ValidationFailed(say("api.form_unsaved" if whole_form else "api.draft_unsaved", count=len(problems)),
                               problems)
    return values


@bp.post("/tasks/<int:task_id>/complete")
@login_required
def complete(task_id: int):
    """The form's values, e.g. {"amount": 12.5, "lines": [{"item": "会议", "cost": 3}]}, as a JSON body, or
    as the `data` part of a multipart body with one part per file field (named by the field's id)."""
    sent = _submission(task_id)

    def work(session):
        # The task with its instance in one query, the instance locked: the engine finds both read already.
        row, _instance = tasks.get_with_instance(session, task_id)
        seen_by(row, g.actor)  # 404 outside my roles and scopes
        engine().complete(session, task_id, g.actor, _with_files(session, row, sent, True))
        return human_task_dict(row)

    return {"task": tx(work)}


@bp.post("/tasks/<int:task_id>/draft")
@login_required
def draft(task_id: int):
    """Like complete (JSON or multipart), unchecked; a refused file refuses the whole draft."""
    sent = _submission(task_id)
    return _act(task_id, lambda s, row: engine().save_draft(s, task_id, g.actor.login,
                                                            _with_files(s, row, sent, False)))


@bp.get("/history")
@login_required
def history():
    return completed_page(db(), g.actor.login, page_number(request.args.get("page")),
                          _per_page(HISTORY_PER_PAGE))


# -- instances and starting ----------------------------------------------------------------------------
@bp.get("/instances")
@login_required
def instance_list():
    """The instances page as data: newest first, `process` and `status` filters, `page` and `per_page`."""
    found = instance_page(db(), g.actor, instance_query(request.args, _per_page(INSTANCES_PER_PAGE)))
    found.pop("counts")
    return found


@bp.get("/instances/<int:instance_id>")
@login_required
def instance_detail(instance_id: int):
    session = db()
    visible_instance(session, instance_id, g.actor)  # 404 when I may not see it
    return engine().show(session, instance_id)


@bp.get("/start")
@login_required
def startable():
    return {"processes": startable_listing(db(), g.actor)}


@bp.post("/instances")
@login_required
def start():
    """Body: {"process_id": "SM1_3", "data": {...}, "business_key": "2027-04", "version": null}."""
    body = _body()
    data = {} if body.get("data") is None else body["data"]
    version, key = body.get("version"), body.get("business_key")
    if not isinstance(body.get("process_id"), str) or not isinstance(data, dict) or \
            (version is not None and not isinstance(version, int)) or \
            (key is not None and (not isinstance(key, str) or len(key.strip()) > KEY_MAX)):
        raise ValidationFailed(say("api.start_body", n=KEY_MAX), [])
    visible_version(db(), g.actor, body["process_id"], version)  # 404 before 403, as on the start pages
    instance_id = start_checked(body["process_id"], g.actor, data, version, (key or "").strip() or None)
    return {"instance_id": instance_id}, 201


# -- notifications ---------------------------------------------------------------------------------------
@bp.get("/notifications")
@login_required
def notification_list():
    """My notifications, newest first, each with whether I read it; `unread` counts all of them (the bell)."""
    return notification_page(db(), g.actor, page_number(request.args.get("page")),
                             _per_page(NOTIFICATIONS_PER_PAGE))


@bp.post("/notifications/read")
@login_required
def notifications_read():
    """Body {"ids": [3, 5]} marks those, {} marks all; ids that are not mine are ignored."""
    return mark_read_for(g.actor, _body().get("ids"))


# -- processes (the process owner's side) -----------------------------------------------------------------
@bp.get("/processes")
@login_required
def processes():
    return {"processes": process_listing(db(), g.actor)}


@bp.post("/processes")
@login_required
def deploy():
    """A BPMN file as multipart field `file`, or as the raw body with `?filename=`."""
    upload = request.files.get("file")
    if upload is not None:
        data, filename = upload.read(), upload.filename
    else:
        data, filename = request.get_data(), request.args.get("filename")
    if not data:
        raise ValidationFailed(t("processes.no_file"), [])
    results = deploy_checked(data, filename, g.actor)
    return {"deployed": [r.to_dict() for r in results]}, 201
