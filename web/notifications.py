"""通知: the bell in the header (unread count) and the pages of one's notifications, with read state per person.

The page and the JSON API (web/api.py) share what is here: the same rows, the same rule (a person sees
and marks only the notes addressed to their roles and scopes), the same numbers as the bell.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from engine.errors import Problem, ValidationFailed
from engine.routing import Actor
from engine.store import notifications
from engine.store.models import Notification

from .app import db, engine, tx
from .auth import login_required, safe_next
from .history import page_number
from .i18n import localtime, t
from .paging import Paging, paging

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PER_PAGE = 50
MAX_IDS = 1000  # one request marks at most this many by id; {} marks all of them, however many


@bp.app_context_processor
def _bell():
    def bell_count() -> int:
        """Unread notifications of the person logged in (0 when nobody is)."""
        return notifications.unread_total(db(), g.actor) if g.get("actor") else 0
    return {"bell_count": bell_count}


def _page(session: Session, actor: Actor, page: int,
          per_page: int) -> tuple[list[tuple[Notification, bool]], Paging, int]:
    """(note, read) for one page (past the end: the last page), the page numbers, and how many are unread."""
    total, unread = notifications.counts_for(session, actor)
    at = paging(page, per_page, total)
    return notifications.page_for(session, actor, at.offset, at.per_page), at, unread


def notification_page(session: Session, actor: Actor, page: int, per_page: int = PER_PAGE) -> dict:
    """The API's answer: one page of my notifications, newest first, and how many I have not read."""
    rows, at, unread = _page(session, actor, page, per_page)
    return {"notifications": [{"id": note.id, "message": note.message, "created_at": note.created_at.isoformat(),
                               "instance_id": note.instance_id, "read": read} for note, read in rows],
            **at.to_dict(), "unread": unread}


def mark_read_for(actor: Actor, ids) -> dict:
    """Mark `ids` (a list of notification ids) or, with None, all of the actor's notifications read: how many
    were marked, and how many are left unread (counted in the same unit of work, so it includes the marks)."""
    if ids is not None and (not isinstance(ids, list) or len(ids) > MAX_IDS
                            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
        message = t("notifications.bad_ids", n=MAX_IDS)
        raise ValidationFailed(message, [Problem(message, field="ids")])
    now = engine().clock.now()

    def work(session: Session) -> dict:
        marked = notifications.mark_read_of(session, actor, now, ids)
        return {"marked": marked, "unread": notifications.unread_total(session, actor)}

    return tx(work)


@bp.get("/")
@login_required
def index():
    rows, at, unread = _page(db(), g.actor, page_number(request.args.get("page")), PER_PAGE)
    items = [{"id": note.id, "message": note.message, "at": localtime(note.created_at),
              "instance_id": note.instance_id, "unread": not read} for note, read in rows]
    return render_template("notifications/index.html", items=items, unread=unread, **at.to_dict())


@bp.post("/read")
@login_required
def mark_read():
    """Mark one notification (`id`) or all of them read; back to where the person was."""
    one = request.form.get("id", type=int)
    flash(t("notifications.marked", n=mark_read_for(g.actor, [one] if one else None)["marked"]), "success")
    return redirect(safe_next(request.form.get("next"), url_for("notifications.index")))
