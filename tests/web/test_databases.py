"""One person's round trip through the pages, on SQLite and on PostgreSQL."""

from __future__ import annotations


def test_start_fill_review_on_each_database(db_app, auth_for):
    client = db_app.test_client()
    auth = auth_for(client)
    auth.login("bj")
    response = auth.post("/processes/approval/start", {"d.0.key": "office", "d.0.value": "华北/北京办事处",
                                                       "business_key": "BJ-1"})
    assert response.status_code == 302
    instance_path = response.headers["Location"]
    task_id = client.get("/api/tasks").get_json()["tasks"][0]["task_id"]
    bad = auth.post(f"/tasks/{task_id}/complete", {"f.amount": "0", "f.purpose": "会议"})
    assert bad.status_code == 422 and "不能小于 0.1" in bad.get_data(as_text=True)
    ok = auth.post(f"/tasks/{task_id}/complete", {"f.amount": "3", "f.purpose": "会议",
                                                 "f.lines.0.item": "茶歇", "f.lines.0.cost": "3"})
    assert ok.status_code == 302
    auth.logout()
    auth.login("rm_huabei")
    review = client.get("/api/tasks").get_json()["tasks"][0]["task_id"]
    assert auth.post(f"/tasks/{review}/claim").status_code == 302
    assert auth.post(f"/tasks/{review}/complete", {"f.decision": "approve"}).status_code == 302
    page = client.get(instance_path).get_data(as_text=True)
    assert "已结束" in page and "罗平 (rm_huabei)" in page
