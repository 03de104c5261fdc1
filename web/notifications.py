"""通知: the bell in the header (unread count) and the page of one's notifications, with read state per person."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from engine.store import notifications

from .app import db, engine, tx
from .auth import login_required, safe_next
from .i18n import localtime, t

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PAGE = 50


@bp.app_context_processor
def _bell():
    def bell_count() -> int:
        """Unread notifications of the person logged in (0 when nobody is)."""
        return notifications.unread_count(db(), g.actor) if g.get("actor") else 0
    return {"bell_count": bell_count}


@bp.get("/")
@login_required
def index():
    session = db()
    rows = notifications.for_actor(session, g.actor, PAGE)
    read = notifications.read_ids(session, g.actor.login, [n.id for n in rows])
    items = [{"id": n.id, "message": n.message, "at": localtime(n.created_at), "instance_id": n.instance_id,
              "unread": n.id not in read} for n in rows]
    return render_template("notifications/index.html", items=items)


@bp.post("/read")
@login_required
def mark_read():
    """Mark one notification (`id`) or all of them read; back to where the person was."""
    one = request.form.get("id", type=int)
    now = engine().clock.now()
    count = tx(lambda s: notifications.mark_read(s, g.actor, now, [one] if one else None))
    flash(t("notifications.marked", n=count), "success")
    return redirect(safe_next(request.form.get("next"), url_for("notifications.index")))
