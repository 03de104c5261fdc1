"""SM2.1 新分销商的选择与评估 end to end: both answers of step 8, the 9 → 3 loop, the register and the agreements."""

import hashlib

import pytest
from sqlalchemy import select

from engine.errors import ValidationFailed
from engine.store.models import Event
from handlers.archive import canonical_json

BEIJING = {"name": "北京益民医药有限公司", "region": "华北", "office": "北京办事处", "channel": "商业分销"}
GUANGZHOU = {"name": "广州百草堂医药连锁有限公司", "region": "华南", "office": "广州办事处", "channel": "零售药店"}
SHANGHAI = {"name": "上海申康医药有限公司", "region": "华东", "office": "上海办事处", "channel": "医院"}
LICENCES = {"营业执照": "91110105MA01", "药品经营许可证": "京AA0100123", "GSP 证书": "A-BJ-21-0456"}


def scope(c: dict) -> str:
    return f"{c['region']}/{c['office']}"


def label(c: dict) -> str:
    return f"{c['name']} ({c['region']} {c['office']})"


def visit(c: dict, n: int) -> dict:
    """What the office brings back from its visit (客户信息收集表)."""
    city = c["office"].removesuffix("办事处")
    return {"company_name": c["name"], "address": f"{city}市经济技术开发区康宁路 {18 + n} 号",
            "legal_representative": ["王立群", "陈晓燕", "周国强"][n], "contact": f"采购部 李经理 1391000{n:04d}",
            "registered_capital": 2000.0 + 500 * n, "founded_on": "2012-06-18", "employees": 320 + n,
            "products": "心脑血管、抗感染类处方药; 中成药", "annual_sales": 8600.0 - 1000 * n, "outlets": 140 + n,
            "channel_info": f"覆盖{city}二级以上医院 60 家、零售药店 300 家", "stock_level": 950.0,
            "licences": [{"licence": k, "number": f"{v}-{n}", "valid_until": "2029-12-31"}
                         for k, v in LICENCES.items()],
            "copy_kept": True}


class Selection:
    """One SM2.1 instance, with the demo company's people."""

    def __init__(self, sc, instance_id: int):
        self.sc, self.id = sc, instance_id

    def company(self, login: str, role: str, step: str, data: dict, outsiders: tuple[str, ...]):
        task = self.sc.take(login, self.id, step, role, "*", outsiders)
        self.sc.complete(task, login, data)
        return task

    def per_candidate(self, login: str, role: str, step: str, answers: dict[str, dict], outsiders: tuple[str, ...]):
        """A multi-instance step done for the whole company: one task per candidate, told apart by its label."""
        tasks = {t.prefill["customer_name"]: t for t in self.sc.inbox(login, self.id, step)}
        assert sorted(tasks) == sorted(answers)
        assert len(self.sc.open_tasks(self.id)) == len(answers)
        for name, data in answers.items():
            task = tasks[name]
            assert (task.role, task.scope) == (role, "*")
            for other in outsiders:
                self.sc.refused(task, other)
            self.sc.complete(task, login, data)

    def visits(self, candidates: list[dict], reject_first_form: bool = False):
        """Step 3: each candidate's office visits it; no other office, and not customer service, may."""
        sc = self.sc
        assert sorted(t.scope for t in sc.open_tasks(self.id)) == sorted(scope(c) for c in candidates)
        for n, c in enumerate(candidates):
            rep = sc.who("办事处", scope(c))
            other_office = next(o for o in ("华北/天津办事处", "华东/南京办事处") if not o.startswith(c["region"]))
            task = sc.take(rep, self.id, "3", "办事处", scope(c), (sc.who("办事处", other_office), "customer_service"))
            assert task.prefill["company_name"] == c["name"]
            assert [r["licence"] for r in task.prefill["licences"]] == list(LICENCES)
            if reject_first_form and n == 0:
                self.rejects_bad_form(task, rep, dict(visit(c, n), address="", annual_sales=-10.0,
                                                      licences=[{"licence": "营业执照", "valid_until": "2029-12-31"}]),
                                      {"address", "annual_sales", "licences[0].number"})
            sc.complete(task, rep, visit(c, n))

    def rejects_bad_form(self, task, login, data, fields):
        revision = self.sc.revision(self.id)
        with pytest.raises(ValidationFailed) as caught:
            self.sc.complete(task, login, data)
        assert {p.field for p in caught.value.problems} == fields
        assert self.sc.revision(self.id) == revision
        assert task.id in {t.id for t in self.sc.inbox(login, self.id, task.step) if t.state == "open"}

    def evaluate(self, candidates: list[dict], decisions: dict[str, str]):
        """Steps 4-8 for each candidate: customer service, finance (5, 6, 7), then 销售拓展部 decides."""
        names = [label(c) for c in candidates]
        self.per_candidate("customer_service", "客户服务部", "4", {
            n: {"info_complete": True, "info_authentic": True, "check_note": "资料齐全, 证照经核对属实"}
            for n in names},
            ("finance", "sales_dev"))
        self.per_candidate("finance", "财务部", "5", {
            n: {"network_analysis": "网点集中在省会及地级市", "financial_analysis": "资产负债率 48%, 现金流稳定",
                "coverage_analysis": "二级以上医院覆盖率 70%", "staff_analysis": "销售人员 120 人"} for n in names},
            ("customer_service", "sales_director"))
        ratings = {n: "AB"[k % 2] for k, n in enumerate(names)}
        self.per_candidate("finance", "财务部", "6", {
            n: {"credit_rating": ratings[n], "credit_limit": 500.0, "rating_basis": "按资信等级配套政策评定"}
            for n in names}, ("sales_dev",))
        self.per_candidate("finance", "财务部", "7", {
            n: {"evaluation_report": "经营稳健, 渠道覆盖与拓展计划相符",
                "recommendation": "recommend" if decisions[n] == "accept" else "not_recommend"} for n in names},
            ("customer_service",))
        self.per_candidate("sales_dev", "销售拓展部", "8", {
            n: {"decision": d, **({"comment": "渠道与现有分销商重叠"} if d == "reject" else {})}
            for n, d in decisions.items()}, ("sales_director", "finance"))

    def gateways(self) -> list[tuple[str, list[str]]]:
        return self.sc.tx(lambda s: [(e.detail["element_id"], e.detail["chosen"]) for e in s.scalars(
            select(Event).where(Event.instance_id == self.id, Event.kind == "gateway").order_by(Event.id))])


def survey(sc, contacted: list[dict]) -> Selection:
    instance_id = sc.start("SM2_1", "sales_dev")
    sel = Selection(sc, instance_id)
    sel.company("sales_dev", "销售拓展部", "1", {
        "survey_scope": "华北、华南 商业分销与零售连锁", "survey_findings": "两地商业分销覆盖不足, 连锁药店合作意愿强",
        "contacted_customers": contacted}, ("sales_director", "rm_huabei"))
    return sel


def test_a_rejected_candidate_is_replaced_and_the_new_distributors_sign(demo):
    sc = demo
    sel = survey(sc, [dict(BEIJING, willing=True), dict(GUANGZHOU, willing=True),
                      {"name": "天津华信医药有限公司", "region": "华北", "office": "天津办事处", "willing": False,
                       "note": "暂无合作意愿"}])
    two = sc.take("sales_dev", sel.id, "2", "销售拓展部", "*", ("customer_service",))
    assert two.prefill["potential_customers"] == [BEIJING, GUANGZHOU]  # the willing ones
    sc.complete(two, "sales_dev",
                {"potential_customers": [dict(c, reason="满足渠道拓展计划") for c in (BEIJING, GUANGZHOU)]})

    sel.visits([BEIJING, GUANGZHOU], reject_first_form=True)
    sel.evaluate([BEIJING, GUANGZHOU], {label(BEIJING): "accept", label(GUANGZHOU): "reject"})

    nine = sc.take("sales_dev", sel.id, "9", "销售拓展部", "*", ("sales_director",))
    assert nine.prefill["rejected_overview"] == [
        {"name": GUANGZHOU["name"], "region": "华南", "reason": "渠道与现有分销商重叠"}]
    sc.complete(nine, "sales_dev", {"replacement_customers": [dict(SHANGHAI, reason="替代广州的候选")]})
    sel.visits([SHANGHAI])  # only the replacement is visited again
    sel.evaluate([SHANGHAI], {label(SHANGHAI): "accept"})

    ten = sc.take("sales_director", sel.id, "10", "销售总监", "*", ("sales_dev", "vp"))
    review = [{"name": c["name"], "region": c["region"], "channel": c["channel"], "credit_rating": r, "approved": True}
              for c, r in ((BEIJING, "A"), (SHANGHAI, "A"))]
    assert ten.prefill["director_review"] == review
    sc.complete(ten, "sales_director", {"director_review": review, "director_comment": "同意接纳, 按 A 级授信"})

    # 11 archive, register, 12 notification, then 13 per new distributor in its region.
    (record,) = sc.archive(sel.id)
    assert (record.step, record.kind, record.scope, record.archived_by) == (
        "11", "customer_file", "*", "sales_director")
    assert record.sha256 == hashlib.sha256(canonical_json(record.document).encode()).hexdigest()
    assert [c["name"] for c in record.document["customers"]] == [BEIJING["name"], SHANGHAI["name"]]
    assert record.document["customers"][0]["address"] == visit(BEIJING, 0)["address"]
    customers = sc.customers()
    for c, n in ((BEIJING, 0), (SHANGHAI, 0)):
        row = customers[c["name"]]
        assert (row.region, row.channel, row.credit_rating, row.status) == (c["region"], c["channel"], "A", "active")
        assert {k: row.info[k] for k in ("address", "licences", "credit_limit", "legal_representative")} == {
            "address": visit(c, n)["address"], "licences": visit(c, n)["licences"], "credit_limit": 500.0,
            "legal_representative": visit(c, n)["legal_representative"]}
    assert GUANGZHOU["name"] not in customers and len(customers) == 8  # 6 demo distributors + 2 new
    assert sc.notifications(sel.id) == [
        ("大区经理", "*", f"新开发的分销商: {BEIJING['name']} (华北), {SHANGHAI['name']} (华东)")]

    for c, rm, other in ((BEIJING, "rm_huabei", "rm_huadong"), (SHANGHAI, "rm_huadong", "rm_huabei")):
        task = sc.take(rm, sel.id, "13", "大区经理", c["region"], (other, sc.who("办事处", scope(c))))
        assert task.prefill["customer_name"] == label(c)
        sc.complete(task, rm, {"agreement_no": f"XS-2027-{c['region']}-001", "signed_on": "2027-04-20",
                               "valid_until": "2027-12-31", "annual_target": 1200.0})

    assert sc.status(sel.id) == "completed"
    final = sc.data(sel.id)["final_customers"]
    assert [(c["name"], c["agreement_no"], c["decision"]) for c in final] == [
        (BEIJING["name"], "XS-2027-华北-001", "accept"), (SHANGHAI["name"], "XS-2027-华东-001", "accept")]
    assert sel.gateways() == [("Gateway_8", ["9 另寻替代分销商"]), ("Gateway_replacements", ["3 拜访客户收集客户信息"]),
                              ("Gateway_8", ["10 审批新分销商"])]


def test_no_replacement_ends_with_no_new_distributor(demo_any_db):
    """The short path, on SQLite and PostgreSQL: the only candidate is rejected and nobody replaces it."""
    sc = demo_any_db
    sel = survey(sc, [dict(GUANGZHOU, willing=True)])
    sel.company("sales_dev", "销售拓展部", "2", {"potential_customers": [GUANGZHOU]}, ("finance",))
    sel.visits([GUANGZHOU])
    sel.evaluate([GUANGZHOU], {label(GUANGZHOU): "reject"})
    sel.company("sales_dev", "销售拓展部", "9", {"replacement_customers": []}, ("customer_service",))
    ten = sc.take("sales_director", sel.id, "10", "销售总监", "*", ("sales_dev",))
    assert ten.prefill["director_review"] == []
    sc.complete(ten, "sales_director", {"director_comment": "本轮不新增分销商"})

    assert sc.status(sel.id) == "completed"
    (record,) = sc.archive(sel.id)
    assert (record.step, record.document) == ("11", {"customers": [], "director_comment": "本轮不新增分销商"})
    assert GUANGZHOU["name"] not in sc.customers()
    assert sc.notifications(sel.id) == [("大区经理", "*", "新开发的分销商: 无")]
    assert sc.inbox("rm_huanan", sel.id) == []
    assert sel.gateways() == [("Gateway_8", ["9 另寻替代分销商"]), ("Gateway_replacements", ["10 审批新分销商"])]
