"""流程实例: who may see an instance, and what its page shows."""

from __future__ import annotations

import html
import json
import re


def test_instance_page_shows_status_tasks_audit_data_and_diagram(client, auth, flow):
    instance_id, review_id = flow.request_done()
    auth.login("bj")
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert f"流程实例 {instance_id} · 费用申请审批" in text
    assert "进行中" in text
    assert "1 提交费用申请" in text and "宋晓东 (bj)" in text and "2027-04-02 09:00" in text   # who did what, when
    assert "2 审批费用申请" in text and "大区经理 · 华北" in text and "待处理" in text
    for kind in ("发起流程", "生成任务", "完成任务"):
        assert kind in text
    assert "学术会议" in html.unescape(text)            # process data
    assert '"regions"' not in text                      # the organisation snapshot is left out
    diagram = re.search(r'<div class="diagram" id="diagram" data-xml-url="([^"]+)"\s+'
                        r"data-active='([^']*)' data-done='([^']*)'", text)
    assert diagram.group(1) == "/processes/approval/1/download"
    assert json.loads(diagram.group(2)) == ["review"]
    assert json.loads(diagram.group(3)) == ["request"]
    assert "build/bpmn-js/bpmn-navigated-viewer.production.min.js" in text


def test_gateway_and_service_task_are_in_the_audit_and_marked_done(client, auth, flow):
    instance_id, review_id = flow.request_done()
    flow.complete(review_id, "rm_huabei", {"decision": "approve"})
    auth.login("rm_huabei")
    text = html.unescape(client.get(f"/instances/{instance_id}").get_data(as_text=True))
    assert "已结束" in text
    assert "网关决策" in text and "是否批准? → 3 费用备案" in text
    assert "服务任务" in text and "file (archive)" in text
    done = json.loads(re.search(r"data-done='([^']*)'", text).group(1))
    assert {"request", "review", "decide", "file"} <= set(done)


def test_people_unrelated_to_an_instance_get_403(client, auth, flow):
    instance_id, _ = flow.request_done()
    auth.login("rm_huadong")
    response = client.get(f"/instances/{instance_id}")
    assert response.status_code == 403
    assert "不能查看" in response.get_data(as_text=True)
    assert f'href="/instances/{instance_id}"' not in client.get("/instances/").get_data(as_text=True)


def test_instance_list_shows_visible_instances_with_current_tasks(client, auth, flow):
    instance_id, _ = flow.request_done()
    other = flow.start(office="华东/上海办事处", by="sh")
    auth.login("rm_huabei")
    text = client.get("/instances/").get_data(as_text=True)
    assert f'href="/instances/{instance_id}"' in text and "2 审批费用申请 (华北)" in text
    assert f'href="/instances/{other}"' not in text
    auth.logout()
    auth.login("admin")
    text = client.get("/instances/?process=approval").get_data(as_text=True)
    assert f'href="/instances/{instance_id}"' in text and f'href="/instances/{other}"' in text


def test_no_instances_says_so(client, auth):
    auth.login("bj")
    assert "暂无您可查看的流程实例" in client.get("/instances/").get_data(as_text=True)


def test_a_failed_service_task_is_shown_and_an_admin_can_retry_it(client, auth, flow):
    handlers = flow.services.engine.handlers
    real_archive = handlers.get("archive")

    def archive_down(ctx, **params):
        from engine import HandlerFailed

        raise HandlerFailed("档案库维护中", retryable=False)

    handlers.register("archive", archive_down)
    instance_id, review_id = flow.request_done()
    flow.complete(review_id, "rm_huabei", {"decision": "approve"})
    auth.login("rm_huabei")
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "出错的服务任务" in text and "档案库维护中" in text and "需人工处理后重试" in text
    job_url = re.search(r'action="(/instances/\d+/jobs/\d+/retry)"', text)
    assert job_url is None  # only administrators get the button
    auth.logout()

    auth.login("admin")
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    job_url = re.search(r'action="(/instances/\d+/jobs/\d+/retry)"', text).group(1)
    assert client.post(job_url, data={}).status_code == 400  # no CSRF token
    handlers.register("archive", real_archive)
    response = auth.post(job_url, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "已重试, 流程继续运行" in text and "已结束" in text and "出错的服务任务" not in text
    auth.logout()

    auth.login("rm_huabei")
    assert auth.post(job_url).status_code in (403, 409)
