"""The authorisation matrix: every route of the app (read from `app.url_map`, so a new route is covered the day
it appears) × every role and scope of the demo organisation (one login each, plus another scope for the
scoped roles, an administrator and nobody) × their own and others' objects.

The answers are written to tests/security/artifacts/authz_matrix.tsv and compared with the reviewed
table expected_authz.tsv beside this file. A route or answer not in that table fails the test until
someone has looked at it: SMFLOW_AUTHZ_WRITE_EXPECTED=1 rewrites the expected table from this run (then
read the diff before committing it). A POST that went through is undone (the database is put back from a
copy) so every cell starts from the same state.

Also: a POST without its CSRF token is refused on every route; a login changes the session (fixation);
a logout ends it for every copy of the cookie.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest
from support import ARTIFACTS, HERE, PASSWORD, Session, make_demo_app, record_figures

from engine.store import tasks
from engine.store.unit_of_work import in_transaction

EXPECTED = HERE / "expected_authz.tsv"
IDENTITIES = [
    "anonymous", "admin", "vp", "executive", "planning", "marketing", "sales_director", "sales_dev",
    "customer_service", "finance", "production", "supply", "sales_admin", "pm_cardio", "pm_antiinfective",
    "rm_huabei", "rm_huadong", "cm_huabei_hospital", "office_huabei_beijing", "office_huadong_shanghai",
]
SKIPPED = {"static"}  # files, no data behind them
# Pages that act on a process named in the URL: each answers 404 exactly where its diagram does.
ACTS_ON_PROCESS = re.compile(r"(GET|POST) /processes/<process_id>/(start|<int:version>/edit|migrate) "
                             r"|POST /start/<process_id> ")


def _objects(app) -> dict[str, dict[str, object]]:
    """The objects the cells act on: parameter name → {label: value}."""
    services = app.extensions["smflow"]
    engine = services.engine

    def tx(work):
        return in_transaction(services.sessions, work)

    def start(process_id, login, data=None):
        iid = tx(lambda s: engine.start(s, process_id, login, data))
        return iid, tx(lambda s: tasks.active_for_instance(s, iid)[0].id)

    bj, bj_request = start("approval", "office_huabei_beijing", {"office": "华北/北京办事处"})
    tx(lambda s: engine.complete(s, bj_request, "office_huabei_beijing",
                                 {"amount": 1, "purpose": "x", "lines": [{"item": "a", "cost": 1}]}))
    hb_review = tx(lambda s: tasks.active_for_instance(s, bj)[0].id)
    sh, sh_request = start("approval", "office_huadong_shanghai", {"office": "华东/上海办事处"})
    sm11, sm11_task = start("SM1_1", "vp")
    return {
        "task_id": {"review@华北": hb_review, "request@上海": sh_request, "SM1_1@vp": sm11_task,
                    "done@北京": bj_request},
        "instance_id": {"started_by_bj": bj, "started_by_sh": sh, "SM1_1_by_vp": sm11},
        "process_id": {"approval": "approval", "SM1_1": "SM1_1"},
        "version": {"v1": 1},
        "job_id": {"none": 999_999},
        "attachment_id": {"none": 999_999},
        "lang": {"en": "en"},
    }


def _cases(app, objects) -> list[tuple[str, str, str]]:
    """(row label, method, url) for every rule, method and combination of its parameters' objects."""
    cases = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in SKIPPED:
            continue
        variants = [({}, "")]
        for arg in sorted(rule.arguments):
            if arg not in objects:
                raise AssertionError(f"route {rule.rule}: no object for <{arg}>; add one to _objects()")
            variants = [({**values, arg: value}, f"{label} {arg}={name}".strip())
                        for values, label in variants for name, value in objects[arg].items()]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for values, label in variants:
                url = app.url_map.bind("localhost").build(rule.endpoint, values)
                cases.append((f"{method} {rule.rule} [{label}]" if label else f"{method} {rule.rule}", method, url))
    return cases


def _answer(response) -> str:
    status = response.status_code
    if status in (301, 302, 303):
        location = response.headers.get("Location", "")
        return "302 login" if "/auth/login" in location else "302"
    return str(status)


def _restore(pristine: Path, live: Path) -> None:
    src, dst = sqlite3.connect(pristine), sqlite3.connect(live, timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _read_table(path: Path) -> dict[tuple[str, str], str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")[1:]
    table = {}
    for line in lines[1:]:
        row, *answers = line.split("\t")
        table.update({(row, who): answer for who, answer in zip(header, answers, strict=True)})
    return table


def _write_table(path: Path, rows: list[str], answers: dict[tuple[str, str], str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["route\t" + "\t".join(IDENTITIES)]
    lines += [row + "\t" + "\t".join(answers[(row, who)] for who in IDENTITIES) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _unlike_the_diagram(answers: dict[tuple[str, str], str]) -> list[str]:
    """Cells of a start, edit or migrate row that answer 404 where the process's diagram does not, or the reverse:
    such a page would tell someone a process exists that they may not see (or hide one they may)."""
    wrong = []
    for (row, who), answer in answers.items():
        if ACTS_ON_PROCESS.match(row):
            pid = re.search(r"process_id=(\w+)", row).group(1)
            diagram = answers[(f"GET /processes/<process_id>/<int:version>/diagram [process_id={pid} version=v1]", who)]
            if (answer == "404") != (diagram == "404"):
                wrong.append(f"{who}: {row} → {answer}, its diagram → {diagram}")
    return wrong


def test_every_route_role_and_scope_answers_as_the_reviewed_table_says(sqlite_url, clock, tmp_path):
    app = make_demo_app(sqlite_url, clock)
    try:
        objects = _objects(app)
        cases = _cases(app, objects)
        live = Path(sqlite_url.removeprefix("sqlite:///"))
        sessions = {who: Session(app, None if who == "anonymous" else who) for who in IDENTITIES}
        for session in sessions.values():
            session.token()  # every identity holds its CSRF token before the copy is taken
        cookies = {who: s.client.get_cookie("session").value for who, s in sessions.items()}
        pristine = tmp_path / "pristine.db"  # logins included: the server-side sessions live in the database
        _restore(live, pristine)
        answers: dict[tuple[str, str], str] = {}
        crashes = []
        for row, method, url in cases:
            for who, session in sessions.items():
                if method == "GET":
                    response = session.get(url)
                elif url.startswith("/api/"):
                    response = session.api(url, {}, method=method)
                else:
                    response = session.client.open(url, method=method, data={"csrf_token": session.token()})
                answers[(row, who)] = _answer(response)
                if response.status_code >= 500:
                    crashes.append(f"{who}: {row} → {response.status_code}")
                if method != "GET" and response.status_code < 400:
                    _restore(pristine, live)  # the next cell starts from the same state,
                    session.client.set_cookie("session", cookies[who])  # with the same session
        rows = [row for row, _, _ in cases]
        _write_table(ARTIFACTS / "authz_matrix.tsv", rows, answers)
        if os.environ.get("SMFLOW_AUTHZ_WRITE_EXPECTED"):
            _write_table(EXPECTED, rows, answers)
        expected = _read_table(EXPECTED)
        unknown_rows = sorted({row for row, _ in answers} - {row for row, _ in expected})
        differences = sorted(f"{row} | {who}: expected {expected[(row, who)]}, got {answer}"
                             for (row, who), answer in answers.items()
                             if (row, who) in expected and expected[(row, who)] != answer)
        gone = sorted({row for row, _ in expected} - {row for row, _ in answers})
        allowed = sum(1 for (row, who), a in answers.items() if a[0] in "23" and a != "302 login")
        record_figures("authorization", {"routes": len({r.split(" [")[0] for r in rows}), "rows": len(rows),
                                         "identities": len(IDENTITIES), "cells": len(answers), "allowed": allowed,
                                         "denied_or_refused": len(answers) - allowed, "crashes": len(crashes)})
        assert crashes == []
        assert _unlike_the_diagram(answers) == []
        assert unknown_rows == [], "routes not in expected_authz.tsv (review, then SMFLOW_AUTHZ_WRITE_EXPECTED=1):\n" \
            + "\n".join(unknown_rows)
        assert differences == [], "\n".join(differences)
        assert gone == [], "rows of expected_authz.tsv that no longer exist:\n" + "\n".join(gone)
    finally:
        app.extensions["smflow"].sessions.kw["bind"].dispose()


def test_the_expected_table_allows_nothing_to_nobody_and_nothing_of_another_scope():
    """Reading the reviewed table itself: rules any reviewer would check first."""
    table = _read_table(EXPECTED)
    open_to_all = {"GET /auth/login", "POST /auth/login", "GET /api/csrf", "POST /api/login", "POST /api/logout",
                   "POST /auth/logout", "POST /lang/<lang> [lang=en]"}
    anonymous = sorted(row for (row, who), a in table.items()
                       if who == "anonymous" and a[0] in "23" and a != "302 login" and row not in open_to_all)
    assert anonymous == []
    for row in [r for (r, who) in table if who == "admin"]:
        if "task_id=request@上海" in row and row.startswith("POST /api/tasks") and "draft" not in row:
            assert table[(row, "office_huabei_beijing")][0] == "4", row  # Beijing acts on no Shanghai task
        if "instance_id=started_by_sh" in row and row.startswith("GET"):
            assert table[(row, "office_huabei_beijing")][0] in "34", row  # nor sees a Shanghai instance
            assert table[(row, "rm_huabei")][0] in "34", row
    # A process's diagram, file and comparison: for whoever may start it (lanes, owner, admin); here nobody
    # else sees one of its instances, and the others get the answer for a process that does not exist.
    for process_id in ("approval", "SM1_1"):
        reads = [row for (row, who) in table if who == "admin" and row.startswith("GET /processes/<process_id>/")
                 and f"process_id={process_id}" in row and ("/diagram" in row or "/download" in row
                                                            or "/compare" in row)]
        assert len(reads) == 3
        for who in IDENTITIES[1:]:
            may_start = table[(f"GET /processes/<process_id>/start [process_id={process_id}]", who)] == "200"
            assert {table[(row, who)] for row in reads} == {"200" if may_start else "404"}, (process_id, who)


@pytest.fixture
def app(sqlite_url, clock):
    application = make_demo_app(sqlite_url, clock)
    yield application
    application.extensions["smflow"].sessions.kw["bind"].dispose()


def test_every_post_without_its_csrf_token_is_refused(app):
    admin = Session(app, "admin")
    office = Session(app, "office_huabei_beijing")
    objects = _objects(app)
    refused = 0
    for _, method, url in _cases(app, objects):
        if method == "GET":
            continue
        for session in (admin, office):
            form = session.client.open(url, method=method, data={"x": "1"})
            api = session.client.open(url, method=method, json={})
            assert form.status_code == 400 and api.status_code == 400, (url, form.status_code, api.status_code)
            refused += 2
        assert admin.client.open(url, method=method, json={}, headers={"X-CSRF-Token": "forged"}).status_code == 400
    record_figures("authorization", {"posts_without_csrf_refused": refused})


def test_a_login_replaces_the_session_and_a_logout_ends_every_copy(app):
    visitor = Session(app)
    visitor.get("/auth/login")
    planted = visitor.client.get_cookie("session")
    assert planted is not None  # the anonymous session (it holds the CSRF token)
    visitor.log_in("rm_huabei")
    logged_in = visitor.client.get_cookie("session")
    assert logged_in.value != planted.value
    # Someone holding the pre-login cookie (a fixated session) is not logged in.
    attacker = Session(app)
    attacker.client.set_cookie("session", planted.value)
    assert attacker.get("/api/me").status_code == 401
    assert attacker.get("/").status_code == 302
    # A copy of the logged-in cookie works until the owner logs out, then never again.
    thief = Session(app)
    thief.client.set_cookie("session", logged_in.value)
    assert thief.get("/api/me").get_json()["login"] == "rm_huabei"
    assert visitor.post("/auth/logout").status_code == 302
    assert visitor.get("/api/me").status_code == 401
    assert thief.get("/api/me").status_code == 401
    assert thief.get("/").status_code == 302
    # A wrong password never starts a session.
    page = Session(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/auth/login").get_data(as_text=True)).group(1)
    page.client.post("/auth/login", data={"login": "rm_huabei", "password": PASSWORD + "x", "csrf_token": token})
    assert page.get("/api/me").status_code == 401
