"""Timer event definitions that read the engine's clock instead of the wall clock.

SpiffWorkflow's timers compare with `datetime.now()`; smflow's clock is an object passed to the
engine, so that tests and the worker decide what "now" is.  A cycle on a *start* event is a schedule
for the worker (one instance per period); the parser turns it into a plain start (spiff_dialect.py).
A timer already waiting fires only in the worker's timer unit of work (`firing`).
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

from .clock import COMPANY_TZ

# Set on a workflow while the worker fires its timers and runs on from them (scheduling.Scheduling._fire). A
# timer already waiting fires only then: a person's step, or a service task's retry, leaves a due timer waiting,
# so a timer whose path fails cannot fail that step; the instance's next timer (Runtime.next_timer) shows it due
# and the worker fires it. A timer that a step reaches after its time fires at once, as part of that step.
_FIRING = "smflow_firing_timers"


@contextmanager
def firing(workflow) -> Iterator[None]:
    """Let the workflow's waiting timers fire, until the block ends (the worker's timer unit of work)."""
    top = workflow.top_workflow
    setattr(top, _FIRING, True)
    try:
        yield
    finally:
        delattr(top, _FIRING)  # never kept: the workflow may be kept warm for a person's next step


def _may_fire(my_task, reached_now: bool) -> bool:
    return reached_now or getattr(my_task.workflow.top_workflow, _FIRING, False)


def _now(my_task) -> datetime:
    return my_task.workflow.script_engine.now()


class ClockTimeDate(TimeDateEventDefinition):
    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        reached_now = event_value is None
        if reached_now:
            event_value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            my_task._set_internal_data(event_value=event_value)
        if _may_fire(my_task, reached_now) and parse_when(event_value) <= _now(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockDuration(DurationTimerEventDefinition):
    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        reached_now = event_value is None
        if reached_now:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            parsed = TimerEventDefinition.parse_iso_duration(expression)
            start = _now(my_task)
            event_value = (start + TimerEventDefinition.get_timedelta_from_start(parsed, start)).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if _may_fire(my_task, reached_now) and parse_when(event_value) <= _now(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockCycle(CycleTimerEventDefinition):
    def cycle_complete(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        reached_now = event_value is None
        if reached_now:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(expression)
            event_value = {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}
        ready = False
        if event_value["cycles"] != 0:
            next_event = datetime.fromisoformat(event_value["next"])
            if _may_fire(my_task, reached_now) and next_event <= _now(my_task):
                event_value["next"] = (next_event + timedelta(seconds=event_value["duration"])).isoformat()
                event_value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=event_value)
        return ready


CLOCK_TIMERS = {
    TimeDateEventDefinition: ClockTimeDate,
    DurationTimerEventDefinition: ClockDuration,
    CycleTimerEventDefinition: ClockCycle,
}


def parse_when(value: str) -> datetime | dict:
    """An ISO date-time (a value without a zone is China Standard Time) or an ISO duration (as a dict)."""
    text = str(value).strip()
    if text.upper().startswith("P"):
        return TimerEventDefinition.parse_iso_duration(text)
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=COMPANY_TZ)


def after(start: datetime, duration: dict) -> datetime:
    return start + TimerEventDefinition.get_timedelta_from_start(dict(duration), start)


def cycle_periods(expression_value: str, until: datetime) -> list[datetime]:
    """The start times of a recurring interval (`R/start/P1M`, `R12/start/P1M`) due by `until`, oldest first."""
    parts = str(expression_value).strip().split("/")
    if len(parts) != 3 or not parts[0].upper().startswith("R"):
        raise ValueError(f"周期应为 'R/开始时间/间隔' (如 R/2027-01-02T09:00+08:00/P1M), 而不是 '{expression_value}'")
    cycles = int(parts[0][1:]) if parts[0][1:] else -1
    start = parse_when(parts[1])
    try:
        step = TimerEventDefinition.parse_iso_duration(parts[2])
    except Exception as exc:  # SpiffWorkflow raises a bare Exception for a bad duration
        raise ValueError(f"周期的间隔 '{parts[2]}' 不是 ISO 时长 (如 P1M)") from exc
    if not isinstance(start, datetime):
        raise ValueError(f"周期的开始时间 '{parts[1]}' 不是日期时间")
    periods, current, count = [], start, 0
    while current <= until and (cycles < 0 or count < cycles):
        periods.append(current)
        count += 1
        # Months have different lengths: step from the original start by whole periods.
        current = _add_periods(start, step, count)
    return periods


def _add_periods(start: datetime, parsed: dict, n: int) -> datetime:
    months = (parsed.get("years", 0) * 12 + parsed.get("months", 0)) * n
    year, month = start.year + (start.month - 1 + months) // 12, (start.month - 1 + months) % 12 + 1
    # The 31st of January plus one month is the last day of February.
    shifted = start.replace(year=year, month=month, day=min(start.day, monthrange(year, month)[1]))
    rest = {k: v * n for k, v in parsed.items() if k in ("weeks", "days", "hours", "minutes", "seconds")}
    return shifted + timedelta(**rest)
