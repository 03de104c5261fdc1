"""`smflow attachments clean [--dry-run]`: the uploads nothing uses, listed, then removed (a whole pass at once).

The command runs on the wall clock: the files are uploaded days before today. The process and its uploads:
tests/forecast_uploads.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from click.testing import CliRunner
from forecast_uploads import PDF, Forecast

from engine.clock import COMPANY_TZ
from web.cli import main


def _clean(url: str, *args: str):
    result = CliRunner().invoke(main, ["--db", url, "attachments", "clean", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_a_dry_run_lists_what_clean_then_removes(env, clock):
    clock.set(datetime.now(COMPANY_TZ) - timedelta(days=3))
    forecast = Forecast(env)
    instance_id, task_id = forecast.start("2027-04 月度销售预测")
    abandoned = forecast.upload(task_id, "放弃的依据.pdf")
    submitted = forecast.upload(task_id, "依据.pdf")
    forecast.fill(task_id, submitted)
    clock.set(datetime.now(COMPANY_TZ) - timedelta(hours=2))
    _, recent_task = forecast.start("2027-05 月度销售预测")
    recent = forecast.upload(recent_task, "刚上传.pdf")  # unused too, but within the day's grace
    forecast.fill(recent_task)
    everything = {abandoned["id"], submitted["id"], recent["id"]}

    dry = _clean(env.url, "--dry-run").stdout
    (line,) = [line for line in dry.splitlines() if ".pdf" in line]  # one row: neither the others
    assert line.split()[:5] == [str(abandoned["id"]), str(instance_id), str(task_id), "basis", "放弃的依据.pdf"]
    assert f"试运行: 将删除 1 个无用附件 (共 {len(PDF)} 字节), 什么也没有删除" in dry
    listed = json.loads(_clean(env.url, "--dry-run", "--json").stdout)
    assert listed["dry_run"] is True and (listed["count"], listed["bytes"]) == (1, len(PDF))
    (row,) = listed["attachments"]
    assert {k: row[k] for k in ("id", "name", "instance_id", "task_id", "field")} == {
        "id": abandoned["id"], "name": "放弃的依据.pdf", "instance_id": instance_id, "task_id": task_id,
        "field": "basis"}
    assert forecast.stored() == everything and forecast.events() == []

    done = _clean(env.url).stdout
    assert "放弃的依据.pdf" in done and f"已删除 1 个无用附件 (共 {len(PDF)} 字节)" in done
    assert forecast.stored() == everything - {abandoned["id"]}
    (event,) = forecast.events()
    assert event.instance_id == instance_id and event.detail["name"] == "放弃的依据.pdf"
    assert "没有无用的附件" in _clean(env.url).stdout
