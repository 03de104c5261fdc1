"""SM1.2 营销目标和预算编制的调整: the calendar start, both answers of 是否有重大差异, 5∥6 and 9∥10, the archive.

The process starts itself at 9:00 on the first of every month (one instance per month, business key = the
month's start date); step 1 is due five days later.
"""

from datetime import datetime, timedelta

import pytest
from scenario import PRODUCT_MANAGER, act, cached_password_hash, events, open_steps, sha256_of
from sqlalchemy import select

from engine.clock import COMPANY_TZ
from engine.errors import ValidationFailed
from engine.store.models import ProcessInstance

LINES = list(PRODUCT_MANAGER)
MAY_1 = datetime(2027, 5, 1, 9, tzinfo=COMPANY_TZ)


@pytest.fixture(autouse=True)
def _fast_password_hashes(monkeypatch):
    monkeypatch.setattr("web.demo.generate_password_hash", cached_password_hash)


def expense_lines(cardio_actual: float = 152) -> list[dict]:
    """Step 1's table, in the order of its prefilled rows: totals, then 市场费用 per product line."""
    rows = [{"item": "市场费用", "budget": 1200, "actual": 1180 + cardio_actual - 152},
            {"item": "销售费用", "budget": 900, "actual": 930, "variance_note": "华南新增两场招商会"}]
    for line in LINES:
        actual = cardio_actual if line == "心脑血管" else 146
        rows.append({"item": f"市场费用-{line}", "budget": 150, "actual": actual})
    if cardio_actual > 165:
        rows[2]["variance_note"] = "心脑血管新品上市推广提前"
    return rows


def business_keys(demo) -> list[str]:
    query = select(ProcessInstance.business_key).where(ProcessInstance.process_id == "SM1_2")
    return demo.tx(lambda s: list(s.scalars(query.order_by(ProcessInstance.id))))


def scheduled(demo) -> list[int]:
    """What the worker's calendar run starts now, of SM1.2 (SM1.3 and SM2.2 have calendars too)."""
    started = demo.start_scheduled()
    return demo.tx(lambda s: [i for i in started if s.get(ProcessInstance, i).process_id == "SM1_2"])


def start_month(demo, when: datetime) -> int:
    demo.env.clock.set(when)
    (iid,) = scheduled(demo)
    return iid


def report(demo, iid: int, lines: list[dict], analysis: str) -> None:
    """Step 1 by 财务部, after checking the prefilled rows."""
    task = demo.only("finance", iid, "1")
    assert task.prefill == {"expense_lines": [{"item": row["item"]} for row in lines]}
    act(demo, iid, "1", "finance", "财务部", {
        "report_month": "2027-04", "expense_lines": lines, "sales_achievement": 96.4, "variance_analysis": analysis})


def test_the_calendar_starts_one_instance_per_month_and_never_twice(demo):
    april = start_month(demo, datetime(2027, 4, 30, 18, tzinfo=COMPANY_TZ))  # April's, started late
    demo.env.clock.set(MAY_1 - timedelta(minutes=1))
    assert scheduled(demo) == []
    may = start_month(demo, MAY_1)
    assert scheduled(demo) == []
    demo.env.clock.set(datetime(2027, 5, 20, 9, tzinfo=COMPANY_TZ))
    assert scheduled(demo) == []
    demo.env.clock.set(datetime(2027, 7, 15, 10, tzinfo=COMPANY_TZ))  # June was missed: caught up, once
    june, july = scheduled(demo)
    assert scheduled(demo) == []
    assert business_keys(demo) == [f"2027-0{m} 营销目标和预算编制的调整" for m in (4, 5, 6, 7)]
    assert demo.data(june)["started_at"] == "2027-06-01T09:00:00+08:00"
    assert demo.data(april)["started_at"] == "2027-04-01T09:00:00+08:00"  # the period it belongs to
    assert demo.data(may)["started_at"] == "2027-05-01T09:00:00+08:00"
    assert demo.data(july)["started_at"] == "2027-07-01T09:00:00+08:00"
    assert demo.tx(lambda s: s.scalar(select(ProcessInstance.id).where(ProcessInstance.process_id == "SM1_1"))) is None
    for iid in (april, may, july):
        (task,) = demo.open_tasks(iid)
        assert (task.step, task.role, task.scope, task.state) == ("1", "财务部", "*", "open")
        assert demo.tx(lambda s, i=iid: demo.env.engine.show(s, i))["started_by"] is None


def test_no_major_variance_keeps_the_plan_even_after_a_missed_deadline(demo_any_db):
    demo = demo_any_db
    iid = start_month(demo, MAY_1)
    (task,) = demo.open_tasks(iid)
    assert task.due_at == MAY_1 + timedelta(days=5)
    # The deadline passes: nothing fires (it is a due date, not a timer), the report is simply late.
    demo.env.clock.set(MAY_1 + timedelta(days=6))
    assert demo.tx(lambda s: demo.env.engine.due_timer_instances(s)) == []
    assert demo.only("finance", iid, "1").due_at < demo.env.clock.now()
    lines = expense_lines()
    report(demo, iid, lines, "各项费用均在预算 ±10% 以内")

    review = demo.only("executive", iid, "2")
    assert review.prefill["variance_level"] == "minor"  # the system's suggestion, from the variance report
    shown = review.prefill["variance_lines"]
    assert [row["item"] for row in shown] == [row["item"] for row in lines]
    assert shown[1] == {"item": "销售费用", "budget": 900.0, "actual": 930.0, "variance": 30.0, "ratio_percent": 3.3,
                        "flagged": False, "reason": "华南新增两场招商会"}
    assert review.prefill["variance_summary"] == "预算 2100 万元, 实际 2110 万元, 差异 +10 万元; 超过阈值的项目: 无"
    act(demo, iid, "2", "executive", "决策层", {"variance_level": "minor", "review_note": "维持原计划"})

    info = demo.tx(lambda s: demo.env.engine.show(s, iid))
    assert info["status"] == "completed"
    assert open_steps(demo, iid) == [] and demo.archive(iid) == []
    assert info["data"]["variance"]["has_major_variance"] is False
    assert info["data"]["variance"]["total_variance"] == 10
    assert (info["data"]["variance_level"], info["data"]["report_month"]) == ("minor", "2027-04")
    assert [d["chosen"] for d in events(demo, iid, "gateway")] == [["维持原计划"]]
    assert [e["topic"] for e in events(demo, iid, "service_task")] == ["budget_variance"]
    kinds = [e["kind"] for e in info["events"]]
    assert kinds[0] == "started" and kinds[-1] == "instance_completed" and kinds.count("completed") == 2


def test_major_variance_adjusts_targets_and_budgets_and_archives_them(demo):
    iid = start_month(demo, MAY_1)
    lines = expense_lines(cardio_actual=210)
    report(demo, iid, lines, "心脑血管市场费用超支 40%")

    review = demo.only("executive", iid, "2")
    assert review.prefill["variance_level"] == "major"
    cardio = review.prefill["variance_lines"][2]
    assert (cardio["ratio_percent"], cardio["flagged"]) == (40.0, True)
    assert cardio["reason"] == "超支 40.0% (+60 万元); 心脑血管新品上市推广提前"  # the system's, then 财务部's note
    assert review.prefill["variance_summary"].endswith("超过阈值的项目: 市场费用-心脑血管")
    revision = demo.revision(iid)
    with pytest.raises(ValidationFailed) as caught:  # a major variance needs the meeting's view
        demo.tx(lambda s: demo.env.engine.complete(s, review.id, "executive", {"variance_level": "major"}))
    assert [(p.field, p.message) for p in caught.value.problems] == [("review_note", "例会意见: 必填")]
    assert demo.revision(iid) == revision and open_steps(demo, iid) == [("2", "*")]
    act(demo, iid, "2", "executive", "决策层",
        {"variance_level": "major", "review_note": "心脑血管推广提前, 需调整预算"})

    act(demo, iid, "3", "executive", "决策层", {
        "variance_causes": "新品上市推广提前至二季度", "adjusted_sales_target": 121000,
        "adjusted_profit_target": 17800, "adjusted_budget": 2180})
    act(demo, iid, "4", "planning", "计划部", {
        "activity_stats": [{"month": f"2027-0{m}", "sales_amount": 9800 + 100 * m, "market_expense": 300,
                            "sales_expense": 225} for m in range(1, 5)], "stats_note": "1–4 月统计"})
    assert open_steps(demo, iid) == [("5", "*"), ("6", "*")]  # 5 ∥ 6
    act(demo, iid, "6", "sales_director", "销售总监",
        {"sales_adjustment": "华南增加招商会两场", "sales_budget_change": 30})
    assert open_steps(demo, iid) == [("5", "*")]
    act(demo, iid, "5", "marketing", "市场总监",
        {"market_adjustment": "心脑血管推广费用追加", "market_budget_change": 50})
    plan = demo.only("planning", iid, "7")
    assert [row["item"] for row in plan.prefill["plan_adjustments"]] == [
        "销售目标", "利润目标", "市场费用预算", "销售费用预算"]
    adjustments = [{"item": "销售目标", "old_amount": 118500, "new_amount": 121000, "reason": "新品提前上市"},
                   {"item": "利润目标", "old_amount": 17600, "new_amount": 17800, "reason": None},
                   {"item": "市场费用预算", "old_amount": 1200, "new_amount": 1250, "reason": "心脑血管追加"},
                   {"item": "销售费用预算", "old_amount": 900, "new_amount": 930, "reason": "华南招商会"}]
    act(demo, iid, "7", "planning", "计划部", {"plan_adjustments": adjustments})
    act(demo, iid, "8", "finance", "财务部", {"audit_opinion": "同意调整", "approved_budget": 2180})
    assert open_steps(demo, iid) == [("10", "*"), ("9", "*")]  # 9 ∥ 10
    act(demo, iid, "9", "marketing", "市场总监", {"market_claimed": True})
    act(demo, iid, "10", "sales_director", "销售总监", {"sales_claimed": True, "sales_claim_note": "已分解到大区"})

    assert demo.status(iid) == "completed" and open_steps(demo, iid) == []
    data = demo.data(iid)
    (record,) = demo.archive(iid)
    assert (record.kind, record.step, record.process_id, record.version) == ("budget_adjustment", "11", "SM1_2", 1)
    assert record.title == "营销目标和预算调整 2027-04"
    assert record.sha256 == sha256_of(record.document)
    assert record.archived_by == "sales_director"  # the last person whose action ran the archive
    doc = record.document
    assert doc["variance"] == data["variance"] and doc["variance"]["has_major_variance"] is True
    assert [f["item"] for f in doc["variance"]["flagged"]] == ["市场费用-心脑血管"]
    assert doc["review_note"] == "心脑血管推广提前, 需调整预算"
    assert (doc["adjusted_sales_target"], doc["approved_budget"], doc["report_month"]) == (121000, 2180, "2027-04")
    assert doc["plan_adjustments"] == adjustments
    assert [row["actual"] for row in doc["expense_lines"]] == [row["actual"] for row in lines]
    assert data["budget_adjustment_archive_id"] == record.id
    assert (data["market_claimed"], data["sales_claimed"], data["variance_level"]) == (True, True, "major")
    assert [d["chosen"] for d in events(demo, iid, "gateway") if d["element_id"] == "Gateway_2"] == [
        ["3 重新确定目标与预算"]]
    assert [e["topic"] for e in events(demo, iid, "service_task")] == ["budget_variance", "archive"]
    assert [e["step"] for e in events(demo, iid, "completed")] == ["1", "2", "3", "4", "6", "5", "7", "8", "9", "10"]
