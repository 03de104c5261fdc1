"""Users, roles, grants and the organisation units that scopes are made of."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import NotFound, Problem, ValidationFailed
from ..routing import Actor
from .driver_statements import DriverStatement
from .models import Grant, OrgUnit, Role, User


def get_user(session: Session, login: str) -> User:
    user = session.get(User, login)
    if user is None or not user.active:
        raise NotFound(f"没有用户 '{login}'", login=login)
    return user


# Built once: every request and every completion asks who the actor is (bench/README.md).
_ACTOR = DriverStatement(select(User.name, User.active, Grant.role, Grant.scope)
                         .outerjoin(Grant, Grant.login == User.login).where(User.login == bindparam("login")))


def actor(session: Session, login: str) -> Actor:
    found = actor_from_rows(login, _ACTOR.all(session, {"login": login}))
    if found is None:
        raise NotFound(f"没有用户 '{login}'", login=login)
    return found


def actor_from_rows(login: str, rows) -> Actor | None:
    """The actor from rows of (name, active, role, scope), one per grant; None for no rows or an inactive user."""
    if not rows or not rows[0].active:
        return None
    grants = frozenset((r.role, r.scope) for r in rows if r.role is not None)
    return Actor(login=login, name=rows[0].name, grants=grants)


def add_user(session: Session, login: str, name: str, password_hash: str | None) -> User:
    if not login or not login.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValidationFailed("登录名只能包含字母、数字、- _ .", [Problem("登录名不合法", field="login")])
    if session.get(User, login) is not None:
        raise ValidationFailed(f"用户 '{login}' 已存在", [Problem("登录名已被使用", field="login")])
    user = User(login=login, name=name, password_hash=password_hash, active=True)
    session.add(user)
    session.flush()
    return user


def grant(session: Session, login: str, role: str, scope: str = "*") -> bool:
    """Give `login` the role in scope; False when the grant already existed."""
    get_user(session, login)
    exists = session.scalars(select(Grant).where(Grant.login == login, Grant.role == role,
                                                 Grant.scope == scope)).first()
    if exists:
        return False
    session.add(Grant(login=login, role=role, scope=scope))
    session.flush()
    return True


def users_with_grants(session: Session) -> list[tuple[User, list[Grant]]]:
    users = list(session.scalars(select(User).order_by(User.login)))
    grants: dict[str, list[Grant]] = {}
    for g in session.scalars(select(Grant).order_by(Grant.id)):
        grants.setdefault(g.login, []).append(g)
    return [(u, grants.get(u.login, [])) for u in users]


class RoleNames:
    """Lane name → role: a role's name or one of its aliases, else the lane name itself ("*" for no lane)."""

    def __init__(self, session: Session):
        self._names: dict[str, str] = {}
        for name, aliases in session.execute(select(Role.name, Role.aliases)):
            self._names[name] = name
            for alias in aliases or []:
                self._names.setdefault(alias, name)

    def for_lane(self, lane: str | None) -> str:
        if not lane:
            return "*"
        return self._names.get(lane, lane)


def org_snapshot(session: Session) -> dict:
    """The organisation as every new instance sees it (regions, offices, channels, product lines)."""
    units = list(session.scalars(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.position, OrgUnit.id)))
    return {
        "regions": [u.name for u in units if u.kind == "region"],
        "offices": [{"name": u.name, "region": u.parent, "scope": u.scope} for u in units if u.kind == "office"],
        "channels": [u.name for u in units if u.kind == "channel"],
        "product_lines": [u.name for u in units if u.kind == "product_line"],
    }
