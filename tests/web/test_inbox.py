"""我的待办: the list of my tasks and notifications."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.store.models import Notification


def test_empty_inbox_says_so(client, auth):
    auth.login("bj")
    text = client.get("/").get_data(as_text=True)
    assert "暂无待办任务" in text


def test_inbox_lists_the_open_task_of_my_scope(client, auth, flow):
    flow.start()
    auth.login("bj")
    text = client.get("/").get_data(as_text=True)
    assert "费用申请审批" in text                # process name
    assert "1 提交费用申请" in text              # step number + name
    assert "华北/北京办事处" in text
    assert "2027-04-05 09:00" in text            # due in company time (P3D after 2027-04-02 09:00)
    assert "未认领" in text
    assert ">处理</a>" in text
    assert "暂无待办任务" not in text


def test_other_scopes_do_not_see_it(client, auth, flow):
    flow.start()
    auth.login("sh")
    assert "暂无待办任务" in client.get("/").get_data(as_text=True)


def test_overdue_tasks_are_marked_red(client, auth, flow, clock):
    flow.start()
    clock.advance(days=4)
    auth.login("bj")
    text = client.get("/").get_data(as_text=True)
    assert "task-row overdue" in text and "已逾期" in text


def test_claimed_task_shows_who_claimed_it(client, auth, flow):
    instance_id = flow.start()
    task_id = flow.open_task(instance_id)
    flow.tx(lambda s: flow.services.engine.claim(s, task_id, "bj"))
    auth.login("bj")
    assert "宋晓东 (bj)" in client.get("/").get_data(as_text=True)


def test_region_manager_sees_the_review_of_an_office_in_the_region(client, auth, flow):
    flow.request_done()
    auth.login("rm_huabei")
    text = client.get("/").get_data(as_text=True)
    assert "2 审批费用申请" in text and "华北" in text
    auth.logout()
    auth.login("rm_huadong")
    assert "暂无待办任务" in client.get("/").get_data(as_text=True)


def test_notifications_of_my_roles_and_scopes(client, auth, flow):
    at = datetime(2027, 4, 2, 1, 0, tzinfo=UTC)

    def add(s):
        s.add(Notification(role="大区经理", scope="华北", message="华北月度计划已批准", created_at=at))
        s.add(Notification(role="大区经理", scope="华东", message="华东月度计划已批准", created_at=at))

    flow.tx(add)
    auth.login("rm_huabei")
    text = client.get("/").get_data(as_text=True)
    assert "通知" in text and "华北月度计划已批准" in text
    assert "华东月度计划已批准" not in text
