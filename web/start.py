"""发起流程: the processes this person may start, each with a suggested business key.

Starting goes through the same checked start as 流程与版本 (`processes.start_checked`: the engine decides
who may start); this page is the staff's short way there: the newest version, a business key, optional data.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from engine.errors import NotPermitted, SmflowError
from engine.routing import Actor
from engine.store import definitions, instances
from engine.store.models import ProcessDefinition

from .app import db, engine
from .auth import login_required
from .errors import status_for
from .i18n import localized, t
from .processes import parse_start_data, start_checked, visible_version

bp = Blueprint("start", __name__, url_prefix="/start")

KEY_MAX = 255  # process_instance.business_key


def startable(session: Session, actor: Actor) -> list[ProcessDefinition]:
    """The newest version of every process the actor may start (Engine.may_start: lane roles, owner, admin)."""
    return [d for d in definitions.latest_of_each(session) if engine().may_start(session, actor, d)]


def suggested_key(session: Session, definition: ProcessDefinition, now: datetime) -> str:
    """The calendar's key for this period ('2027-04 月度销售计划'), with ' (2)', ' (3)' … when it is taken."""
    base = engine().period_key_at(definition, now)[:KEY_MAX - 5]
    key, n = base, 1
    while instances.by_business_key(session, definition.process_id, key) is not None:
        n += 1
        key = f"{base} ({n})"
    return key


def listing(session: Session, actor: Actor) -> list[dict]:
    now = engine().clock.now()
    return [{"process_id": d.process_id, "name": d.name or d.process_id, "version": d.version,
             "owner": d.owner or "", "suggested_key": suggested_key(session, d, now)}
            for d in startable(session, actor)]


def check_key(session: Session, process_id: str, key: str) -> list[str]:
    """What is wrong with a business key typed on the page (the engine refuses a duplicate again, race-safe)."""
    if not key:
        return [t("start.key_required")]
    if len(key) > KEY_MAX:
        return [t("start.key_too_long", n=KEY_MAX)]
    taken = instances.by_business_key(session, process_id, key)
    return [t("start.key_taken", key=key, id=taken.id)] if taken is not None else []


def _page(posted: dict | None = None, status: int = 200):
    """The list; `posted` = the process just tried, with the typed values and its errors."""
    return render_template("start/index.html", processes=listing(db(), g.actor), posted=posted or {}), status


@bp.get("/")
@login_required
def index():
    return _page()


@bp.get("/<process_id>")
@login_required
def one(process_id: str):
    """A bookmark or a link to one process: its card on the page."""
    return redirect(url_for("start.index", _anchor=f"start-{process_id}"))


@bp.post("/<process_id>")
@login_required
def start(process_id: str):
    session = db()
    definition = visible_version(session, g.actor, process_id, None)  # 404 before 403, as on 流程与版本
    if not engine().may_start(session, g.actor, definition):
        raise NotPermitted(t("processes.not_executable", pid=process_id) if not definition.executable
                           else t("processes.cannot_start", pid=process_id), process_id=process_id)
    key = request.form.get("business_key", "").strip()
    data, rows, errors = parse_start_data(request.form)
    errors = check_key(session, process_id, key) + errors
    status = 422
    if not errors:
        try:
            instance_id = start_checked(process_id, g.actor, data, None, key)
        except SmflowError as exc:
            errors, status = [localized(exc.message)], status_for(exc)
        else:
            flash(t("start.started_key", id=instance_id, key=key), "success")
            return redirect(url_for("instances.detail", instance_id=instance_id))
    return _page({"process_id": process_id, "business_key": key, "rows": rows, "errors": errors}, status)
