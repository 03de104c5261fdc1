"""SM2.2 年度分销商维护 end to end: step 2 prefilled from the register, a termination, a credit change, a rating
sent back for correction, and customer names the register does not know sent back before anything is frozen."""

from datetime import datetime

import pytest
from sqlalchemy import select

from engine.clock import COMPANY_TZ
from engine.errors import ValidationFailed
from engine.store.models import Customer, Event, ProcessInstance

NEW_YEAR = datetime(2027, 1, 1, 9, tzinfo=COMPANY_TZ)
CHENGDU, XIAN = "成都蜀康医药有限公司", "西安秦岭医药有限公司"
GUANGZHOU, WUHAN = "广州南粤医药有限公司", "武汉楚天医药有限公司"
BEIJING, SHANGHAI = "北京康泰医药有限公司", "上海华源医药有限公司"
# The demo register as 读取客户档案 lists it: by region (华东 < 华中 < 华北 < 华南 < 西北 < 西南), then name.
REGISTER_ORDER = [SHANGHAI, WUHAN, BEIJING, GUANGZHOU, XIAN, CHENGDU]
NOT_REGISTERED = "不在客户登记中 (或已冻结)"


def register_rows(sc) -> list[dict]:
    """What step 2 should start from: the active distributors of the register (bpmn/demo_org.json)."""
    active = sorted((c for c in sc.customers().values() if c.status == "active"), key=lambda c: (c.region, c.name))
    return [{"name": c.name, "region": c.region, "channel": c.channel, "credit_rating": c.credit_rating}
            for c in active]


def filled(rows: list[dict], names: list[str] | None = None) -> list[dict]:
    """Step 2's 客户信息档案: the prefilled rows (some of them), with what customer service adds."""
    return [dict(r, annual_sales=3000.0 + 500 * n, payment_days=45 + 10 * n)
            for n, r in enumerate(rows) if names is None or r["name"] in names]


def register_state(sc) -> dict[str, tuple]:
    return {name: (c.status, c.credit_rating, c.region, c.updated_at) for name, c in sc.customers().items()}


class Maintenance:
    def __init__(self, sc, instance_id: int):
        self.sc, self.id = sc, instance_id

    def take(self, login, step, role, outsiders, scope="*"):
        return self.sc.take(login, self.id, step, role, scope, outsiders)

    def do(self, login, step, role, data, outsiders):
        self.sc.complete(self.take(login, step, role, outsiders), login, data)

    def gateways(self) -> list[tuple[str, list[str]]]:
        return self.sc.tx(lambda s: [(e.detail["element_id"], e.detail["chosen"]) for e in s.scalars(
            select(Event).where(Event.instance_id == self.id, Event.kind == "gateway").order_by(Event.id))])

    def service_calls(self) -> list[str]:
        return self.sc.tx(lambda s: [e.detail["element_id"] for e in s.scalars(
            select(Event).where(Event.instance_id == self.id, Event.kind == "service_task").order_by(Event.id))])

    def errors(self) -> list[dict]:
        return self.sc.tx(lambda s: [e.detail for e in s.scalars(
            select(Event).where(Event.instance_id == self.id, Event.kind == "error"))])

    def survey(self, names: list[str]):
        self.do("sales_dev", "1", "销售拓展部", {
            "survey_findings": "西南零售渠道竞争加剧, 部分分销商回款放缓; 华南连锁药店扩张迅速。",
            "customer_feedback": [{"name": r["name"], "region": r["region"], "willing": True}
                                  for r in register_rows(self.sc) if r["name"] in names]},
            ("customer_service", "rm_huabei"))

    def survey_and_files(self, names: list[str]) -> list[dict]:
        """Steps 1 and 2; step 2 keeps the register's rows of `names` and adds sales and payment days."""
        self.survey(names)
        two = self.take("customer_service", "2", "客户服务部", ("finance", "sales_dev"))
        assert two.prefill["customer_files"] == register_rows(self.sc)
        files = filled(two.prefill["customer_files"], names)
        self.sc.complete(two, "customer_service", {"customer_files": files, "files_note": "据客户档案整理"})
        return files


def start_year(sc) -> int:
    sc.env.clock.set(NEW_YEAR)
    started = [i for i in sc.start_scheduled() if sc.tx(lambda s, i=i: s.get(ProcessInstance, i).process_id) == "SM2_2"]
    assert len(started) == 1 and sc.start_scheduled() == []
    assert sc.tx(lambda s: s.get(ProcessInstance, started[0]).business_key) == "2027 年度分销商维护"
    return started[0]


def test_termination_credit_change_and_renewals(demo):
    sc = demo
    m = Maintenance(sc, start_year(sc))
    m.do("sales_dev", "1", "销售拓展部", {"survey_findings": "西南零售渠道竞争加剧, 部分分销商回款放缓。"},
         ("customer_service", "rm_xinan"))

    # 读取客户档案 put the register into step 2: names, regions, channels and ratings; nothing to correct yet.
    two = m.take("customer_service", "2", "客户服务部", ("finance", "sales_dev"))
    register = register_rows(sc)
    assert two.prefill["customer_files"] == register
    assert [r["name"] for r in register] == REGISTER_ORDER
    assert two.prefill["customer_file_problem_note"] == ""
    assert m.service_calls() == ["Service_read_register"]
    files = filled(two.prefill["customer_files"])
    assert [f["name"] for f in files] == REGISTER_ORDER and files[0]["annual_sales"] == 3000.0
    revision = sc.revision(m.id)
    with pytest.raises(ValidationFailed) as caught:
        sc.complete(two, "customer_service", {"customer_files": [dict(files[0], region=""),
                                                                 dict(files[1], payment_days="四十五天")]})
    assert {p.field for p in caught.value.problems} == {"customer_files[0].region", "customer_files[1].payment_days"}
    assert sc.revision(m.id) == revision and sc.only("customer_service", m.id, "2").id == two.id
    sc.complete(two, "customer_service", {"customer_files": files})
    assert sc.data(m.id)["customer_files"] == files

    three = m.take("finance", "3", "财务部", ("customer_service",))
    evaluations = three.prefill["customer_evaluations"]
    assert [(e["name"], e["current_rating"], e["suggested_rating"]) for e in evaluations] == [
        (f["name"], f["credit_rating"], f["credit_rating"]) for f in files]
    advice = {CHENGDU: {"recommend_terminate": True, "note": "回款严重逾期, 建议解除"},
              XIAN: {"recommend_terminate": True, "note": "销售连续两年下滑"},
              GUANGZHOU: {"suggested_rating": "A", "payment_rate": 99.0}, WUHAN: {"suggested_rating": "C"}}
    evaluations = [{**e, "recommend_terminate": False, "payment_rate": 95.0, **advice.get(e["name"], {})}
                   for e in evaluations]
    sc.complete(three, "finance", {"customer_evaluations": evaluations, "evaluation_report": "六家分销商年度评估"})

    # 4 decides over every evaluated customer, finance's recommendations ticked: it keeps both and adds 武汉.
    four = m.take("sales_dev", "4", "销售拓展部", ("sales_director",))
    decisions = four.prefill["termination_decisions"]
    assert [e["name"] for e in decisions] == [e["name"] for e in evaluations]
    assert [(d["name"], d["recommended"], d["terminate"], d["reason"]) for d in decisions if d["terminate"]] == [
        (XIAN, True, True, "销售连续两年下滑"), (CHENGDU, True, True, "回款严重逾期, 建议解除")]
    assert not any(d["recommended"] for d in decisions if not d["terminate"])
    decided = [dict(d, terminate=True, reason="渠道重叠") if d["name"] == WUHAN else d for d in decisions]
    sc.complete(four, "sales_dev", {"termination_decisions": decided})
    proposed = [{"name": d["name"], "region": d["region"], "reason": d["reason"]} for d in decided if d["terminate"]]
    assert [p["name"] for p in proposed] == [n for n in (e["name"] for e in evaluations) if n in (XIAN, CHENGDU, WUHAN)]
    five = m.take("sales_director", "5", "销售总监", ("sales_dev", "rm_xibei"))
    assert five.prefill["termination_review"] == [dict(p, approved=True) for p in proposed]
    sc.complete(five, "sales_director", {"termination_review": [dict(p, approved=p["name"] == CHENGDU)
                                                                for p in proposed],
                                         "termination_review_comment": "西安给一年整改期, 武汉保留"})

    # 6 froze only the approved one, 7 told the regional managers; 8 goes to 西南 alone.
    customers = sc.customers()
    assert (customers[CHENGDU].status, customers[XIAN].status) == ("frozen", "active")
    assert sc.notifications(m.id) == [("大区经理", "*", f"解除合作关系的客户: {CHENGDU} (西南)")]
    eight = m.take("rm_xinan", "8", "大区经理", ("rm_xibei", "customer_service"), scope="西南")
    assert eight.prefill["customers"] == CHENGDU
    assert [t.step for t in sc.open_tasks(m.id)] == ["8"]
    sc.complete(eight, "rm_xinan", {"notified_on": "2027-01-15", "notify_note": "已书面通知, 客户确认收到"})

    # 9: a row for every customer who stays, finance's suggested rating filled in; a changed rating is a credit
    # change. One nobody can read goes back for correction, keeping what was typed.
    nine = m.take("sales_dev", "9", "销售拓展部", ("finance",))
    ratings = nine.prefill["credit_decisions"]
    assert [r["name"] for r in ratings] == [e["name"] for e in evaluations if e["name"] != CHENGDU]
    assert [(r["name"], r["old_rating"], r["new_rating"]) for r in ratings if r["new_rating"] != r["old_rating"]] == [
        (WUHAN, "B", "C"), (GUANGZHOU, "B", "A")]
    reasons = {WUHAN: ("E", "回款放缓"), GUANGZHOU: ("a级", "回款及时, 销售增长")}
    typed = [dict(r, new_rating=reasons[r["name"]][0], reason=reasons[r["name"]][1]) if r["name"] in reasons
             else dict(r, reason=None) for r in ratings]
    sc.complete(nine, "sales_dev", {"credit_decisions": typed})
    again = m.take("sales_dev", "9", "销售拓展部", ("sales_director",))
    assert again.id != nine.id
    assert again.prefill["rating_problem_note"] == f"{WUHAN}: E"
    assert again.prefill["credit_decisions"] == typed
    sc.complete(again, "sales_dev", {"credit_decisions": [dict(r, new_rating=" c ") if r["name"] == WUHAN else r
                                                          for r in typed]})

    ten = m.take("sales_director", "10", "销售总监", ("sales_dev",))
    changed = [r for r in typed if r["name"] in reasons]
    normalised = [dict(changed[0], new_rating="C"), dict(changed[1], new_rating="A")]
    assert ten.prefill["credit_review_director"] == [dict(c, approved=True) for c in normalised]
    sc.complete(ten, "sales_director", {"credit_review_director": ten.prefill["credit_review_director"]})
    eleven = m.take("finance", "11", "财务部", ("sales_director", "customer_service"))
    sc.complete(eleven, "finance", {"credit_review_finance": [dict(normalised[0], approved=False),
                                                               dict(normalised[1], approved=True)],
                                    "credit_finance_comment": "武汉暂不下调, 下季度复核"})

    customers = sc.customers()
    assert {n: c.credit_rating for n, c in customers.items()} == {
        f["name"]: "A" if f["name"] == GUANGZHOU else f["credit_rating"] for f in files}
    assert sc.notifications(m.id)[1:] == [("大区经理", "*", f"客户资信变更: {GUANGZHOU} → A")]

    # 14: every region that keeps a distributor renews; 西南 (its only one frozen) has nothing to sign.
    renewing = sorted(t.scope for t in sc.open_tasks(m.id))
    assert renewing == sorted({f["region"] for f in files} - {"西南"})
    for f in files:
        if f["region"] == "西南":
            continue
        rm = sc.who("大区经理", f["region"])
        task = m.take(rm, "14", "大区经理", ("rm_xinan", sc.who("渠道经理", f["region"])), scope=f["region"])
        rating = "A" if f["name"] == GUANGZHOU else f["credit_rating"]
        assert task.prefill["agreements"] == [{"customer": f["name"], "credit_rating": rating}]
        sc.complete(task, rm, {"agreements": [{"customer": f["name"], "agreement_no": f"ND-2027-{f['region']}",
                                               "signed_on": "2027-02-10", "credit_rating": rating,
                                               "valid_until": "2027-12-31"}]})
    assert sc.status(m.id) == "completed"
    assert m.gateways() == [("Gateway_customers", ["3 制作客户评估报告"]),
                            ("Gateway_ratings", ["9 确定客户资信调整"]),
                            ("Gateway_ratings", ["10 销售总监审核资信变动"])]
    assert m.service_calls() == ["Service_read_register", "Task_6", "Task_7", "Task_12", "Task_13"]
    assert m.errors() == []
    data = sc.data(m.id)
    assert data["customer_file_problems"] == []
    assert [t["name"] for t in data["terminated_customers"]] == [CHENGDU]
    assert [r["region"] for r in data["renewals"]] == ["华北", "华东", "华南", "华中", "西北"]


def test_a_quiet_year_changes_nothing_and_next_year_starts_once(demo_any_db):
    """The short path, on SQLite and PostgreSQL: nobody is terminated and no rating changes."""
    sc = demo_any_db
    m = Maintenance(sc, start_year(sc))
    files = m.survey_and_files([BEIJING, SHANGHAI])
    assert [f["name"] for f in files] == [SHANGHAI, BEIJING]
    m.do("finance", "3", "财务部", {"customer_evaluations": [
        {"name": f["name"], "region": f["region"], "current_rating": "A", "suggested_rating": "A",
         "recommend_terminate": False} for f in files], "evaluation_report": "两家分销商经营稳定"}, ("sales_dev",))
    four = m.take("sales_dev", "4", "销售拓展部", ("finance",))
    assert not any(d["terminate"] for d in four.prefill["termination_decisions"])
    sc.complete(four, "sales_dev", {"termination_decisions": four.prefill["termination_decisions"],
                                    "termination_note": "本年度不解除"})
    m.do("sales_director", "5", "销售总监", {}, ("sales_dev",))
    nine = m.take("sales_dev", "9", "销售拓展部", ("customer_service",))  # no step 8: nobody to notify
    assert [(r["old_rating"], r["new_rating"]) for r in nine.prefill["credit_decisions"]] == [("A", "A")] * 2
    sc.complete(nine, "sales_dev", {"credit_decisions": nine.prefill["credit_decisions"], "credit_note": "资信不变"})
    m.do("sales_director", "10", "销售总监", {}, ("finance",))
    m.do("finance", "11", "财务部", {}, ("sales_director",))
    assert sc.notifications(m.id) == [("大区经理", "*", "解除合作关系的客户: 无"),
                                      ("大区经理", "*", "客户资信变更: 无")]
    for f, rm in zip(files, ("rm_huadong", "rm_huabei"), strict=True):
        task = m.take(rm, "14", "大区经理", ("rm_huanan",), scope=f["region"])
        sc.complete(task, rm, {"agreements": [dict(task.prefill["agreements"][0], agreement_no="ND-2027-01",
                                                   signed_on="2027-01-20")]})
    assert sc.status(m.id) == "completed"
    assert {c.status for c in sc.customers().values()} == {"active"}
    assert m.gateways() == [("Gateway_customers", ["3 制作客户评估报告"]),
                            ("Gateway_ratings", ["10 销售总监审核资信变动"])]

    sc.env.clock.set(datetime(2028, 1, 3, 8, tzinfo=COMPANY_TZ))
    started = [i for i in sc.start_scheduled() if sc.tx(lambda s, i=i: s.get(ProcessInstance, i).process_id) == "SM2_2"]
    assert [sc.tx(lambda s, i=i: s.get(ProcessInstance, i).business_key) for i in started] == ["2028 年度分销商维护"]
    assert sc.start_scheduled() == []


def test_a_name_the_register_does_not_know_goes_back_to_step_2_and_nothing_is_frozen(demo_any_db):
    """A typo, a distributor frozen last year and a duplicate never reach 6 (freeze) or 12; nothing fails."""
    sc = demo_any_db

    def freeze_xian(s):
        s.scalars(select(Customer).where(Customer.name == XIAN)).one().status = "frozen"
    sc.tx(freeze_xian)
    before = register_state(sc)
    m = Maintenance(sc, start_year(sc))
    m.survey([BEIJING, CHENGDU, GUANGZHOU])
    two = m.take("customer_service", "2", "客户服务部", ("finance",))
    assert [r["name"] for r in two.prefill["customer_files"]] == [n for n in REGISTER_ORDER if n != XIAN]
    typo = "成都蜀康医药公司"
    kept = {f["name"]: f for f in filled(two.prefill["customer_files"], [BEIJING, CHENGDU, GUANGZHOU])}
    frozen_row = {"name": XIAN, "region": "西北", "channel": "商业分销", "credit_rating": "B",
                  "annual_sales": 2000.0, "payment_days": 90}
    typed = [dict(kept[BEIJING], name=f" {BEIJING} "), kept[GUANGZHOU], dict(kept[CHENGDU], name=typo),
             frozen_row, dict(kept[GUANGZHOU], annual_sales=1.0)]
    sc.complete(two, "customer_service", {"customer_files": typed})

    # Sent back (the register read again), keeping what was typed; no step 3, no handler failure.
    again = m.take("customer_service", "2", "客户服务部", ("finance",))
    assert again.id != two.id and [t.step for t in sc.open_tasks(m.id)] == ["2"]
    assert again.prefill["customer_file_problem_note"] == (
        f"{typo}: {NOT_REGISTERED}; {XIAN}: {NOT_REGISTERED}; {GUANGZHOU}: 重复列出")
    assert again.prefill["customer_files"] == [dict(typed[0], name=BEIJING)] + typed[1:]
    assert m.gateways() == [("Gateway_customers", ["读取客户档案"])]
    assert m.service_calls() == ["Service_read_register"] * 2
    assert (sc.status(m.id), m.errors(), register_state(sc)) == ("running", [], before)

    # Corrected, the files go on to finance with the register's names only.
    sc.complete(again, "customer_service", {"customer_files": [typed[0], kept[GUANGZHOU], kept[CHENGDU]]})
    three = m.take("finance", "3", "财务部", ("customer_service",))
    assert [e["name"] for e in three.prefill["customer_evaluations"]] == [BEIJING, GUANGZHOU, CHENGDU]
    assert sc.data(m.id)["customer_file_problems"] == []
    assert m.gateways()[1:] == [("Gateway_customers", ["3 制作客户评估报告"])]
    assert register_state(sc) == before
