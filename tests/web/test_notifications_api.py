"""通知 in the JSON API and on the page: only one's own notes, newest first, a page at a time, read state per
person, the same numbers as the bell; on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from testkit import ApprovalFlow

from engine.store import org
from engine.store.models import Notification
from engine.store.notifications import addressed_to

AT = datetime(2027, 4, 2, 1, 0, tzinfo=UTC)
# (role, scope) of notes: rm_huabei (大区经理 @ 华北) is reached by the first four only
NOTES = [
    ("大区经理", "华北"),
    ("大区经理", "华北/北京办事处"),  # inside the grant's scope
    ("大区经理", "*"),  # to the role everywhere
    ("大区经理", ""),  # never written by the handler; reaches nobody with a scoped grant
    ("大区经理", "华北东"),  # a sibling whose name starts like the grant's scope
    ("大区经理", "华东"),
    ("大区经理", "华"),
    ("财务部", "华北"),
    ("办事处", "华北"),  # above the offices of 华北: bj is reached, sh is not
    ("办事处", "华北/北京办事处/一组"),
    ("办事处", "华东/上海办事处"),
    ("admin", "*"),
]
LOGINS = ("bj", "sh", "rm_huabei", "rm_huadong", "finance", "outsider", "admin")  # tests/web/conftest.py
BELL = re.compile(r'<span class="bell-count">(\d+)</span>')
ROWS = re.compile(r'<li class="(unread)?" data-notification-id="(\d+)">')


@pytest.fixture
def site(db_app, auth_for):
    client = db_app.test_client()
    return client, auth_for(client), ApprovalFlow(db_app)


def add_notes(flow, notes, instance_id=None) -> list[int]:
    """The notes in order, a minute apart (the last is the newest); their ids."""
    def work(s):
        rows = [Notification(role=role, scope=scope, message=f"通知 {n}: {role} @ {scope}", instance_id=instance_id,
                             created_at=AT + timedelta(minutes=n)) for n, (role, scope) in enumerate(notes)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]

    return flow.tx(work)


def api_login(client, auth, login):
    token = client.get("/api/csrf").get_json()["csrf_token"]
    assert client.post("/api/login", json={"login": login, "password": auth.password},
                       headers={"X-CSRF-Token": token}).status_code == 200


def test_each_person_gets_exactly_the_notes_addressed_to_them(site):
    client, auth, flow = site
    ids = add_notes(flow, NOTES)
    for login in LOGINS:
        api_login(client, auth, login)
        actor = flow.tx(lambda s, who=login: org.actor(s, who))
        expected = [i for i, (role, scope) in reversed(list(zip(ids, NOTES, strict=True)))
                    if role != "admin" and addressed_to(actor, role, scope)]
        answer = client.get("/api/notifications").get_json()
        assert [n["id"] for n in answer["notifications"]] == expected, login  # newest first, the SQL rule = the rule
        assert (answer["total"], answer["unread"]) == (len(expected), len(expected)), login
        auth.logout()
    api_login(client, auth, "rm_huabei")
    answer = client.get("/api/notifications").get_json()
    assert [n["message"] for n in answer["notifications"]] == \
        ["通知 2: 大区经理 @ *", "通知 1: 大区经理 @ 华北/北京办事处", "通知 0: 大区经理 @ 华北"]
    assert answer["notifications"][0] == {"id": ids[2], "message": "通知 2: 大区经理 @ *",
                                          "created_at": "2027-04-02T01:02:00+00:00", "instance_id": None,
                                          "read": False}


def test_pages_of_notes_past_the_end_and_per_page(site):
    client, auth, flow = site
    ids = add_notes(flow, [("大区经理", "华北")] * 7)
    api_login(client, auth, "rm_huabei")
    page = client.get("/api/notifications?page=2&per_page=3").get_json()
    assert (page["page"], page["per_page"], page["total"], page["pages"], page["unread"]) == (2, 3, 7, 3, 7)
    assert [n["id"] for n in page["notifications"]] == ids[::-1][3:6]
    last = client.get("/api/notifications?page=99&per_page=3").get_json()
    assert last["page"] == 3 and [n["id"] for n in last["notifications"]] == [ids[0]]
    assert client.get("/api/notifications?per_page=1000").get_json()["per_page"] == 100
    for odd in ("0", "-1", "x"):
        assert client.get(f"/api/notifications?page={odd}&per_page={odd}").get_json()["page"] == 1


def test_marking_read_by_id_and_all_is_per_person_and_ignores_others_notes(site):
    client, auth, flow = site
    office = add_notes(flow, [("办事处", "*")] * 3)  # to every office: bj and sh
    (finance,) = add_notes(flow, [("财务部", "*")])
    api_login(client, auth, "bj")
    marked = auth.api_post("/api/notifications/read", {"ids": [office[0], office[1], finance, 999_999]})
    assert marked.status_code == 200 and marked.get_json() == {"marked": 2, "unread": 1}
    assert auth.api_post("/api/notifications/read", {"ids": [office[0]]}).get_json() == {"marked": 0, "unread": 1}
    read = {n["id"]: n["read"] for n in client.get("/api/notifications").get_json()["notifications"]}
    assert read == {office[2]: False, office[1]: True, office[0]: True}
    assert BELL.search(client.get("/").get_data(as_text=True)).group(1) == "1"
    assert auth.api_post("/api/notifications/read", {}).get_json() == {"marked": 1, "unread": 0}
    assert auth.api_post("/api/notifications/read", {}).get_json() == {"marked": 0, "unread": 0}
    assert not BELL.search(client.get("/").get_data(as_text=True))
    auth.logout()
    api_login(client, auth, "sh")  # bj's reading is bj's
    assert client.get("/api/notifications").get_json()["unread"] == 3
    auth.logout()
    api_login(client, auth, "finance")  # bj could not mark finance's note
    assert [n["read"] for n in client.get("/api/notifications").get_json()["notifications"]] == [False]


def test_bad_requests_get_a_message_a_person_can_act_on(site):
    client, auth, flow = site
    assert client.get("/api/notifications").status_code == 401
    assert auth.api_post("/api/notifications/read", {}).status_code == 401
    (note,) = add_notes(flow, [("大区经理", "华北")])
    api_login(client, auth, "rm_huabei")
    for body in ({"ids": "all"}, {"ids": [True]}, {"ids": [1.5]}, {"ids": [str(note)]}, {"ids": list(range(1001))}):
        response = auth.api_post("/api/notifications/read", body)
        assert response.status_code == 422, body
        assert response.get_json()["message"] == \
            "ids 应为通知编号 (整数) 的列表, 一次最多 1000 个; 要把全部通知标为已读, 请发送 {}"
        assert response.get_json()["problems"][0]["field"] == "ids"
    assert auth.api_post("/api/notifications/read", [note]).status_code == 422  # not an object
    assert client.post("/api/notifications/read", json={}).status_code == 400  # no CSRF header
    assert client.get("/api/notifications").get_json()["unread"] == 1  # nothing was marked


def test_the_bell_counts_every_unread_note_not_only_the_newest_200(site):
    client, auth, flow = site
    add_notes(flow, [("大区经理", "华北")] * 205)
    add_notes(flow, [("大区经理", "华东")] * 30)  # newer, not rm_huabei's
    auth.login("rm_huabei")
    assert BELL.search(client.get("/").get_data(as_text=True)).group(1) == "205"
    assert client.get("/api/notifications").get_json()["unread"] == 205
    assert auth.api_post("/api/notifications/read", {}).get_json() == {"marked": 205, "unread": 0}


def test_the_page_shows_50_a_page_and_marking_one_stays_on_its_page(client, auth, flow):
    ids = add_notes(flow, [("大区经理", "华北")] * 53)
    auth.login("rm_huabei")
    first = client.get("/notifications/").get_data(as_text=True)
    assert [int(i) for _, i in ROWS.findall(first)] == ids[::-1][:50]
    assert "共 53 条, 其中 53 条未读" in first and "第 1 / 2 页, 共 53 项" in first
    assert 'href="/notifications/?page=2"' in first and 'rel="prev"' not in first
    second = client.get("/notifications/?page=2").get_data(as_text=True)
    assert [int(i) for _, i in ROWS.findall(second)] == ids[::-1][50:]
    response = auth.post("/notifications/read", {"id": str(ids[0]), "next": "/notifications/?page=2"})
    assert response.status_code == 302 and response.headers["Location"] == "/notifications/?page=2"
    second = client.get("/notifications/?page=2").get_data(as_text=True)
    assert "已标为已读 1 条" in second and "共 53 条, 其中 52 条未读" in second
    assert dict((int(i), bool(u)) for u, i in ROWS.findall(second))[ids[0]] is False
    auth.post("/notifications/read")
    text = client.get("/notifications/").get_data(as_text=True)
    assert "共 53 条, 全部已读" in text and "全部标为已读" not in text


def test_the_page_in_english(client, auth, flow):
    add_notes(flow, [("大区经理", "华北")] * 2)
    auth.login("rm_huabei")
    auth.post("/lang/en", {"next": "/notifications/"})
    assert "2 in all, 2 unread" in client.get("/notifications/").get_data(as_text=True)
