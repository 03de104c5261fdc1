"""我的待办: the inbox (filters, counts, pages), the task page with its form, and claim / put back / draft / submit.

The form's view models live in web/task_form.py, uploads and downloads in web/attachments.py.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine.errors import NotFound, NotPermitted, Problem, StaleAction, ValidationFailed
from engine.messages import say
from engine.routing import ACTIVE_STATES, ANY, CLAIMED, COMPLETED, OPEN, Actor, TaskRef, can_act, can_unclaim, holds
from engine.store import definitions, notifications, tasks
from engine.store.models import HumanTask, ProcessDefinition, ProcessInstance, User

from .app import db, engine, tx
from .attachments import other_problems, resolve_files
from .auth import login_required, safe_next
from .i18n import localized, localtime, scope_label, t
from .paging import page_count
from .task_form import errors_by_field, field_views, parse_submission

__all__ = ["business_key_of", "business_label", "due_state", "field_views", "parse_submission", "process_names",
           "step_title", "task_ref", "task_summary", "user_name", "visible_task"]

bp = Blueprint("inbox", __name__)

PER_PAGE = 20


# -- who may see what -----------------------------------------------------------------------------
def task_ref(row: HumanTask) -> TaskRef:
    return TaskRef(role=row.role, scope=row.scope, state=row.state, assignee=row.assignee)


def visible_task(session: Session, task_id: int, actor: Actor) -> HumanTask:
    """The task, when the actor holds its role in its scope, did or holds it, or is an administrator.

    Anyone else is told it does not exist, exactly as for an unknown id, so ids reveal nothing."""
    return seen_by(tasks.get(session, task_id), actor)


def seen_by(row, actor: Actor):
    """`row` (a task already read), if the actor may see it (see visible_task); else NotFound."""
    if actor.is_admin or actor.login in (row.assignee, row.completed_by) or holds(actor, row.role, row.scope):
        return row
    raise NotFound(say("task.not_found", id=row.id), task_id=row.id)


# -- display helpers ------------------------------------------------------------------------------
def user_name(session: Session, login: str | None) -> str:
    if not login:
        return ""
    user = session.get(User, login)
    return f"{user.name} ({login})" if user else login


def process_names(session: Session) -> dict[str, str]:
    return definitions.latest_names(session)


def step_title(row: HumanTask) -> str:
    """'12 分解区域销售目标': the manual's step number and the task's name."""
    if not row.step or row.name.startswith(row.step):
        return row.name
    return f"{row.step} {row.name}"


def business_label(business_key: str | None, scope: str | None) -> str:
    """'2027-04 月度销售计划 · 华北': the instance's key and the part of the organisation the task is for."""
    return " · ".join(p for p in (business_key, scope_label(scope)) if p)


def due_state(row: HumanTask, now: datetime) -> str | None:
    if row.due_at is None or row.state not in ACTIVE_STATES:
        return None
    if row.due_at < now:
        return "overdue"
    return "soon" if row.due_at < now + tasks.DUE_SOON else None


def business_key_of(session: Session, row: HumanTask) -> str | None:
    instance = session.get(ProcessInstance, row.instance_id)
    return instance.business_key if instance else None


def task_summary(session: Session, row: HumanTask, names: dict[str, str], now: datetime,
                 business_key: str | None = None) -> dict:
    if business_key is None:
        business_key = business_key_of(session, row)
    due = due_state(row, now)
    return {
        "id": row.id, "instance_id": row.instance_id, "business_key": business_key,
        "label": business_label(business_key, row.scope),
        "process_name": names.get(row.process_id, row.process_id), "title": step_title(row), "role": row.role,
        "scope": scope_label(row.scope), "due": localtime(row.due_at), "received": localtime(row.created_at),
        "overdue": due == "overdue", "due_soon": due == "soon",
        "state": row.state, "state_label": t(f"state.{row.state}"),
        "claimed_by": user_name(session, row.assignee), "mine": row.assignee == g.actor.login,
    }


def notifications_for(session: Session, actor: Actor, limit: int = 10) -> list[dict]:
    return [{"message": n.message, "at": localtime(n.created_at), "instance_id": n.instance_id}
            for n in notifications.for_actor(session, actor, limit)]


def menu_counts() -> tasks.InboxCounts | None:
    """My inbox's figures for the menu, counted once per request and only when a page shows them."""
    if getattr(g, "actor", None) is None:
        return None
    if "inbox_counts" not in g:
        try:
            g.inbox_counts = tasks.inbox_counts(db(), g.actor, engine().clock.now())
        except SQLAlchemyError:  # an error page about the database still renders
            g.inbox_counts = None
    return g.inbox_counts


@bp.app_context_processor
def _menu():
    return {"inbox_counts": menu_counts}


# -- the inbox ------------------------------------------------------------------------------------
def _query(args) -> tasks.InboxQuery:
    page = args.get("page", "1")
    return tasks.InboxQuery(
        process_id=args.get("process") or None, element_id=args.get("step") or None,
        due=args.get("due") if args.get("due") in tasks.DUE_STATES else None,
        sort=args.get("sort") if args.get("sort") in tasks.SORTS else "due",
        page=int(page) if page.isdigit() and int(page) > 0 else 1, per_page=PER_PAGE)


def _filter_choices(steps: list[dict], names: dict[str, str], query: tasks.InboxQuery) -> dict:
    processes: dict[str, dict] = {}
    for s in steps:
        entry = processes.setdefault(s["process_id"], {"id": s["process_id"], "count": 0, "steps": [],
                                                       "name": names.get(s["process_id"], s["process_id"])})
        entry["count"] += s["count"]
        title = s["name"] if not s["step"] or s["name"].startswith(s["step"]) else f"{s['step']} {s['name']}"
        entry["steps"].append({"id": s["element_id"], "title": title, "count": s["count"]})
    shown = [p for p in processes.values() if not query.process_id or p["id"] == query.process_id]
    return {"processes": list(processes.values()), "step_groups": shown}


@bp.get("/")
@login_required
def index():
    session, now = db(), engine().clock.now()
    query = _query(request.args)
    page = tasks.inbox_page(session, g.actor, query, now)
    names = page.process_names
    g.inbox_counts = page.counts
    pages = page_count(page.matching, query.per_page)
    filters = {k: v for k, v in (("process", query.process_id), ("step", query.element_id), ("due", query.due),
                                 ("sort", query.sort if query.sort != "due" else None)) if v}
    return render_template(
        "inbox/index.html", tasks=[task_summary(session, r, names, now, key or "") for r, key in page.rows],
        counts=page.counts, matching=page.matching, query=query, pages=pages, filters=filters,
        filtered=bool({"process", "step", "due"} & set(filters)),
        choices=_filter_choices(page.steps, names, query), notifications=notifications_for(session, g.actor),
        here=request.full_path.rstrip("?"),
        prev_url=url_for("inbox.index", **filters, **({"page": query.page - 1} if query.page > 2 else {})),
        next_url=url_for("inbox.index", **filters, page=query.page + 1))


# -- the task page --------------------------------------------------------------------------------
def _initial_values(row: HumanTask) -> dict:
    defaults = {f["id"]: f["default"] for f in (row.form or {}).get("fields", []) if "default" in f}
    return {**defaults, **(row.prefill or {}), **(row.draft or {})}


def _related(a: str, b: str) -> bool:
    """Scopes on one line of the organisation: the same, one inside the other, or company-wide."""
    return ANY in (a, b) or a == b or a.startswith(b + "/") or b.startswith(a + "/")


def earlier_steps(session: Session, row: HumanTask, rows: list[HumanTask]) -> list[dict]:
    """What earlier steps of this instance produced for this task's part of the organisation, newest first.

    The latest completion of each step counts (a loop's earlier rounds are superseded); the fields this
    task's own form shows are left out (they are on the form already)."""
    own = {f["id"] for f in (row.form or {}).get("fields", [])}
    latest: dict[str, HumanTask] = {}
    for r in sorted((r for r in rows if r.state == COMPLETED and r.id != row.id and r.completed_at),
                    key=lambda r: (r.completed_at, r.id)):
        if _related(r.scope, row.scope):
            latest[f"{r.element_id}@{r.scope}"] = r
    out = []
    for r in sorted(latest.values(), key=lambda r: (r.completed_at, r.id), reverse=True):
        form = {"fields": [f for f in (r.form or {}).get("fields", []) if f["id"] not in own
                           and (r.submitted or {}).get(f["id"]) not in (None, "", [])]}
        if form["fields"]:
            out.append({"title": step_title(r), "scope": scope_label(r.scope), "task_id": r.id,
                        "who": user_name(session, r.completed_by), "when": localtime(r.completed_at),
                        "fields": field_views(form, r.submitted or {}, {}, readonly=True)})
    return out


def render_task(row: HumanTask, values: dict | None = None, problems: list[Problem] | None = None,
                status: int = 200, unsent: dict | None = None, notice: str | None = None):
    session, actor = db(), g.actor
    ref = task_ref(row)
    acting = can_act(actor, ref)
    instance = session.get(ProcessInstance, row.instance_id)
    definition = session.get(ProcessDefinition, instance.definition_id)
    errors, general = errors_by_field(row.form, problems or [])
    if notice is None and row.state == COMPLETED:
        notice = t("task.completed_by", who=user_name(session, row.completed_by), when=localtime(row.completed_at))
    elif notice is None and row.state == CLAIMED and row.assignee != actor.login:
        notice = t("task.claimed_by_other", who=user_name(session, row.assignee))
    elif notice is None and row.state not in ACTIVE_STATES:
        notice = t("task.cancelled")
    siblings = tasks.for_instance(session, row.instance_id)
    # The same step for the same part of the organisation done before: this round is a rework.
    rounds = sum(1 for r in siblings if r.state == COMPLETED and r.id != row.id and r.element_id == row.element_id
                 and r.scope == row.scope and r.completed_at and r.created_at <= row.created_at)
    context = {
        "returned": rounds + 1 if rounds and row.state in ACTIVE_STATES else None,
        "task": task_summary(session, row, {row.process_id: definition.name or row.process_id},
                             engine().clock.now(), instance.business_key or ""),
        "version": instance.version,
        "documentation": [p for p in (row.documentation or "").splitlines() if p.strip()],
        "earlier": earlier_steps(session, row, siblings),
        "notice": notice, "can_claim": acting and row.state == OPEN, "can_unclaim": can_unclaim(actor, ref),
        "fields": field_views(row.form, values if values is not None else _initial_values(row), errors,
                              given=row.prefill or {})
        if acting else None,
        "draft_shown": values is None and bool(row.draft) and acting,
        "submitted": field_views(row.form, row.submitted or {}, {}, readonly=True)
        if row.state == COMPLETED else None,
        "unsent": field_views(row.form, unsent, {}, readonly=True) if unsent else None,
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
    tx(lambda s: engine().claim(s, task_id, g.actor))
    flash(t("task.claimed_flash", name=step_title(row)), "success")
    return redirect(safe_next(request.form.get("next"), url_for("inbox.task", task_id=task_id)))


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
def unclaim(task_id: int):
    row = visible_task(db(), task_id, g.actor)
    tx(lambda s: engine().unclaim(s, task_id, g.actor))
    flash(t("task.unclaimed_flash", name=step_title(row)), "success")
    return redirect(safe_next(request.form.get("next"), url_for("inbox.index")))


def _overtaken(row: HumanTask, data: dict, exc: StaleAction | NotPermitted):
    """Someone else completed (or took) the task first: say who and when, and keep every value typed here."""
    db().refresh(row)
    return render_task(row, unsent=data, notice=localized(exc.message), status=409)


def _posted(row: HumanTask) -> tuple[dict, list[Problem]]:
    data = parse_submission(row.form, request.form, row.prefill)
    return data, resolve_files(db(), row, data, request.files, g.actor.login)


@bp.post("/tasks/<int:task_id>/draft")
@login_required
def draft(task_id: int):
    row = visible_task(db(), task_id, g.actor)
    data, upload_problems = _posted(row)
    try:
        tx(lambda s: engine().save_draft(s, task_id, g.actor.login, data))
    except (StaleAction, NotPermitted) as exc:
        return _overtaken(row, data, exc)
    if upload_problems:
        return render_task(row, values=data, problems=upload_problems, status=422)
    flash(t("task.draft_flash"), "success")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<int:task_id>/complete")
@login_required
def complete(task_id: int):
    row = visible_task(db(), task_id, g.actor)
    data, upload_problems = _posted(row)
    if upload_problems:
        skip = {p.field for p in upload_problems}
        return render_task(row, values=data, problems=upload_problems + other_problems(row, data, skip),
                           status=422)
    try:
        tx(lambda s: engine().complete(s, task_id, g.actor, data))
    except ValidationFailed as exc:
        return render_task(row, values=data, problems=exc.problems or [Problem(exc.message)], status=422)
    except (StaleAction, NotPermitted) as exc:
        return _overtaken(row, data, exc)
    flash(t("task.done_flash", name=step_title(row)), "success")
    return redirect(url_for("inbox.index"))
