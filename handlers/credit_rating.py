"""资信等级建议: a suggested credit rating (A/B/C/D) from a distributor's evaluation figures.

The rule, in points (the figures are those SM2.1 step 3 collects, plus SM2.2's payment history):

| figure | points |
|---|---|
| annual_sales 年销售额 (万元) | ≥5000: 30, ≥2000: 22, ≥500: 14, ≥100: 6, else 0 |
| registered_capital 注册资本 (万元) | ≥1000: 15, ≥500: 11, ≥100: 6, else 0 |
| outlets 销售网点数 | ≥100: 15, ≥30: 10, ≥10: 5, else 0 |
| years in business (years_in_business, else from founded_on) | ≥10: 15, ≥5: 10, ≥2: 5, else 0 |
| payment history: payment_rate 回款率 (%), overdue_ratio, payment_days 回款天数 | up to 25, see below |

Payment history: payment_rate ≥98: 25, ≥90: 18, ≥80: 10, else 0; overdue_ratio (a fraction; a
value above 1 is read as a percentage) ≤2%: 25, ≤10%: 15, ≤20%: 8, else 0; payment_days ≤30: 25,
≤60: 18, ≤90: 10, else 0. When several are given the lowest counts. A new distributor has no
payment history, so it is scored out of 75 instead of 100; any other missing figure scores 0.

Share of the attainable points: ≥80% → A, ≥60% → B, ≥40% → C, else D. Then caps: information
found not authentic (info_authentic false) or an expired licence (licences[].valid_until before
today) → D; information incomplete (info_complete false) → at most C.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from engine.clock import COMPANY_TZ
from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.messages import reason_of, say

from .numbers import read_number

RATINGS = ("A", "B", "C", "D")

_SALES = ((5000, 30), (2000, 22), (500, 14), (100, 6))
_CAPITAL = ((1000, 15), (500, 11), (100, 6))
_OUTLETS = ((100, 15), (30, 10), (10, 5))
_YEARS = ((10, 15), (5, 10), (2, 5))
_PAYMENT_RATE = ((98, 25), (90, 18), (80, 10))
_OVERDUE_PERCENT = ((2, 25), (10, 15), (20, 8))  # at most this percentage overdue
_PAYMENT_DAYS = ((30, 25), (60, 18), (90, 10))  # at most this many days
_PAYMENT_MAX = 25
_BANDS = ((0.8, "A"), (0.6, "B"), (0.4, "C"))


def normalize_rating(value) -> str | None:
    """'A', 'a', 'A级', ' b 级', full-width 'Ｃ' → the letter; anything else → None."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).replace(" ", "").upper()
    text = text.removesuffix("级")
    return text if text in RATINGS else None


def _at_least(value: float, table) -> int:
    return next((points for bound, points in table if value >= bound), 0)


def _at_most(value: float, table) -> int:
    return next((points for bound, points in table if value <= bound), 0)


def _number(figures: dict, key: str, label: str) -> float | None:
    problems: list[str] = []
    number = read_number(figures.get(key), label, problems)
    if problems:
        raise ValueError(problems[0])
    if number is not None and number < 0:
        raise ValueError(say("credit.negative", label=label, value=figures.get(key)))
    return number


def _years_in_business(figures: dict, today: date) -> float | None:
    years = _number(figures, "years_in_business", say("credit.years_in_business"))
    if years is not None or not figures.get("founded_on"):
        return years
    try:
        founded = date.fromisoformat(str(figures["founded_on"])[:10])
    except ValueError:
        raise ValueError(say("credit.founded_on_not_date", value=figures["founded_on"])) from None
    return max((today - founded).days / 365.25, 0.0)


def _payment_points(figures: dict) -> tuple[int, list[str]] | None:
    found = []
    rate = _number(figures, "payment_rate", say("credit.payment_rate"))
    if rate is not None:
        found.append((_at_least(rate, _PAYMENT_RATE), f"回款率 {rate:g}%"))
    overdue = _number(figures, "overdue_ratio", say("credit.overdue_ratio"))
    if overdue is not None:
        percent = overdue if overdue > 1 else overdue * 100
        found.append((_at_most(percent, _OVERDUE_PERCENT), f"逾期比例 {percent:g}%"))
    days = _number(figures, "payment_days", say("credit.payment_days"))
    if days is not None:
        found.append((_at_most(days, _PAYMENT_DAYS), f"平均回款天数 {days:g}"))
    if not found:
        return None
    points = min(p for p, _ in found)
    return points, [f"{what}: {p}/{_PAYMENT_MAX} 分" for p, what in found]


def _expired_licences(figures: dict, today: date) -> list[str]:
    expired = []
    for row in figures.get("licences") or []:
        if not isinstance(row, dict) or not row.get("valid_until"):
            continue
        try:
            until = date.fromisoformat(str(row["valid_until"])[:10])
        except ValueError:
            what = row.get("licence") or say("credit.licence")
            raise ValueError(say("credit.licence_not_date", licence=what, value=row["valid_until"])) from None
        if until < today:
            expired.append(f"{row.get('licence') or '证照'} (有效期至 {until.isoformat()})")
    return expired


def suggest_rating(figures: dict, today: date) -> tuple[str, list[str]]:
    """The suggested rating and its reasons, by the module docstring's rule; ValueError on bad figures."""
    if not isinstance(figures, dict):
        raise ValueError(say("credit.not_object"))
    score, attainable, reasons = 0, 75, []
    for key, label, unit, table, best in (
        ("annual_sales", say("credit.annual_sales"), " 万元", _SALES, 30),
        ("registered_capital", say("credit.registered_capital"), " 万元", _CAPITAL, 15),
        ("outlets", say("credit.outlets"), "", _OUTLETS, 15),
    ):
        value = _number(figures, key, label)
        if value is None:
            reasons.append(f"未提供{label}: 0/{best} 分")
            continue
        points = _at_least(value, table)
        score += points
        reasons.append(f"{label} {value:g}{unit}: {points}/{best} 分")
    years = _years_in_business(figures, today)
    if years is None:
        reasons.append("未提供成立日期或经营年限: 0/15 分")
    else:
        points = _at_least(years, _YEARS)
        score += points
        reasons.append(f"经营年限 {years:.1f} 年: {points}/15 分")
    payment = _payment_points(figures)
    if payment is None:
        reasons.append("无回款记录 (新客户): 按 75 分满分计")
    else:
        attainable += _PAYMENT_MAX
        score += payment[0]
        reasons.extend(payment[1])
    share = score / attainable
    rating = next((r for bound, r in _BANDS if share >= bound), "D")
    reasons.append(f"合计 {score}/{attainable} 分 ({share:.0%}) → {rating} 级")
    expired = _expired_licences(figures, today)
    if figures.get("info_authentic") is False:
        rating = "D"
        reasons.append("资料经初审不真实 → D 级")
    if expired:
        rating = "D"
        reasons.append("证照已过期: " + ", ".join(expired) + " → D 级")
    if figures.get("info_complete") is False and rating in ("A", "B"):
        rating = "C"
        reasons.append("资料不完整 → 最高 C 级")
    return rating, reasons


def credit_rating(ctx: HandlerContext, figures: dict) -> dict:
    """Return `{"suggested_credit_rating": "A".."D", "credit_reasons": [...]}` for one distributor."""
    try:
        rating, reasons = suggest_rating(figures, ctx.now.astimezone(COMPANY_TZ).date())
    except ValueError as exc:
        raise HandlerFailed(say("handler.rating_failed", reason=reason_of(exc)), retryable=False) from exc
    return {"suggested_credit_rating": rating, "credit_reasons": reasons}
