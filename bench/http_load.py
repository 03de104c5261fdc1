"""Part 3, HTTP: complete-task and inbox requests with 1, 8 and 32 concurrent clients, gunicorn + PostgreSQL.

The server is `smflow serve` (gunicorn with its default processes and threads, keep-alive: what an operator
runs) on a scratch PostgreSQL database. Each
client is a thread with its own user and session (login through the JSON API, CSRF header), working
through the open tasks of its own instances of a 20-step process (each user's tasks are in its own
scope, so an inbox holds that user's ~40 open tasks). Complete = `POST /api/tasks/<id>/complete`;
inbox = `GET /api/tasks`. Latency is measured by the client, from sending to the whole response read.
The clients share the 2 cores with the server and the database, as they would on one small machine.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path

from sqlalchemy import select

from .common import ROOT, database, migrated, percentile, progress
from .processes import LANE, sequential

PASSWORD = "bench-password"
INSTANCES_PER_USER = 40


def smflow_command() -> list[str]:
    script = Path(sys.executable).with_name("smflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "web.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One user's keep-alive connection with its session cookie and CSRF token."""

    def __init__(self, port: int, login: str):
        self.port, self.login = port, login
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/json"
        if method == "POST":
            headers["X-CSRF-Token"] = self.token
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # the server closed a kept-alive connection: once more on a new one
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        payload = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        if response.headers.get("Connection", "").lower() == "close":
            self.conn.close()
        return response.status, payload

    def sign_in(self) -> None:
        status, payload = self.request("GET", "/api/csrf")
        self.token = json.loads(payload)["csrf_token"]
        status, payload = self.request("POST", "/api/login", {"login": self.login, "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"login {self.login}: HTTP {status} {payload[:200]!r}")
        self.token = json.loads(payload).get("csrf_token", self.token)


def _setup(url: str, users: int) -> None:
    from werkzeug.security import generate_password_hash

    from engine import Engine
    from engine.store import org
    from engine.store.db import make_session_factory
    from engine.store.unit_of_work import in_transaction
    from handlers import default_registry

    db = migrated(url)
    sessions = make_session_factory(db)
    engine = Engine(default_registry())
    in_transaction(sessions, lambda s: engine.deploy(s, sequential(scope="team", field="v"), "bench20.bpmn", None))
    hashed = generate_password_hash(PASSWORD)
    for n in range(users):
        in_transaction(sessions, lambda s, n=n: (org.add_user(s, f"c{n}", f"客户端{n}", hashed),
                                                 org.grant(s, f"c{n}", LANE, f"团队/{n}")))
    for n in range(users):
        for _ in range(INSTANCES_PER_USER):
            in_transaction(sessions, lambda s, n=n: engine.start(s, "bench20", f"c{n}", {"team": f"团队/{n}"}))
        if (n + 1) % 8 == 0:
            progress(f"HTTP: {n + 1}/{users} 个用户的 {INSTANCES_PER_USER} 个实例已启动")
    db.dispose()


def _open_tasks(sessions, login: str) -> list[int]:
    from engine.store.models import HumanTask, ProcessInstance

    with sessions() as s:
        return list(s.scalars(select(HumanTask.id).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                              .where(ProcessInstance.started_by == login, HumanTask.state == "open")
                              .order_by(HumanTask.id)))


def _start_server(url: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    """`smflow serve` as an operator starts it (gunicorn, threaded workers with keep-alive), without the
    background worker process: nothing here needs it."""
    env = {**os.environ, "SMFLOW_SECRET_KEY": "bench-" + "x" * 40}
    command = [*smflow_command(), "--db", url, "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--threads", str(threads), "--no-worker"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {server.stderr.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/csrf")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    """Stop a server started in its own process group: SIGTERM to its main process, which stops its web
    processes (signalling the whole group can miss a web process that gunicorn starts meanwhile), then
    SIGKILL to the group after 20 s."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _load(clients: list[Client], kind: str, total: int, sessions) -> dict:
    """`total` requests of `kind` spread over the clients, all running at once."""
    per_client = [total // len(clients) + (1 if n < total % len(clients) else 0) for n in range(len(clients))]
    latencies: queue.SimpleQueue = queue.SimpleQueue()
    errors: queue.SimpleQueue = queue.SimpleQueue()
    barrier = threading.Barrier(len(clients))

    def work(client: Client, count: int) -> None:
        todo = _open_tasks(sessions, client.login) if kind == "complete" else []
        barrier.wait()
        for _ in range(count):
            if kind == "complete":
                if not todo:
                    todo = _open_tasks(sessions, client.login)
                task_id = todo.pop(0)
                began = time.perf_counter()
                status, payload = client.request("POST", f"/api/tasks/{task_id}/complete", {"v": 1})
            else:
                began = time.perf_counter()
                status, payload = client.request("GET", "/api/tasks")
            latencies.put(time.perf_counter() - began)
            if status != 200:
                errors.put(f"{status} {payload[:160]!r}")

    threads = [threading.Thread(target=work, args=(c, n)) for c, n in zip(clients, per_client, strict=True) if n]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    ms = []
    while not latencies.empty():
        ms.append(latencies.get() * 1e3)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    return {"requests": len(ms), "errors": len(failures), "error_samples": failures[:3],
            "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms, default=0.0), "per_s": len(ms) / wall if wall else 0.0}


def run(client_counts: list[int], requests: int = 400, workers: int | None = None, threads: int | None = None) -> dict:
    from engine.store.db import make_engine, make_session_factory
    from web.serving import web_processes

    default_workers, default_threads = web_processes(sqlite=False)
    workers, threads = workers or default_workers, threads or default_threads
    users = max(client_counts)
    results: dict = {"workers": workers, "threads": threads, "requests": requests, "levels": []}
    with database("postgresql") as url:
        progress(f"HTTP: 准备 {users} 个用户, 各 {INSTANCES_PER_USER} 个实例")
        _setup(url, users)
        port = _free_port()
        server = _start_server(url, port, workers, threads)
        db = make_engine(url)
        sessions = make_session_factory(db)
        try:
            clients = [Client(port, f"c{n}") for n in range(users)]
            for client in clients:
                client.sign_in()
            for count in client_counts:
                for kind in ("complete", "inbox"):
                    _load(clients[:count], kind, max(count * 2, requests // 10), sessions)  # warm-up
                    row = _load(clients[:count], kind, requests, sessions)
                    row.update(kind=kind, clients=count)
                    results["levels"].append(row)
                    progress(f"HTTP {kind} × {count} 客户端: p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms, "
                             f"p99 {row['p99_ms']:.1f} ms, 错误 {row['errors']}")
        finally:
            stop_server(server)
            db.dispose()
    return results
