"""`smflow backup`, `smflow restore` (SQLite), `smflow archive verify` (the 备案 hash chain) and
`smflow attachments clean` (uploaded files nothing uses).

PostgreSQL is backed up with its own tools (`pg_dump -Fc` / `pg_restore`, see README): they take a
consistent snapshot while the server runs, which a row-by-row copy of ours could not promise.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from engine import ValidationFailed
from engine.clock import COMPANY_TZ
from engine.store import archive_chain
from engine.store.attachments import UNUSED_GRACE, Unused
from engine.store.db import database_url

from .cli import Context, _json_flag, main, pass_ctx
from .cli_output import emit, table

PG_HINT = ("PostgreSQL 请用 pg_dump / pg_restore 备份与恢复, 例如: pg_dump -Fc -f smflow.dump smflow; "
           "pg_restore --clean --if-exists -d smflow smflow.dump (见 README)")


def _sqlite_path(c: Context) -> Path:
    url = make_url(database_url(c.db_url))
    if url.get_backend_name() != "sqlite":
        raise ValidationFailed(PG_HINT, [])
    if not url.database or url.database == ":memory:":
        raise ValidationFailed("内存数据库不能备份", [])
    return Path(url.database)


def _check_backup_file(path: Path) -> int:
    """A readable, intact smflow SQLite file: returns its number of process instances."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise ValidationFailed(f"备份文件 {path} 已损坏 (integrity_check 未通过)", [])
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "process_instance", "archive_record"} <= tables:
                raise ValidationFailed(f"{path} 不是 smflow 的数据库备份", [])
            return conn.execute("SELECT count(*) FROM process_instance").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise ValidationFailed(f"{path} 不是 SQLite 数据库: {exc}", []) from None


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while other processes write (WAL included)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="覆盖已存在的文件")
@_json_flag
@pass_ctx
def backup(c: Context, file: Path, force: bool):
    """备份数据库到一个文件 (SQLite; PostgreSQL 请用 pg_dump)"""
    source = _sqlite_path(c)
    if not source.exists():
        raise ValidationFailed(f"数据库文件 {source} 不存在", [])
    if file.exists() and not force:
        raise ValidationFailed(f"{file} 已存在 (要覆盖请加 --force)", [])
    if file.exists():
        file.unlink()
    _copy(source, file)
    instances = _check_backup_file(file)
    emit({"file": str(file), "instances": instances, "bytes": file.stat().st_size}, c.as_json,
         f"已备份到 {file} ({instances} 个流程实例, {file.stat().st_size} 字节)")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="不再确认 (会覆盖当前数据库的全部内容)")
@_json_flag
@pass_ctx
def restore(c: Context, file: Path, yes: bool):
    """从备份文件恢复数据库 (SQLite; 请先停止 smflow serve 和 worker)"""
    target = _sqlite_path(c)
    instances = _check_backup_file(file)
    if target.exists() and not yes:
        click.confirm(f"用 {file} 覆盖 {target} 的全部内容?", abort=True)
    _copy(file, target)
    emit({"file": str(file), "database": str(target), "instances": instances}, c.as_json,
         f"已从 {file} 恢复 {target} ({instances} 个流程实例)")


@main.group("archive")
def archive_group():
    """备案记录"""


@archive_group.command("verify")
@_json_flag
@pass_ctx
def archive_verify(c: Context):
    """重新计算备案记录的哈希链, 报告第一处断开 (被修改、删除或插入的记录); 有问题时退出码为 1"""
    result = c.tx(archive_chain.verify)
    if c.as_json:
        emit(result.to_dict(), True)
    elif result.ok:
        click.echo(f"备案链完整: {result.records} 条记录, 链头 {result.head[:16]}")
    else:
        click.echo(f"备案链在记录 {result.broken_id} 处断开: {result.reason} "
                   f"(此前 {result.records - 1} 条完整)", err=True)
    if result.missing_triggers:
        click.echo("警告: 防止修改备案的触发器缺失: " + ", ".join(result.missing_triggers)
                   + " (运行 smflow db upgrade 不会重建; 请检查数据库是否被改动)", err=True)
    if not result.ok or result.missing_triggers:
        sys.exit(1)


@main.group("attachments")
def attachments_group():
    """表单附件"""


@attachments_group.command("clean")
@click.option("--dry-run", is_flag=True, help="只列出将删除的附件, 什么也不删除")
@_json_flag
@pass_ctx
def attachments_clean(c: Context, dry_run: bool):
    """删除无用的附件: 任务已结束 (完成或取消) 满 1 天、上传也满 1 天, 且提交、草稿、后续任务、流程数据和备案都没有
    引用的文件 (如换掉的或放弃的上传)。后台任务 (smflow worker) 每轮也清理一小批。"""
    found: list[Unused] = []
    after = 0
    while True:  # a unit of work per batch, as the worker's rounds do, so no transaction holds many files
        sweep = c.tx(lambda s, a=after: c.engine.remove_unused_attachments(s, a, dry_run=dry_run))
        found += sweep.unused
        after = sweep.next_after
        if not after:
            break
    total = sum(u.size for u in found)
    if c.as_json:
        emit({"dry_run": dry_run, "count": len(found), "bytes": total,
              "attachments": [dict(u.to_dict(), instance_id=u.instance_id, uploaded_at=u.uploaded_at.isoformat())
                              for u in found]}, True)
        return
    if not found:
        hours = int(UNUSED_GRACE.total_seconds() // 3600)
        click.echo(f"没有无用的附件 (任务结束和上传都已满 {hours} 小时、且没有任何引用的文件)")
        return
    click.echo(table(["附件", "实例", "任务", "字段", "文件名", "大小 (字节)", "上传时间"],
                     [[u.id, u.instance_id, u.task_id, u.field, u.filename, u.size,
                       u.uploaded_at.astimezone(COMPANY_TZ).strftime("%Y-%m-%d %H:%M")] for u in found]))
    click.echo(f"试运行: 将删除 {len(found)} 个无用附件 (共 {total} 字节), 什么也没有删除" if dry_run
               else f"已删除 {len(found)} 个无用附件 (共 {total} 字节); 各流程实例的记录中写明了删除的文件")
