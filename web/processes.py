"""流程与版本: deployed processes, starting an instance, uploading a new version, download and diagram."""

from __future__ import annotations

import io
import json

from flask import Blueprint, flash, g, redirect, render_template, request, send_file, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, defer
from werkzeug.datastructures import MultiDict

from engine import DeployResult, Engine, start_data
from engine.errors import NotPermitted, Problem, SmflowError, ValidationFailed
from engine.routing import Actor
from engine.store import definitions, instances
from engine.store.models import BpmnFile, ProcessDefinition

from .app import db, engine, tx
from .auth import login_required
from .errors import status_for
from .i18n import localized, localtime, problem_text, t
from .inbox import user_name

bp = Blueprint("processes", __name__, url_prefix="/processes")

# -- who may do what ------------------------------------------------------------------------------
def may_upload(session: Session, actor: Actor) -> bool:
    """Owners of some process and administrators see the upload form and the modeler."""
    owners = {d.owner for d in definitions.latest_of_each(session) if d.owner}
    return actor.is_admin or bool(owners & actor.roles)


def may_deploy(actor: Actor, definition: ProcessDefinition | None) -> bool:
    """Deploy a new version of, or migrate the instances of, a process: its owner role and administrators."""
    return actor.is_admin or (definition is not None and definition.owner is not None
                              and definition.owner in actor.roles)


def check_may_deploy(actor: Actor, definition: ProcessDefinition, key: str = "processes.not_owner") -> None:
    if may_deploy(actor, definition):
        return
    pid = definition.process_id
    if definition.owner is None:
        raise NotPermitted(t("processes.no_owner", pid=pid), process_id=pid)
    raise NotPermitted(t(key, owner=definition.owner, pid=pid, name=definition.name or pid), process_id=pid)


def versions_of(session: Session, process_id: str) -> list[ProcessDefinition]:
    """A process's versions, oldest first (without their specs: the engine keeps those it has loaded)."""
    return list(session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
                                .options(defer(ProcessDefinition.spec_json)).order_by(ProcessDefinition.version)))


def may_view(session: Session, actor: Actor, versions: list[ProcessDefinition]) -> bool:
    """May the actor see a process's diagrams and files (every version)?

    Administrators and its owners; the holders of its lanes' roles (so whoever may start it); and whoever
    can see one of its instances, whose page draws the instance's version.
    """
    if actor.is_admin or any(d.owner in actor.roles for d in versions if d.owner):
        return True
    if any(engine().roles_of(session, d) & actor.roles for d in reversed(versions)):
        return True
    return bool(instances.listing(session, versions[-1].process_id, limit=1, visible_to=actor))


def visible_version(session: Session, actor: Actor, process_id: str, version: int | None) -> ProcessDefinition:
    """The version (the newest when None), or the very answer for one that does not exist when the actor may not
    see the process: its diagram and file, and its start and edit pages, do not reveal that it exists."""
    definition = definitions.get_version(session, process_id, version)
    if not may_view(session, actor, versions_of(session, process_id)):
        raise definitions.not_found(process_id, version)  # tests/web/test_process_visibility.py compares
    return definition


def _check_owner(session: Session, actor: Actor, result: DeployResult, previous_owner: str | None) -> None:
    owner = definitions.get_version(session, result.process_id, result.version).owner
    if owner is None:
        raise NotPermitted(t("processes.no_owner", pid=result.process_id), process_id=result.process_id)
    for needed in {owner, previous_owner} - {None}:
        if needed not in actor.roles:
            raise NotPermitted(t("processes.not_owner", owner=needed, pid=result.process_id),
                               process_id=result.process_id)


def deploy_checked(data: bytes, filename: str | None, actor: Actor) -> list[DeployResult]:
    """Deploy only what the actor owns (by the file's owner and the deployed one); admins deploy anything."""
    def work(session: Session) -> list[DeployResult]:
        if not may_upload(session, actor):
            raise NotPermitted(t("processes.upload_hint"))
        previous = {d.process_id: d.owner for d in definitions.latest_of_each(session)}
        results = engine().deploy(session, data, filename, actor.login)
        if not actor.is_admin:
            for result in results:
                _check_owner(session, actor, result, previous.get(result.process_id))
        return results

    return tx(work)


def deploy_message(result: DeployResult) -> str:
    if result.status == "unchanged":
        return t("processes.same_as", pid=result.process_id, version=result.version)
    return t("processes.deployed", pid=result.process_id, version=result.version,
             status=t(f"processes.status.{result.status}"))


def start_as(runner: Engine, session: Session, process_id: str, actor: Actor, data: dict, version: int | None,
             business_key: str | None) -> int:
    """Start as a person (the web, the API, `smflow start --as`): they may start the process, and start data
    that decides where work goes names only scopes they hold (engine/start_data.py)."""
    definition = definitions.get_version(session, process_id, version)
    if definition.executable and not runner.may_start(session, actor, definition):
        raise NotPermitted(t("processes.cannot_start", pid=process_id), process_id=process_id)
    if data and isinstance(data, dict):  # no data, nothing to route (the engine refuses what is not a dict)
        routing = start_data.routing_names(definitions.file_content(session, definition))
        start_data.check_start_data(data, routing, actor)
    return runner.start(session, process_id, actor.login, data, version, business_key)


def start_checked(process_id: str, actor: Actor, data: dict, version: int | None,
                  business_key: str | None) -> int:
    return tx(lambda session: start_as(engine(), session, process_id, actor, data, version, business_key))


# -- pages ----------------------------------------------------------------------------------------
def change_counts(changes: dict | None) -> dict | None:
    """A version's changes against the one before, as counts for the list (None for a first version)."""
    if changes is None:
        return None
    return {"added": len(changes.get("added", [])), "removed": len(changes.get("removed", [])),
            "changed": len(changes.get("changed", [])), "layout": bool(changes.get("layout_changed"))}


def process_listing(session: Session, actor: Actor) -> list[dict]:
    filenames = dict(session.execute(select(BpmnFile.sha256, BpmnFile.filename)).all())
    running = definitions.running_counts(session)
    grouped: dict[str, list[ProcessDefinition]] = {}
    for d in definitions.all_versions(session):
        grouped.setdefault(d.process_id, []).append(d)
    listing = []
    for process_id, versions in grouped.items():
        if not may_view(session, actor, versions):
            continue
        latest = versions[-1]
        waiting = sum(running.get((process_id, d.version), 0) for d in versions[:-1])
        listing.append({
            "process_id": process_id, "name": latest.name or process_id, "owner": latest.owner or "",
            "executable": latest.executable, "can_start": engine().may_start(session, actor, latest),
            "can_deploy": may_deploy(actor, latest), "latest": latest.version,
            "running": sum(running.get((process_id, d.version), 0) for d in versions),
            "on_older": waiting if latest.executable else 0,
            "versions": [{
                "version": d.version, "executable": d.executable, "deployed_at": localtime(d.deployed_at),
                "deployed_by": user_name(session, d.deployed_by),
                "filename": filenames.get(d.file_sha256) or "",
                "sha256": d.file_sha256[:12], "running": running.get((process_id, d.version), 0),
                "changes": change_counts(d.changes),
            } for d in reversed(versions)],
        })
    return listing


def _index(problems: list[Problem] | None = None, deploy_error: str | None = None, status: int = 200,
           warnings: list[Problem] | None = None, refused: bytes | None = None):
    """The library; after a refused upload, its problems and (when it names elements) the file drawn with them."""
    session = db()
    marked = sorted({p.element_id for p in problems or [] if p.element_id})
    shown = refused.decode("utf-8", errors="replace") if refused and marked else None
    return render_template("processes/index.html", processes=process_listing(session, g.actor),
                           can_upload=may_upload(session, g.actor), problems=problems or [],
                           warnings=warnings or [], deploy_error=deploy_error, refused_xml=shown,
                           problem_text=problem_text, refused_marks={"smflow-problem": marked,
                                          "smflow-warning": [w.element_id for w in warnings or [] if w.element_id]},
                           ), status


@bp.get("/")
@login_required
def index():
    return _index()


@bp.post("/deploy")
@login_required
def deploy():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _index(deploy_error=t("processes.no_file"), status=422)
    data = upload.read()
    try:
        results = deploy_checked(data, upload.filename, g.actor)
    except ValidationFailed as exc:
        message = t("processes.deploy_failed", file=upload.filename, message=localized(exc.message))
        return _index(problems=exc.problems, deploy_error=message, status=422,
                      warnings=exc.context.get("warnings"), refused=data)
    for r in results:
        flash(deploy_message(r), "success")
    for w in results[0].warnings if results else ():
        flash(t("processes.warning", element=w.element_name or w.element_id or "", message=problem_text(w)), "warning")
    return redirect(url_for("processes.index"))


@bp.get("/<process_id>/<int:version>/download")
@login_required
def download(process_id: str, version: int):
    """The exact bytes that were uploaded (also what the diagram viewer draws, on the instance page too)."""
    session = db()
    definition = visible_version(session, g.actor, process_id, version)
    file = session.get(BpmnFile, definition.file_sha256)
    return send_file(io.BytesIO(file.content), mimetype="application/xml", as_attachment=True,
                     download_name=file.filename or f"{process_id}_v{version}.bpmn")


@bp.get("/<process_id>/<int:version>/diagram")
@login_required
def diagram(process_id: str, version: int):
    session = db()
    definition = visible_version(session, g.actor, process_id, version)
    url = url_for("processes.download", process_id=process_id, version=version)
    latest = definitions.get_version(session, process_id, None)
    return render_template("processes/diagram.html", definition=definition, can_deploy=may_deploy(g.actor, latest),
                           compare_url=(url_for("versions.compare", process_id=process_id, a=version - 1, b=version)
                                        if version > 1 else None),
                           diagram={"xml_url": url, "active": [], "done": []})


def parse_start_data(posted: MultiDict) -> tuple[dict, list[dict], list[str]]:
    """Name/value rows → initial data (values that read as JSON keep their type), the rows as typed, problems."""
    data, rows, problems = {}, [], []
    indexes = sorted({int(k.split(".")[1]) for k in posted
                      if k.startswith("d.") and k.count(".") == 2 and k.split(".")[1].isdigit()})
    for n in indexes:
        key, text = posted.get(f"d.{n}.key", "").strip(), posted.get(f"d.{n}.value", "").strip()
        if not key and not text:
            continue
        rows.append({"key": key, "value": text})
        if not key.isidentifier():
            problems.append(t("start.bad_key", key=key))
            continue
        try:
            data[key] = json.loads(text)
        except ValueError:
            data[key] = text
    return data, rows, problems


@bp.route("/<process_id>/start", methods=("GET", "POST"))
@login_required
def start(process_id: str):
    session = db()
    latest = visible_version(session, g.actor, process_id, None)  # 404 before 403, as for its diagram
    versions = [d.version for d in definitions.all_versions(session)
                if d.process_id == process_id and d.executable]
    if not versions:
        raise NotPermitted(t("processes.not_executable", pid=process_id), process_id=process_id)
    if not engine().may_start(session, g.actor, definitions.get_version(session, process_id, versions[-1])):
        raise NotPermitted(t("processes.cannot_start", pid=process_id), process_id=process_id)
    rows = [{"key": "", "value": ""}]
    errors, status, business_key, version = [], 200, "", None
    if request.method == "POST":
        business_key = request.form.get("business_key", "").strip()
        version = int(request.form["version"]) if request.form.get("version", "").isdigit() else None
        data, typed_rows, errors = parse_start_data(request.form)
        rows = typed_rows or rows
        if errors:
            status = 422
        else:
            try:
                instance_id = start_checked(process_id, g.actor, data, version, business_key or None)
            except SmflowError as exc:
                errors, status = [localized(exc.message)], status_for(exc)
            else:
                flash(t("start.started", id=instance_id), "success")
                return redirect(url_for("instances.detail", instance_id=instance_id))
    return render_template("processes/start.html", definition=latest, versions=versions, version=version,
                           business_key=business_key, rows=rows, errors=errors), status
