"""Start data that decides where tasks go (the approval process's `office`) may name only the starter's own scopes
(or scopes under them); administrators may name any. A refusal says which field, and starts nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from testkit import ApprovalFlow

from engine.store.models import HumanTask, ProcessInstance

FOREIGN = "华东/上海办事处"


def _counts(flow) -> tuple[int, int]:
    return flow.tx(lambda s: (s.scalar(select(func.count()).select_from(ProcessInstance)),
                              s.scalar(select(func.count()).select_from(HumanTask))))


def test_both_start_pages_refuse_another_offices_scope_and_keep_the_form(client, auth, flow):
    auth.login("bj")
    for url in ("/processes/approval/start", "/start/approval"):
        for value in (FOREIGN, "华北", "*"):  # another office, the region above, the whole company
            response = auth.post(url, {"business_key": "K-1", "d.0.key": "office", "d.0.value": value,
                                       "d.1.key": "budget", "d.1.value": "12.5"})
            assert response.status_code == 422, (url, value)
            text = response.get_data(as_text=True)
            assert "初始数据「office」决定任务发往的组织范围" in text
            assert f"其值 &#39;{value}&#39; 不在您的权限范围内" in text
            assert "您的范围: 华北/北京办事处" in text
            assert f'value="{value}"' in text and 'value="budget"' in text, url  # the rows as typed
    assert _counts(flow) == (0, 0)
    auth.login("sh")
    assert client.get("/api/tasks").get_json()["tasks"] == []


def test_own_office_or_one_under_a_region_grant_starts(client, auth, flow):
    auth.login("bj")
    own = {"business_key": "K-1", "d.0.key": "office", "d.0.value": "华北/北京办事处"}
    assert auth.post("/start/approval", own).status_code == 302
    auth.login("rm_huabei")  # 大区经理 in 华北: may start for an office of the region, not for one elsewhere
    response = auth.post("/processes/approval/start", {"d.0.key": "office", "d.0.value": "华北/天津办事处"})
    assert response.status_code == 302
    refused = auth.post("/processes/approval/start", {"d.0.key": "office", "d.0.value": FOREIGN})
    assert refused.status_code == 422 and "您的范围: 华北, 及其下级范围" in refused.get_data(as_text=True)
    assert _counts(flow)[0] == 2


def test_the_api_refuses_it_with_the_field_and_starts_nothing_on_both_databases(db_app, auth_for):
    client, flow = db_app.test_client(), ApprovalFlow(db_app)
    auth = auth_for(client)
    auth.login("bj")
    for data in ({"office": FOREIGN}, {"office": {"scope": "华北/北京办事处"}}, {"office": None}):
        response = auth.api_post("/api/instances", {"process_id": "approval", "data": data, "business_key": "A-1"})
        assert response.status_code == 422, data
        body = response.get_json()
        assert "初始数据「office」决定任务发往的组织范围" in body["message"]
        assert [p["field"] for p in body["problems"]] == ["office"]
    assert _counts(flow) == (0, 0)
    started = auth.api_post("/api/instances", {"process_id": "approval", "data": {"office": "华北/北京办事处"}})
    assert started.status_code == 201
    # An administrator may route anywhere: the Shanghai office gets the task.
    auth.login("admin")
    assert auth.api_post("/api/instances", {"process_id": "approval", "data": {"office": FOREIGN}}).status_code == 201
    auth.login("sh")
    assert [t["scope"] for t in client.get("/api/tasks").get_json()["tasks"]] == [FOREIGN]
