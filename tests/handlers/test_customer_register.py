"""客户登记 handler: create (SM2.1), freeze (SM2.2 step 6), update_credit (SM2.2 step 12), all or nothing;
list (SM2.2 读取客户档案)."""

import pytest
from sqlalchemy import select

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.store.models import Customer
from handlers import default_registry
from handlers.customer_register import customer_register, list_customers

LICENCES = [{"licence": "营业执照", "number": "9151", "valid_until": "2030-01-01"}]


def _ctx(session, clock):
    return HandlerContext(session=session, instance_id=3, process_id="SM2_2", version=1, element_id="Task_12",
                          step="12", actor=None, now=clock.now())


def _run(sessions, clock, action, customers, **params):
    """One unit of work, committed even when the handler fails (as the engine does after recording it)."""
    with sessions() as s:
        try:
            return customer_register(_ctx(s, clock), action=action, customers=customers, **params)
        finally:
            s.commit()


def _register(sessions) -> dict[str, dict]:
    with sessions() as s:
        return {c["name"]: c for c in list_customers(s)}


def _failure(sessions, clock, action, customers, **params) -> HandlerFailed:
    with pytest.raises(HandlerFailed) as caught:
        _run(sessions, clock, action, customers, **params)
    assert caught.value.retryable is False
    return caught.value


@pytest.fixture
def registered(sessions, clock):
    _run(sessions, clock, "create", [
        {"name": "甲医药", "region": "华北", "channel": "医院", "credit_rating": "B"},
        {"name": "乙医药", "region": "华东", "channel": "零售药店", "credit_rating": "C"},
        {"name": "丙医药", "region": "华南", "channel": "商业分销", "credit_rating": "A"},
    ])
    clock.advance(days=30)
    return _register(sessions)


def test_customer_register_is_registered_under_its_topic():
    assert default_registry().get("customer_register") is customer_register


# -- create ---------------------------------------------------------------------------------------------

def test_create_takes_what_sm2_1_passes(sessions, clock):
    """SM2.1 Service_register: name, region, office, channel, credit_rating and status 'active'."""
    result = _run(sessions, clock, "create", [
        {"name": "华北医药商业公司", "region": "华北", "office": "北京办事处", "channel": "商业分销",
         "credit_rating": "B", "status": "active"},
        {"name": "杭州康达药房", "region": "华东", "office": "杭州办事处", "channel": "零售药店",
         "credit_rating": "a", "status": "active"},
    ])
    assert result == {"customers_created": ["华北医药商业公司", "杭州康达药房"]}
    register = _register(sessions)
    assert register["华北医药商业公司"] == {
        "id": register["华北医药商业公司"]["id"], "name": "华北医药商业公司", "region": "华北",
        "channel": "商业分销", "credit_rating": "B", "status": "active", "info": {"office": "北京办事处"}}
    assert register["杭州康达药房"]["credit_rating"] == "A"
    with sessions() as s:
        row = s.scalars(select(Customer).where(Customer.name == "杭州康达药房")).one()
        assert row.created_at == row.updated_at == clock.now()


def test_create_reads_company_name_from_the_step_3_form_and_keeps_the_rest_as_info(sessions, clock):
    result = _run(sessions, clock, "create", [
        {"company_name": " 成都蜀康医药有限公司 ", "region": "西南", "address": "成都市武侯区",
         "annual_sales": 3200.0, "licences": LICENCES, "credit_rating": "B级"},
    ])
    assert result == {"customers_created": ["成都蜀康医药有限公司"]}
    customer = _register(sessions)["成都蜀康医药有限公司"]
    assert customer["credit_rating"] == "B"
    assert customer["channel"] is None
    assert customer["info"] == {"address": "成都市武侯区", "annual_sales": 3200.0, "licences": LICENCES}


def test_create_with_nobody_to_register_does_nothing(sessions, clock):
    assert _run(sessions, clock, "create", []) == {"customers_created": []}
    assert _register(sessions) == {}


def test_creating_an_active_customer_again_is_refused_and_nothing_is_added(sessions, clock, registered):
    failure = _failure(sessions, clock, "create", [{"name": "丁医药", "region": "华中"}, {"name": "甲医药"}])
    assert "甲医药" in failure.message and "丁医药" not in failure.message
    assert _register(sessions) == registered


def test_create_reports_every_bad_entry_and_adds_none(sessions, clock, registered):
    failure = _failure(sessions, clock, "create", [
        {"name": "戊医药", "credit_rating": "E"},
        {"region": "华北"},
        {"name": "己医药", "status": "frozen"},
        {"name": "庚医药"}, {"name": "庚医药"},
        "辛医药",
        {"name": "壬医药", "region": "华" * 65},
    ])
    for part in ("戊医药", "'E'", "第 2 项", "己医药", "frozen", "庚医药", "第 6 项", "壬医药"):
        assert part in failure.message
    assert _register(sessions) == registered


def test_a_frozen_customer_accepted_again_is_reactivated_in_its_row(sessions, clock, registered):
    _run(sessions, clock, "freeze", ["乙医药"])
    result = _run(sessions, clock, "create", [{"name": "乙医药", "region": "华东", "channel": "医院",
                                               "credit_rating": "B", "office": "上海办事处"}])
    assert result == {"customers_created": ["乙医药"], "customers_reactivated": ["乙医药"]}
    customer = _register(sessions)["乙医药"]
    assert (customer["id"], customer["status"], customer["channel"], customer["credit_rating"]) == (
        registered["乙医药"]["id"], "active", "医院", "B")
    assert customer["info"] == {"office": "上海办事处"}


# -- freeze ---------------------------------------------------------------------------------------------

def test_freeze_takes_the_names_sm2_2_passes(sessions, clock, registered):
    result = _run(sessions, clock, "freeze", ["甲医药", {"name": "乙医药", "region": "华东"}])
    assert result == {"customers_frozen": ["甲医药", "乙医药"]}
    register = _register(sessions)
    assert {name: c["status"] for name, c in register.items()} == {
        "甲医药": "frozen", "乙医药": "frozen", "丙医药": "active"}
    assert register["甲医药"]["credit_rating"] == "B"
    assert [c["name"] for c in _list(sessions, "active")] == ["丙医药"]
    with sessions() as s:
        frozen = s.scalars(select(Customer).where(Customer.name == "甲医药")).one()
        assert frozen.updated_at == clock.now() != frozen.created_at


def _list(sessions, status):
    with sessions() as s:
        return list_customers(s, status)


def test_freezing_a_frozen_customer_again_is_harmless(sessions, clock, registered):
    _run(sessions, clock, "freeze", ["甲医药"])
    assert _run(sessions, clock, "freeze", ["甲医药", "甲医药"]) == {"customers_frozen": ["甲医药"]}
    assert _register(sessions)["甲医药"]["status"] == "frozen"


def test_freeze_with_nobody_to_freeze_does_nothing(sessions, clock, registered):
    assert _run(sessions, clock, "freeze", []) == {"customers_frozen": []}
    assert _run(sessions, clock, "freeze", None) == {"customers_frozen": []}
    assert _register(sessions) == registered


def test_freezing_unknown_customers_names_them_and_freezes_nobody(sessions, clock, registered):
    failure = _failure(sessions, clock, "freeze", ["甲医药", "不存在医药", "乙医药", "查无此家"])
    assert "不存在医药" in failure.message and "查无此家" in failure.message
    assert "甲医药" not in failure.message
    assert _register(sessions) == registered


def test_freeze_refuses_entries_without_a_name(sessions, clock, registered):
    failure = _failure(sessions, clock, "freeze", ["甲医药", {"region": "华北"}, 42])
    assert "第 2 项" in failure.message and "第 3 项" in failure.message
    assert _register(sessions) == registered


# -- update_credit --------------------------------------------------------------------------------------

def test_update_credit_takes_what_sm2_2_step_12_passes(sessions, clock, registered):
    result = _run(sessions, clock, "update_credit", [
        {"name": "甲医药", "credit_rating": "A"},
        {"name": "乙医药", "credit_rating": "d级"},
        {"name": "丙医药", "credit_rating": " Ａ "},
    ])
    assert result == {"credit_updated": [
        {"name": "甲医药", "old": "B", "new": "A"},
        {"name": "乙医药", "old": "C", "new": "D"},
        {"name": "丙医药", "old": "A", "new": "A"},
    ]}
    register = _register(sessions)
    ratings = {name: c["credit_rating"] for name, c in register.items()}
    assert ratings == {"甲医药": "A", "乙医药": "D", "丙医药": "A"}
    with sessions() as s:
        rows = {c.name: c for c in s.scalars(select(Customer))}
        assert rows["甲医药"].updated_at == clock.now()
        assert rows["丙医药"].updated_at < clock.now()  # unchanged rating, untouched row


def test_update_credit_accepts_the_review_tables_new_rating_column(sessions, clock, registered):
    assert _run(sessions, clock, "update_credit", [{"name": "甲医药", "new_rating": "C"}]) == {
        "credit_updated": [{"name": "甲医药", "old": "B", "new": "C"}]}


def test_update_credit_with_no_changes_does_nothing(sessions, clock, registered):
    assert _run(sessions, clock, "update_credit", []) == {"credit_updated": []}
    assert _register(sessions) == registered


@pytest.mark.parametrize("bad, mentioned", [
    ({"name": "乙医药", "credit_rating": "E"}, "'E'"),
    ({"name": "乙医药", "credit_rating": "AA"}, "'AA'"),
    ({"name": "乙医药"}, "'None'"),
    ({"name": "无名医药", "credit_rating": "A"}, "无名医药"),
    ({"name": "甲医药", "credit_rating": "C"}, "不同的资信等级"),
    ({"credit_rating": "A"}, "第 2 项"),
])
def test_a_bad_credit_change_is_named_and_no_rating_changes(sessions, clock, registered, bad, mentioned):
    failure = _failure(sessions, clock, "update_credit", [{"name": "甲医药", "credit_rating": "A"}, bad])
    assert mentioned in failure.message
    assert _register(sessions) == registered


# -- list -----------------------------------------------------------------------------------------------

def _names(result) -> list[str]:
    return [c["name"] for c in result["register_customers"]]


def test_list_gives_the_active_register_by_region_then_name(sessions, clock, registered):
    _run(sessions, clock, "create", [
        {"name": "丁医药", "region": "华北", "channel": "零售药店"},
        {"name": "戊医药"},
        {"name": "己医药", "region": "华东", "credit_rating": "D"},
    ])
    _run(sessions, clock, "freeze", ["丙医药"])
    with sessions() as s:  # what SM2.2 读取客户档案 passes: just the action
        result = customer_register(_ctx(s, clock), action="list")
    assert result == {"register_customers": [
        {"name": "乙医药", "region": "华东", "channel": "零售药店", "credit_rating": "C", "status": "active"},
        {"name": "己医药", "region": "华东", "channel": None, "credit_rating": "D", "status": "active"},
        {"name": "丁医药", "region": "华北", "channel": "零售药店", "credit_rating": None, "status": "active"},
        {"name": "甲医药", "region": "华北", "channel": "医院", "credit_rating": "B", "status": "active"},
        {"name": "戊医药", "region": None, "channel": None, "credit_rating": None, "status": "active"},
    ]}
    # The same order on SQLite and PostgreSQL: by code point (华东 < 华北), no region last.
    assert "乙医药" < "己医药" and "丁医药" < "甲医药" and "华东" < "华北"


def test_list_by_status_and_region(sessions, clock, registered):
    _run(sessions, clock, "freeze", ["丙医药", "乙医药"])
    assert _names(_run(sessions, clock, "list", None, status="frozen")) == ["乙医药", "丙医药"]
    assert _names(_run(sessions, clock, "list", None, status="*")) == ["乙医药", "甲医药", "丙医药"]
    assert _names(_run(sessions, clock, "list", None, region="华北")) == ["甲医药"]
    assert _names(_run(sessions, clock, "list", None, region=" 华南 ")) == []
    assert _names(_run(sessions, clock, "list", None, status="frozen", region="华南")) == ["丙医药"]
    assert _names(_run(sessions, clock, "list", None, region="*")) == ["甲医药"]
    assert _names(_run(sessions, clock, "list", None, region="")) == ["甲医药"]


def test_list_ignores_customers_and_changes_nothing(sessions, clock, registered):
    result = _run(sessions, clock, "list", ["乙医药", {"name": "不存在医药"}])
    assert _names(result) == ["乙医药", "甲医药", "丙医药"]
    assert result["register_customers"][0] == {
        "name": "乙医药", "region": "华东", "channel": "零售药店", "credit_rating": "C", "status": "active"}
    assert _register(sessions) == registered


def test_list_of_an_empty_register(sessions, clock):
    assert _run(sessions, clock, "list", None) == {"register_customers": []}


def test_list_refuses_an_unknown_status(sessions, clock, registered):
    failure = _failure(sessions, clock, "list", None, status="deleted")
    assert "deleted" in failure.message and "frozen" in failure.message


@pytest.mark.parametrize("params", [{"status": "active"}, {"region": "华北"}])
def test_status_and_region_belong_to_list_only(sessions, clock, registered, params):
    failure = _failure(sessions, clock, "freeze", ["甲医药"], **params)
    assert "list" in failure.message
    assert _register(sessions) == registered


# -- anything else --------------------------------------------------------------------------------------

def test_an_unknown_action_is_refused(sessions, clock, registered):
    failure = _failure(sessions, clock, "delete", ["甲医药"])
    assert "delete" in failure.message and "list" in failure.message
    assert _register(sessions) == registered


def test_customers_must_be_a_list(sessions, clock, registered):
    failure = _failure(sessions, clock, "freeze", "甲医药")
    assert "列表" in failure.message
    assert _register(sessions) == registered
