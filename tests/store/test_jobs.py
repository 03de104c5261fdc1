"""Service-task jobs: leased to one worker, retried with exponential back-off, an incident after the last try,
run again by an administrator; asyncBefore tasks are left to the worker; effects happen once per job key."""

from datetime import timedelta

import pytest
from helpers import add_people, fixture_bytes
from sqlalchemy import select

from engine import Engine, HandlerContext, HandlerFailed, HandlerRegistry, NotPermitted, Sandbox, StaleAction
from engine.store.models import ArchiveRecord, Event, HumanTask, Job, Notification, ProcessInstance
from handlers import default_registry
from handlers.archive import archive
from handlers.notify import notify

HOUR = timedelta(hours=1)
ASYNC_APPROVAL = fixture_bytes("approval.bpmn").replace(
    b'camunda:topic="archive"', b'camunda:topic="archive" camunda:asyncBefore="true"')


def _approve(env, registry: HandlerRegistry, bpmn: bytes = fixture_bytes("approval.bpmn")) -> tuple[int, int]:
    """Run the approval fixture to its 备案 step; returns (instance id, the review task's id)."""
    env.engine = Engine(registry, Sandbox(), env.clock)
    env.tx(lambda s: add_people(s, {"bj": [("办事处", "华北/北京办事处")], "rm": [("大区经理", "华北")],
                                    "admin": [("admin", "*")]}))
    env.tx(lambda s: env.engine.deploy(s, bpmn, "a.bpmn", None))
    instance_id = env.tx(lambda s: env.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"}))
    (task,) = env.tx(lambda s: env.engine.inbox(s, "bj"))
    env.tx(lambda s: env.engine.complete(s, task.id, "bj", {"amount": 1, "purpose": "会议"}))
    (review,) = env.tx(lambda s: env.engine.inbox(s, "rm"))
    env.tx(lambda s: env.engine.complete(s, review.id, "rm", {"decision": "approve"}))
    return instance_id, review.id


def _claim(env, owner: str = "w1", lease: timedelta = HOUR) -> list[int]:
    return env.tx(lambda s: env.engine.claim_jobs(s, owner, lease))


def _run(env, job_id: int, owner: str = "w1") -> str:
    return env.tx(lambda s: env.engine.run_job(s, job_id, owner))


def _expire_lease(env, job_id: int) -> None:
    def work(s):
        s.get(Job, job_id).lease_expires_at -= 2 * HOUR

    env.tx(work)


def _job(env) -> Job:
    return env.tx(lambda s: s.scalars(select(Job)).one())


def test_a_failed_handler_is_retried_by_the_worker(env):
    calls = []

    def flaky_archive(ctx, title, kind, document):
        calls.append(ctx.job_key)
        if len(calls) == 1:
            raise HandlerFailed("档案服务暂时不可用", retryable=True)
        return {"archived_as": len(calls)}

    instance_id, _ = _approve(env, HandlerRegistry({"archive": flaky_archive}))
    assert env.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "running"
    job = _job(env)
    assert (job.topic, job.last_error, job.status, job.attempts) == ("archive", "档案服务暂时不可用", "pending", 1)
    assert job.due_at == env.clock.now() + timedelta(minutes=1)
    errors = env.tx(lambda s: [e.detail["error"] for e in s.scalars(select(Event).where(Event.kind == "error"))])
    assert errors == ["档案服务暂时不可用"]
    assert _claim(env) == []  # not before its back-off

    env.clock.advance(minutes=2)
    assert _claim(env) == [job.id]
    assert _run(env, job.id) == "done"
    assert calls == [job.key, job.key]  # one key for every attempt at the task
    assert env.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "completed"
    assert env.tx(lambda s: env.engine.workflow_data(s, instance_id))["archived_as"] == 2
    assert (_job(env).status, _job(env).lease_owner) == ("done", None)
    assert _claim(env) == []


def test_back_off_doubles_and_the_last_failure_is_an_incident(env):
    def broken(ctx, **params):
        raise HandlerFailed("档案服务不可用", retryable=True)

    instance_id, _ = _approve(env, HandlerRegistry({"archive": broken}))
    env.engine.max_attempts = 3
    start = env.clock.now()
    assert _job(env).due_at == start + timedelta(minutes=1)
    env.clock.set(start + timedelta(minutes=1))
    (job_id,) = _claim(env)
    assert _run(env, job_id) == "retry"
    assert (_job(env).attempts, _job(env).due_at) == (2, start + timedelta(minutes=3))  # then 2 minutes
    env.clock.set(start + timedelta(minutes=3))
    assert _claim(env) == [job_id]
    assert _run(env, job_id) == "incident"
    job = _job(env)
    assert (job.status, job.attempts, job.last_error) == ("incident", 3, "档案服务不可用")
    env.clock.advance(days=365)
    assert _claim(env) == []  # an incident waits for an administrator
    assert [j.id for j in env.tx(lambda s: env.engine.waiting_jobs(s, instance_id))] == [job_id]
    incidents = env.tx(lambda s: [e.detail for e in s.scalars(select(Event).where(Event.kind == "incident"))])
    assert [(d["job_id"], d["attempts"], d["error"]) for d in incidents] == [(job_id, 3, "档案服务不可用")]


def test_an_administrator_can_retry_a_failed_task_at_once(env):
    attempts = []

    def picky(ctx, role, message, scope="*"):
        attempts.append(role)
        if len(attempts) == 1:
            raise HandlerFailed("收件角色不存在", retryable=False)
        return {}

    env.engine = Engine(HandlerRegistry({"notify": picky}), Sandbox(), env.clock)
    env.tx(lambda s: add_people(s, {"planner": [("计划部", "*")], "admin": [("admin", "*")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("deadline.bpmn"), "d.bpmn", None))
    instance_id = env.tx(lambda s: env.engine.start(s, "deadline", "planner"))
    env.clock.advance(days=9)
    env.tx(lambda s: env.engine.fire_timers(s, instance_id))
    (job,) = env.tx(lambda s: env.engine.waiting_jobs(s, instance_id))
    assert job.status == "incident"  # retrying cannot fix it: at once an incident
    env.clock.advance(days=30)
    assert _claim(env) == []
    with pytest.raises(NotPermitted):
        env.tx(lambda s: env.engine.retry_now(s, job.id, "planner"))
    assert env.tx(lambda s: env.engine.retry_now(s, job.id, "admin")) == "done"
    assert attempts == ["计划部", "计划部"]
    assert env.tx(lambda s: env.engine.waiting_jobs(s, instance_id)) == []
    with pytest.raises(StaleAction):
        env.tx(lambda s: env.engine.retry_now(s, job.id, "admin"))


def test_a_leased_job_is_one_workers_until_the_lease_runs_out(env):
    instance_id, _ = _approve(env, default_registry(), ASYNC_APPROVAL)
    (job_id,) = _claim(env, "w1", lease=HOUR)
    assert _claim(env, "w2") == []  # w1 holds it
    assert _run(env, job_id, "w2") == "lost"

    _expire_lease(env, job_id)
    assert _claim(env, "w2") == [job_id]  # w1 looks dead: w2 takes over
    assert _run(env, job_id, "w1") == "lost"  # w1 comes back too late and writes nothing
    assert env.tx(lambda s: s.scalars(select(ArchiveRecord)).all()) == []
    assert _run(env, job_id, "w2") == "done"
    (record,) = env.tx(lambda s: s.scalars(select(ArchiveRecord)).all())
    assert record.job_key == _job(env).key
    assert (_job(env).attempts, _job(env).status) == (2, "done")  # two claims
    assert env.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "completed"


def test_a_worker_shutting_down_hands_back_what_it_has_not_run(env):
    _approve(env, default_registry(), ASYNC_APPROVAL)
    (job_id,) = _claim(env, "w1")
    assert env.tx(lambda s: env.engine.release_jobs(s, "w2")) == 0
    assert env.tx(lambda s: env.engine.release_jobs(s, "w1")) == 1
    assert (_job(env).status, _job(env).attempts, _job(env).lease_owner) == ("pending", 0, None)
    assert _claim(env, "w2") == [job_id]


def test_an_async_service_task_waits_for_the_worker(env):
    instance_id, review_id = _approve(env, default_registry(), ASYNC_APPROVAL)
    assert env.tx(lambda s: s.get(HumanTask, review_id).state) == "completed"
    assert env.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "running"
    assert env.tx(lambda s: s.scalars(select(ArchiveRecord)).all()) == []
    job = _job(env)
    assert (job.status, job.attempts, job.last_error, job.element_id) == ("pending", 0, None, "file")
    assert env.tx(lambda s: s.scalars(select(Event).where(Event.kind == "error")).all()) == []
    (job_id,) = _claim(env)
    assert _run(env, job_id) == "done"
    assert env.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "completed"
    assert [r.title for r in env.tx(lambda s: s.scalars(select(ArchiveRecord)).all())] == ["费用申请 华北/北京办事处"]


def test_a_failing_handler_leaves_none_of_its_writes(env):
    def archive_then_fail(ctx, **params):
        archive(ctx, **params)  # writes a record...
        raise HandlerFailed("校验失败", retryable=True)  # ...then fails

    _, review_id = _approve(env, HandlerRegistry({"archive": archive_then_fail}))
    assert env.tx(lambda s: s.scalars(select(ArchiveRecord)).all()) == []
    assert env.tx(lambda s: s.get(HumanTask, review_id).state) == "completed"  # the rest of the work stands
    assert _job(env).last_error == "校验失败"


def test_a_database_error_inside_a_handler_is_an_incident(env):
    from engine.store.models import Customer

    def register_twice(ctx, **params):
        for _ in range(2):
            ctx.session.add(Customer(name="重复医药", status="active", created_at=ctx.now, updated_at=ctx.now))
        ctx.session.flush()

    _approve(env, HandlerRegistry({"archive": register_twice}))
    job = _job(env)
    assert "写入数据库失败" in job.last_error and (job.retryable, job.status) == (False, "incident")
    assert env.tx(lambda s: s.scalars(select(Customer)).all()) == []


def test_archive_and_notify_do_their_work_once_per_job_key(env):
    def twice(s):
        ctx = HandlerContext(session=s, instance_id=1, process_id="p", version=1, element_id="e", step="5",
                             actor=None, now=env.clock.now(), job_key="svc:same-task")
        first = archive(ctx, title="计划", kind="plan", document={"a": 1})
        again = archive(ctx, title="计划", kind="plan", document={"a": 1})
        notify(ctx, role="计划部", message="逾期")
        notify(ctx, role="计划部", message="逾期")
        return first, again

    first, again = env.tx(twice)
    assert first == again
    assert len(env.tx(lambda s: s.scalars(select(ArchiveRecord)).all())) == 1
    assert len(env.tx(lambda s: s.scalars(select(Notification)).all())) == 1
