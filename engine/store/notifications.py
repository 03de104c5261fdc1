"""Notifications (通知): written by the `notify` handler, shown to the people they are addressed to (the bell),
and queued as e-mails in the same unit of work (the outbox; engine/mailer.py sends them after commit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..routing import ADMIN_ROLE, Actor, scope_covers
from .models import Grant, MailOutbox, Notification, NotificationRead, User

RECENT = 200  # the bell looks at this many of the newest notes for the actor's roles


def addressed_to(actor: Actor, role: str, scope: str) -> bool:
    """A note to a role in a scope reaches holders of the role inside it (a region's offices) or above it."""
    return any(r == role and (scope_covers(s, scope) or scope_covers(scope, s)) for r, s in actor.grants)


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
        if scope_covers(granted, scope) or scope_covers(scope, granted):
            found[login] = email
    return sorted(found.items())


def for_actor(session: Session, actor: Actor, limit: int = 10) -> list[Notification]:
    """The newest notifications for the actor's roles, nearest scope first filtered in Python."""
    roles = [r for r in actor.roles if r != ADMIN_ROLE]
    if not roles:
        return []
    candidates = session.scalars(select(Notification).where(Notification.role.in_(roles))
                                 .order_by(Notification.id.desc()).limit(max(limit * 20, RECENT)))
    return [n for n in candidates if addressed_to(actor, n.role, n.scope)][:limit]


def read_ids(session: Session, login: str, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(session.scalars(select(NotificationRead.notification_id).where(
        NotificationRead.login == login, NotificationRead.notification_id.in_(ids))))


def unread_count(session: Session, actor: Actor) -> int:
    """How many of the actor's recent notifications they have not read (the number on the bell)."""
    ids = [n.id for n in for_actor(session, actor, RECENT)]
    return len(ids) - len(read_ids(session, actor.login, ids))


def mark_read(session: Session, actor: Actor, now: datetime, ids: list[int] | None = None) -> int:
    """Mark the given notifications (or all recent ones) read for the actor; only ones addressed to them."""
    mine = [n.id for n in for_actor(session, actor, RECENT)]
    wanted = mine if ids is None else [i for i in mine if i in set(ids)]
    already = read_ids(session, actor.login, wanted)
    fresh = [i for i in wanted if i not in already]
    for notification_id in fresh:
        session.add(NotificationRead(notification_id=notification_id, login=actor.login, read_at=now))
    return len(fresh)
