"""Every MIWG reference file, uploaded through the browser: a deployed one is drawn on its diagram page, a
refused one is drawn under its problem list with the problems marked at their elements. None fails to import."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

MIWG = Path("/work/shared/conformance/miwg-reference")
ARTIFACTS = Path(__file__).parent / "artifacts"


def test_each_reference_file_uploads_and_renders_in_the_viewer(page, live, login):
    files = sorted(MIWG.glob("*.bpmn"))
    assert len(files) == 21
    login(page, "admin")
    outcomes = {}
    for path in files:
        page.goto(live.url + "/processes/")
        page.set_input_files("#upload input[type=file]", str(path))
        page.click("#upload button.primary")
        page.wait_for_load_state()
        refused = page.locator("#refused-diagram")
        if refused.count():
            expect(refused).to_have_attribute("data-state", "ready", timeout=15_000)
            assert int(refused.get_attribute("data-marked")) >= 1, path.name
            assert page.locator("#refused-diagram .smflow-problem").count() >= 1, path.name
            outcomes[path.name] = "refused"
            if path.name == "C.9.1.bpmn":
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "40_miwg_refused_with_markers.png"), full_page=True)
            continue
        deployed = re.findall(r"(\S+) 第 (\d+) 版: 已部署", page.locator(".alert.success").all_inner_texts()[0])
        assert deployed, path.name
        for process_id, version in deployed:
            page.goto(f"{live.url}/processes/{process_id}/{version}/diagram")
            expect(page.locator("#diagram")).to_have_attribute("data-state", re.compile("ready|no-diagram"),
                                                              timeout=15_000)
            assert page.locator("#diagram").get_attribute("data-state") == "ready" or len(deployed) > 1, path.name
        outcomes[path.name] = "deployed"
    assert set(outcomes.values()) == {"deployed", "refused"} and len(outcomes) == 21
