"""`smflow worker`: rounds of background work, each piece in a unit of work of its own.

A round starts the calendar's due periods, fires due timers, runs due jobs under a lease, sends queued
e-mails and removes a batch of uploaded files nothing uses (the next batch in the next round). Any number
of workers may run on PostgreSQL; on SQLite run one. An error in one piece is reported and the round goes
on with the rest; a period or a timer that failed is retried by a job of its instance's, with the service
tasks' back-off, and becomes an incident as they do (see scheduling.py).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from .clock import Clock
from .engine import Engine
from .errors import SmflowError, StaleAction
from .mailer import Mailer
from .scheduling import failure_of
from .store.unit_of_work import in_transaction

DEFAULT_LEASE = timedelta(minutes=5)


class ShiftedClock(Clock):
    """The test clock: starts at a given moment and runs on from there at the wall clock's pace."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("ShiftedClock needs an aware datetime")
        self._start, self._began = start, time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._began)


@dataclass
class Report:
    started: int = 0
    fired: int = 0
    jobs_done: int = 0
    jobs_retry: int = 0
    incidents: int = 0
    mails_sent: int = 0
    attachments_removed: int = 0
    errors: int = 0
    messages: list[str] = field(default_factory=list)

    def busy(self) -> bool:
        return any(v for k, v in asdict(self).items() if k != "messages")

    def to_dict(self) -> dict:
        return asdict(self)


def worker_id() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session], lease: timedelta = DEFAULT_LEASE,
                 batch: int = 10, mailer: Mailer | None = None, owner: str | None = None,
                 log: Callable[[str], None] | None = None):
        self.engine = engine
        self.sessions = sessions
        self.lease = lease
        self.batch = batch
        self.mailer = mailer
        self.owner = owner or worker_id()
        self.log = log or (lambda _message: None)
        self._stopping = threading.Event()
        self._attachments_after = 0  # where the search for unused attachments goes on next round

    def stop(self) -> None:
        """Ask the worker to stop after the job at hand (safe from a signal handler)."""
        self._stopping.set()

    def tx(self, work):
        return in_transaction(self.sessions, work)

    def run_once(self, whole_pass: bool = False) -> Report:
        """Everything due now: calendar periods, timers, jobs (until none is left), e-mails, and a batch of the
        uploads nothing uses; with `whole_pass`, all of them (`smflow worker --once`: a process that runs one
        round, from cron, starts its search from the first upload each time and would never get past a batch)."""
        report = Report()
        attempt = self._attempt(report)
        for due in attempt(lambda s: self.engine.due_periods(s)) or []:
            try:
                self.tx(lambda s, d=due: self.engine.start_period(s, d))
                report.started += 1
            except StaleAction:
                pass  # another worker started this period first
            except Exception as exc:  # noqa: BLE001 - reported and retried later, the round goes on
                self._error(report, exc)
                failure = failure_of(exc)
                _count(report, attempt(lambda s, d=due, f=failure: self.engine.start_failed(s, d, f)))
        attempt(lambda s: self.engine.close_obsolete_timers(s))  # timer jobs and incidents that lost their cause
        for instance_id in attempt(lambda s: self.engine.due_timer_instances(s)) or []:
            try:
                report.fired += self.tx(lambda s, i=instance_id: self.engine.fire_timers(s, i))
            except Exception as exc:  # noqa: BLE001 - reported and retried later, the round goes on
                self._error(report, exc)
                failure = failure_of(exc)
                _count(report, attempt(lambda s, i=instance_id, f=failure: self.engine.timer_failed(s, i, f)))
        self._run_jobs(report, attempt)
        if self.mailer is not None:
            while True:
                sent, failed = attempt(lambda s: self.mailer.send_batch(s, self.engine.clock.now())) or (0, 0)
                report.mails_sent += sent
                report.errors += failed
                if not sent or failed:
                    break
        self._remove_unused_attachments(report, attempt)
        while whole_pass and self._attachments_after:
            if not self._remove_unused_attachments(report, attempt):
                break
        return report

    def _remove_unused_attachments(self, report: Report, attempt) -> bool:
        """One small batch a round: the whole pass is spread over rounds, so no round waits long for it. False
        when the batch failed (reported)."""
        sweep = attempt(lambda s: self.engine.remove_unused_attachments(s, self._attachments_after))
        if sweep is None:
            return False
        report.attachments_removed += len(sweep.unused)
        self._attachments_after = sweep.next_after
        return True

    def _run_jobs(self, report: Report, attempt) -> None:
        while not self._stopping.is_set():
            claimed = attempt(lambda s: self.engine.claim_jobs(s, self.owner, self.lease, self.batch)) or []
            if not claimed:
                return
            for job_id in claimed:
                if self._stopping.is_set():
                    break
                try:
                    outcome = self.tx(lambda s, j=job_id: self.engine.run_job(s, j, self.owner))
                except Exception as exc:  # noqa: BLE001 - counted as a failed attempt, so a poison job ends
                    self._error(report, exc)
                    failure = failure_of(exc)
                    outcome = attempt(lambda s, j=job_id, f=failure: self.engine.job_crashed(s, j, self.owner, f))
                _count(report, outcome)

    def run_forever(self, interval: float) -> None:
        """Rounds every `interval` seconds until `stop()`; claimed jobs not yet run are handed back."""
        while not self._stopping.is_set():
            report = self.run_once()
            if report.busy():
                self.log(describe(report))
            self._stopping.wait(interval)
        released = self._attempt(Report())(lambda s: self.engine.release_jobs(s, self.owner)) or 0
        if released:
            self.log(f"已交还 {released} 个未执行的任务")

    def _attempt(self, report: Report):
        def attempt(work):
            try:
                return self.tx(work)
            except Exception as exc:  # noqa: BLE001 - one broken unit of work must not stop the worker
                self._error(report, exc)
                return None
        return attempt

    def _error(self, report: Report, exc: Exception) -> None:
        report.errors += 1
        if isinstance(exc, SmflowError):
            text = f"错误: {exc.message}"
        else:
            text = f"错误 (程序缺陷, 请报告): {type(exc).__name__}: {exc}"
        report.messages.append(text)
        self.log(text)


def _count(report: Report, outcome: str | None) -> None:
    """A job's, a timer's or a period's outcome (None: its unit of work failed, reported already)."""
    if outcome in ("done", "obsolete"):  # obsolete: closed, nothing was left for it to do
        report.jobs_done += 1
    elif outcome == "retry":
        report.jobs_retry += 1
    elif outcome == "incident":
        report.incidents += 1


def describe(report: Report) -> str:
    return (f"启动 {report.started} 个定时流程, 触发 {report.fired} 个实例的定时器, "
            f"完成 {report.jobs_done} 个后台任务 (待重试 {report.jobs_retry}, 转为事故 {report.incidents}), "
            f"发送 {report.mails_sent} 封邮件, 清理 {report.attachments_removed} 个无用附件, 出错 {report.errors} 次")
