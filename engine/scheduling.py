"""The calendar, timers and service-task jobs: what `smflow worker` drives (a mixin of Engine).

Every method is one unit of work on the caller's session; engine/worker.py strings them together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from .clock import COMPANY_TZ
from .errors import HandlerFailed, NotPermitted, StaleAction
from .runtime import find_task
from .store import audit, instances, jobs, org
from .store import definitions as stored
from .store.models import Job, ProcessDefinition
from .timers import cycle_periods, parse_when

CATCH_UP_LIMIT = 100  # periods started per process and round; a longer backlog goes on next round


class RunLater(HandlerFailed):
    """A service task marked `camunda:asyncBefore`: the engine stops before it and the worker runs it."""

    def __init__(self):
        super().__init__("由后台任务执行", retryable=True)


@dataclass(frozen=True)
class DuePeriod:
    process_id: str
    period: datetime
    business_key: str


def wall_now() -> datetime:
    """Leases expire on the wall clock: they are about a worker process being alive, not about business time."""
    return datetime.now(UTC)


def period_label(process_name: str | None, process_id: str) -> str:
    """"SM1.3 月度销售计划制定流程" → "月度销售计划": the manual's code and the word 流程 add nothing to a key."""
    label = re.sub(r"^[A-Za-z]+\d+(?:\.\d+)*\s*", "", process_name or "").strip()
    for suffix in ("的制定流程", "制定流程", "的流程", "流程"):
        if label.endswith(suffix) and len(label) > len(suffix):
            label = label[: -len(suffix)]
            break
    return label or process_id


def period_key(period: datetime, step: dict, label: str) -> str:
    """A business key people read: "2027-04 月度销售计划", "2027 年度分销商维护", by the cycle's granularity."""
    local = period.astimezone(COMPANY_TZ)
    if any(step.get(k) for k in ("hours", "minutes", "seconds")):
        stamp = local.strftime("%Y-%m-%d %H:%M")
    elif any(step.get(k) for k in ("days", "weeks")):
        stamp = local.strftime("%Y-%m-%d")
    elif step.get("months"):
        stamp = local.strftime("%Y-%m")
    else:
        stamp = local.strftime("%Y")
    return f"{stamp} {label}"


class Scheduling:
    retry_base = timedelta(minutes=1)  # back-off: 1, 2, 4, 8 minutes ...
    max_attempts = 5  # then the job is an incident, for an administrator

    def retry_delay(self, attempts: int) -> timedelta:
        """Exponential and deterministic: base × 2^(attempts-1)."""
        return self.retry_base * (2 ** max(attempts - 1, 0))

    # -- timers ---------------------------------------------------------------------------------
    def due_timer_instances(self, session: Session, limit: int = 1000) -> list[int]:
        return instances.due_for_timers(session, self.clock.now(), limit)

    def fire_timers(self, session: Session, instance_id: int) -> bool:
        """Let the instance's due timers fire and run on; False when nothing was due (or another worker has it)."""
        if not instances.claim_due(session, instance_id, self.clock.now()):
            return False
        instance = instances.get(session, instance_id)
        workflow = self._load(instance)
        revision = instances.take_revision(session, instance.id, instance.revision)
        self.runtime.fire_timers(workflow)
        audit.record(session, "timer_fired", self.clock.now(), instance_id=instance_id)
        self._advance_and_save(session, instance, workflow, None, revision)
        return True

    # -- the calendar ---------------------------------------------------------------------------
    def due_periods(self, session: Session, process_id: str | None = None) -> list[DuePeriod]:
        """Periods of calendar processes that have begun and have no instance yet, oldest first.

        Due are the period under way and every earlier one that began after the process was first deployed:
        a worker that was down catches up each period it missed, once, and a new deployment does not replay
        years of history.
        """
        now, due = self.clock.now(), []
        for definition in stored.latest_of_each(session):
            if process_id not in (None, definition.process_id):
                continue
            if not (definition.executable and definition.start_cycle):
                continue
            cycle = str(self.sandbox.evaluate(definition.start_cycle, {}))
            periods = cycle_periods(cycle, now)
            if not periods:
                continue
            first = instances.first_deployed_at(session, definition.process_id)
            # Every period that began since the first deployment, and always the one under way now.
            window = [p for p in periods[:-1] if p >= first] + periods[-1:]
            taken = instances.business_keys(session, definition.process_id)
            missing = [DuePeriod(definition.process_id, p, self.period_key_at(definition, p)) for p in window]
            due += [d for d in missing if d.business_key not in taken][:CATCH_UP_LIMIT]
        return sorted(due, key=lambda d: (d.period, d.process_id))

    def period_key_at(self, definition: ProcessDefinition, moment: datetime) -> str:
        """The business key of the calendar period holding `moment`, e.g. "2027-04 月度销售计划"; for a
        process that does not start by the calendar, the day ("2027-04-30 新分销商的选择与评估")."""
        step = {"days": 1}
        if definition.start_cycle:
            step = parse_when(str(self.sandbox.evaluate(definition.start_cycle, {})).split("/")[2])
        return period_key(moment, step, period_label(definition.name, definition.process_id))

    def start_period(self, session: Session, due: DuePeriod) -> int:
        """Start the instance of one period; StaleAction if it exists (another worker was quicker)."""
        return self.start(session, due.process_id, None, business_key=due.business_key,
                          started_at=due.period.astimezone(COMPANY_TZ))

    def start_scheduled(self, session: Session, process_id: str | None = None) -> list[int]:
        """Start every due period's instance of each calendar process (or just `process_id`) in this unit of work."""
        return [self.start_period(session, due) for due in self.due_periods(session, process_id)]

    # -- jobs -----------------------------------------------------------------------------------
    def claim_jobs(self, session: Session, owner: str, lease: timedelta, limit: int = 10) -> list[int]:
        """Lease due jobs to `owner`; commit this unit of work before running them (`run_job`)."""
        return jobs.claim(session, owner, self.clock.now(), wall_now(), lease, limit)

    def release_jobs(self, session: Session, owner: str) -> int:
        """Hand back the jobs `owner` claimed but did not run (a worker shutting down); how many."""
        return jobs.release(session, owner)

    def run_job(self, session: Session, job_id: int, owner: str) -> str:
        """Run a leased job's handler and the process on from it, in this unit of work.

        Returns done | retry | incident, or lost when the lease is no longer ours (nothing is written then).
        """
        job = jobs.hold(session, job_id, owner)
        if job is None:
            return "lost"
        return self._run(session, job)

    def _run(self, session: Session, job: Job) -> str:
        now = self.clock.now()
        instance = instances.get(session, job.instance_id)
        workflow = self._load(instance) if instance.status == "running" else None
        try:
            task = find_task(workflow, job.task_guid) if workflow is not None else None
        except KeyError:
            task = None
        if task is None or task.state != TaskState.STARTED:  # the instance went on without it (e.g. cancelled)
            self._finish(job, now)
            return "done"
        revision = instances.take_revision(session, instance.id, instance.revision)
        self._advance_and_save(session, instance, workflow, None, revision, retry_guid=job.task_guid)
        if find_task(workflow, job.task_guid).state == TaskState.STARTED:
            return "incident" if job.status == jobs.INCIDENT else "retry"
        self._finish(job, now)
        return "done"

    def _finish(self, job: Job, now: datetime) -> None:
        job.status, job.finished_at, job.lease_owner, job.lease_expires_at = jobs.DONE, now, None, None

    def job_crashed(self, session: Session, job_id: int, owner: str, error: str) -> str:
        """A job's unit of work raised (a bug, a broken script after the task): count it as a failed attempt."""
        job = jobs.hold(session, job_id, owner)
        if job is None:
            return "lost"
        self._failed(session, job, error, retryable=True, now=self.clock.now())
        return "incident" if job.status == jobs.INCIDENT else "retry"

    def waiting_jobs(self, session: Session, instance_id: int) -> list[Job]:
        """Service tasks of the instance that wait for the worker, a retry, or an administrator (incidents)."""
        return jobs.waiting(session, instance_id)

    def retry_now(self, session: Session, job_id: int, login: str) -> bool:
        """An administrator runs a failed service task (an incident, or one waiting for its retry) at once,
        e.g. after fixing what it needed; it gets a fresh series of retries. True when it went through."""
        if not org.actor(session, login).is_admin:
            raise NotPermitted("只有管理员可以立即重试失败的服务任务")
        job = jobs.lock_open(session, job_id)
        if job is None:
            raise StaleAction("该服务任务已不需要重试, 或正由后台任务执行")
        now = self.clock.now()
        audit.record(session, "retry", now, actor=login, instance_id=job.instance_id, job_id=job.id)
        job.status, job.attempts, job.lease_owner = jobs.RUNNING, 1, f"admin:{login}"
        job.lease_expires_at = wall_now() + timedelta(minutes=5)
        return self._run(session, job) == "done"

    def schedule_retry(self, session: Session, instance_id: int, failure: dict, now: datetime) -> None:
        """A service task's handler failed (inline or in a job): retry later, or give up as an incident."""
        job = self._job_for(session, instance_id, failure, now)
        if job.status != jobs.RUNNING:  # the first, inline attempt
            job.attempts = 1
        self._failed(session, job, failure["error"], bool(failure["retryable"]), now)

    def defer(self, session: Session, instance_id: int, failure: dict, now: datetime) -> None:
        """An asyncBefore service task reached: a job for the worker, due now."""
        job = self._job_for(session, instance_id, failure, now)
        job.status, job.due_at = jobs.PENDING, now

    def _job_for(self, session: Session, instance_id: int, failure: dict, now: datetime) -> Job:
        job = jobs.for_task(session, failure["task_guid"])
        if job is None:
            job = Job(key=jobs.key_for(failure["task_guid"]), instance_id=instance_id, task_guid=failure["task_guid"],
                      topic=failure["topic"] or "", element_id=failure.get("element_id"), status=jobs.PENDING,
                      attempts=0, retryable=True, due_at=now, created_at=now)
            session.add(job)
        return job

    def _failed(self, session: Session, job: Job, error: str, retryable: bool, now: datetime) -> None:
        job.last_error, job.retryable = error, retryable
        job.lease_owner = job.lease_expires_at = None
        if retryable and job.attempts < self.max_attempts:
            job.status, job.due_at = jobs.PENDING, now + self.retry_delay(job.attempts)
            return
        # Retrying cannot help (or did not): an incident waits for an administrator (retry_now).
        job.status = jobs.INCIDENT
        session.flush()
        audit.record(session, "incident", now, instance_id=job.instance_id, job_id=job.id, topic=job.topic,
                     element_id=job.element_id, error=error, attempts=job.attempts)
