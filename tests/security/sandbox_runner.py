"""Runs the hostile processes through one way in (engine API, HTTP API or CLI), in its own OS process.

`python sandbox_runner.py PATH DB_URL SENTINEL TIME_LIMIT OUT.json` — PATH is engine, http or cli.
The process caps its own address space first: should a guard ever fail, the attack ends in a
MemoryError here instead of taking the machine (and the test run) down. Every input is deployed,
started and, when it waits at its user task, completed by an administrator; the outcome of each step
is recorded, and anything but a SmflowError (engine), an HTTP status below 500 without a traceback
(http) or exit code 0/2 without a traceback (cli) counts as a crash.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback
from datetime import datetime
from pathlib import Path

resource.setrlimit(resource.RLIMIT_AS, (6 * 1024**3, 6 * 1024**3))
sys.path.insert(0, str(Path(__file__).parent))

from click.testing import CliRunner  # noqa: E402
from hostile_corpus import harmless_process, hostile_processes  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from support import Session, make_demo_app  # noqa: E402

from engine import Engine, FixedClock, Sandbox  # noqa: E402
from engine.clock import COMPANY_TZ  # noqa: E402
from engine.errors import SmflowError  # noqa: E402
from engine.store import tasks  # noqa: E402
from engine.store.models import BpmnFile, ProcessDefinition, ProcessInstance  # noqa: E402
from engine.store.unit_of_work import in_transaction  # noqa: E402
from handlers import default_registry  # noqa: E402


def counts(sessions) -> dict:
    with sessions() as s:
        return {name: s.scalar(select(func.count()).select_from(model)) for name, model in
                (("files", BpmnFile), ("definitions", ProcessDefinition), ("instances", ProcessInstance))}


def _status(sessions, process_id: str) -> str | None:
    with sessions() as s:
        return s.scalars(select(ProcessInstance.status).where(ProcessInstance.process_id == process_id)).first()


def _open_task(sessions, process_id: str) -> int | None:
    with sessions() as s:
        instance = s.scalars(select(ProcessInstance).where(ProcessInstance.process_id == process_id)).first()
        active = tasks.active_for_instance(s, instance.id) if instance else []
        return active[0].id if active else None


def via_engine(app, name: str, data: bytes) -> dict:
    services = app.extensions["smflow"]
    engine, sessions = services.engine, services.sessions
    outcome = {}
    try:
        results = in_transaction(sessions, lambda s: engine.deploy(s, data, f"{name}.bpmn", "admin"))
    except SmflowError as exc:
        return {"deploy": "refused", "message": exc.message}
    outcome["deploy"] = "deployed"
    process_id = results[0].process_id
    try:
        in_transaction(sessions, lambda s: engine.start(s, process_id, "admin"))
        outcome["start"] = "started"
    except SmflowError as exc:
        return {**outcome, "start": "refused", "message": exc.message}
    task_id = _open_task(sessions, process_id)
    if task_id is not None:
        try:
            in_transaction(sessions, lambda s: engine.complete(s, task_id, "admin", {}))
            outcome["complete"] = "completed"
        except SmflowError as exc:
            outcome.update(complete="refused", message=exc.message)
    outcome["status"] = _status(sessions, process_id)
    return outcome


def via_http(app, name: str, data: bytes, admin: Session) -> dict:
    outcome = {}

    def check(response, step: str):
        body = response.get_data(as_text=True)
        if response.status_code >= 500 or "Traceback" in body:
            raise AssertionError(f"{step}: HTTP {response.status_code}: {body[:300]}")
        return response

    r = check(admin.client.post(f"/api/processes?filename={name}.bpmn", data=data,
                                headers={"X-CSRF-Token": admin.token(), "Content-Type": "application/xml"}), "deploy")
    if r.status_code != 201:
        return {"deploy": "refused", "status": r.status_code}
    outcome["deploy"] = "deployed"
    process_id = r.get_json()["deployed"][0]["process_id"]
    r = check(admin.api("/api/instances", {"process_id": process_id}), "start")
    if r.status_code != 201:
        return {**outcome, "start": "refused", "status": r.status_code}
    outcome["start"] = "started"
    task_id = _open_task(app.extensions["smflow"].sessions, process_id)
    if task_id is not None:
        r = check(admin.api(f"/api/tasks/{task_id}/complete", {}), "complete")
        outcome["complete"] = "completed" if r.status_code == 200 else "refused"
    outcome["status"] = _status(app.extensions["smflow"].sessions, process_id)
    return outcome


def via_cli(url: str, name: str, data: bytes, folder: Path) -> dict:
    from web.cli import main

    path = folder / f"{name.replace(':', '_')}.bpmn"
    path.write_bytes(data)
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(main, ["--db", url, "--json", *args])
        text = result.output + (result.stderr if result.stderr_bytes is not None else "")
        if result.exit_code not in (0, 2) or "Traceback" in text or (
                result.exception is not None and not isinstance(result.exception, SystemExit)):
            raise AssertionError(f"{args[0]}: exit {result.exit_code}: {text[:300]} {result.exception!r}")
        return result

    r = run("deploy", str(path), "--as", "admin")
    if r.exit_code:
        return {"deploy": "refused"}
    process_id = json.loads(r.stdout)[0]["process_id"]
    r = run("start", process_id, "--as", "admin")
    if r.exit_code:
        return {"deploy": "deployed", "start": "refused"}
    return {"deploy": "deployed", "start": "started"}


def main() -> None:
    path, url, sentinel, time_limit, out = sys.argv[1:6]
    clock = FixedClock(datetime(2027, 4, 2, 9, 0, tzinfo=COMPANY_TZ))
    app = make_demo_app(url, clock)
    services = app.extensions["smflow"]
    services.engine = Engine(default_registry(), Sandbox(float(time_limit)), clock)
    admin = Session(app, "admin")
    folder = Path(out).parent / f"cli_{Path(out).stem}"
    folder.mkdir(exist_ok=True)
    inputs = {"harmless": harmless_process(), **hostile_processes(sentinel)}
    if path == "cli" and os.environ.get("SMFLOW_RUNNER_SUBSET"):  # each command is a fresh start: a third in CI
        inputs = {k: v for n, (k, v) in enumerate(inputs.items()) if n % 3 == 0}
    results, crashes = {}, []
    for name, data in inputs.items():
        before = counts(services.sessions)
        try:
            if path == "engine":
                outcome = via_engine(app, name, data)
            elif path == "http":
                outcome = via_http(app, name, data, admin)
            else:
                outcome = via_cli(url, name, data, folder)
        except Exception:  # noqa: BLE001 - a crash is what this runner counts
            crashes.append({"input": name, "traceback": traceback.format_exc()[-2000:]})
            continue
        after = counts(services.sessions)
        outcome["stored"] = {k: after[k] - before[k] for k in after}
        results[name] = outcome
    Path(out).write_text(json.dumps({"results": results, "crashes": crashes,
                                     "sentinel_exists": Path(sentinel).exists()}, ensure_ascii=False))


if __name__ == "__main__":
    main()
