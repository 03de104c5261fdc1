"""流程实例: the list of instances a person may see, and one instance with diagram, tasks, audit and data."""

from __future__ import annotations

import json
from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from engine.errors import NotPermitted
from engine.routing import ACTIVE_STATES, COMPLETED, Actor, holds
from engine.store import definitions, instances, tasks
from engine.store.models import HumanTask, ProcessDefinition, ProcessInstance

from .app import db, engine, tx
from .auth import login_required
from .i18n import localtime, scope_label, t
from .inbox import step_title, user_name

bp = Blueprint("instances", __name__, url_prefix="/instances")

ORG_SNAPSHOT_KEYS = {"regions", "offices", "channels", "product_lines"}  # the same in every instance


def can_view_instance(actor: Actor, instance: ProcessInstance, rows: list[HumanTask],
                      owner: str | None) -> bool:
    """Administrators, the starter, the process owner, and whoever holds (or did) one of its tasks."""
    if actor.is_admin or instance.started_by == actor.login or (owner and owner in actor.roles):
        return True
    return any(actor.login in (r.assignee, r.completed_by) or holds(actor, r.role, r.scope) for r in rows)


def visible_instance(session: Session, instance_id: int, actor: Actor):
    instance = instances.get(session, instance_id)
    definition = session.get(ProcessDefinition, instance.definition_id)
    rows = tasks.for_instance(session, instance_id)
    if not can_view_instance(actor, instance, rows, definition.owner):
        raise NotPermitted(t("instance.forbidden"), instance_id=instance_id)
    return instance, definition, rows


def instance_summaries(session: Session, actor: Actor, process_id: str | None = None) -> list[dict]:
    out = []
    owned = {d.process_id for d in definitions.latest_of_each(session) if d.owner and d.owner in actor.roles}
    for instance in instances.listing(session, process_id, limit=300, visible_to=actor, owned=owned):
        definition = session.get(ProcessDefinition, instance.definition_id)
        rows = tasks.for_instance(session, instance.id)
        if not can_view_instance(actor, instance, rows, definition.owner):
            continue
        out.append({
            "id": instance.id, "process_id": instance.process_id,
            "process_name": definition.name or instance.process_id, "version": instance.version,
            "business_key": instance.business_key or "", "status": instance.status,
            "status_label": t(f"status.{instance.status}"),
            "started_by": user_name(session, instance.started_by),
            "started_at": localtime(instance.started_at),
            "current": [f"{step_title(r)} ({scope_label(r.scope)})"
                        for r in rows if r.state in ACTIVE_STATES],
        })
    return out


def event_summary(kind: str, detail: dict | None) -> str:
    d = detail or {}
    if kind == "gateway":
        return f"{d.get('name') or d.get('element_id')} → {'、'.join(d.get('chosen') or [])}"
    if kind == "service_task":
        return f"{d.get('element_id')} ({d.get('topic')})"
    if kind == "error":
        return f"{d.get('element_id') or ''} {d.get('error') or ''}".strip()
    if kind == "task_created":
        return f"{d.get('name')} → {d.get('role')} @ {scope_label(d.get('scope'))}"
    if kind == "started":
        return d.get("business_key") or ""
    return d.get("name") or ""


def _diagram(instance: ProcessInstance, rows: list[HumanTask], events: list[dict]) -> dict:
    done = {r.element_id for r in rows if r.state == COMPLETED}
    done |= {e["detail"]["element_id"] for e in events
             if e["kind"] in ("service_task", "gateway") and (e["detail"] or {}).get("element_id")}
    active = sorted({r.element_id for r in rows if r.state in ACTIVE_STATES})
    url = url_for("processes.download", process_id=instance.process_id, version=instance.version)
    return {"xml_url": url, "active": active, "done": sorted(done - set(active))}


@bp.get("/")
@login_required
def index():
    process_id = request.args.get("process") or None
    return render_template("instances/index.html", process_id=process_id,
                           instances=instance_summaries(db(), g.actor, process_id))


@bp.get("/<int:instance_id>")
@login_required
def detail(instance_id: int):
    session = db()
    instance, definition, rows = visible_instance(session, instance_id, g.actor)
    info = engine().show(session, instance_id)
    task_views = [{
        "id": r.id, "title": step_title(r), "role": r.role, "scope": scope_label(r.scope), "state": r.state,
        "state_label": t(f"state.{r.state}"), "due": localtime(r.due_at),
        "who": user_name(session, r.completed_by or r.assignee),
        "when": localtime(r.completed_at if r.state == COMPLETED else r.claimed_at),
    } for r in rows]
    event_views = [{
        "at": localtime(datetime.fromisoformat(e["at"])), "who": user_name(session, e["actor"]),
        "kind": t(f"event.{e['kind']}"),
        "summary": event_summary(e["kind"], e["detail"]),
        "detail": json.dumps(e["detail"], ensure_ascii=False, default=str) if e["detail"] else "",
    } for e in info["events"]]
    data = {k: v for k, v in info["data"].items() if k not in ORG_SNAPSHOT_KEYS}
    jobs = [{"id": j.id, "topic": j.topic, "error": j.last_error, "attempts": j.attempts,
             "next": localtime(j.due_at) if j.retryable else t("instance.job_manual")}
            for j in engine().waiting_jobs(session, instance_id)]
    return render_template(
        "instances/detail.html", instance=instance, process_name=definition.name or instance.process_id,
        status_label=t(f"status.{instance.status}"), started_by=user_name(session, instance.started_by),
        started_at=localtime(instance.started_at), tasks=task_views, events=event_views,
        data=json.dumps(data, ensure_ascii=False, indent=2, default=str),
        diagram=_diagram(instance, rows, info["events"]), jobs=jobs,
    )


@bp.post("/<int:instance_id>/jobs/<int:job_id>/retry")
@login_required
def retry(instance_id: int, job_id: int):
    """An administrator runs a failed service task again."""
    went_through = tx(lambda s: engine().retry_now(s, job_id, g.actor.login))
    flash(t("instance.retried_ok" if went_through else "instance.retried_failed"),
          "success" if went_through else "error")
    return redirect(url_for("instances.detail", instance_id=instance_id))
