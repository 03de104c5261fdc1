"""Who is who in the demo company, and one step of a scenario as one helper call.

`act` finds a task in the inbox of the person who should do it, checks its role and scope, checks
that exactly the expected people may act on it and that two others are refused, then completes it
(through `conftest.Scenario`, which rebuilds the engine from the database after every step).
"""

from __future__ import annotations

import functools
import hashlib
import json

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from engine.routing import ANY, TaskRef, can_act
from engine.store import org
from engine.store.models import Event, User

COMPANY = {  # company-wide roles: the one demo user holding each
    "营销副总": "vp", "决策层": "executive", "计划部": "planning", "市场总监": "marketing",
    "销售总监": "sales_director", "销售拓展部": "sales_dev", "财务部": "finance",
}
REGIONS = {"华北": "huabei", "华东": "huadong", "华南": "huanan", "华中": "huazhong", "西南": "xinan", "西北": "xibei"}
REGION_MANAGER = {region: f"rm_{slug}" for region, slug in REGIONS.items()}
CHANNEL_MANAGERS = {region: {f"cm_{slug}_{c}" for c in ("hospital", "pharmacy", "distribution")}
                    for region, slug in REGIONS.items()}
PRODUCT_MANAGER = {
    "心脑血管": "pm_cardio", "抗感染": "pm_antiinfective", "消化系统": "pm_digestive", "呼吸系统": "pm_respiratory",
    "中药注射剂": "pm_tcm_injection", "儿科用药": "pm_pediatric", "妇科用药": "pm_gynecology", "保健品": "pm_health",
}
CHANNELS = ["医院", "零售药店", "商业分销"]

cached_password_hash = functools.cache(generate_password_hash)  # 62 scrypt hashes of one password: once per run


def expected_holders(role: str, scope: str) -> set[str]:
    """The demo users who should get a task of `role` in `scope`, from the tables above (not from the DB)."""
    if scope == ANY:
        return {COMPANY[role]}
    if role == "大区经理":
        return {REGION_MANAGER[scope]}
    if role == "渠道经理":
        return set(CHANNEL_MANAGERS[scope])
    if role == "产品经理":
        return {PRODUCT_MANAGER[scope]}
    raise AssertionError(f"no table for ({role}, {scope})")


def outsiders(role: str, scope: str) -> list[str]:
    """Two people who must not act: the same role elsewhere (or another company role), and another role."""
    if scope == ANY:
        return ["executive" if role == "营销副总" else "vp", "rm_huabei"]
    if role == "产品经理":
        other = next(p for line, p in PRODUCT_MANAGER.items() if line != scope)
        return [other, "marketing"]
    other_region = next(r for r in REGIONS if r != scope)
    if role == "大区经理":
        return [REGION_MANAGER[other_region], sorted(CHANNEL_MANAGERS[scope])[0]]
    return [sorted(CHANNEL_MANAGERS[other_region])[0], REGION_MANAGER[scope]]


def holders(demo, task) -> set[str]:
    """Every active user of the database who may act on `task`, by the engine's one rule `can_act`."""
    def read(s):
        return [org.actor(s, login) for login in s.scalars(select(User.login).where(User.active.is_(True)))]
    actors = demo.tx(read)
    ref = TaskRef(role=task.role, scope=task.scope, state=task.state)
    return {a.login for a in actors if can_act(a, ref)}


def act(demo, instance_id: int, step: str, login: str, role: str, data: dict, scope: str = ANY):
    """Do one step as `login`: routed to (role, scope), only the expected people may act, others refused."""
    task = demo.only(login, instance_id, step)
    assert (task.step, task.role, task.scope) == (step, role, scope)
    assert holders(demo, task) == expected_holders(role, scope)
    assert login in expected_holders(role, scope)
    for other in outsiders(role, scope):
        demo.refused(task, other, data)
    demo.complete(task, login, data)
    return task


def act_each(demo, instance_id: int, step: str, role: str, answers: dict[str, dict], who: dict[str, str]):
    """A multi-instance step: exactly one open task per scope in `answers`, each done by `who[scope]`."""
    open_scopes = sorted(t.scope for t in demo.open_tasks(instance_id) if t.step == step)
    assert open_scopes == sorted(answers), f"step {step} is open for {open_scopes}"
    return {scope: act(demo, instance_id, step, who[scope], role, data, scope) for scope, data in answers.items()}


def open_steps(demo, instance_id: int) -> list[tuple[str, str]]:
    """(step, scope) of the instance's open tasks, sorted."""
    return sorted((t.step, t.scope) for t in demo.open_tasks(instance_id))


def events(demo, instance_id: int, kind: str) -> list[dict]:
    return demo.tx(lambda s: [e.detail for e in s.scalars(
        select(Event).where(Event.instance_id == instance_id, Event.kind == kind).order_by(Event.id))])


def sha256_of(document) -> str:
    """The digest `handlers/archive.py` stores, recomputed independently (canonical JSON, UTF-8)."""
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
