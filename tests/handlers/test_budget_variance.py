"""费用预算差异 (SM1.2): per line variance and ratio, lines beyond the threshold flagged."""

import pytest

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.store.db import make_engine, make_session_factory
from handlers import default_registry
from handlers.budget_variance import analyse_variance, budget_variance, parse_threshold


def _line(item, budget, actual, note=None):
    """A row of SM1.2 step 1's expense_lines table."""
    return {"item": item, "budget": budget, "actual": actual, "variance_note": note}


@pytest.fixture
def ctx(sqlite_url, clock):
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        yield HandlerContext(session=session, instance_id=9, process_id="SM1_2", version=1,
                             element_id="Service_variance", step=None, actor=None, now=clock.now())
    engine.dispose()


def _by_item(report) -> dict[str, dict]:
    return {line["item"]: line for line in report["lines"]}


def test_budget_variance_is_registered_under_its_topic():
    assert default_registry().get("budget_variance") is budget_variance


def test_variance_and_ratio_per_line_and_lines_beyond_the_threshold_flagged(ctx):
    lines = [_line("市场费用", 100.0, 115.0, "展会超支"), _line("销售费用", 200.0, 190.0)]
    report = budget_variance(ctx, lines=lines, threshold=0.1)["variance"]
    market, sales = _by_item(report)["市场费用"], _by_item(report)["销售费用"]
    assert (market["variance"], market["ratio"], market["flagged"]) == (15.0, 0.15, True)
    assert market["note"] == "展会超支"
    assert "超支 15.0%" in market["reason"]
    assert (sales["variance"], sales["ratio"], sales["flagged"]) == (-10.0, -0.05, False)
    assert [f["item"] for f in report["flagged"]] == ["市场费用"]
    assert (report["total_budget"], report["total_actual"], report["total_variance"]) == (300.0, 305.0, 5.0)
    assert report["total_ratio"] == 0.0167
    assert report["has_major_variance"] is True


def test_an_underspend_beyond_the_threshold_is_flagged_too():
    report = analyse_variance([_line("销售费用", 200.0, 150.0)], 0.1)
    assert report["flagged"][0]["ratio"] == -0.25
    assert "节余 25.0%" in report["flagged"][0]["reason"]


def test_a_ratio_exactly_at_the_threshold_is_not_flagged():
    report = analyse_variance([_line("市场费用", 100.0, 110.0), _line("销售费用", 100.0, 110.01)], 0.1)
    assert [line["flagged"] for line in report["lines"]] == [False, True]


def test_nothing_beyond_the_threshold_means_no_major_variance():
    report = analyse_variance([_line("市场费用", 100.0, 105.0), _line("销售费用", 80.0, 76.0)], 0.1)
    assert report["flagged"] == []
    assert report["has_major_variance"] is False


def test_a_line_without_budget_is_flagged_only_when_money_was_spent():
    report = analyse_variance([_line("新品推广", 0, 3.0), _line("其他", 0.0, 0.0)], 0.1)
    spent, idle = _by_item(report)["新品推广"], _by_item(report)["其他"]
    assert (spent["ratio"], spent["flagged"], spent["variance"]) == (None, True, 3.0)
    assert "无预算" in spent["reason"]
    assert (idle["ratio"], idle["flagged"]) == (None, False)
    assert report["total_ratio"] is None and report["has_major_variance"] is True


def test_product_line_breakdowns_are_checked_but_not_added_to_the_totals_again():
    """Step 1 prefills 市场费用, 销售费用 and 市场费用-<产品线>; the breakdown rows are part of 市场费用."""
    report = analyse_variance([_line("市场费用", 100.0, 104.0), _line("销售费用", 50.0, 50.0),
                               _line("市场费用-心脑血管", 60.0, 70.0),
                               _line("市场费用-抗感染", 40.0, 34.0)], 0.1)
    lines = _by_item(report)
    assert lines["市场费用-心脑血管"]["part_of"] == "市场费用" and lines["市场费用"]["part_of"] is None
    assert (report["total_budget"], report["total_actual"]) == (150.0, 154.0)
    assert [f["item"] for f in report["flagged"]] == ["市场费用-心脑血管", "市场费用-抗感染"]


def test_a_hyphenated_item_without_its_parent_line_counts_in_the_totals():
    report = analyse_variance([_line("差旅-华北", 10.0, 10.0), _line("销售费用", 5.0, 5.0)], 0.1)
    assert report["total_budget"] == 15.0
    assert _by_item(report)["差旅-华北"]["part_of"] is None


def test_amounts_from_text_cells_and_sums_without_float_noise():
    report = analyse_variance([_line("甲", "0.1", 0.1), _line("乙", 0.2, "0.2")], 0.1)
    assert report["total_budget"] == 0.3 and report["total_variance"] == 0.0


@pytest.mark.parametrize("given, share", [(0.1, 0.1), ("10%", 0.1), (" 5 % ", 0.05), (0, 0.0), ("0.2", 0.2)])
def test_threshold_as_a_share_or_a_percentage(given, share):
    assert parse_threshold(given) == pytest.approx(share)


def test_no_lines_gives_an_empty_report():
    report = analyse_variance([], 0.1)
    assert (report["lines"], report["total_budget"], report["has_major_variance"]) == ([], 0.0, False)


@pytest.mark.parametrize("threshold", [-0.1, "十个点", None, True, "nan"])
def test_a_bad_threshold_is_refused_for_good(ctx, threshold):
    with pytest.raises(HandlerFailed) as caught:
        budget_variance(ctx, lines=[_line("市场费用", 100.0, 130.0)], threshold=threshold)
    assert caught.value.retryable is False
    assert "阈值" in caught.value.message


def test_bad_lines_are_all_named_and_refused_for_good(ctx):
    lines = [_line("市场费用", None, 10.0), _line("销售费用", 10.0, "很多"), {"budget": 1.0, "actual": 1.0},
             _line("差旅", -5.0, 1.0), _line("会议", True, 1.0), "招待"]
    with pytest.raises(HandlerFailed) as caught:
        budget_variance(ctx, lines=lines, threshold=0.1)
    assert caught.value.retryable is False
    for part in ("市场费用 预算: 必填", "销售费用 实际发生", "'很多'", "第 3 行", "差旅 预算: 不能为负数",
                 "会议 预算", "第 6 行"):
        assert part in caught.value.message


def test_lines_must_be_a_list(ctx):
    with pytest.raises(HandlerFailed) as caught:
        budget_variance(ctx, lines={"item": "市场费用"}, threshold=0.1)
    assert "列表" in caught.value.message
