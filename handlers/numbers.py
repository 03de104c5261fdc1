"""Reading the figures people type into forms (numbers, possibly as text) for the handlers' calculations."""

from __future__ import annotations

import math


def read_number(value, where: str, problems: list[str], required: bool = False) -> int | float | None:
    """The number in `value`, or None with a message in `problems` (an empty optional value is just None).

    Whole numbers given as int or text stay int, so box counts read back as counts.
    """
    if value is None or value == "":
        if required:
            problems.append(f"{where}: 必填")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.append(f"{where}: 应为数字, 收到 '{value}'")
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        problems.append(f"{where}: 应为数字, 收到 '{value}'")
        return None
    return int(number) if number.is_integer() and not isinstance(value, float) else number
