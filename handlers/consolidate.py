"""汇总销售预测 (SM1.3 before step 6): the approved offices' three-month forecasts, by region and channel.

Each item of `approved_offices` is an office (`name`, `region`, `scope`) with a `forecast` table of
product rows: `product`, `m1_qty` … `m3_qty` (箱) and `m1_amount` … `m3_amount` (万元).
The channel of a row is the office's `channel` if it has one, else the row's `channel`, else 未分渠道.

`rows` has exactly the columns of step 6's `monthly_plan_draft` table (region, channel, m1..m3_amount),
so it can prefill that form as is; `detail` keeps the office × product rows with quantities.
"""

from __future__ import annotations

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.messages import chained, reason_of, say

from .numbers import read_number

UNASSIGNED_CHANNEL = "未分渠道"
MONTHS = ("m1", "m2", "m3")
AMOUNTS = tuple(f"{m}_amount" for m in MONTHS)
FIGURES = tuple(f"{m}_{kind}" for m in MONTHS for kind in ("qty", "amount"))


def _label(key: str, office: str, product: str | None, n: int) -> str:
    """A figure's name in a problem: "北京办事处 / 产品A 第1月数量" (key "m1_qty"), or "… / 第 2 行 …"."""
    month, kind = key.split("_")
    return say(f"consolidate.{kind}_of", office=office, row=product or say("consolidate.row", n=n), month=month[1])


def _text(value) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


def _add(into: dict, figures: dict, keys=FIGURES) -> None:
    for key in keys:
        # Float sums pick up noise (0.1 + 0.2); 4 decimals of 万元 is one yuan.
        into[key] = round(into.get(key, 0) + (figures.get(key) or 0), 4)


def _offices(forecasts, problems: list[str]) -> list[dict]:
    if forecasts is None:
        return []
    if not isinstance(forecasts, (list, tuple)):
        problems.append(say("consolidate.not_list"))
        return []
    latest: dict[str, dict] = {}
    for n, office in enumerate(forecasts, start=1):
        if not isinstance(office, dict):
            problems.append(say("consolidate.entry_not_object", n=n))
            continue
        if not _text(office.get("region")):
            problems.append(say("consolidate.no_region", office=office.get("name") or n))
            continue
        # An office sent back by its regional manager and approved later counts once, with its last numbers.
        key = _text(office.get("scope")) or f"{office['region']}/{office.get('name')}"
        latest[key] = office
    return list(latest.values())


def _detail_rows(office: dict, problems: list[str]) -> list[dict]:
    name = _text(office.get("name")) or office.get("scope")
    table = office.get("forecast") or []
    if not isinstance(table, list):
        problems.append(say("consolidate.forecast_not_table", office=name))
        return []
    rows = []
    for n, row in enumerate(table, start=1):
        if not isinstance(row, dict):
            problems.append(say("consolidate.row_not_object", office=name, n=n))
            continue
        product = _text(row.get("product"))
        figures = {key: read_number(row.get(key), lambda k=key, p=product, n=n: _label(k, name, p, n), problems)
                   for key in FIGURES}
        if all(v is None for v in figures.values()):
            continue  # a product line the office did not forecast
        channel = _text(office.get("channel")) or _text(row.get("channel")) or UNASSIGNED_CHANNEL
        rows.append({"region": _text(office["region"]), "office": name, "channel": channel,
                     "product": product, **{key: value or 0 for key, value in figures.items()}})
    return rows


def consolidate_forecasts(forecasts) -> dict:
    """The monthly plan draft from the offices' forecasts (pure); ValueError listing every bad entry."""
    problems: list[str] = []
    detail = [row for office in _offices(forecasts, problems) for row in _detail_rows(office, problems)]
    if problems:
        raise ValueError(chained(problems, "clauses.and"))
    cells: dict[tuple[str, str], dict] = {}
    by_region: dict[str, dict] = {}
    by_channel: dict[str, dict] = {}
    total: dict = {}
    for row in detail:
        key = (row["region"], row["channel"])
        cell = cells.setdefault(key, {"region": row["region"], "channel": row["channel"]})
        _add(cell, row, AMOUNTS)
        _add(by_region.setdefault(row["region"], {}), row)
        _add(by_channel.setdefault(row["channel"], {}), row)
        _add(total, row)
    return {
        "rows": list(cells.values()),
        "detail": detail,
        "totals_by_region": by_region,
        "totals_by_channel": by_channel,
        "total": total or dict.fromkeys(FIGURES, 0),
    }


def consolidate(ctx: HandlerContext, forecasts) -> dict:
    """Return `{"monthly_plan": {...}}` (see `consolidate_forecasts`)."""
    try:
        plan = consolidate_forecasts(forecasts)
    except ValueError as exc:
        raise HandlerFailed(say("handler.consolidate_failed", reason=reason_of(exc)), retryable=False) from exc
    return {"monthly_plan": plan}
