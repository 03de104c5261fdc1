"""job.retryable: whether the worker retries a failed service task or it waits for a person;
job leases go (a job is claimed by locking its row)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("retryable", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.drop_column("lease_owner")
        batch.drop_column("lease_expires")


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("retryable")
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True))
