"""SM1.1 年度销售目标、营销计划和预算编制: every path, done by the demo company's people through the engine.

Paths: 22 批准 → 27; 22 不批准 → 23–26 → 22 again (the loop); 22 原则批准 → 23–26 → 27 without a new meeting.
Each step is found in the inbox of the person who should do it and refused to two others (scenario.act);
the engine is rebuilt from the database after every step.
The last two tests pin two engine bugs this scenario found (fixed): multi-instance answers after a
restart, and parallel revisions surviving the join.
"""

from collections import Counter
from datetime import datetime

import pytest
from scenario import (
    CHANNEL_MANAGERS,
    CHANNELS,
    PRODUCT_MANAGER,
    REGION_MANAGER,
    act,
    act_each,
    cached_password_hash,
    events,
    open_steps,
    sha256_of,
)
from sqlalchemy import select

from engine.clock import COMPANY_TZ
from engine.errors import ValidationFailed
from engine.store.models import HumanTask

REGIONS = list(REGION_MANAGER)
LINES = list(PRODUCT_MANAGER)
CHANNEL_MANAGER = {region: sorted(logins)[0] for region, logins in CHANNEL_MANAGERS.items()}
REGION_SALES = dict(zip(REGIONS, (26000, 31000, 22000, 15000, 14000, 10000), strict=True))  # 万元, next year's targets


@pytest.fixture(autouse=True)
def _fast_password_hashes(monkeypatch):
    monkeypatch.setattr("web.demo.generate_password_hash", cached_password_hash)


def sales_rows(region: str, factor: float = 1.0) -> list[dict]:
    share = REGION_SALES[region] / (len(LINES) * len(CHANNELS))
    return [{"product_line": pl, "channel": ch, "sales_amount": round(share * factor, 1),
             "profit_amount": round(share * factor * 0.15, 1), "expense_budget": round(share * 0.08, 1)}
            for pl in LINES for ch in CHANNELS]


def product_rows(line: str, extra: float = 0) -> list[dict]:
    base = 15000 if line == "心脑血管" else 9000
    return [{"channel": ch, "sales_amount": base * share + extra, "market_budget": base * share * 0.06,
             "activities": f"{line}{ch}学术推广"} for ch, share in zip(CHANNELS, (0.5, 0.3, 0.2), strict=True)]


def run_to_meeting(demo) -> int:
    """Steps 1–21 as the demo company; returns the instance waiting at step 22."""
    demo.env.clock.set(datetime(2027, 10, 8, 9, tzinfo=COMPANY_TZ))
    iid = demo.start("SM1_1", "vp")
    assert open_steps(demo, iid) == [("1", "*")]
    assert demo.only("vp", iid, "1").prefill == {"plan_year": 2028}  # computed from the start date
    act(demo, iid, "1", "vp", "营销副总", {
        "plan_year": 2028, "schedule": "10月31日前完成分析; 11月30日前完成计划草稿; 12月20日前定稿",
        "requirements": "各部门按统一模板提交, 数据口径与财务部一致", "final_deadline": "2027-12-20"})
    assert open_steps(demo, iid) == [("2", "*"), ("3", "*"), ("4", "*"), ("5", "*")]  # 2–5 in parallel
    assert demo.only("planning", iid, "2").prefill == {"region_history": [{"region": r} for r in REGIONS]}
    act(demo, iid, "5", "finance", "财务部", {
        "profit_this_year": 15200, "budget_execution_rate": 96.5, "finance_analysis": "费用率 18.2%, 学术推广费用超支"})
    act(demo, iid, "3", "marketing", "市场总监", {
        "market_analysis": "集采扩面, 基层市场增长快", "competitor_analysis": "主要竞品在心脑血管领域降价 15%",
        "product_analysis": "心脑血管、抗感染为主力, 保健品增长最快"})
    act(demo, iid, "2", "planning", "计划部", {
        "region_history": [{"region": r, "actual_amount": v * 0.9, "target_amount": v * 0.92, "completion_rate": 97.8}
                           for r, v in REGION_SALES.items()],
        "history_summary": "本年度整体完成率 97.8%, 华南超额完成"})
    act(demo, iid, "4", "sales_director", "销售总监", {
        "sales_summary": "医院渠道受集采影响下滑, 零售药店增长 12%",
        "channel_summary": [{"channel": ch, "actual_amount": a, "growth_rate": g}
                            for ch, a, g in zip(CHANNELS, (61000, 27000, 19000), (-3.5, 12.0, 4.2), strict=True)]})
    act(demo, iid, "6", "executive", "决策层", {"strategy": "巩固医院市场, 大力发展零售渠道", "growth_expectation": 10})
    act(demo, iid, "7", "vp", "营销副总", {
        "proposed_sales_target": 120000, "proposed_profit_target": 18000, "proposal_rationale": "按增长 10% 测算"})
    act(demo, iid, "8", "executive", "决策层",
        {"sales_target": 118000, "profit_target": 17500, "target_note": "略下调"})
    act(demo, iid, "9", "marketing", "市场总监",
        {"market_strategy": "以学术推广带动处方", "market_focus": "心脑血管、儿科用药"})
    act_each(demo, iid, "10", "产品经理", {
        line: {"suggested_sales_target": 15000 if line == "心脑血管" else 9000, "suggested_market_budget": 800,
               "suggestion_note": f"{line}产品线目标建议"} for line in LINES}, PRODUCT_MANAGER)
    act(demo, iid, "11", "marketing", "市场总监", {"market_targets": [
        {"product_line": pl, "channel": ch, "sales_target": 4900, "market_budget": 290}
        for pl in LINES for ch in CHANNELS]})
    region_targets = [{"region": r, "sales_target": v, "profit_target": v * 0.15} for r, v in REGION_SALES.items()]
    act(demo, iid, "12", "sales_director", "销售总监",
        {"region_targets": region_targets, "region_target_note": "按上年完成情况分解"})
    meeting = demo.only("planning", iid, "13")
    assert meeting.prefill["region_targets"] == region_targets  # step 13 starts from step 12's numbers
    balanced = [dict(row, sales_target=row["sales_target"] + (500 if row["region"] == "华南" else 0))
                for row in region_targets]
    act(demo, iid, "13", "planning", "计划部", {
        "balance_meeting_date": "2027-11-05", "region_targets": balanced, "balance_minutes": "华南目标上调 500 万元"})
    act_each(demo, iid, "14", "产品经理", {
        line: {"product_plan": product_rows(line), "product_plan_note": "草案"} for line in LINES}, PRODUCT_MANAGER)
    act(demo, iid, "15", "marketing", "市场总监", {"market_plan": "全年 120 场学术会议", "market_budget_total": 6400})
    assert open_steps(demo, iid) == sorted([("16", r) for r in REGIONS] + [("17", "*")])  # 16 ∥ 17
    act(demo, iid, "17", "sales_dev", "销售拓展部", {
        "expansion_plan": [{"region": r, "new_customers": 5, "retained_customers": 40, "budget": 120} for r in REGIONS],
        "expansion_note": "每个大区新开发 5 家分销商"})
    act_each(demo, iid, "16", "大区经理", {r: {"sales_plan": sales_rows(r), "plan_note": f"{r}草案"} for r in REGIONS},
             REGION_MANAGER)
    act(demo, iid, "18", "sales_director", "销售总监",
        {"sales_plan_draft": "销售计划草稿 v1", "sales_budget_total": 9400})
    act(demo, iid, "19", "marketing", "市场总监", {"plans_agreed": True, "coordination_minutes": "双方计划已对齐"})
    act(demo, iid, "20", "finance", "财务部", {
        "projected_profit": 17800, "expense_ratio": 13.4, "financial_report": "费用率较上年下降"})
    act(demo, iid, "21", "executive", "决策层", {"confirmed_sales_target": 118500, "confirmed_profit_target": 17600})
    assert open_steps(demo, iid) == [("22", "*")]
    return iid


def claim_and_archive(demo, iid: int, budget: float) -> None:
    """Steps 28–31 (28 before 29, 30 before 31) and the archive at 32."""
    assert open_steps(demo, iid) == [("28", "*"), ("30", "*")]
    act(demo, iid, "28", "marketing", "市场总监", {"market_claimed": True, "market_claimed_budget": 6400})
    assert open_steps(demo, iid) == sorted([("29", line) for line in LINES] + [("30", "*")])
    act_each(demo, iid, "29", "产品经理", {line: {"claimed": True, "claimed_budget": 800} for line in LINES},
             PRODUCT_MANAGER)
    act(demo, iid, "30", "sales_director", "销售总监", {"sales_claimed": True, "sales_claimed_budget": budget - 6400})
    assert open_steps(demo, iid) == [("31", r) for r in sorted(REGIONS)]
    act_each(demo, iid, "31", "大区经理", {r: {"claimed": True, "claimed_budget": 500, "claim_note": f"{r}认领"}
                                          for r in REGIONS}, REGION_MANAGER)
    assert open_steps(demo, iid) == []


def revise(demo, iid: int, comment: str, round_no: int) -> None:
    """Steps 23–26, open all at once: per product line, per region (manager and channel manager), 销售拓展部."""
    expected = sorted([("23", line) for line in LINES] + [("24", r) for r in REGIONS] + [("25", r) for r in REGIONS]
                      + [("26", "*")])
    assert open_steps(demo, iid) == expected
    for region in REGIONS:  # every channel manager of the region sees its own region's task 25, nothing else
        for login in CHANNEL_MANAGERS[region]:
            assert [(t.step, t.scope) for t in demo.inbox(login, iid)] == [("25", region)]
    for step, login in (("23", "pm_cardio"), ("24", "rm_huabei"), ("25", "cm_huabei_hospital"), ("26", "sales_dev")):
        assert demo.only(login, iid, step).prefill["comment"] == comment  # the meeting's comments, read-only
    act_each(demo, iid, "25", "渠道经理", {r: {"channel_suggestions": [
        {"channel": ch, "adjust_amount": 100 * round_no, "suggestion": "加强终端覆盖"} for ch in CHANNELS]}
        for r in REGIONS}, CHANNEL_MANAGER)
    act_each(demo, iid, "23", "产品经理", {line: {
        "product_plan": product_rows(line, extra=100 * round_no), "revision_note": f"第{round_no}轮修改"}
        for line in LINES}, PRODUCT_MANAGER)
    act(demo, iid, "26", "sales_dev", "销售拓展部", {
        "expansion_plan": [{"region": r, "new_customers": 5 + round_no, "retained_customers": 40, "budget": 120}
                           for r in REGIONS], "expansion_revision_note": f"第{round_no}轮: 增加新客户"})
    act_each(demo, iid, "24", "大区经理", {
        r: {"sales_plan": sales_rows(r, 1 + round_no), "revision_note": "已按意见修改"} for r in REGIONS},
        REGION_MANAGER)


def test_plan_approved_at_the_first_meeting(demo):
    iid = run_to_meeting(demo)
    act(demo, iid, "22", "executive", "决策层", {"decision": "approve"})
    assert open_steps(demo, iid) == [("27", "*")]
    act(demo, iid, "27", "executive", "决策层", {
        "approved_on": "2027-12-18", "annual_budget_total": 15800, "approval_resolution": "批准 2028 年度计划"})
    claim_and_archive(demo, iid, 15800)

    info = demo.tx(lambda s: demo.env.engine.show(s, iid))
    assert (info["status"], info["started_by"]) == ("completed", "vp")
    (record,) = demo.archive(iid)
    assert (record.kind, record.step, record.process_id, record.version) == ("annual_plan", "32", "SM1_1", 1)
    assert record.title == "年度市场销售计划与预算 2028"
    assert record.sha256 == sha256_of(record.document)
    doc = record.document
    assert (doc["plan_year"], doc["sales_target"], doc["profit_target"]) == (2028, 118500, 17600)
    assert (doc["annual_budget_total"], doc["approved_on"]) == (15800, "2027-12-18")
    assert [r["region"] for r in doc["region_plans"]] == REGIONS
    huanan = next(r for r in doc["region_plans"] if r["region"] == "华南")
    assert huanan["sales_plan"] == sales_rows("华南") and huanan["claimed_budget"] == 500
    assert next(r for r in doc["region_targets"] if r["region"] == "华南")["sales_target"] == 22500  # balanced at 13
    assert [p["product_line"] for p in doc["product_plans"]] == LINES
    assert all(p["claimed"] and p["product_plan"] == product_rows(p["product_line"]) for p in doc["product_plans"])
    assert doc["expansion_plan"][0]["new_customers"] == 5

    data = info["data"]
    assert data["decision"] == "approve" and data["plan_year"] == 2028
    assert data["annual_plan_archive_id"] == record.id
    assert data["region_plans"] == doc["region_plans"]
    decisions = events(demo, iid, "gateway")
    assert [d["chosen"] for d in decisions if d["element_id"] == "Gateway_22"] == [["27 正式批准年度计划和预算"]]
    assert not any(d["element_id"] == "Gateway_revised" for d in decisions)
    assert demo.tx(lambda s: s.scalar(select(HumanTask.id).where(
        HumanTask.instance_id == iid, HumanTask.step.in_(("23", "24", "25", "26"))))) is None
    done = Counter(e["step"] for e in events(demo, iid, "completed"))
    per_scope = {"10": 8, "14": 8, "16": 6, "29": 8, "31": 6}
    assert done == {str(n): per_scope.get(str(n), 1) for n in [*range(1, 23), *range(27, 32)]}


def test_meeting_sends_the_plan_back_then_approves_after_revision(demo):
    iid = run_to_meeting(demo)
    meeting = demo.only("executive", iid, "22")
    revision = demo.revision(iid)
    with pytest.raises(ValidationFailed) as caught:  # not approving needs the meeting's comments
        demo.tx(lambda s: demo.env.engine.complete(s, meeting.id, "executive", {"decision": "reject"}))
    assert [(p.field, p.message) for p in caught.value.problems] == [("comment", "计划修改意见: 必填")]
    with pytest.raises(ValidationFailed) as caught:
        demo.tx(lambda s: demo.env.engine.complete(s, meeting.id, "executive", {"decision": "再议", "comment": "再议"}))
    assert [p.field for p in caught.value.problems] == ["decision"]
    assert demo.revision(iid) == revision and open_steps(demo, iid) == [("22", "*")]
    assert events(demo, iid, "completed")[-1]["step"] == "21"

    act(demo, iid, "22", "executive", "决策层", {"decision": "reject", "comment": "华北目标偏低, 市场费用过高"})
    # Each revision starts from the plan being revised.
    assert demo.only("pm_cardio", iid, "23").prefill["product_plan"] == product_rows("心脑血管")
    assert demo.only("rm_huabei", iid, "24").prefill["sales_plan"] == sales_rows("华北")
    assert demo.only("sales_dev", iid, "26").prefill["expansion_plan"][0]["new_customers"] == 5
    # The revisers see the meeting's comment (read-only) ...
    assert demo.only("pm_cardio", iid, "23").prefill["comment"] == "华北目标偏低, 市场费用过高"
    revise(demo, iid, "华北目标偏低, 市场费用过高", round_no=1)
    # Not approved, not even in principle: back to a new meeting (the loop).
    assert open_steps(demo, iid) == [("22", "*")]
    assert demo.only("executive", iid, "22").id != meeting.id
    # ... and the next meeting writes its own: the comment, like the decision, starts empty (`fresh`).
    assert "comment" not in (demo.only("executive", iid, "22").prefill or {})
    act(demo, iid, "22", "executive", "决策层",
        {"decision": "approve_after_revision", "comment": "原则批准, 西北费用再压缩 5%"})
    revise(demo, iid, "原则批准, 西北费用再压缩 5%", round_no=2)
    # Approved in principle: straight on to 27 once revised, no third meeting.
    assert open_steps(demo, iid) == [("27", "*")]
    act(demo, iid, "27", "executive", "决策层", {
        "approved_on": "2027-12-22", "annual_budget_total": 15200, "approval_resolution": "修改后批准"})
    claim_and_archive(demo, iid, 15200)

    assert demo.status(iid) == "completed"
    (record,) = demo.archive(iid)
    assert (record.kind, record.step, record.process_id, record.version) == ("annual_plan", "32", "SM1_1", 1)
    assert record.sha256 == sha256_of(record.document)
    doc = record.document
    assert (doc["annual_budget_total"], doc["approved_on"], doc["sales_target"]) == (15200, "2027-12-22", 118500)
    assert all(plan["claimed"] is True for plan in doc["region_plans"] + doc["product_plans"])
    data = demo.data(iid)
    assert (data["decision"], data["comment"]) == ("approve_after_revision", "原则批准, 西北费用再压缩 5%")
    assert data["annual_plan_archive_id"] == record.id
    decisions = events(demo, iid, "gateway")
    assert [d["chosen"] for d in decisions if d["element_id"] in ("Gateway_22", "Gateway_revised")] == [
        ["Gateway_split_23_26"], ["22 召开年度计划和预算编制会"],
        ["Gateway_split_23_26"], ["27 正式批准年度计划和预算"]]
    done = Counter(e["step"] for e in events(demo, iid, "completed"))
    assert (done["22"], done["23"], done["24"], done["25"], done["26"], done["27"]) == (2, 16, 12, 12, 2, 1)
    # What each person submitted in each round is on record.
    submitted = demo.tx(lambda s: [(t.scope, t.submitted) for t in s.scalars(select(HumanTask).where(
        HumanTask.instance_id == iid, HumanTask.step == "24").order_by(HumanTask.id))])
    assert [scope for scope, _ in submitted] == REGIONS * 2
    assert [sub["sales_plan"] == sales_rows(scope, 3) for scope, sub in submitted[6:]] == [True] * 6


# -- engine bugs this scenario found, now fixed (engine/definitions.py _settle_specs, engine/joins.py) -----

def test_multi_instance_answers_survive_a_restart(demo):
    # The scenario rebuilds the engine after every task, multi-instance steps open or not.
    iid = run_to_meeting(demo)  # before the fix: two tasks per product line at step 14
    assert len(demo.data(iid)["product_plans"]) == len(LINES)


def test_revisions_made_in_parallel_all_survive_the_join(demo):
    iid = run_to_meeting(demo)
    act(demo, iid, "22", "executive", "决策层", {"decision": "reject", "comment": "华北目标偏低"})
    revise(demo, iid, "华北目标偏低", round_no=1)
    data = demo.data(iid)
    assert [p["product_plan"] for p in data["product_plans"]] == [product_rows(line, extra=100) for line in LINES]
    assert [p["sales_plan"] for p in data["region_plans"]] == [sales_rows(r, 2) for r in REGIONS]
    assert [row["new_customers"] for row in data["expansion_plan"]] == [6] * len(REGIONS)
    act(demo, iid, "22", "executive", "决策层", {"decision": "reject", "comment": "仍需调整"})
    assert demo.only("rm_huabei", iid, "24").prefill["sales_plan"] == sales_rows("华北", 2)  # the next round
