"""The `smflow` command. Tables for people, `--json` for scripts; exit code 2 on a user error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from werkzeug.security import generate_password_hash

from engine import Engine, SmflowError, ValidationFailed
from engine.engine import human_task_dict
from engine.store import instances as stored_instances
from engine.store import org
from engine.store.db import ensure_schema, make_engine, make_session_factory, upgrade
from engine.store.definitions import all_versions
from engine.store.unit_of_work import in_transaction
from handlers import default_registry

from .cli_output import emit, fail, table


class Context:
    def __init__(self, db_url: str | None, as_json: bool):
        self.db_url = db_url
        self.as_json = as_json
        self._engine = None
        self._sessions = None
        self.check_schema = True

    @property
    def sessions(self):
        if self._sessions is None:
            self._db = make_engine(self.db_url)
            self._sessions = make_session_factory(self._db)
            if self.check_schema and ensure_schema(self._db):
                click.echo("已创建新数据库", err=True)
        return self._sessions

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(default_registry())
        return self._engine

    def tx(self, work):
        return in_transaction(self.sessions, work)

    def close(self) -> None:
        if self._sessions is not None:
            self._db.dispose()


pass_ctx = click.make_pass_decorator(Context)


class SmflowGroup(click.Group):
    """Turns every SmflowError into a one-line message and exit code 2 (never a traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SmflowError as exc:
            obj = ctx.find_object(Context)
            fail(exc, obj.as_json if obj else False)
        except json.JSONDecodeError as exc:
            obj = ctx.find_object(Context)
            fail(ValidationFailed(f"--data 不是合法的 JSON: {exc}", []), obj.as_json if obj else False)


@click.group(cls=SmflowGroup)
@click.option("--db", "db_url", envvar="SMFLOW_DATABASE_URL", help="数据库 URL (默认 sqlite:///smflow.db)")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.pass_context
def main(ctx, db_url, as_json):
    """smflow — 营销管理流程引擎"""
    ctx.obj = Context(db_url, as_json)
    ctx.call_on_close(ctx.obj.close)


def _json_flag(f):
    """Accept --json after the sub-command too (`smflow tasks --as x --json`)."""

    def callback(ctx, _param, value):
        if value:
            ctx.find_object(Context).as_json = True

    return click.option("--json", "as_json_local", is_flag=True, expose_value=False, callback=callback,
                        help="以 JSON 输出")(f)


@main.group()
def db():
    """数据库维护"""


@db.command("upgrade")
@pass_ctx
def db_upgrade(c: Context):
    """把数据库结构升级到最新版本"""
    c.check_schema = False
    sessions = c.sessions
    upgrade(sessions.kw["bind"])
    click.echo("数据库已是最新版本")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "login", help="部署人")
@_json_flag
@pass_ctx
def deploy(c: Context, files, login):
    """部署 BPMN 文件 (每个可执行流程成为一个新版本)"""
    results, problems = [], []
    for name in files:
        data = Path(name).read_bytes()
        try:
            results += c.tx(lambda s, data=data, name=name: c.engine.deploy(s, data, Path(name).name, login))
        except ValidationFailed as exc:
            problems.append((name, exc))
    if problems:
        errors = [dict(p.to_dict(), file=name) for name, exc in problems for p in exc.problems]
        if c.as_json:
            emit({"errors": errors, "deployed": [r.to_dict() for r in results]}, True)
        else:
            for name, exc in problems:
                click.echo(f"{name}: {exc.message}", err=True)
                for p in exc.problems:
                    where = " ".join(x for x in (f"行 {p.line}" if p.line else "", p.element_id or "",
                                                 f"「{p.element_name}」" if p.element_name else "") if x)
                    click.echo(f"  - {where}: {p.message}" if where else f"  - {p.message}", err=True)
        sys.exit(2)
    if c.as_json:
        emit([r.to_dict() for r in results], True)
        return
    rows = [[r.process_id, r.version, {"deployed": "已部署", "unchanged": "未变化"}[r.status],
             r.name or "", "" if r.executable else "仅供查看 (不可执行)"] for r in results]
    click.echo(table(["流程", "版本", "结果", "名称", "备注"], rows))
    for w in {w.to_dict()["message"]: w for r in results for w in r.warnings}.values():  # once per file
        click.echo(f"提醒: {w.message}" + (f" ({w.element_id})" if w.element_id else ""), err=True)


@main.command()
@_json_flag
@pass_ctx
def processes(c: Context):
    """列出已部署的流程版本"""
    rows = c.tx(lambda s: [{"process_id": d.process_id, "version": d.version, "name": d.name,
                            "executable": d.executable} for d in all_versions(s)])
    if c.as_json:
        emit(rows, True)
    else:
        click.echo(table(["流程", "版本", "名称", "可执行"],
                         [[r["process_id"], r["version"], r["name"] or "", "是" if r["executable"] else "否"]
                          for r in rows]))


@main.group()
def users():
    """用户与权限"""


@users.command("add")
@click.argument("login")
@click.option("--name", required=True, help="姓名")
@click.option("--password", help="密码 (不给则不能登录网页)")
@pass_ctx
def users_add(c: Context, login, name, password):
    """新增用户"""
    hashed = generate_password_hash(password) if password else None
    c.tx(lambda s: org.add_user(s, login, name, hashed))
    click.echo(f"已新增用户 {login} ({name})")


@users.command("grant")
@click.argument("login")
@click.argument("role")
@click.option("--scope", default="*", show_default=True, help="范围: * 为全公司, 如 华北 或 华北/北京办事处")
@pass_ctx
def users_grant(c: Context, login, role, scope):
    """授予角色 (在某个范围内)"""
    added = c.tx(lambda s: org.grant(s, login, role, scope))
    click.echo(f"已授予 {login}: {role} @ {scope}" if added else f"{login} 已有 {role} @ {scope}")


@users.command("list")
@_json_flag
@pass_ctx
def users_list(c: Context):
    """列出用户及其角色"""
    rows = c.tx(lambda s: [{"login": u.login, "name": u.name,
                            "grants": [{"role": g.role, "scope": g.scope} for g in grants]}
                           for u, grants in org.users_with_grants(s)])
    if c.as_json:
        emit(rows, True)
    else:
        click.echo(table(["登录名", "姓名", "角色@范围"],
                         [[r["login"], r["name"], ", ".join(f"{g['role']}@{g['scope']}" for g in r["grants"])]
                          for r in rows]))


def _data(text: str | None) -> dict:
    value = json.loads(text) if text else {}
    if not isinstance(value, dict):
        raise ValidationFailed("--data 应为 JSON 对象, 例如 '{\"amount\": 12}'", [])
    return value


@main.command()
@click.argument("process_id")
@click.option("--as", "login", required=True, help="发起人")
@click.option("--data", "data_text", help="初始数据 (JSON 对象)")
@click.option("--key", "business_key", help="业务键, 如 2027-04")
@click.option("--version", type=int, help="版本 (默认最新)")
@_json_flag
@pass_ctx
def start(c: Context, process_id, login, data_text, business_key, version):
    """启动流程实例"""
    from .processes import start_as  # the web's rules for a person starting: the command acts as that person

    data = _data(data_text)
    instance_id = c.tx(lambda s: start_as(c.engine, s, process_id, org.actor(s, login), data, version,
                                          business_key))
    emit({"instance_id": instance_id}, c.as_json, f"已启动流程实例 {instance_id}")


@main.command()
@click.option("--as", "login", required=True, help="用户")
@_json_flag
@pass_ctx
def tasks(c: Context, login):
    """我的待办任务"""
    rows = c.tx(lambda s: [human_task_dict(t) for t in c.engine.inbox(s, login)])
    if c.as_json:
        emit(rows, True)
    else:
        click.echo(table(["任务", "实例", "流程", "步骤", "名称", "角色", "范围", "状态", "认领人", "期限"],
                         [[r["task_id"], r["instance_id"], r["process_id"], r["step"] or "", r["name"], r["role"],
                           r["scope"], r["state"], r["assignee"] or "", (r["due_at"] or "")[:16]] for r in rows]))


@main.command()
@click.argument("task_id", type=int)
@click.option("--as", "login", required=True)
@_json_flag
@pass_ctx
def claim(c: Context, task_id, login):
    """认领任务"""
    c.tx(lambda s: c.engine.claim(s, task_id, login))
    emit({"task_id": task_id, "state": "claimed"}, c.as_json, f"已认领任务 {task_id}")


@main.command()
@click.argument("task_id", type=int)
@click.option("--as", "login", required=True)
@_json_flag
@pass_ctx
def unclaim(c: Context, task_id, login):
    """退回认领的任务"""
    c.tx(lambda s: c.engine.unclaim(s, task_id, login))
    emit({"task_id": task_id, "state": "open"}, c.as_json, f"已退回任务 {task_id}")


@main.command()
@click.argument("task_id", type=int)
@click.option("--as", "login", required=True)
@click.option("--data", "data_text", required=True, help="表单数据 (JSON 对象)")
@_json_flag
@pass_ctx
def complete(c: Context, task_id, login, data_text):
    """提交任务"""
    data = _data(data_text)
    c.tx(lambda s: c.engine.complete(s, task_id, login, data))
    emit({"task_id": task_id, "state": "completed"}, c.as_json, f"已完成任务 {task_id}")


@main.command()
@click.argument("instance_id", type=int)
@_json_flag
@pass_ctx
def show(c: Context, instance_id):
    """查看流程实例"""
    info = c.tx(lambda s: c.engine.show(s, instance_id))
    if c.as_json:
        emit(info, True)
        return
    click.echo(f"实例 {info['instance_id']}  {info['process_id']} v{info['version']}  状态: {info['status']}"
               f"  业务键: {info['business_key'] or ''}")
    click.echo(table(["任务", "步骤", "名称", "角色", "范围", "状态", "处理人"],
                     [[t["task_id"], t["step"] or "", t["name"], t["role"], t["scope"], t["state"],
                       t["completed_by"] or t["assignee"] or ""] for t in info["tasks"]]))


@main.command("instances")
@click.option("--process", "process_id")
@_json_flag
@pass_ctx
def instances_cmd(c: Context, process_id):
    """列出流程实例"""
    rows = c.tx(lambda s: [{"instance_id": i.id, "process_id": i.process_id, "version": i.version,
                            "status": i.status, "business_key": i.business_key}
                           for i in stored_instances.listing(s, process_id)])
    if c.as_json:
        emit(rows, True)
    else:
        click.echo(table(["实例", "流程", "版本", "状态", "业务键"],
                         [[r["instance_id"], r["process_id"], r["version"], r["status"], r["business_key"] or ""]
                          for r in rows]))


from . import cli_data, cli_more  # noqa: E402,F401  (register backup, restore, archive verify; lint, demo, worker, serve)
