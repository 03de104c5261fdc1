"""failed logins, for rate limiting; login sessions, so that logging out ends them; the index behind 我的已办
(issue 4)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_failure") as batch:
        batch.create_index("ix_login_failure_login_address", ["login", "address", "at"])
        batch.create_index("ix_login_failure_address", ["address", "at"])
        batch.create_index("ix_login_failure_at", ["at"])
    op.create_table(
        "login_session",
        sa.Column("sid_hash", sa.String(length=64), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid_hash"),
    )
    with op.batch_alter_table("login_session") as batch:
        batch.create_index("ix_login_session_login", ["login"])
        batch.create_index("ix_login_session_created_at", ["created_at"])
    with op.batch_alter_table("human_task") as batch:
        batch.create_index("ix_human_task_completed_by", ["completed_by", "completed_at"])


def downgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.drop_index("ix_human_task_completed_by")
    op.drop_table("login_session")
    op.drop_table("login_failure")
