"""The JSON API under /api/: the same rules as the pages (login, role and scope, CSRF header), JSON errors.

A script logs in with `GET /api/csrf` → `POST /api/login` (header `X-CSRF-Token`), keeps the session
cookie, and sends the token returned by login in `X-CSRF-Token` on every POST.
"""

from __future__ import annotations

from flask import Blueprint, g, request

from engine.engine import human_task_dict
from engine.errors import ValidationFailed
from engine.routing import can_act
from engine.store.models import HumanTask

from . import csrf
from .app import db, engine, tx
from .auth import authenticate, end_session, login_required, start_session
from .errors import error_response
from .i18n import t
from .inbox import process_names, task_ref, task_summary, visible_task
from .instances import instance_summaries, visible_instance
from .processes import deploy_checked, process_listing, start_checked

bp = Blueprint("api", __name__, url_prefix="/api")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("请求体应为 JSON 对象 (Content-Type: application/json)", [])
    return body


def _me() -> dict:
    actor = g.actor
    return {"login": actor.login, "name": actor.name,
            "grants": [{"role": r, "scope": s} for r, s in sorted(actor.grants)]}


@bp.get("/csrf")
def csrf_token():
    return {"csrf_token": csrf.token()}


@bp.post("/login")
def login():
    body = _body()
    actor = authenticate(str(body.get("login", "")), str(body.get("password", "")))
    if actor is None:
        return error_response(401, t("auth.failed"))
    start_session(actor)
    return {**_me(), "csrf_token": csrf.token()}


@bp.post("/logout")
def logout():
    end_session()
    return {"ok": True}


@bp.get("/me")
@login_required
def me():
    return _me()


def _task(row: HumanTask, names: dict | None = None) -> dict:
    session = db()
    summary = task_summary(session, row, names or process_names(session), engine().clock.now())
    return {**human_task_dict(row), "title": summary["title"], "process_name": summary["process_name"],
            "business_key": summary["business_key"], "overdue": summary["overdue"]}


@bp.get("/tasks")
@login_required
def task_list():
    session = db()
    names = process_names(session)
    return {"tasks": [_task(row, names) for row in engine().inbox(session, g.actor.login)]}


@bp.get("/tasks/<int:task_id>")
@login_required
def task_detail(task_id: int):
    row = visible_task(db(), task_id, g.actor)
    acting = can_act(g.actor, task_ref(row))
    return {**_task(row), "documentation": row.documentation, "fields": (row.form or {}).get("fields", []),
            "prefill": row.prefill, "draft": row.draft if acting else None, "submitted": row.submitted,
            "can_act": acting}


def _act(task_id: int, action) -> dict:
    """Check the task may be seen at all (403 with the reason), then act in one unit of work."""
    visible_task(db(), task_id, g.actor)

    def work(session):
        row = action(session)
        return human_task_dict(row) if row is not None else None

    task = tx(work)
    return {"task": task} if task is not None else {"task_id": task_id}


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int):
    return _act(task_id, lambda s: engine().claim(s, task_id, g.actor.login))


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
def unclaim(task_id: int):
    return _act(task_id, lambda s: engine().unclaim(s, task_id, g.actor.login))


@bp.post("/tasks/<int:task_id>/complete")
@login_required
def complete(task_id: int):
    """The body is the form's values, e.g. {"amount": 12.5, "lines": [{"item": "会议", "cost": 3}]}."""
    data = _body()
    return _act(task_id, lambda s: engine().complete(s, task_id, g.actor.login, data))


@bp.post("/tasks/<int:task_id>/draft")
@login_required
def draft(task_id: int):
    data = _body()
    return _act(task_id, lambda s: engine().save_draft(s, task_id, g.actor.login, data))


@bp.get("/instances")
@login_required
def instance_list():
    return {"instances": instance_summaries(db(), g.actor, request.args.get("process") or None)}


@bp.get("/instances/<int:instance_id>")
@login_required
def instance_detail(instance_id: int):
    session = db()
    visible_instance(session, instance_id, g.actor)
    return engine().show(session, instance_id)


@bp.post("/instances")
@login_required
def start():
    """Body: {"process_id": "SM1_3", "data": {...}, "business_key": "2027-04", "version": null}."""
    body = _body()
    data = body.get("data") or {}
    version = body.get("version")
    if not isinstance(body.get("process_id"), str) or not isinstance(data, dict) or \
            (version is not None and not isinstance(version, int)):
        raise ValidationFailed("需要 process_id (文字), data (JSON 对象), version (整数或 null)", [])
    instance_id = start_checked(body["process_id"], g.actor, data, version, body.get("business_key") or None)
    return {"instance_id": instance_id}, 201


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
