"""SM1.3 月度销售计划制定流程 end to end: every office, every region, the 4 → 3 loop and the three deadlines."""

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.clock import COMPANY_TZ
from engine.errors import ValidationFailed
from engine.store.models import ProcessInstance
from handlers.archive import canonical_json

APRIL = datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ)
PERIOD = "2027-06 至 2027-08"
RETURN_COMMENT = "杭州办事处医院渠道预测偏高, 请结合库存重新测算"
FIGURES = ("m1_qty", "m1_amount", "m2_qty", "m2_amount", "m3_qty", "m3_amount")


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2027, 4, day, hour, minute, tzinfo=COMPANY_TZ)


def figures(qty: int, price: float) -> dict:
    return {"m1_qty": qty, "m1_amount": qty * price, "m2_qty": qty + 10, "m2_amount": (qty + 10) * price,
            "m3_qty": qty + 20, "m3_amount": (qty + 20) * price}


def office_forecast(n: int, revised: bool) -> dict[tuple[str, str], dict]:
    """Office n's numbers for two (product, channel) cells; a revision lowers the hospital channel."""
    hospital = 100 + 10 * n - (40 if revised else 0)
    return {("心脑血管", "医院"): figures(hospital, 0.5), ("抗感染", "零售药店"): figures(60 + n, 0.25)}


def fill(prefill: list[dict], cells: dict[tuple[str, str], dict]) -> list[dict]:
    """The prefilled product × channel grid with `cells` filled in and every other row left blank."""
    rows = []
    for row in prefill:
        blank = {"product": row["product"], "channel": row["channel"], **dict.fromkeys(FIGURES)}
        rows.append({**blank, **cells.get((row["product"], row["channel"]), {})})
    return rows


def sums(offices: list[dict], key) -> dict:
    """Expected totals of the forecasts of `offices` (name → cells), grouped by key(office, channel)."""
    out: dict = {}
    for office in offices:
        for (_product, channel), cell in office["cells"].items():
            into = out.setdefault(key(office, channel), dict.fromkeys(FIGURES, 0))
            for f in FIGURES:
                into[f] = round(into[f] + cell[f], 4)
    return out


class MonthlyPlan:
    """One month's SM1.3 instance and the people of the demo company who work on it."""

    def __init__(self, sc, instance_id: int):
        self.sc, self.id = sc, instance_id
        self.offices = [dict(o, n=n) for n, o in enumerate(sc.data(instance_id)["offices"])]
        self.regions = sc.data(instance_id)["regions"]

    def rep(self, office: dict) -> str:
        return self.sc.who("办事处", office["scope"])

    def neighbour(self, office: dict) -> str:
        """The representative of another office of the same region."""
        return self.rep(next(o for o in self.offices if o["region"] == office["region"] and o is not office))

    def other_region(self, region: str) -> str:
        return self.regions[(self.regions.index(region) + 1) % len(self.regions)]

    def take(self, login, step, role, scope, outsiders):
        return self.sc.take(login, self.id, step, role, scope, outsiders)

    # -- steps 1 and 2, one task each per office ----------------------------------------------------
    def offices_report(self):
        sc = self.sc
        assert len(sc.open_tasks(self.id)) == 2 * len(self.offices) == 32
        for office in self.offices:
            rep, city = self.rep(office), office["name"].removesuffix("办事处")
            assert {t.step for t in sc.inbox(rep, self.id)} == {"1", "2"}
            outsiders = (self.neighbour(office), sc.who("大区经理", office["region"]))
            one = self.take(rep, "1", "办事处", office["scope"], outsiders)
            two = self.take(rep, "2", "办事处", office["scope"], outsiders)
            assert one.due_at == two.due_at == at(6, 18)
            if office["n"] == 0:
                self.rejects_bad_form(two, rep, {"market_situation": "集采后价格下行", "last_month_amount": -5},
                                      {"sales_history", "last_month_amount"})
            assert [t for t in sc.open_tasks(self.id) if t.step == "3"] == []  # the join waits for every office
            sc.complete(one, rep, {
                "customer_stock": [{"customer": f"{city}康泰医药有限公司", "channel": "商业分销", "stock_qty": 1200,
                                    "order_qty": 800, "note": "月底前补货"},
                                   {"customer": f"{city}人民医院", "channel": "医院", "stock_qty": 300,
                                    "order_qty": 450}],
                "customer_summary": f"已与{city}主要客户逐一沟通, 库存约一个半月, 要货计划平稳。"})
            sc.complete(two, rep, {"market_situation": f"{city}市场受集采影响价格下行, 零售终端需求回暖。",
                                   "sales_history": "近三个月销售同比增长 8%, 心脑血管产品增长最快。",
                                   "last_month_amount": 180.5 + office["n"]})

    def rejects_bad_form(self, task, login, data, fields):
        revision = self.sc.revision(self.id)
        with pytest.raises(ValidationFailed) as caught:
            self.sc.complete(task, login, data)
        assert {p.field for p in caught.value.problems} == fields
        assert self.sc.revision(self.id) == revision
        assert task.id in {t.id for t in self.sc.inbox(login, self.id, task.step) if t.state == "open"}

    # -- step 3, per office, by the channel managers of its region -----------------------------------
    def channel_forecasts(self, offices: list[dict], revised: bool, comment: str = ""):
        sc = self.sc
        opened = [t for t in sc.open_tasks(self.id) if t.step == "3"]
        assert sorted(t.scope for t in opened) == sorted(o["scope"] for o in offices)
        for office in offices:
            cm = sc.who("渠道经理", office["region"])
            assert all(t.scope.startswith(office["region"] + "/") for t in sc.inbox(cm, self.id))
            outsiders = (sc.who("渠道经理", self.other_region(office["region"])), self.rep(office))
            task = next(t for t in sc.inbox(cm, self.id, "3") if t.scope == office["scope"])
            assert (task.role, task.scope, task.due_at) == ("渠道经理", office["scope"], at(8, 18))
            for other in outsiders:
                sc.refused(task, other)
            for colleague in sc.people("渠道经理", office["region"]):  # each channel of the region sees it
                assert task.id in {t.id for t in sc.inbox(colleague, self.id)}
            assert task.prefill["period"] == PERIOD
            assert task.prefill["review_comment"] == comment
            grid = task.prefill["forecast"]
            assert {(r["product"], r["channel"]) for r in grid} == {
                (p, ch) for p in sc.data(self.id)["product_lines"] for ch in ("医院", "零售药店", "商业分销")}
            if revised:  # the returned forecast comes back as it was sent
                assert fill(grid, office_forecast(office["n"], False)) == grid
            if office["n"] == 0 and not revised:  # the product × channel grid is given: no row dropped
                one_row = [{"product": "心脑血管", "channel": "医院", "m1_qty": 120, "m1_amount": 60.0}]
                self.rejects_bad_form(task, cm, {"forecast": one_row}, {"forecast"})
                moved = [dict(r, channel="电商") for r in grid]  # a changed channel is not an error: it is ignored
                moved[0] = dict(moved[0], m1_qty="一百二十")
                self.rejects_bad_form(task, cm, {"forecast": moved}, {"forecast[0].m1_qty"})
            office["cells"] = office_forecast(office["n"], revised)
            sc.complete(task, cm, {"forecast": fill(grid, office["cells"]),
                                   "forecast_note": "按渠道调整, 医院渠道下调" if revised else "按上月计划滚动"})

    # -- step 4, per region, by its regional manager ---------------------------------------------------
    def regional_reviews(self, regions: list[str], reject: str | None = None):
        sc = self.sc
        assert sorted(t.scope for t in sc.open_tasks(self.id)) == sorted(regions)
        for region in regions:
            rm = sc.who("大区经理", region)
            task = self.take(rm, "4", "大区经理", region,
                             (sc.who("大区经理", self.other_region(region)), sc.who("渠道经理", region)))
            assert task.due_at == at(9, 18)
            expected = [{"office": o["name"], **{f"{m}_amount": sum(c[f"{m}_amount"] for c in o["cells"].values())
                                                 for m in ("m1", "m2", "m3")}}
                        for o in self.offices if o["region"] == region]
            assert task.prefill["forecast_summary"] == expected
            if region == reject:
                self.rejects_bad_form(task, rm, {"decision": "reject"}, {"comment"})
                sc.complete(task, rm, {"decision": "reject", "comment": RETURN_COMMENT})
            else:
                sc.complete(task, rm, {"decision": "approve", "comment": "与年度目标一致"})

    def planning(self, step: str, data: dict, due: datetime | None = None, outsider: str = "sales_director"):
        task = self.take("planning", step, "计划部", "*", (outsider,))
        assert task.due_at == due
        self.sc.complete(task, "planning", data)
        return task

    def company_step(self, login: str, role: str, step: str, data: dict, outsiders=("planning",)):
        self.sc.complete(self.take(login, step, role, "*", outsiders), login, data)

    def missed(self, step: str, deadline: datetime, late: timedelta, notes: list[tuple[str, str]]):
        """The clock passes the deadline of the open `step`: reminders go out and the task stays open."""
        sc = self.sc
        (task,) = sc.open_tasks(self.id)
        assert (task.step, task.due_at) == (step, deadline)
        sc.env.clock.set(deadline - timedelta(minutes=1))
        assert self.id not in sc.due_timers()
        sc.env.clock.set(deadline + late)
        before = len(sc.notifications(self.id))
        assert self.id in sc.due_timers()
        sc.fire_timers(self.id)
        assert [(r, m) for r, _s, m in sc.notifications(self.id)[before:]] == notes
        assert self.id not in sc.due_timers()
        assert [t.id for t in sc.open_tasks(self.id)] == [task.id]


def start_april(sc) -> int:
    sc.env.clock.set(APRIL)
    started = sc.start_scheduled()
    keys = sc.tx(lambda s: {i.id: (i.process_id, i.business_key) for i in s.scalars(select(ProcessInstance))})
    (instance_id,) = [i for i in started if keys[i][0] == "SM1_3"]
    assert keys[instance_id] == ("SM1_3", "2027-04 月度销售计划")
    assert sc.start_scheduled() == []  # the same period never starts twice
    data = sc.data(instance_id)
    assert (data["started_at"], data["period"]) == ("2027-04-02T09:00:00+08:00", PERIOD)
    return instance_id


def check_archive(sc, plan: MonthlyPlan, regions: list[str], last_reviewer: str) -> dict:
    """Step 5 once per region (in the order approved), 7 and 16 once; each record's digest is of its document."""
    records = sc.archive(plan.id)
    for r in records:
        assert (r.process_id, len(r.sha256)) == ("SM1_3", 64)
        assert r.sha256 == hashlib.sha256(canonical_json(r.document).encode()).hexdigest()
    fives = [r for r in records if r.step == "5"]
    assert [(r.kind, r.scope, r.archived_by) for r in fives] == [
        ("channel_forecast", region, last_reviewer) for region in regions]
    for r in fives:
        assert (r.title, r.document["period"]) == (f"渠道销售预测 {r.scope} {PERIOD}", PERIOD)
        offices = [o for o in plan.offices if o["region"] == r.scope]
        assert [o["name"] for o in r.document["offices"]] == [o["name"] for o in offices]
        assert [o["forecast"] for o in r.document["offices"]] == [
            fill(sent["forecast"], mine["cells"]) for sent, mine in zip(r.document["offices"], offices, strict=True)]
    rest = {r.step: r for r in records if r.step != "5"}
    assert [(r.step, r.kind, r.scope, r.archived_by) for r in rest.values()] == [
        ("7", "regional_forecast", "*", "planning"), ("16", "monthly_plan", "*", "executive")]
    assert len(records) == len(regions) + 2
    return rest


def test_monthly_plan_with_a_returned_region_and_every_deadline_missed(demo):
    sc = demo
    instance_id = start_april(sc)
    plan = MonthlyPlan(sc, instance_id)
    plan.offices_report()

    plan.channel_forecasts(plan.offices, revised=False)
    plan.regional_reviews(plan.regions, reject="华东")
    east = [o for o in plan.offices if o["region"] == "华东"]
    assert [t.scope for t in sc.inbox(sc.who("渠道经理", "华北"), instance_id)] == []  # only 华东 redoes step 3
    plan.channel_forecasts(east, revised=True, comment=RETURN_COMMENT)
    plan.regional_reviews(["华东"])

    # Step 5 (per region) and the consolidation ran; step 6 starts from the consolidated plan.
    data = sc.data(instance_id)
    monthly = data["monthly_plan"]
    assert monthly["totals_by_channel"] == sums(plan.offices, lambda o, ch: ch)
    assert monthly["totals_by_region"] == sums(plan.offices, lambda o, ch: o["region"])
    assert set(monthly["totals_by_channel"]) == {"医院", "零售药店"}  # real channels, nothing unassigned
    east_hospital = next(r for r in monthly["rows"] if (r["region"], r["channel"]) == ("华东", "医院"))
    assert east_hospital["m1_amount"] == sum(office_forecast(o["n"], True)[("心脑血管", "医院")]["m1_amount"]
                                             for o in east)
    six = plan.take("planning", "6", "计划部", "*", ("sales_director", "rm_huabei"))
    assert six.prefill["monthly_plan_draft"] == monthly["rows"]
    assert six.due_at == at(10, 18)

    plan.missed("6", at(10, 18), timedelta(minutes=1),
                [("计划部", f"月度销售计划 {PERIOD}: 各地区销售预测应于本月10日前上报并整合, 目前尚未完成。")])
    sc.complete(six, "planning", {"monthly_plan_draft": monthly["rows"], "draft_note": "按地区按渠道汇总"})

    # 8 ∥ 9: both open at once; 10 waits for both.
    assert sorted(t.step for t in sc.open_tasks(instance_id)) == ["8", "9"]
    plan.company_step("marketing", "市场总监", "9", {
        "market_adjustments": [{"product": "心脑血管", "factor": "新品推出", "adjust_amount": 20.0,
                                "reason": "新规格 7 月上市"}],
        "market_opinion": "心脑血管新品上市, 医院渠道上调。"}, outsiders=("pm_cardio", "sales_director"))
    assert [t.step for t in sc.open_tasks(instance_id)] == ["8"]
    plan.company_step("sales_director", "销售总监", "8", {
        "sales_adjustments": [{"region": "华南", "channel": "零售药店", "adjust_amount": -5.0, "reason": "竞品降价"}],
        "sales_opinion": "华南零售渠道受竞品降价影响, 下调。"}, outsiders=("marketing", "rm_huanan"))
    plan.planning("10", {"internal_meeting_date": "2027-04-12", "internal_agreement": "采纳市场与销售的调整意见"})
    eleven = plan.take("planning", "11", "计划部", "*", ("marketing",))
    draft = [dict(r, note=None) for r in monthly["rows"]]
    assert eleven.prefill["monthly_plan_draft"] == draft  # step 6's draft, as submitted
    draft[0] = dict(draft[0], m1_amount=draft[0]["m1_amount"] + 20.0, note="新品上市上调")
    sc.complete(eleven, "planning", {"monthly_plan_draft": draft, "draft_note": "按协调会意见调整"})

    # 12 ∥ 13
    assert sorted(t.step for t in sc.open_tasks(instance_id)) == ["12", "13"]
    plan.company_step("supply", "供应部", "13", {"supply_ok": True}, outsiders=("production",))
    plan.company_step("production", "生产部", "12",
                      {"capacity_ok": False, "production_adjustment": "7 月加开一条灌装线"}, outsiders=("supply",))
    fourteen = plan.take("planning", "14", "计划部", "*", ("executive",))
    assert (fourteen.prefill["monthly_plan_final"], fourteen.due_at) == (draft, at(20, 18))
    plan.missed("14", at(20, 18), timedelta(hours=1),
                [("计划部", f"月度销售计划 {PERIOD}: 产销协调会应于本月20日前完成, 目前尚未完成。")])
    sc.complete(fourteen, "planning", {"monthly_plan_final": draft, "coordination_note": "产能调整后计划不变"})

    fifteen = plan.take("executive", "15", "决策层", "*", ("vp", "planning"))
    assert fifteen.due_at == at(25, 18)
    plan.missed("15", at(25, 18), timedelta(hours=15),
                [("决策层", f"月度销售计划 {PERIOD}: 应于本月25日前批准并下达, 目前尚未批准。"),
                 ("计划部", f"月度销售计划 {PERIOD}: 决策层尚未在25日前批准, 请跟进。")])
    sc.complete(fifteen, "executive", {"approved_on": "2027-04-26", "approval_note": "月度经营管理例会批准",
                                       "distribution": "大区经理, 办事处, 市场部, 生产, 财务, 储运"})

    assert sc.status(instance_id) == "completed"
    assert sc.open_tasks(instance_id) == []
    approved_order = [r for r in plan.regions if r != "华东"] + ["华东"]  # 华东 was approved last
    records = check_archive(sc, plan, approved_order, "rm_huadong")
    assert records["7"].document["monthly_plan"] == monthly
    assert [r["region"] for r in records["7"].document["regions"]] == approved_order
    assert records["16"].document["plan"] == draft
    assert records["16"].document["approved_on"] == "2027-04-26"
    final = sc.data(instance_id)
    assert final["monthly_plan"]["total"] == sums(plan.offices, lambda o, ch: "all")["all"]
    assert final["monthly_plan_final"] == draft and final["capacity_ok"] is False
    assert len(sc.notifications(instance_id)) == 4


def test_deadlines_met_send_no_reminders_and_next_month_starts_once(demo):
    sc = demo
    instance_id = start_april(sc)
    plan = MonthlyPlan(sc, instance_id)
    plan.offices_report()
    plan.channel_forecasts(plan.offices, revised=False)
    plan.regional_reviews(plan.regions)
    monthly = sc.data(instance_id)["monthly_plan"]
    sc.env.clock.set(at(9, 17))
    plan.planning("6", {"monthly_plan_draft": monthly["rows"]}, due=at(10, 18))
    plan.company_step("sales_director", "销售总监", "8", {"sales_opinion": "无特殊调整"})
    plan.company_step("marketing", "市场总监", "9", {"market_opinion": "无新品和价格调整"})
    plan.planning("10", {"internal_meeting_date": "2027-04-12", "internal_agreement": "维持草案"})
    plan.planning("11", {"monthly_plan_draft": monthly["rows"]})
    plan.company_step("production", "生产部", "12", {"capacity_ok": True})
    plan.company_step("supply", "供应部", "13", {"supply_ok": True})
    sc.env.clock.set(at(20, 17, 59))
    assert instance_id not in sc.due_timers()  # one minute before the deadline
    plan.planning("14", {"monthly_plan_final": monthly["rows"], "coordination_note": "各方无异议"}, due=at(20, 18))
    sc.env.clock.set(at(24, 10))
    plan.company_step("executive", "决策层", "15", {"approved_on": "2027-04-24", "distribution": "各相关部门",
                                                           "approval_note": "照草案批准"})

    assert sc.status(instance_id) == "completed"
    sc.env.clock.set(at(30, 12))
    assert instance_id not in sc.due_timers()
    assert sc.notifications(instance_id) == []
    records = check_archive(sc, plan, plan.regions, "rm_xibei")
    assert records["16"].document["plan"] == [dict(r, note=None) for r in monthly["rows"]]
    assert sc.data(instance_id)["monthly_plan"]["totals_by_channel"] == sums(plan.offices, lambda o, ch: ch)

    sc.env.clock.set(datetime(2027, 5, 2, 9, 30, tzinfo=COMPANY_TZ))
    may = [i for i in sc.start_scheduled()
           if sc.tx(lambda s, i=i: s.get(ProcessInstance, i).process_id) == "SM1_3"]
    assert len(may) == 1 and sc.start_scheduled() == []
    assert sc.tx(lambda s: s.get(ProcessInstance, may[0]).business_key) == "2027-05 月度销售计划"
    assert sc.data(may[0])["period"] == "2027-07 至 2027-09"
