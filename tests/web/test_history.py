"""我的已办: the tasks I completed, newest first, a page at a time, each linking to its instance."""

from __future__ import annotations

import re

REQUEST = {"amount": 12.5, "purpose": "学术会议", "lines": [{"item": "场地", "cost": 12.5}]}


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr class="history-row" data-task-id="(\d+)">', html)


def test_history_needs_login(client):
    assert client.get("/history/").status_code == 302
    assert client.get("/api/history").status_code == 401


def test_nothing_done_yet(client, auth):
    auth.login("bj")
    text = client.get("/history/").get_data(as_text=True)
    assert "我的已办" in text and "您还没有完成过任务" in text


def test_my_completed_tasks_newest_first_with_process_step_key_time_and_links(client, auth, flow, clock):
    first = flow.start(key="2027-04 北京 A")
    first_task = flow.open_task(first)
    flow.complete(first_task, "bj", REQUEST)
    clock.advance(hours=2)
    second = flow.start(key="2027-04 北京 B")
    second_task = flow.open_task(second)
    flow.complete(second_task, "bj", REQUEST)
    auth.login("bj")
    text = client.get("/history/").get_data(as_text=True)
    assert _rows(text) == [str(second_task), str(first_task)]
    row = text[text.index(f'data-task-id="{second_task}"'):]
    row = row[:row.index("</tr>")]
    assert "费用申请审批" in row and "1 提交费用申请" in row and "2027-04 北京 B" in row
    assert "2027-04-02 11:00" in row and "华北/北京办事处" in row
    assert f'href="/instances/{second}"' in row and f'href="/tasks/{second_task}"' in row
    assert "第 1 / 1 页, 共 2 项" in text


def test_only_what_i_completed(client, auth, flow):
    instance_id, review = flow.request_done()
    flow.complete(review, "rm_huabei", {"decision": "approve"})
    flow.open_task(flow.start())  # open, not completed: in nobody's history
    auth.login("rm_huabei")
    assert _rows(client.get("/history/").get_data(as_text=True)) == [str(review)]
    auth.logout()
    auth.login("sh")  # same role as bj, other office: bj's completions are not theirs
    assert "您还没有完成过任务" in client.get("/history/").get_data(as_text=True)


def test_pages_of_25(client, auth, flow, clock):
    done = []
    for n in range(27):
        task_id = flow.open_task(flow.start(key=f"K{n}"))
        flow.complete(task_id, "bj", REQUEST)
        done.append(str(task_id))
        clock.advance(minutes=1)
    auth.login("bj")
    first = client.get("/history/").get_data(as_text=True)
    assert _rows(first) == done[::-1][:25]
    assert "第 1 / 2 页, 共 27 项" in first and 'href="/history/?page=2"' in first and 'rel="prev"' not in first
    second = client.get("/history/?page=2").get_data(as_text=True)
    assert _rows(second) == done[::-1][25:]
    assert 'href="/history/?page=1"' in second and 'rel="next"' not in second
    assert _rows(client.get("/history/?page=99").get_data(as_text=True)) == done[::-1][25:]  # past the end: last
    for odd in ("0", "-1", "abc", ""):
        assert _rows(client.get(f"/history/?page={odd}").get_data(as_text=True)) == done[::-1][:25]

    api = client.get("/api/history?page=2&per_page=10").get_json()
    assert (api["page"], api["per_page"], api["total"], api["pages"]) == (2, 10, 27, 3)
    assert [str(t["task_id"]) for t in api["tasks"]] == done[::-1][10:20]
    assert client.get("/api/history?per_page=1000").get_json()["per_page"] == 100


def test_history_in_english(client, auth, flow):
    flow.complete(flow.open_task(flow.start()), "bj", REQUEST)
    auth.login("bj")
    auth.post("/lang/en", {"next": "/history/"})
    text = client.get("/history/").get_data(as_text=True)
    assert "My completed tasks" in text and "Completed" in text and "Page 1 of 1, 1 in all" in text


def test_history_and_start_on_both_databases(db_app, auth_for, clock):
    from engine.store import tasks
    from engine.store.unit_of_work import in_transaction

    services = db_app.extensions["smflow"]

    def tx(work):
        return in_transaction(services.sessions, work)

    done = []
    for n in range(3):
        instance_id = tx(lambda s, n=n: services.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"},
                                                             None, f"P-{n}"))
        task_id = tx(lambda s, i=instance_id: tasks.active_for_instance(s, i)[0].id)
        tx(lambda s, t=task_id: services.engine.complete(s, t, "bj", REQUEST))
        done.append(task_id)
        clock.advance(minutes=5)
    client = db_app.test_client()
    auth = auth_for(client)
    auth.login("bj")
    assert _rows(client.get("/history/").get_data(as_text=True)) == [str(t) for t in reversed(done)]
    api = client.get("/api/history?per_page=2&page=2").get_json()
    assert [t["task_id"] for t in api["tasks"]] == [done[0]] and api["pages"] == 2
    assert [t["business_key"] for t in client.get("/api/history").get_json()["tasks"]] == ["P-2", "P-1", "P-0"]
    taken = auth.post("/start/approval", {"business_key": "P-1", "d.0.key": "office", "d.0.value": "华北/北京办事处"})
    assert taken.status_code == 422 and "已被本流程的实例" in taken.get_data(as_text=True)
    started = auth.post("/start/approval", {"business_key": "P-9", "d.0.key": "office", "d.0.value": "华北/北京办事处"})
    assert started.status_code == 302
