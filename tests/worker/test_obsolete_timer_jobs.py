"""A timer job whose instance has nothing left for it to fire (the instance ended, or a person's step took it past
the failing timer) is closed by the worker's next round, or by an administrator's retry, without firing anything:
an audit event says why, and the incident leaves the administrators' list."""

from __future__ import annotations

from sqlalchemy import select
from worker_helpers import HERE, at

from engine.store import jobs
from engine.store.models import Job

BACK_OFF = [0, 1, 3, 7, 15]  # the timer job's attempts (minutes after the timer was due): the 5th is an incident


def _until_incident(company) -> None:
    outcomes = [company.round_at(at(minutes)) for minutes in BACK_OFF]
    assert [r.incidents for r in outcomes] == [0, 0, 0, 0, 1]


def _complete(company, instance_id: int, element_id: str) -> None:
    (task_id,) = [t for t, element, state in company.open_tasks(instance_id) if element == element_id
                  and state == "open"]
    company.tx(lambda s: company.engine.complete(s, task_id, "planner", {}))


def test_an_incident_whose_timer_a_person_went_past_is_closed_by_the_next_round(company):
    company.engine.handlers.register("tally", lambda ctx: {})
    company.deploy("timer_isolation.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "timer_isolation", "planner"))
    _until_incident(company)
    (job,) = company.jobs()

    company.clock.set(at(20))
    _complete(company, instance_id, "count")  # the reminder on the count is over: the review is next
    instance = company.instance(instance_id)
    assert (instance.status, instance.next_timer_at) == ("running", None)
    assert [row.id for row, _ in company.tx(lambda s: jobs.incidents(s))] == [job.id]  # until the worker looks

    swept = company.round_at(at(21))
    assert (swept.fired, swept.jobs_done, swept.incidents, swept.errors) == (0, 0, 0, 0)
    (job,) = company.jobs()
    assert (job.status, job.finished_at, job.attempts) == ("done", at(21), 5)
    (closed,) = company.events("timer_obsolete")
    assert (closed.instance_id, closed.detail["job_id"], closed.detail["reason"]) == (instance_id, job.id,
                                                                                       "no_due_timer")
    assert closed.detail["attempts"] == 5 and "level >= 3" in closed.detail["error"]
    assert company.tx(lambda s: jobs.incidents(s)) == []
    assert company.tx(lambda s: company.engine.waiting_jobs(s, instance_id)) == []
    assert len(company.stock.asked) == 5 and company.events("timer_fired") == []
    assert not company.round_at(at(60 * 24)).busy()
    assert len(company.events("timer_obsolete")) == 1
    _complete(company, instance_id, "review")
    assert company.instance(instance_id).status == "completed"


def test_a_retry_waiting_for_its_back_off_is_dropped_when_the_instance_ends(company):
    company.deploy("boundary_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "boundary_check", "planner"))
    assert company.round_at(at(0)).jobs_retry == 1
    company.clock.set(at(0.5))
    _complete(company, instance_id, "count")  # the count was done: nothing is left to remind of
    assert company.instance(instance_id).status == "completed"

    assert company.round_at(at(1)).jobs_done == 0  # closed before its retry, not run
    (job,) = company.jobs()
    assert (job.status, job.attempts, job.finished_at) == ("done", 1, at(1))
    (closed,) = company.events("timer_obsolete")
    assert (closed.detail["job_id"], closed.detail["reason"]) == (job.id, "instance_ended")
    assert company.stock.asked == [at(0)]


def test_an_administrators_retry_of_a_stale_incident_closes_it_without_firing(company):
    company.deploy("boundary_check.bpmn")
    instance_id = company.tx(lambda s: company.engine.start(s, "boundary_check", "planner"))
    _until_incident(company)
    (job,) = company.jobs()
    company.clock.set(at(20))
    _complete(company, instance_id, "count")

    assert company.tx(lambda s: company.engine.retry_now(s, job.id, "admin")) == "obsolete"
    (job,) = company.jobs()
    assert (job.status, job.lease_owner) == ("done", None)
    assert [e.detail["reason"] for e in company.events("timer_obsolete")] == ["instance_ended"]
    assert len(company.events("retry")) == 1 and company.events("timer_fired") == []
    assert len(company.stock.asked) == 5


def test_the_incidents_page_no_longer_lists_a_timer_incident_that_lost_its_cause(site_factory):
    from engine.worker import Worker

    site = site_factory({"planner": [("计划部", "*")], "admin": [("admin", "*")]})
    site.engine.handlers.register("stock_level", lambda ctx: {"level": "未知"})
    site.tx(lambda s: site.engine.deploy(s, (HERE / "boundary_check.bpmn").read_bytes(), "boundary_check.bpmn",
                                         "admin"))
    instance_id = site.tx(lambda s: site.engine.start(s, "boundary_check", "planner"))
    worker = Worker(site.engine, site.services.sessions)
    for minutes in BACK_OFF:
        site.clock.set(at(minutes))
        worker.run_once()
    admin, planner = site.client("admin"), site.client("planner")
    assert f'href="/instances/{instance_id}"' in admin.get("/incidents/").get_data(as_text=True)

    (task,) = site.tx(lambda s: site.engine.inbox(s, "planner"))
    site.tx(lambda s: site.engine.complete(s, task.id, "planner", {}))
    site.clock.set(at(16))
    worker.run_once()
    listing = admin.get("/incidents/").get_data(as_text=True)
    assert "没有事故" in listing and f'href="/instances/{instance_id}"' not in listing
    instance_page = planner.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "定时器重试作废" in instance_page and "转为事故" in instance_page  # the story: it was one, now dropped
    assert "等待中或出错的服务任务" not in instance_page


def test_an_administrator_who_retries_a_stale_incident_is_told_it_was_closed_not_retried(site_factory):
    from engine.worker import Worker

    site = site_factory({"planner": [("计划部", "*")], "admin": [("admin", "*")]})
    site.engine.handlers.register("stock_level", lambda ctx: {"level": "未知"})
    site.tx(lambda s: site.engine.deploy(s, (HERE / "boundary_check.bpmn").read_bytes(), "boundary_check.bpmn",
                                         "admin"))
    site.tx(lambda s: site.engine.start(s, "boundary_check", "planner"))
    worker = Worker(site.engine, site.services.sessions)
    for minutes in BACK_OFF:
        site.clock.set(at(minutes))
        worker.run_once()
    (job,) = site.tx(lambda s: s.scalars(select(Job)).all())
    assert job.status == "incident"
    (task,) = site.tx(lambda s: site.engine.inbox(s, "planner"))
    site.tx(lambda s: site.engine.complete(s, task.id, "planner", {}))  # past the timer, before the next round

    page = site.post(site.client("admin"), f"/incidents/{job.id}/retry").get_data(as_text=True)
    assert "无需重试" in page and "已重试, 流程继续运行" not in page
    assert "没有事故" in page
