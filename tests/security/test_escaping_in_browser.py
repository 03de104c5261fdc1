"""HTML in names and data, seen in a real browser: the diagram's holder notes, the timeline, the task and
inbox pages draw it as text. Checked in the DOM (no element made from the payload), not only through
the Content-Security-Policy, which would merely stop an injected script from running."""

from __future__ import annotations

import pytest

from engine.store import tasks
from engine.store.models import User
from engine.store.unit_of_work import in_transaction

PAYLOAD = '<img src="x" class="injected" onerror="window.__xss=1"><script>window.__xss=2</script>'


@pytest.fixture
def page(browser):
    tab = browser.new_page()
    yield tab
    tab.close()


def test_html_in_names_and_data_is_text_in_the_browser(demo_app, live, page):
    services = demo_app.extensions["smflow"]

    def tx(work):
        return in_transaction(services.sessions, work)

    # SM1_1 has a diagram (the approval fixture has none); its first step belongs to the vp.
    tx(lambda s: setattr(s.get(User, "vp"), "name", "王 " + PAYLOAD))
    iid = tx(lambda s: services.engine.start(s, "SM1_1", "vp", None, None, "键 " + PAYLOAD))
    task_id = tx(lambda s: tasks.active_for_instance(s, iid)[0].id)
    tx(lambda s: services.engine.claim(s, task_id, "vp"))
    tx(lambda s: services.engine.save_draft(s, task_id, "vp", {"schedule": PAYLOAD, "requirements": PAYLOAD}))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live}/auth/login")
    page.fill("input[name=login]", "vp")
    page.fill("input[name=password]", "demo123")
    page.press("input[name=password]", "Enter")
    page.wait_for_url(f"{live}/")
    page.goto(f"{live}/instances/{iid}")
    page.wait_for_selector("#diagram[data-state=ready]", timeout=30_000)
    holder = page.text_content(".smflow-holder")
    assert PAYLOAD in holder  # the diagram's note under the current step shows the name as text
    for url in (f"/instances/{iid}", f"/tasks/{task_id}", "/", "/instances/", "/history/"):
        page.goto(live + url)
        page.wait_for_load_state("load")
        assert page.locator("img.injected").count() == 0, url
        assert page.evaluate("window.__xss") is None, url
        assert PAYLOAD[:20] in page.text_content("body"), url
    assert dialogs == []
