"""Versions of a process: compare two of them, and migrate running instances of older ones to the newest.

Comparing is open to whoever may see the process's diagrams (`processes.may_view`); migrating (and its dry
run) only to the process's owner role and administrators, like deploying. Someone who may not see the process
gets the answer for one that does not exist on both pages. Each instance moves in its own unit of work.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from engine import versions
from engine.errors import NotFound, SmflowError, ValidationFailed
from engine.instance_migration import InstanceMove
from engine.store import definitions

from .app import db, engine, tx
from .auth import login_required
from .i18n import listed, localized, localtime, problem_text, t
from .inbox import user_name
from .processes import check_may_deploy, may_view, versions_of, visible_version

bp = Blueprint("versions", __name__, url_prefix="/processes")

ASPECTS = {"name": "name", "documentation": "documentation", "formData": "form", "properties": "properties",
           "conditionExpression": "condition", "timerEventDefinition": "timer", "flowNodeRef": "lane",
           "camunda:topic": "topic", "inputOutput": "inputs", "multiInstanceLoopCharacteristics": "multi",
           "sourceRef": "flow", "targetRef": "flow", "default": "default", "type": "type", "script": "script"}


def _version_arg(name: str, default: int) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else default


def aspect_labels(aspects) -> list[str]:
    """What changed in an element, in words (unknown parts by their XML name)."""
    labels = []
    for aspect in aspects:
        key = ASPECTS.get(aspect)
        label = t(f"versions.aspect.{key}") if key else aspect
        if label not in labels:
            labels.append(label)
    return labels


@bp.get("/<process_id>/compare")
@login_required
def compare(process_id: str):
    session = db()
    all_versions = versions_of(session, process_id)
    if not all_versions or not may_view(session, g.actor, all_versions):  # hidden: the answer for unknown
        raise NotFound(t("versions.no_process", pid=process_id), process_id=process_id)
    newest = all_versions[-1].version
    b = _version_arg("b", newest)
    a = _version_arg("a", max(1, b - 1))
    old, new = definitions.get_version(session, process_id, a), definitions.get_version(session, process_id, b)
    diff = versions.diff_files(definitions.file_content(session, old),
                               definitions.file_content(session, new)).for_process(process_id)
    marks = {
        "left": {"smflow-removed": [c.element_id for c in diff.removed],
                 "smflow-changed": [c.element_id for c in diff.changed]},
        "right": {"smflow-added": [c.element_id for c in diff.added],
                  "smflow-changed": [c.element_id for c in diff.changed]},
    }
    return render_template("processes/compare.html", process_id=process_id, name=new.name or process_id,
                           old=old, new=new, diff=diff, marks=marks, aspect_labels=aspect_labels,
                           choices=[d.version for d in all_versions])


def latest_for_migration(session: Session, process_id: str):
    """The version instances move to; NotFound when the viewer may not see the process, NotPermitted unless they
    are its owner or an admin."""
    latest = visible_version(session, g.actor, process_id, None)  # 404 before 403, as for its diagram
    check_may_deploy(g.actor, latest, "versions.migrate_forbidden")
    return latest


def migrate_one(instance_id: int) -> InstanceMove | str:
    """Move one instance in its own unit of work: the move, or why it could not move, in words (the session's
    language)."""
    try:
        return tx(lambda s: engine().migrate(s, instance_id, g.actor.login))
    except SmflowError as exc:
        detail = "; ".join(problem_text(p) for p in exc.problems) if isinstance(exc, ValidationFailed) else ""
        return localized(exc.message) + (f" ({detail})" if detail else "")


@bp.get("/<process_id>/migrate")
@login_required
def migrate(process_id: str):
    """The dry run: every running instance of an older version, whether it can move and why not."""
    session = db()
    latest = latest_for_migration(session, process_id)
    plans = engine().migration_plans(session, process_id) if latest.executable else []
    history = [{"kind": t(f"event.{e.kind}"), "at": localtime(e.at), "who": user_name(session, e.actor),
                "instance_id": e.instance_id, "detail": e.detail or {}}
               for e in definitions.version_events(session, process_id)]
    return render_template("processes/migrate.html", process_id=process_id, latest=latest, plans=plans,
                           movable=[p for p in plans if p.movable], history=history)


@bp.post("/<process_id>/migrate")
@login_required
def migrate_post(process_id: str):
    """Move the chosen instances (one unit of work each); those that cannot move are reported, not forced."""
    session = db()
    latest = latest_for_migration(session, process_id)
    only = request.form.get("only", "")
    wanted = [int(only)] if only.isdigit() else [int(v) for v in request.form.getlist("instance_id") if v.isdigit()]
    plans = {p.instance_id: p for p in engine().migration_plans(session, process_id, wanted or None)}
    if not request.form.get("all"):
        plans = {i: p for i, p in plans.items() if i in wanted}
    chosen = [i for i, p in plans.items() if p.movable] if request.form.get("all") else wanted
    session.close()
    moved, refused = [], []
    for instance_id in chosen:
        if instance_id not in plans:
            refused.append(t("versions.not_older", id=instance_id, version=latest.version))
            continue
        result = migrate_one(instance_id)
        if isinstance(result, str):
            refused.append(result)
        else:
            moved.append(instance_id)
    if moved:
        flash(t("versions.migrated", n=len(moved), version=latest.version,
                ids=listed(moved)), "success")
    for message in refused:
        flash(message, "error")
    if not chosen:
        flash(t("versions.nothing_to_migrate"), "info")
    return redirect(url_for("versions.migrate", process_id=process_id))
