"""Calendar arithmetic and time parsing for the engine's timers."""

from datetime import UTC, datetime

import pytest

from engine.clock import COMPANY_TZ
from engine.timers import cycle_periods, parse_when


def test_month_end_cycles_step_to_the_last_day_of_short_months():
    periods = cycle_periods("R/2027-01-31T09:00:00+08:00/P1M", datetime(2027, 4, 30, 12, tzinfo=COMPANY_TZ))
    assert [p.date().isoformat() for p in periods] == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]


def test_a_bounded_cycle_stops_after_its_repetitions():
    periods = cycle_periods("R2/2027-01-01T00:00:00+08:00/P1Y", datetime(2035, 1, 1, tzinfo=UTC))
    assert len(periods) == 2


def test_times_without_a_zone_are_china_standard_time():
    assert parse_when("2027-04-10T18:00:00") == datetime(2027, 4, 10, 18, tzinfo=COMPANY_TZ)
    assert parse_when("P5D") == {"days": 5}


@pytest.mark.parametrize("bad", ["2027-01-01/P1M", "R/soon/P1M", "R/2027-01-01T00:00/P1Q"])
def test_unreadable_cycles_say_so(bad):
    with pytest.raises(ValueError):
        cycle_periods(bad, datetime(2028, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(("name", "cycle_step", "key"), [
    ("SM1.3 月度销售计划制定流程", {"months": 1}, "2027-04 月度销售计划"),
    ("SM1.2 营销目标和预算编制的调整", {"months": 1}, "2027-04 营销目标和预算编制的调整"),
    ("SM2.2 年度分销商维护流程", {"years": 1}, "2027 年度分销商维护"),
    ("周报", {"weeks": 1}, "2027-04-02 周报"),
    (None, {"hours": 6}, "2027-04-02 09:00 demo"),
])
def test_business_keys_name_the_period_and_the_process(name, cycle_step, key):
    from engine.scheduling import period_key, period_label

    period = datetime(2027, 4, 2, 1, tzinfo=UTC)  # 09:00 in Beijing
    assert period_key(period, cycle_step, period_label(name, "demo")) == key


def test_retries_back_off_exponentially():
    from engine.scheduling import Scheduling

    assert [Scheduling().retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
