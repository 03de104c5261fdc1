"""An instance's finished tasks stored apart from its state (instance_history), on SQLite and PostgreSQL."""

from alembic import command
from sqlalchemy import func, select

from bench.processes import LANE, loop
from engine.runtime import HISTORY_BATCH
from engine.store import org
from engine.store.db import _alembic_config, upgrade
from engine.store.models import HumanTask, InstanceHistory, ProcessInstance


def _start(env, rounds: int) -> int:
    env.tx(lambda s: env.engine.deploy(s, loop(), "bench_loop.bpmn", None))
    env.tx(lambda s: (org.add_user(s, "p", "计划员", None), org.grant(s, "p", LANE, "*")))
    return env.tx(lambda s: env.engine.start(s, "bench_loop", "p", {"rounds": rounds}))


def _take_rounds(env, instance_id: int, first: int, last: int) -> None:
    for n in range(first, last + 1):
        task_id = env.tx(lambda s: s.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                                       HumanTask.state == "open")))
        env.tx(lambda s, t=task_id, n=n: env.engine.complete(s, t, "p", {"round": n}))


def _stored(env, instance_id: int) -> tuple[int, int]:
    """(the state's length, how many batches)"""
    return env.tx(lambda s: (len(s.get(ProcessInstance, instance_id).state),
                             s.scalar(select(func.count()).select_from(InstanceHistory)
                                      .where(InstanceHistory.instance_id == instance_id))))


def test_a_long_loop_keeps_a_small_state_and_runs_on_after_a_restart(env):
    instance_id = _start(env, 150)
    _take_rounds(env, instance_id, 1, 60)
    size_60, batches_60 = _stored(env, instance_id)
    _take_rounds(env, instance_id, 61, 120)
    size_120, batches_120 = _stored(env, instance_id)
    assert batches_60 >= 1 and batches_120 >= batches_60 + 60 * 2 // HISTORY_BATCH - 1
    assert size_120 < 1.5 * size_60  # the history went apart, the state did not grow with it

    env.restart()  # nothing warm: the workflow is read back from the state and its batches
    assert env.tx(lambda s: env.engine.workflow_data(s, instance_id))["round"] == 120
    _take_rounds(env, instance_id, 121, 150)
    row = env.tx(lambda s: s.get(ProcessInstance, instance_id))
    assert row.status == "completed"
    assert env.tx(lambda s: env.engine.workflow_data(s, instance_id))["round"] == 150
    completed = env.tx(lambda s: s.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "completed")))
    assert completed == 150


def test_downgrading_to_0012_puts_the_history_back_into_the_state(env):
    instance_id = _start(env, 80)
    _take_rounds(env, instance_id, 1, 70)
    assert _stored(env, instance_id)[1] >= 1
    config = _alembic_config()
    try:
        with env.db.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0012")
        env.restart()  # a whole state, as older code wrote: read as it is
        assert env.tx(lambda s: env.engine.workflow_data(s, instance_id))["round"] == 70
    finally:
        upgrade(env.db)
    env.restart()
    _take_rounds(env, instance_id, 71, 80)
    assert env.tx(lambda s: s.get(ProcessInstance, instance_id)).status == "completed"
    assert _stored(env, instance_id)[1] >= 1  # saved in parts again


def test_moving_to_a_new_version_stores_the_history_again_in_one_batch(env):
    from engine import instance_migration

    instance_id = _start(env, 90)
    _take_rounds(env, instance_id, 1, 70)
    assert _stored(env, instance_id)[1] >= 2
    renamed = loop().replace("循环".encode(), "循环 (第二版)".encode())
    env.tx(lambda s: env.engine.deploy(s, renamed, "bench_loop.bpmn", None))
    env.tx(lambda s: instance_migration.migrate(env.engine, s, instance_id, "p"))
    assert _stored(env, instance_id)[1] == 1  # written whole on the new version, then split at once
    env.restart()
    _take_rounds(env, instance_id, 71, 90)
    row = env.tx(lambda s: s.get(ProcessInstance, instance_id))
    assert (row.status, row.version) == ("completed", 2)
    assert env.tx(lambda s: env.engine.workflow_data(s, instance_id))["round"] == 90
