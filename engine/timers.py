"""Timer event definitions that read the engine's clock instead of the wall clock.

SpiffWorkflow's timers compare with `datetime.now()`; smflow's clock is an object passed to the
engine, so that tests and the worker decide what "now" is.  A cycle on a *start* event is a schedule
for the worker (one instance per period); the parser turns it into a plain start (spiff_dialect.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)


def _now(my_task) -> datetime:
    return my_task.workflow.script_engine.now()


class ClockTimeDate(TimeDateEventDefinition):
    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.parse_time_or_duration(event_value) <= _now(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockDuration(DurationTimerEventDefinition):
    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            parsed = TimerEventDefinition.parse_iso_duration(expression)
            start = _now(my_task)
            event_value = (start + TimerEventDefinition.get_timedelta_from_start(parsed, start)).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.get_datetime(event_value) <= _now(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockCycle(CycleTimerEventDefinition):
    def cycle_complete(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(expression)
            event_value = {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}
        ready = False
        if event_value["cycles"] != 0:
            next_event = datetime.fromisoformat(event_value["next"])
            if next_event <= _now(my_task):
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


def cycle_periods(expression_value: str, until: datetime) -> list[datetime]:
    """The start times of a recurring interval (`R/start/P1M`) that are due by `until`, oldest first."""
    cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(expression_value)
    periods, current, count = [], start, 0
    while current <= until and (cycles < 0 or count < cycles):
        periods.append(current)
        count += 1
        # Months have different lengths: step from the original start by whole periods.
        parsed = TimerEventDefinition.parse_iso_duration(expression_value.split("/")[-1])
        current = _add_periods(start, parsed, count)
    return periods


def _add_periods(start: datetime, parsed: dict, n: int) -> datetime:
    months = (parsed.get("years", 0) * 12 + parsed.get("months", 0)) * n
    year, month = start.year + (start.month - 1 + months) // 12, (start.month - 1 + months) % 12 + 1
    shifted = start.replace(year=year, month=month)
    rest = {k: v * n for k, v in parsed.items() if k in ("weeks", "days", "hours", "minutes", "seconds")}
    return shifted + timedelta(**rest)
