"""Hostile form input, on SQLite and PostgreSQL: wrong types, huge strings, NaN and infinity, formula-like
values, characters no database can store, HTML/JS in every text that reaches a page, forged hidden
fields (someone else's task, another scope's row), and replayed submissions.

Each hostile submission must be answered below 500, change nothing when refused, and show up escaped.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from support import Session, make_demo_app, record_figures

from engine.store import tasks
from engine.store.models import Event, HumanTask, User
from engine.store.unit_of_work import in_transaction

OFFICE, OTHER_OFFICE = "office_huabei_beijing", "office_huadong_shanghai"
GOOD = {"amount": 12.5, "purpose": "学术会议", "lines": [{"item": "场地", "cost": 12.5}]}
XSS = "<script>alert('xss')</script><img src=x onerror=alert(1)>\"'&"
FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)"]


@pytest.fixture
def app(db_url, clock):
    application = make_demo_app(db_url, clock)
    yield application
    application.extensions["smflow"].sessions.kw["bind"].dispose()


def _tx(app, work):
    return in_transaction(app.extensions["smflow"].sessions, work)


def _start(app, login=OFFICE, office="华北/北京办事处", key=None) -> tuple[int, int]:
    engine = app.extensions["smflow"].engine
    iid = _tx(app, lambda s: engine.start(s, "approval", login, {"office": office}, None, key))
    return iid, _tx(app, lambda s: tasks.active_for_instance(s, iid)[0].id)


def _raw_json(session: Session, url: str, text: str):
    return session.client.post(url, data=text.encode("utf-8"),
                                headers={"X-CSRF-Token": session.token(), "Content-Type": "application/json"})


def _snapshot(app, task_id: int) -> tuple:
    def read(s):
        row = s.get(HumanTask, task_id)
        return row.state, row.assignee, row.submitted, row.draft, s.scalar(select(func.count()).select_from(Event))
    return _tx(app, read)


# Raw JSON bodies, so that NaN, Infinity, lone surrogates and NUL reach the server exactly as sent.
HOSTILE_BODIES = {
    "amount_nan_literal": '{"amount": NaN, "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_infinity_literal": '{"amount": Infinity, "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_nan_text": '{"amount": "nan", "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_inf_text": '{"amount": "inf", "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_overflow": '{"amount": 1e999, "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_negative": '{"amount": -5, "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_list": '{"amount": [1], "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_object": '{"amount": {"$gt": 0}, "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_bool": '{"amount": true, "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_comma": '{"amount": "1,5", "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_hex": '{"amount": "0x10", "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "amount_huge_int": '{"amount": ' + "9" * 5000 + ', "purpose": "x", "lines": [{"item": "a", "cost": 1}]}',
    "purpose_too_long": json.dumps({**GOOD, "purpose": "长" * 51}),
    "purpose_huge": json.dumps({**GOOD, "purpose": "x" * 3_000_000}),
    "purpose_object": json.dumps({**GOOD, "purpose": {"a": 1}}),
    "purpose_lone_surrogate": '{"amount": 1, "purpose": "\\ud800", "lines": [{"item": "a", "cost": 1}]}',
    "purpose_nul": '{"amount": 1, "purpose": "a\\u0000b", "lines": [{"item": "a", "cost": 1}]}',
    "lines_not_a_table": json.dumps({**GOOD, "lines": "x"}),
    "lines_of_numbers": json.dumps({**GOOD, "lines": [1, 2]}),
    "lines_cost_nan": '{"amount": 1, "purpose": "x", "lines": [{"item": "a", "cost": "NaN"}]}',
    "lines_unknown_column": json.dumps({**GOOD, "lines": [{"item": "a", "cost": 1, "admin": True}]}),
    "lines_ten_thousand": json.dumps({**GOOD, "lines": [{"item": "a", "cost": 1}] * 10_000}),
    "lines_deep": json.dumps({**GOOD, "lines": [{"item": [[[[["a"]]]]], "cost": 1}]}),
    "unknown_fields": json.dumps({**GOOD, "started_by": "admin", "_secret": 1, "__proto__": {"x": 1}}),
    "body_list": "[]",
    "body_string": '"x"',
    "body_null": "null",
    "body_invalid": "{not json",
    "body_deep": "[" * 100_000 + "]" * 100_000,
}


def test_hostile_submissions_are_refused_and_change_nothing(app):
    office = Session(app, OFFICE)
    _, task_id = _start(app)
    tried = crashes = 0
    for name, body in HOSTILE_BODIES.items():
        for action in ("complete", "draft"):
            before = _snapshot(app, task_id)
            response = _raw_json(office, f"/api/tasks/{task_id}/{action}", body)
            tried += 1
            crashes += response.status_code >= 500
            assert response.status_code < 500, f"{name} {action}: {response.status_code} {response.get_data()[:300]}"
            if action == "complete" or name not in ("unknown_fields",):
                if response.status_code < 300 and action == "draft":
                    continue  # a draft keeps what was typed (only the form's fields, only storable JSON)
                assert response.status_code in (400, 413, 422), f"{name} {action}: {response.status_code}"
                assert _snapshot(app, task_id) == before, f"{name} {action} changed something"
    # The same values through the HTML form: a page with the errors (422), never a 500.
    for value in ("nan", "inf", "-1e999", "1e309", "x" * 200_000, "0x1p3"):
        response = office.post(f"/tasks/{task_id}/complete", {"f.amount": value, "f.purpose": "x",
                                                              "f.lines.0.item": "a", "f.lines.0.cost": value})
        tried += 1
        crashes += response.status_code >= 500
        assert response.status_code in (400, 422), (value[:20], response.status_code)
    assert _snapshot(app, task_id)[0] == "open"
    record_figures("hostile_forms", {"inputs_tried": tried, "crashes": crashes})


def test_start_data_business_keys_and_urls_with_unstorable_text_are_refused(app):
    office = Session(app, OFFICE)
    bodies = [
        '{"process_id": "approval", "data": {"office": "华北/北京办事处", "x": NaN}}',
        '{"process_id": "approval", "data": {"office": "华北/北京办事处", "x": "\\udfff"}}',
        '{"process_id": "approval", "data": {"office": "华北/北京办事处"}, "business_key": "\\ud800"}',
        '{"process_id": "approval", "data": {"office": "华北/北京办事处"}, "business_key": "a\\u0000b"}',
        '{"process_id": "approval", "data": {"office": "华北/北京办事处"}, "business_key": "' + "k" * 300 + '"}',
        '{"process_id": "approval", "data": {"office": "华北/北京办事处' + "x" * 300 + '"}}',
        '{"process_id": "approval", "data": {"office": "华北\\n/北京办事处"}}',
        '{"process_id": "app\\u0000roval", "data": {}}',
        '{"login": "admin\\u0000", "password": "x"}',
    ]
    statuses = [_raw_json(office, "/api/login" if '"login"' in b else "/api/instances", b).status_code
                for b in bodies]
    assert all(400 <= s < 500 for s in statuses), statuses
    for url in ("/processes/a%00b/1/diagram", "/instances/?process=a%00b", "/api/instances?process=%00",
                "/history/?q=%00", "/start/a%00b", "/processes/%ED%A0%80/1/diagram"):
        assert 400 <= office.get(url).status_code < 500, url
    page = office.client.get("/auth/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert office.client.post("/auth/login", data={"login": "ad\x00min", "password": "x",
                                                   "csrf_token": token}).status_code == 400
    record_figures("hostile_forms", {"inputs_tried": len(bodies) + 7, "crashes": 0})


def test_html_and_script_in_every_text_are_shown_escaped(app):
    engine = app.extensions["smflow"].engine
    _tx(app, lambda s: s.get(User, OFFICE).__setattr__("name", XSS))  # a hostile display name, set by an admin
    iid, task_id = _start(app, key="业务键 " + XSS)
    office = Session(app, OFFICE)
    office.api(f"/api/tasks/{task_id}/claim")
    response = office.api(f"/api/tasks/{task_id}/complete", {"amount": 3, "purpose": XSS[:50],
                                                             "lines": [{"item": XSS, "cost": 3}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    review = _tx(app, lambda s: tasks.active_for_instance(s, iid)[0].id)
    rm = Session(app, "rm_huabei")
    rm.api(f"/api/tasks/{review}/claim")
    rm.api(f"/api/tasks/{review}/draft", {"comment": XSS})
    formula_iid, formula_task = _start(app)
    office.api(f"/api/tasks/{formula_task}/complete", {"amount": 1, "purpose": FORMULAS[0],
                                                       "lines": [{"item": f, "cost": 1} for f in FORMULAS]})
    pages = {
        OFFICE: ["/", f"/tasks/{task_id}", f"/instances/{iid}", "/instances/", "/history/",
                 f"/instances/{formula_iid}", f"/tasks/{formula_task}"],
        "rm_huabei": ["/", f"/tasks/{review}", f"/instances/{iid}", "/instances/", "/history/"],
        "admin": ["/", f"/instances/{iid}", "/instances/", "/history/", "/processes/approval/1/diagram"],
    }
    shown = 0
    for login, urls in pages.items():
        session = Session(app, login)
        for url in urls:
            response = session.get(url)
            html = response.get_data(as_text=True)
            assert response.status_code == 200, (login, url, response.status_code)
            assert "<script>alert" not in html and "<img src=x" not in html, (login, url)
            if "&lt;script&gt;alert" in html or "\\u003cscript\\u003e" in html:
                shown += 1
    assert shown >= 8  # the payload is on those pages, as text
    # Formula-like values are kept exactly as typed (no page or export runs them); the JSON API returns them as is.
    detail = office.get(f"/api/instances/{formula_iid}").get_json()
    assert detail["data"]["purpose"] == FORMULAS[0] and [r["item"] for r in detail["data"]["lines"]] == FORMULAS
    del engine
    record_figures("hostile_forms", {"pages_checked_for_escaping": sum(map(len, pages.values()))})


def test_forged_task_ids_and_rows_of_another_scope_are_refused(app):
    _, beijing_task = _start(app)
    shanghai = Session(app, OTHER_OFFICE)
    before = _snapshot(app, beijing_task)
    for action in ("claim", "unclaim", "complete", "draft"):
        assert shanghai.api(f"/api/tasks/{beijing_task}/{action}", GOOD).status_code in (403, 404)
        assert shanghai.post(f"/tasks/{beijing_task}/{action}", {"f.amount": "1", "f.purpose": "x"}).status_code \
            in (403, 404)
    assert shanghai.get(f"/tasks/{beijing_task}").status_code in (403, 404)
    assert _snapshot(app, beijing_task) == before
    # A fixed column (the process gave the rows: product and channel) keeps the given values whatever is posted.
    engine = app.extensions["smflow"].engine
    from support import FIXTURES

    _tx(app, lambda s: engine.deploy(s, (FIXTURES / "fixed_table.bpmn").read_bytes(), "fixed_table.bpmn", "admin"))
    iid = _tx(app, lambda s: engine.start(s, "fixed_table", OFFICE, {"office": "华北/北京办事处"}))
    task_id = _tx(app, lambda s: tasks.active_for_instance(s, iid)[0].id)
    office = Session(app, OFFICE)
    posted = {"f.remark": "x"}
    for n in range(4):
        posted |= {f"f.forecast_rows.{n}.product": "华东 的产品", f"f.forecast_rows.{n}.channel": "华东",
                   f"f.forecast_rows.{n}.qty": "5"}
    assert office.post(f"/tasks/{task_id}/complete", posted).status_code == 302
    rows = _tx(app, lambda s: s.get(HumanTask, task_id).submitted)["forecast_rows"]
    assert {(r["product"], r["channel"]) for r in rows} == {(p, c) for p in ("心脑血管", "抗感染")
                                                            for c in ("医院", "零售药店")}
    # Forged fields in the JSON body (assignee, task id, another scope) are unknown fields: refused.
    _, task2 = _start(app)
    response = office.api(f"/api/tasks/{task2}/complete", {**GOOD, "assignee": "admin", "task_id": beijing_task,
                                                            "scope": "华东", "office": "华东/上海办事处"})
    assert response.status_code == 422


def test_a_replayed_submission_is_refused_and_counted_once(app):
    _, task_id = _start(app)
    office = Session(app, OFFICE)
    token = office.token()
    first = office.client.post(f"/api/tasks/{task_id}/complete", json=GOOD, headers={"X-CSRF-Token": token})
    assert first.status_code == 200
    events = _snapshot(app, task_id)[4]
    for _ in range(3):
        again = office.client.post(f"/api/tasks/{task_id}/complete", json=GOOD, headers={"X-CSRF-Token": token})
        assert again.status_code == 409 and "完成" in again.get_json()["message"]
        form = office.client.post(f"/tasks/{task_id}/complete", data={"csrf_token": token, "f.amount": "12.5",
                                                                      "f.purpose": "x"})
        assert form.status_code == 409
    assert _snapshot(app, task_id)[4] == events
    completed = _tx(app, lambda s: s.scalar(select(func.count()).select_from(Event).where(
        Event.kind == "completed", Event.task_id == task_id)))
    assert completed == 1
    # After logging out, the old cookie and token are worth nothing.
    cookie = office.client.get_cookie("session")
    office.api("/api/logout")
    replay = Session(app)
    replay.client.set_cookie("session", cookie.value)
    assert replay.client.post(f"/api/tasks/{task_id}/claim", headers={"X-CSRF-Token": token}).status_code in (400, 401)
