"""Reading the figures people type into forms (numbers, possibly as text) for the handlers' calculations."""

from __future__ import annotations

import math

from engine.messages import say


def read_number(value, where, problems: list, required: bool = False) -> int | float | None:
    """The number in `value`, or None with a message (a Message) in `problems` (an empty optional value is just
    None). `where` names the figure: a text, or a function that gives it, called only for a problem (a
    consolidation reads hundreds of figures, and names none of them when all is well).

    Whole numbers given as int or text stay int, so box counts read back as counts.
    """
    if value is None or value == "":
        if required:
            problems.append(say("numbers.required", where=_named(where)))
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.append(say("numbers.not_a_number", where=_named(where), value=value))
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        problems.append(say("numbers.not_a_number", where=_named(where), value=value))
        return None
    return int(number) if number.is_integer() and not isinstance(value, float) else number


def _named(where):
    return where() if callable(where) else where
