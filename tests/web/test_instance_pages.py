"""流程实例: who may see an instance, and what its page shows."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path


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
    assert json.loads(diagram.group(3)) == ["request", "start"]
    flows = json.loads(re.search(r"data-flows='([^']*)'", text).group(1))
    assert flows == [["start", "request"], ["request", "review"]]
    assert "build/bpmn-js/bpmn-navigated-viewer.production.min.js" in text


def test_gateway_and_service_task_are_in_the_audit_and_marked_done(client, auth, flow):
    instance_id, review_id = flow.request_done()
    flow.complete(review_id, "rm_huabei", {"decision": "approve"})
    auth.login("rm_huabei")
    text = html.unescape(client.get(f"/instances/{instance_id}").get_data(as_text=True))
    assert "已结束" in text
    assert "网关决策" in text and "是否批准? → 3 费用备案" in text
    assert "服务任务" in text and "3 费用备案 (archive)" in text
    done = json.loads(re.search(r"data-done='([^']*)'", text).group(1))
    assert {"request", "review", "decide", "file"} <= set(done)


def test_people_unrelated_to_an_instance_get_404_like_a_missing_id(client, auth, flow):
    instance_id, _ = flow.request_done()
    auth.login("rm_huadong")
    response = client.get(f"/instances/{instance_id}")
    assert response.status_code == 404
    assert f"没有编号为 {instance_id} 的流程实例" in response.get_data(as_text=True)
    assert client.get("/instances/999").status_code == 404
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


FORECAST = (Path(__file__).parents[1] / "fixtures" / "forecast_review.bpmn").read_bytes()
ROWS = [{"product": "心脑血管", "qty": 120, "amount": 36.5}, {"product": "<b>抗感染</b>", "qty": 80, "amount": 12}]


def _forecast_story(flow, approve: bool = True) -> int:
    """Office fills, the manager rejects with a comment, the office fills again, the manager (maybe) approves."""
    engine = flow.services.engine
    flow.tx(lambda s: engine.deploy(s, FORECAST, "forecast_review.bpmn", "admin"))
    instance_id = flow.tx(lambda s: engine.start(s, "forecast_review", "bj", {"office": "华北/北京办事处",
                                                                            "target": 50.0}, None, "2027-04 预测"))
    flow.complete(flow.open_task(instance_id), "bj", {"forecast": ROWS, "note": "初稿"})
    flow.complete(flow.open_task(instance_id), "rm_huabei", {"decision": "reject", "comment": "<i>偏低</i>"})
    flow.complete(flow.open_task(instance_id), "bj", {"forecast": ROWS, "note": "已调整"})
    if approve:
        flow.complete(flow.open_task(instance_id), "rm_huabei", {"decision": "approve"})
    return instance_id


def test_the_diagram_gets_the_path_taken_with_the_loop_and_a_legend(client, auth, flow):
    instance_id = _forecast_story(flow)
    auth.login("rm_huabei")
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    flows = json.loads(html.unescape(re.search(r"data-flows='([^']*)'", text).group(1)))
    assert flows == [["start", "fill"], ["fill", "review"], ["review", "decide"], ["decide", "fill"],
                     ["decide", "file"], ["file", "end"]]
    assert json.loads(re.search(r"data-active='([^']*)'", text).group(1)) == []
    assert {"start", "fill", "review", "decide", "file", "end"} <= set(json.loads(re.search(
        r"data-done='([^']*)'", text).group(1)))
    for legend in ("已完成的步骤", "当前步骤", "已走过的路径"):
        assert legend in text


def test_current_steps_show_who_holds_them_on_the_page_and_in_the_diagram(client, auth, flow):
    instance_id = _forecast_story(flow, approve=False)
    review = flow.open_task(instance_id)
    auth.login("bj")
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    current = text.split('class="current-tasks"')[1].split("</section>")[0]
    assert "4 初审区内销售预测" in current and "等待认领" in current
    holders = json.loads(html.unescape(re.search(r"data-holders='([^']*)'", text).group(1)))
    assert holders == {"review": "华北: 等待「大区经理」认领"}
    flow.tx(lambda s: flow.services.engine.claim(s, review, "rm_huabei"))
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "罗平 (rm_huabei) 处理中" in text.split('class="current-tasks"')[1].split("</section>")[0]
    assert json.loads(html.unescape(re.search(r"data-holders='([^']*)'", text).group(1))) == {
        "review": "华北: 罗平 (rm_huabei)"}


def test_the_timeline_shows_submitted_values_readably_and_escaped(client, auth, flow):
    instance_id = _forecast_story(flow)
    auth.login("bj")
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    timeline = text.split('class="timeline"')[1].split("</ol>")[0]
    assert timeline.count('class="ev ev-completed"') == 4
    assert "3 制定本地区本渠道销售预测" in timeline and "宋晓东 (bj)" in timeline and "罗平 (rm_huabei)" in timeline
    assert "<th>数量(箱)</th>" in timeline and "<td>心脑血管</td>" in timeline
    assert '<output class="total" data-col="qty">200</output>' in timeline   # the totals row
    assert "不通过, 退回修改" in timeline and "审核结论" in timeline          # choices by name, with the label
    assert "&lt;i&gt;偏低&lt;/i&gt;" in timeline and "<i>偏低</i>" not in text   # escaped, never markup
    assert "&lt;b&gt;抗感染&lt;/b&gt;" in timeline and "<b>抗感染</b>" not in text
    assert '"forecast"' not in timeline                                       # not raw JSON
    assert "审核通过? → 3 制定本地区本渠道销售预测" in html.unescape(timeline)


def test_archive_records_are_listed_with_their_content(client, auth, flow):
    instance_id = _forecast_story(flow)
    auth.login("rm_huabei")
    text = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    archive = text.split('class="archive"')[1].split("</section>")[0]
    assert "销售预测 华北/北京办事处" in archive and "步骤 5" in archive
    assert "<th>金额(万元)</th>" in archive and '<td class="num">36.5</td>' in archive
    assert "&lt;b&gt;抗感染&lt;/b&gt;" in archive and '<output class="total" data-col="qty">200</output>' in archive
    assert re.search(r"SHA-256 [0-9a-f]{64}", archive)


def test_an_instance_of_another_region_is_404_for_its_page_and_its_tasks(client, auth, flow):
    instance_id = _forecast_story(flow, approve=False)
    review = flow.open_task(instance_id)
    auth.login("rm_huadong")
    assert client.get(f"/instances/{instance_id}").status_code == 404
    assert client.get(f"/tasks/{review}").status_code == 404
    auth.logout()
    auth.login("admin")
    assert client.get(f"/instances/{instance_id}").status_code == 200
