"""The Flask application: `create_app(test_config=None)` wires the blueprints to one engine and database.

Reads go through one SQLAlchemy session per request, opened lazily by `db()` and closed in teardown;
every change runs as its own unit of work through `tx()` (commit, retry on optimistic-lock races).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask, abort, current_app, g, request
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from engine import Engine, Sandbox
from engine.clock import Clock
from engine.store.db import ensure_schema, make_engine, make_read_session_factory, make_session_factory
from engine.store.unit_of_work import in_transaction
from handlers import default_registry

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; font-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@dataclass
class Services:
    """What every request shares: the engine (with its spec cache) and the session factories."""

    engine: Engine
    sessions: sessionmaker[Session]  # units of work
    reads: sessionmaker[Session]  # a request's reads (db())


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        DATABASE_URL=None,
        MAX_CONTENT_LENGTH=6 * 1024 * 1024,  # the engine refuses BPMN files over 5 MiB with a clear message
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,  # SMFLOW_SESSION_COOKIE_SECURE=true behind HTTPS
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),  # a login ends after 8 idle hours (web/auth.py)
        SESSION_REFRESH_EACH_REQUEST=False,  # web/auth.py renews the cookie every few minutes instead
        PROXY_FIX=0,  # SMFLOW_PROXY_FIX=1: trust one reverse proxy's X-Forwarded-For/-Proto (login rate limits)
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("SMFLOW")  # SMFLOW_SECRET_KEY, SMFLOW_DATABASE_URL, ...
    if test_config:
        app.config.from_mapping(test_config)
    if app.config["PROXY_FIX"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["PROXY_FIX"]),
                                x_proto=int(app.config["PROXY_FIX"]))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))

    database = make_engine(app.config["DATABASE_URL"])
    ensure_schema(database)
    clock: Clock | None = app.config.get("SMFLOW_CLOCK")
    app.extensions["smflow"] = Services(Engine(default_registry(), Sandbox(), clock),
                                        make_session_factory(database), make_read_session_factory(database))
    app.teardown_appcontext(_close_session)
    app.json.ensure_ascii = False  # Chinese messages readable in the API's JSON

    @app.before_request
    def _refuse_nul_characters():
        # No database text column can hold U+0000 (PostgreSQL refuses it); a URL, query, form field or JSON
        # string carrying one is refused here instead of failing deep inside a query.
        values = [request.path, *request.args.values()]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values += request.form.values()
        if request.is_json:
            try:  # parsed (and cached for the view) here: a body nested 100 000 deep overflows the parser's stack
                values += _json_strings(request.get_json(silent=True))
            except RecursionError:
                abort(400)
        if "\x00" in "".join(values):
            abort(400)

    @app.after_request
    def _security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    from . import (
        api,
        attachments,
        auth,
        csrf,
        errors,
        history,
        i18n,
        inbox,
        incidents,
        instances,
        modeler,
        notifications,
        openapi,
        process_versions,
        processes,
        start,
    )

    csrf.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    for blueprint in (auth.bp, i18n.bp, inbox.bp, instances.bp, processes.bp, modeler.bp, api.bp, start.bp,
                      history.bp, openapi.bp, process_versions.bp, attachments.bp, notifications.bp, incidents.bp):
        app.register_blueprint(blueprint)
    return app


def _json_strings(value) -> list[str]:
    """Every string (keys too) in a parsed JSON body."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _instance_secret(folder: Path) -> str:
    """A signing key kept in the instance folder, so sessions survive restarts and several workers agree."""
    path = folder / "secret_key"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it first
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key)
    return key


def services() -> Services:
    return current_app.extensions["smflow"]


def engine() -> Engine:
    return services().engine


def db() -> Session:
    """This request's read session, opened on first use."""
    if "db_session" not in g:
        g.db_session = services().reads()
    return g.db_session


def tx(work):
    """Run `work(session)` as one committed unit of work (retried on optimistic-lock races)."""
    return in_transaction(services().sessions, work)


def _close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
