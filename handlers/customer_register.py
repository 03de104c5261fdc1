"""客户登记: create distributors (SM2.1), freeze them (SM2.2 step 6), change credit ratings (SM2.2 step 12),
and list them (SM2.2 读取客户档案, which prefills step 2 and lets the process check names before 6 and 12).

Every changing action checks the whole batch before changing anything, so a bad entry leaves the register
as it was.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.messages import chained, say
from engine.store.models import Customer

from .credit_rating import normalize_rating

ACTIVE, FROZEN = "active", "frozen"
_COLUMNS = ("name", "region", "channel", "credit_rating", "status")


def _fail(message: str) -> HandlerFailed:
    # Bad input stays bad on every retry; the process owner has to correct the data.
    return HandlerFailed(message, retryable=False)


def _as_list(customers) -> list:
    if customers is None:
        return []
    if not isinstance(customers, (list, tuple)):
        raise _fail(say("customers.not_a_list"))
    return list(customers)


def _name_of(entry) -> str | None:
    if isinstance(entry, str):
        name = entry
    elif isinstance(entry, dict):
        # SM2.1 step 3 calls the full company name `company_name`.
        name = entry.get("name") or entry.get("company_name")
    else:
        return None
    name = str(name).strip() if name is not None else ""
    return name or None


def _by_name(session: Session, names) -> dict[str, Customer]:
    if not names:
        return {}
    return {c.name: c for c in session.scalars(select(Customer).where(Customer.name.in_(list(names))))}


def _duplicates(names: list[str]) -> list[str]:
    seen, twice = set(), []
    for name in names:
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    return twice


def _optional_text(value) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


def _too_long(name: str, entry: dict) -> list:
    # The column lengths: PostgreSQL would refuse longer text with a database error that looks retryable.
    limits = (("name", name, 255), ("region", entry.get("region"), 64), ("channel", entry.get("channel"), 64))
    return [say("customers.too_long", name=name[:40], key=key, limit=limit) for key, value, limit in limits
            if value is not None and len(str(value).strip()) > limit]


def _create(ctx: HandlerContext, entries: list) -> dict:
    problems, rows = [], []
    for n, entry in enumerate(entries, start=1):
        name = _name_of(entry) if isinstance(entry, dict) else None
        if name is None:
            problems.append(say("customers.entry_without_name", n=n))
            continue
        problems += _too_long(name, entry)
        rating = entry.get("credit_rating")
        if rating not in (None, "") and normalize_rating(rating) is None:
            problems.append(say("customers.bad_rating", name=name, rating=rating))
        if entry.get("status") not in (None, "", ACTIVE):
            problems.append(say("customers.new_status", name=name, status=entry["status"]))
        info = {k: v for k, v in entry.items() if k not in _COLUMNS}
        if _optional_text(info.get("company_name")) == name:
            info.pop("company_name")
        rows.append((name, entry, normalize_rating(rating), info))
    names = [r[0] for r in rows]
    problems += [say("customers.repeated", name=name) for name in _duplicates(names)]
    existing = _by_name(ctx.session, names)
    active = [name for name in dict.fromkeys(names) if name in existing and existing[name].status == ACTIVE]
    if active:
        problems.append(say("customers.already_active", names=active))
    if problems:
        raise _fail(say("customers.cannot_register", problems=chained(problems, "clauses.and")))
    reactivated = []
    for name, entry, rating, info in rows:
        customer = existing.get(name)
        if customer is None:
            customer = Customer(name=name, status=ACTIVE, info=None, created_at=ctx.now)
            ctx.session.add(customer)
        else:
            # A distributor frozen in an earlier year and accepted again keeps its row (names are unique).
            reactivated.append(name)
        customer.region = _optional_text(entry.get("region"))
        customer.channel = _optional_text(entry.get("channel"))
        customer.credit_rating = rating
        customer.status = ACTIVE
        customer.info = {**(customer.info or {}), **info} or None
        customer.updated_at = ctx.now
    ctx.session.flush()
    result = {"customers_created": names}
    if reactivated:
        result["customers_reactivated"] = reactivated
    return result


def _freeze(ctx: HandlerContext, entries: list) -> dict:
    names, problems = [], []
    for n, entry in enumerate(entries, start=1):
        name = _name_of(entry)
        if name is None:
            problems.append(say("customers.no_name", n=n))
        else:
            names.append(name)
    names = list(dict.fromkeys(names))
    existing = _by_name(ctx.session, names)
    unknown = [name for name in names if name not in existing]
    if unknown:
        problems.append(say("customers.unknown", names=unknown))
    if problems:
        raise _fail(say("customers.cannot_freeze", problems=chained(problems, "clauses.and")))
    for name in names:
        customer = existing[name]
        if customer.status != FROZEN:
            customer.status = FROZEN
            customer.updated_at = ctx.now
    ctx.session.flush()
    return {"customers_frozen": names}


def _update_credit(ctx: HandlerContext, entries: list) -> dict:
    wanted: dict[str, str] = {}
    problems = []
    for n, entry in enumerate(entries, start=1):
        name = _name_of(entry) if isinstance(entry, dict) else None
        if name is None:
            problems.append(say("customers.no_name", n=n))
            continue
        raw = entry.get("credit_rating", entry.get("new_rating"))
        rating = normalize_rating(raw)
        if rating is None:
            problems.append(say("customers.bad_rating", name=name, rating=raw))
        elif wanted.setdefault(name, rating) != rating:
            problems.append(say("customers.two_ratings", name=name, first=wanted[name], then=rating))
    existing = _by_name(ctx.session, wanted)
    unknown = [name for name in wanted if name not in existing]
    if unknown:
        problems.append(say("customers.unknown", names=unknown))
    if problems:
        raise _fail(say("customers.cannot_rate", problems=chained(problems, "clauses.and")))
    changes = []
    for name, rating in wanted.items():
        customer = existing[name]
        changes.append({"name": name, "old": customer.credit_rating, "new": rating})
        if customer.credit_rating != rating:
            customer.credit_rating = rating
            customer.updated_at = ctx.now
    ctx.session.flush()
    return {"credit_updated": changes}


_STATUSES = (ACTIVE, FROZEN)
_EVERY = "*"  # status or region: no filter


def _list(ctx: HandlerContext, status, region) -> dict:
    status = ACTIVE if status is None else str(status).strip()
    if status not in (*_STATUSES, _EVERY):
        raise _fail(say("customers.bad_status", status=status, choices=list(_STATUSES), every=_EVERY))
    region = _optional_text(region)
    rows = list_customers(ctx.session, None if status == _EVERY else status)
    if region not in (None, _EVERY):
        rows = [c for c in rows if c["region"] == region]
    # Sorted here, not in SQL: PostgreSQL's collation and NULL placement differ from SQLite's.
    rows.sort(key=lambda c: (c["region"] is None, c["region"] or "", c["name"]))
    return {"register_customers": [{key: c[key] for key in _COLUMNS} for c in rows]}


_ACTIONS = {"create": _create, "freeze": _freeze, "update_credit": _update_credit}


def customer_register(ctx: HandlerContext, action: str, customers=None, status=None, region=None) -> dict:
    """Apply `action` ('create' | 'freeze' | 'update_credit') to a list of customers, all or nothing;
    or read the register ('list': `status` 'active' unless given, '*' for all; optionally one `region`).
    """
    if action == "list":
        return _list(ctx, status, region)
    run = _ACTIONS.get(action)
    if run is None:
        raise _fail(say("customers.bad_action", action=action, choices=[*_ACTIONS, "list"]))
    if status is not None or region is not None:
        raise _fail(say("customers.list_only", action=action))
    return run(ctx, _as_list(customers))


def list_customers(session: Session, status: str | None = None) -> list[dict]:
    """The register as plain dicts, by name; only one status when `status` is given."""
    query = select(Customer).order_by(Customer.name)
    if status is not None:
        query = query.where(Customer.status == status)
    return [{"id": c.id, "name": c.name, "region": c.region, "channel": c.channel,
             "credit_rating": c.credit_rating, "status": c.status, "info": c.info}
            for c in session.scalars(query)]
