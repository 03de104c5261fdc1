"""Only the worker fires a timer that is waiting: a person's step or a service task's retry on the same instance
leaves a due timer for the worker's timer round, so a timer whose path fails cannot fail them, and its failure is
recorded on the timer job as before. A timer that a step reaches after its time fires at once, in that step."""

from __future__ import annotations

from worker_helpers import DUE, at

from engine import HandlerFailed


class Tally:
    """The tally handler: fails as often as a test says, then answers."""

    def __init__(self, failures: int):
        self.failures = failures

    def __call__(self, ctx):
        if self.failures:
            self.failures -= 1
            raise HandlerFailed("台账系统暂时不可用")
        return {"tallied": True}


def test_a_person_completes_a_parallel_task_while_the_timer_beside_it_keeps_failing(company):
    company.deploy("timer_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_check", "planner"))
    assert company.round_at(at(0)).jobs_retry == 1  # the timer's path fails: its job tries again at at(1)
    ((task_id, _, _),) = company.open_tasks(instance_id)

    company.clock.set(at(0.5))
    company.tx(lambda s: company.engine.complete(s, task_id, "planner", {}))
    assert company.open_tasks(instance_id) == [(task_id, "note", "completed")]
    instance = company.instance(instance_id)
    assert (instance.status, instance.next_timer_at) == ("running", DUE)
    assert company.stock.asked == [at(0)]  # the person's step did not run the timer's path
    (job,) = company.jobs()
    assert (job.topic, job.status, job.attempts, job.due_at) == ("timer", "pending", 1, at(1))

    outcomes = [company.round_at(at(minutes)) for minutes in (1, 3, 7, 15)]
    assert [(r.jobs_retry, r.incidents) for r in outcomes] == [(1, 0), (1, 0), (1, 0), (0, 1)]
    (job,) = company.jobs()
    assert (job.status, job.attempts) == ("incident", 5)
    company.stock.level = 5
    assert company.tx(lambda s: company.engine.retry_now(s, job.id, "admin")) == "done"
    assert company.instance(instance_id).status == "completed"


def test_a_due_timer_outlives_a_persons_step_and_the_worker_fires_it_next_round(company):
    company.deploy("timer_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_check", "planner"))
    ((task_id, _, _),) = company.open_tasks(instance_id)

    company.clock.set(at(2))  # the timer is due, the worker has not come round yet
    company.tx(lambda s: company.engine.complete(s, task_id, "planner", {}))
    assert company.stock.asked == [] and company.events("timer_fired") == []
    instance = company.instance(instance_id)
    assert (instance.status, instance.next_timer_at) == ("running", DUE)  # still due: the worker finds it
    assert company.tx(lambda s: company.engine.due_timer_instances(s)) == [instance_id]

    failed = company.round_at(at(2))
    assert (failed.fired, failed.jobs_retry, failed.errors) == (0, 1, 1)
    (job,) = company.jobs()
    assert (job.topic, job.status, job.attempts, job.element_id) == ("timer", "pending", 1, "enough")

    company.stock.level = 5
    done = company.round_at(at(3))
    assert (done.jobs_done, done.errors) == (1, 0)
    assert company.stock.asked == [at(2), at(3)]
    assert len(company.events("timer_fired")) == 1
    assert company.instance(instance_id).status == "completed"


def test_a_service_task_retried_by_the_worker_leaves_the_due_timer_to_the_timer_round(company):
    company.engine.handlers.register("tally", Tally(failures=1))
    company.deploy("timer_isolation.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_isolation", "planner"))
    (service_job,) = company.jobs()
    assert (service_job.topic, service_job.status, service_job.attempts) == ("tally", "pending", 1)

    # In the round on 3 April the boundary timer is due and its path fails; the tally's retry (due since 31 March)
    # goes through all the same, and the timer's failure is counted once, on the timer job.
    busy = company.round_at(at(0))
    assert (busy.jobs_done, busy.jobs_retry, busy.incidents, busy.errors) == (1, 1, 0, 1)
    service, timer = company.jobs()
    assert (service.id, service.status) == (service_job.id, "done")
    assert (timer.topic, timer.status, timer.attempts, timer.element_id) == ("timer", "pending", 1, "enough")
    assert company.stock.asked == [at(0)]
    assert [e.detail["element_id"] for e in company.events("service_task")] == ["tally"]
    assert company.instance(instance_id).next_timer_at == DUE


def test_a_timer_a_step_reaches_after_its_time_fires_in_that_step(company):
    company.deploy("boundary_check.bpmn")
    company.stock.level = 2
    company.clock.set(at(60))  # started late: the count's reminder is overdue when the count opens
    instance_id = company.tx(lambda s: company.engine.start(s, "boundary_check", "planner"))
    assert company.stock.asked == [at(60)]
    (decision,) = company.events("gateway")
    assert (decision.instance_id, decision.detail["chosen"]) == (instance_id, ["short"])
    assert company.events("timer_fired") == []  # the start fired it, not the worker
    assert company.instance(instance_id).next_timer_at is None
    assert not company.round_at(at(61)).busy()
