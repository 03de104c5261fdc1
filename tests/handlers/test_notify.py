"""通知 handler: one inbox message to a role in a scope."""

import pytest
from sqlalchemy import select

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.store.models import Notification
from handlers import default_registry
from handlers.notify import notify


def _ctx(session, clock):
    return HandlerContext(session=session, instance_id=11, process_id="SM2_2", version=1, element_id="Task_7",
                          step="7", actor=None, now=clock.now())


def _all(sessions) -> list[Notification]:
    with sessions() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def test_notify_is_registered_under_its_topic():
    assert default_registry().get("notify") is notify


def test_notify_stores_one_message_for_the_role_in_the_scope(sessions, clock):
    with sessions() as s:
        result = notify(_ctx(s, clock), role="大区经理", message="解除合作关系的客户: 甲医药 (华北)",
                        scope="华北")
        s.commit()
    assert result == {}
    (row,) = _all(sessions)
    assert (row.role, row.scope, row.message, row.instance_id) == (
        "大区经理", "华北", "解除合作关系的客户: 甲医药 (华北)", 11)
    assert row.created_at == clock.now()


@pytest.mark.parametrize("scope", [None, ""])
def test_an_empty_scope_means_company_wide(sessions, clock, scope):
    with sessions() as s:
        notify(_ctx(s, clock), role="计划部", message="提醒", scope=scope)
        s.commit()
    assert [n.scope for n in _all(sessions)] == ["*"]


def test_each_call_adds_a_message(sessions, clock):
    with sessions() as s:
        notify(_ctx(s, clock), role="计划部", message="第一次提醒")
        notify(_ctx(s, clock), role="决策层", message="第二次提醒")
        s.commit()
    rows = [(n.role, n.message) for n in _all(sessions)]
    assert rows == [("计划部", "第一次提醒"), ("决策层", "第二次提醒")]


@pytest.mark.parametrize("role, message", [("", "提醒"), ("计划部", ""), (None, "提醒")])
def test_missing_role_or_message_is_refused_and_nothing_is_stored(sessions, clock, role, message):
    with sessions() as s:
        with pytest.raises(HandlerFailed) as caught:
            notify(_ctx(s, clock), role=role, message=message)
        s.commit()
    assert caught.value.retryable is False
    assert "role" in caught.value.message
    assert _all(sessions) == []
