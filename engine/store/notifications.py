"""Notifications (通知): written by the `notify` handler, shown to the people they are addressed to (the bell),
and queued as e-mails in the same unit of work (the outbox; engine/mailer.py sends them after commit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..routing import ADMIN_ROLE, ANY, Actor, scope_covers
from .models import Grant, MailOutbox, Notification, NotificationRead, User


def addressed_to(actor: Actor, role: str, scope: str) -> bool:
    """A note to a role in a scope reaches holders of the role inside it (a region's offices) or above it."""
    return any(r == role and _reaches(s, scope) for r, s in actor.grants)


def _reaches(granted: str, scope: str) -> bool:
    return scope_covers(granted, scope) or scope_covers(scope, granted)


def add(session: Session, role: str, scope: str, message: str, instance_id: int | None, now: datetime,
        job_key: str | None = None) -> Notification:
    """Write a notification and its e-mails; under a job key that already wrote one, return that one instead."""
    if job_key is not None:
        done = session.scalars(select(Notification).where(Notification.job_key == job_key)).first()
        if done is not None:
            return done
    note = Notification(role=role, scope=scope, message=message, instance_id=instance_id, created_at=now,
                        job_key=job_key)
    session.add(note)
    session.flush()
    subject = message if len(message) <= 60 else message[:59] + "…"
    body = message + (f"\n\n流程实例 #{instance_id}" if instance_id else "")
    for login, address in recipients(session, role, scope):
        session.add(MailOutbox(notification_id=note.id, login=login, address=address, subject=subject, body=body,
                               status="pending", attempts=0, created_at=now))
    return note


def recipients(session: Session, role: str, scope: str) -> list[tuple[str, str]]:
    """(login, e-mail address) of the active users the note reaches who have an address."""
    rows = session.execute(select(User.login, User.email, Grant.scope).join(Grant, Grant.login == User.login).where(
        Grant.role == role, User.active.is_(True), User.email.is_not(None), User.email != ""))
    found = {}
    for login, email, granted in rows:
        if _reaches(granted, scope):
            found[login] = email
    return sorted(found.items())


def for_actor(session: Session, actor: Actor, limit: int = 10) -> list[Notification]:
    """The actor's newest notifications."""
    return [note for note, _read in page_for(session, actor, 0, limit)]


def _covering_scopes(scope: str) -> list[str]:
    """The scopes a note may be addressed to and still reach a grant on `scope`: itself, "*" and its parents."""
    parts = scope.split("/")
    return [ANY, *("/".join(parts[:n]) for n in range(1, len(parts) + 1))]


def addressed(actor: Actor):
    """SQL: the notes `addressed_to` the actor (mirrors it), so that pages and counts are exact queries.

    A grant on a scope reaches notes to that scope, to its parents and "*" (an IN list on the role and
    scope index), and to the scopes under it; a grant on "*" reaches every note to its role."""
    terms = []
    for role, scope in sorted(actor.grants):
        if role == ADMIN_ROLE:
            continue
        to_role = Notification.role == role
        if scope == ANY:
            terms.append(to_role)
        else:
            terms.append(and_(to_role, or_(Notification.scope.in_(_covering_scopes(scope)),
                                           Notification.scope.startswith(scope + "/", autoescape=True))))
    return or_(*terms) if terms else false()


def _read_by(login: str):
    return and_(NotificationRead.notification_id == Notification.id, NotificationRead.login == login)


def _unread_by(login: str):
    return ~exists().where(_read_by(login))


def counts_for(session: Session, actor: Actor) -> tuple[int, int]:
    """How many notifications the actor has, and how many of them they have not read (one query)."""
    total, read = session.execute(
        select(func.count(Notification.id), func.count(NotificationRead.notification_id))
        .select_from(Notification).outerjoin(NotificationRead, _read_by(actor.login)).where(addressed(actor))).one()
    return total, total - read


def page_for(session: Session, actor: Actor, offset: int, limit: int) -> list[tuple[Notification, bool]]:
    """One page of the actor's notifications, newest first, each with whether they have read it."""
    rows = session.execute(
        select(Notification, NotificationRead.notification_id.is_not(None))
        .outerjoin(NotificationRead, _read_by(actor.login)).where(addressed(actor))
        .order_by(Notification.id.desc()).offset(offset).limit(limit)).all()
    return [(note, bool(read)) for note, read in rows]


def unread_total(session: Session, actor: Actor) -> int:
    """How many of all the actor's notifications they have not read (the bell, the API)."""
    return session.scalar(select(func.count(Notification.id)).where(addressed(actor), _unread_by(actor.login))) or 0


def mark_read_of(session: Session, actor: Actor, now: datetime, ids: list[int] | None = None) -> int:
    """Mark the given notifications (or all) read for the actor; ids not addressed to them, or already read,
    are left alone. Returns how many were marked."""
    chosen = select(Notification.id, literal(actor.login, NotificationRead.login.type),
                    literal(now, NotificationRead.read_at.type)).where(addressed(actor), _unread_by(actor.login))
    if ids is not None:
        chosen = chosen.where(Notification.id.in_(ids))
    # One statement; a second "mark all" at the same moment (a double click) skips what the first wrote.
    dialect_insert = postgresql_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = (dialect_insert(NotificationRead.__table__).from_select(["notification_id", "login", "read_at"], chosen)
                 .on_conflict_do_nothing().returning(NotificationRead.__table__.c.notification_id))
    return len(session.execute(statement).all())  # counted from RETURNING: psycopg's rowcount was -1 here
