"""`smflow worker` and `smflow users email` as a person types them: the test clock, JSON reports, errors."""

from __future__ import annotations

import json
from datetime import datetime

import stock_handler
from click.testing import CliRunner
from sqlalchemy import select
from worker_helpers import HERE, WorkerDb

from engine import FixedClock
from engine.clock import COMPANY_TZ
from engine.store.db import make_engine, make_session_factory
from engine.store.models import Job, Notification, ProcessInstance, User
from web.cli import main

DEADLINE = HERE.parent / "fixtures" / "deadline.bpmn"  # monthly from 2027-01-02, a deadline on the 10th


def run(url: str, *args: str):
    return CliRunner().invoke(main, ["--db", url, *args])


def read(url: str, query):
    db = make_engine(url)
    try:
        with make_session_factory(db)() as session:
            return list(session.scalars(query))
    finally:
        db.dispose()


def deploy_in_december(url: str) -> None:
    """Deployed on 2026-12-01 whenever the test runs: the calendar's catch-up starts at the first deployment."""
    company = WorkerDb(url, FixedClock(datetime(2026, 12, 1, 10, tzinfo=COMPANY_TZ)))
    company.tx(lambda s: company.engine.deploy(s, DEADLINE.read_bytes(), DEADLINE.name, None))
    company.db.dispose()


def test_the_test_clock_decides_what_is_due(sqlite_url):
    deploy_in_december(sqlite_url)
    early = run(sqlite_url, "--json", "worker", "--once", "--now", "2026-12-31T23:59:00+08:00")
    assert json.loads(early.stdout)["started"] == 0
    march = run(sqlite_url, "--json", "worker", "--once", "--now", "2027-03-05T08:00:00")  # Beijing time
    assert json.loads(march.stdout) | {"messages": []} == {
        "started": 3, "fired": 0, "jobs_done": 0, "jobs_retry": 0, "incidents": 0, "mails_sent": 0,
        "attachments_removed": 0, "errors": 0, "messages": []}
    keys = read(sqlite_url, select(ProcessInstance.business_key).order_by(ProcessInstance.id))
    assert keys == ["2027-01 月度上报", "2027-02 月度上报", "2027-03 月度上报"]
    # January's and February's instances, started late, found their 10th long past and said so at once.
    assert len(read(sqlite_url, select(Notification))) == 2
    again = run(sqlite_url, "worker", "--once", "--now", "2027-03-10T18:30:00+08:00")
    assert "启动 0 个定时流程, 触发 1 个实例的定时器" in again.stdout and "出错 0 次" in again.stdout
    assert len(read(sqlite_url, select(Notification))) == 3


def test_a_wrong_moment_or_handler_module_is_refused(sqlite_url, tmp_path):
    wrong = run(sqlite_url, "worker", "--once", "--now", "next tuesday")
    assert wrong.exit_code == 2 and "--now" in wrong.output
    missing = run(sqlite_url, "worker", "--once", "--handlers", str(tmp_path / "nowhere.py"))
    assert missing.exit_code == 2 and "nowhere.py" in missing.output


def test_users_get_an_email_address(sqlite_url):
    assert run(sqlite_url, "users", "add", "li", "--name", "李娜").exit_code == 0
    assert run(sqlite_url, "users", "email", "li", "li@example.com").exit_code == 0
    assert read(sqlite_url, select(User.email)) == ["li@example.com"]
    cleared = run(sqlite_url, "users", "email", "li")
    assert "已清除" in cleared.output and read(sqlite_url, select(User.email)) == [None]
    assert run(sqlite_url, "users", "email", "nobody", "x@example.com").exit_code == 2


def test_a_failing_timer_waits_out_its_back_off_across_worker_rounds(sqlite_url, tmp_path):
    company = WorkerDb(sqlite_url, FixedClock(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ)))
    stock_handler.register(company.engine.handlers)  # deploying checks that its topic has a handler
    company.deploy("timer_check.bpmn")
    company.tx(lambda s: company.engine.start(s, "timer_check", None))
    company.db.dispose()
    level = tmp_path / "level"
    level.write_text("未知", encoding="utf-8")
    handlers = str(HERE / "stock_handler.py")

    def round_at(moment: str) -> dict:
        result = CliRunner(env={"SMFLOW_TEST_STOCK": str(level)}).invoke(
            main, ["--db", sqlite_url, "--json", "worker", "--once", "--now", moment, "--handlers", handlers])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        return {k: v for k, v in report.items() if v and k != "messages"}

    # `--now` starts a clock that runs on from that moment: each round is given a few seconds' margin.
    assert round_at("2027-04-03T08:59:55") == {}
    assert round_at("2027-04-03T09:00:00") == {"jobs_retry": 1, "errors": 1}
    assert round_at("2027-04-03T09:00:55") == {}  # its back-off: one minute
    assert round_at("2027-04-03T09:01:05") == {"jobs_retry": 1, "errors": 1}
    assert round_at("2027-04-03T09:03:00") == {}  # then two
    level.write_text("7", encoding="utf-8")
    assert round_at("2027-04-03T09:03:10") == {"jobs_done": 1}
    assert round_at("2027-04-04T09:00:00") == {}
    (job,) = read(sqlite_url, select(Job))
    assert (job.topic, job.status, job.attempts) == ("timer", "done", 3)
