"""Timers follow the engine's clock: boundary deadlines, and one instance per calendar period."""

from datetime import datetime

import pytest
from helpers import add_people, fixture_bytes
from sqlalchemy import select

from engine.clock import COMPANY_TZ
from engine.errors import StaleAction
from engine.store.models import HumanTask, Notification, ProcessInstance


@pytest.fixture
def deployed(env):
    env.tx(lambda s: add_people(s, {"planner": [("计划部", "*")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("deadline.bpmn"), "deadline.bpmn", None))


def test_calendar_starts_one_instance_per_period_with_a_readable_key(env, deployed):
    env.clock.set(datetime(2027, 4, 2, 8, 59, tzinfo=COMPANY_TZ))
    (march,) = env.tx(lambda s: env.engine.start_scheduled(s))  # under way when the process was deployed
    assert env.tx(lambda s: env.engine.start_scheduled(s)) == []
    env.clock.set(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ))
    (april,) = env.tx(lambda s: env.engine.start_scheduled(s))
    assert env.tx(lambda s: env.engine.start_scheduled(s)) == []
    keys = env.tx(lambda s: [(i.id, i.business_key) for i in s.scalars(select(ProcessInstance))])
    assert keys == [(march, "2027-03 月度上报"), (april, "2027-04 月度上报")]
    assert env.tx(lambda s: env.engine.workflow_data(s, april))["started_at"] == "2027-04-02T09:00:00+08:00"


def test_a_worker_that_was_down_catches_up_each_missed_period_once(env, deployed):
    env.clock.set(datetime(2027, 7, 15, 10, tzinfo=COMPANY_TZ))
    due = env.tx(lambda s: env.engine.due_periods(s))
    assert [d.business_key for d in due] == ["2027-04 月度上报", "2027-05 月度上报", "2027-06 月度上报",
                                             "2027-07 月度上报"]  # not January to March: before it was deployed
    env.tx(lambda s: env.engine.start_period(s, due[1]))
    with pytest.raises(StaleAction):  # another worker was quicker
        env.tx(lambda s: env.engine.start_period(s, due[1]))
    started = env.tx(lambda s: env.engine.start_scheduled(s))
    assert len(started) == 3 and env.tx(lambda s: env.engine.start_scheduled(s)) == []
    data = [env.tx(lambda s, i=i: env.engine.workflow_data(s, i))["started_at"] for i in started]
    assert data == ["2027-04-02T09:00:00+08:00", "2027-06-02T09:00:00+08:00", "2027-07-02T09:00:00+08:00"]


def test_a_missed_deadline_notifies_without_interrupting(env, deployed):
    env.clock.set(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ))
    (instance_id,) = env.tx(lambda s: env.engine.start_scheduled(s))
    task = env.tx(lambda s: s.scalars(select(HumanTask)).one())
    assert task.due_at == datetime(2027, 4, 10, 18, tzinfo=COMPANY_TZ)
    env.clock.set(datetime(2027, 4, 10, 17, tzinfo=COMPANY_TZ))
    assert env.tx(lambda s: env.engine.due_timer_instances(s)) == []
    env.clock.set(datetime(2027, 4, 10, 18, 1, tzinfo=COMPANY_TZ))
    assert env.tx(lambda s: env.engine.due_timer_instances(s)) == [instance_id]
    env.restart()
    env.tx(lambda s: env.engine.fire_timers(s, instance_id))
    (note,) = env.tx(lambda s: s.scalars(select(Notification)).all())
    assert (note.role, note.message) == ("计划部", "预测未在10日前整合")
    assert env.tx(lambda s: env.engine.due_timer_instances(s)) == []
    (open_task,) = env.tx(lambda s: env.engine.inbox(s, "planner"))
    assert open_task.id == task.id
    env.tx(lambda s: env.engine.complete(s, task.id, "planner", {}))
    assert env.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "completed"


def test_deadline_met_means_no_notification(env, deployed):
    env.clock.set(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ))
    (instance_id,) = env.tx(lambda s: env.engine.start_scheduled(s))
    task = env.tx(lambda s: s.scalars(select(HumanTask)).one())
    env.tx(lambda s: env.engine.complete(s, task.id, "planner", {}))
    env.clock.set(datetime(2027, 4, 11, tzinfo=COMPANY_TZ))
    assert env.tx(lambda s: env.engine.due_timer_instances(s)) == []
    assert env.tx(lambda s: s.scalars(select(Notification)).all()) == []
