"""an index of the events that tell which uploads were cleaned up

Revision ID: 0015
Revises: 0014

A link to an uploaded file that nothing used, and that was removed, answers that it was cleaned up; finding the
event that removed it read through the whole audit trail. A partial index holds only those events, so every
other event written costs nothing more.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

REMOVALS = sa.text("kind = 'attachments_removed'")


def upgrade() -> None:
    op.create_index("ix_event_attachments_removed", "event", ["instance_id"], postgresql_where=REMOVALS,
                    sqlite_where=REMOVALS)


def downgrade() -> None:
    op.drop_index("ix_event_attachments_removed", table_name="event")
