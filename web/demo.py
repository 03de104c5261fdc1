"""The demo organisation and the manual's processes, loaded into an empty database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from importlib.resources import files

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from engine import Engine
from engine.clock import COMPANY_TZ
from engine.scheduling import period_label
from engine.store import definitions, instances, org
from engine.store.models import Customer, OrgUnit, Role, User

MANUAL_FILES = ["SM1_1.bpmn", "SM1_2.bpmn", "SM1_3.bpmn", "SM2_1.bpmn", "SM2_2.bpmn"]


def demo_data() -> dict:
    return json.loads(files("bpmn").joinpath("demo_org.json").read_text(encoding="utf-8"))


def manual_file(name: str) -> bytes:
    return files("bpmn").joinpath(name).read_bytes()


def load_organisation(session: Session, data: dict, now, progress: Callable[[str], None] = lambda _m: None) -> None:
    """Regions, offices, channels, product lines, roles, users with grants, and customers (idempotent).

    Users sharing a password share its hash (and salt): fine for the demo's printed password, and it makes
    loading take a second instead of twelve; real accounts get their own hash (`smflow users add`)."""
    units = []
    for position, region in enumerate(data["regions"]):
        units.append(("region", region["name"], region["name"], None, position))
        for n, office in enumerate(region["offices"]):
            units.append(("office", office, f"{region['name']}/{office}", region["name"], n))
    units += [("channel", c, c, None, n) for n, c in enumerate(data["channels"])]
    units += [("product_line", p, p, None, n) for n, p in enumerate(data["product_lines"])]
    existing = {(u.kind, u.scope) for u in session.scalars(select(OrgUnit))}
    for kind, name, scope, parent, position in units:
        if (kind, scope) not in existing:
            session.add(OrgUnit(kind=kind, name=name, scope=scope, parent=parent, position=position))
    progress(f"组织: {len(data['regions'])} 个大区, {sum(len(r['offices']) for r in data['regions'])} 个办事处, "
             f"{len(data['channels'])} 个渠道, {len(data['product_lines'])} 条产品线")
    for role in data["roles"]:
        if session.get(Role, role["name"]) is None:
            session.add(Role(name=role["name"], code=role.get("code"), aliases=role.get("aliases") or []))
    session.flush()
    total = len(data["users"])
    hashes: dict[str, str] = {}  # every demo user has the printed password: hash it once, not 60 times (12 s)
    for n, user in enumerate(data["users"], start=1):
        if session.get(User, user["login"]) is None:
            if user["password"] not in hashes:
                hashes[user["password"]] = generate_password_hash(user["password"])
            added = org.add_user(session, user["login"], user["name"], hashes[user["password"]])
            # Reserved for examples (RFC 2606): mail set up with SMTP reaches no real person.
            added.email = user.get("email") or f"{user['login']}@demo.example.com"
        for g in user["grants"]:
            org.grant(session, user["login"], g["role"], g.get("scope", "*"))
        if n % 10 == 0 or n == total:
            progress(f"用户: {n}/{total}")
    for customer in data.get("customers", []):
        if session.scalars(select(Customer).where(Customer.name == customer["name"])).first() is None:
            session.add(Customer(name=customer["name"], region=customer.get("region"),
                                 channel=customer.get("channel"), credit_rating=customer.get("credit_rating"),
                                 status=customer.get("status", "active"), created_at=now, updated_at=now))
    progress(f"客户档案: {len(data.get('customers', []))} 家分销商")


def deploy_manual(session: Session, engine: Engine, by: str | None, progress: Callable[[str], None]) -> list:
    results = []
    for n, name in enumerate(MANUAL_FILES, start=1):
        deployed = engine.deploy(session, manual_file(name), name, by)
        results += deployed
        states = ", ".join(f"{r.process_id} v{r.version} {'已部署' if r.status == 'deployed' else '未变化'}"
                           for r in deployed)
        progress(f"流程 {n}/{len(MANUAL_FILES)}: {states}")
    return results


def start_samples(session: Session, engine: Engine, now: datetime, progress: Callable[[str], None]) -> list[int]:
    """A few running instances, so that a newcomer's first login finds work in the inbox (idempotent).

    The calendar starts SM1.2, SM1.3 and SM2.2 by itself from their first period on; until then the demo starts
    next month's sales plan (office reps forecast first), the annual plan and a distributor selection.
    """
    local = now.astimezone(COMPANY_TZ)
    next_month = datetime(local.year + local.month // 12, local.month % 12 + 1, 2, 9, tzinfo=COMPANY_TZ)
    samples = [("SM1_3", "planning", next_month.strftime("%Y-%m"), next_month),
               ("SM1_1", "vp", str(local.year + 1), None),
               ("SM2_1", "sales_dev", local.strftime("%Y-%m"), None)]
    started = []
    for process_id, login, period, started_at in samples:
        definition = definitions.get_version(session, process_id, None)
        key = f"{period} {period_label(definition.name, process_id)}"
        if instances.by_business_key(session, process_id, key) is None:
            started.append(engine.start(session, process_id, login, business_key=key, started_at=started_at))
            progress(f"示例流程: {key} (由 {login} 发起)")
    return started
