"""Test helpers shared across the test folders (importable from any of them: tests/ is on the path)."""

from __future__ import annotations

import html
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder

from engine.store import tasks
from engine.store.unit_of_work import in_transaction


@contextmanager
def serving(app) -> Iterator[str]:
    """The app behind a real HTTP server (werkzeug, threaded, a free port); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


class ApprovalFlow:
    """Drive the approval fixture process directly through the engine (the web layer is what is under test)."""

    def __init__(self, app):
        self.app = app
        self.services = app.extensions["smflow"]

    def tx(self, work):
        return in_transaction(self.services.sessions, work)

    def start(self, office: str = "华北/北京办事处", by: str = "bj", key: str | None = None) -> int:
        return self.tx(lambda s: self.services.engine.start(s, "approval", by, {"office": office}, None, key))

    def open_task(self, instance_id: int) -> int:
        """The id of the instance's active task."""
        return self.tx(lambda s: tasks.active_for_instance(s, instance_id)[0].id)

    def complete(self, task_id: int, login: str, data: dict) -> None:
        self.tx(lambda s: self.services.engine.complete(s, task_id, login, data))


def edit(data: bytes, *pairs: tuple[str, str]) -> bytes:
    """A BPMN file with each `old` text replaced by `new`; every `old` must be there (a stale edit fails)."""
    text = data.decode()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def broken(data: bytes) -> bytes:
    """The approval fixture with three problems at once: a condition's syntax, an unknown topic, a bad bound."""
    text = data.decode()
    text = text.replace("decision == 'approve'", "decision = = 'approve'")
    text = text.replace('camunda:topic="archive"', 'camunda:topic="no_such_topic"')
    text = text.replace('name="max" config="500"', 'name="max" config="lots"')
    return text.encode()


def stop_group(process: subprocess.Popen):
    """Stop a process started with start_new_session=True and everything it started: SIGTERM to the group,
    SIGKILL after 20 s; what it wrote to its output pipes (stdout, stderr)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.communicate()


def post_multipart(client, path: str, data: dict, headers: dict | None = None):
    """A multipart/form-data POST through a Flask test client; the request body (spooled to a temporary file
    when large) is closed afterwards, which the test client's own post leaves open."""
    builder = EnvironBuilder(path=path, method="POST", data=data, content_type="multipart/form-data",
                             headers=headers or {})
    environ = builder.get_environ()
    try:
        return client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


def in_lang(auth, lang: str) -> None:
    """Choose the session's language as the page's switch does (POST /lang/<lang>)."""
    auth.post(f"/lang/{lang}", {"next": "/"})


def post_start(auth, login: str, lang: str, url: str, office: str):
    """`login`, in `lang`, posts a start page's form: business key K-1, start data office = `office`."""
    auth.login(login)
    in_lang(auth, lang)
    return auth.post(url, {"business_key": "K-1", "d.0.key": "office", "d.0.value": office})


def page_text(response) -> str:
    """A response's HTML with its entities read back: the text as a person reads it."""
    return html.unescape(response.get_data(as_text=True))
