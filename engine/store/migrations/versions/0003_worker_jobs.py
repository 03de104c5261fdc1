"""jobs run by workers under a lease; incidents; notification reads (issue 6)

job: a key per service task (handler effects carry it), a status (pending, running, done, incident)
instead of `done`, a lease (owner, expiry), when it was created and finished.
archive_record / notification: the job key of the run that wrote them (unique: never twice).
notification_read: who read what (the bell); mail_outbox: e-mails sent after commit; app_user.email.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("key", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("element_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"))
        batch.add_column(sa.Column("lease_owner", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    # Jobs of an older database: done ones stay done, a failure no retry can fix is an incident.
    op.execute("UPDATE job SET key = 'legacy:' || CAST(id AS VARCHAR(20)), "
               "status = CASE WHEN done THEN 'done' WHEN retryable THEN 'pending' ELSE 'incident' END")
    with op.batch_alter_table("job") as batch:
        batch.alter_column("key", existing_type=sa.String(length=80), nullable=False)
        batch.create_unique_constraint("uq_job_key", ["key"])
        batch.drop_index("ix_job_due_at")
        batch.create_index("ix_job_claim", ["status", "due_at"], unique=False)
        batch.drop_column("done")

    with op.batch_alter_table("archive_record") as batch:
        batch.add_column(sa.Column("job_key", sa.String(length=80), nullable=True))
        batch.create_unique_constraint("uq_archive_record_job_key", ["job_key"])
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("job_key", sa.String(length=80), nullable=True))
        batch.create_unique_constraint("uq_notification_job_key", ["job_key"])
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("email", sa.String(length=255), nullable=True))

    op.create_table(
        "notification_read",
        sa.Column("notification_id", sa.Integer(), sa.ForeignKey("notification.id"), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", "login"),
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), sa.ForeignKey("notification.id"), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notification_id", "address"),
    )
    op.create_index("ix_mail_outbox_status", "mail_outbox", ["status", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_status", table_name="mail_outbox")
    op.drop_table("mail_outbox")
    op.drop_table("notification_read")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("email")
    with op.batch_alter_table("notification") as batch:
        batch.drop_constraint("uq_notification_job_key", type_="unique")
        batch.drop_column("job_key")
    with op.batch_alter_table("archive_record") as batch:
        batch.drop_constraint("uq_archive_record_job_key", type_="unique")
        batch.drop_column("job_key")
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("done", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE job SET done = (status = 'done')")
    with op.batch_alter_table("job") as batch:
        batch.drop_index("ix_job_claim")
        batch.create_index("ix_job_due_at", ["due_at"], unique=False)
        batch.drop_constraint("uq_job_key", type_="unique")
        for column in ("finished_at", "created_at", "lease_expires_at", "lease_owner", "status", "element_id",
                       "key"):
            batch.drop_column(column)
