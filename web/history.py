"""我的已办: the tasks I completed, newest first, with paging and a link to each instance."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from sqlalchemy.orm import Session

from engine.store import history

from .app import db
from .auth import login_required
from .i18n import localtime
from .inbox import process_names, step_title
from .paging import paging

bp = Blueprint("history", __name__, url_prefix="/history")

PER_PAGE = 25
MAX_PER_PAGE = 100


def page_number(value: str | None) -> int:
    """A page asked for in the query string; anything that is not a positive number is page 1."""
    return int(value) if value and value.isdigit() and int(value) > 0 else 1


def completed_page(session: Session, login: str, page: int, per_page: int = PER_PAGE) -> dict:
    """One page of my completed tasks, as the page and the API show them."""
    rows, total = history.completed_by(session, login, (page - 1) * per_page, per_page)
    at = paging(page, per_page, total)
    if at.page != page:  # past the end (e.g. an old link): show the last page
        rows, total = history.completed_by(session, login, at.offset, per_page)
    names = process_names(session)
    return {
        **at.to_dict(),
        "tasks": [{
            "task_id": row.id, "instance_id": row.instance_id, "process_id": row.process_id,
            "process_name": names.get(row.process_id, row.process_id), "step": row.step, "title": step_title(row),
            "scope": row.scope, "business_key": key,
            "completed_at": row.completed_at.isoformat() if row.completed_at else None,
            "completed_at_local": localtime(row.completed_at),
        } for row, key in rows],
    }


@bp.get("/")
@login_required
def index():
    return render_template("history/index.html", **completed_page(db(), g.actor.login,
                                                                 page_number(request.args.get("page"))))
