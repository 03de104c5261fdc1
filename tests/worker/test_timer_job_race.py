"""Two workers that fired the same failing timer at the same moment both record the failure (`timer_failed`) at
once, on two threads with sessions of their own: there is one timer job, its attempt counted once, and no
duplicate key. The first holds its unit of work open until the second has reached the database and waits.

On PostgreSQL only: several workers are for PostgreSQL. On SQLite (one worker) a second writer does not wait, it
fails at once with "database is locked" and its unit of work runs again (unit_of_work.in_transaction)."""

from __future__ import annotations

import threading

import pytest
from worker_helpers import at

from engine import HandlerFailed
from engine.scheduling import failure_of
from engine.store.models import Job

RETRYABLE = failure_of(HandlerFailed("库存系统暂时不可用"))
REFUSED = failure_of(HandlerFailed("库存系统拒绝了查询", retryable=False))
WAITED = 0.5  # seconds the second worker is given to reach the first's row (it waits for it far longer)

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _race(company, instance_id: int, failure) -> tuple[object, object, bool]:
    """Both workers' outcomes (or what they raised), and whether the second had to wait for the first."""
    recorded, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def first(session):
        outcome = company.engine.timer_failed(session, instance_id, failure)
        recorded.set()
        assert release.wait(30)
        return outcome

    def run(name: str, work) -> None:
        try:
            outcomes[name] = company.tx(work)
        except Exception as exc:  # noqa: BLE001 - the test compares what each worker got
            outcomes[name] = exc

    one = threading.Thread(target=run, args=("first", first))
    one.start()
    assert recorded.wait(30)
    two = threading.Thread(target=run, args=("second", lambda s: company.engine.timer_failed(s, instance_id, failure)))
    two.start()
    two.join(WAITED)
    waited = two.is_alive()
    release.set()
    one.join(30)
    two.join(30)
    return outcomes["first"], outcomes["second"], waited


def test_two_workers_recording_a_first_failure_at_once_make_one_job_with_one_attempt(company):
    company.deploy("timer_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_check", "planner"))
    company.clock.set(at(0))

    first, second, waited = _race(company, instance_id, RETRYABLE)
    assert waited  # they did overlap: the second waited for the first's row
    assert (first, second) == ("retry", "retry")
    (job,) = company.jobs()
    assert (job.key, job.topic, job.status, job.attempts, job.due_at) == (
        f"timer:{instance_id}", "timer", "pending", 1, at(1))


def test_two_workers_restarting_a_finished_series_at_once_record_one_incident(company):
    company.deploy("timer_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_check", "planner"))
    assert company.round_at(at(0)).jobs_retry == 1
    company.stock.level = 5
    assert company.round_at(at(1)).jobs_done == 1  # an earlier series, done
    company.clock.set(at(30))

    first, second, waited = _race(company, instance_id, REFUSED)
    assert waited
    assert (first, second) == ("incident", "incident")
    (job,) = company.jobs()
    assert (job.status, job.attempts, job.retryable, job.finished_at) == ("incident", 1, False, None)
    assert [(e.detail["job_id"], e.detail["attempts"]) for e in company.events("incident")] == [(job.id, 1)]
    assert company.tx(lambda s: s.query(Job).count()) == 1
