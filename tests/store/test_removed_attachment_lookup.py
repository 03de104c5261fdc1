"""Which instances' clean-ups removed an upload (attachments.removed_from): found through the removal events'
own partial index, not by reading the audit trail, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

from helpers import plans_of
from sqlalchemy import insert

from engine.store import attachments
from engine.store.models import Event

AT = datetime(2027, 4, 2, 9, tzinfo=UTC)


def test_the_instances_that_removed_a_file_are_found_through_their_own_index(env):
    others = [{"instance_id": n % 500, "kind": "completed", "at": AT, "detail": {"task_id": n, "data": {"id": 7}}}
              for n in range(20_000)]
    removals = [{"instance_id": 3, "kind": "attachments_removed", "at": AT,
                 "detail": {"attachments": [{"id": 7, "name": "初稿.pdf"}, {"id": 8, "name": "附件.xlsx"}]}},
                {"instance_id": 4, "kind": "attachments_removed", "at": AT,
                 "detail": {"attachments": [{"id": 70, "name": "其他.pdf"}]}}]
    with env.db.begin() as conn:
        conn.execute(insert(Event), others + removals)
        conn.exec_driver_sql("ANALYZE")

    assert env.tx(lambda s: attachments.removed_from(s, 7)) == [3]  # a "completed" event naming 7 is no removal
    assert env.tx(lambda s: attachments.removed_from(s, 70)) == [4]
    assert env.tx(lambda s: attachments.removed_from(s, 9)) == []

    (plan,) = plans_of(env, lambda s: attachments.removed_from(s, 7), "event")
    assert "ix_event_attachments_removed" in plan, plan
