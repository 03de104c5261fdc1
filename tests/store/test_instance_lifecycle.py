"""Start, route, claim, complete and reload instances, on SQLite and PostgreSQL."""

import pytest
from helpers import add_people, fixture_bytes, statements_sent
from sqlalchemy import func, select

from engine.errors import Conflict, NotFound, NotPermitted, StaleAction, ValidationFailed
from engine.store import instances
from engine.store.models import ArchiveRecord, Event, HumanTask

PEOPLE = {
    "bj": [("办事处", "华北/北京办事处")],
    "sh": [("办事处", "华东/上海办事处")],
    "rm_n": [("大区经理", "华北")],
    "rm_e": [("大区经理", "华东")],
    "admin": [("admin", "*")],
}
REQUEST = {"amount": 12.5, "purpose": "学术会议", "lines": [{"item": "场地", "cost": 10}]}


@pytest.fixture
def started(env):
    env.tx(lambda s: add_people(s, PEOPLE))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("approval.bpmn"), "approval.bpmn", "admin"))
    instance_id = env.tx(lambda s: env.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"},
                                                    business_key="2027-04 北京"))
    return instance_id


def inbox(env, login):
    return env.tx(lambda s: [(t.id, t.step, t.name, t.role, t.scope, t.state) for t in env.engine.inbox(s, login)])


def test_a_user_task_is_routed_to_its_lane_role_and_scope(env, started):
    (task,) = inbox(env, "bj")
    assert task[1:] == ("1", "1 提交费用申请", "办事处", "华北/北京办事处", "open")
    assert inbox(env, "sh") == [] and inbox(env, "rm_n") == []
    row = env.tx(lambda s: s.get(HumanTask, task[0]))
    assert row.form["fields"][0]["id"] == "amount"
    assert row.due_at == env.clock.now() + __import__("datetime").timedelta(days=3)


def test_wrong_scope_cannot_claim_or_complete_and_nothing_changes(env, started):
    (task,) = inbox(env, "bj")
    with pytest.raises(NotPermitted) as caught:
        env.tx(lambda s: env.engine.complete(s, task[0], "sh", REQUEST))
    assert "华北/北京办事处" in caught.value.message
    with pytest.raises(NotPermitted):
        env.tx(lambda s: env.engine.claim(s, task[0], "rm_n"))
    assert inbox(env, "bj") == [task]


def test_invalid_form_changes_nothing(env, started):
    (task,) = inbox(env, "bj")
    revision = env.tx(lambda s: instances.get(s, started).revision)
    with pytest.raises(ValidationFailed) as caught:
        env.tx(lambda s: env.engine.complete(s, task[0], "bj", {"amount": -1, "lines": [{"item": "x"}]}))
    assert {p.field for p in caught.value.problems} == {"amount", "purpose", "lines[0].cost"}
    assert inbox(env, "bj") == [task]
    assert env.tx(lambda s: instances.get(s, started).revision) == revision


def test_claim_unclaim_rules(env, started):
    (task,) = inbox(env, "bj")
    env.tx(lambda s: add_people(s, {"bj2": [("办事处", "华北/北京办事处")]}))
    env.tx(lambda s: env.engine.claim(s, task[0], "bj"))
    assert inbox(env, "bj2") == []
    with pytest.raises(NotPermitted) as caught:
        env.tx(lambda s: env.engine.complete(s, task[0], "bj2", REQUEST))
    assert "已由" in caught.value.message
    with pytest.raises(NotPermitted):
        env.tx(lambda s: env.engine.unclaim(s, task[0], "bj2"))
    env.tx(lambda s: env.engine.unclaim(s, task[0], "admin"))
    assert inbox(env, "bj2")[0][5] == "open"


def test_full_path_with_loop_and_archive_survives_restarts(env, started):
    (task,) = inbox(env, "bj")
    env.tx(lambda s: env.engine.complete(s, task[0], "bj", REQUEST))
    env.restart()
    (review,) = inbox(env, "rm_n")
    assert review[3:5] == ("大区经理", "华北")
    assert inbox(env, "rm_e") == []
    env.tx(lambda s: env.engine.complete(s, review[0], "rm_n", {"decision": "reject", "comment": "请补充明细"}))
    env.restart()
    (again,) = inbox(env, "bj")
    assert again[0] != task[0]
    prefill = env.tx(lambda s: s.get(HumanTask, again[0]).prefill)
    assert prefill["amount"] == 12.5  # the revision starts from the earlier answer
    env.tx(lambda s: env.engine.complete(s, again[0], "bj", dict(REQUEST, amount=8)))
    (review2,) = inbox(env, "rm_n")
    prefill = env.tx(lambda s: s.get(HumanTask, review2[0]).prefill)
    # Last round's "reject" is not offered again, nor the comment that explained it (a `fresh` field).
    assert prefill is None  # the review form holds only the decision and its comment
    env.tx(lambda s: env.engine.complete(s, review2[0], "rm_n", {"decision": "approve"}))
    info = env.tx(lambda s: env.engine.show(s, started))
    assert info["status"] == "completed"
    assert info["data"]["amount"] == 8
    (record,) = env.tx(lambda s: s.scalars(select(ArchiveRecord)).all())
    assert (record.kind, record.step, record.document["amount"]) == ("expense", "3", 8)
    assert len(record.sha256) == 64
    kinds = [e["kind"] for e in info["events"]]
    assert kinds.count("completed") == 4 and kinds.count("gateway") == 2
    assert kinds[0] == "started" and kinds[-1] == "instance_completed"
    completed = [e for e in info["events"] if e["kind"] == "completed"]
    assert completed[1]["detail"]["data"] == {"decision": "reject", "comment": "请补充明细"}


def test_completing_twice_says_who_did_it_and_when(env, started):
    (task,) = inbox(env, "bj")
    env.tx(lambda s: env.engine.complete(s, task[0], "bj", REQUEST))
    with pytest.raises(StaleAction) as caught:
        env.tx(lambda s: env.engine.complete(s, task[0], "bj", REQUEST))
    assert "已由 用户bj (bj) 于 2027-04-02 09:00:00 完成" in caught.value.message
    completions = env.tx(lambda s: s.scalars(select(Event).where(Event.kind == "completed")).all())
    assert len(completions) == 1


def test_a_stale_revision_is_a_conflict(env, started):
    session = env.sessions()
    row = instances.get(session, started)
    with pytest.raises(Conflict):
        instances.take_revision(session, row.id, row.revision - 1)
    session.rollback()
    session.close()


def test_business_keys_are_unique_per_process(env, started):
    with pytest.raises(StaleAction):
        env.tx(lambda s: env.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"},
                                          business_key="2027-04 北京"))


def test_unknown_things_are_not_found(env, started):
    with pytest.raises(NotFound):
        env.tx(lambda s: env.engine.start(s, "nope", "bj"))
    with pytest.raises(NotFound):
        env.tx(lambda s: env.engine.complete(s, 9999, "bj", {}))
    with pytest.raises(NotFound):
        env.tx(lambda s: env.engine.start(s, "approval", "ghost"))


def test_state_is_stored_without_the_spec(env, started):
    state = env.tx(lambda s: instances.get(s, started).state)
    assert '"spec"' not in state and "task_specs" not in state
    assert len(state) < 30_000


def test_a_failing_condition_rolls_back_the_completion_and_is_audited(env):
    env.tx(lambda s: add_people(s, PEOPLE))
    bad = fixture_bytes("approval.bpmn").replace(b"decision == 'approve'", b"decision.missing_method()")
    env.tx(lambda s: env.engine.deploy(s, bad, "approval.bpmn", "admin"))
    instance_id = env.tx(lambda s: env.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"}))
    (task,) = inbox(env, "bj")
    env.tx(lambda s: env.engine.complete(s, task[0], "bj", REQUEST))
    (review,) = inbox(env, "rm_n")
    with pytest.raises(Exception) as caught:
        env.tx(lambda s: env.engine.complete(s, review[0], "rm_n", {"decision": "approve"}))
    assert "流程运行出错" in caught.value.message
    assert inbox(env, "rm_n") == [review]  # nothing changed; the manager can try again after a fix
    errors = env.tx(lambda s: [e.detail for e in s.scalars(select(Event).where(Event.kind == "error"))])
    assert len(errors) == 1 and errors[0]["element_id"] == "decide"
    assert env.tx(lambda s: instances.get(s, instance_id).status) == "running"


def test_a_warm_workflow_is_never_used_once_the_stored_state_moved_on(env):
    """Two engines (two processes) on one database, and a unit of work that is rolled back."""
    env.tx(lambda s: add_people(s, {"m": [("市场总监", "*")], "sd": [("销售总监", "*")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("parallel.bpmn"), "p.bpmn", None))
    instance_id = env.tx(lambda s: env.engine.start(s, "parallel", "m"))
    other = type(env.engine)(env.engine.handlers, env.engine.sandbox, env.clock)
    (market,) = env.tx(lambda s: env.engine.inbox(s, "m"))
    (sales,) = env.tx(lambda s: env.engine.inbox(s, "sd"))

    session = env.sessions()  # a completion that is never committed
    env.engine.complete(session, market.id, "m", {"market_note": "作废"})
    session.rollback()
    session.close()

    env.tx(lambda s: other.complete(s, sales.id, "sd", {"sales_note": "销售意见"}))
    env.tx(lambda s: env.engine.complete(s, market.id, "m", {"market_note": "市场意见"}))
    info = env.tx(lambda s: env.engine.show(s, instance_id))
    assert info["status"] == "completed"
    assert (info["data"]["market_note"], info["data"]["sales_note"]) == ("市场意见", "销售意见")


def test_a_claim_that_lands_between_check_and_write_wins(env, started, monkeypatch):
    """bj2 claims (and commits) right after bj's completion passed its permission check."""
    env.tx(lambda s: add_people(s, {"bj2": [("办事处", "华北/北京办事处")]}))
    (task,) = inbox(env, "bj")
    check = type(env.engine)._check_can_act
    interleaved = []

    def check_then_let_bj2_claim(self, session, actor, row):
        check(self, session, actor, row)
        if actor.login == "bj" and not interleaved:
            interleaved.append(env.tx(lambda s: env.engine.claim(s, task[0], "bj2").assignee))

    monkeypatch.setattr(type(env.engine), "_check_can_act", check_then_let_bj2_claim)
    with pytest.raises(NotPermitted) as caught:
        env.tx(lambda s: env.engine.complete(s, task[0], "bj", REQUEST))
    assert interleaved == ["bj2"]
    assert "已由 用户bj2 (bj2) 认领" in caught.value.message
    row = env.tx(lambda s: s.get(HumanTask, task[0]))
    assert (row.state, row.assignee, row.completed_by) == ("claimed", "bj2", None)


def test_a_task_without_a_form_accepts_no_data(env):
    env.tx(lambda s: add_people(s, {"planner": [("计划部", "*")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("deadline.bpmn"), "d.bpmn", None))
    instance_id = env.tx(lambda s: env.engine.start(s, "deadline", "planner"))
    (task,) = env.tx(lambda s: env.engine.inbox(s, "planner"))
    with pytest.raises(ValidationFailed) as caught:
        env.tx(lambda s: env.engine.complete(s, task.id, "planner", {"started_by": "someone else"}))
    assert caught.value.problems[0].field == "started_by"
    assert env.tx(lambda s: env.engine.workflow_data(s, instance_id))["started_by"] == "planner"


def test_starting_needs_a_lane_role_the_owner_role_or_admin_and_cannot_set_system_keys(env):
    env.tx(lambda s: add_people(s, {**PEOPLE, "producer": [("生产部", "*")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("approval.bpmn"), "approval.bpmn", "admin"))
    with pytest.raises(NotPermitted):
        env.tx(lambda s: env.engine.start(s, "approval", "producer", {"office": "华北/北京办事处"}))
    assert env.tx(lambda s: env.engine.start(s, "approval", "admin", {"office": "华北/北京办事处"}))
    with pytest.raises(ValidationFailed) as caught:
        env.tx(lambda s: env.engine.start(s, "approval", "bj", {"started_by": "rm_n", "regions": [], "_x": 1}))
    assert {p.field for p in caught.value.problems} == {"started_by", "regions", "_x"}
    assert env.tx(lambda s: len(instances.listing(s))) == 1


def test_a_task_in_no_lane_is_for_administrators(env):
    env.tx(lambda s: add_people(s, PEOPLE))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("two_pools.bpmn"), "pools.bpmn", None))
    env.tx(lambda s: env.engine.start(s, "order", None))
    assert inbox(env, "bj") == [] and inbox(env, "rm_n") == []
    (task,) = inbox(env, "admin")
    assert task[3:5] == ("*", "*")
    env.tx(lambda s: env.engine.complete(s, task[0], "admin", {}))


def test_instance_listing_shows_each_person_only_what_they_may_see(env):
    env.tx(lambda s: add_people(s, PEOPLE))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("approval.bpmn"), "approval.bpmn", "admin"))
    north = [env.tx(lambda s: env.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"})) for _ in range(3)]
    east = env.tx(lambda s: env.engine.start(s, "approval", "sh", {"office": "华东/上海办事处"}))
    (task,) = inbox(env, "sh")
    env.tx(lambda s: env.engine.complete(s, task[0], "sh", REQUEST))

    def visible(login):
        return env.tx(lambda s: [i.id for i in instances.listing(s, visible_to=env.engine.actor(s, login))])

    assert visible("rm_e") == [east]  # a review in their region waits
    assert visible("rm_n") == []  # nothing of 华北 has reached its manager yet
    assert visible("bj") == list(reversed(north))
    assert visible("admin") == [east, *reversed(north)]




def test_the_instance_lock_of_a_completion_is_taken_again_in_each_transaction(env, started):
    """Reading a task for a change locks its instance until the transaction ends; a session kept open
    across transactions (as an embedding application may keep one) reads and locks it again in the next
    one, instead of trusting what it read under a lock it no longer holds."""
    from engine.store import tasks

    (request,) = inbox(env, "bj")

    def reads(sent: list[str]) -> list[str]:
        return [s for s in sent if "JOIN process_instance" in s and "human_task.id =" in s]

    with statements_sent(env.db) as sent, env.sessions() as session:
        held = tasks.get_with_instance(session, request[0])  # held: the session keeps it
        assert tasks.get_with_instance(session, request[0]) == held  # locked already
        assert len(reads(sent)) == 1
        session.commit()
        task, instance = tasks.get_with_instance(session, request[0])
        assert (task.id, instance.id) == (held[0].id, held[1].id) and task is not held[0]  # the same rows…
        assert len(reads(sent)) == 2  # …read (and locked) again
        if env.db.dialect.name == "postgresql":
            assert all("FOR UPDATE OF process_instance" in r for r in reads(sent))


def test_a_step_sets_status_and_end_only_when_they_change(env, started):
    """SQLite rewrites an index page for each indexed column an UPDATE sets, even to the value it had: a step
    that leaves the instance running, with no timer, writes its state and revision alone."""
    from engine.store.models import ProcessInstance

    def complete(task_id, login, data):
        with statements_sent(env.db) as sent:
            env.tx(lambda s: env.engine.complete(s, task_id, login, data))
        # on PostgreSQL after the step's events (WITH events AS …)
        (update,) = [s[s.index("UPDATE process_instance SET"):].split(" WHERE ")[0]
                     for s in sent if "UPDATE process_instance SET" in s]
        return update

    (task,) = inbox(env, "bj")
    step = complete(task[0], "bj", REQUEST)
    assert "state=" in step and "revision=" in step
    assert not any(column in step for column in ("status=", "next_timer_at=", "ended_at="))
    (review,) = inbox(env, "rm_n")
    last = complete(review[0], "rm_n", {"decision": "approve"})
    assert "status=" in last and "ended_at=" in last and "next_timer_at=" not in last
    stored = env.tx(lambda s: s.get(ProcessInstance, started))
    assert stored.status == "completed" and stored.ended_at == env.clock.now() and stored.revision == 3


def test_a_session_that_holds_the_task_sees_it_completed(env, started):
    """A completion reads its task and instance as plain rows, unless the session holds the task's object
    already (a caller read it first): then that object is the one brought up to date."""
    (task,) = inbox(env, "bj")
    with env.sessions() as session:
        held = session.get(HumanTask, task[0])
        assert held.state == "open"
        done = env.engine.complete(session, task[0], "bj", REQUEST)
        assert done is held and (held.state, held.completed_by, held.submitted["amount"]) == ("completed", "bj", 12.5)
        session.commit()
    with env.sessions() as session:
        plain = env.engine.complete(session, inbox(env, "rm_n")[0][0], "rm_n", {"decision": "approve"})
        assert not isinstance(plain, HumanTask) and (plain.state, plain.completed_by) == ("completed", "rm_n")
        session.commit()
    assert env.tx(lambda s: s.get(HumanTask, plain.id).state) == "completed"


def test_a_steps_events_go_in_with_its_state_and_not_without_it(env, started):
    """On PostgreSQL a step's audit events are written by the statement that writes its state (one round trip
    less); on SQLite by their own. Either way they are stored in the order they happened, and an update that
    loses the revision race takes them back with it."""
    from engine.store.models import ProcessInstance

    (task,) = inbox(env, "bj")
    with statements_sent(env.db) as all_sent:
        env.tx(lambda s: env.engine.complete(s, task[0], "bj", REQUEST))
    sent = [s for s in all_sent if "process_instance SET" in s or "INSERT INTO event" in s]
    if env.db.dialect.name == "postgresql":
        (together,) = sent
        assert together.startswith("WITH events AS") and "UPDATE process_instance SET" in together
    else:
        assert [s.split()[0] for s in sent] == ["INSERT", "UPDATE"]
    kinds = env.tx(lambda s: [e.kind for e in s.scalars(select(Event).where(Event.instance_id == started)
                                                       .order_by(Event.id))])
    assert kinds == ["started", "task_created", "completed", "task_created"]

    # The revision moved on meanwhile (another writer): the update changes no row, and the events go too.
    def lose_the_race(session):
        stale = session.get(ProcessInstance, started)
        instances.save_state(session, stale, stale.revision + 1, stale.state, "running", None, None,
                             read_revision=stale.revision - 1, events=[{
                                 "kind": "x", "at": env.clock.now(), "actor": None, "instance_id": started,
                                 "task_id": None, "detail": None}])

    with pytest.raises(Conflict):
        env.tx(lose_the_race)
    assert env.tx(lambda s: s.scalar(select(func.count()).select_from(Event).where(Event.kind == "x"))) == 0


def test_an_instance_no_process_holds_is_read_with_its_open_tasks_in_one_statement(env):
    """After a restart (or on another process, or once the engine forgot the workflows it held) the workflow is
    rebuilt from its state; the open and claimed tasks it needs for syncing come with the state, so the
    completion sends no query for them, and the task still open in the other branch is neither cancelled nor
    created again."""
    env.tx(lambda s: add_people(s, {"m": [("市场总监", "*")], "sd": [("销售总监", "*")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("parallel.bpmn"), "p.bpmn", None))
    instance_id = env.tx(lambda s: env.engine.start(s, "parallel", "m"))
    (market,) = env.tx(lambda s: env.engine.inbox(s, "m"))
    (sales,) = env.tx(lambda s: env.engine.inbox(s, "sd"))
    env.tx(lambda s: env.engine.claim(s, sales.id, "sd"))
    for task, login, data, forget in ((market, "m", {"market_note": "市场意见"}, env.restart),
                                      (sales, "sd", {"sales_note": "销售意见"}, lambda: env.engine.forget_workflows())):
        forget()
        with statements_sent(env.db) as raw:
            env.tx(lambda s, t=task, u=login, d=data: env.engine.complete(s, t.id, u, d))
        sent = [" ".join(statement.split()) for statement in raw]
        assert len([s for s in sent if s.startswith("SELECT process_instance.state")]) == 1
        assert not [s for s in sent if s.startswith("SELECT human_task.task_guid, human_task.id FROM")]
    rows = env.tx(lambda s: s.execute(select(HumanTask.id, HumanTask.state)
                                      .where(HumanTask.instance_id == instance_id).order_by(HumanTask.id)).all())
    assert [tuple(r) for r in rows] == [(market.id, "completed"), (sales.id, "completed")]
    assert env.tx(lambda s: env.engine.show(s, instance_id))["status"] == "completed"
