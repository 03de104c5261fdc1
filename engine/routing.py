"""Who may act on a task: the role of its lane and the organisational scope it belongs to.

Scopes are paths: "华北" (a region) covers "华北/北京办事处" (an office in it); "*" is company-wide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
        return "该任务已完成"
    if task.state == CANCELLED:
        return "该任务已取消 (流程已走到别处)"
    if task.state == CLAIMED and task.assignee != actor.login:
        return f"该任务已由 {holder_name or task.assignee} 认领"
    if not holds(actor, task.role, task.scope):
        where = "全公司" if task.scope == ANY else task.scope
        return f"该任务属于 {where} 的「{task.role}」, 您没有该角色与范围的权限"
    return None


def can_unclaim(actor: Actor, task: TaskRef) -> bool:
    """Only the holder or an administrator may put a claimed task back."""
    return task.state == CLAIMED and (task.assignee == actor.login or actor.is_admin)
