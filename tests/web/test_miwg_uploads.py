"""The BPMN MIWG reference files (../shared/conformance/miwg-reference/): each can be uploaded; it either
deploys (and downloads byte-identical) or is refused with every problem at an element of the file."""

from __future__ import annotations

import io
import re
from pathlib import Path

MIWG = Path("/work/shared/conformance/miwg-reference")
FLASH = re.compile(r">([^<\s]+) 第 (\d+) 版: 已部署")


def upload(client, auth, path: Path) -> str:
    """'deployed' or 'refused', after checking what the answer shows for it."""
    data = path.read_bytes()
    response = auth.post("/processes/deploy", {"file": (io.BytesIO(data), path.name)},
                         content_type="multipart/form-data")
    if response.status_code == 302:
        deployed = FLASH.findall(client.get("/processes/").get_data(as_text=True))
        assert deployed, path.name
        for process_id, version in deployed:
            download = client.get(f"/processes/{process_id}/{version}/download")
            assert download.status_code == 200 and download.data == data, path.name
            assert client.get(f"/processes/{process_id}/{version}/diagram").status_code == 200
        return "deployed"
    assert response.status_code == 422, path.name
    text = response.get_data(as_text=True)
    assert f"文件「{path.name}」未部署" in text
    shown = re.findall(r'<td data-label="元素" class="mono">([^<]*)</td>', text)
    assert shown and all(shown), f"{path.name}: every problem names its element"
    assert {s.encode() for s in shown} <= set(re.findall(rb'\bid="([^"]+)"', data)), path.name
    assert 'id="refused-diagram"' in text  # and the file is drawn with them marked
    return "refused"


def test_each_reference_file_deploys_or_shows_its_element_errors(client, auth):
    files = sorted(MIWG.glob("*.bpmn"))
    assert len(files) == 21
    auth.login("admin")
    outcomes = {path.name: upload(client, auth, path) for path in files}
    assert sorted(n for n, o in outcomes.items() if o == "deployed") == [
        "A.1.0.bpmn", "A.2.0.bpmn", "A.2.1.bpmn", "A.3.0.bpmn", "A.4.0.bpmn", "A.4.1.bpmn", "B.1.0.bpmn",
        "B.2.0.bpmn", "C.2.0.bpmn", "C.8.0.bpmn"]
