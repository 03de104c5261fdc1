"""bench/db_floor.py: a run's statements replayed by the bare driver end as the run did, or the replay says so."""

import pytest

from bench.common import database, migrated
from bench.db_floor import Recorder, replay
from bench.processes import answer, sequential
from bench.throughput import _engine, _open_task
from engine.store import org
from engine.store.db import make_session_factory
from engine.store.unit_of_work import in_transaction


def _record_two_completions(url: str) -> Recorder:
    db = migrated(url)
    recorder = Recorder(db)
    sessions, engine = make_session_factory(db), _engine()
    in_transaction(sessions, lambda s: engine.deploy(s, sequential(), "bench20.bpmn", None))
    in_transaction(sessions, lambda s: (org.add_user(s, "p", "计划员", None), org.grant(s, "p", "计划部", "*")))
    instance_id = in_transaction(sessions, lambda s: engine.start(s, "bench20", "p", None))
    for _ in range(2):
        task = in_transaction(sessions, lambda s: _open_task(s, instance_id))
        recorder.timing(True)
        in_transaction(sessions, lambda s, t=task: engine.complete(s, t.id, "p", answer(t.form, t.prefill)))
        recorder.timing(False)
    recorder.close()
    db.dispose()
    return recorder


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_replay_times_the_completions_and_refuses_to_end_elsewhere(kind):
    with database(kind) as url:
        recorder = _record_two_completions(url)
    with database(kind) as url:
        floor = replay(recorder, url)
    assert floor["n"] == 2 and floor["mean_ms"] > 0

    # Without the state's update of the last completion, the second database ends at another revision.
    last = [t for t in recorder.transactions if t.timed][-1]
    kept = [s for s in last.statements if "UPDATE process_instance SET" not in s[0]]
    assert len(kept) == len(last.statements) - 1
    last.statements = kept
    with database(kind) as url, pytest.raises(RuntimeError, match="did not end as the run did"):
        replay(recorder, url)
