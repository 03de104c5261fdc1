"""One error base for smflow: every error carries a message a person can act on."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an uploaded file or a submitted form."""

    message: str
    element_id: str | None = None
    element_name: str | None = None
    line: int | None = None
    field: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("element_id", "line")}


class SmflowError(Exception):
    """Base of every error smflow reports to a person."""

    retryable = False

    def __init__(self, message: str, **context):
        super().__init__(message)
        self.message = message
        self.context = context

    def to_dict(self) -> dict:
        return {"message": self.message, **{k: v for k, v in self.context.items() if v is not None}}


class ValidationFailed(SmflowError):
    """A file or a form has problems; all of them are listed in `problems`."""

    def __init__(self, message: str, problems: list[Problem], **context):
        super().__init__(message, **context)
        self.problems = problems

    def to_dict(self) -> dict:
        return {"message": self.message, "problems": [p.to_dict() for p in self.problems]}


class NotFound(SmflowError):
    pass


class NotReady(SmflowError):
    """The database or the installation needs a step first (e.g. `smflow db upgrade`)."""


class NotPermitted(SmflowError):
    pass


class Conflict(SmflowError):
    """Someone else changed the same thing first (lost an optimistic-lock race, or a stale action)."""

    retryable = True


class HandlerFailed(SmflowError):
    """A service-task handler failed; `retryable` says whether trying again can help."""

    def __init__(self, message: str, retryable: bool = True, **context):
        super().__init__(message, **context)
        self.retryable = retryable


class WorkflowError(SmflowError):
    """A script, condition or expression failed while the process ran."""


class ScriptRejected(SmflowError):
    """An expression or script broke a sandbox rule or its time bound."""


class StaleAction(Conflict):
    """The action was already done (or overtaken) by someone else; retrying will not help."""

    retryable = False
