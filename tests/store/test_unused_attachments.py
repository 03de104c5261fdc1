"""Uploads nothing uses are removed (engine.remove_unused_attachments, engine/store/attachments.py `unused`).

A file is removed only when its task ended and it was uploaded more than a day ago, and nothing of its instance's
names it: a submission, a draft, a later task's prefill, the instance's data, a 备案 record. The process and its
uploads: tests/forecast_uploads.py.
"""

from __future__ import annotations

import json

import pytest
from forecast_uploads import EXPIRES, FORECAST, PDF, ROWS, Forecast
from sqlalchemy import text
from testkit import edit

from engine.store import archive_chain, attachments, tasks
from engine.store.models import ArchiveRecord, HumanTask, InstanceHistory, ProcessInstance


@pytest.fixture
def forecast(env):
    return Forecast(env)


def test_a_replaced_upload_of_a_completed_task_is_removed_after_a_day_and_not_before(forecast):
    instance_id, task_id = forecast.start()
    first = forecast.upload(task_id, "初稿.pdf")  # the form came back with problems; then another file was chosen
    final = forecast.upload(task_id, "定稿.pdf")
    forecast.fill(task_id, final)

    forecast.later(hours=23, minutes=59)
    assert forecast.removed_ids() == []
    assert forecast.stored() == {first["id"], final["id"]} and forecast.events() == []

    forecast.later(minutes=2)
    assert forecast.removed_ids() == [first["id"]]
    assert forecast.stored() == {final["id"]}
    (event,) = forecast.events()
    assert (event.instance_id, event.actor, event.at) == (instance_id, None, forecast.env.clock.now())
    assert event.detail == {"name": "初稿.pdf", "attachments": [
        {"id": first["id"], "name": "初稿.pdf", "task_id": task_id, "field": "basis", "size": len(PDF)}]}
    assert forecast.removed_ids() == [] and len(forecast.events()) == 1  # nothing is removed or told twice


def test_an_upload_that_came_in_after_its_task_ended_waits_its_own_day(forecast):
    """The person's page stored it just after someone else completed the task: they are shown it, and may fetch it."""
    _, task_id = forecast.start()
    forecast.fill(task_id)
    forecast.later(hours=12)
    late = forecast.upload(task_id, "晚到.pdf")

    forecast.later(hours=13)  # the task ended more than a day ago, the file came in 13 hours ago
    assert forecast.removed_ids() == []
    forecast.later(hours=12)
    assert forecast.removed_ids() == [late["id"]]


def test_uploads_of_open_and_claimed_tasks_are_kept_however_old(forecast):
    _, open_task = forecast.start("2027-04")
    _, claimed_task = forecast.start("2027-05")
    forecast.env.tx(lambda s: forecast.engine.claim(s, claimed_task, "bj"))
    kept = [forecast.upload(open_task, "草稿.pdf")["id"], forecast.upload(claimed_task, "依据.pdf")["id"]]

    forecast.later(days=90)
    assert forecast.removed_ids() == []
    assert forecast.stored() == set(kept)


def test_the_upload_a_draft_names_is_kept_and_an_unnamed_one_of_the_same_task_is_removed(forecast):
    _, task_id = forecast.start()
    drafted = forecast.upload(task_id, "草稿依据.pdf")
    forecast.env.tx(lambda s: forecast.engine.save_draft(s, task_id, "bj", {"basis": drafted}))
    abandoned = forecast.upload(task_id, "放弃.pdf")
    forecast.fill(task_id)  # submitted without a file: the draft still names the first one

    forecast.later(days=2)
    assert forecast.removed_ids() == [abandoned["id"]]
    assert forecast.stored() == {drafted["id"]}


def test_the_file_a_later_round_starts_from_is_kept(forecast):
    instance_id, first_round = forecast.start()
    earlier = forecast.upload(first_round, "依据.pdf")
    forecast.fill(first_round, earlier)
    forecast.review(instance_id, "reject")
    second_round = forecast.open_task(instance_id)
    assert forecast.env.tx(lambda s: tasks.get(s, second_round).prefill["basis"]) == earlier
    tried = forecast.upload(second_round, "新依据.pdf")  # chosen, then the person kept the earlier file after all
    forecast.fill(second_round, earlier)
    forecast.review(instance_id, "approve")
    assert forecast.env.tx(lambda s: s.get(ProcessInstance, instance_id).status) == "completed"

    forecast.later(days=2)
    assert forecast.removed_ids() == [tried["id"]]
    assert forecast.stored() == {earlier["id"]}


def _name_in_later_submission(s, instance_id, later_task, file):
    s.get(HumanTask, later_task).submitted = {"basis": file}


def _name_in_prefill(s, instance_id, later_task, file):
    s.get(HumanTask, later_task).prefill = {"basis": file}


def _name_in_instance_data(s, instance_id, later_task, file):
    """As a handler's output would: the instance's data, which later tasks are prefilled from."""
    instance = s.get(ProcessInstance, instance_id)
    state = json.loads(instance.state)
    state["data"]["evidence"] = file
    instance.state = json.dumps(state)


def _name_in_history(s, instance_id, later_task, file):
    """As a finished task's data in a batch of the history stored apart from the state (runtime.History)."""
    s.add(InstanceHistory(instance_id=instance_id, batch=1,
                          tasks=json.dumps({"subprocesses": {}, "tasks": {"": {"t": {"data": {"basis": file}}}}})))


def _name_in_archive(s, instance_id, later_task, file):
    archive_chain.append(s, ArchiveRecord(
        instance_id=instance_id, process_id="forecast_review", version=1, step="5", kind="forecast",
        title="销售预测 华北/北京办事处", scope="华北/北京办事处", document={"rows": ROWS, "basis": file},
        archived_by=None, archived_at=s.get(ProcessInstance, instance_id).started_at))


@pytest.mark.parametrize("name_it", [_name_in_later_submission, _name_in_prefill, _name_in_instance_data,
                                     _name_in_history, _name_in_archive])
def test_a_file_any_reference_of_its_instance_names_is_kept(forecast, name_it):
    instance_id, first_round = forecast.start()
    named = forecast.upload(first_round, "被引用.pdf")
    unnamed = forecast.upload(first_round, "无引用.pdf")
    forecast.fill(first_round)  # neither is in the submission
    forecast.review(instance_id, "reject")
    later_task = forecast.open_task(instance_id)
    forecast.env.tx(lambda s: name_it(s, instance_id, later_task, named))

    forecast.later(days=2)
    assert forecast.removed_ids() == [unnamed["id"]]
    assert forecast.stored() == {named["id"]}


def test_a_reference_in_another_instance_does_not_keep_a_file(forecast):
    """A task keeps only its own instance's files: a crafted value elsewhere must not pin one forever."""
    instance_id, task_id = forecast.start("2027-04")
    abandoned = forecast.upload(task_id, "放弃.pdf")
    forecast.fill(task_id)
    _, other_task = forecast.start("2027-05")
    forecast.env.tx(lambda s: _name_in_prefill(s, None, other_task, abandoned))

    forecast.later(days=2)
    assert forecast.removed_ids() == [abandoned["id"]]


def test_uploads_of_a_cancelled_task_are_removed_unless_its_draft_names_them(env):
    forecast = Forecast(env, edit(FORECAST, EXPIRES))
    instance_id, task_id = forecast.start()
    drafted = forecast.upload(task_id, "草稿依据.pdf")
    forecast.env.tx(lambda s: forecast.engine.save_draft(s, task_id, "bj", {"basis": drafted}))
    abandoned = forecast.upload(task_id, "放弃.pdf")
    forecast.later(days=2, minutes=1)
    assert env.tx(lambda s: forecast.engine.fire_timers(s, instance_id))
    assert env.tx(lambda s: (tasks.get(s, task_id).state, s.get(ProcessInstance, instance_id).status)) == (
        "cancelled", "completed")

    assert forecast.removed_ids() == []  # uploaded days ago, but its task ended just now: its page may be open
    forecast.later(days=1, minutes=1)
    assert forecast.removed_ids() == [abandoned["id"]]
    assert forecast.stored() == {drafted["id"]}


def test_a_batch_removes_at_most_its_limit_and_the_next_goes_on_after_it(forecast):
    instance_id, first_round = forecast.start()
    pinned = forecast.upload(first_round, "被引用.pdf")  # looked at, kept: it must not hold the search up
    dropped = [forecast.upload(first_round, f"放弃{n}.pdf")["id"] for n in range(3)]
    forecast.fill(first_round)
    forecast.review(instance_id, "reject")
    forecast.env.tx(lambda s: _name_in_prefill(s, instance_id, forecast.open_task(instance_id), pinned))
    forecast.later(days=2)

    first = forecast.sweep(limit=1)
    assert (first.unused, first.next_after) == ([], pinned["id"])
    second = forecast.sweep(first.next_after, limit=2)
    assert ([u.id for u in second.unused], second.next_after) == (dropped[:2], dropped[1])
    last = forecast.sweep(second.next_after, limit=2)
    assert ([u.id for u in last.unused], last.next_after) == (dropped[2:], 0)  # 0: the pass has seen them all
    assert forecast.stored() == {pinned["id"]}
    assert [[a["id"] for a in e.detail["attachments"]] for e in forecast.events()] == [dropped[:2], dropped[2:]]


def test_files_their_own_task_names_take_no_place_in_a_batch(forecast):
    """Found by the database itself (most stored files are these), not after loading their instance's data."""
    _, task_id = forecast.start()
    drafted = forecast.upload(task_id, "草稿依据.pdf")
    forecast.env.tx(lambda s: forecast.engine.save_draft(s, task_id, "bj", {"basis": drafted, "note": "初稿",
                                                                            "forecast": ROWS, "growth": None}))
    submitted = forecast.upload(task_id, "依据.pdf")
    abandoned = forecast.upload(task_id, "放弃.pdf")
    forecast.fill(task_id, submitted)
    forecast.later(days=2)

    batch = forecast.sweep(limit=1)
    assert ([u.id for u in batch.unused], batch.next_after) == ([abandoned["id"]], abandoned["id"])
    assert forecast.stored() == {drafted["id"], submitted["id"]}


def test_a_batch_looks_at_a_bounded_window_of_ids(forecast):
    _, task_id = forecast.start()
    dropped = [forecast.upload(task_id, f"放弃{n}.pdf")["id"] for n in range(3)]
    forecast.fill(task_id)
    forecast.later(days=2)
    cutoff = forecast.env.clock.now() - attachments.UNUSED_GRACE

    first = forecast.env.tx(lambda s: attachments.unused(s, cutoff, scan=2))
    assert ([u.id for u in first.unused], first.next_after) == (dropped[:2], dropped[1])
    last = forecast.env.tx(lambda s: attachments.unused(s, cutoff, first.next_after, scan=2))
    assert ([u.id for u in last.unused], last.next_after) == (dropped[2:], 0)


def test_a_dry_run_finds_the_same_files_and_removes_nothing(forecast):
    instance_id, task_id = forecast.start()
    abandoned = forecast.upload(task_id, "放弃.pdf")
    forecast.fill(task_id)
    forecast.later(days=2)

    found = forecast.sweep(dry_run=True)
    assert [(u.id, u.instance_id, u.task_id, u.filename) for u in found.unused] == [
        (abandoned["id"], instance_id, task_id, "放弃.pdf")]
    assert forecast.stored() == {abandoned["id"]} and forecast.events() == []
    assert forecast.removed_ids() == [abandoned["id"]]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_at_once_never_remove_or_audit_the_same_file(forecast, env):
    """PostgreSQL, where several workers run: the files one batch found stay locked until it commits, and a
    batch running meanwhile passes them by."""
    _, task_id = forecast.start()
    abandoned = forecast.upload(task_id, "放弃.pdf")
    forecast.fill(task_id)
    forecast.later(days=2)
    with env.sessions() as first, env.sessions() as second:
        found = env.engine.remove_unused_attachments(first)
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting for the first batch would be the bug
        meanwhile = env.engine.remove_unused_attachments(second)
        second.commit()
        first.commit()
    assert ([u.id for u in found.unused], meanwhile.unused) == ([abandoned["id"]], [])
    assert forecast.stored() == set() and len(forecast.events()) == 1
