"""drop the index on process_instance.process_id alone

Revision ID: 0014
Revises: 0013

Since 0009 the (process_id, status) index answers every search by process, and the unique
(process_id, business_key) constraint has one too: the index on process_id alone was only written to, at
every instance started.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_instance") as batch:
        batch.drop_index("ix_process_instance_process_id")


def downgrade() -> None:
    with op.batch_alter_table("process_instance") as batch:
        batch.create_index("ix_process_instance_process_id", ["process_id"])
