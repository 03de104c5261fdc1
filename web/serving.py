"""`smflow serve`: the web app under gunicorn (several processes), with a `smflow worker` process beside it.

The app is built once, in gunicorn's arbiter, and the web processes fork from it ready to answer: built in
each process after the fork, every process paid the imports and the route compilation again, all at once
on two cores. The arbiter closes the app's database connections before the fork, so each web process opens
its own. A HUP restarts the processes on the code already loaded (a new version needs a new `smflow serve`).

The background worker is a separate process rather than a thread in each web process: on SQLite there must
be only one, and on PostgreSQL it keeps slow handlers out of the web processes.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Callable

from gunicorn.app.base import BaseApplication

from engine.store.db import database_url


def worker_command(url: str, interval: float) -> list[str]:
    return [sys.executable, "-c", "from web.cli import main; main()", "--db", url, "worker",
            "--interval", str(interval)]


def web_processes(sqlite: bool) -> tuple[int, int]:
    """gunicorn's processes and threads per process when not given. On PostgreSQL two processes per core of two
    threads each: a thread runs Python only while it holds its process's lock (the GIL), so four threads in
    each of two processes waited on each other (bench http, 8 clients on 2 cores: complete p95 40-53 ms with
    2 × 4, 25-38 ms with 4 × 2). At most 8 processes: each holds up to four database connections (a request's
    reads and its unit of work, per thread), and PostgreSQL allows 100 by default. On SQLite one process, whose
    threads write one at a time anyway."""
    return (1, 4) if sqlite else (min(2 * (os.cpu_count() or 1), 8), 2)


def serve_app(db_url: str | None, host: str, port: int, web_workers: int, threads: int, with_worker: bool,
              interval: float, dev: bool, echo: Callable[[str], None]) -> None:
    url = database_url(db_url)
    background = subprocess.Popen(worker_command(url, interval)) if with_worker else None
    served_by = "werkzeug" if dev else f"gunicorn {web_workers} 个进程 × {threads} 个线程"
    echo(f"smflow 网页: http://{host}:{port}/  ({served_by}; Ctrl+C 退出)"
         + (f" · 后台任务进程 {background.pid}" if background else ""))
    try:
        if dev:
            from .app import create_app

            create_app({"DATABASE_URL": url}).run(host=host, port=port, threaded=True)
        else:
            _Gunicorn(url, {"bind": f"{host}:{port}", "workers": web_workers, "worker_class": "gthread",
                            "threads": threads, "timeout": 120, "graceful_timeout": 10}).run()
    finally:
        if background is not None:
            background.terminate()
            try:
                background.wait(timeout=10)
            except subprocess.TimeoutExpired:
                background.kill()


class _Gunicorn(BaseApplication):
    """gunicorn run from our command line, with our options, loading the app once before the workers fork."""

    def __init__(self, url: str, options: dict):
        self.url = url
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn ≥ 25: one shared socket path per user
            self.cfg.set("control_socket_disable", True)
        self.cfg.set("preload_app", True)

    def load(self):
        from .app import create_app

        app = create_app({"DATABASE_URL": self.url})
        # A connection opened here (the schema check's) must not be shared by the forked processes.
        app.extensions["smflow"].sessions.kw["bind"].dispose()
        keep_out_of_full_collections()  # forked pages stay shared, too
        return app


def keep_out_of_full_collections() -> None:
    """What a long-running process was built from (modules, specs, metadata: some 50,000 objects) lives as long
    as the process: kept out of the garbage collector's full passes, which otherwise stopped a web process's
    threads for 60-140 ms each (bench http, 8 clients; 0-50 ms with it); one took 48 ms in the engine
    benchmark's process, once in a few hundred completions."""
    gc.collect()
    gc.freeze()
