"""Failed logins and open login sessions, kept in the database so that every server process agrees.

Sessions: the signed session cookie carries a random id whose hash is a row here; logging out deletes the
row, so a copy of the cookie (kept by an attacker, or left in a browser) is worthless afterwards, and a
session ends SESSION_MAX_AGE after the login whatever happens.

Failed logins:

The rule (a sliding window, see `locked_until`):
- at most LIMIT_PER_LOGIN failures of one login from one client address in WINDOW, and
- at most LIMIT_PER_ADDRESS failures from one client address in WINDOW, whatever the logins.
While a limit is reached, logins from there are refused without checking the password and without
recording anything, so a lockout ends at a fixed time, at most WINDOW after it began.

The lock is per (login, address) on purpose, not per login alone: a login-wide lock would let anyone who
knows a colleague's login keep them out for good by failing a few times every window. Here an attacker
locks out only their own address; the real user, from their own address, still logs in. The cost is that
guessing spread over many addresses is slowed only by the password hash, not stopped.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from ..routing import Actor
from .driver_statements import DriverStatement
from .models import Grant, LoginFailure, LoginSession, User
from .org import actor_from_rows

LIMIT_PER_LOGIN = 5
LIMIT_PER_ADDRESS = 20
WINDOW = timedelta(minutes=15)
SESSION_MAX_AGE = timedelta(hours=24)
_SIZE = 64  # the columns' length: a longer login or address cannot exist, so cutting it loses nothing


def _key(login: str, address: str) -> tuple[str, str]:
    return login[:_SIZE], (address or "unknown")[:_SIZE]


def _unlocks_at(session: Session, where, limit: int, now: datetime) -> datetime | None:
    """When the oldest of the last `limit` failures leaves the window, if there are `limit` of them."""
    recent = list(session.scalars(select(LoginFailure.at).where(where, LoginFailure.at > now - WINDOW)
                                  .order_by(LoginFailure.at.desc()).limit(limit)))
    return recent[-1] + WINDOW if len(recent) >= limit else None


def locked_until(session: Session, login: str, address: str, now: datetime) -> datetime | None:
    """The time from which this login may be tried again from this address; None when it may be now."""
    login, address = _key(login, address)
    times = [
        _unlocks_at(session, (LoginFailure.login == login) & (LoginFailure.address == address),
                    LIMIT_PER_LOGIN, now),
        _unlocks_at(session, LoginFailure.address == address, LIMIT_PER_ADDRESS, now),
    ]
    return max((t for t in times if t is not None), default=None)


def record_failure(session: Session, login: str, address: str, now: datetime) -> datetime | None:
    """Note one failed login (and forget the ones past the window); returns `locked_until` after it."""
    login, address = _key(login, address)
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - WINDOW))
    session.add(LoginFailure(login=login, address=address, at=now))
    session.flush()
    return locked_until(session, login, address, now)


def forget_failures(session: Session, login: str, address: str) -> None:
    """After a successful login: the failures of this login from this address no longer count."""
    login, address = _key(login, address)
    session.execute(delete(LoginFailure).where(LoginFailure.login == login, LoginFailure.address == address))


# -- sessions ------------------------------------------------------------------------------------------------
def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def open_session(session: Session, login: str, now: datetime) -> str:
    """A new session id for `login` (only its hash is stored); sessions past their age are dropped."""
    session.execute(delete(LoginSession).where(LoginSession.created_at <= now - SESSION_MAX_AGE))
    sid = secrets.token_urlsafe(32)
    session.add(LoginSession(sid_hash=_hash(sid), login=login, created_at=now))
    session.flush()
    return sid


# Every request of a logged-in user asks this: the session, its user and the user's grants in one round trip.
# On the driver's cursor (driver_statements): through SQLAlchemy, it cost more than the database's own work.
_SESSION_ACTOR = DriverStatement(
    select(LoginSession.login, User.name, User.active, Grant.role, Grant.scope)
    .join(User, User.login == LoginSession.login)
    .outerjoin(Grant, Grant.login == User.login)
    .where(LoginSession.sid_hash == bindparam("sid_hash"), LoginSession.created_at > bindparam("oldest")))


def session_actor(session: Session, sid: str, now: datetime) -> Actor | None:
    """Who is logged in with session `sid`: None when it is closed or too old, or its user is gone or inactive."""
    rows = _SESSION_ACTOR.all(session, {"sid_hash": _hash(sid), "oldest": now - SESSION_MAX_AGE})
    return actor_from_rows(rows[0].login, rows) if rows else None


def close_session(session: Session, sid: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.sid_hash == _hash(sid)))

