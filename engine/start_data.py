"""Start data that decides where work goes: a starter may name only scopes they hold a grant in (or under).

A lane's `smflow:scope` expression (and a handler's `scope` input: notify, archive) computes a task's
organisational scope from the instance's data, and start data is data like any other. Without this check a
starter could write another office into `office` and send the first task to that office's inbox. Pure: the
caller passes the stored BPMN file and the starter; no database here.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable

from .errors import Problem, ValidationFailed
from .messages import chained, say
from .routing import ADMIN_ROLE, ANY, Actor, scope_covers
from .spiff_dialect import NSMAP
from .xml_safety import load_xml

CAMUNDA = "{{{}}}".format(NSMAP["camunda"])
SCOPE_PROPERTY = "smflow:scope"
SCOPE_PARAMETER = "scope"  # the handlers' input that addresses a role in a scope (notify, archive)
SHOWN_CHARS = 40


def scope_expressions(root) -> list[str]:
    """Every expression in a parsed BPMN file that computes a scope."""
    found = []
    for element in root.iter(CAMUNDA + "property", CAMUNDA + "inputParameter"):
        if element.tag == CAMUNDA + "property" and element.get("name") == SCOPE_PROPERTY:
            found.append(element.get("value") or "")
        elif element.tag == CAMUNDA + "inputParameter" and element.get("name") == SCOPE_PARAMETER \
                and not len(element):
            found.append(element.text or "")
    return [source.strip() for source in found if source.strip()]


def names_read(expression: str) -> set[str]:
    """The names an expression reads. Names it binds itself (a comprehension's) count too: a start key
    with such a name is refused for nothing, which costs less than telling the two apart."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:  # deploying refused such a file already
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def routing_names(bpmn: bytes) -> frozenset[str]:
    """The data names that decide a scope somewhere in a stored BPMN file."""
    return frozenset(name for source in scope_expressions(load_xml(bpmn)) for name in names_read(source))


def may_route_to(actor: Actor, value: object) -> bool:
    """Is `value` a scope the actor holds a grant in, or one under such a scope?"""
    return isinstance(value, str) and any(scope_covers(scope, value) for role, scope in actor.grants
                                          if role != ADMIN_ROLE)


def _own_scopes(actor: Actor) -> list[str]:
    """The actor's scopes by name (the whole company as a message, said in the reader's language)."""
    company = say("start_data.company")
    scopes = sorted({company if scope == ANY else scope for role, scope in actor.grants if role != ADMIN_ROLE})
    return scopes or [say("start_data.no_scope")]


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def check_start_data(data: dict, routing: Iterable[str], actor: Actor) -> None:
    """Refuse start values that route work outside the starter's scopes; administrators may route anywhere.

    Raises ValidationFailed naming every refused field.
    """
    if actor.is_admin:
        return
    refused = sorted(key for key in set(routing) & set(data) if not may_route_to(actor, data[key]))
    if not refused:
        return
    said = [say("start_data.not_your_scope", key=key, value=_shown(data[key])) for key in refused]
    problems = chained(said, "start_data.and")  # ". " between them in English, "; " in Chinese
    raise ValidationFailed(say("start_data.refused", problems=problems, scopes=_own_scopes(actor)),
                           [Problem(message, field=key) for message, key in zip(said, refused, strict=True)])

