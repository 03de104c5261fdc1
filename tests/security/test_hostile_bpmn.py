"""The hostile BPMN corpus through every way in: the engine API, the `smflow` command and HTTP uploads
(a real server), then hostile code at run time (each way in its own capped OS process).

Counted: inputs tried, crashes (an exception other than SmflowError, HTTP 500, a traceback, a CLI exit
code other than 0/2), escapes (the sentinel file appears, or hostile code runs to completion), and
stored rows for refused input. All three must stay 0.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from click.testing import CliRunner
from hostile_corpus import EXPRESSIONS, SCRIPTS, files
from sqlalchemy import func, select
from support import record_figures

from engine.errors import SmflowError, ValidationFailed
from engine.store.models import BpmnFile, ProcessDefinition, ProcessInstance
from engine.store.unit_of_work import in_transaction
from web.cli import main

HERE = Path(__file__).parent
LONG = bool(os.environ.get("SMFLOW_SECURITY_LONG"))


def _counts(app) -> tuple[int, int, int]:
    with app.extensions["smflow"].sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (BpmnFile, ProcessDefinition,
                                                                            ProcessInstance))


class Http:
    """urllib with a cookie jar, logged in through the JSON API."""

    def __init__(self, base: str, login: str = "admin", password: str = "demo123"):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        token = self.call("GET", "/api/csrf")[1]
        self.token = json.loads(token)["csrf_token"]
        status, body = self.call("POST", "/api/login", json.dumps({"login": login, "password": password}).encode(),
                                 {"Content-Type": "application/json"})
        assert status == 200, body
        self.token = json.loads(body)["csrf_token"]

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.base + path, data=body, method=method, headers={
            **({"X-CSRF-Token": self.token} if hasattr(self, "token") else {}), **(headers or {})})
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode("utf-8", "replace")
        except (ConnectionResetError, BrokenPipeError, urllib.error.URLError) as error:
            # The server refused a 50 MiB body after its headers (413) and closed before reading it.
            return 0, f"connection closed: {error}"

    def multipart(self, path: str, data: bytes, with_form_token: bool) -> tuple[int, str]:
        boundary = uuid.uuid4().hex
        parts = []
        if with_form_token:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{self.token}\r\n'
                         .encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="hostile.bpmn"\r\n'
                     f"Content-Type: application/xml\r\n\r\n".encode() + data + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return self.call("POST", path, b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def _http_ways(client: Http, data: bytes) -> dict[str, tuple[int, str]]:
    raw = {"Content-Type": "application/xml"}
    return {
        "api_raw": client.call("POST", "/api/processes?filename=hostile.bpmn", data, raw),
        "api_multipart": client.multipart("/api/processes", data, with_form_token=False),
        "upload_form": client.multipart("/processes/deploy", data, with_form_token=True),
        "modeler_validate": client.call("POST", "/processes/validate", data, raw),
        "modeler_deploy": client.call("POST", "/processes/deploy-xml?filename=hostile.bpmn", data, raw),
    }


def test_hostile_files_are_refused_through_every_way_in(demo_app, live, tmp_path):
    services = demo_app.extensions["smflow"]
    client = Http(live)
    runner = CliRunner()
    url = services.sessions.kw["bind"].url.render_as_string(hide_password=False)
    tried = crashes = 0
    failures = []
    before = _counts(demo_app)
    for name, data in files().items():
        # engine API: only a ValidationFailed, naming what is wrong
        tried += 1
        try:
            in_transaction(services.sessions, lambda s, data=data: services.engine.deploy(s, data, "h.bpmn", "admin"))
            failures.append(f"{name}: deployed through the engine")
        except ValidationFailed as exc:
            assert exc.message
        except Exception as exc:  # noqa: BLE001 - counted and reported
            crashes += 1
            failures.append(f"{name}: engine raised {type(exc).__name__}: {exc}")
        # the smflow command: exit code 2 and one line, never a traceback
        tried += 1
        path = tmp_path / f"{name}.bpmn"
        path.write_bytes(data)
        result = runner.invoke(main, ["--db", url, "deploy", str(path), "--as", "admin"])
        if result.exit_code != 2 or "Traceback" in result.output or not isinstance(result.exception, SystemExit):
            crashes += result.exit_code not in (0, 2)
            failures.append(f"{name}: cli exit {result.exit_code}: {result.output[-300:]} {result.exception!r}")
        path.unlink()
        # HTTP: every upload endpoint answers below 500, without a traceback, and deploys nothing
        for way, (status, body) in _http_ways(client, data).items():
            tried += 1
            if status >= 500 or "Traceback" in body:
                crashes += 1
                failures.append(f"{name} via {way}: HTTP {status} {body[:200]}")
            elif status in (200, 201) and '"ok": true' in body.replace('"ok":true', '"ok": true'):
                failures.append(f"{name} via {way}: accepted: {body[:200]}")
    stored = sum(a - b for a, b in zip(_counts(demo_app), before, strict=True))
    record_figures("hostile_files", {"inputs_tried": tried, "crashes": crashes, "stored": stored})
    assert failures == [] and crashes == 0, "\n".join(failures)
    assert stored == 0


def _run(way: str, tmp_path: Path, sentinel: Path, time_limit: str) -> subprocess.Popen:
    out = tmp_path / f"{way}.json"
    return subprocess.Popen(
        [sys.executable, str(HERE / "sandbox_runner.py"), way, f"sqlite:///{tmp_path / (way + '.db')}",
         str(sentinel), time_limit, str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]),
             "SMFLOW_RUNNER_SUBSET": "" if LONG else "1"},
    )


def test_hostile_code_is_contained_through_every_way_in(tmp_path):
    sentinel = tmp_path / "ESCAPED"
    time_limit = "1.0" if LONG else "0.25"  # the production budget in the long run
    runs = {way: _run(way, tmp_path, sentinel, time_limit) for way in ("engine", "http", "cli")}
    outputs = {way: proc.communicate(timeout=900)[0].decode("utf-8", "replace") for way, proc in runs.items()}
    tried = crashes = escapes = stored = 0
    problems = []
    for way, proc in runs.items():
        assert proc.returncode == 0, f"{way} runner died: {outputs[way][-3000:]}"
        report = json.loads((tmp_path / f"{way}.json").read_text(encoding="utf-8"))
        crashes += len(report["crashes"])
        problems += [f"{way}: {c['input']}: {c['traceback']}" for c in report["crashes"]]
        escapes += report["sentinel_exists"]
        harmless = report["results"].pop("harmless")
        assert harmless["start"] == "started", f"{way}: the harmless frame itself fails: {harmless}"
        for name, outcome in report["results"].items():
            tried += 1
            if outcome["deploy"] == "refused":
                stored += sum(outcome["stored"].values())
            elif outcome.get("start") == "refused":
                stored += outcome["stored"]["instances"]
            elif name.startswith("param:") and outcome.get("status") in ("running", None):
                pass  # the process ran up to the service task, whose parameters failed: it waits for an admin
            else:
                escapes += 1
                problems.append(f"{way}: {name} ran: {outcome}")
    record_figures("hostile_code", {"inputs_tried": tried, "crashes": crashes, "escapes": escapes,
                                    "stored": stored, "payloads": len(SCRIPTS) + 4 * len(EXPRESSIONS)})
    assert problems == []
    assert (crashes, escapes, stored) == (0, 0, 0)
    assert not sentinel.exists()


def test_smflow_errors_are_the_only_errors_the_sandbox_corpus_raises_in_process():
    """A quick in-process pass over the cheap payloads (the heavy ones run in the capped runners)."""
    from engine.sandbox import Sandbox

    sandbox = Sandbox(time_limit=0.2)
    cheap = [s for n, s in SCRIPTS.items() if not any(w in n for w in (
        "bomb", "copies", "growth", "megabytes", "infinite", "nested_for", "caught", "loop", "doubling"))]
    for script in cheap:
        try:
            sandbox.execute(script.format(sentinel="/nonexistent/x"), {"x": 1})
        except (SmflowError, NameError, AttributeError, NotImplementedError, TypeError, ValueError, KeyError,
                RecursionError, ZeroDivisionError, SyntaxError):
            continue
        raise AssertionError(f"ran without an error: {script}")
