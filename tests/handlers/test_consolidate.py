"""汇总销售预测 (SM1.3): approved offices' forecasts → the monthly plan by region and channel."""

from importlib import resources

import pytest
from lxml import etree

from engine.errors import HandlerFailed
from engine.forms import parse_form, validate_submission
from engine.handler_api import HandlerContext
from engine.sandbox import Sandbox
from engine.store.db import make_engine, make_session_factory
from handlers import default_registry
from handlers.consolidate import consolidate, consolidate_forecasts

FIGURES = ("m1_qty", "m1_amount", "m2_qty", "m2_amount", "m3_qty", "m3_amount")


def _row(product, *figures):
    return {"product": product, **dict(zip(FIGURES, figures, strict=True))}


def _office(name, region, forecast, **extra):
    """An item of SM1.3's approved_offices: the office, steps 1–2's answers merged in, step 3's forecast."""
    return {"name": name, "region": region, "scope": f"{region}/{name}",
            "customer_stock": [{"customer": "某医药公司", "channel": "医院", "stock_qty": 10, "order_qty": 20,
                                "note": None}],
            "customer_summary": "库存正常", "market_situation": "平稳", "sales_history": "同比增长",
            "last_month_amount": 30.0, "period": "2027-06 至 2027-08", "review_comment": None,
            "forecast": forecast, "forecast_note": None, **extra}


BEIJING = _office("北京办事处", "华北", [_row("心脑血管", 100, 12.5, 110, 13.75, 120, 15.0),
                                        _row("抗感染", 50, 4.0, 50, 4.0, 60, 4.8)])
TIANJIN = _office("天津办事处", "华北", [_row("心脑血管", 40, 5.0, 40, 5.0, 40, 5.0)])
SHANGHAI = _office("上海办事处", "华东", [_row("心脑血管", 200, 25.0, 200, 25.0, 220, 27.5)], channel="医院")


@pytest.fixture
def ctx(sqlite_url, clock):
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        yield HandlerContext(session=session, instance_id=5, process_id="SM1_3", version=1,
                             element_id="Service_consolidate", step=None, actor=None, now=clock.now())
    engine.dispose()


def test_consolidate_is_registered_under_its_topic():
    assert default_registry().get("consolidate") is consolidate


def test_rows_are_amounts_per_region_and_channel(ctx):
    plan = consolidate(ctx, forecasts=[BEIJING, TIANJIN, SHANGHAI])["monthly_plan"]
    assert plan["rows"] == [
        {"region": "华北", "channel": "未分渠道", "m1_amount": 21.5, "m2_amount": 22.75, "m3_amount": 24.8},
        {"region": "华东", "channel": "医院", "m1_amount": 25.0, "m2_amount": 25.0, "m3_amount": 27.5},
    ]


def test_totals_by_region_by_channel_and_overall_carry_quantities_and_amounts():
    plan = consolidate_forecasts([BEIJING, TIANJIN, SHANGHAI])
    assert plan["totals_by_region"] == {
        "华北": {"m1_qty": 190, "m1_amount": 21.5, "m2_qty": 200, "m2_amount": 22.75,
                 "m3_qty": 220, "m3_amount": 24.8},
        "华东": {"m1_qty": 200, "m1_amount": 25.0, "m2_qty": 200, "m2_amount": 25.0,
                 "m3_qty": 220, "m3_amount": 27.5},
    }
    assert plan["totals_by_channel"]["医院"]["m3_qty"] == 220
    assert plan["totals_by_channel"]["未分渠道"]["m1_amount"] == 21.5
    assert plan["total"] == {"m1_qty": 390, "m1_amount": 46.5, "m2_qty": 400, "m2_amount": 47.75,
                             "m3_qty": 440, "m3_amount": 52.3}


def test_detail_keeps_each_office_and_product():
    plan = consolidate_forecasts([BEIJING, SHANGHAI])
    assert [(d["region"], d["office"], d["channel"], d["product"], d["m1_qty"]) for d in plan["detail"]] == [
        ("华北", "北京办事处", "未分渠道", "心脑血管", 100),
        ("华北", "北京办事处", "未分渠道", "抗感染", 50),
        ("华东", "上海办事处", "医院", "心脑血管", 200),
    ]


def test_the_offices_channel_wins_over_the_rows_then_the_row_channel_counts():
    rows = [dict(_row("心脑血管", 1, 1.0, 1, 1.0, 1, 1.0), channel="零售药店"),
            dict(_row("抗感染", 2, 2.0, 2, 2.0, 2, 2.0), channel="医院")]
    by_row = consolidate_forecasts([_office("广州办事处", "华南", rows)])
    assert [(r["channel"], r["m1_amount"]) for r in by_row["rows"]] == [("零售药店", 1.0), ("医院", 2.0)]
    by_office = consolidate_forecasts([_office("广州办事处", "华南", rows, channel="商业分销")])
    assert [(r["channel"], r["m1_amount"]) for r in by_office["rows"]] == [("商业分销", 3.0)]


def test_empty_cells_count_as_zero_and_unforecast_products_are_left_out():
    office = _office("武汉办事处", "华中", [_row("心脑血管", 10, 1.5, None, None, 30, None),
                                         _row("抗感染", None, None, None, None, None, None)])
    plan = consolidate_forecasts([office])
    assert [d["product"] for d in plan["detail"]] == ["心脑血管"]
    assert plan["rows"] == [{"region": "华中", "channel": "未分渠道", "m1_amount": 1.5, "m2_amount": 0,
                             "m3_amount": 0}]


def test_sums_have_no_float_noise():
    offices = [_office(f"办事处{i}", "西北", [_row("保健品", 1, 0.1, 1, 0.2, 1, 0.7)]) for i in range(3)]
    assert consolidate_forecasts(offices)["total"]["m1_amount"] == 0.3


def test_an_office_approved_twice_counts_once_with_its_last_forecast():
    revised = _office("天津办事处", "华北", [_row("心脑血管", 80, 10.0, 80, 10.0, 80, 10.0)])
    plan = consolidate_forecasts([TIANJIN, BEIJING, revised])
    assert plan["totals_by_region"]["华北"]["m1_amount"] == 26.5
    assert [d["office"] for d in plan["detail"]].count("天津办事处") == 1


@pytest.mark.parametrize("forecasts", [[], None])
def test_nothing_to_consolidate_gives_an_empty_plan_with_zero_totals(ctx, forecasts):
    plan = consolidate(ctx, forecasts=forecasts)["monthly_plan"]
    assert plan["rows"] == [] and plan["totals_by_region"] == {}
    assert plan["total"] == dict.fromkeys(FIGURES, 0)


def test_rows_prefill_step_6s_table_as_is():
    """The step 6 form of the shipped SM1_3.bpmn accepts `rows` unchanged (no unknown columns)."""
    root = etree.fromstring(resources.files("bpmn").joinpath("SM1_3.bpmn").read_bytes())
    (task,) = root.xpath("//*[local-name()='userTask'][@id='Task_6']")
    form, problems = parse_form(task)
    assert problems == []
    rows = consolidate_forecasts([BEIJING, TIANJIN, SHANGHAI])["rows"]
    given = {"monthly_plan_draft": rows}  # step 6's `rows` expression gives them (region and channel fixed)
    clean = validate_submission(form, {"monthly_plan_draft": rows}, {}, Sandbox(), given)
    assert [{k: v for k, v in r.items() if k != "note"} for r in clean["monthly_plan_draft"]] == rows


def test_bad_forecasts_are_all_named_and_refused_for_good(ctx):
    bad = [
        _office("北京办事处", "华北", [_row("心脑血管", "很多", 12.5, 110, "abc", 120, 15.0)]),
        {"name": "无大区办事处", "forecast": []},
        "上海办事处",
        _office("杭州办事处", "华东", "不是表格"),
        _office("南京办事处", "华东", [_row("抗感染", True, float("nan"), 1, 1.0, 1, 1.0)]),
    ]
    with pytest.raises(HandlerFailed) as caught:
        consolidate(ctx, forecasts=bad)
    assert caught.value.retryable is False
    for part in ("北京办事处 / 心脑血管 第1月数量", "'很多'", "第2月金额", "无大区办事处", "第 3 项",
                 "杭州办事处", "南京办事处 / 抗感染 第1月数量", "南京办事处 / 抗感染 第1月金额"):
        assert part in caught.value.message


def test_forecasts_must_be_a_list(ctx):
    with pytest.raises(HandlerFailed) as caught:
        consolidate(ctx, forecasts={"name": "北京办事处"})
    assert caught.value.retryable is False
    assert "列表" in caught.value.message
