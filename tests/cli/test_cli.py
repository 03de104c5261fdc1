"""The `smflow` command contract: tables by default, --json for scripts, exit code 2 with one line on errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from web.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def run(db_url):
    runner = CliRunner()

    def invoke(*args, expect=0):
        result = runner.invoke(main, ["--db", db_url, *args], catch_exceptions=False)
        assert result.exit_code == expect, (result.output, result.stderr)
        return result

    invoke("db", "upgrade")
    return invoke


def as_json(result):
    return json.loads(result.stdout)


def test_the_whole_contract(run):
    deployed = as_json(run("deploy", str(FIXTURES / "approval.bpmn"), "--json"))
    # Nobody holds the lanes' roles yet: deployed, with a warning per lane (not an error).
    assert [w["element_id"] for w in deployed[0].pop("warnings")] == ["lane_office", "lane_rm"]
    assert deployed == [{"process_id": "approval", "version": 1, "status": "deployed", "name": "费用申请审批",
                         "executable": True}]
    assert as_json(run("deploy", str(FIXTURES / "approval.bpmn"), "--json"))[0]["status"] == "unchanged"
    again = run("deploy", str(FIXTURES / "approval.bpmn"))
    assert "未变化" in again.stdout and "提醒: 泳道「办事处」的角色 办事处 目前没有任何用户" in again.stderr
    assert as_json(run("--json", "processes")) == [{"process_id": "approval", "version": 1, "name": "费用申请审批",
                                                    "executable": True}]
    run("users", "add", "bj", "--name", "北京代表", "--password", "pw")
    run("users", "grant", "bj", "办事处", "--scope", "华北/北京办事处")
    run("users", "add", "rm", "--name", "华北经理")
    run("users", "grant", "rm", "大区经理", "--scope", "华北")
    listed = as_json(run("users", "list", "--json"))
    assert listed[0] == {"login": "bj", "name": "北京代表", "grants": [{"role": "办事处", "scope": "华北/北京办事处"}]}

    started = as_json(run("start", "approval", "--as", "bj", "--data", '{"office": "华北/北京办事处"}',
                          "--key", "A-1", "--json"))
    (task,) = as_json(run("tasks", "--as", "bj", "--json"))
    assert task["instance_id"] == started["instance_id"]
    assert (task["step"], task["role"], task["scope"], task["state"]) == ("1", "办事处", "华北/北京办事处", "open")
    assert task["form"][0] == {"id": "amount", "label": "金额(万元)", "type": "double", "required": True,
                               "options": None}
    table = run("tasks", "--as", "bj").stdout
    assert "1 提交费用申请" in table and "华北/北京办事处" in table

    bad = run("complete", str(task["task_id"]), "--as", "bj", "--data", '{"amount": "x"}', "--json", expect=2)
    errors = as_json(bad)["errors"]
    assert {e["field"] for e in errors} == {"amount", "purpose"}
    assert bad.stderr.startswith("错误: ") and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

    run("claim", str(task["task_id"]), "--as", "bj")
    denied = run("complete", str(task["task_id"]), "--as", "rm", "--data", "{}", expect=2)
    assert "已由" in denied.stderr
    run("complete", str(task["task_id"]), "--as", "bj", "--data",
        '{"amount": 3, "purpose": "会议", "lines": []}')
    again = run("complete", str(task["task_id"]), "--as", "bj", "--data", "{}", "--json", expect=2)
    assert "已由 北京代表 (bj)" in as_json(again)["errors"][0]["message"]

    shown = as_json(run("show", str(started["instance_id"]), "--json"))
    assert set(shown) >= {"instance_id", "process_id", "version", "status", "tasks", "events", "data"}
    assert [t["state"] for t in shown["tasks"]] == ["completed", "open"]
    assert as_json(run("instances", "--process", "approval", "--json")) == [{
        "instance_id": started["instance_id"], "process_id": "approval", "version": 1, "status": "running",
        "business_key": "A-1"}]


def test_user_errors_exit_2_without_traceback(run, tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes((FIXTURES / "approval.bpmn").read_bytes().replace(b"decision == 'approve'", b"import os"))
    result = run("deploy", str(bad), "--json", expect=2)
    (error,) = as_json(result)["errors"]
    line = next(n for n, text in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1) if 'id="f4"' in text)
    assert (error["element_id"], error["line"]) == ("f4", line)
    assert set(error) >= {"element_id", "element_name", "line", "message"}
    assert as_json(run("processes", "--json")) == []
    for args in (["start", "nope", "--as", "x"], ["show", "42"], ["tasks", "--as", "ghost"],
                 ["start", "nope", "--as", "x", "--data", "{oops"]):
        result = run(*args, expect=2)
        assert result.stderr.startswith("错误: ") and "Traceback" not in result.output


def test_the_installed_command_runs(tmp_path):
    exe = Path(sys.executable).with_name("smflow")  # installed beside the interpreter running the tests
    assert exe.exists(), "the smflow command is installed by `pip install -e .`"
    env = dict(os.environ, SMFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    subprocess.run([exe, "db", "upgrade"], check=True, env=env, capture_output=True)
    result = subprocess.run([exe, "show", "1"], env=env, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("错误: 没有编号为 1 的流程实例")


CONFORMANCE = Path("/work/shared/conformance/miwg-reference")
if not CONFORMANCE.exists():
    CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "miwg-reference"


def test_every_conformance_file_deploys_or_exits_2_with_element_errors(sqlite_url):
    runner = CliRunner()
    files = sorted(CONFORMANCE.glob("*.bpmn"))
    assert len(files) >= 20
    outcomes = {}
    for path in files:
        result = runner.invoke(main, ["--db", sqlite_url, "deploy", str(path), "--json"], catch_exceptions=False)
        assert result.exit_code in (0, 2), (path.name, result.output)
        body = json.loads(result.stdout)
        if result.exit_code == 2:
            assert body["errors"] and all(e["element_id"] and e["line"] and e["message"] for e in body["errors"])
        else:
            assert all(r["status"] == "deployed" for r in body)
        outcomes[path.name] = result.exit_code
    assert outcomes["A.1.0.bpmn"] == 0 and outcomes["C.6.0.bpmn"] == 2


def test_the_worker_starts_each_period_once_and_keeps_going(run, tmp_path):
    monthly = tmp_path / "monthly.bpmn"
    monthly.write_bytes((FIXTURES / "deadline.bpmn").read_bytes().replace(
        b"R/2027-01-02T09:00:00+08:00/P1M", b"R/2020-01-02T09:00:00+08:00/P1M"))
    run("deploy", str(monthly))
    first = run("worker", "--once")
    assert "启动 1 个定时流程" in first.stdout and "出错 0 次" in first.stdout
    assert "启动 0 个定时流程" in run("worker", "--once").stdout
    (instance,) = as_json(run("instances", "--json"))
    assert instance["business_key"].endswith(" 月度上报") and instance["status"] == "running"


def test_lint_passes_for_the_manual_and_names_a_misplaced_step(run, tmp_path):
    manual = sorted((Path(__file__).parents[2] / "bpmn").glob("SM*.bpmn"))
    assert len(manual) == 5
    assert "5 个文件与手册步骤表一致" in run("lint", *map(str, manual)).stdout
    broken = tmp_path / "SM1_3.bpmn"
    broken.write_text(manual[2].read_text(encoding="utf-8").replace('value="16"', 'value="61"', 1), encoding="utf-8")
    errors = as_json(run("lint", str(broken), "--json", expect=2))["errors"]
    assert {e["step"] for e in errors} >= {"16"}


def test_a_new_database_is_created_and_an_old_one_asks_for_an_upgrade(tmp_path):
    from alembic import command

    from engine.store.db import _alembic_config, make_engine

    runner = CliRunner()
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = runner.invoke(main, ["--db", fresh, "deploy", str(FIXTURES / "approval.bpmn")], catch_exceptions=False)
    assert result.exit_code == 0 and "已创建新数据库" in result.stderr and "已部署" in result.stdout

    old = f"sqlite:///{tmp_path / 'old.db'}"
    config = _alembic_config()
    db = make_engine(old)
    with db.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    db.dispose()
    result = runner.invoke(main, ["--db", old, "processes"], catch_exceptions=False)
    assert result.exit_code == 2 and "smflow db upgrade" in result.stderr
    assert runner.invoke(main, ["--db", old, "db", "upgrade"], catch_exceptions=False).exit_code == 0
    assert runner.invoke(main, ["--db", old, "processes"], catch_exceptions=False).exit_code == 0


def test_start_as_a_person_keeps_the_webs_rules_and_messages(run):
    from web.i18n import t

    run("deploy", str(FIXTURES / "approval.bpmn"))
    for login, role, scope in (("bj", "办事处", "华北/北京办事处"), ("rm", "大区经理", "华北"), ("boss", "admin", "*")):
        run("users", "add", login, "--name", login)
        run("users", "grant", login, role, "--scope", scope)
    run("users", "add", "guest", "--name", "访客")

    outsider = run("start", "approval", "--as", "guest", expect=2)
    assert outsider.stderr == f"错误: {t('processes.cannot_start', pid='approval')}\n"  # the web's words
    assert "只有持有流程 approval 某一泳道角色的人员 (或管理员) 可以发起该流程" in outsider.stderr
    for value in ("华东/上海办事处", "华北", "*"):  # another office, the region above, the whole company
        refused = run("start", "approval", "--as", "bj", "--data", json.dumps({"office": value}), "--json", expect=2)
        (problem,) = as_json(refused)["errors"]
        assert (problem["field"], problem["message"]) == (
            "office", f"初始数据「office」决定任务发往的组织范围, 其值 '{value}' 不在您的权限范围内")
        assert "(您的范围: 华北/北京办事处, 及其下级范围)" in refused.stderr and "Traceback" not in refused.stderr
        assert refused.stderr.count(problem["message"]) == 1  # said once, not again as its problem
    assert as_json(run("instances", "--json")) == []  # nothing was started

    run("start", "approval", "--as", "bj", "--data", '{"office": "华北/北京办事处"}')
    run("start", "approval", "--as", "rm", "--data", '{"office": "华北/天津办事处"}')  # under the region granted
    run("start", "approval", "--as", "boss", "--data", '{"office": "华东/上海办事处"}')  # administrators: anywhere
    assert len(as_json(run("instances", "--json"))) == 3
