"""事故: a service task that gave up shows on its instance page and in the administrators' list, and an
administrator retries it there after fixing the cause."""

from __future__ import annotations

import re
from pathlib import Path

from engine import HandlerFailed

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()


def test_an_incident_is_listed_for_administrators_and_retried_after_a_fix(site_factory):
    site = site_factory({"bj": [("办事处", "华北/北京办事处")], "rm": [("大区经理", "华北")],
                         "admin": [("admin", "*")]})
    handlers = site.engine.handlers
    real_archive = handlers.get("archive")

    def archive_down(ctx, **params):
        raise HandlerFailed("档案库维护中", retryable=False)

    handlers.register("archive", archive_down)
    site.tx(lambda s: site.engine.deploy(s, APPROVAL, "approval.bpmn", "admin"))
    instance_id = site.tx(lambda s: site.engine.start(s, "approval", "bj", {"office": "华北/北京办事处"}))
    (task,) = site.tx(lambda s: site.engine.inbox(s, "bj"))
    site.tx(lambda s: site.engine.complete(s, task.id, "bj", {"amount": 1, "purpose": "会议"}))
    (review,) = site.tx(lambda s: site.engine.inbox(s, "rm"))
    site.tx(lambda s: site.engine.complete(s, review.id, "rm", {"decision": "approve"}))

    rm, admin = site.client("rm"), site.client("admin")
    assert rm.get("/incidents/").status_code == 403
    assert "/incidents/" not in rm.get("/").get_data(as_text=True)  # not in a non-administrator's menu
    instance_page = rm.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "转为事故" in instance_page and "档案库维护中" in instance_page

    listing = admin.get("/incidents/").get_data(as_text=True)
    assert 'href="/incidents/"' in admin.get("/").get_data(as_text=True)
    assert f'href="/instances/{instance_id}"' in listing and "档案库维护中" in listing and "archive" in listing
    retry_url = re.search(r'action="(/incidents/\d+/retry)"', listing).group(1)
    still = site.post(admin, retry_url).get_data(as_text=True)  # not fixed yet: it fails again
    assert "重试仍然失败" in still and "档案库维护中" in still

    handlers.register("archive", real_archive)
    done = site.post(admin, retry_url).get_data(as_text=True)
    assert "已重试, 流程继续运行" in done and "没有事故" in done
    assert site.tx(lambda s: site.engine.show(s, instance_id))["status"] == "completed"
