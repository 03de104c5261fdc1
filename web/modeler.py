"""The process owner's modeler: edit a deployed version (or a new diagram) in the browser, validate, deploy.

The page runs bpmn-js with the Camunda 7 properties panel (web/frontend/modeler.js, bundled by esbuild);
the endpoints here only check, store and answer in JSON. Deploying goes through `deploy_checked`, so the
rights are exactly those of the upload form: owners deploy what they own, administrators anything.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, render_template, request, url_for

from engine.errors import NotPermitted, Problem, SmflowError, ValidationFailed
from engine.store import definitions
from engine.store.models import BpmnFile

from .app import db, engine
from .auth import login_required
from .errors import status_for
from .i18n import localized, problem_text, t
from .processes import check_may_deploy, deploy_checked, deploy_message, may_upload, visible_version

bp = Blueprint("modeler", __name__, url_prefix="/processes")

# What "新建流程" opens: one executable process with a start event, ready for lanes and tasks.
NEW_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" \
id="Definitions_new" targetNamespace="http://smflow/bpmn">
  <bpmn:process id="Process_new" name="{name}" isExecutable="true">
    <bpmn:startEvent id="Start_new" name="{start}"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_new">
    <bpmndi:BPMNPlane id="Plane_new" bpmnElement="Process_new">
      <bpmndi:BPMNShape id="Start_new_di" bpmnElement="Start_new">
        <dc:Bounds x="180" y="160" width="36" height="36"/>
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
MESSAGE_KEYS = ("loading", "load_failed", "validating", "valid", "problems", "deploying", "deployed",
                "deploy_failed", "dirty", "saved", "no_element", "line", "open_diagram", "open_edit",
                "network", "unsaved_leave", "downloaded", "warnings", "valid_with_warnings", "unchanged",
                "blocked", "open_compare", "error_badge", "warning_badge")
# The custom properties group (web/frontend/smflow_properties.js): its labels, in the page's language.
PANEL_KEYS = ("group", "step", "step_hint", "scope", "scope_hint", "topic", "topic_hint", "topic_none", "owner",
              "owner_hint", "due", "due_hint")


def may_edit() -> bool:
    """Whoever may upload (owners of some process, administrators) may open the modeler."""
    actor = getattr(g, "actor", None)
    return actor is not None and may_upload(db(), actor)


@bp.app_context_processor
def _template_rights() -> dict:
    return {"may_edit_processes": may_edit}


def _require_editor(admin_only: bool = False) -> None:
    if admin_only and not g.actor.is_admin:
        raise NotPermitted(t("modeler.new_forbidden"))
    if not may_edit():
        raise NotPermitted(t("modeler.forbidden"))


def _page(title: str, xml_url: str, filename: str | None, back_url: str):
    messages = {key: t(f"modeler.js.{key}") for key in MESSAGE_KEYS}
    panel = {key: t(f"modeler.panel.{key}") for key in PANEL_KEYS}
    return render_template("processes/edit.html", title=title, xml_url=xml_url, filename=filename or "",
                           back_url=back_url, messages=messages, panel=panel,
                           topics=sorted(engine().handlers.topics))


@bp.get("/<process_id>/<int:version>/edit")
@login_required
def edit(process_id: str, version: int):
    session = db()
    definition = visible_version(session, g.actor, process_id, version)  # 404 before 403, as for its diagram
    _require_editor()
    check_may_deploy(g.actor, definitions.get_version(session, process_id, None), "modeler.not_owner")
    file = session.get(BpmnFile, definition.file_sha256)
    title = t("modeler.title", name=definition.name or process_id, version=version)
    return _page(title, url_for("processes.download", process_id=process_id, version=version),
                 file.filename or f"{process_id}.bpmn",
                 url_for("processes.diagram", process_id=process_id, version=version))


@bp.get("/new/edit")
@login_required
def new():
    _require_editor(admin_only=True)
    return _page(t("modeler.new_title"), url_for("modeler.new_diagram"), None, url_for("processes.index"))


@bp.get("/new/diagram.bpmn")
@login_required
def new_diagram():
    _require_editor(admin_only=True)
    xml = NEW_DIAGRAM.format(name=t("modeler.new_process"), start=t("modeler.new_start"))
    return Response(xml.encode("utf-8"), mimetype="application/xml")


def _problem(p: Problem) -> dict:
    return {"element_id": p.element_id, "element_name": p.element_name, "line": p.line, "message": problem_text(p)}


def _failure_body(exc: SmflowError) -> dict:
    """A refused validation or deployment: the message and, for a bad file, every error and warning."""
    if not isinstance(exc, ValidationFailed):
        return {"ok": False, "message": localized(exc.message), "problems": [], "warnings": []}
    return {"ok": False, "message": localized(exc.message), "problems": [_problem(p) for p in exc.problems],
            "warnings": [_problem(p) for p in exc.context.get("warnings") or []]}


def _failure(exc: SmflowError):
    return jsonify(_failure_body(exc)), status_for(exc)


def _posted_xml() -> tuple[bytes, str | None]:
    """The diagram as the request body (exact bytes); the file name, if any, in the query string."""
    data = request.get_data(cache=False)
    if not data.strip():
        raise ValidationFailed(t("modeler.empty"), [Problem(t("modeler.empty"))])
    return data, request.args.get("filename") or None


@bp.post("/validate")
@login_required
def validate():
    """Check a diagram without storing anything: the same checks as deploying."""
    try:
        _require_editor()
        data, filename = _posted_xml()
        parsed, warnings = engine().check(db(), data, filename)
    except SmflowError as exc:
        if isinstance(exc, ValidationFailed):  # a file with problems is a normal answer here, not a failure
            return jsonify(_failure_body(exc))
        return _failure(exc)
    return jsonify({"ok": True, "warnings": [_problem(w) for w in warnings], "processes": [
        {"process_id": p.process_id, "name": p.name, "executable": p.executable, "owner": p.owner}
        for p in parsed.processes
    ]})


@bp.get("/topics")
@login_required
def topics():
    """The service-task topics the properties panel offers: the registered handlers."""
    _require_editor()
    return jsonify({"topics": sorted(engine().handlers.topics)})


@bp.post("/deploy-xml")
@login_required
def deploy():
    """Deploy the diagram as new versions (same bytes as a stored version → that version, `unchanged`)."""
    try:
        data, filename = _posted_xml()
        results = deploy_checked(data, filename, g.actor)
    except SmflowError as exc:
        return _failure(exc)
    return jsonify({"ok": True, "warnings": [_problem(w) for w in (results[0].warnings if results else ())],
                    "results": [{
        "process_id": r.process_id, "version": r.version, "status": r.status, "message": deploy_message(r),
        "diagram_url": url_for("processes.diagram", process_id=r.process_id, version=r.version),
        "edit_url": url_for("modeler.edit", process_id=r.process_id, version=r.version),
        "compare_url": (url_for("versions.compare", process_id=r.process_id, a=r.version - 1, b=r.version)
                        if r.status == "deployed" and r.version > 1 else None),
    } for r in results]})
