"""The calendar, timers and retries: what `smflow worker` drives (a mixin of Engine)."""

from __future__ import annotations

from datetime import datetime, timedelta

from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from .clock import COMPANY_TZ
from .errors import NotPermitted, StaleAction
from .runtime import find_task
from .store import audit, instances, jobs, org
from .store import definitions as stored
from .store.models import Job
from .timers import cycle_periods

RETRY_DELAYS = (60, 300, 1800, 7200)  # seconds between handler retries
NEVER = timedelta(days=100 * 365)


class Scheduling:
    def due_timer_instances(self, session: Session) -> list[int]:
        return instances.due_for_timers(session, self.clock.now())

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

    def scheduled_processes(self, session: Session) -> list[str]:
        """The processes that start by the calendar (a timer-cycle start event in their latest version)."""
        return [d.process_id for d in stored.latest_of_each(session) if d.executable and d.start_cycle]

    def start_scheduled(self, session: Session, process_id: str | None = None) -> list[int]:
        """Start this period's instance of each calendar process (or just `process_id`), once per period."""
        started = []
        now = self.clock.now()
        for definition in stored.latest_of_each(session):
            wanted = process_id in (None, definition.process_id)
            if not (wanted and definition.executable and definition.start_cycle):
                continue
            periods = cycle_periods(str(self.sandbox.evaluate(definition.start_cycle, {})), now)
            if not periods:
                continue
            # A missed period is not back-filled: only the current one runs.
            period = periods[-1].astimezone(COMPANY_TZ)
            key = period.strftime("%Y-%m-%d")
            if instances.by_business_key(session, definition.process_id, key):
                continue
            started.append(self.start(session, definition.process_id, None, business_key=key, started_at=period))
        return started

    def due_jobs(self, session: Session) -> list[int]:
        return jobs.due(session, self.clock.now())

    def waiting_jobs(self, session: Session, instance_id: int) -> list[Job]:
        """Service tasks of the instance whose handler failed and that wait for a retry."""
        return jobs.waiting(session, instance_id)

    def retry_now(self, session: Session, job_id: int, login: str) -> bool:
        """An administrator retries a failed service task at once (e.g. after fixing the data it needed)."""
        if not org.actor(session, login).is_admin:
            raise NotPermitted("只有管理员可以立即重试失败的服务任务")
        job = session.get(Job, job_id)
        if job is None or job.done:
            raise StaleAction("该服务任务已不需要重试")
        job.due_at = self.clock.now()
        audit.record(session, "retry", self.clock.now(), actor=login, instance_id=job.instance_id, job_id=job.id)
        return self.retry_job(session, job_id)

    def retry_job(self, session: Session, job_id: int) -> bool:
        """Run a failed service task again; True when it went through (False if done or another worker has it)."""
        job = jobs.claim(session, job_id)
        if job is None:
            return False
        instance = instances.get(session, job.instance_id)
        workflow = self._load(instance)
        revision = instances.take_revision(session, instance.id, instance.revision)
        job.attempts += 1
        self._advance_and_save(session, instance, workflow, None, revision, retry_guid=job.task_guid)
        task = find_task(workflow, job.task_guid)
        job.done = task.state != TaskState.STARTED
        return job.done

    def schedule_retry(self, session: Session, instance_id: int, failure: dict, now: datetime) -> None:
        job = jobs.open_for_task(session, failure["task_guid"])
        if job is None:
            job = Job(instance_id=instance_id, task_guid=failure["task_guid"], topic=failure["topic"] or "",
                      attempts=0, done=False, due_at=now)
            session.add(job)
        delay = RETRY_DELAYS[min(job.attempts, len(RETRY_DELAYS) - 1)]
        job.retryable = bool(failure["retryable"])
        # A failure retrying cannot fix waits for a person (Engine.retry_now), not for the worker.
        job.due_at = now + (timedelta(seconds=delay) if job.retryable else NEVER)
        job.last_error = failure["error"]
