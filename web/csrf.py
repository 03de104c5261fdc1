"""Cross-site request forgery guard: one random token per session, required on every state-changing request.

HTML forms send it in the hidden field `csrf_token`; scripts send it in the header `X-CSRF-Token`
(`GET /api/csrf` hands it out).
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, request, session
from werkzeug.exceptions import BadRequest

SESSION_KEY = "_csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class CsrfRejected(BadRequest):
    message_key = "error.csrf"


def token() -> str:
    """This session's token (created on first use)."""
    value = session.get(SESSION_KEY)
    if not value:
        value = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return value


def _sent_token() -> str:
    sent = request.headers.get(HEADER)
    if sent is None and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = request.form.get(FIELD)
    return sent or ""


def check() -> None:
    if request.method not in UNSAFE_METHODS:
        return
    expected = session.get(SESSION_KEY)
    if not expected or not hmac.compare_digest(expected.encode(), _sent_token().encode()):
        raise CsrfRejected()


def init_app(app: Flask) -> None:
    app.before_request(check)
    app.jinja_env.globals["csrf_token"] = token
