"""indexes found by the benchmarks (issue 8)

Revision ID: 0008
Revises: 0007

The inbox looks tasks up by (state, role, scope) with the scope either equal to a grant's scope or in the
range ["scope/", "scope0"), its sub-scopes. That range is a byte-order range: on PostgreSQL, whose
databases often sort text by a language's rules, human_task.scope is given the "C" collation so the
range means "starts with scope/" and the existing ix_human_task_inbox index answers it. SQLite compares
text bytewise already.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("human_task", "scope", type_=sa.String(255, collation="C"),
                        existing_type=sa.String(255), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("human_task", "scope", type_=sa.String(255), existing_type=sa.String(255, collation="C"),
                        existing_nullable=False)
