"""The one place where errors become HTTP status codes, as a Chinese (or English) page or as JSON."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from engine.errors import (
    Conflict,
    HandlerFailed,
    NotFound,
    NotPermitted,
    ScriptRejected,
    SmflowError,
    ValidationFailed,
)

from .i18n import localized, problem_text, t

# Order matters: StaleAction is a Conflict.
STATUS_BY_ERROR: tuple[tuple[type[SmflowError], int], ...] = (
    (ValidationFailed, 422),
    (ScriptRejected, 422),
    (NotPermitted, 403),
    (NotFound, 404),
    (Conflict, 409),
    (HandlerFailed, 500),
)
KNOWN_STATUS = (400, 401, 403, 404, 405, 409, 413, 422, 500)


def status_for(exc: SmflowError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 400


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, message: str, problems: list | None = None, payload: dict | None = None):
    """An error as JSON for the API, else as a page that says what happened and where to go next."""
    if wants_json():
        body = {"error": status, "message": message, **(payload or {})}
        return jsonify(body), status
    shown = status if status in KNOWN_STATUS else 500
    return render_template("error.html", status=status, title=t(f"error.{shown}"), message=message,
                           problems=problems or []), status


def _smflow_error(exc: SmflowError):
    """The error in the session's language where the engine gave its message a key (form validation)."""
    payload, message = exc.to_dict(), localized(exc.message)
    problems = []
    if isinstance(exc, ValidationFailed):
        problems = [{**p.to_dict(), "message": problem_text(p)} for p in exc.problems]
        payload["problems"] = problems
    payload["message"] = message
    return error_response(status_for(exc), message, problems, payload)


def _http_error(exc: HTTPException):
    status = exc.code or 500
    key = getattr(exc, "message_key", None) or (f"error.{status}.detail" if status in KNOWN_STATUS else None)
    return error_response(status, t(key) if key else (exc.description or ""))


def _internal_error(exc: InternalServerError):
    return error_response(500, t("error.500.detail"))


def init_app(app: Flask) -> None:
    app.register_error_handler(SmflowError, _smflow_error)
    app.register_error_handler(InternalServerError, _internal_error)
    app.register_error_handler(HTTPException, _http_error)
