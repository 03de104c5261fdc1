"""Logging in and out; `g.actor` (login, name, role grants) for every request; `login_required`.

Passwords are checked against their stored hashes (werkzeug). Failed logins are counted in the database
per login and client address (engine/store/logins.py says why it is per address): past the limit, logins
from there are refused with the time to retry, without the password being checked.

A login starts a new session (nothing of the anonymous one survives but the language, so a planted
session cookie is worthless), recorded in the database: logging out deletes it, so a copied cookie dies
with it. A session ends after PERMANENT_SESSION_LIFETIME (8 h) without a request, and 24 h after the login
at the latest. The cookie is HttpOnly, SameSite=Lax, and Secure when SMFLOW_SESSION_COOKIE_SECURE=true.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from engine.errors import NotFound
from engine.routing import Actor
from engine.store import logins, org

from .app import db, engine, tx
from .i18n import LANG_KEY, localtime, t

bp = Blueprint("auth", __name__, url_prefix="/auth")
RENEW_EVERY = timedelta(minutes=5)

@cache
def _dummy_hash() -> str:
    """What an unknown login's password is checked against, so that it takes as long as a known one's."""
    return generate_password_hash("smflow: no such user")


def authenticate(login: str, password: str) -> Actor | None:
    """The actor when the login exists, is active and the password matches; None otherwise."""
    try:
        user = org.get_user(db(), login)
    except NotFound:
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return org.actor(db(), login)


def client_address() -> str:
    """The client's address as this server sees it (behind a proxy, configure SMFLOW_PROXY_FIX)."""
    return request.remote_addr or "unknown"


@dataclass(frozen=True)
class LoginResult:
    """What a login attempt came to: the actor, or why not with the HTTP status that says it."""

    actor: Actor | None
    status: int = 200  # 401 wrong login or password, 429 too many failures
    message: str | None = None
    retry_after: int | None = None  # seconds, for 429

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


def _locked(until: datetime, now: datetime) -> LoginResult:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return LoginResult(None, 429, t("auth.locked", time=localtime(until), minutes=math.ceil(seconds / 60)),
                       seconds)


def try_login(login: str, password: str) -> LoginResult:
    """Check the lockout, then the password, and count a failure (`start_session` forgets them on success)."""
    now, address = engine().clock.now(), client_address()
    until = logins.locked_until(db(), login, address, now)
    if until is not None:
        return _locked(until, now)
    actor = authenticate(login, password)
    if actor is None:
        until = tx(lambda s: logins.record_failure(s, login, address, now))
        return _locked(until, now) if until is not None else LoginResult(None, 401, t("auth.failed"))
    return LoginResult(actor)


def _real_now() -> datetime:
    # Session ages are real time, like the cookie's signature (not the engine's clock, which tests move).
    return datetime.now(UTC)


def start_session(actor: Actor) -> None:
    """A fresh session for the newly logged-in user (no fixation), keeping the chosen language; the
    failed attempts of this login from this address no longer count."""
    address, previous = client_address(), session.get("sid")

    def work(s) -> str:
        if previous:  # logging in again over a session: the old one ends
            logins.close_session(s, previous)
        logins.forget_failures(s, actor.login, address)
        return logins.open_session(s, actor.login, _real_now())

    lang = session.get(LANG_KEY)
    session.clear()
    session.permanent = True  # its lifetime (PERMANENT_SESSION_LIFETIME) is the idle timeout
    session["login"] = actor.login
    session["sid"] = tx(work)
    _renew_cookie()
    if lang:
        session[LANG_KEY] = lang
    g.actor = actor


def end_session() -> None:
    """Log out: the session's row goes, so no copy of its cookie works any more."""
    sid = session.get("sid")
    if sid:
        tx(lambda s: logins.close_session(s, sid))
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
    sid = session.get("sid")
    actor = logins.session_actor(db(), sid, _real_now()) if sid else None
    if actor is None or actor.login != login:  # logged out elsewhere, too old, or the user deactivated since
        end_session()
        return
    g.actor = actor
    _renew_cookie()


def _renew_cookie() -> None:
    # The cookie's lifetime (the idle timeout) starts again whenever the cookie is sent anew. Sending it with
    # every response would sign it on every request, so it is renewed once per RENEW_EVERY at most (a change
    # to the session sends it): the idle timeout is then 8 h less at most those minutes.
    period = int(_real_now().timestamp() // RENEW_EVERY.total_seconds())
    if session.get("renewed") != period:
        session["renewed"] = period


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
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@bp.route("/login", methods=("GET", "POST"))
def login():
    target = safe_next(request.args.get("next"), url_for("inbox.index"))
    login_name = request.form.get("login", "").strip() if request.method == "POST" else ""
    if request.method == "POST":
        result = try_login(login_name, request.form.get("password", ""))
        if result.actor is not None:
            start_session(result.actor)
            return redirect(target)
        return render_template("auth/login.html", error=result.message, login_name=login_name), \
            result.status, result.headers()
    return render_template("auth/login.html", error=None, login_name=login_name)


@bp.post("/logout")
def logout():
    end_session()
    flash(t("auth.logged_out"), "info")
    return redirect(url_for("auth.login"))
