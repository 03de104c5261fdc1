"""the index behind the instance list's counts and filters (process, status)

Revision ID: 0009
Revises: 0008

流程实例 counts the instances a person may see per (process, status) and filters its page by both. Without
this index an administrator's count read every row of process_instance, serialized state included (73 ms at
50 000 instances of 8 KiB on SQLite); with it the count reads the index alone (2 ms), and a page filtered by
process and status searches it (tests/store/test_instance_list_plans.py).
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_instance") as batch:
        batch.create_index("ix_process_instance_process_status", ["process_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("process_instance") as batch:
        batch.drop_index("ix_process_instance_process_status")
