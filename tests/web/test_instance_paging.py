"""流程实例 a page at a time: newest first, filtered by process and status, only what the person may see, with
exact totals (the visibility rule runs in SQL, before the page is cut); on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import event
from testkit import ApprovalFlow, edit

PARALLEL = (Path(__file__).parents[1] / "fixtures" / "parallel.bpmn").read_bytes()
REQUEST = {"amount": 12.5, "purpose": "学术会议", "lines": [{"item": "场地", "cost": 12.5}]}
ROWS = re.compile(r'<tr class="instance-row" data-instance-id="(\d+)">')


@pytest.fixture
def site(db_app, auth_for):
    client = db_app.test_client()
    return client, auth_for(client), ApprovalFlow(db_app)


def ids_on(text: str) -> list[int]:
    return [int(i) for i in ROWS.findall(text)]


def approve(flow, instance_id: int) -> None:
    """Submit, then approve: the instance ends (已结束)."""
    flow.complete(flow.open_task(instance_id), "bj", REQUEST)
    flow.complete(flow.open_task(instance_id), "rm_huabei", {"decision": "approve"})


def test_pages_of_25_newest_first_past_the_end_and_odd_page_numbers(site):
    client, auth, flow = site
    started = [flow.start(key=f"K{n:02d}") for n in range(27)]
    newest_first = started[::-1]
    auth.login("bj")
    first = client.get("/instances/").get_data(as_text=True)
    assert ids_on(first) == newest_first[:25]
    assert "第 1 / 2 页, 共 27 项" in first and "流程实例 <span class=\"count-total\">(27)</span>" in first
    assert 'href="/instances/?page=2"' in first and 'rel="prev"' not in first
    second = client.get("/instances/?page=2").get_data(as_text=True)
    assert ids_on(second) == newest_first[25:]
    assert 'href="/instances/?page=1"' in second and 'rel="next"' not in second
    assert ids_on(client.get("/instances/?page=99").get_data(as_text=True)) == newest_first[25:]
    for odd in ("0", "-1", "abc", ""):
        assert ids_on(client.get(f"/instances/?page={odd}").get_data(as_text=True)) == newest_first[:25]

    api = client.get("/api/instances?page=2&per_page=10").get_json()
    assert (api["page"], api["per_page"], api["total"], api["pages"]) == (2, 10, 27, 3)
    assert [i["id"] for i in api["instances"]] == newest_first[10:20]
    assert api["instances"][0]["business_key"] == "K16" and api["instances"][0]["current"] == \
        ["1 提交费用申请 (华北/北京办事处)"]
    assert client.get("/api/instances?per_page=1000").get_json()["per_page"] == 100
    assert client.get("/api/instances").get_json()["per_page"] == 25


def test_filter_by_status_and_process_keeps_both_on_every_page_link(site):
    client, auth, flow = site
    flow.tx(lambda s: flow.services.engine.deploy(s, PARALLEL, "parallel.bpmn", "admin"))
    running = [flow.start(key=f"R{n:02d}") for n in range(26)]
    done = [flow.start(key=f"D{n}") for n in range(2)]
    for instance_id in done:
        approve(flow, instance_id)
    other = flow.tx(lambda s: flow.services.engine.start(s, "parallel", "admin", {}))
    auth.login("admin")
    text = client.get("/instances/?process=approval&status=running").get_data(as_text=True)
    assert ids_on(text) == running[::-1][:25] and "共 26 项" in text
    assert 'href="/instances/?page=2&amp;process=approval&amp;status=running"' in text
    assert ids_on(client.get("/instances/?process=approval&status=running&page=2").get_data(as_text=True)) == \
        [running[0]]
    # the options say how many there are under the other filter
    assert '<option value="approval" selected>费用申请审批 (26)</option>' in text
    assert '<option value="completed">已结束 (2)</option>' in text and '<option value="running" selected>进行中 (26)' \
        in text
    done_page = client.get("/instances/?status=completed").get_data(as_text=True)
    assert ids_on(done_page) == done[::-1] and "已结束" in done_page
    assert other in ids_on(client.get("/instances/?process=parallel").get_data(as_text=True))
    assert ids_on(client.get("/instances/?status=nonsense").get_data(as_text=True))[0] == other  # ignored: all
    none = client.get("/instances/?process=approval&status=cancelled").get_data(as_text=True)
    assert ids_on(none) == [] and "没有符合筛选条件的流程实例" in none and "清除筛选" in none

    api = client.get("/api/instances?status=completed&per_page=1").get_json()
    assert (api["total"], api["pages"], [i["id"] for i in api["instances"]]) == (2, 2, [done[1]])
    finished = client.get("/api/instances?status=completed").get_json()["instances"]
    assert [i["status"] for i in finished] == ["completed", "completed"]
    assert client.get("/api/instances?process=parallel").get_json()["total"] == 1


def test_each_person_sees_only_their_instances_and_the_totals_say_so(site):
    client, auth, flow = site
    north = [flow.start(key=f"N{n}") for n in range(3)]
    east = [flow.start(office="华东/上海办事处", by="sh", key=f"E{n}") for n in range(2)]
    for instance_id in north[:2]:
        flow.complete(flow.open_task(instance_id), "bj", REQUEST)  # now at the region's review
    expected = {"bj": north[::-1], "sh": east[::-1], "rm_huabei": north[:2][::-1], "rm_huadong": [], "finance": [],
                "admin": (north + east)[::-1]}
    for login, ids in expected.items():
        auth.login(login)
        api = client.get("/api/instances?per_page=1").get_json()
        assert api["total"] == len(ids), login
        seen = [i["id"] for page in range(1, api["pages"] + 1)
                for i in client.get(f"/api/instances?per_page=1&page={page}").get_json()["instances"]]
        assert seen == ids, login
        for instance_id in seen:  # whatever the list shows, its page opens
            assert client.get(f"/instances/{instance_id}").status_code == 200, (login, instance_id)
        auth.logout()


def test_the_owner_of_the_newest_version_lists_and_opens_instances_of_older_ones(site):
    client, auth, flow = site
    old = flow.start()  # version 1 has no owner
    owned = edit((Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes(),
                 ('<bpmn:laneSet id="lanes">',
                  '<bpmn:extensionElements><camunda:properties><camunda:property name="smflow:owner" value="财务部"/>'
                  '</camunda:properties></bpmn:extensionElements><bpmn:laneSet id="lanes">'))
    flow.tx(lambda s: flow.services.engine.deploy(s, owned, "approval.bpmn", "admin"))
    auth.login("finance")
    assert ids_on(client.get("/instances/").get_data(as_text=True)) == [old]
    assert client.get(f"/instances/{old}").status_code == 200
    assert client.get(f"/api/instances/{old}").status_code == 200
    auth.logout()
    auth.login("outsider")
    assert client.get(f"/instances/{old}").status_code == 404


def test_a_page_costs_the_same_few_queries_however_many_rows_it_shows(site, db_app):
    client, auth, flow = site
    for n in range(3):
        flow.start(key=f"A{n}")
    auth.login("bj")
    statements: list[str] = []
    bind = db_app.extensions["smflow"].sessions.kw["bind"]

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(bind, "before_cursor_execute", count)
    try:
        client.get("/api/instances")
        few = len(statements)
        for n in range(20):
            flow.start(key=f"B{n}")
        statements.clear()
        assert len(client.get("/api/instances").get_json()["instances"]) == 23
        many = len(statements)
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert many == few  # no query per row
    counting = [s for s in statements if "count(" in s.lower() and "process_instance" in s]
    assert len(counting) == 1  # the total (and the filters' counts) in one query
    assert not any("process_instance.state" in s for s in statements)  # a list never reads the workflow state


def test_the_list_in_english(client, auth, flow):
    flow.start()
    auth.login("bj")
    auth.post("/lang/en", {"next": "/instances/"})
    text = client.get("/instances/?status=cancelled").get_data(as_text=True)
    assert "Any status" in text and "No instances match these filters" in text
