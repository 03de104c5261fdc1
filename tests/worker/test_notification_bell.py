"""The bell: a missed deadline's notification shows as unread for each person it reaches, until they read it."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from engine.clock import COMPANY_TZ

DEADLINE = (Path(__file__).parents[1] / "fixtures" / "deadline.bpmn").read_bytes()
BELL = re.compile(r'<span class="bell-count">(\d+)</span>')


def bell(client) -> int:
    found = BELL.search(client.get("/").get_data(as_text=True))
    return int(found.group(1)) if found else 0


def test_the_bell_counts_unread_notifications_per_person(site_factory):
    site = site_factory({"planner": [("计划部", "*")], "deputy": [("计划部", "*")], "rm": [("大区经理", "华北")]})
    site.tx(lambda s: site.engine.deploy(s, DEADLINE, "deadline.bpmn", None))
    (instance_id,) = site.tx(lambda s: site.engine.start_scheduled(s))
    planner, deputy, rm = site.client("planner"), site.client("deputy"), site.client("rm")
    assert bell(planner) == 0

    site.clock.set(datetime(2027, 4, 10, 18, 1, tzinfo=COMPANY_TZ))
    assert site.tx(lambda s: site.engine.fire_timers(s, instance_id))
    assert (bell(planner), bell(deputy), bell(rm)) == (1, 1, 0)
    page = planner.get("/notifications/").get_data(as_text=True)
    assert "预测未在10日前整合" in page and f'href="/instances/{instance_id}"' in page and "未读" in page

    assert "已标为已读 1 条" in site.post(planner, "/notifications/read").get_data(as_text=True)
    assert (bell(planner), bell(deputy)) == (0, 1)  # read state is per person
    assert "未读" not in planner.get("/notifications/").get_data(as_text=True).split("<h1>")[1]
    assert site.post(planner, "/notifications/read").status_code == 200  # nothing left: no error
    assert planner.post("/notifications/read").status_code == 400  # no CSRF token
