"""`smflow lint`, `smflow demo load`, `smflow worker` and `smflow serve`."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import click

from engine import SmflowError
from engine.fidelity import lint_bpmn, load_step_table

from .cli import Context, _json_flag, main, pass_ctx
from .cli_output import emit, table
from .demo import demo_data, deploy_manual, load_organisation


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@_json_flag
@pass_ctx
def lint(c: Context, files):
    """对照手册的步骤表检查流程图 (每个步骤恰好一次, 在正确的泳道, 带编号)"""
    step_table = load_step_table()
    problems = [(name, p) for name in files for p in lint_bpmn(Path(name).read_bytes(), step_table)]
    if c.as_json:
        emit({"errors": [{"file": n, "process_id": p.process_id, "step": p.step, "element_id": p.element_id,
                          "message": p.message} for n, p in problems]}, True)
    elif problems:
        click.echo(table(["文件", "流程", "步骤", "元素", "问题"],
                         [[Path(n).name, p.process_id, p.step or "", p.element_id or "", p.message]
                          for n, p in problems]), err=True)
    else:
        click.echo(f"{len(files)} 个文件与手册步骤表一致")
    if problems:
        sys.exit(2)


@main.group()
def demo():
    """演示数据"""


@demo.command("load")
@pass_ctx
def demo_load(c: Context):
    """载入演示组织 (大区、办事处、渠道、产品线、每个角色的用户) 并部署手册的五个流程"""
    from engine.store.db import upgrade

    upgrade(c.sessions.kw["bind"])
    data = demo_data()
    now = c.engine.clock.now()
    c.tx(lambda s: load_organisation(s, data, now, click.echo))
    c.tx(lambda s: deploy_manual(s, c.engine, "admin", click.echo))
    click.echo("\n演示账号 (密码均为下列所示):")
    click.echo(table(["登录名", "姓名", "角色@范围", "密码"],
                     [[u["login"], u["name"], ", ".join(f"{g['role']}@{g['scope']}" for g in u["grants"]),
                       u["password"]] for u in data["users"]]))


@main.command()
@click.option("--once", is_flag=True, help="只运行一轮")
@click.option("--interval", default=30.0, show_default=True, help="每轮间隔秒数")
@pass_ctx
def worker(c: Context, once, interval):
    """后台任务: 按日历启动流程、触发到期的定时器、重试失败的服务任务"""
    while True:
        report = _worker_round(c)
        click.echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} 启动 {report['started']} 个定时流程, "
                   f"触发 {report['fired']} 个实例的定时器, 重试 {report['retried']} 个服务任务"
                   f" (成功 {report['retried_ok']}), 出错 {report['errors']} 次")
        if once:
            return
        time.sleep(interval)


def _worker_round(c: Context) -> dict:
    """One round; an error in one unit of work is reported and the round goes on with the rest."""
    report = {"started": 0, "fired": 0, "retried": 0, "retried_ok": 0, "errors": 0}

    def attempt(work):
        try:
            return c.tx(work)
        except SmflowError as exc:
            report["errors"] += 1
            click.echo(f"错误: {exc.message}", err=True)
        except Exception as exc:  # noqa: BLE001 - one broken unit of work must not stop the worker
            report["errors"] += 1
            click.echo(f"错误 (程序缺陷, 请报告): {type(exc).__name__}: {exc}", err=True)
        return None

    for process_id in attempt(lambda s: c.engine.scheduled_processes(s)) or []:
        report["started"] += len(attempt(lambda s, p=process_id: c.engine.start_scheduled(s, p)) or [])
    for instance_id in attempt(lambda s: c.engine.due_timer_instances(s)) or []:
        report["fired"] += bool(attempt(lambda s, i=instance_id: c.engine.fire_timers(s, i)))
    for job_id in attempt(lambda s: c.engine.due_jobs(s)) or []:
        report["retried"] += 1
        report["retried_ok"] += bool(attempt(lambda s, j=job_id: c.engine.retry_job(s, j)))
    return report


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--worker/--no-worker", default=True, show_default=True,
              help="在同一进程中运行后台任务 (单机 SQLite 的默认做法; 多进程部署请单独运行 smflow worker)")
@click.option("--interval", default=30.0, show_default=True, help="后台任务每轮间隔秒数")
@pass_ctx
def serve(c: Context, host, port, worker, interval):
    """启动网页 (任务收件箱、流程图、管理)"""
    from .app import create_app

    app = create_app({"DATABASE_URL": c.db_url} if c.db_url else None)
    if worker:
        threading.Thread(target=_worker_loop, args=(c, interval), name="smflow-worker", daemon=True).start()
    click.echo(f"smflow 网页: http://{host}:{port}/  (Ctrl+C 退出)" + (" · 后台任务已启动" if worker else ""))
    app.run(host=host, port=port, threaded=True)


def _worker_loop(c: Context, interval: float) -> None:
    while True:
        report = _worker_round(c)
        if any(report.values()):
            click.echo(f"后台任务: {report}")
        time.sleep(interval)
