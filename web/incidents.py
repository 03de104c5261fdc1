"""事故: service tasks that gave up (retries used up, or a failure retrying cannot fix), for administrators."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, url_for

from engine.errors import NotPermitted
from engine.store import jobs

from .app import db, engine, tx
from .auth import login_required
from .i18n import localized_stored, localtime, t

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def _admin_only() -> None:
    if not g.actor.is_admin:
        raise NotPermitted("只有管理员可以查看和处理事故")


@bp.get("/")
@login_required
def index():
    _admin_only()
    rows = [{"id": job.id, "instance_id": instance.id, "process_id": instance.process_id,
             "business_key": instance.business_key or "", "element_id": job.element_id or "", "topic": job.topic,
             "error": localized_stored(job.last_error, job.last_error_message),
             "attempts": job.attempts, "since": localtime(job.due_at)}
            for job, instance in jobs.incidents(db())]
    return render_template("incidents/index.html", incidents=rows)


def flash_retry(outcome: str) -> None:
    """What an administrator's retry did: went through, found nothing left to do (closed), or failed again."""
    if outcome == "done":
        flash(t("instance.retried_ok"), "success")
    elif outcome == "obsolete":
        flash(t("instance.retried_obsolete"), "success")
    else:
        flash(t("instance.retried_failed"), "error")


@bp.post("/<int:job_id>/retry")
@login_required
def retry(job_id: int):
    """Run the service task again after the cause was fixed; it gets a fresh series of retries."""
    flash_retry(tx(lambda s: engine().retry_now(s, job_id, g.actor.login)))
    return redirect(url_for("incidents.index"))
