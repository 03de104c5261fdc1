"""Four `smflow worker` processes race on PostgreSQL: every timer fires once, every handler's effect happens once."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import func, select

from engine.store.models import ArchiveRecord, Event, Job, Notification, ProcessInstance

TIMERS, JOBS, WORKERS = 200, 500, 4


def test_four_workers_share_200_timers_and_500_jobs_exactly_once(pg):
    pg.deploy("timer_notify.bpmn")
    pg.deploy("async_archive.bpmn")
    timed = pg.start_many("timer_notify", TIMERS)
    queued = pg.start_many("async_archive", JOBS)
    assert pg.tx(lambda s: s.scalar(select(func.count()).select_from(Job).where(Job.status == "pending"))) == JOBS

    workers = [pg.spawn("--json", "worker", "--once", "--now", "2027-04-03T10:00:00+08:00", "--lease", "60",
                        "--batch", "5") for _ in range(WORKERS)]
    reports = []
    for process in workers:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    print("per worker (fired, jobs):", [(r["fired"], r["jobs_done"]) for r in reports])
    assert sum(r["errors"] for r in reports) == 0, [r["messages"] for r in reports]
    assert sum(r["fired"] for r in reports) == TIMERS
    assert sum(r["jobs_done"] for r in reports) == JOBS

    def facts(s):
        fired = Counter(s.scalars(select(Event.instance_id).where(Event.kind == "timer_fired")))
        notes = list(s.execute(select(Notification.instance_id, Notification.job_key)))
        records = list(s.execute(select(ArchiveRecord.instance_id, ArchiveRecord.job_key)))
        statuses = Counter(s.scalars(select(ProcessInstance.status)))
        jobs = Counter(s.scalars(select(Job.status)))
        return fired, notes, records, statuses, jobs

    fired, notes, records, statuses, jobs = pg.tx(facts)
    assert fired == Counter({i: 1 for i in timed})  # every timer fired exactly once
    assert sorted(i for i, _ in notes) == sorted(timed)  # one notification each
    assert len({k for _, k in notes}) == TIMERS
    assert sorted(i for i, _ in records) == sorted(queued)  # one 备案 per job
    assert len({k for _, k in records}) == JOBS
    assert statuses == Counter({"completed": TIMERS + JOBS})
    assert jobs == Counter({"done": JOBS})
