"""job.last_error_message: the key and parameters of a job's last error, so that it is read in the reader's language

Revision ID: 0016
Revises: 0015

A job's last error is stored as the engine's Chinese text; the incidents page and an instance's page showed it
as such in the English UI too. The message's catalogue key and parameters now go beside it
(errors.message_record). Errors stored before stay as they were written.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job", sa.Column("last_error_message", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("last_error_message")
