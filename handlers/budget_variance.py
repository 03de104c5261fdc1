"""费用预算差异 (SM1.2 after step 1): actual against budget per expense line, flagging the lines far off.

A line is `item`, `budget` and `actual` (万元), optionally `variance_note` — SM1.2's `expense_lines` table.
Variance is actual − budget; ratio is variance / budget. A line is flagged when |ratio| > threshold, or,
having no budget (0), when anything was spent at all (its ratio is None: no percentage describes it).

Step 1 prefills 市场费用 and, below it, 市场费用-<产品线> rows: a line named `<item>-<part>` whose `<item>`
is another line is a breakdown of it, checked on its own but not added to the totals again.
"""

from __future__ import annotations

import math

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.messages import chained, reason_of, say

from .numbers import read_number


def parse_threshold(threshold) -> float:
    """0.1 or '10%' → 0.1; ValueError for anything that is not a non-negative share."""
    text = str(threshold).strip() if isinstance(threshold, str) else None
    try:
        if isinstance(threshold, bool):
            raise ValueError
        value = float(text[:-1]) / 100 if text and text.endswith("%") else float(threshold)
    except (TypeError, ValueError):
        raise ValueError(say("variance.threshold_not_share", value=threshold)) from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(say("variance.threshold_negative", value=threshold))
    return value


def _reason(budget: float, actual: float, ratio: float | None) -> str:
    if ratio is None:
        return f"无预算, 实际发生 {actual:g} 万元"
    return f"{'超支' if ratio > 0 else '节余'} {abs(ratio):.1%} ({actual - budget:+g} 万元)"


def _parent(item: str, items: set[str]) -> str | None:
    head, sep, _ = item.rpartition("-")
    return head if sep and head in items else None


def analyse_variance(lines, threshold) -> dict:
    """The variance report (pure); ValueError listing every bad line."""
    limit = parse_threshold(threshold)
    if lines is None:
        lines = []
    if not isinstance(lines, (list, tuple)):
        raise ValueError(say("variance.lines_not_list"))
    problems, parsed = [], []
    for n, line in enumerate(lines, start=1):
        if not isinstance(line, dict) or not str(line.get("item") or "").strip():
            problems.append(say("variance.line_without_item", n=n))
            continue
        item = str(line["item"]).strip()
        budget = read_number(line.get("budget"), lambda i=item: say("variance.budget_of", item=i), problems,
                             required=True)
        actual = read_number(line.get("actual"), lambda i=item: say("variance.actual_of", item=i), problems,
                             required=True)
        if budget is not None and budget < 0:
            problems.append(say("variance.negative_budget", item=item))
        parsed.append((item, budget, actual, line.get("variance_note")))
    if problems:
        raise ValueError(chained(problems, "clauses.and"))
    items = {item for item, *_ in parsed}
    report, flagged = [], []
    total_budget = total_actual = 0.0
    for item, budget, actual, note in parsed:
        variance = round(actual - budget, 4)
        ratio = round(variance / budget, 4) if budget else None
        is_flagged = abs(ratio) > limit if ratio is not None else actual != 0
        entry = {"item": item, "budget": budget, "actual": actual, "variance": variance, "ratio": ratio,
                 "flagged": is_flagged, "note": note, "part_of": _parent(item, items)}
        if is_flagged:
            entry["reason"] = _reason(budget, actual, ratio)
            flagged.append(entry)
        if entry["part_of"] is None:
            total_budget += budget
            total_actual += actual
        report.append(entry)
    total_variance = round(total_actual - total_budget, 4)
    total_ratio = round(total_variance / total_budget, 4) if total_budget else None
    return {
        "lines": report, "flagged": flagged, "threshold": limit,
        "total_budget": round(total_budget, 4), "total_actual": round(total_actual, 4),
        "total_variance": total_variance, "total_ratio": total_ratio,
        # The total is a weighted mean of the top-level lines' ratios, so it is off only if some line is.
        "has_major_variance": bool(flagged),
    }


def budget_variance(ctx: HandlerContext, lines, threshold=0.1) -> dict:
    """Return `{"variance": {...}}` (see `analyse_variance`)."""
    try:
        report = analyse_variance(lines, threshold)
    except ValueError as exc:
        raise HandlerFailed(say("handler.variance_failed", reason=reason_of(exc)), retryable=False) from exc
    return {"variance": report}
