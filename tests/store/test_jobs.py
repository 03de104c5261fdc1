"""A failing handler leaves its task waiting; the worker retries it later, and the process goes on."""

import pytest
from helpers import add_people, fixture_bytes
from sqlalchemy import select

from engine import Engine, HandlerFailed, HandlerRegistry, NotPermitted, Sandbox, StaleAction
from engine.store.models import Event, HumanTask, Job, ProcessInstance


def test_a_failed_handler_is_retried_by_the_worker(env):
    calls = []

    def flaky_archive(ctx, title, kind, document):
        calls.append(title)
        if len(calls) == 1:
            raise HandlerFailed("档案服务暂时不可用", retryable=True)
        return {"archived_as": len(calls)}

    env.engine = Engine(HandlerRegistry({"archive": flaky_archive}), Sandbox(), env.clock)
    env.tx(lambda s: add_people(s, {"bj": [("办事处", "华北/北京办事处")], "rm": [("大区经理", "华北")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("approval.bpmn"), "a.bpmn", None))
    instance_id = env.tx(lambda s: env.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"}))
    (task,) = env.tx(lambda s: env.engine.inbox(s, "bj"))
    env.tx(lambda s: env.engine.complete(s, task.id, "bj", {"amount": 1, "purpose": "会议"}))
    (review,) = env.tx(lambda s: env.engine.inbox(s, "rm"))
    env.tx(lambda s: env.engine.complete(s, review.id, "rm", {"decision": "approve"}))

    assert env.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "running"
    (job,) = env.tx(lambda s: s.scalars(select(Job)).all())
    assert (job.topic, job.last_error, job.done) == ("archive", "档案服务暂时不可用", False)
    errors = env.tx(lambda s: [e.detail["error"] for e in s.scalars(select(Event).where(Event.kind == "error"))])
    assert errors == ["档案服务暂时不可用"]
    assert env.tx(lambda s: env.engine.due_jobs(s)) == []  # not before its back-off

    env.clock.advance(minutes=2)
    assert env.tx(lambda s: env.engine.due_jobs(s)) == [job.id]
    assert env.tx(lambda s: env.engine.retry_job(s, job.id)) is True
    assert calls == ["费用申请 华北/北京办事处"] * 2
    assert env.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "completed"
    assert env.tx(lambda s: env.engine.workflow_data(s, instance_id))["archived_as"] == 2
    assert env.tx(lambda s: env.engine.due_jobs(s)) == []
    assert env.tx(lambda s: s.get(Job, job.id)).done is True


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
    env.clock.advance(days=30)
    assert env.tx(lambda s: env.engine.due_jobs(s)) == []  # not retryable: it waits for a person
    with pytest.raises(NotPermitted):
        env.tx(lambda s: env.engine.retry_now(s, job.id, "planner"))
    assert env.tx(lambda s: env.engine.retry_now(s, job.id, "admin")) is True
    assert attempts == ["计划部", "计划部"]
    assert env.tx(lambda s: env.engine.waiting_jobs(s, instance_id)) == []
    with pytest.raises(StaleAction):
        env.tx(lambda s: env.engine.retry_now(s, job.id, "admin"))


def _approve_with_archive_handler(env, archive_handler) -> int:
    """Run the approval fixture to its 备案 step with `archive_handler` behind it; returns the review task."""
    env.engine = Engine(HandlerRegistry({"archive": archive_handler}), Sandbox(), env.clock)
    env.tx(lambda s: add_people(s, {"bj": [("办事处", "华北/北京办事处")], "rm": [("大区经理", "华北")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("approval.bpmn"), "a.bpmn", None))
    env.tx(lambda s: env.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"}))
    (task,) = env.tx(lambda s: env.engine.inbox(s, "bj"))
    env.tx(lambda s: env.engine.complete(s, task.id, "bj", {"amount": 1, "purpose": "会议"}))
    (review,) = env.tx(lambda s: env.engine.inbox(s, "rm"))
    env.tx(lambda s: env.engine.complete(s, review.id, "rm", {"decision": "approve"}))
    return review.id


def test_a_failing_handler_leaves_none_of_its_writes(env):
    from engine.store.models import ArchiveRecord
    from handlers.archive import archive

    def archive_then_fail(ctx, **params):
        archive(ctx, **params)  # writes a record...
        raise HandlerFailed("校验失败", retryable=True)  # ...then fails

    review_id = _approve_with_archive_handler(env, archive_then_fail)
    assert env.tx(lambda s: s.scalars(select(ArchiveRecord)).all()) == []
    assert env.tx(lambda s: s.get(HumanTask, review_id).state) == "completed"  # the rest of the work stands
    (job,) = env.tx(lambda s: s.scalars(select(Job)).all())
    assert job.last_error == "校验失败"


def test_a_database_error_inside_a_handler_is_a_clear_failure(env):
    from engine.store.models import Customer

    def register_twice(ctx, **params):
        for _ in range(2):
            ctx.session.add(Customer(name="重复医药", status="active", created_at=ctx.now, updated_at=ctx.now))
        ctx.session.flush()

    _approve_with_archive_handler(env, register_twice)
    (job,) = env.tx(lambda s: s.scalars(select(Job)).all())
    assert "写入数据库失败" in job.last_error and job.retryable is False
    assert env.tx(lambda s: s.scalars(select(Customer)).all()) == []
