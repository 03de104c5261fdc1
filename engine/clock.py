"""Clocks: the engine asks one for "now" so that time is testable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock(Clock):
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, **delta) -> datetime:
        self._now += timedelta(**delta)
        return self._now


# The company works on China Standard Time; periods and business keys are dated in it.
COMPANY_TZ = timezone(timedelta(hours=8), "CST")
