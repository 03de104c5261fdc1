"""Who may act on a task: the role of its lane and the organisational scope it belongs to.

Scopes are paths: "华北" (a region) covers "华北/北京办事处" (an office in it); "*" is company-wide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .messages import say

ANY = "*"
ADMIN_ROLE = "admin"
OPEN, CLAIMED, COMPLETED, CANCELLED = "open", "claimed", "completed", "cancelled"
ACTIVE_STATES = (OPEN, CLAIMED)


@dataclass(frozen=True)
class Actor:
    login: str
    name: str = ""
    grants: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (role, scope)

    @property
    def is_admin(self) -> bool:
        return any(role == ADMIN_ROLE for role, _ in self.grants)

    @property
    def roles(self) -> set[str]:
        return {role for role, _ in self.grants}


@dataclass(frozen=True)
class TaskRef:
    """What authorisation needs to know about a human task."""

    role: str
    scope: str
    state: str
    assignee: str | None = None


def scope_covers(granted: str, scope: str) -> bool:
    """Does a grant on `granted` reach a task in `scope`?"""
    if granted == ANY:
        return True
    return scope == granted or scope.startswith(granted + "/")


def holds(actor: Actor, role: str, scope: str) -> bool:
    """Does the actor hold `role` in `scope`?  A task in no lane (role "*") is for administrators."""
    if role == ANY:
        return actor.is_admin
    return any(r == role and scope_covers(s, scope) for r, s in actor.grants if r != ADMIN_ROLE)


def can_act(actor: Actor, task: TaskRef) -> bool:
    """May `actor` claim or complete `task`?  The one rule for every page, API call and command."""
    if task.state not in ACTIVE_STATES:
        return False
    if task.state == CLAIMED and task.assignee != actor.login:
        return False
    return holds(actor, task.role, task.scope)


def why_not(actor: Actor, task: TaskRef, holder_name: str | None = None) -> str | None:
    """The reason, in words a person can act on, that `can_act` says no (None when it says yes)."""
    if task.state == COMPLETED:
        return say("action.done")
    if task.state == CANCELLED:
        return say("action.cancelled")
    if task.state == CLAIMED and task.assignee != actor.login:
        return say("action.claimed_by", holder=holder_name or task.assignee)
    if not holds(actor, task.role, task.scope):
        if task.scope == ANY:
            return say("action.not_yours_company", role=task.role)
        return say("action.not_yours", scope=task.scope, role=task.role)
    return None


def can_unclaim(actor: Actor, task: TaskRef) -> bool:
    """Only the holder or an administrator may put a claimed task back."""
    return task.state == CLAIMED and (task.assignee == actor.login or actor.is_admin)
