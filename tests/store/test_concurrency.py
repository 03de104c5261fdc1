"""Several OS processes completing tasks of the same instance: nothing lost, nothing done twice."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from helpers import add_people, complete_in_own_process, fixture_bytes
from sqlalchemy import func, select

from engine.store.models import Event, ProcessInstance

INSTANCES = 6


def _race(url, jobs):
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    barrier = manager.Barrier(len(jobs))
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=ctx) as pool:
        futures = [pool.submit(complete_in_own_process, url, task_id, login, data, barrier)
                   for task_id, login, data in jobs]
        results = [f.result(timeout=120) for f in futures]
    manager.shutdown()
    return results


def _setup(env):
    env.tx(lambda s: add_people(s, {"m1": [("市场总监", "*")], "m2": [("市场总监", "*")],
                                    "m3": [("市场总监", "*")], "sd": [("销售总监", "*")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("parallel.bpmn"), "parallel.bpmn", None))
    return [env.tx(lambda s: env.engine.start(s, "parallel", "m1")) for _ in range(INSTANCES)]


def test_sibling_and_same_task_races_lose_nothing(env):
    ids = _setup(env)
    tasks = env.tx(lambda s: {(t.instance_id, t.step): t.id for t in env.engine.inbox(s, "m1")
                              + env.engine.inbox(s, "sd")})
    # Siblings: in every instance, step 5 and step 6 are completed at the same moment.
    jobs = []
    for n, instance_id in enumerate(ids[:4]):
        jobs.append((tasks[(instance_id, "5")], "m1", {"market_note": f"市场{n}"}))
        jobs.append((tasks[(instance_id, "6")], "sd", {"sales_note": f"销售{n}"}))
    assert _race(env.url, jobs) == ["ok"] * len(jobs)
    for n, instance_id in enumerate(ids[:4]):
        info = env.tx(lambda s, i=instance_id: env.engine.show(s, i))
        assert info["status"] == "completed"
        assert (info["data"]["market_note"], info["data"]["sales_note"]) == (f"市场{n}", f"销售{n}")

    # Same task: three people submit step 5 of one instance at once; exactly one wins.
    target = tasks[(ids[4], "5")]
    results = _race(env.url, [(target, login, {"market_note": login}) for login in ("m1", "m2", "m3")])
    assert results.count("ok") == 1
    losers = [r for r in results if r != "ok"]
    assert all(r.startswith("StaleAction: 该任务已由") and " 于 " in r for r in losers), results
    events = env.tx(lambda s: s.scalar(select(func.count()).select_from(Event).where(
        Event.kind == "completed", Event.task_id == target)))
    assert events == 1
    revisions = env.tx(lambda s: dict(s.execute(select(ProcessInstance.id, ProcessInstance.revision)).all()))
    assert revisions[ids[4]] == 2 and revisions[ids[5]] == 1
