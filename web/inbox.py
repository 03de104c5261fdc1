"""我的待办: the inbox, the task page with its form, and claim / put back / save draft / submit."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from engine.errors import NotPermitted, Problem, ValidationFailed
from engine.routing import (
    ACTIVE_STATES,
    CLAIMED,
    COMPLETED,
    OPEN,
    Actor,
    TaskRef,
    can_act,
    can_unclaim,
    holds,
    why_not,
)
from engine.store import definitions, notifications, tasks
from engine.store.models import HumanTask, ProcessDefinition, ProcessInstance, User

from .app import db, engine, tx
from .auth import login_required
from .i18n import localtime, scope_label, t

bp = Blueprint("inbox", __name__)

INPUT_KINDS = {"string": "text", "text": "textarea", "long": "number", "double": "number",
               "boolean": "checkbox", "date": "date", "enum": "select", "table": "table"}
NEW_ROW = "__ROW__"  # placeholder index in the template row that the add-row button copies


# -- who may see what -----------------------------------------------------------------------------
def task_ref(row: HumanTask) -> TaskRef:
    return TaskRef(role=row.role, scope=row.scope, state=row.state, assignee=row.assignee)


def visible_task(session: Session, task_id: int, actor: Actor) -> HumanTask:
    """The task, when the actor holds its role in its scope, did or holds it, or is an administrator."""
    row = tasks.get(session, task_id)
    if actor.is_admin or actor.login in (row.assignee, row.completed_by) or holds(actor, row.role, row.scope):
        return row
    reason = why_not(actor, TaskRef(row.role, row.scope, OPEN)) or t("error.403.detail")
    raise NotPermitted(reason, task_id=row.id)


# -- display helpers ------------------------------------------------------------------------------
def user_name(session: Session, login: str | None) -> str:
    if not login:
        return ""
    user = session.get(User, login)
    return f"{user.name} ({login})" if user else login


def process_names(session: Session) -> dict[str, str]:
    return {d.process_id: d.name or d.process_id for d in definitions.latest_of_each(session)}


def step_title(row: HumanTask) -> str:
    """'12 分解区域销售目标': the manual's step number and the task's name."""
    if not row.step or row.name.startswith(row.step):
        return row.name
    return f"{row.step} {row.name}"


def task_summary(session: Session, row: HumanTask, names: dict[str, str], now: datetime) -> dict:
    instance = session.get(ProcessInstance, row.instance_id)
    return {
        "id": row.id, "instance_id": row.instance_id,
        "business_key": instance.business_key if instance else None,
        "process_name": names.get(row.process_id, row.process_id), "title": step_title(row), "role": row.role,
        "scope": scope_label(row.scope), "due": localtime(row.due_at),
        "overdue": bool(row.due_at and row.due_at < now and row.state in ACTIVE_STATES),
        "state": row.state, "state_label": t(f"state.{row.state}"),
        "claimed_by": user_name(session, row.assignee),
    }


def notifications_for(session: Session, actor: Actor, limit: int = 10) -> list[dict]:
    return [{"message": n.message, "at": localtime(n.created_at), "instance_id": n.instance_id}
            for n in notifications.for_actor(session, actor, limit)]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return t("yes") if value else t("no")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_number(value) -> bool:
    if value is None or isinstance(value, (int, float)):
        return not isinstance(value, bool)
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _attrs(spec: dict) -> dict:
    attrs = {}
    if spec["type"] in ("long", "double"):
        attrs["step"] = "1" if spec["type"] == "long" else "any"
        attrs.update({k: _text(spec[k]) for k in ("min", "max") if k in spec})
    if spec["type"] in ("string", "text"):
        attrs.update({k: spec[k] for k in ("minlength", "maxlength") if k in spec})
    if spec.get("required"):
        attrs["aria-required"] = "true"
    return attrs


def _input(spec: dict, name: str, value, errors: list[str]) -> dict:
    options = [{"id": o["id"], "name": o["name"], "selected": o["id"] == value}
               for o in spec.get("options", [])]
    shown = next((o["name"] for o in options if o["selected"]), None) or _text(value)
    kind = INPUT_KINDS[spec["type"]]
    if kind == "number" and not _is_number(value):
        kind = "text"  # show what was typed (e.g. "12,5") instead of a number box the browser would blank
    return {"name": name, "kind": kind, "label": spec["label"],
            "value": "" if isinstance(value, bool) else _text(value), "checked": value is True,
            "options": options, "text": shown, "attrs": _attrs(spec), "errors": errors,
            "required": bool(spec.get("required"))}


def fixed_columns(spec: dict) -> list[str]:
    """The ids of a table's fixed columns (`#`): their values and the rows themselves come from the process."""
    return [c["id"] for c in spec.get("columns", []) if c.get("fixed")] if spec["type"] == "table" else []


def _given_rows(spec: dict, rows: list, given) -> list[dict]:
    """A fixed table as the process gave it: its rows, in order, with the fixed cells' given values."""
    given = given if isinstance(given, list) else []
    fixed = fixed_columns(spec)
    return [{**(rows[n] if n < len(rows) and isinstance(rows[n], dict) else {}),
             **{c: (g or {}).get(c) for c in fixed}} for n, g in enumerate(given)]


def field_views(form: dict | None, values: dict, errors: dict[str, list[str]],
                readonly: bool = False, given: dict | None = None) -> list[dict]:
    """What the template needs to draw each field: input kind, value as typed, its error messages.

    `given` holds the rows the process gave (the task's prefill): an editable table with fixed columns
    always shows exactly those rows, its fixed cells as text.
    """
    views = []
    for spec in (form or {}).get("fields", []):
        fid, value = spec["id"], values.get(spec["id"])
        view = _input(spec, f"f.{fid}", None if spec["type"] == "table" else value, errors.get(fid, []))
        view.update(id=fid, readonly=readonly or bool(spec.get("readonly")))
        if spec["type"] == "table":
            fixed = fixed_columns(spec)
            rows = value if isinstance(value, list) else []
            if fixed and not view["readonly"] and given is not None:
                rows = _given_rows(spec, rows, given.get(fid))
            if not rows and not view["readonly"] and not fixed:
                rows = [{}]
            view["columns"] = spec.get("columns", [])
            view["fixed"] = bool(fixed)
            view["rows"] = [[dict(_input(col, f"f.{fid}.{n}.{col['id']}", (row or {}).get(col["id"]),
                                         errors.get(f"{fid}[{n}].{col['id']}", [])), fixed=col["id"] in fixed)
                             for col in view["columns"]]
                            for n, row in enumerate(rows)]
            view["template_row"] = [_input(col, f"f.{fid}.{NEW_ROW}.{col['id']}", None, [])
                                    for col in view["columns"]]
            view["next_row"] = len(rows)
        views.append(view)
    return views


def errors_by_field(form: dict | None, problems: list[Problem]) -> tuple[dict[str, list[str]], list[str]]:
    """Problems keyed by field path (`amount`, `lines[0].cost`); those that fit no field go on top."""
    known = {f["id"] for f in (form or {}).get("fields", [])}
    by_field: dict[str, list[str]] = {}
    general = []
    for p in problems:
        if p.field and p.field.split("[")[0] in known:
            by_field.setdefault(p.field, []).append(p.message)
        else:
            general.append(p.message)
    return by_field, general


# -- reading a posted form ------------------------------------------------------------------------
def _table_rows(spec: dict, posted: MultiDict, given) -> list[dict]:
    """A posted table's rows, by their index in the page. A row left blank is not a row, except in a
    table with fixed columns: there every row was given, so it stays, with the fixed cells' given values
    (whatever was posted for them); a posted row beyond the given ones stays too, for the engine to refuse."""
    prefix = f"f.{spec['id']}."
    indexes = sorted({int(k[len(prefix):].split(".", 1)[0]) for k in posted
                      if k.startswith(prefix) and k[len(prefix):].split(".", 1)[0].isdigit()})
    fixed = fixed_columns(spec)
    given = given if isinstance(given, list) else []
    rows = []
    for n in indexes:
        row = {}
        for col in spec.get("columns", []):
            name = f"{prefix}{n}.{col['id']}"
            if col["id"] in fixed:
                continue
            if col["type"] == "boolean":
                row[col["id"]] = name in posted
            else:
                row[col["id"]] = posted.get(name, "").strip() or None
        if fixed:
            position = len(rows)
            rows.append({**row, **{c: (given[position] or {}).get(c) if position < len(given) else None
                                   for c in fixed}})
        elif any(v not in (None, False) for v in row.values()):
            rows.append(row)
    return rows


def parse_submission(form: dict | None, posted: MultiDict, given: dict | None = None) -> dict:
    """The posted HTML form as the engine's submission: values as typed, blank inputs left out.

    `given` is the task's prefill, which a table with fixed columns takes those columns from."""
    data: dict = {}
    for spec in (form or {}).get("fields", []):
        if spec.get("readonly"):
            continue
        name = f"f.{spec['id']}"
        if spec["type"] == "table":
            data[spec["id"]] = _table_rows(spec, posted, (given or {}).get(spec["id"]))
        elif spec["type"] == "boolean":
            data[spec["id"]] = name in posted
        elif posted.get(name, "").strip():
            data[spec["id"]] = posted[name].strip()
    return data


# -- pages ----------------------------------------------------------------------------------------
@bp.get("/")
@login_required
def index():
    session = db()
    names, now = process_names(session), engine().clock.now()
    rows = engine().inbox(session, g.actor.login)
    return render_template("inbox/index.html", tasks=[task_summary(session, r, names, now) for r in rows],
                           notifications=notifications_for(session, g.actor))


def _initial_values(row: HumanTask) -> dict:
    defaults = {f["id"]: f["default"] for f in (row.form or {}).get("fields", []) if "default" in f}
    return {**defaults, **(row.prefill or {}), **(row.draft or {})}


def render_task(row: HumanTask, values: dict | None = None, problems: list[Problem] | None = None,
                status: int = 200):
    session, actor = db(), g.actor
    ref = task_ref(row)
    acting = can_act(actor, ref)
    instance = session.get(ProcessInstance, row.instance_id)
    definition = session.get(ProcessDefinition, instance.definition_id)
    errors, general = errors_by_field(row.form, problems or [])
    notice = None
    if row.state == COMPLETED:
        notice = t("task.completed_by", who=user_name(session, row.completed_by),
                   when=localtime(row.completed_at))
    elif row.state == CLAIMED and row.assignee != actor.login:
        notice = t("task.claimed_by_other", who=user_name(session, row.assignee))
    elif row.state not in ACTIVE_STATES:
        notice = t("task.cancelled")
    context = {
        "task": task_summary(session, row, {row.process_id: definition.name or row.process_id},
                             engine().clock.now()),
        "version": instance.version,
        "documentation": [p for p in (row.documentation or "").splitlines() if p.strip()],
        "notice": notice, "can_claim": acting and row.state == OPEN, "can_unclaim": can_unclaim(actor, ref),
        "fields": field_views(row.form, values if values is not None else _initial_values(row), errors,
                              given=row.prefill or {})
        if acting else None,
        "draft_shown": values is None and bool(row.draft) and acting,
        "submitted": field_views(row.form, row.submitted or {}, {}, readonly=True)
        if row.state == COMPLETED else None,
        "problem_count": len(problems or []), "general_errors": general,
    }
    return render_template("inbox/task.html", **context), status


@bp.get("/tasks/<int:task_id>")
@login_required
def task(task_id: int):
    return render_task(visible_task(db(), task_id, g.actor))


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int):
    row = visible_task(db(), task_id, g.actor)
    tx(lambda s: engine().claim(s, task_id, g.actor.login))
    flash(t("task.claimed_flash", name=step_title(row)), "success")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
def unclaim(task_id: int):
    row = visible_task(db(), task_id, g.actor)
    tx(lambda s: engine().unclaim(s, task_id, g.actor.login))
    flash(t("task.unclaimed_flash", name=step_title(row)), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<int:task_id>/draft")
@login_required
def draft(task_id: int):
    row = visible_task(db(), task_id, g.actor)
    data = parse_submission(row.form, request.form, row.prefill)
    tx(lambda s: engine().save_draft(s, task_id, g.actor.login, data))
    flash(t("task.draft_flash"), "success")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<int:task_id>/complete")
@login_required
def complete(task_id: int):
    row = visible_task(db(), task_id, g.actor)
    data = parse_submission(row.form, request.form, row.prefill)
    try:
        tx(lambda s: engine().complete(s, task_id, g.actor.login, data))
    except ValidationFailed as exc:
        return render_task(row, values=data, problems=exc.problems or [Problem(exc.message)], status=422)
    flash(t("task.done_flash", name=step_title(row)), "success")
    return redirect(url_for("inbox.index"))
