"""A worker killed with SIGKILL in the middle of a handler: another takes the job over once the lease has run
out, and the handler's effect happens once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from sqlalchemy import select
from worker_helpers import wait_for

from engine.store.models import ArchiveRecord, Event, Job, ProcessInstance

HANDLERS = str(Path(__file__).parent / "slow_handler.py")
NOW = "2027-04-02T10:00:00+08:00"


def test_a_killed_workers_job_is_taken_over_after_its_lease(pg, tmp_path):
    pg.deploy("slow_archive.bpmn")
    (instance_id,) = pg.start_many("slow_archive", 1)
    env = {"SMFLOW_TEST_SLOW_DIR": str(tmp_path)}
    (tmp_path / "block").write_text("hold the handler")

    doomed = pg.spawn("worker", "--once", "--now", NOW, "--lease", "2", "--handlers", HANDLERS, env=env)
    wait_for(lambda: (tmp_path / f"started-{doomed.pid}").exists() or doomed.poll() is not None,
             "the first worker to enter the handler")
    assert doomed.poll() is None, doomed.communicate()
    job = pg.tx(lambda s: s.scalars(select(Job)).one())
    assert (job.status, job.attempts) == ("running", 1) and job.lease_owner.split(":")[1] == str(doomed.pid)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.communicate(timeout=30)
    (tmp_path / "block").unlink()

    rescuer = pg.spawn("worker", "--interval", "0.2", "--now", NOW, "--lease", "2", "--handlers", HANDLERS, env=env)
    try:
        wait_for(lambda: pg.tx(lambda s: s.get(Job, job.id).status == "done"), "the job to be taken over")
    finally:
        rescuer.terminate()
        rescuer.communicate(timeout=30)
    assert (tmp_path / f"started-{rescuer.pid}").exists()

    job = pg.tx(lambda s: s.get(Job, job.id))
    assert (job.status, job.attempts, job.lease_owner) == ("done", 2, None)
    (record,) = pg.tx(lambda s: s.scalars(select(ArchiveRecord)).all())  # the effect, once
    assert (record.instance_id, record.job_key, record.title) == (instance_id, job.key, "单据 0")
    calls = pg.tx(lambda s: s.scalars(select(Event).where(Event.kind == "service_task")).all())
    assert len(calls) == 1
    assert pg.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "completed"
