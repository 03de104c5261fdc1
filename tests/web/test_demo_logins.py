"""The README's promise: `smflow demo load` prints a login for every role, and each one logs in."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from web.app import create_app
from web.cli import main
from web.demo import demo_data

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_demo_load_prints_a_login_for_every_role_that_logs_in(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(main, ["--db", url, "demo", "load"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = {}  # login → (role@scope, password), from the table after "演示账号"
    for line in result.output.split("演示账号", 1)[1].splitlines():
        cells = line.split()
        if len(cells) >= 4 and "@" in cells[-2] and cells[0] != "登录名":
            printed[cells[0]] = (cells[-2], cells[-1])
    roles = {g["role"] for u in demo_data()["users"] for g in u["grants"]}
    assert {grant.split("@")[0] for grant, _ in printed.values()} == roles
    assert {u["login"] for u in demo_data()["users"]} == set(printed)
    # A first login finds work: the demo starts next month's sales plan, the annual plan and a selection.
    samples = re.findall(r"示例流程: (.+) \(由 (\w+) 发起\)", result.output)
    assert [login for _key, login in samples] == ["planning", "vp", "sales_dev"]
    assert samples[1][0].endswith(" 年度销售目标、营销计划和预算编制")
    again = CliRunner().invoke(main, ["--db", url, "demo", "load"], catch_exceptions=False)
    assert again.exit_code == 0 and "示例流程" not in again.output  # loading twice starts nothing more
    for login, step in (("office_huabei_beijing", "SM1_3"), ("vp", "SM1_1"), ("sales_dev", "SM2_1")):
        listed = CliRunner().invoke(main, ["--db", url, "--json", "tasks", "--as", login], catch_exceptions=False)
        assert step in {task["process_id"] for task in json.loads(listed.stdout)}, login

    app = create_app({"TESTING": True, "SECRET_KEY": "k", "DATABASE_URL": url, "SMFLOW_CLOCK": clock})
    try:
        for login in ("vp", "planning", "rm_huabei", "office_huabei_beijing", "admin"):  # the README's examples
            client = app.test_client()
            token = TOKEN.search(client.get("/auth/login").get_data(as_text=True)).group(1)
            response = client.post("/auth/login", data={"login": login, "password": printed[login][1],
                                                        "csrf_token": token})
            assert response.status_code == 302, login
            assert f"({login})" in client.get("/").get_data(as_text=True)
        # the people who may start the manual's processes see them on 发起流程
        client = app.test_client()
        token = TOKEN.search(client.get("/auth/login").get_data(as_text=True)).group(1)
        client.post("/auth/login", data={"login": "vp", "password": printed["vp"][1], "csrf_token": token})
        page = client.get("/start/").get_data(as_text=True)
        assert 'action="/start/SM1_1"' in page and "年度销售目标、营销计划和预算编制的制定" in page
    finally:
        app.extensions["smflow"].sessions.kw["bind"].dispose()
