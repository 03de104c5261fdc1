"""A year of the demo company run by `smflow worker --once --now …` (the test clock): the calendar starts
12 SM1.2, 12 SM1.3 and 1 SM2.2 instances, a worker that was down catches up, and March's missed SM1.3
deadlines reach the right people: in the bell and by e-mail through a local SMTP server."""

from __future__ import annotations

import functools
import json
from collections import Counter
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from engine import Engine, FixedClock, Sandbox
from engine.clock import COMPANY_TZ
from engine.routing import scope_covers
from engine.store import notifications, org
from engine.store.db import make_engine, make_session_factory
from engine.store.models import Grant, HumanTask, ProcessInstance, User
from engine.store.unit_of_work import in_transaction
from handlers import default_registry
from web.cli import main
from web.demo import MANUAL_FILES, demo_data, load_organisation, manual_file

ADDRESSES = {"planning": "planning@example.com", "executive": "executive@example.com",
             "rm_huabei": "rm_huabei@example.com"}
quick_hash = functools.cache(lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))


def when(month: int, day: int, hour: int = 9, minute: int = 30) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=COMPANY_TZ)


class Company:
    """The demo company on a SQLite file; people act through the engine, the calendar runs in `smflow worker`."""

    def __init__(self, url: str, smtp_port: int):
        self.url, self.smtp_port = url, smtp_port
        self.clock = FixedClock(datetime(2026, 12, 1, 10, tzinfo=COMPANY_TZ))
        self.db = make_engine(url)
        self.sessions = make_session_factory(self.db)
        self.engine = Engine(default_registry(), Sandbox(), self.clock)
        self.tx(lambda s: load_organisation(s, demo_data(), self.clock.now()))
        for name in MANUAL_FILES:  # deployed in December 2026: the calendar starts with January
            self.tx(lambda s, name=name: self.engine.deploy(s, manual_file(name), name, "admin"))

        def addresses(s):
            for login, address in ADDRESSES.items():
                s.get(User, login).email = address
        self.tx(addresses)

    def tx(self, work):
        return in_transaction(self.sessions, work)

    def worker(self, at: datetime) -> dict:
        """One `smflow worker --once` at the given moment; its report."""
        self.clock.set(at)
        result = CliRunner().invoke(main, ["--db", self.url, "--json", "worker", "--once", "--now", at.isoformat(),
                                           "--smtp-host", "127.0.0.1", "--smtp-port", str(self.smtp_port)])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["errors"] == 0, report["messages"]
        return report

    def instances(self, process_id: str) -> list[ProcessInstance]:
        return self.tx(lambda s: list(s.scalars(select(ProcessInstance).where(ProcessInstance.process_id == process_id)
                                                .order_by(ProcessInstance.id))))

    def do(self, instance_id: int, step: str, data=lambda task: {}) -> int:
        """Every open task of `step`, completed by someone holding its role in its scope; how many there were."""
        def open_tasks(s):
            return list(s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                          HumanTask.step == step, HumanTask.state == "open")))
        tasks = self.tx(open_tasks)
        assert tasks, f"step {step} is not open"
        for task in tasks:
            login = self.tx(lambda s, t=task: self.holder(s, t.role, t.scope))
            self.tx(lambda s, t=task, who=login: self.engine.complete(s, t.id, who, data(t)))
        return len(tasks)

    @staticmethod
    def holder(session, role: str, scope: str) -> str:
        grants = session.scalars(select(Grant).where(Grant.role == role).order_by(Grant.login))
        return next(g.login for g in grants if scope_covers(g.scope, scope))

    def bell(self, login: str) -> list[str]:
        return self.tx(lambda s: [n.message for n in notifications.for_actor(s, org.actor(s, login), 50)])


def forecast(task) -> dict:
    rows = [dict(r) for r in task.prefill["forecast"]]
    rows[0].update(m1_qty=100, m1_amount=50.0, m2_qty=110, m2_amount=55.0, m3_qty=120, m3_amount=60.0)
    return {"forecast": rows, "forecast_note": "按上月计划滚动"}


def drive_march_to_step_6(company: Company, march: int) -> None:
    company.clock.set(when(3, 5))
    company.do(march, "1", lambda t: {"customer_stock": [{"customer": "康泰医药", "channel": "商业分销",
                                                          "stock_qty": 1200, "order_qty": 800}],
                                      "customer_summary": "库存约一个半月, 要货计划平稳。"})
    company.do(march, "2", lambda t: {"market_situation": "集采后价格下行。", "sales_history": "同比增长 8%。",
                                      "last_month_amount": 180.5})
    company.do(march, "3", forecast)
    company.do(march, "4", lambda t: {"decision": "approve", "comment": "与年度目标一致"})


def test_a_year_of_the_calendar_with_a_down_worker_and_missed_deadlines(sqlite_url, smtp, monkeypatch):
    monkeypatch.setattr("web.demo.generate_password_hash", quick_hash)
    port, mailbox = smtp
    company = Company(sqlite_url, port)
    started = Counter()

    for month in (1, 2):
        started.update({month: company.worker(when(month, 2))["started"]})
    started.update({3: company.worker(when(3, 2))["started"]})
    march = company.instances("SM1_3")[-1]
    assert march.business_key == "2027-03 月度销售计划"
    drive_march_to_step_6(company, march.id)
    assert company.worker(when(3, 10, 17, 59))["fired"] == 0  # not yet
    assert company.worker(when(3, 10, 18, 1))["fired"] == 1  # the 10th passes with step 6 open

    company.clock.set(when(3, 11))
    rows = company.tx(lambda s: company.engine.workflow_data(s, march.id))["monthly_plan"]["rows"]
    company.do(march.id, "6", lambda t: {"monthly_plan_draft": rows})
    company.do(march.id, "8", lambda t: {"sales_opinion": "无特殊调整"})
    company.do(march.id, "9", lambda t: {"market_opinion": "无新品和价格调整"})
    company.do(march.id, "10", lambda t: {"internal_meeting_date": "2027-03-12", "internal_agreement": "维持草案"})
    company.do(march.id, "11", lambda t: {"monthly_plan_draft": rows})
    company.do(march.id, "12", lambda t: {"capacity_ok": True})
    company.do(march.id, "13", lambda t: {"supply_ok": True})
    assert company.worker(when(3, 20, 18, 30))["fired"] == 1  # 14 is open on the 20th
    company.clock.set(when(3, 21))
    company.do(march.id, "14", lambda t: {"monthly_plan_final": rows, "coordination_note": "各方无异议"})
    assert company.worker(when(3, 25, 18, 30))["fired"] == 1  # 15 is open on the 25th

    for month in (4, 5):
        started.update({month: company.worker(when(month, 2))["started"]})
    # The worker is down in June and July; back on the 2nd of August it starts June's, July's and August's.
    started.update({8: company.worker(when(8, 2))["started"]})
    for month in (9, 10, 11, 12):
        started.update({month: company.worker(when(month, 2))["started"]})
    assert company.worker(when(12, 31, 23, 59))["started"] == 0

    assert started == Counter({1: 3, 2: 2, 3: 2, 4: 2, 5: 2, 8: 6, 9: 2, 10: 2, 11: 2, 12: 2})
    counts = {p: len(company.instances(p)) for p in ("SM1_2", "SM1_3", "SM2_2", "SM1_1", "SM2_1")}
    assert counts == {"SM1_2": 12, "SM1_3": 12, "SM2_2": 1, "SM1_1": 0, "SM2_1": 0}
    assert [i.business_key for i in company.instances("SM1_3")] == [f"2027-{m:02d} 月度销售计划" for m in range(1, 13)]
    assert [i.business_key for i in company.instances("SM2_2")] == ["2027 年度分销商维护"]
    june = company.instances("SM1_3")[5]
    assert company.tx(lambda s: company.engine.workflow_data(s, june.id))["started_at"] == "2027-06-02T09:00:00+08:00"

    period = company.tx(lambda s: company.engine.workflow_data(s, march.id))["period"]
    planning = [f"月度销售计划 {period}: 各地区销售预测应于本月10日前上报并整合, 目前尚未完成。",
                f"月度销售计划 {period}: 产销协调会应于本月20日前完成, 目前尚未完成。",
                f"月度销售计划 {period}: 决策层尚未在25日前批准, 请跟进。"]
    executive = [f"月度销售计划 {period}: 应于本月25日前批准并下达, 目前尚未批准。"]
    assert company.bell("planning") == planning[::-1]  # newest first
    assert company.bell("executive") == executive
    assert company.bell("rm_huabei") == []
    assert [m[:12] for m in mailbox.to("planning@example.com")] == [m[:12] for m in planning]
    assert len(mailbox.to("executive@example.com")) == 1 and mailbox.to("rm_huabei@example.com") == []
    body = next(m for rcpts, m in mailbox.messages if "executive@example.com" in rcpts).get_content()
    assert executive[0] in body and f"#{march.id}" in body
    company.db.dispose()


@pytest.fixture(autouse=True)
def _no_smtp_env(monkeypatch):
    for name in ("SMFLOW_SMTP_HOST", "SMFLOW_SMTP_PORT", "SMFLOW_SMTP_FROM"):
        monkeypatch.delenv(name, raising=False)
