"""the inbox indexes hold what the inbox filters, counts and sorts by

Revision ID: 0010
Revises: 0009

ix_human_task_inbox was (state, role, scope) and ix_human_task_assignee (assignee, state): they found a
person's tasks, but the page's sort and the counts per step and due date then read every one of those tasks
from the table. A channel manager covering two regions has about 5,000 open tasks at 100,000 in all; on
SQLite their inbox took 16–36 ms. With the process, element and due date in both indexes, the filters are
part of each index search and the counts and the default order come from the index alone (about 5 ms).
PostgreSQL was not slower before and is not now.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FILTERED = ["process_id", "element_id", "due_at"]
INDEXES = {"ix_human_task_inbox": ["state", "role", "scope"], "ix_human_task_assignee": ["assignee", "state"]}


def _rebuild(wide: bool) -> None:
    with op.batch_alter_table("human_task") as batch:
        for name, columns in INDEXES.items():
            batch.drop_index(name)
            batch.create_index(name, columns + FILTERED if wide else columns)


def upgrade() -> None:
    _rebuild(wide=True)


def downgrade() -> None:
    _rebuild(wide=False)
