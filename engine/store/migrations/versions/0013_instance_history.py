"""an instance's finished tasks stored apart from its state

Revision ID: 0013
Revises: 0012

Every step wrote the instance's whole state, its history included: a loop taken 300 times wrote 220 KB per
step, and the time per step grew with the history. Finished tasks that can no longer change now go, in
batches, into instance_history, once; the state keeps the rest (runtime.History). States written before
have no batches and are read as they are; their next save splits them.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_history",
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("process_instance.id"), primary_key=True),
        sa.Column("batch", sa.Integer(), primary_key=True),
        sa.Column("tasks", sa.Text(), nullable=False),
    )


def _parents_first(tasks: dict, root: str) -> dict:
    # A task's data is read back from its parent's: the parent comes first (as runtime._parents_first).
    ordered, pending = {}, [root]
    while pending:
        task = tasks[pending.pop()]
        ordered[task["id"]] = task
        pending.extend(reversed(task["children"]))
    return ordered


def downgrade() -> None:
    # Older code reads whole states: each instance's batches go back into its state, then the table goes.
    bind = op.get_bind()
    history = sa.table("instance_history", sa.column("instance_id", sa.Integer), sa.column("batch", sa.Integer),
                       sa.column("tasks", sa.Text))
    instance = sa.table("process_instance", sa.column("id", sa.Integer), sa.column("state", sa.Text))
    ids = bind.execute(sa.select(history.c.instance_id).distinct()).scalars().all()
    for instance_id in ids:
        state = json.loads(bind.execute(sa.select(instance.c.state).where(instance.c.id == instance_id)).scalar_one())
        for (text,) in bind.execute(sa.select(history.c.tasks).where(history.c.instance_id == instance_id)
                                    .order_by(history.c.batch)):
            batch = json.loads(text)
            state["subprocesses"].update(batch["subprocesses"])
            for key, tasks in batch["tasks"].items():
                part = state if key == "" else state["subprocesses"][key]
                part["tasks"] = {**tasks, **part["tasks"]}
        for part in (state, *state["subprocesses"].values()):
            part["tasks"] = _parents_first(part["tasks"], part["root"])
        state.pop("smflow_history", None)
        bind.execute(instance.update().where(instance.c.id == instance_id).values(state=json.dumps(state)))
    op.drop_table("instance_history")
