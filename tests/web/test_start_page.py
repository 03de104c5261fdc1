"""发起流程: the processes this user may start, a suggested business key, and every error in Chinese."""

from __future__ import annotations

from datetime import datetime

from engine import Engine
from engine.clock import COMPANY_TZ
from engine.store.models import ProcessDefinition, ProcessInstance
from handlers import default_registry

SUGGESTED = "2027-04-02 费用申请审批"  # the approval process has no calendar: the day, then its name


def _start(auth, key=SUGGESTED, office="华北/北京办事处", **rows):
    form = {"business_key": key, "d.0.key": "office", "d.0.value": office, **rows}
    return auth.post("/start/approval", form)


def test_the_menu_links_to_start_and_history(client, auth):
    auth.login("bj")
    page = client.get("/").get_data(as_text=True)
    assert 'href="/start/"' in page and "发起流程" in page
    assert 'href="/history/"' in page and "我的已办" in page


def test_the_page_lists_what_my_roles_may_start_with_a_suggested_key(client, auth):
    auth.login("bj")  # 办事处 is a lane of the approval process
    page = client.get("/start/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "费用申请审批" in text and 'action="/start/approval"' in text
    assert f'value="{SUGGESTED}"' in text
    assert 'class="active">发起流程' in text.replace('href="/start/" ', "")


def test_someone_with_no_lane_role_sees_nothing_to_start_and_may_not_post(client, auth, flow):
    auth.login("outsider")  # nor may see the process: the answer for one that does not exist
    text = client.get("/start/").get_data(as_text=True)
    assert "您目前没有可以发起的流程" in text and 'action="/start/approval"' not in text
    response = _start(auth)
    assert response.status_code == 404
    assert "没有找到流程 &#39;approval&#39;, 请先部署" in response.get_data(as_text=True)
    flow.start()  # by bj, who then leaves 办事处: the instance keeps the process visible, starting it is refused
    flow.leave_the_lanes("bj")
    auth.logout()
    auth.login("bj")
    assert 'action="/start/approval"' not in client.get("/start/").get_data(as_text=True)
    response = _start(auth)
    assert response.status_code == 403 and "泳道角色" in response.get_data(as_text=True)


def test_an_unknown_process_is_404(auth):
    auth.login("admin")
    response = auth.post("/start/nope", {"business_key": "x"})
    assert response.status_code == 404 and "没有找到流程 &#39;nope&#39;" in response.get_data(as_text=True)


def test_a_view_only_process_is_not_offered_and_cannot_be_started(client, auth, flow):
    with open("tests/fixtures/approval.bpmn", "rb") as f:
        view_only = f.read().replace(b'isExecutable="true"', b'isExecutable="false"') \
            .replace(b'"approval"', b'"approval_view"')
    flow.tx(lambda s: flow.services.engine.deploy(s, view_only, "view.bpmn", "admin"))
    auth.login("admin")
    text = client.get("/start/").get_data(as_text=True)
    assert 'action="/start/approval"' in text and 'action="/start/approval_view"' not in text
    response = auth.post("/start/approval_view", {"business_key": "x"})
    assert response.status_code == 403 and "仅供查看" in response.get_data(as_text=True)


def test_starting_goes_to_the_new_instance(client, auth, flow):
    auth.login("bj")
    response = _start(auth, **{"d.1.key": "budget", "d.1.value": "12.5"})
    assert response.status_code == 302
    instance_id = int(response.headers["Location"].rsplit("/", 1)[1])
    instance = flow.tx(lambda s: s.get(ProcessInstance, instance_id))
    assert instance.business_key == SUGGESTED and instance.started_by == "bj"
    data = flow.tx(lambda s: flow.services.engine.workflow_data(s, instance_id))
    assert data["office"] == "华北/北京办事处" and data["budget"] == 12.5
    page = client.get("/start/").get_data(as_text=True)  # the next page shows the message
    assert f"已发起流程实例 {instance_id} (业务键「{SUGGESTED}」)" in page
    assert f'value="{SUGGESTED} (2)"' in page  # the next suggestion steps past the key just used


def test_a_duplicate_key_says_so_and_keeps_what_was_typed(client, auth, flow):
    instance_id = flow.start(key="2027-04 北京")
    auth.login("bj")
    response = _start(auth, key="2027-04 北京", **{"d.1.key": "budget", "d.1.value": "7"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert f"业务键「2027-04 北京」已被本流程的实例 {instance_id} 使用, 请换一个" in text
    assert 'value="2027-04 北京"' in text and 'value="华北/北京办事处"' in text and 'value="budget"' in text
    assert "<details open>" in text


def test_a_key_is_required_and_not_too_long(auth):
    auth.login("bj")
    blank = _start(auth, key="   ")
    assert blank.status_code == 422 and "请填写业务键" in blank.get_data(as_text=True)
    long = _start(auth, key="年" * 256)
    assert long.status_code == 422 and "业务键最多 255 个字" in long.get_data(as_text=True)
    assert 'value="' + "年" * 256 + '"' in long.get_data(as_text=True)


def test_a_bad_data_name_is_explained_with_the_key_kept(auth):
    auth.login("bj")
    response = auth.post("/start/approval", {"business_key": "A-7", "d.0.key": "1 office", "d.0.value": "x"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "「1 office」不能作为数据名称" in text and 'value="A-7"' in text and 'value="1 office"' in text


def test_the_engine_refuses_system_fields(auth):
    auth.login("bj")
    response = _start(auth, **{"d.1.key": "started_by", "d.1.value": "boss"})
    assert response.status_code == 422
    assert "初始数据不能设置系统字段: started_by" in response.get_data(as_text=True)


def test_the_start_page_needs_login(client):
    assert client.get("/start/").status_code == 302
    assert client.post("/start/approval").status_code == 400  # no CSRF token: refused before anything else


def test_the_page_in_english(client, auth):
    auth.login("bj")
    auth.post("/lang/en", {"next": "/start/"})
    text = client.get("/start/").get_data(as_text=True)
    assert "Start a process" in text and "The processes you may start" in text


def test_a_suggested_key_names_the_calendar_period():
    now = datetime(2027, 4, 30, 20, 0, tzinfo=COMPANY_TZ)
    monthly = ProcessDefinition(process_id="SM1_3", name="SM1.3 月度销售计划制定流程",
                                start_cycle='"R/2027-01-02T09:00:00+08:00/P1M"')
    yearly = ProcessDefinition(process_id="SM2_2", name="SM2.2 年度分销商维护流程",
                               start_cycle='"R/2027-01-01T09:00:00+08:00/P1Y"')
    manual = ProcessDefinition(process_id="SM2_1", name="SM2.1 新分销商的选择与评估流程", start_cycle=None)
    engine = Engine(default_registry())
    assert engine.period_key_at(monthly, now) == "2027-04 月度销售计划"
    assert engine.period_key_at(yearly, now) == "2027 年度分销商维护"
    assert engine.period_key_at(manual, now) == "2027-04-30 新分销商的选择与评估"
    # company time decides the period: 2027-04-30 20:00 in Beijing is still April, 2027-05-01 00:30 is May
    assert engine.period_key_at(monthly, datetime(2027, 4, 30, 16, 30, tzinfo=COMPANY_TZ)) == "2027-04 月度销售计划"


def test_a_link_to_one_process_opens_its_card(client, auth):
    auth.login("bj")
    response = client.get("/start/approval")
    assert response.status_code == 302 and response.headers["Location"] == "/start/#start-approval"
