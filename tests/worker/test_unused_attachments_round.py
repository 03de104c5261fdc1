"""The worker's round removes a small batch of uploads nothing uses, says how many, and goes on next round.

The process and its uploads: tests/forecast_uploads.py; what counts as unused: tests/store/test_unused_attachments.py.
"""

from __future__ import annotations

from forecast_uploads import Forecast

from engine.store.attachments import UNUSED_BATCH
from engine.worker import Worker, describe


def test_each_round_removes_one_batch_and_the_next_round_goes_on(env):
    forecast = Forecast(env)
    worker = Worker(env.engine, env.sessions)
    instance_ids, dropped, kept = [], [], []
    for month in (4, 5):
        instance_id, task_id = forecast.start(f"2027-0{month} 月度销售预测")
        instance_ids.append(instance_id)
        dropped += [forecast.upload(task_id, f"放弃{n}.pdf")["id"] for n in range(UNUSED_BATCH // 2 + 1)]
        kept.append(forecast.upload(task_id, "依据.pdf"))
        forecast.fill(task_id, kept[-1])

    assert worker.run_once().attachments_removed == 0  # uploaded just now: within the grace period
    forecast.later(days=1, minutes=1)
    first = worker.run_once()
    assert (first.attachments_removed, first.errors) == (UNUSED_BATCH, 0)
    assert f"清理 {UNUSED_BATCH} 个无用附件, 出错 0 次" in describe(first) and first.busy()
    second = worker.run_once()
    assert second.attachments_removed == len(dropped) - UNUSED_BATCH
    assert worker.run_once().attachments_removed == 0
    assert forecast.stored() == {k["id"] for k in kept}
    events = forecast.events()
    assert sorted({e.instance_id for e in events}) == instance_ids
    assert sorted(a["id"] for e in events for a in e.detail["attachments"]) == dropped


def test_a_one_round_worker_removes_them_all(env):
    """`smflow worker --once` (from cron) is a new process each time: its one round goes through every upload."""
    forecast = Forecast(env)
    instance_id, task_id = forecast.start("2027-04 月度销售预测")
    dropped = [forecast.upload(task_id, f"放弃{n}.pdf")["id"] for n in range(UNUSED_BATCH * 2 + 1)]
    kept = forecast.upload(task_id, "依据.pdf")
    forecast.fill(task_id, kept)
    forecast.later(days=1, minutes=1)

    report = Worker(env.engine, env.sessions).run_once(whole_pass=True)
    assert (report.attachments_removed, report.errors) == (len(dropped), 0)
    assert forecast.stored() == {kept["id"]}
    assert Worker(env.engine, env.sessions).run_once(whole_pass=True).attachments_removed == 0
