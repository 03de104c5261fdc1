"""Reading the figures people type into forms (numbers, possibly as text) for the handlers' calculations."""

from __future__ import annotations

import math

from engine.messages import say


def read_number(value, where: str, problems: list, required: bool = False) -> int | float | None:
    """The number in `value`, or None with a message (a Message) in `problems` (an empty optional value is just
    None). `where` names the figure, a Message where it is the program's own words.

    Whole numbers given as int or text stay int, so box counts read back as counts.
    """
    if value is None or value == "":
        if required:
            problems.append(say("numbers.required", where=where))
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.append(say("numbers.not_a_number", where=where, value=value))
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        problems.append(say("numbers.not_a_number", where=where, value=value))
        return None
    return int(number) if number.is_integer() and not isinstance(value, float) else number
