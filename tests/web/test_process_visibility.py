"""Who sees a process's diagrams and files: administrators and its owners; staff holding a role of one of its
lanes; whoever can see one of its instances (the instance page draws its version). Others get the answer for a
process that does not exist, on the pages and in the API: for its diagram and file, and for its start and edit
pages and its migration page too (who may see it but not start, edit or migrate it is told why, with a 403)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, select
from testkit import ApprovalFlow, edit

from engine.store import instances, org
from engine.store.models import Grant, ProcessInstance

APPROVAL = (Path(__file__).parents[1] / "fixtures" / "approval.bpmn").read_bytes()
READS = ("/processes/approval/1/diagram", "/processes/approval/1/download", "/processes/approval/compare")


def _owned_by(role: str, version_note: str) -> bytes:
    """The approval file owned by `role`, its documentation changed so that it deploys as a new version."""
    marker = '<bpmn:laneSet id="lanes">'
    props = (f'<bpmn:extensionElements><camunda:properties><camunda:property name="smflow:owner" value="{role}"/>'
             '</camunda:properties></bpmn:extensionElements>')
    return edit(APPROVAL, (marker, props + marker), ("办事处提交本办事处的费用申请。", version_note))


def _reads(client, version: int = 1) -> list[int]:
    return [client.get(url.replace("/1/", f"/{version}/")).status_code for url in READS]


def _listed(client) -> list[str]:
    return [p["process_id"] for p in client.get("/api/processes").get_json()["processes"]]


def test_someone_outside_the_process_gets_what_a_missing_process_gets(client, auth):
    auth.login("outsider")  # 生产部: no lane of the approval process, no instance of it
    for url in READS:
        hidden, missing = client.get(url), client.get(url.replace("approval", "nope"))
        assert hidden.status_code == missing.status_code == 404, url
        assert hidden.get_data(as_text=True) == missing.get_data(as_text=True).replace("nope", "approval"), url
    assert "没有找到流程 &#39;approval&#39; 的第 1 版, 请先部署" in client.get(READS[1]).get_data(as_text=True)
    page = client.get("/processes/").get_data(as_text=True)
    assert "费用申请审批" not in page and "/processes/approval/" not in page and "没有您可以查看的流程" in page
    assert client.get("/api/processes").get_json() == {"processes": []}


def _start_and_edit(auth, process_id: str) -> list:
    """The start pages (流程与版本's, 发起流程's, the API's) and the edit page, for one process."""
    form = {"business_key": "x", "d.0.key": "office", "d.0.value": "华北"}
    return [auth._client.get(f"/processes/{process_id}/start"), auth.post(f"/processes/{process_id}/start", form),
            auth.post(f"/start/{process_id}", form), auth._client.get(f"/processes/{process_id}/1/edit"),
            auth.api_post("/api/instances", {"process_id": process_id, "data": {"office": "华北"}}),
            auth.api_post("/api/instances", {"process_id": process_id, "version": 1})]


def test_starting_or_editing_a_process_one_may_not_see_answers_as_for_a_missing_one(client, auth, flow):
    other = _owned_by("财务部", "另一个流程。").replace(b'id="approval"', b'id="approval_b"')
    flow.tx(lambda s: flow.services.engine.deploy(s, other, "b.bpmn", "admin"))
    for login in ("outsider", "finance"):  # nobody of the process; the owner of another (who may use the modeler)
        auth.login(login)
        hidden, missing = _start_and_edit(auth, "approval"), _start_and_edit(auth, "nope")
        for shown, absent in zip(hidden, missing, strict=True):
            assert shown.status_code == absent.status_code == 404, (login, shown.request.path)
            assert shown.get_data(as_text=True) == absent.get_data(as_text=True).replace("nope", "approval")
        auth.logout()
    assert flow.tx(lambda s: s.scalar(select(func.count()).select_from(ProcessInstance))) == 0


def test_the_migration_page_of_a_process_one_may_not_see_answers_as_for_a_missing_one(client, auth, flow):
    on_v1 = flow.start()  # by bj
    flow.tx(lambda s: flow.services.engine.deploy(s, _owned_by("财务部", "第二版。"), "a.bpmn", "admin"))
    other = _owned_by("生产部", "另一个流程。").replace(b'id="approval"', b'id="approval_b"')
    flow.tx(lambda s: flow.services.engine.deploy(s, other, "b.bpmn", "admin"))
    auth.login("outsider")  # owns another process, holds no lane of this one, sees none of its instances
    hidden = [client.get("/processes/approval/migrate"), auth.post("/processes/approval/migrate", {"all": "1"})]
    missing = [client.get("/processes/nope/migrate"), auth.post("/processes/nope/migrate", {"all": "1"})]
    for shown, absent in zip(hidden, missing, strict=True):
        assert shown.status_code == absent.status_code == 404, shown.request.method
        assert shown.get_data(as_text=True) == absent.get_data(as_text=True).replace("nope", "approval")
    auth.login("bj")  # sees the process (its lane) but does not own it: told who may migrate
    for response in (client.get("/processes/approval/migrate"), auth.post("/processes/approval/migrate", {"all": "1"})):
        assert response.status_code == 403, response.request.method
        assert "只有流程「费用申请审批」的拥有者「财务部」或管理员可以迁移其实例" in response.get_data(as_text=True)
    assert flow.tx(lambda s: instances.get(s, on_v1).version) == 1
    auth.login("finance")
    assert client.get("/processes/approval/migrate").status_code == 200


def test_lane_roles_and_whoever_sees_an_instance_see_the_diagram_on_both_databases(db_app, auth_for):
    client, flow = db_app.test_client(), ApprovalFlow(db_app)
    auth = auth_for(client)
    instance_id = flow.start()  # by bj, 办事处 in 华北/北京办事处
    for login in ("bj", "sh", "rm_huadong"):  # a lane's role, in whatever scope
        auth.login(login)
        assert _reads(client) == [200, 200, 200] and _listed(client) == ["approval"], login
    auth.login("outsider")
    assert _reads(client) == [404, 404, 404] and _listed(client) == []
    assert client.get(f"/instances/{instance_id}").status_code == 404

    # bj moves to 生产部: no lane any more, but the instance bj started stays visible, and so does its diagram.
    def move(s):
        s.execute(delete(Grant).where(Grant.login == "bj"))
        org.grant(s, "bj", "生产部", "*")

    flow.tx(move)
    auth.login("bj")
    page = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert 'data-xml-url="/processes/approval/1/download"' in page
    download = client.get("/processes/approval/1/download")
    assert download.status_code == 200 and download.data == APPROVAL
    assert _reads(client) == [200, 200, 200] and _listed(client) == ["approval"]
    auth.login("outsider")  # the same roles as bj now, but no instance of the process
    assert _reads(client) == [404, 404, 404] and _listed(client) == []


def test_owners_see_every_version_even_after_handing_the_process_on(client, auth, flow):
    auth.login("finance")  # 财务部's lane holds no user task: nothing to start, nothing to see
    assert _reads(client) == [404, 404, 404] and _listed(client) == []
    flow.tx(lambda s: flow.services.engine.deploy(s, _owned_by("财务部", "第二版。"), "a.bpmn", "admin"))
    assert _reads(client, 1) == _reads(client, 2) == [200, 200, 200] and _listed(client) == ["approval"]
    # 生产部 owns version 3: it now sees every version; 财务部 still sees the ones it owned (and all others).
    flow.tx(lambda s: flow.services.engine.deploy(s, _owned_by("生产部", "第三版。"), "a.bpmn", "admin"))
    for login in ("finance", "outsider"):
        auth.login(login)
        assert [_reads(client, v) for v in (1, 2, 3)] == [[200, 200, 200]] * 3, login
    auth.login("admin")
    assert _reads(client, 3) == [200, 200, 200] and _listed(client) == ["approval"]
