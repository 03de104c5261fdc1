"""One racing OS process: claims, puts back and completes random tasks of the given instances until a deadline.

Each operation is one unit of work through the engine; the returned log (what was tried, by whom, with
which data, and the outcome) is the client-side truth the race test compares the database against.
"""

from __future__ import annotations

import random
import time
import traceback

ELIGIBLE = {"办事处": ["o1", "o2", "o3"], "大区经理": ["r1", "r2"], "市场总监": ["m1", "m2"], "销售总监": ["s1", "s2"]}
EXPECTED = ("StaleAction", "NotPermitted", "Conflict")


def _data(element_id: str, token: str, rng: random.Random) -> dict:
    if element_id == "request":
        return {"amount": 1.5, "purpose": token, "lines": [{"item": token, "cost": 1.5}]}
    if element_id == "review":
        if rng.random() < 0.1:  # mostly sent back: the instances keep looping for the whole race
            return {"decision": "approve", "comment": token}
        return {"decision": "reject", "comment": token}
    if element_id == "market":
        return {"market_note": token}
    return {"sales_note": token}


def work(url: str, instance_ids: list[int], seconds: float, seed: int, barrier) -> list[dict]:
    from datetime import datetime

    from engine import Engine, FixedClock, Sandbox
    from engine.clock import COMPANY_TZ
    from engine.store import tasks
    from engine.store.db import make_engine, make_session_factory
    from engine.store.unit_of_work import in_transaction
    from handlers import default_registry

    rng = random.Random(seed)
    db = make_engine(url)
    sessions = make_session_factory(db)
    engine = Engine(default_registry(), Sandbox(), FixedClock(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ)))
    log: list[dict] = []
    barrier.wait()
    deadline = time.monotonic() + seconds
    n = 0
    try:
        while time.monotonic() < deadline:
            instance_id = rng.choice(instance_ids)
            with sessions() as s:
                active = [(t.id, t.role, t.element_id) for t in tasks.active_for_instance(s, instance_id)]
            if not active:
                continue
            task_id, role, element_id = rng.choice(active)
            login = rng.choice(ELIGIBLE[role])
            action = rng.choices(["claim", "unclaim", "complete"], [4, 3, 3])[0]
            n += 1
            token = f"w{seed}-{n}"
            data = _data(element_id, token, rng) if action == "complete" else None

            def unit(s, action=action, task_id=task_id, login=login, data=data):
                if action == "claim":
                    row = tasks.get(s, task_id)
                    if row.state == "claimed" and row.assignee == login:
                        return "noop"  # the engine records nothing for claiming one's own task again
                    engine.claim(s, task_id, login)
                elif action == "unclaim":
                    engine.unclaim(s, task_id, login)
                else:
                    engine.complete(s, task_id, login, data)
                return "ok"

            entry = {"action": action, "task_id": task_id, "instance_id": instance_id, "login": login,
                     "element_id": element_id, "data": data}
            try:
                entry["outcome"] = in_transaction(sessions, unit)
            except Exception as exc:  # noqa: BLE001 - classified below; anything unexpected is a failure
                name = type(exc).__name__
                entry["outcome"] = name if name in EXPECTED else f"CRASH {name}: {traceback.format_exc()[-1500:]}"
            log.append(entry)
    finally:
        db.dispose()
    return log
