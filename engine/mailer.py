"""E-mail for notifications: the outbox rows written with a notification are sent after that unit of work
committed, so a rolled-back notification never reaches anyone.

Each row is locked while it is sent (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two workers never send the
same one; a worker killed between the SMTP server's acceptance and its commit may send one message twice
(at least once: better than a lost deadline reminder).
"""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from .store.models import MailOutbox

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "smflow@localhost"
    timeout: float = 10.0

    @classmethod
    def from_env(cls, host: str | None = None, port: int | None = None, sender: str | None = None):
        """Explicit values, else SMFLOW_SMTP_HOST / SMFLOW_SMTP_PORT / SMFLOW_SMTP_FROM; None without a host."""
        host = host or os.environ.get("SMFLOW_SMTP_HOST")
        if not host:
            return None
        return cls(host=host, port=int(port or os.environ.get("SMFLOW_SMTP_PORT") or 25),
                   sender=sender or os.environ.get("SMFLOW_SMTP_FROM") or cls.sender)


class Mailer:
    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def send_batch(self, session: Session, now: datetime, limit: int = 50) -> tuple[int, int]:
        """Send up to `limit` pending e-mails in this unit of work; returns (sent, failed)."""
        query = (select(MailOutbox).where(MailOutbox.status == "pending").order_by(MailOutbox.id).limit(limit))
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        if not rows:
            return 0, 0
        sent = failed = 0
        try:
            smtp = smtplib.SMTP(self.settings.host, self.settings.port, timeout=self.settings.timeout)
        except OSError as exc:
            for row in rows:
                self._failed(row, f"无法连接邮件服务器: {exc}")
            return 0, len(rows)
        with smtp:
            for row in rows:
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = self.settings.sender, row.address, row.subject
                message.set_content(row.body)
                try:
                    smtp.send_message(message)
                except (smtplib.SMTPException, OSError) as exc:
                    self._failed(row, f"{type(exc).__name__}: {exc}")
                    failed += 1
                    continue
                row.status, row.sent_at, row.attempts = "sent", now, row.attempts + 1
                sent += 1
        return sent, failed

    @staticmethod
    def _failed(row: MailOutbox, error: str) -> None:
        row.attempts += 1
        row.last_error = error
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
