"""The database tables. Schema changes go through Alembic (engine/store/migrations)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the database")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime}


class BpmnFile(Base):
    """The exact bytes of an uploaded file, kept for download and for the diagram view."""

    __tablename__ = "bpmn_file"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProcessDefinition(Base):
    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("process_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    executable: Mapped[bool] = mapped_column(Boolean)
    file_sha256: Mapped[str] = mapped_column(ForeignKey("bpmn_file.sha256"))
    spec_json: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(64))
    start_cycle: Mapped[str | None] = mapped_column(String(255))
    # what changed against the previous version: {"added": [...], "removed": [...], "changed": [...]} (by element)
    changes: Mapped[dict | None] = mapped_column(JSON)
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (
        UniqueConstraint("process_id", "business_key"),
        # The instance list's counts per (process, status) read only this index, not the rows and their state.
        Index("ix_process_instance_process_status", "process_id", "status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    process_id: Mapped[str] = mapped_column(String(255))  # searched through the (process_id, status) index
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running, completed, cancelled
    state: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    business_key: Mapped[str | None] = mapped_column(String(255))
    # Indexed for the instances a person started, which staff see on 流程实例 (migration 0011).
    started_by: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    next_timer_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)


class InstanceHistory(Base):
    """Finished tasks of an instance's workflow, stored apart from its state in batches written once
    (runtime.History): a step no longer writes the whole history again."""

    __tablename__ = "instance_history"
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), primary_key=True)
    batch: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1, 2, ...: the order they are read back in
    # {"tasks": {"" or a subprocess's id: {task id: serialized task}}, "subprocesses": {id: ended subprocess}}
    tasks: Mapped[str] = mapped_column(Text)


class HumanTask(Base):
    __tablename__ = "human_task"
    __table_args__ = (
        # Who may do it (or holds it), then what the inbox filters, counts and sorts by: from the index alone.
        Index("ix_human_task_inbox", "state", "role", "scope", "process_id", "element_id", "due_at"),
        Index("ix_human_task_assignee", "assignee", "state", "process_id", "element_id", "due_at"),
        Index("ix_human_task_completed_by", "completed_by", "completed_at"),  # 我的已办, newest first
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    step: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    documentation: Mapped[str | None] = mapped_column(Text)
    lane: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(64))
    # Byte order on PostgreSQL too, so the inbox's sub-scope range uses ix_human_task_inbox (migration 0008).
    scope: Mapped[str] = mapped_column(String(255).with_variant(String(255, collation="C"), "postgresql"))
    state: Mapped[str] = mapped_column(String(16))  # open, claimed, completed, cancelled
    assignee: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    form: Mapped[dict | None] = mapped_column(JSON)
    prefill: Mapped[dict | None] = mapped_column(JSON)
    draft: Mapped[dict | None] = mapped_column(JSON)
    submitted: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(64))
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Event(Base):
    """Append-only audit trail."""

    __tablename__ = "event"
    __table_args__ = (
        # A link to an uploaded file that was cleaned up says so (attachments.removed_from): those events apart.
        Index("ix_event_attachments_removed", "instance_id", postgresql_where=text("kind = 'attachments_removed'"),
              sqlite_where=text("kind = 'attachments_removed'")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    task_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    detail: Mapped[dict | None] = mapped_column(JSON)


class ArchiveRecord(Base):
    """备案: an immutable snapshot; rows are inserted, never updated."""

    __tablename__ = "archive_record"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(Integer, index=True)
    process_id: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    step: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(255))
    document: Mapped[dict | list | None] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    archived_by: Mapped[str | None] = mapped_column(String(64))
    archived_at: Mapped[datetime] = mapped_column(UtcDateTime())
    job_key: Mapped[str | None] = mapped_column(String(80), unique=True)  # the service-task run that wrote it
    # The hash chain (engine/store/archive_chain.py): unique, so the chain can never fork.
    prev_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64))


class Attachment(Base):
    """A file uploaded into a task's form (a `file` field); the submitted value holds its id."""

    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(Integer, index=True)
    instance_id: Mapped[int] = mapped_column(Integer, index=True)
    field: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_role", "role", "scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    instance_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    job_key: Mapped[str | None] = mapped_column(String(80), unique=True)  # at most one per service-task run


class NotificationRead(Base):
    """Who has read which notification (the bell counts the others)."""

    __tablename__ = "notification_read"
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"), primary_key=True)
    login: Mapped[str] = mapped_column(String(64), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MailOutbox(Base):
    """An e-mail to send for a notification, written in the notifying unit of work and sent after it commits."""

    __tablename__ = "mail_outbox"
    __table_args__ = (UniqueConstraint("notification_id", "address"), Index("ix_mail_outbox_status", "status", "id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"))
    login: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Job(Base):
    """A service task for the worker: run under a lease, retried with back-off, an incident when it gives up.

    `key` names the piece of work (its service task), not the attempt: a handler's effects carry it, so a
    run repeated after a crash finds them done instead of doing them twice.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_claim", "status", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    instance_id: Mapped[int] = mapped_column(Integer, index=True)
    task_guid: Mapped[str] = mapped_column(String(36))
    topic: Mapped[str] = mapped_column(String(64))
    element_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, running, done, incident
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)  # the engine's Chinese text
    last_error_message: Mapped[dict | None] = mapped_column(JSON)  # its key and parameters (errors.message_record)
    retryable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class User(Base):
    __tablename__ = "app_user"
    login: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str | None] = mapped_column(String(255))


class Role(Base):
    __tablename__ = "role"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str | None] = mapped_column(String(64))
    aliases: Mapped[list | None] = mapped_column(JSON)


class Grant(Base):
    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("login", "role", "scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(ForeignKey("app_user.login"), index=True)
    role: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(255), default="*")


class OrgUnit(Base):
    """Regions, offices, channels and product lines: `kind` says which; `scope` is the routing key."""

    __tablename__ = "org_unit"
    __table_args__ = (UniqueConstraint("kind", "scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # region, office, channel, product_line
    name: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(255))
    parent: Mapped[str | None] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Customer(Base):
    """The customer (distributor) register."""

    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    region: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    credit_rating: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, frozen
    info: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LoginFailure(Base):
    """One failed login, kept for the lockout window (web/auth.py); shared by every server process."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_login_address", "login", "address", "at"),
        Index("ix_login_failure_address", "address", "at"),
        Index("ix_login_failure_at", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class LoginSession(Base):
    """A logged-in browser or script: its session cookie names it (by hash); logging out deletes it."""

    __tablename__ = "login_session"
    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
