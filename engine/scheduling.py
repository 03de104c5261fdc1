"""The calendar, timers and service-task jobs: what `smflow worker` drives (a mixin of Engine).

Every method is one unit of work on the caller's session; engine/worker.py strings them together.

A timer whose firing fails (a script or condition on its path, a bug) is retried like a service task: its unit
of work is rolled back, then a job of the instance's (`jobs.timer_key`) records the attempt and fires the
instance's timers again after the back-off, until it becomes an incident for an administrator. A calendar period
whose instance fails at its first steps is stored at its start, unrun, with such a job.

Waiting timers fire only here (`_fire`), never in a person's step or a service task's retry (see timers.firing):
a failing timer cannot block the people working on its instance. A timer job whose instance has nothing due any
more (it ended, or a person took it past the timer) is closed without firing (`close_obsolete_timers`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from SpiffWorkflow.util.task import TaskState
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .clock import COMPANY_TZ
from .errors import (
    Conflict,
    HandlerFailed,
    NotPermitted,
    SmflowError,
    StaleAction,
    WorkflowError,
    message_record,
    stored_message,
)
from .runtime import find_task
from .store import attachments, audit, instances, jobs, org
from .store import definitions as stored
from .store.models import Job, ProcessDefinition, ProcessInstance
from .timers import cycle_periods, firing, parse_when

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


@dataclass(frozen=True)
class Failure:
    """A unit of work of the worker's that raised, as a job records it."""

    error: str
    retryable: bool
    element_id: str | None = None


def failure_of(exc: Exception) -> Failure:
    """Whether trying again later can help: a script or condition that failed (its data may come from a handler
    on the same path), a conflict, a database error or a bug, yes; an error that refuses the work itself (not
    found, not permitted, invalid, already done, a handler that says so) no."""
    if not isinstance(exc, SmflowError):
        return Failure(f"{type(exc).__name__}: {exc}", True)
    retryable = isinstance(exc, WorkflowError) or exc.retryable
    return Failure(exc.message, retryable, exc.context.get("element_id"))


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
        """Let the instance's due timers fire and run on; False when nothing was due (or another worker has it,
        or its timer job does: see timer_failed)."""
        if not instances.claim_due(session, instance_id, self.clock.now()):
            return False
        self._fire(session, instances.get(session, instance_id))
        return True

    def _fire(self, session: Session, instance: ProcessInstance) -> None:
        """The only unit of work in which waiting timers fire (see timers.firing): any other step leaves them."""
        workflow = self._load(session, instance)
        revision = instances.take_revision(session, instance.id, instance.revision)
        with firing(workflow):
            self.runtime.fire_timers(workflow)
            audit.record(session, "timer_fired", self.clock.now(), instance_id=instance.id)
            self._advance_and_save(session, instance, workflow, None, revision)

    def timer_failed(self, session: Session, instance_id: int, failure: Failure) -> str:
        """Firing the instance's timers failed and its unit of work was rolled back: the first attempt of its
        timer job, which fires them again after the back-off (or waits for an administrator at once when retrying
        cannot help). Returns retry | incident, or lost when the instance has ended meanwhile (nothing written)."""
        instance = session.get(ProcessInstance, instance_id)
        if instance is None or instance.status != "running":
            return "lost"
        now = self.clock.now()
        job, made = jobs.lock_timer(session, instance_id, now)
        if not made and job.status in jobs.OPEN:  # another worker fired it at the same moment and recorded this
            return self._outcome(job)
        job.element_id, job.attempts, job.finished_at = failure.element_id, 1, None
        self._failed(session, job, failure.error, failure.retryable, now)
        return self._outcome(job)

    def _run_timer_job(self, session: Session, job: Job) -> str:
        instance, now = instances.get(session, job.instance_id), self.clock.now()
        if jobs.nothing_due(instance, now):
            self._close_obsolete(session, job, instance, now)
            return "obsolete"
        self._fire(session, instance)
        self._finish(job, now)
        return "done"

    def close_obsolete_timers(self, session: Session) -> int:
        """Close the timer jobs (waiting for their retry, or incidents) whose instance has nothing left for them to
        fire: it ended, or a person's step took it past the failing timer. How many."""
        now = self.clock.now()
        obsolete = jobs.obsolete_timers(session, now)
        for job, instance in obsolete:
            self._close_obsolete(session, job, instance, now)
        return len(obsolete)

    def _close_obsolete(self, session: Session, job: Job, instance: ProcessInstance, now: datetime) -> None:
        """Done without firing: the audit trail says why, and an incident leaves the administrators' list."""
        reason = "instance_ended" if instance.status != "running" else "no_due_timer"
        audit.record(session, "timer_obsolete", now, instance_id=job.instance_id, job_id=job.id, reason=reason,
                     element_id=job.element_id, error=stored_message(job.last_error, job.last_error_message),
                     attempts=job.attempts)
        self._finish(job, now)

    def _retry_timer_now(self, session: Session, job: Job) -> str:
        """An administrator's retry of a timer job: fired in a savepoint, so that a failure is recorded on the
        job (a fresh series of retries, as for a service task) and nothing else of the attempt is kept."""
        savepoint = session.begin_nested()
        try:
            outcome = self._run_timer_job(session, job)
        except (Conflict, DBAPIError):
            raise  # someone changed the instance meanwhile, or a lock race: the whole unit of work runs again
        except Exception as exc:  # noqa: BLE001 - recorded on the job, as the worker records it
            savepoint.rollback()
            failure, now = failure_of(exc), self.clock.now()
            audit.record(session, "error", now, instance_id=job.instance_id, element_id=failure.element_id,
                         error=failure.error)
            job.element_id = failure.element_id or job.element_id
            self._failed(session, job, failure.error, failure.retryable, now)
            return self._outcome(job)
        savepoint.commit()
        return outcome

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

    def start_period(self, session: Session, due: DuePeriod, run: bool = True) -> int:
        """Start the instance of one period; StaleAction if it exists (another worker was quicker)."""
        return self.start(session, due.process_id, None, business_key=due.business_key,
                          started_at=due.period.astimezone(COMPANY_TZ), run=run)

    def start_failed(self, session: Session, due: DuePeriod, failure: Failure) -> str:
        """Starting a period's instance failed at its first steps and the unit of work was rolled back: the
        instance is stored at its start, unrun, and its timer job runs it on after the back-off (the calendar
        sees the period taken). Returns retry | incident, or lost when another worker started it meanwhile."""
        if instances.by_business_key(session, due.process_id, due.business_key) is not None:
            return "lost"
        return self.timer_failed(session, self.start_period(session, due, run=False), failure)

    def start_scheduled(self, session: Session, process_id: str | None = None) -> list[int]:
        """Start every due period's instance of each calendar process (or just `process_id`) in this unit of work."""
        return [self.start_period(session, due) for due in self.due_periods(session, process_id)]

    # -- upkeep ---------------------------------------------------------------------------------
    def remove_unused_attachments(self, session: Session, after: int = 0, limit: int = attachments.UNUSED_BATCH,
                                  dry_run: bool = False) -> attachments.Sweep:
        """One batch of uploads nothing uses (attachments.unused) removed, from attachment id `after` on, with an
        audit event per instance naming its removed files; `dry_run` only finds them. Go on from `next_after`."""
        now = self.clock.now()
        sweep = attachments.unused(session, now - attachments.UNUSED_GRACE, after, limit, lock=not dry_run)
        if dry_run:
            return sweep
        removed = attachments.remove(session, sweep.unused)
        by_instance: dict[int, list[attachments.Unused]] = {}
        for file in removed:
            by_instance.setdefault(file.instance_id, []).append(file)
        for instance_id, files in by_instance.items():
            audit.record(session, "attachments_removed", now, instance_id=instance_id,
                         name="、".join(f.filename for f in files), attachments=[f.to_dict() for f in files])
        return attachments.Sweep(removed, sweep.next_after)

    # -- jobs -----------------------------------------------------------------------------------
    def claim_jobs(self, session: Session, owner: str, lease: timedelta, limit: int = 10) -> list[int]:
        """Lease due jobs to `owner`; commit this unit of work before running them (`run_job`)."""
        return jobs.claim(session, owner, self.clock.now(), wall_now(), lease, limit)

    def release_jobs(self, session: Session, owner: str) -> int:
        """Hand back the jobs `owner` claimed but did not run (a worker shutting down); how many."""
        return jobs.release(session, owner)

    def run_job(self, session: Session, job_id: int, owner: str) -> str:
        """Run a leased job's handler and the process on from it, in this unit of work.

        Returns done | retry | incident, obsolete when nothing was left for it to do (the instance ended or went on
        without it: closed), or lost when the lease is no longer ours (nothing is written then).
        """
        job = jobs.hold(session, job_id, owner)
        if job is None:
            return "lost"
        return self._run(session, job)

    def _run(self, session: Session, job: Job) -> str:
        if jobs.is_timer(job):
            return self._run_timer_job(session, job)
        now = self.clock.now()
        instance = instances.get(session, job.instance_id)
        workflow = self._load(session, instance) if instance.status == "running" else None
        try:
            task = find_task(workflow, job.task_guid) if workflow is not None else None
        except KeyError:
            task = None
        if task is None or task.state != TaskState.STARTED:  # the instance went on without it (e.g. cancelled)
            self._finish(job, now)
            return "obsolete"
        revision = instances.take_revision(session, instance.id, instance.revision)
        self._advance_and_save(session, instance, workflow, None, revision, retry_guid=job.task_guid)
        if find_task(workflow, job.task_guid).state == TaskState.STARTED:
            return "incident" if job.status == jobs.INCIDENT else "retry"
        self._finish(job, now)
        return "done"

    def _finish(self, job: Job, now: datetime) -> None:
        job.status, job.finished_at, job.lease_owner, job.lease_expires_at = jobs.DONE, now, None, None

    def job_crashed(self, session: Session, job_id: int, owner: str, failure: Failure) -> str:
        """A job's unit of work raised (a bug, a broken script after the task, a timer's path): count it as a
        failed attempt."""
        job = jobs.hold(session, job_id, owner)
        if job is None:
            return "lost"
        if jobs.is_timer(job):  # where its path broke this time (a service task's job keeps its task)
            job.element_id = failure.element_id or job.element_id
        self._failed(session, job, failure.error, failure.retryable, now=self.clock.now())
        return self._outcome(job)

    @staticmethod
    def _outcome(job: Job) -> str:
        return "incident" if job.status == jobs.INCIDENT else "retry"

    def waiting_jobs(self, session: Session, instance_id: int) -> list[Job]:
        """Service tasks of the instance that wait for the worker, a retry, or an administrator (incidents)."""
        return jobs.waiting(session, instance_id)

    def retry_now(self, session: Session, job_id: int, login: str) -> str:
        """An administrator runs a failed service task or timer (an incident, or one waiting for its retry) at
        once, e.g. after fixing what it needed; it gets a fresh series of retries. Returns done (it went through),
        obsolete (nothing was left for it to do: closed), or retry | incident (it failed again)."""
        if not org.actor(session, login).is_admin:
            raise NotPermitted("只有管理员可以立即重试失败的服务任务")
        job = jobs.lock_open(session, job_id)
        if job is None:
            raise StaleAction("该服务任务已不需要重试, 或正由后台任务执行")
        now = self.clock.now()
        audit.record(session, "retry", now, actor=login, instance_id=job.instance_id, job_id=job.id)
        job.status, job.attempts, job.lease_owner = jobs.RUNNING, 1, f"admin:{login}"
        job.lease_expires_at = wall_now() + timedelta(minutes=5)
        if jobs.is_timer(job):
            return self._retry_timer_now(session, job)
        return self._run(session, job)

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
        job.last_error, job.last_error_message, job.retryable = error, message_record(error), retryable
        job.lease_owner = job.lease_expires_at = None
        if retryable and job.attempts < self.max_attempts:
            job.status, job.due_at = jobs.PENDING, now + self.retry_delay(job.attempts)
            return
        # Retrying cannot help (or did not): an incident waits for an administrator (retry_now).
        job.status = jobs.INCIDENT
        session.flush()
        audit.record(session, "incident", now, instance_id=job.instance_id, job_id=job.id, topic=job.topic,
                     element_id=job.element_id, error=error, attempts=job.attempts)
