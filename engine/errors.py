"""One error base for smflow: every error carries a message a person can act on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


class Message(str):
    """A Chinese message that also carries its catalogue key and parameters, so that whoever wraps it in a
    `Problem` keeps them and the web layer can say it in the person's language.

    A parameter may itself be a Message (a table cell's label: table, row, column)."""

    code: str
    params: dict

    def __new__(cls, text: str, code: str, params: dict | None = None):
        message = super().__new__(cls, text)
        message.code, message.params = code, dict(params or {})
        return message

    def __getnewargs__(self):  # copy and pickle keep the key and parameters
        return str(self), self.code, self.params


def message_record(text: str | None) -> dict | None:
    """What a stored text needs beside it to be said again in the reader's language: a Message's key and
    parameters (a parameter that is itself a Message, or a list of them, as such); None for plain text."""
    if not isinstance(text, Message):
        return None
    return {"code": text.code, "params": {name: _recorded(value) for name, value in text.params.items()}}


def _recorded(value):
    if isinstance(value, Message):
        return {"text": str(value), **message_record(value)}
    if isinstance(value, (list, tuple)):
        return [_recorded(item) for item in value]
    return value


def stored_message(text: str | None, record: dict | None) -> str | None:
    """A text stored with its message_record, as the Message it was; the text alone when there is no record."""
    if text is None or not record:
        return text
    return Message(text, record["code"], {name: _restored(value) for name, value in record.get("params", {}).items()})


def _restored(value):
    if isinstance(value, dict) and "text" in value and "code" in value:
        return stored_message(value["text"], value)
    if isinstance(value, list):
        return [_restored(item) for item in value]
    return value


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an uploaded file or a submitted form.

    `code` and `params` (optional) name the message in the UI catalogues (web/translations), e.g.
    `code="form.required", params={"label": "金额"}`; `message` is always the Chinese text. A `Message`
    given as `message` brings its own code and parameters."""

    message: str
    element_id: str | None = None
    element_name: str | None = None
    line: int | None = None
    field: str | None = None
    code: str | None = None
    params: dict | None = dataclasses.field(default=None, hash=False)

    def __post_init__(self):
        if isinstance(self.message, Message):
            if self.code is None:
                object.__setattr__(self, "code", self.message.code)
                object.__setattr__(self, "params", self.message.params)
            object.__setattr__(self, "message", str(self.message))

    def to_dict(self) -> dict:
        # code and params are for rendering; the JSON keeps its shape (the web layer renders the message)
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("code", "params")}
        return {k: v for k, v in shown.items() if v is not None or k in ("element_id", "line")}


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
