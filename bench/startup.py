"""Part 5, start-up: `smflow serve` until it answers, and deploying the manual's five processes.

- serve: `smflow --db URL serve --port P --no-worker` as a new process, timed from launch until
  `GET /api/csrf` answers 200 (the schema is already at head, as on any restart after the first).
- deploy: the five BPMN files of the manual through `Engine.deploy` in one unit of work on an empty
  database with the demo organisation: parsing, validation (XSD, sandbox compilation of every expression,
  lanes), spec serialization and storage.
"""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import time
from datetime import UTC, datetime

from .common import ROOT, database, migrated, progress
from .http_load import _free_port, smflow_command, stop_server

RUNS = 3


def serve_ready_seconds(url: str) -> float:
    port = _free_port()
    began = time.perf_counter()
    server = subprocess.Popen([*smflow_command(), "--db", url, "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--no-worker"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "SMFLOW_SECRET_KEY": "bench-" + "x" * 40}, start_new_session=True)
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"smflow serve exited: {server.stderr.read().decode()[-2000:]}")
            if time.perf_counter() - began > 60:
                raise RuntimeError("smflow serve did not answer within 60 s")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/csrf")
                if conn.getresponse().status == 200:
                    return time.perf_counter() - began
            except OSError:
                time.sleep(0.02)
    finally:
        stop_server(server)


def deploy_seconds(url: str) -> float:
    from engine import Engine
    from engine.store.db import make_session_factory
    from engine.store.unit_of_work import in_transaction
    from handlers import default_registry
    from web.demo import MANUAL_FILES, manual_file

    from .throughput import load_org, org_6x3

    db = migrated(url)
    sessions = make_session_factory(db)
    load_org(sessions, org_6x3())
    engine = Engine(default_registry())
    files = [(name, manual_file(name)) for name in MANUAL_FILES]
    began = time.perf_counter()
    in_transaction(sessions, lambda s: [engine.deploy(s, data, name, "admin") for name, data in files])
    spent = time.perf_counter() - began
    db.dispose()
    return spent


def run(databases=("sqlite", "postgresql")) -> dict:
    results: dict = {"runs": RUNS, "serve": {}, "deploy": {}}
    for kind in databases:
        with database(kind) as url:
            migrated(url).dispose()
            times = [serve_ready_seconds(url) for _ in range(RUNS)]
            results["serve"][kind] = {"median_s": statistics.median(times), "max_s": max(times), "runs": times}
            progress(f"启动 {kind}: smflow serve 可用 {statistics.median(times):.2f} s (最慢 {max(times):.2f} s)")
        times = []
        for _ in range(RUNS):
            with database(kind) as url:
                times.append(deploy_seconds(url))
        results["deploy"][kind] = {"median_s": statistics.median(times), "max_s": max(times), "runs": times}
        progress(f"启动 {kind}: 部署五个流程 {statistics.median(times):.2f} s (最慢 {max(times):.2f} s)")
    results["at"] = datetime.now(UTC).isoformat()
    return results
