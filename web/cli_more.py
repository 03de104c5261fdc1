"""`smflow lint`, `smflow demo load`, `smflow worker` and `smflow serve` (gunicorn, see web/serving.py)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click

from engine.fidelity import lint_bpmn, load_step_table

from .cli import Context, _json_flag, main, pass_ctx, users
from .cli_output import emit, table
from .demo import demo_data, deploy_manual, load_organisation, start_samples


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
    c.tx(lambda s: start_samples(s, c.engine, now, click.echo))
    click.echo("\n演示账号 (密码均为下列所示):")
    click.echo(table(["登录名", "姓名", "角色@范围", "密码"],
                     [[u["login"], u["name"], ", ".join(f"{g['role']}@{g['scope']}" for g in u["grants"]),
                       u["password"]] for u in data["users"]]))


@main.command()
@click.option("--once", is_flag=True, help="做完此刻到期的一切后退出")
@click.option("--interval", default=10.0, show_default=True, help="每轮间隔秒数")
@click.option("--now", "now_text", help="测试时钟: 以此 ISO-8601 时刻为当前时间 (无时区即北京时间)")
@click.option("--lease", default=300.0, show_default=True, envvar="SMFLOW_WORKER_LEASE",
              help="租约秒数: 崩溃的后台进程所领取的任务在此之后由其他进程接手")
@click.option("--batch", default=10, show_default=True, help="每次领取的任务数")
@click.option("--handlers", "handler_modules", multiple=True, envvar="SMFLOW_HANDLERS",
              help="额外的处理程序模块 (文件路径或模块名, 定义 register(registry))")
@click.option("--smtp-host", envvar="SMFLOW_SMTP_HOST", help="邮件服务器 (不设则不发邮件)")
@click.option("--smtp-port", type=int, envvar="SMFLOW_SMTP_PORT", help="邮件服务器端口 (默认 25)")
@click.option("--smtp-from", envvar="SMFLOW_SMTP_FROM", help="发件人地址")
@pass_ctx
def worker(c: Context, once, interval, now_text, lease, batch, handler_modules, smtp_host, smtp_port, smtp_from):
    """后台任务: 按日历启动流程、触发到期的定时器、执行服务任务 (租约、重试、事故)、发送通知邮件"""
    from engine.worker import describe

    runner = _make_worker(c, now_text, lease, batch, handler_modules, smtp_host, smtp_port, smtp_from)
    if once:
        report = runner.run_once(whole_pass=True)
        if c.as_json:
            emit(report.to_dict(), True)
        else:
            click.echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {describe(report)}")
        return
    click.echo(f"smflow worker {runner.owner} 已启动 (每 {interval:g} 秒一轮, Ctrl+C 退出)")
    from .serving import keep_out_of_full_collections

    keep_out_of_full_collections()
    # SIGTERM or Ctrl+C: finish the job at hand, hand the other claimed ones back, then exit.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: runner.stop())
    runner.run_forever(interval)


def _make_worker(c: Context, now_text, lease, batch, handler_modules, smtp_host, smtp_port, smtp_from):
    from datetime import timedelta

    from engine import Engine, Sandbox
    from engine.mailer import Mailer, SmtpSettings
    from engine.timers import parse_when
    from engine.worker import ShiftedClock, Worker
    from handlers import default_registry

    registry = default_registry()
    for module in handler_modules:
        _load_handlers(module, registry)
    clock = None
    if now_text:
        try:
            clock = ShiftedClock(parse_when(now_text))
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(f"'{now_text}' 不是 ISO-8601 时刻", param_hint="--now") from exc
    c._engine = Engine(registry, Sandbox(), clock)
    settings = SmtpSettings.from_env(smtp_host, smtp_port, smtp_from)
    return Worker(c.engine, c.sessions, lease=timedelta(seconds=lease), batch=batch,
                  mailer=Mailer(settings) if settings else None, log=lambda m: click.echo(m, err=True))


def _load_handlers(name: str, registry) -> None:
    """A module (a dotted name or a .py file) whose `register(registry)` adds handlers by topic."""
    import importlib
    import importlib.util

    for part in (p for p in name.replace(",", " ").split() if p):
        try:
            if part.endswith(".py"):
                spec = importlib.util.spec_from_file_location(Path(part).stem, part)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            else:
                module = importlib.import_module(part)
            module.register(registry)
        except (ImportError, OSError, AttributeError) as exc:
            raise click.BadParameter(f"无法载入处理程序模块 '{part}': {exc}", param_hint="--handlers") from exc


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--workers", "web_workers", type=int,
              help="网页进程数 (gunicorn; 默认 PostgreSQL 为 CPU 核数 × 2, 最多 8; SQLite 为 1)")
@click.option("--threads", type=int, help="每个网页进程的线程数 (默认 PostgreSQL 为 2, SQLite 为 4)")
@click.option("--worker/--no-worker", default=True, show_default=True,
              help="同时启动一个后台任务进程 (单机的默认做法; 多进程部署请单独运行 smflow worker)")
@click.option("--interval", default=10.0, show_default=True, help="后台任务每轮间隔秒数")
@click.option("--dev", is_flag=True, help="用 werkzeug 开发服务器 (单进程, 调试用)")
@pass_ctx
def serve(c: Context, host, port, web_workers, threads, worker, interval, dev):
    """启动网页 (gunicorn 多进程; 任务收件箱、流程图、管理), 默认同时启动后台任务"""
    from .serving import serve_app, web_processes

    c.sessions  # noqa: B018 - create or check the schema once, before several processes start
    url = c.db_url
    sqlite = c.sessions.kw["bind"].dialect.name == "sqlite"
    c.close()  # the web processes fork from this one: none may inherit its pooled connection
    default_workers, default_threads = web_processes(sqlite)
    serve_app(url, host, port, web_workers or default_workers, threads or default_threads, worker, interval, dev,
              click.echo)


@users.command("email")
@click.argument("login")
@click.argument("address", required=False)
@pass_ctx
def users_email(c: Context, login, address):
    """设置用户的邮件地址 (通知在配置了邮件服务器时也发邮件); 不给地址则清除"""
    from engine.store import org

    def work(s):
        org.get_user(s, login).email = address or None
    c.tx(work)
    click.echo(f"{login} 的邮件地址: {address}" if address else f"已清除 {login} 的邮件地址")
