"""资信等级建议: the points rule of handlers/credit_rating.py, applied to what SM2.1 and SM2.2 collect."""

from datetime import UTC, date, datetime

import pytest

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.store.db import make_engine, make_session_factory
from handlers import default_registry
from handlers.credit_rating import credit_rating, normalize_rating, suggest_rating

TODAY = date(2027, 4, 2)
LICENCES = [{"licence": "营业执照", "number": "91110", "valid_until": "2035-12-31"},
            {"licence": "药品经营许可证", "number": "京AA", "valid_until": "2029-06-30"}]


def _candidate(**figures):
    """An SM2.1 candidate after steps 3–4: step 3's customer form and step 4's checks merged into the item."""
    base = {"name": "华北医药商业公司", "region": "华北", "office": "北京办事处", "channel": "商业分销",
            "scope": "华北/北京办事处", "company_name": "华北医药商业有限公司", "address": "北京市",
            "legal_representative": "张三", "contact": "李四 010-1234", "products": "心脑血管",
            "channel_info": "覆盖二级医院", "stock_level": 300.0, "licences": LICENCES, "copy_kept": True,
            "info_complete": True, "info_authentic": True}
    return {**base, **figures}


@pytest.fixture
def sessions(sqlite_url):
    engine = make_engine(sqlite_url)
    yield make_session_factory(engine)
    engine.dispose()


def _ctx(session, now):
    return HandlerContext(session=session, instance_id=4, process_id="SM2_1", version=1, element_id="Task_6",
                          step="6", actor=None, now=now)


def test_credit_rating_is_registered_under_its_topic():
    assert default_registry().get("credit_rating") is credit_rating


@pytest.mark.parametrize("figures, rating, total", [
    (dict(annual_sales=6000.0, registered_capital=1200, outlets=150, founded_on="2010-05-01"), "A", "75/75"),
    (dict(annual_sales=3000.0, registered_capital=600.0, outlets=40, founded_on="2019-01-01"), "B", "53/75"),
    (dict(annual_sales=800.0, registered_capital=200.0, outlets=12, founded_on="2024-01-01"), "C", "30/75"),
    (dict(annual_sales=300.0, registered_capital=50.0, outlets=5, founded_on="2026-01-01"), "D", "6/75"),
])
def test_a_new_distributor_is_scored_out_of_75(figures, rating, total):
    suggested, reasons = suggest_rating(_candidate(**figures), TODAY)
    assert suggested == rating
    assert any(r.startswith(f"合计 {total} 分") and r.endswith(f"→ {rating} 级") for r in reasons)
    assert "无回款记录 (新客户): 按 75 分满分计" in reasons


def test_each_figure_gives_its_reason():
    _, reasons = suggest_rating(_candidate(annual_sales=3000.0, registered_capital=600.0, outlets=40,
                                           founded_on="2019-01-01"), TODAY)
    assert reasons[:4] == ["年销售额 3000 万元: 22/30 分", "注册资本 600 万元: 11/15 分",
                           "销售网点数 40: 10/15 分", "经营年限 8.2 年: 10/15 分"]


def test_an_existing_distributor_is_scored_out_of_100_with_its_payment_history():
    """SM2.2 step 3 knows sales and the payment rate; the rating follows the payment record."""
    good = suggest_rating({"annual_sales": 3000.0, "years_in_business": 12, "payment_rate": 99.0}, TODAY)
    poor = suggest_rating({"annual_sales": 3000.0, "years_in_business": 12, "payment_rate": 70.0}, TODAY)
    assert good[0] == "B" and any(r.startswith("合计 62/100 分") for r in good[1])
    assert poor[0] == "D" and any(r.startswith("合计 37/100 分") for r in poor[1])


def test_the_worst_payment_figure_counts():
    _, reasons = suggest_rating({"payment_rate": 99.0, "payment_days": 75}, TODAY)
    assert "回款率 99%: 25/25 分" in reasons and "平均回款天数 75: 10/25 分" in reasons
    assert any(r.startswith("合计 10/100 分") for r in reasons)


@pytest.mark.parametrize("overdue", [0.05, 5])
def test_overdue_ratio_as_a_fraction_or_a_percentage(overdue):
    _, reasons = suggest_rating({"overdue_ratio": overdue}, TODAY)
    assert "逾期比例 5%: 15/25 分" in reasons


def test_missing_figures_score_nothing_and_say_so():
    rating, reasons = suggest_rating({}, TODAY)
    assert rating == "D"
    assert "未提供年销售额: 0/30 分" in reasons
    assert "未提供成立日期或经营年限: 0/15 分" in reasons


def test_information_found_not_authentic_means_d():
    rating, reasons = suggest_rating(_candidate(annual_sales=6000.0, registered_capital=1200.0, outlets=150,
                                                founded_on="2010-05-01", info_authentic=False), TODAY)
    assert rating == "D"
    assert "资料经初审不真实 → D 级" in reasons


def test_an_expired_licence_means_d_and_is_named():
    licences = [*LICENCES, {"licence": "GSP 证书", "number": "G1", "valid_until": "2027-04-01"}]
    rating, reasons = suggest_rating(_candidate(annual_sales=6000.0, registered_capital=1200.0, outlets=150,
                                                founded_on="2010-05-01", licences=licences), TODAY)
    assert rating == "D"
    assert any("GSP 证书 (有效期至 2027-04-01)" in r for r in reasons)


@pytest.mark.parametrize("sales, capital, expected", [(6000.0, 1200.0, "C"), (300.0, 50.0, "D")])
def test_incomplete_information_caps_the_rating_at_c(sales, capital, expected):
    rating, reasons = suggest_rating(_candidate(annual_sales=sales, registered_capital=capital, outlets=5,
                                                founded_on="2010-05-01", info_complete=False), TODAY)
    assert rating == expected
    assert ("资料不完整 → 最高 C 级" in reasons) is (expected == "C")


def test_the_handler_rates_as_of_the_company_date_of_ctx_now(sessions):
    """17:00 UTC on 1 April is already 2 April in China: a licence valid until 1 April has expired."""
    licences = [{"licence": "药品经营许可证", "number": "X", "valid_until": "2027-04-01"}]
    figures = _candidate(annual_sales=6000.0, registered_capital=1200.0, outlets=150, founded_on="2010-05-01",
                         licences=licences)
    with sessions() as s:
        late = credit_rating(_ctx(s, datetime(2027, 4, 1, 17, 0, tzinfo=UTC)), figures=figures)
        early = credit_rating(_ctx(s, datetime(2027, 4, 1, 15, 0, tzinfo=UTC)), figures=figures)
    assert set(late) == {"suggested_credit_rating", "credit_reasons"}
    assert late["suggested_credit_rating"] == "D"
    assert early["suggested_credit_rating"] == "A"


@pytest.mark.parametrize("figures, mentioned", [
    ({"annual_sales": -1}, "年销售额 不能为负数"),
    ({"annual_sales": "很多"}, "'很多'"),
    ({"outlets": True}, "销售网点数"),
    ({"registered_capital": "inf"}, "注册资本"),
    ({"founded_on": "去年"}, "成立日期"),
    ({"licences": [{"licence": "营业执照", "valid_until": "长期"}]}, "营业执照"),
    (["annual_sales", 100], "对象"),
])
def test_bad_figures_are_refused_for_good(sessions, clock, figures, mentioned):
    with sessions() as s, pytest.raises(HandlerFailed) as caught:
        credit_rating(_ctx(s, clock.now()), figures=figures)
    assert caught.value.retryable is False
    assert mentioned in caught.value.message


@pytest.mark.parametrize("given, letter", [
    ("A", "A"), ("b", "B"), ("C级", "C"), (" d 级 ", "D"), ("Ａ", "A"), ("B 级", "B"),
    ("E", None), ("AA", None), ("", None), (None, None), (1, None), ("级", None),
])
def test_normalize_rating(given, letter):
    assert normalize_rating(given) == letter
