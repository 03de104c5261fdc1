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
