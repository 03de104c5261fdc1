"""A file the task page stored and the person then gave up is removed by the worker's clean-up: its link answers
404 with a message, and the instance's history says which files were removed (label in both languages).

The task page's uploads: tests/web/test_task_page.py (forecast fixture, step 3's file field `basis`).
"""

from __future__ import annotations

import re

from test_task_page import _forecast, _upload
from testkit import ApprovalFlow


def test_a_given_up_upload_is_removed_and_its_link_answers_404(db_app, auth_for, clock):
    flow = ApprovalFlow(db_app)
    instance_id, task_id = _forecast(flow)
    client = db_app.test_client()
    auth = auth_for(client)
    auth.login("bj")
    page = _upload(auth, task_id, data={"f.forecast.1.qty": ""}, name="初稿.pdf")  # back with a problem: kept
    assert page.status_code == 422
    draft_id = int(re.search(r'href="/attachments/(\d+)" class="file-link">初稿.pdf', page.get_data(as_text=True))[1])
    assert _upload(auth, task_id, name="定稿.pdf").status_code == 302  # another file chosen, and submitted
    final_id = flow.tx(lambda s: flow.services.engine.show(s, instance_id))["data"]["basis"]["id"]
    assert {client.get(f"/attachments/{i}").status_code for i in (draft_id, final_id)} == {200}

    clock.advance(days=1, minutes=1)
    removed = flow.tx(lambda s: flow.services.engine.remove_unused_attachments(s))
    assert [u.id for u in removed.unused] == [draft_id]

    gone = client.get(f"/attachments/{draft_id}")
    assert gone.status_code == 404 and f"附件 {draft_id} 已被清理" in gone.get_data(as_text=True)  # said why
    assert client.get(f"/attachments/{final_id}").status_code == 200
    auth.login("admin")
    history = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert re.search(r'<b class="ev-kind">清理无用附件</b> <span class="ev-summary">初稿.pdf</span>', history)
    auth.post("/lang/en")
    assert "<b class=\"ev-kind\">removed unused attachments</b>" in client.get(f"/instances/{instance_id}").get_data(
        as_text=True)
