"""我的待办: the list of my tasks and notifications."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event

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


def _many(flow, clock, n: int) -> list[int]:
    """n open 'request' tasks for bj, received an hour apart, with business keys K-01 … (their due dates in order)."""
    ids = []
    for i in range(1, n + 1):
        ids.append(flow.open_task(flow.start(key=f"K-{i:02d}")))
        clock.advance(hours=1)
    return ids


def test_each_row_says_what_where_when_and_offers_claim(client, auth, flow):
    task_id = flow.open_task(flow.start(key="2027-04 费用申请"))
    auth.login("bj")
    text = client.get("/").get_data(as_text=True)
    row = re.search(rf'<tr class="task-row" data-task-id="{task_id}">.*?</tr>', text, re.S).group(0)
    assert "1 提交费用申请" in row and "费用申请审批" in row
    assert "2027-04 费用申请 · 华北/北京办事处" in row            # the business key and the task's scope
    assert "2027-04-02 09:00" in row and "2027-04-05 09:00" in row  # received, due
    assert f'action="/tasks/{task_id}/claim"' in row and 'name="next" value="/"' in row
    assert re.search(r'我的待办 <span class="nav-count"[^>]*>\(1\)</span>', text)


def test_claim_and_put_back_from_the_inbox_stay_on_the_inbox(client, auth, flow):
    task_id = flow.open_task(flow.start())
    auth.login("bj")
    response = auth.post(f"/tasks/{task_id}/claim", {"next": "/?sort=received"})
    assert response.status_code == 302 and response.headers["Location"] == "/?sort=received"
    text = client.get("/").get_data(as_text=True)
    assert "我已认领" in text and f'action="/tasks/{task_id}/unclaim"' in text
    response = auth.post(f"/tasks/{task_id}/unclaim", {"next": "/"})
    assert response.headers["Location"] == "/"
    assert f'action="/tasks/{task_id}/claim"' in client.get("/").get_data(as_text=True)
    # a redirect elsewhere is refused: back to the task page / the inbox
    assert auth.post(f"/tasks/{task_id}/claim", {"next": "https://evil.example/"}).headers["Location"] == \
        f"/tasks/{task_id}"


def test_overdue_and_due_soon_have_a_text_marker_not_only_colour(client, auth, flow, clock):
    late = flow.open_task(flow.start())
    clock.advance(days=1, hours=12)
    soon = flow.open_task(flow.start())   # due in 3 days: not soon yet
    clock.advance(days=1, hours=13)        # the first is overdue, the second due within two days
    auth.login("bj")
    text = client.get("/").get_data(as_text=True)
    assert re.search(rf'data-task-id="{late}">.*?⚠ 已逾期', text, re.S)
    assert re.search(rf'class="task-row due-soon" data-task-id="{soon}">.*?两天内到期', text, re.S)
    assert "⚠ 逾期 1" in text                                   # in the menu
    assert re.search(r'chip-overdue[^>]*>⚠ 已逾期 <b>1</b>', text)


def test_filters_by_process_step_and_due_and_sorts(client, auth, flow, clock):
    ids = _many(flow, clock, 3)
    fixture = (Path(__file__).parents[1] / "fixtures" / "fixed_table.bpmn").read_bytes()
    flow.tx(lambda s: flow.services.engine.deploy(s, fixture, "fixed_table.bpmn", "admin"))
    other = flow.open_task(flow.tx(lambda s: flow.services.engine.start(
        s, "fixed_table", "bj", {"office": "华北/北京办事处"}, None, "F-1")))
    auth.login("bj")

    def rows(url):
        return [int(n) for n in re.findall(r'class="task-row[^"]*" data-task-id="(\d+)"', client.get(url).get_data(
            as_text=True))]

    assert rows("/") == [*ids, other]                                      # soonest due first; no due date last
    assert rows("/?sort=received") == [other, *reversed(ids)]
    assert rows("/?process=approval") == ids
    assert rows("/?process=fixed_table&step=forecast") == [other]
    assert rows("/?step=request") == ids
    assert rows("/?due=none") == [other]
    assert rows("/?due=overdue") == []
    text = client.get("/?process=approval").get_data(as_text=True)
    assert '<option value="approval" selected>费用申请审批 (3)</option>' in text
    assert '<option value="request">1 提交费用申请 (3)</option>' in text
    assert "1 填写要货预测" not in text.split('id="filter-step"')[1].split("</select>")[0]  # that process's steps
    assert "清除筛选" in text
    nothing = client.get("/?due=overdue").get_data(as_text=True)
    assert "没有符合筛选条件的任务" in nothing and "暂无待办任务" not in nothing
    assert rows("/?due=sideways&sort=up&page=x") == [*ids, other]          # nonsense is ignored


def test_pages_of_twenty_keep_the_filters(client, auth, flow, clock):
    ids = _many(flow, clock, 23)
    auth.login("bj")
    first = client.get("/?process=approval").get_data(as_text=True)
    assert len(re.findall(r'class="task-row', first)) == 20
    assert "第 1 / 2 页, 共 23 项" in first
    assert 'rel="next" href="/?process=approval&amp;page=2"' in first and 'rel="prev"' not in first
    second = client.get("/?process=approval&page=2").get_data(as_text=True)
    assert [int(n) for n in re.findall(r'data-task-id="(\d+)"', second)] == ids[20:]
    assert 'rel="prev" href="/?process=approval"' in second and 'rel="next"' not in second
    assert "第 2 / 2 页" in second
    assert "(23)" in second                                       # the menu counts every task


def test_inbox_counts_are_in_the_menu_of_every_page(client, auth, flow):
    instance_id = flow.start()
    auth.login("bj")
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert re.search(r'我的待办 <span class="nav-count"[^>]*>\(1\)</span>', text)
    auth.logout()
    auth.login("sh")
    assert re.search(r'我的待办 <span class="nav-count"[^>]*>\(0\)</span>', client.get("/").get_data(as_text=True))


def test_a_business_key_with_markup_is_shown_as_text(client, auth, flow):
    flow.start(key="<script>alert(1)</script>")
    auth.login("bj")
    text = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_the_inbox_costs_the_same_few_queries_however_many_tasks_it_lists(app, client, auth, flow, clock):
    statements: list[str] = []
    bind = app.extensions["smflow"].sessions.kw["bind"]

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    _many(flow, clock, 2)
    auth.login("bj")
    event.listen(bind, "before_cursor_execute", count)
    try:
        sizes = []
        for more in (0, 15):
            for n in range(more):
                flow.open_task(flow.start(key=f"M-{n:02d}"))
            for url in ("/", "/api/tasks"):
                statements.clear()
                assert client.get(url).status_code == 200
                sizes.append(len(statements))
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert sizes[:2] == sizes[2:]  # no query per listed task: the lists read nothing a row leaves out
    assert len(client.get("/api/tasks").get_json()["tasks"]) == 17
