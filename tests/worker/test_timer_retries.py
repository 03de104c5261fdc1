"""A timer whose path fails is retried like a service task: its unit of work rolls back, the attempts are spaced
by the back-off (1, 2, 4, 8 minutes), the 5th failure is an incident, an administrator retries it after fixing
the cause, and a timer that succeeds fires once. The same for a boundary timer and a calendar period."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from worker_helpers import at

from engine import HandlerFailed, NotFound, NotPermitted
from engine.clock import COMPANY_TZ
from engine.errors import WorkflowError
from engine.scheduling import failure_of
from engine.store.models import Notification, ProcessInstance

BACK_OFF = [0, 1, 3, 7, 15]  # minutes after the first attempt: 1, 2, 4, 8 minutes apart


def test_a_failing_timer_backs_off_becomes_an_incident_and_an_administrator_retries_it(company):
    company.deploy("timer_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_check", "planner"))
    before = company.instance(instance_id)
    tasks_before = company.open_tasks(instance_id)
    assert tasks_before == [(tasks_before[0][0], "note", "open")]

    first = company.round_at(at(0))
    assert (first.fired, first.jobs_retry, first.incidents, first.errors) == (0, 1, 0, 1)
    assert "level >= 3" in first.messages[0]
    (job,) = company.jobs()
    assert (job.topic, job.status, job.attempts, job.element_id) == ("timer", "pending", 1, "enough")
    assert job.due_at == at(1) and "level >= 3" in job.last_error
    assert "TypeError" in job.last_error and "'str' and 'int'" in job.last_error  # the cause, not only where
    # The failed attempt changed nothing: the same revision and state, the parallel task as it was.
    after = company.instance(instance_id)
    assert (after.revision, after.state, after.next_timer_at) == (before.revision, before.state, before.next_timer_at)
    assert company.open_tasks(instance_id) == tasks_before

    assert not company.round_at(at(1) - timedelta(seconds=1)).busy()  # not before its back-off
    outcomes = [company.round_at(at(minutes)) for minutes in BACK_OFF[1:]]
    assert [(r.jobs_retry, r.incidents) for r in outcomes] == [(1, 0), (1, 0), (1, 0), (0, 1)]
    assert company.stock.asked == [at(m) for m in BACK_OFF]
    (job,) = company.jobs()
    assert (job.status, job.attempts) == ("incident", 5)
    (incident,) = company.events("incident")
    assert (incident.instance_id, incident.detail["job_id"], incident.detail["attempts"]) == (instance_id, job.id, 5)
    assert incident.detail["topic"] == "timer" and "level >= 3" in incident.detail["error"]

    assert not company.round_at(at(60 * 24 * 30)).busy()  # an incident waits for an administrator
    assert len(company.stock.asked) == 5
    assert company.tx(lambda s: company.engine.due_timer_instances(s)) == []
    assert [j.id for j in company.tx(lambda s: company.engine.waiting_jobs(s, instance_id))] == [job.id]
    assert company.instance(instance_id).revision == before.revision
    assert company.events("timer_fired") == []

    with pytest.raises(NotPermitted):
        company.tx(lambda s: company.engine.retry_now(s, job.id, "planner"))
    # Retried before the cause is fixed: it fails again, and gets a fresh series of retries.
    assert company.tx(lambda s: company.engine.retry_now(s, job.id, "admin")) == "retry"
    (job,) = company.jobs()
    assert (job.status, job.attempts, job.due_at) == ("pending", 1, company.clock.now() + timedelta(minutes=1))
    assert company.instance(instance_id).revision == before.revision

    company.stock.level = 1  # the stock was counted: low, so the planners are told
    assert company.tx(lambda s: company.engine.retry_now(s, job.id, "admin")) == "done"
    (job,) = company.jobs()
    assert (job.status, job.lease_owner) == ("done", None)
    notes = company.tx(lambda s: [n.message for n in s.scalars(select(Notification))])
    assert notes == ["库存只剩 1"]
    assert len(company.events("timer_fired")) == 1
    assert company.open_tasks(instance_id) == tasks_before
    assert not company.round_at(at(60 * 24 * 60)).busy()  # fired once: nothing is left to fire
    assert len(company.stock.asked) == 7


def test_a_timer_that_recovers_between_attempts_fires_once_and_the_instance_goes_on(company):
    company.deploy("timer_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_check", "planner"))
    assert company.round_at(at(0)).jobs_retry == 1

    company.stock.level = 5
    again = company.round_at(at(1))
    assert (again.jobs_done, again.jobs_retry, again.errors) == (1, 0, 0)
    (job,) = company.jobs()
    assert (job.status, job.attempts) == ("done", 2)
    (decision,) = company.events("gateway")
    assert decision.detail["chosen"] == ["stocked"]
    for later in (2, 60, 60 * 24 * 10):
        assert not company.round_at(at(later)).busy()
    assert len(company.events("timer_fired")) == 1 and len(company.stock.asked) == 2

    ((task_id, _, _),) = company.open_tasks(instance_id)
    company.tx(lambda s: company.engine.complete(s, task_id, "planner", {}))
    assert company.instance(instance_id).status == "completed"


def test_a_timer_that_succeeds_fires_exactly_once(company):
    company.deploy("timer_check.bpmn")
    company.stock.level = 5
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_check", "planner"))
    assert not company.round_at(at(0) - timedelta(seconds=1)).busy()
    fired = company.round_at(at(0))
    assert (fired.fired, fired.jobs_retry, fired.errors) == (1, 0, 0)
    for later in (1, 3, 60 * 24):
        assert not company.round_at(at(later)).busy()
    assert company.jobs() == []
    assert [e.instance_id for e in company.events("timer_fired")] == [instance_id]
    assert company.stock.asked == [at(0)]


def test_a_failing_boundary_timer_leaves_its_task_alone_and_runs_once_fixed(company):
    company.deploy("boundary_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "boundary_check", "planner"))
    tasks_before = company.open_tasks(instance_id)
    state_before = company.instance(instance_id).state

    assert company.round_at(at(0)).jobs_retry == 1
    assert company.round_at(at(1)).jobs_retry == 1
    (job,) = company.jobs()
    assert (job.topic, job.status, job.attempts, job.due_at) == ("timer", "pending", 2, at(3))
    assert company.open_tasks(instance_id) == tasks_before and company.instance(instance_id).state == state_before

    company.stock.level = 2
    assert company.round_at(at(3)).jobs_done == 1
    (decision,) = company.events("gateway")
    assert decision.detail["chosen"] == ["short"]
    assert company.open_tasks(instance_id) == tasks_before  # a non-interrupting timer: the count still waits
    assert not company.round_at(at(60)).busy()


def test_a_calendar_period_that_fails_to_start_waits_at_its_start_and_is_retried(company):
    company.deploy("calendar_check.bpmn")
    april = datetime(2027, 4, 1, 9, tzinfo=COMPANY_TZ)
    first = company.round_at(april)
    assert (first.started, first.jobs_retry, first.errors) == (0, 1, 1)
    (instance,) = company.tx(lambda s: list(s.scalars(select(ProcessInstance))))
    # Stored unrun, it is due at once: its timer job runs it on (and does not take it for one with nothing due).
    assert (instance.business_key, instance.status, instance.next_timer_at) == ("2027-04 月度盘点", "running", april)
    (job,) = company.jobs()
    assert (job.instance_id, job.topic, job.status, job.attempts, job.due_at) == (
        instance.id, "timer", "pending", 1, april + timedelta(minutes=1))
    assert [e.detail["business_key"] for e in company.events("started")] == ["2027-04 月度盘点"]
    assert company.open_tasks(instance.id) == []

    # The calendar sees the period taken: no second instance, and nothing before the back-off.
    assert not company.round_at(april + timedelta(seconds=30)).busy()
    assert company.round_at(april + timedelta(minutes=1)).jobs_retry == 1
    company.stock.level = 0
    done = company.round_at(april + timedelta(minutes=3))
    assert (done.started, done.jobs_done, done.errors) == (0, 1, 0)
    assert company.tx(lambda s: s.scalar(select(func.count()).select_from(ProcessInstance))) == 1
    assert [element for _, element, _ in company.open_tasks(instance.id)] == ["reorder"]
    assert len(company.stock.asked) == 3
    assert not company.round_at(april + timedelta(days=1)).busy()
    assert company.events("timer_obsolete") == []  # the unrun instance's job was never taken for a stale one


def test_a_failure_retrying_cannot_help_is_an_incident_at_once(company):
    company.deploy("timer_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_check", "planner"))
    company.clock.set(at(0))
    refused = failure_of(HandlerFailed("库存系统拒绝了查询", retryable=False))
    assert company.tx(lambda s: company.engine.timer_failed(s, instance_id, refused)) == "incident"
    (job,) = company.jobs()
    assert (job.status, job.attempts, job.retryable, job.last_error) == ("incident", 1, False, "库存系统拒绝了查询")
    assert [e.detail["attempts"] for e in company.events("incident")] == [1]
    assert not company.round_at(at(60)).busy()  # neither the worker's timers nor its jobs touch it
    assert company.stock.asked == []


def test_what_a_failed_attempt_says_and_whether_retrying_can_help():
    condition = failure_of(WorkflowError("流程运行出错: Error evaluating expression 'level >= 3'", element_id="enough"))
    assert (condition.retryable, condition.element_id) == (True, "enough")
    bug = failure_of(KeyError("level"))
    assert (bug.error, bug.retryable) == ("KeyError: 'level'", True)
    assert failure_of(HandlerFailed("暂时不可用")).retryable is True
    assert failure_of(HandlerFailed("查询被拒绝", retryable=False)).retryable is False
    assert failure_of(NotFound("没有编号为 9 的流程实例")).retryable is False
