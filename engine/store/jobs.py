"""Jobs: service tasks for the worker, claimed under a lease.

A worker claims a batch in one short transaction (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so any number of
workers on any number of hosts share the queue), commits, and then runs each job in a transaction of its own
that first re-checks the lease (`hold`). A worker that dies leaves its jobs `running`; when their lease
expires another worker claims them again. Leases run on the wall clock (they are about processes being
alive), due times on the engine's clock (which a test may set).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import Job, ProcessInstance

PENDING, RUNNING, DONE, INCIDENT = "pending", "running", "done", "incident"
OPEN = (PENDING, RUNNING, INCIDENT)
TIMER = "timer"  # the topic of an instance's timer job (its key says it is one: a handler may be called anything)
_TIMER_PREFIX = "timer:"


def key_for(task_guid: str) -> str:
    """A service task's job key: the same for every attempt, so effects written under it happen once."""
    return f"svc:{task_guid}"


def timer_key(instance_id: int) -> str:
    """An instance's timer job: its due timers failed to fire and are fired again from the job (one per instance)."""
    return f"{_TIMER_PREFIX}{instance_id}"


def is_timer(job: Job) -> bool:
    return job.key.startswith(_TIMER_PREFIX)


def timer_waits():
    """SQL: the instance (ProcessInstance) has an unfinished timer job, which fires its timers instead."""
    return exists().where(Job.instance_id == ProcessInstance.id, Job.key.startswith(_TIMER_PREFIX),
                          Job.status.in_(OPEN))


def _claimable(now: datetime, wall_now: datetime):
    return or_(and_(Job.status == PENDING, Job.due_at <= now),
               and_(Job.status == RUNNING, Job.lease_expires_at <= wall_now))


def claim(session: Session, owner: str, now: datetime, wall_now: datetime, lease: timedelta,
          limit: int = 10) -> list[int]:
    """Take up to `limit` due jobs (and jobs whose lease ran out) for `owner`; the caller commits at once."""
    query = select(Job.id).where(_claimable(now, wall_now)).order_by(Job.due_at, Job.id).limit(limit)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for job_id in session.scalars(query).all():
        # The same condition again: on SQLite (no row locks) this compare-and-set is what keeps a job single.
        result = session.execute(
            update(Job).where(Job.id == job_id, _claimable(now, wall_now))
            .values(status=RUNNING, lease_owner=owner, lease_expires_at=wall_now + lease, attempts=Job.attempts + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            claimed.append(job_id)
    return claimed


def hold(session: Session, job_id: int, owner: str) -> Job | None:
    """The job if `owner` still holds its lease; on PostgreSQL its row stays locked until this unit of work ends,
    so no other worker can claim it meanwhile, even if the lease runs out while the handler works."""
    query = select(Job).where(Job.id == job_id, Job.status == RUNNING, Job.lease_owner == owner)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).first()


def release(session: Session, owner: str) -> int:
    """Jobs `owner` claimed but has not run go back to the queue, their claim not counted as an attempt."""
    result = session.execute(update(Job).where(Job.status == RUNNING, Job.lease_owner == owner)
                             .values(status=PENDING, lease_owner=None, lease_expires_at=None,
                                     attempts=Job.attempts - 1)
                             .execution_options(synchronize_session=False))
    return result.rowcount


def lock_open(session: Session, job_id: int) -> Job | None:
    """A job an administrator may run now: not done and not in a worker's hands (skipped if locked)."""
    query = select(Job).where(Job.id == job_id, Job.status.in_((PENDING, INCIDENT)))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


def for_task(session: Session, task_guid: str) -> Job | None:
    return session.scalars(select(Job).where(Job.key == key_for(task_guid))).first()


def lock_timer(session: Session, instance_id: int, now: datetime) -> tuple[Job, bool]:
    """The instance's timer job, made if missing, its row locked to this unit of work on PostgreSQL; and whether
    this call made it. Two workers recording the same failure at once: the second waits for the first's row
    (ON CONFLICT DO NOTHING) and reads it as committed, instead of failing on its key or counting twice. On
    SQLite the second writer fails with "database is locked" and its unit of work runs again (in_transaction)."""
    dialect = session.bind.dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Job.__table__)
    made = session.scalar(insert.values(
        key=timer_key(instance_id), instance_id=instance_id, task_guid="", topic=TIMER, status=PENDING, attempts=0,
        retryable=True, due_at=now, created_at=now).on_conflict_do_nothing(index_elements=["key"]).returning(Job.id))
    query = select(Job).where(Job.key == timer_key(instance_id)).execution_options(populate_existing=True)
    if dialect == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).one(), made is not None


def _nothing_due(now: datetime):
    """SQL: the instance (ProcessInstance) has ended, or none of its timers is due (an instance stored unrun is
    due: see Engine.start)."""
    return or_(ProcessInstance.status != "running", ProcessInstance.next_timer_at.is_(None),
               ProcessInstance.next_timer_at > now)


def nothing_due(instance: ProcessInstance, now: datetime) -> bool:
    """`_nothing_due` for an instance at hand."""
    return instance.status != "running" or instance.next_timer_at is None or instance.next_timer_at > now


def obsolete_timers(session: Session, now: datetime, limit: int = 100) -> list[tuple[Job, ProcessInstance]]:
    """Timer jobs waiting for their retry or for an administrator whose instance has nothing left for them to fire:
    it ended, or a step took it past the timer (the task a boundary timer was on was completed). A job a worker
    or an administrator holds is left to them (skipped if locked)."""
    query = (select(Job, ProcessInstance).join(ProcessInstance, ProcessInstance.id == Job.instance_id)
             .where(Job.key.startswith(_TIMER_PREFIX), Job.status.in_((PENDING, INCIDENT)), _nothing_due(now))
             .order_by(Job.id).limit(limit))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(of=Job, skip_locked=True)
    return [(job, instance) for job, instance in session.execute(query)]


def waiting(session: Session, instance_id: int) -> list[Job]:
    """The instance's unfinished jobs (pending, running or incidents), oldest first."""
    return list(session.scalars(select(Job).where(Job.instance_id == instance_id, Job.status.in_(OPEN))
                                .order_by(Job.id)))


def incidents(session: Session, limit: int = 500) -> list[tuple[Job, ProcessInstance]]:
    """Jobs that gave up, newest first, with their instances (the administrators' list)."""
    return list(session.execute(
        select(Job, ProcessInstance).join(ProcessInstance, ProcessInstance.id == Job.instance_id)
        .where(Job.status == INCIDENT).order_by(Job.id.desc()).limit(limit)).all())

