"""流程实例: the list of instances a person may see, and one instance with diagram, tasks, audit and data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.messages import say
from engine.routing import ACTIVE_STATES, COMPLETED, Actor, holds
from engine.store import archive_records, audit, definitions, instances, tasks
from engine.store.models import HumanTask, ProcessDefinition, ProcessInstance

from .app import db, engine, tx
from .auth import login_required
from .history import page_number
from .i18n import listed, localized_stored, localtime, scope_label, t
from .inbox import process_names, step_title, user_name
from .incidents import flash_retry
from .paging import paging
from .process_versions import latest_for_migration, migrate_one
from .processes import may_deploy, versions_of
from .task_form import field_views, text_of

bp = Blueprint("instances", __name__, url_prefix="/instances")

ORG_SNAPSHOT_KEYS = {"regions", "offices", "channels", "product_lines"}  # the same in every instance


PER_PAGE = 25
STATUSES = ("running", "completed", "cancelled")


def can_view_instance(actor: Actor, instance: ProcessInstance, rows: list[HumanTask], owners: set[str | None]) -> bool:
    """Administrators, the starter, the process's owner (of this version or of the newest, who may migrate
    it), and whoever holds (or did) one of its tasks."""
    if actor.is_admin or instance.started_by == actor.login or any(o and o in actor.roles for o in owners):
        return True
    return any(actor.login in (r.assignee, r.completed_by) or holds(actor, r.role, r.scope) for r in rows)


def _visible(session: Session, instance_id: int, actor: Actor):
    instance = instances.get(session, instance_id)
    definition = session.get(ProcessDefinition, instance.definition_id)
    newest = versions_of(session, instance.process_id)[-1]
    rows = tasks.for_instance(session, instance_id)
    if not can_view_instance(actor, instance, rows, {definition.owner, newest.owner}):
        # The same answer as for an unknown id: another scope's instance ids reveal nothing.
        raise NotFound(say("instance.not_found", id=instance_id), instance_id=instance_id)
    return instance, definition, rows, newest


def visible_instance(session: Session, instance_id: int, actor: Actor):
    """The instance, its version and its tasks; NotFound (as for an unknown id) when the actor may not see it."""
    return _visible(session, instance_id, actor)[:3]


@dataclass(frozen=True)
class InstanceQuery:
    process_id: str | None = None
    status: str | None = None
    page: int = 1
    per_page: int = PER_PAGE


def instance_query(args, per_page: int = PER_PAGE) -> InstanceQuery:
    """The list's filters and page from a query string (the page's and the API's)."""
    status = args.get("status") or None
    return InstanceQuery(process_id=args.get("process") or None, status=status if status in STATUSES else None,
                         page=page_number(args.get("page")), per_page=per_page)


def _owned(session: Session, actor: Actor) -> set[str]:
    return {d.process_id for d in definitions.latest_of_each(session) if d.owner and d.owner in actor.roles}


def _summary(session: Session, instance: ProcessInstance, name: str | None, current: list[HumanTask]) -> dict:
    return {
        "id": instance.id, "process_id": instance.process_id, "process_name": name or instance.process_id,
        "version": instance.version, "business_key": instance.business_key or "", "status": instance.status,
        "status_label": t(f"status.{instance.status}"), "started_by": user_name(session, instance.started_by),
        "started_at": localtime(instance.started_at),
        "current": [f"{step_title(r)} ({scope_label(r.scope)})" for r in current],
    }


def instance_page(session: Session, actor: Actor, query: InstanceQuery) -> dict:
    """One page of the instances the actor may see, newest first, with the counts the filters offer.

    Who sees what is instances.visible_condition, in SQL: the page and its total agree."""
    owned = _owned(session, actor)
    counts = instances.visible_counts(session, actor, owned)
    total = sum(n for (process_id, status), n in counts.items()
                if query.process_id in (None, process_id) and query.status in (None, status))
    at = paging(query.page, query.per_page, total)
    # The starters come with the page and stay referenced here, so user_name finds them in the session.
    rows = instances.visible_page(session, actor, owned, at.offset, at.per_page, query.process_id, query.status)
    current = instances.current_tasks(session, [instance.id for instance, _, _ in rows])
    return {"instances": [_summary(session, instance, name, current[instance.id]) for instance, name, _ in rows],
            **at.to_dict(), "counts": counts}


def _choices(session: Session, counts: dict[tuple[str, str], int], query: InstanceQuery) -> dict:
    """The filters' options with their counts (processes under the chosen status, statuses under the process)."""
    names = process_names(session)
    by_process: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for (process_id, status), n in counts.items():
        if query.status in (None, status):
            by_process[process_id] = by_process.get(process_id, 0) + n
        if query.process_id in (None, process_id):
            by_status[status] = by_status.get(status, 0) + n
    processes = sorted(({"id": p, "name": names.get(p, p), "count": n} for p, n in by_process.items()),
                       key=lambda p: p["name"])
    if query.process_id and query.process_id not in by_process:  # none to see: not even its name
        processes.append({"id": query.process_id, "name": query.process_id, "count": 0})
    return {"processes": processes,
            "statuses": [{"id": s, "label": t(f"status.{s}"), "count": by_status.get(s, 0)} for s in STATUSES]}


def event_summary(kind: str, detail: dict | None) -> str:
    d = detail or {}
    if kind == "gateway":
        return f"{d.get('name') or d.get('element_id')} → {listed(d.get('chosen') or [])}"
    if kind == "attachments_removed" and d.get("attachments"):  # listed the reader's way (no list: `name`, below)
        return listed(a.get("name") or f"#{a.get('id')}" for a in d["attachments"])
    if kind == "service_task":
        return f"{d.get('element_id')} ({d.get('topic')})"
    if kind == "error":
        return f"{d.get('element_id') or ''} {localized_stored(d.get('error'), d.get('error_message'))}".strip()
    if kind == "task_created":
        return f"{d.get('name')} → {d.get('role')} @ {scope_label(d.get('scope'))}"
    if kind == "started":
        return d.get("business_key") or ""
    if kind == "migrated":
        return f"v{d.get('from_version')} → v{d.get('to_version')}"
    return d.get("name") or ""


def _diagram(session: Session, instance: ProcessInstance, rows: list[HumanTask], events: list[dict],
             flows: list[tuple[str, str]]) -> dict:
    """What the viewer marks: finished and current steps, the flows taken, and who holds each current step."""
    done = {r.element_id for r in rows if r.state == COMPLETED}
    done |= {e["detail"]["element_id"] for e in events
             if e["kind"] in ("service_task", "gateway") and (e["detail"] or {}).get("element_id")}
    done |= {element for flow in flows for element in flow}
    active = sorted({r.element_id for r in rows if r.state in ACTIVE_STATES})
    holders: dict[str, list[str]] = {}
    for r in rows:
        if r.state in ACTIVE_STATES:
            who = user_name(session, r.assignee) if r.assignee else t("instance.waiting_for", role=r.role)
            holders.setdefault(r.element_id, []).append(f"{scope_label(r.scope)}: {who}")
    url = url_for("processes.download", process_id=instance.process_id, version=instance.version)
    return {"xml_url": url, "active": active, "done": sorted(done - set(active)),
            "flows": [list(f) for f in flows], "holders": {k: "\n".join(v) for k, v in holders.items()}}


def _values_view(form: dict | None, values: dict) -> list[dict]:
    """Submitted values as labelled, read-only fields (tables as tables), only those the form knows."""
    if not isinstance(values, dict) or not values:
        return []
    known = {"fields": [f for f in (form or {}).get("fields", []) if values.get(f["id"]) not in (None, "", [])]}
    views = field_views(known, values, {}, readonly=True)
    extra = sorted(set(values) - {f["id"] for f in (form or {}).get("fields", [])})
    return views + [{"id": k, "label": k, "kind": "text", "readonly": True, "text": text_of(values[k]),
                     "errors": [], "file": None, "unit": ""} for k in extra if values[k] not in (None, "", [])]


def timeline(session: Session, events: list[dict], rows: list[HumanTask], names: dict[str, str]) -> list[dict]:
    """The audit events as a story: who did what when, with the values a person submitted.

    `names` gives the diagram's names of elements, so a service task reads "5 预测备案", not its id."""
    by_id = {r.id: r for r in rows}
    out = []
    for e in events:
        detail = e["detail"] or {}
        if e["kind"] in ("service_task", "error") and detail.get("element_id") in names:
            detail = {**detail, "element_id": names[detail["element_id"]]}
        task = by_id.get(e.get("task_id"))
        values = _values_view(task.form if task else None, detail.get("data")) if e["kind"] == "completed" else []
        out.append({"at": localtime(datetime.fromisoformat(e["at"])), "who": user_name(session, e["actor"]),
                    "kind": e["kind"], "label": t(f"event.{e['kind']}"),
                    "summary": (step_title(task) if task and e["kind"] in ("completed", "claimed", "unclaimed",
                                                                           "task_cancelled")
                                else event_summary(e["kind"], detail)),
                    "shown": values})
    return out


def _form_fields(rows: list[HumanTask]) -> dict[str, dict]:
    """The instance's form fields by id (the latest definition of each), to label archived data."""
    return {f["id"]: f for r in rows for f in (r.form or {}).get("fields", [])}


def _archived_table(rows: list, fields: dict[str, dict]) -> dict:
    """A list of rows as a table field: the form's table with these very columns gives labels, order and totals."""
    keys = {k for row in rows for k in row}
    spec = next((f for f in fields.values() if f["type"] == "table"
                 and {c["id"] for c in f.get("columns", [])} == keys), None)
    if spec is None:
        spec = {"id": "rows", "type": "table", "label": "", "totals": [],
                "columns": [{"id": k, "type": "string", "label": k} for k in sorted(keys)]}
    return field_views({"fields": [{**spec, "label": ""}]}, {spec["id"]: rows}, {}, readonly=True)[0]


def archive_views(session: Session, instance_id: int, task_rows: list[HumanTask]) -> list[dict]:
    """The 备案 records, their content shown with the labels of the forms it came from."""
    fields = _form_fields(task_rows)
    out = []
    for r in archive_records.for_instance(session, instance_id):
        document = r.document
        is_table = isinstance(document, list) and bool(document) and all(isinstance(x, dict) for x in document)
        pairs = []
        if isinstance(document, dict):
            for key, value in document.items():
                spec = fields.get(key)
                if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
                    pairs.append({"label": spec["label"] if spec else key, "table": _archived_table(value, fields)})
                else:
                    pairs.append({"label": spec["label"] if spec else key, "text": text_of(value)})
        out.append({"title": r.title, "kind": r.kind, "step": r.step, "scope": scope_label(r.scope),
                    "by": user_name(session, r.archived_by), "at": localtime(r.archived_at), "sha256": r.sha256,
                    "pairs": pairs, "table": _archived_table(document, fields) if is_table else None,
                    "text": text_of(document) if not isinstance(document, (dict, list)) else ""})
    return out


def job_state(job) -> str:
    """What the service task waits for: an administrator (an incident), its next retry, or a worker."""
    if job.status == "incident":
        return t("instance.job_incident")
    if job.status == "running":
        return t("instance.job_running")
    if job.last_error:
        return t("instance.job_next", at=localtime(job.due_at))
    return t("instance.job_queued")


@bp.get("/")
@login_required
def index():
    session = db()
    query = instance_query(request.args)
    found = instance_page(session, g.actor, query)
    return render_template("instances/index.html", query=query, choices=_choices(session, found.pop("counts"), query),
                           filtered=bool(query.process_id or query.status), **found)


@bp.get("/<int:instance_id>")
@login_required
def detail(instance_id: int):
    session = db()
    instance, definition, rows, newest = _visible(session, instance_id, g.actor)
    info = engine().show(session, instance_id)
    task_views = [{
        "id": r.id, "title": step_title(r), "role": r.role, "scope": scope_label(r.scope), "state": r.state,
        "state_label": t(f"state.{r.state}"), "due": localtime(r.due_at),
        "who": user_name(session, r.completed_by or r.assignee),
        "when": localtime(r.completed_at if r.state == COMPLETED else r.claimed_at),
    } for r in rows]
    events = [{"kind": e.kind, "actor": e.actor, "at": e.at.isoformat(), "detail": e.detail, "task_id": e.task_id}
              for e in audit.for_instance(session, instance_id)]
    event_views = timeline(session, events, rows, engine().element_names(definition))
    data = {k: v for k, v in info["data"].items() if k not in ORG_SNAPSHOT_KEYS}
    jobs = [{"id": j.id, "topic": j.topic, "error": localized_stored(j.last_error, j.last_error_message),
             "attempts": j.attempts,
             "incident": j.status == "incident", "next": job_state(j)}
            for j in engine().waiting_jobs(session, instance_id)]
    return render_template(
        "instances/detail.html", instance=instance, process_name=definition.name or instance.process_id,
        status_label=t(f"status.{instance.status}"), started_by=user_name(session, instance.started_by),
        started_at=localtime(instance.started_at), tasks=task_views, events=event_views,
        data=json.dumps(data, ensure_ascii=False, indent=2, default=str),
        diagram=_diagram(session, instance, rows, events, engine().path_taken(session, instance_id)),
        jobs=jobs, archive=archive_views(session, instance_id, rows),
        current=[v for v in task_views if v["state"] in ACTIVE_STATES],
        versions=version_view(session, g.actor, instance, newest),
    )


def version_view(session: Session, actor: Actor, instance: ProcessInstance, newest: ProcessDefinition) -> dict:
    """Which version the instance runs on and whether a newer one exists; for whoever may migrate it (the
    process's owner role, administrators: the migration page's rule), the dry run's verdict for it."""
    view = {"newest": newest.version, "newer": instance.version < newest.version, "may_migrate": False,
            "view_only": not newest.executable, "plan": None, "missing": ""}
    if not view["newer"] or instance.status != "running" or not may_deploy(actor, newest):
        return view
    view["may_migrate"] = True
    plans = engine().migration_plans(session, instance.process_id, [instance.id]) if newest.executable else []
    if plans:
        view["plan"] = plans[0]
        view["missing"] = listed(t("instance.step_quoted", step=step.name or step.element_id)
                                 for step in plans[0].missing)
    return view


@bp.post("/<int:instance_id>/migrate")
@login_required
def migrate(instance_id: int):
    """Move this instance to its process's newest version, as the migration page does, and come back here."""
    session = db()
    instance, _definition, _rows = visible_instance(session, instance_id, g.actor)  # 404 before 403
    latest_for_migration(session, instance.process_id)  # only the owner role and administrators
    session.close()
    result = migrate_one(instance_id)
    if isinstance(result, str):
        flash(result, "error")
    else:
        flash(t("instance.migrated", id=instance_id, version=result.to_version), "success")
    return redirect(url_for("instances.detail", instance_id=instance_id))


@bp.post("/<int:instance_id>/jobs/<int:job_id>/retry")
@login_required
def retry(instance_id: int, job_id: int):
    """An administrator runs a failed service task again."""
    flash_retry(tx(lambda s: engine().retry_now(s, job_id, g.actor.login)))
    return redirect(url_for("instances.detail", instance_id=instance_id))
