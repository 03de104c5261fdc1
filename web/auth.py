"""Logging in and out; `g.actor` (login, name, role grants) for every request; `login_required`."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash

from engine.errors import NotFound
from engine.routing import Actor
from engine.store import org

from .app import db
from .i18n import LANG_KEY, t

bp = Blueprint("auth", __name__, url_prefix="/auth")


def authenticate(login: str, password: str) -> Actor | None:
    """The actor when the login exists, is active and the password matches; None otherwise."""
    try:
        user = org.get_user(db(), login)
    except NotFound:
        return None
    if not user.password_hash or not check_password_hash(user.password_hash, password):
        return None
    return org.actor(db(), login)


def start_session(actor: Actor) -> None:
    """A fresh session for the newly logged-in user (no fixation), keeping the chosen language."""
    lang = session.get(LANG_KEY)
    session.clear()
    session["login"] = actor.login
    if lang:
        session[LANG_KEY] = lang
    g.actor = actor


def end_session() -> None:
    lang = session.get(LANG_KEY)
    session.clear()
    if lang:
        session[LANG_KEY] = lang


@bp.before_app_request
def load_logged_in_user() -> None:
    g.actor = None
    login = session.get("login")
    if login is None or request.endpoint == "static":
        return
    try:
        g.actor = org.actor(db(), login)
    except NotFound:  # the user was removed or deactivated since logging in
        end_session()


def login_required(view):
    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.actor is None:
            if request.blueprint == "api":
                abort(401)
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(**kwargs)

    return wrapped


def safe_next(target: str | None, default: str) -> str:
    """Only follow redirects to our own pages."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


@bp.route("/login", methods=("GET", "POST"))
def login():
    error = None
    login_name = ""
    if request.method == "POST":
        login_name = request.form.get("login", "").strip()
        actor = authenticate(login_name, request.form.get("password", ""))
        if actor is not None:
            start_session(actor)
            return redirect(safe_next(request.args.get("next"), url_for("inbox.index")))
        error = t("auth.failed")
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, login_name=login_name), status


@bp.post("/logout")
def logout():
    end_session()
    flash(t("auth.logged_out"), "info")
    return redirect(url_for("auth.login"))
