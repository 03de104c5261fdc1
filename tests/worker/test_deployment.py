"""A multi-process deployment on PostgreSQL: `smflow serve` (gunicorn, 2 web processes) and 2 `smflow worker`
processes run one SM1.3 cycle. The calendar starts March's plan once, people work through the JSON API over
real HTTP, the workers fire the 10th's deadline and run the 备案 steps marked asyncBefore."""

from __future__ import annotations

import functools
import http.cookiejar
import json
import re
import socket
import urllib.error
import urllib.request
from datetime import datetime

from sqlalchemy import select
from werkzeug.security import generate_password_hash
from worker_helpers import WorkerDb, wait_for

from engine.clock import COMPANY_TZ
from engine.routing import scope_covers
from engine.store.models import ArchiveRecord, Grant, HumanTask, Job, Notification, ProcessInstance
from web.demo import MANUAL_FILES, demo_data, load_organisation, manual_file

PASSWORD = "demo123"
quick_hash = functools.cache(lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Person:
    """Someone using the JSON API with their own session cookie."""

    def __init__(self, base: str, login: str):
        self.base, self.login = base, login
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        token = self.call("GET", "/api/csrf")["csrf_token"]
        self.token = self.call("POST", "/api/login", {"login": login, "password": PASSWORD}, token)["csrf_token"]

    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        request = urllib.request.Request(self.base + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json",
                                                  "X-CSRF-Token": token or getattr(self, "token", "")})
        try:
            with self.opener.open(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                raise AssertionError(f"{method} {path} as {self.login}: {error.code} {error.read().decode()}") from None
        return json.loads(text) if path.startswith("/api/") else text


class Cycle:
    def __init__(self, pg: WorkerDb, base: str):
        self.pg, self.base, self.people = pg, base, {}

    def person(self, login: str) -> Person:
        if login not in self.people:
            self.people[login] = Person(self.base, login)
        return self.people[login]

    def open_tasks(self, instance_id: int, step: str) -> list[HumanTask]:
        return self.pg.tx(lambda s: list(s.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.step == step, HumanTask.state == "open"))))

    def holder(self, role: str, scope: str) -> str:
        grants = self.pg.tx(lambda s: list(s.scalars(select(Grant).where(Grant.role == role).order_by(Grant.login))))
        return next(g.login for g in grants if scope_covers(g.scope, scope))

    def do(self, instance_id: int, step: str, data=lambda detail: {}) -> None:
        tasks = wait_for(lambda: self.open_tasks(instance_id, step), f"step {step} to open")
        for task in tasks:
            person = self.person(self.holder(task.role, task.scope))
            detail = person.call("GET", f"/api/tasks/{task.id}")
            person.call("POST", f"/api/tasks/{task.id}/complete", data(detail))


def forecast(detail) -> dict:
    rows = [dict(r) for r in detail["prefill"]["forecast"]]
    rows[0].update(m1_qty=100, m1_amount=50.0, m2_qty=110, m2_amount=55.0, m3_qty=120, m3_amount=60.0)
    return {"forecast": rows, "forecast_note": "按上月计划滚动"}


def test_two_web_and_two_worker_processes_run_a_monthly_plan(pg, monkeypatch):
    monkeypatch.setattr("web.demo.generate_password_hash", quick_hash)
    pg.clock.set(datetime(2027, 3, 1, 8, tzinfo=COMPANY_TZ))
    pg.tx(lambda s: load_organisation(s, demo_data(), pg.clock.now()))
    for name in MANUAL_FILES:
        data = manual_file(name)
        if name == "SM1_3.bpmn":  # 备案 steps 7 and 16 go to the workers
            data = re.sub(rb'(<bpmn:serviceTask id="Task_(?:7|16)"[^>]*)>', rb'\1 camunda:asyncBefore="true">', data)
        pg.tx(lambda s, data=data, name=name: pg.engine.deploy(s, data, name, "admin"))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = pg.spawn("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-worker")
    workers = [pg.spawn("worker", "--interval", "0.3", "--lease", "5", "--now", "2027-03-02T09:30:00+08:00")
               for _ in range(2)]
    try:
        wait_for(lambda: _up(base) or web.poll() is not None, "gunicorn to listen")
        assert web.poll() is None, web.communicate()
        cycle = Cycle(pg, base)
        plans = wait_for(lambda: pg.tx(lambda s: list(s.scalars(select(ProcessInstance).where(
            ProcessInstance.process_id == "SM1_3")))), "the calendar to start March's plan")
        (plan,) = plans
        assert plan.business_key == "2027-03 月度销售计划"

        cycle.do(plan.id, "1", lambda d: {"customer_stock": [{"customer": "康泰医药", "channel": "商业分销",
                                                              "stock_qty": 1200, "order_qty": 800}],
                                          "customer_summary": "库存约一个半月, 要货计划平稳。"})
        cycle.do(plan.id, "2", lambda d: {"market_situation": "集采后价格下行。", "sales_history": "同比增长 8%。",
                                          "last_month_amount": 180.5})
        cycle.do(plan.id, "3", forecast)
        cycle.do(plan.id, "4", lambda d: {"decision": "approve", "comment": "与年度目标一致"})
        wait_for(lambda: cycle.open_tasks(plan.id, "6"), "step 6")

        # The workers come back on the evening of the 10th: step 6 is late, 计划部 is told.
        for process in workers:
            process.terminate()
            process.communicate(timeout=30)
        workers = [pg.spawn("worker", "--interval", "0.3", "--lease", "5", "--now", "2027-03-10T18:01:00+08:00")
                   for _ in range(2)]
        (note,) = wait_for(lambda: pg.tx(lambda s: s.scalars(select(Notification)).all()), "the 10th's reminder")
        assert (note.role, note.instance_id) == ("计划部", plan.id)
        page = cycle.person("planning").call("GET", "/")
        assert re.search(r'<span class="bell-count">1</span>', page)

        rows = cycle.person("planning").call("GET", f"/api/tasks/{cycle.open_tasks(plan.id, '6')[0].id}")[
            "prefill"]["monthly_plan_draft"]
        cycle.do(plan.id, "6", lambda d: {"monthly_plan_draft": rows})  # then 7 (备案) is a worker's job
        cycle.do(plan.id, "8", lambda d: {"sales_opinion": "无特殊调整"})
        cycle.do(plan.id, "9", lambda d: {"market_opinion": "无新品和价格调整"})
        cycle.do(plan.id, "10", lambda d: {"internal_meeting_date": "2027-03-12", "internal_agreement": "维持草案"})
        cycle.do(plan.id, "11", lambda d: {"monthly_plan_draft": rows})
        cycle.do(plan.id, "12", lambda d: {"capacity_ok": True})
        cycle.do(plan.id, "13", lambda d: {"supply_ok": True})
        cycle.do(plan.id, "14", lambda d: {"monthly_plan_final": rows, "coordination_note": "各方无异议"})
        cycle.do(plan.id, "15", lambda d: {"approved_on": "2027-03-12", "distribution": "各相关部门",
                                           "approval_note": "照草案批准"})
        wait_for(lambda: pg.tx(lambda s: s.get(ProcessInstance, plan.id).status == "completed"),
                 "a worker to archive step 16")
    finally:
        for process in [web, *workers]:
            process.terminate()
        outputs = [process.communicate(timeout=30) for process in [web, *workers]]

    booted = re.findall(r"Booting worker with pid: (\d+)", outputs[0][1])
    assert len(set(booted)) == 2, outputs[0][1]
    steps = pg.tx(lambda s: [r.step for r in s.scalars(select(ArchiveRecord).where(
        ArchiveRecord.instance_id == plan.id).order_by(ArchiveRecord.id))])
    assert sorted(steps) == sorted(["5"] * 6 + ["7", "16"])  # each 备案 once
    jobs = pg.tx(lambda s: [(j.element_id, j.status, j.attempts) for j in s.scalars(select(Job).order_by(Job.id))])
    assert jobs == [("Task_7", "done", 1), ("Task_16", "done", 1)]
    plans = pg.tx(lambda s: s.scalars(select(ProcessInstance.business_key).where(
        ProcessInstance.process_id == "SM1_3")).all())
    assert plans == ["2027-03 月度销售计划"]  # two workers, one March plan
    assert len(pg.tx(lambda s: s.scalars(select(Notification)).all())) == 1


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/auth/login", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
