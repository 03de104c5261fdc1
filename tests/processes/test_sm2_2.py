"""SM2.2 年度分销商维护 end to end: a termination, a credit change, a rating sent back for correction."""

from datetime import datetime

import pytest
from sqlalchemy import select

from engine.clock import COMPANY_TZ
from engine.errors import ValidationFailed
from engine.store.models import Event, ProcessInstance

NEW_YEAR = datetime(2027, 1, 1, 9, tzinfo=COMPANY_TZ)
CHENGDU, XIAN = "成都蜀康医药有限公司", "西安秦岭医药有限公司"
GUANGZHOU, WUHAN = "广州南粤医药有限公司", "武汉楚天医药有限公司"


def files_of(sc, names: list[str] | None = None) -> list[dict]:
    """Step 2's 客户信息档案: the register's distributors, typed in by customer service."""
    rows = []
    for n, (name, c) in enumerate(sc.customers().items()):
        if names is None or name in names:
            rows.append({"name": name, "region": c.region, "channel": c.channel, "credit_rating": c.credit_rating,
                         "annual_sales": 3000.0 + 500 * n, "payment_days": 45 + 10 * n})
    return rows


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

    def survey_and_files(self, files: list[dict]):
        self.do("sales_dev", "1", "销售拓展部", {
            "survey_findings": "西南零售渠道竞争加剧, 部分分销商回款放缓; 华南连锁药店扩张迅速。",
            "customer_feedback": [{"name": f["name"], "region": f["region"], "willing": True} for f in files]},
            ("customer_service", "rm_huabei"))
        self.do("customer_service", "2", "客户服务部", {"customer_files": files, "files_note": "据客户档案整理"},
                ("finance", "sales_dev"))


def start_year(sc) -> int:
    sc.env.clock.set(NEW_YEAR)
    started = [i for i in sc.start_scheduled() if sc.tx(lambda s, i=i: s.get(ProcessInstance, i).process_id) == "SM2_2"]
    assert len(started) == 1 and sc.start_scheduled() == []
    assert sc.tx(lambda s: s.get(ProcessInstance, started[0]).business_key) == "2027-01-01"
    return started[0]


def test_termination_credit_change_and_renewals(demo):
    sc = demo
    m = Maintenance(sc, start_year(sc))
    files = files_of(sc)
    m.do("sales_dev", "1", "销售拓展部", {"survey_findings": "西南零售渠道竞争加剧, 部分分销商回款放缓。"},
         ("customer_service", "rm_xinan"))
    two = m.take("customer_service", "2", "客户服务部", ("finance", "sales_dev"))
    revision = sc.revision(m.id)
    with pytest.raises(ValidationFailed) as caught:
        sc.complete(two, "customer_service", {"customer_files": [dict(files[0], region=""),
                                                                 dict(files[1], payment_days="四十五天")]})
    assert {p.field for p in caught.value.problems} == {"customer_files[0].region", "customer_files[1].payment_days"}
    assert sc.revision(m.id) == revision and sc.only("customer_service", m.id, "2").id == two.id
    sc.complete(two, "customer_service", {"customer_files": files})

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

    four = m.take("sales_dev", "4", "销售拓展部", ("sales_director",))
    proposed = [{"name": CHENGDU, "region": "西南", "reason": "回款严重逾期, 建议解除"},
                {"name": XIAN, "region": "西北", "reason": "销售连续两年下滑"}]
    assert four.prefill["termination_list"] == proposed
    sc.complete(four, "sales_dev", {"termination_list": proposed})
    five = m.take("sales_director", "5", "销售总监", ("sales_dev", "rm_xibei"))
    assert five.prefill["termination_review"] == [dict(p, approved=True) for p in proposed]
    sc.complete(five, "sales_director", {"termination_review": [dict(proposed[0], approved=True),
                                                                dict(proposed[1], approved=False)],
                                         "termination_review_comment": "西安给一年整改期"})

    # 6 froze only the approved one, 7 told the regional managers; 8 goes to 西南 alone.
    customers = sc.customers()
    assert (customers[CHENGDU].status, customers[XIAN].status) == ("frozen", "active")
    assert sc.notifications(m.id) == [("大区经理", "*", f"解除合作关系的客户: {CHENGDU} (西南)")]
    eight = m.take("rm_xinan", "8", "大区经理", ("rm_xibei", "customer_service"), scope="西南")
    assert eight.prefill["customers"] == CHENGDU
    assert [t.step for t in sc.open_tasks(m.id)] == ["8"]
    sc.complete(eight, "rm_xinan", {"notified_on": "2027-01-15", "notify_note": "已书面通知, 客户确认收到"})

    # 9 with a rating nobody can read goes back for correction, keeping what was typed.
    nine = m.take("sales_dev", "9", "销售拓展部", ("finance",))
    changes = nine.prefill["credit_changes"]
    assert [(c["name"], c["old_rating"], c["new_rating"]) for c in changes] == [
        (GUANGZHOU, "B", "A"), (WUHAN, "B", "C")]
    typed = [dict(changes[0], new_rating="a级", reason="回款及时, 销售增长"),
             dict(changes[1], new_rating="E", reason="回款放缓")]
    sc.complete(nine, "sales_dev", {"credit_changes": typed})
    again = m.take("sales_dev", "9", "销售拓展部", ("sales_director",))
    assert again.id != nine.id
    assert again.prefill["rating_problem_note"] == f"{WUHAN}: E"
    assert again.prefill["credit_changes"] == typed
    sc.complete(again, "sales_dev", {"credit_changes": [typed[0], dict(typed[1], new_rating=" c ")]})

    ten = m.take("sales_director", "10", "销售总监", ("sales_dev",))
    normalised = [dict(typed[0], new_rating="A"), dict(typed[1], new_rating="C")]
    assert ten.prefill["credit_review_director"] == [dict(c, approved=True) for c in normalised]
    sc.complete(ten, "sales_director", {"credit_review_director": ten.prefill["credit_review_director"]})
    eleven = m.take("finance", "11", "财务部", ("sales_director", "customer_service"))
    sc.complete(eleven, "finance", {"credit_review_finance": [dict(normalised[0], approved=True),
                                                               dict(normalised[1], approved=False)],
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
    assert m.gateways() == [("Gateway_ratings", ["9 确定客户资信调整"]),
                            ("Gateway_ratings", ["10 销售总监审核资信变动"])]
    data = sc.data(m.id)
    assert [t["name"] for t in data["terminated_customers"]] == [CHENGDU]
    assert [r["region"] for r in data["renewals"]] == ["华北", "华东", "华南", "华中", "西北"]


def test_a_quiet_year_changes_nothing_and_next_year_starts_once(demo_any_db):
    """The short path, on SQLite and PostgreSQL: nobody is terminated and no rating changes."""
    sc = demo_any_db
    m = Maintenance(sc, start_year(sc))
    files = files_of(sc, ["北京康泰医药有限公司", "上海华源医药有限公司"])
    m.survey_and_files(files)
    m.do("finance", "3", "财务部", {"customer_evaluations": [
        {"name": f["name"], "region": f["region"], "current_rating": "A", "suggested_rating": "A",
         "recommend_terminate": False} for f in files], "evaluation_report": "两家分销商经营稳定"}, ("sales_dev",))
    four = m.take("sales_dev", "4", "销售拓展部", ("finance",))
    assert four.prefill["termination_list"] == []
    sc.complete(four, "sales_dev", {"termination_note": "本年度不解除"})
    m.do("sales_director", "5", "销售总监", {}, ("sales_dev",))
    nine = m.take("sales_dev", "9", "销售拓展部", ("customer_service",))  # no step 8: nobody to notify
    assert nine.prefill["credit_changes"] == []
    sc.complete(nine, "sales_dev", {"credit_note": "资信不变"})
    m.do("sales_director", "10", "销售总监", {}, ("finance",))
    m.do("finance", "11", "财务部", {}, ("sales_director",))
    assert sc.notifications(m.id) == [("大区经理", "*", "解除合作关系的客户: 无"),
                                      ("大区经理", "*", "客户资信变更: 无")]
    for f, rm in zip(files, ("rm_huabei", "rm_huadong"), strict=True):
        task = m.take(rm, "14", "大区经理", ("rm_huanan",), scope=f["region"])
        sc.complete(task, rm, {"agreements": [dict(task.prefill["agreements"][0], agreement_no="ND-2027-01",
                                                   signed_on="2027-01-20")]})
    assert sc.status(m.id) == "completed"
    assert {c.status for c in sc.customers().values()} == {"active"}
    assert m.gateways() == [("Gateway_ratings", ["10 销售总监审核资信变动"])]

    sc.env.clock.set(datetime(2028, 1, 3, 8, tzinfo=COMPANY_TZ))
    started = [i for i in sc.start_scheduled() if sc.tx(lambda s, i=i: s.get(ProcessInstance, i).process_id) == "SM2_2"]
    assert [sc.tx(lambda s, i=i: s.get(ProcessInstance, i).business_key) for i in started] == ["2028-01-01"]
    assert sc.start_scheduled() == []
