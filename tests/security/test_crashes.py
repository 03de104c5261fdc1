"""Crashes: `smflow serve` (gunicorn) and `smflow worker` are SIGKILLed at random moments while two people
complete tasks over real HTTP; after recovery the database is compared with what the clients were told.

- every acknowledged (2xx) completion is in the database with the data that was sent: nothing lost;
- no task is completed twice, and every completion in the database was sent by a client: nothing doubled;
- every instance is where a serial run of its completions leads, each approved one archived exactly once
  (the archive step runs in the worker, `camunda:asyncBefore`), and the archive chain is intact.

SMFLOW_CRASH_COMPLETIONS sets how many acknowledged completions to reach (default 60; the issue's run: 500).
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, select, text
from support import FIXTURES, Env, env_int, load_demo, record_figures
from testkit import stop_group

from engine.store import archive_chain
from engine.store.db import make_engine, upgrade
from engine.store.models import ArchiveRecord, Event, HumanTask, Job, ProcessInstance

TARGET = env_int("SMFLOW_CRASH_COMPLETIONS", 60)
SMFLOW = str(Path(sys.executable).parent / "smflow")
PASSWORD = "demo123"
INSTANCES = 12
MIN_KILLS = 3  # of the web tier and of the worker, however fast the completions come


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, base: str, login: str):
        self.base, self.login = base, login
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token = None

    def call(self, method: str, path: str, body=None) -> tuple[int, dict | None]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **({"X-CSRF-Token": self.token} if self.token else {})}
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                payload = error.read()
            try:
                return error.code, json.loads(payload or b"null")
            except ValueError:
                return error.code, None
        except (OSError, urllib.error.URLError, ValueError, http.client.HTTPException):
            return 0, None  # no (whole) answer: the server died (or was restarting) during the request

    def ensure_login(self) -> bool:
        if self.token is not None:
            return True
        status, body = self.call("GET", "/api/csrf")
        if status != 200:
            return False
        self.token = body["csrf_token"]
        status, body = self.call("POST", "/api/login", {"login": self.login, "password": PASSWORD})
        if status != 200:
            self.token = None
            return False
        self.token = body["csrf_token"]
        return True


class Servers:
    """The web tier and the worker as OS process groups that can be SIGKILLed and started again."""

    def __init__(self, url: str, folder: Path):
        self.url, self.folder = url, folder
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SMFLOW_SECRET_KEY": "crash-suite-" + uuid.uuid4().hex}
        self.web = self.worker = None
        self.kills = Counter()

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "ab") as out:  # the child keeps its own copy of the descriptor
            return subprocess.Popen([SMFLOW, "--db", self.url, *args], cwd=self.folder, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start_web(self) -> None:
        self.web = self._spawn("web", "serve", "--no-worker", "--port", str(self.port), "--workers", "2")

    def start_worker(self) -> None:
        self.worker = self._spawn("worker", "worker", "--interval", "0.3", "--lease", "3")

    def wait_web(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if Client(self.base, "x").call("GET", "/api/csrf")[0] == 200:
                return
            if self.web.poll() is not None:
                raise AssertionError((self.folder / "web.log").read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        raise AssertionError("web server did not come up")

    def kill(self, name: str) -> None:
        proc = getattr(self, name)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            self.kills[name] += 1

    def stop(self) -> None:
        for proc in (self.web, self.worker):
            if proc is not None and proc.poll() is None:
                stop_group(proc)


def _async_approval() -> bytes:
    """The approval process with its archive step run by the worker (a job under a lease)."""
    xml = (FIXTURES / "approval.bpmn").read_text(encoding="utf-8")
    xml = xml.replace('<bpmn:serviceTask id="file"', '<bpmn:serviceTask id="file" camunda:asyncBefore="true"')
    return xml.replace('id="approval"', 'id="approval_async"').replace('processRef="approval"',
                                                                      'processRef="approval_async"').encode()


def _client_loop(servers: Servers, login: str, step: str, log: list, stop: threading.Event, rng: random.Random):
    client = Client(servers.base, login)
    n = 0
    while not stop.is_set():
        if not client.ensure_login():
            time.sleep(0.1)
            continue
        status, body = client.call("GET", "/api/tasks")
        if status in (400, 401):
            client.token = None
            continue
        mine = [t for t in (body or {}).get("tasks", []) if status == 200 and t["step"] == step
                and t["process_id"] == "approval_async"]
        if not mine:
            if step == "1" and status == 200:  # every instance approved: start another, so work never runs out
                status, _ = client.call("POST", "/api/instances", {"process_id": "approval_async",
                                                                    "data": {"office": "华北/北京办事处"}})
                log.append({"task_id": None, "token": None, "data": {}, "outcome": f"start {status}"})
            time.sleep(0.05)
            continue
        task = rng.choice(mine)
        n += 1
        token = f"{login}-{n}-{uuid.uuid4().hex[:6]}"
        if step == "1":
            data = {"amount": 2.5, "purpose": token[:50], "lines": [{"item": token, "cost": 2.5}]}
        else:
            data = {"decision": "approve" if rng.random() < 0.25 else "reject", "comment": token}
        status, body = client.call("POST", f"/api/tasks/{task['task_id']}/complete", data)
        outcome = "ack" if 200 <= status < 300 else "unknown" if status in (0, 500, 502, 503) else f"refused {status}"
        if status == 400 and body and "CSRF" in json.dumps(body, ensure_ascii=False).upper():
            client.token = None
        log.append({"task_id": task["task_id"], "token": token, "data": data, "outcome": outcome})


def test_sigkilled_web_and_worker_lose_and_double_nothing(postgres_url, tmp_path, clock):
    name = f"smflow_crash_{uuid.uuid4().hex[:8]}"
    admin_url = postgres_url.rsplit("/", 1)[0] + "/test"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    servers = None
    try:
        database = make_engine(url)
        upgrade(database)
        database.dispose()
        env = Env(url, clock)
        load_demo(env.sessions, env.engine, clock, extra_files=())
        env.tx(lambda s: env.engine.deploy(s, _async_approval(), "approval_async.bpmn", "admin"))
        ids = [env.tx(lambda s: env.engine.start(s, "approval_async", "office_huabei_beijing",
                                                  {"office": "华北/北京办事处"})) for _ in range(INSTANCES)]

        servers = Servers(url, tmp_path)
        servers.start_web()
        servers.start_worker()
        servers.wait_web()
        rng = random.Random(7)
        log: list[dict] = []
        stop = threading.Event()
        clients = [threading.Thread(target=_client_loop, args=(servers, login, step, log, stop, random.Random(k)))
                   for k, (login, step) in enumerate([("office_huabei_beijing", "1"), ("rm_huabei", "2")])]
        for thread in clients:
            thread.start()
        deadline = time.monotonic() + max(600, TARGET * 3)
        try:
            while (sum(e["outcome"] == "ack" for e in log) < TARGET or servers.kills["web"] < MIN_KILLS
                   or servers.kills["worker"] < MIN_KILLS) and time.monotonic() < deadline \
                    and all(thread.is_alive() for thread in clients):  # a dead client fails the test (its error)
                time.sleep(rng.uniform(1.0, 3.0))
                victims = [v for v in ("web", "worker") if rng.random() < {"web": 0.7, "worker": 0.5}[v]]
                for victim in victims:
                    servers.kill(victim)
                if "worker" in victims:
                    servers.start_worker()
                if "web" in victims:
                    servers.start_web()
                    servers.wait_web()
        finally:
            stop.set()
            for thread in clients:
                thread.join(timeout=60)
        if servers.web.poll() is not None:
            servers.start_web()
        if servers.worker.poll() is not None:
            servers.start_worker()
        # Recovery: the worker takes over the jobs whose lease a killed worker held, and drains them.
        drained_by = time.monotonic() + 120
        while time.monotonic() < drained_by:
            with env.sessions() as s:
                waiting = s.scalar(select(Job.id).where(Job.status.in_(("pending", "running"))).limit(1))
            if waiting is None:
                break
            time.sleep(0.5)
        servers.stop()

        with env.sessions() as s:  # the instances started during the run count too
            ids = list(s.scalars(select(ProcessInstance.id).where(ProcessInstance.process_id == "approval_async")))
        acked = [e for e in log if e["outcome"] == "ack"]
        unknown = [e for e in log if e["outcome"] == "unknown"]
        assert len(acked) >= TARGET and min(servers.kills["web"], servers.kills["worker"]) >= MIN_KILLS
        with env.sessions() as s:
            completed = list(s.scalars(select(Event).where(Event.kind == "completed", Event.instance_id.in_(ids))
                                       .order_by(Event.id)))
            rows = {t.id: t for t in s.scalars(select(HumanTask).where(HumanTask.instance_id.in_(ids)))}
            instances = {i.id: i for i in s.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids)))}
            archived = Counter(r.instance_id for r in s.scalars(select(ArchiveRecord)))
            stuck = s.scalar(select(Job.id).where(Job.status != "done").limit(1))
        token_of = {e.task_id: (e.detail["data"].get("purpose") or e.detail["data"].get("comment"))
                    for e in completed}
        per_task = Counter(e.task_id for e in completed)
        lost = [e for e in acked if token_of.get(e["task_id"]) != e["data"].get("purpose", e["data"].get("comment"))]
        doubled = [t for t, n in per_task.items() if n > 1]
        sent = {e["data"].get("purpose", e["data"].get("comment")) for e in acked + unknown}
        phantom = [e.task_id for e in completed if token_of[e.task_id] not in sent]
        assert (lost, doubled, phantom) == ([], [], [])
        assert stuck is None

        problems = []
        data_of = {e.task_id: e.detail["data"] for e in completed}
        for iid, instance in instances.items():
            done = [rows[e.task_id] for e in completed if e.instance_id == iid]
            steps = [r.element_id for r in done]
            decisions = [data_of[r.id]["decision"] for r in done if r.element_id == "review"]
            approved = bool(decisions) and decisions[-1] == "approve"
            active = sorted(r.element_id for r in rows.values() if r.instance_id == iid
                            and r.state in ("open", "claimed"))
            if steps != ["request", "review"] * (len(steps) // 2) + ["request"] * (len(steps) % 2) \
                    or "approve" in decisions[:-1]:
                problems.append(f"{iid}: steps {steps} decisions {decisions}")
            expected_active = [] if approved else (["review"] if len(steps) % 2 else ["request"])
            if active != expected_active or (instance.status == "completed") != approved \
                    or archived[iid] != int(approved):
                problems.append(f"{iid}: active {active} status {instance.status} archived {archived[iid]}")
        assert problems == []
        chain = env.tx(archive_chain.verify)
        assert chain.ok and chain.records == sum(archived.values())
        record_figures("crashes", {
            "completions_acknowledged": len(acked), "completions_unanswered": len(unknown),
            "completions_in_database": len(completed), "web_kills": servers.kills["web"],
            "worker_kills": servers.kills["worker"], "instances_approved_and_archived": sum(archived.values()),
            "instances": len(ids),
            "lost": len(lost), "doubled": len(doubled), "phantom": len(phantom)})
        env.db.dispose()
    finally:
        if servers is not None:
            servers.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

