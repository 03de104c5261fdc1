"""`smflow serve` as a real process: the app is built once in gunicorn's arbiter and the web processes fork from
it (web/serving.py). No database connection or open database file may cross that fork, so the arbiter holds
none once it serves; the web processes open their own. A database not at the newest schema is refused."""

from __future__ import annotations

import http.cookiejar
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import make_url, text
from testkit import stop_group

from engine.store.db import make_engine

SMFLOW = str(Path(sys.executable).parent / "smflow")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_handles(pid: int, url: str) -> set[str]:
    """What process `pid` has open on the database at `url`: the SQLite file (and its -wal, -shm), or TCP
    connections to the PostgreSQL server's port."""
    links = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            links.add(os.readlink(fd))
        except OSError:  # closed since the listing
            continue
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return {link for link in links if link.startswith(parsed.database)}
    server_port = parsed.port or 5432
    to_server = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == server_port:
                to_server.add(f"socket:[{fields[9]}]")
    return links & to_server


def children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method: str, path: str, body: dict | None = None, token: str = "") -> tuple[int, dict]:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json", "X-CSRF-Token": token})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())


def wait_until_serving(server: subprocess.Popen, browser: Browser) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()
        try:
            return browser.call("GET", "/api/csrf")[1]["csrf_token"]
        except OSError:
            time.sleep(0.05)
    raise AssertionError("smflow serve did not answer within 60 s")


def serve(url: str, folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([SMFLOW, "--db", url, "serve", "--host", "127.0.0.1", *args, "--no-worker"],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SMFLOW_SECRET_KEY": "serve-test-" + "x" * 40}, start_new_session=True)


def test_the_web_processes_answer_on_connections_of_their_own(db_url, tmp_path):
    port = free_port()
    server = serve(db_url, tmp_path, "--port", str(port), "--workers", "2")
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        token = wait_until_serving(server, browser)
        # a failed login reads the users and records the attempt: the answering process uses the database
        status, body = browser.call("POST", "/api/login", {"login": "nobody", "password": "wrong"}, token)
        assert status == 401 and body["error"]
        workers = children(server.pid)
        assert len(workers) == 2
        assert database_handles(server.pid, db_url) == set()
        assert set().union(*(database_handles(pid, db_url) for pid in workers))
    finally:
        stop_group(server)


def test_a_database_behind_the_newest_schema_is_not_served(sqlite_url, tmp_path):
    engine = make_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    engine.dispose()
    server = serve(sqlite_url, tmp_path, "--port", str(free_port()))
    try:
        _, errors = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            stop_group(server)
    assert server.returncode == 2
    assert "0007" in errors and "smflow db upgrade" in errors and "Traceback" not in errors


def test_what_the_app_is_built_from_is_kept_out_of_the_garbage_collectors_full_passes(sqlite_url):
    # In a process of its own: freezing is for the life of the process that builds the app.
    probe = ("import gc, sys; from web.serving import _Gunicorn; "
             "_Gunicorn(sys.argv[1], {'bind': '127.0.0.1:0'}).load(); print(gc.get_freeze_count())")
    frozen = subprocess.run([sys.executable, "-c", probe, sqlite_url], capture_output=True, text=True, check=True)
    assert int(frozen.stdout) > 10_000  # modules, specs, metadata: not walked again by every full collection


def test_by_default_postgresql_gets_two_processes_per_core_of_two_threads_and_sqlite_one_of_four(db_url, tmp_path):
    sqlite = db_url.startswith("sqlite")
    processes, threads = (1, 4) if sqlite else (min(2 * os.cpu_count(), 8), 2)
    port = free_port()
    server = serve(db_url, tmp_path, "--port", str(port))
    try:
        wait_until_serving(server, Browser(f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 30
        while len(children(server.pid)) < processes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(children(server.pid)) == processes
    finally:
        said, _ = stop_group(server)
    assert f"gunicorn {processes} 个进程 × {threads} 个线程" in said
