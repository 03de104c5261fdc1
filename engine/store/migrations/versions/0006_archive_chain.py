"""archive records chained by hash; tamper protection (issue 7)

archive_record gets prev_hash (unique: the chain never forks) and chain_hash; existing records are
chained in id order; triggers then refuse every UPDATE and DELETE of an archive record.

Revision ID: 0006
Revises: 0005
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

from engine.store.archive_chain import GENESIS, chain_hash, document_hash

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER archive_record_no_update BEFORE UPDATE ON archive_record "
    "BEGIN SELECT RAISE(ABORT, '备案记录不可修改 (archive records are immutable)'); END",
    "CREATE TRIGGER archive_record_no_delete BEFORE DELETE ON archive_record "
    "BEGIN SELECT RAISE(ABORT, '备案记录不可删除 (archive records are immutable)'); END",
]
_PG_TRIGGERS = [
    """CREATE FUNCTION smflow_archive_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '备案记录不可修改或删除 (archive records are immutable)';
END $$""",
    "CREATE TRIGGER archive_record_no_update BEFORE UPDATE ON archive_record "
    "FOR EACH ROW EXECUTE FUNCTION smflow_archive_immutable()",
    "CREATE TRIGGER archive_record_no_delete BEFORE DELETE ON archive_record "
    "FOR EACH ROW EXECUTE FUNCTION smflow_archive_immutable()",
]


def _backfill(connection) -> None:
    table = sa.table("archive_record", sa.column("id"), sa.column("instance_id"), sa.column("process_id"),
                     sa.column("version"), sa.column("step"), sa.column("kind"), sa.column("title"),
                     sa.column("scope"), sa.column("document", sa.JSON), sa.column("sha256"),
                     sa.column("archived_by"), sa.column("archived_at", sa.DateTime(timezone=True)),
                     sa.column("job_key"), sa.column("prev_hash"), sa.column("chain_hash"))
    prev = GENESIS
    for row in connection.execute(sa.select(table).order_by(table.c.id)).mappings().all():
        fields = dict(row)
        if isinstance(fields["archived_at"], str):  # SQLite without the model's type
            fields["archived_at"] = datetime.fromisoformat(fields["archived_at"])
        fields["sha256"] = document_hash(fields["document"])
        link = chain_hash(prev, fields)
        connection.execute(table.update().where(table.c.id == row["id"])
                           .values(sha256=fields["sha256"], prev_hash=prev, chain_hash=link))
        prev = link


def upgrade() -> None:
    with op.batch_alter_table("archive_record") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("chain_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_archive_record_prev_hash", ["prev_hash"])
    connection = op.get_bind()
    _backfill(connection)
    for statement in _PG_TRIGGERS if connection.dialect.name == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS archive_record_no_update ON archive_record")
        op.execute("DROP TRIGGER IF EXISTS archive_record_no_delete ON archive_record")
        op.execute("DROP FUNCTION IF EXISTS smflow_archive_immutable()")
    else:
        op.execute("DROP TRIGGER IF EXISTS archive_record_no_update")
        op.execute("DROP TRIGGER IF EXISTS archive_record_no_delete")
    with op.batch_alter_table("archive_record") as batch:
        batch.drop_constraint("uq_archive_record_prev_hash", type_="unique")
        batch.drop_column("chain_hash")
        batch.drop_column("prev_hash")
