"""Data safety: backup/restore round-trips everything; archive records cannot be changed, and a change that
bypasses the triggers (a dropped trigger, an edited database file) is found by `smflow archive verify`."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from support import Env, load_demo, record_figures

from engine.handler_api import HandlerContext
from engine.store import archive_chain, tasks
from engine.store.models import ArchiveRecord, Base
from handlers.archive import archive
from web.cli import main


def _archive(env, n: int, instance_id: int = 1) -> list[int]:
    ids = []
    for k in range(n):
        def work(s, k=k):
            ctx = HandlerContext(session=s, instance_id=instance_id, process_id="SM1_3", version=1,
                                 element_id="Task_16", step="16", actor="planning", now=env.clock.now())
            return archive(ctx, title=f"月度销售计划 2027-{k + 1:02d}", kind="monthly_plan",
                           document={"month": k + 1, "plan": [{"region": "华北", "amount": 12.5 + k}], "备注": None})
        ids.append(env.tx(work)["monthly_plan_archive_id"])
    return ids


def _cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    from engine.store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {table.name: [tuple(row) for row in conn.execute(
                select(table).order_by(*table.primary_key.columns))] for table in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def test_archive_records_cannot_be_updated_or_deleted(env):
    first, second = _archive(env, 2)
    for statement in ("UPDATE archive_record SET title = 'x' WHERE id = :id",
                      "UPDATE archive_record SET document = '{}' WHERE id = :id",
                      "DELETE FROM archive_record WHERE id = :id"):
        with pytest.raises(DBAPIError) as refused:
            env.tx(lambda s, statement=statement: s.execute(text(statement), {"id": first}))
        assert "immutable" in str(refused.value)
    with pytest.raises(DBAPIError):
        env.tx(lambda s: s.delete(s.get(ArchiveRecord, second)))
    result = env.tx(archive_chain.verify)
    assert result.ok and result.records == 2 and not result.missing_triggers


def test_records_are_chained_and_the_chain_never_forks(env):
    ids = _archive(env, 3)
    records = env.tx(lambda s: [(r.id, r.prev_hash, r.chain_hash) for r in s.scalars(
        select(ArchiveRecord).order_by(ArchiveRecord.id))])
    assert [r[0] for r in records] == ids
    assert records[0][1] == archive_chain.GENESIS
    assert [r[1] for r in records[1:]] == [r[2] for r in records[:-1]]
    assert _cli("--db", env.url, "archive", "verify").exit_code == 0


def _tamper_sqlite(path: str, *statements: str) -> None:
    """What someone with the database file could do: drop the triggers, change rows, put the triggers back."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TRIGGER archive_record_no_update")
        conn.execute("DROP TRIGGER archive_record_no_delete")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


TAMPERING = {
    "document": ("UPDATE archive_record SET document = json_set(document, '$.plan[0].amount', 99) "
                 "WHERE id = {id}", "内容"),
    "document_and_sha256": ("UPDATE archive_record SET document = '{{\"month\": 0}}', sha256 = "
                            "'{sha_of_month_0}' WHERE id = {id}", "链哈希"),
    "title": ("UPDATE archive_record SET title = '改过的标题' WHERE id = {id}", "链哈希"),
    "archived_by": ("UPDATE archive_record SET archived_by = 'someone' WHERE id = {id}", "链哈希"),
    "deleted": ("DELETE FROM archive_record WHERE id = {id}", "链接"),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_with_the_sqlite_file_is_found_by_archive_verify(sqlite_env, how):
    ids = _archive(sqlite_env, 5)
    assert _cli("--db", sqlite_env.url, "archive", "verify").exit_code == 0
    target = ids[2]
    statement, reason = TAMPERING[how]
    path = sqlite_env.url.removeprefix("sqlite:///")
    sqlite_env.db.dispose()
    _tamper_sqlite(path, statement.format(id=target, sha_of_month_0=archive_chain.document_hash({"month": 0})))
    result = _cli("--db", sqlite_env.url, "--json", "archive", "verify")
    assert result.exit_code == 1
    broken = sqlite_env.tx(archive_chain.verify)
    expected = ids[3] if how == "deleted" else target  # a deleted record breaks the next one's link
    assert broken.broken_id == expected and reason in broken.reason
    assert set(broken.missing_triggers) == set(archive_chain.TRIGGER_NAMES)
    record_figures("data_safety", {"tamperings_detected": 1})


def test_tampering_on_postgresql_with_the_triggers_disabled_is_found(postgres_url, clock):
    env = Env(postgres_url, clock)
    try:
        env.tx(lambda s: s.execute(text("TRUNCATE archive_record RESTART IDENTITY")))
        ids = _archive(env, 4)
        env.tx(lambda s: s.execute(text("ALTER TABLE archive_record DISABLE TRIGGER USER")))
        try:
            env.tx(lambda s: s.execute(text("UPDATE archive_record SET scope = '华北' WHERE id = :id"),
                                       {"id": ids[1]}))
            result = _cli("--db", postgres_url, "archive", "verify")
            assert result.exit_code == 1
            found = env.tx(archive_chain.verify)
            assert found.broken_id == ids[1] and set(found.missing_triggers) == set(archive_chain.TRIGGER_NAMES)
        finally:
            env.tx(lambda s: s.execute(text("ALTER TABLE archive_record ENABLE TRIGGER USER")))
        record_figures("data_safety", {"tamperings_detected": 1})
    finally:
        env.db.dispose()


def test_backup_and_restore_round_trip_every_instance_and_archive_record(sqlite_env, tmp_path):
    env = sqlite_env
    load_demo(env.sessions, env.engine, env.clock)
    started = []
    for n in range(6):
        office = ["华北/北京办事处", "华东/上海办事处"][n % 2]
        login = "office_huabei_beijing" if n % 2 == 0 else "office_huadong_shanghai"
        iid = env.tx(lambda s, office=office, login=login, n=n: env.engine.start(
            s, "approval", login, {"office": office}, None, f"备份测试 {n}"))
        started.append(iid)
        if n % 3:
            task_id = env.tx(lambda s, iid=iid: tasks.active_for_instance(s, iid)[0].id)
            env.tx(lambda s, t=task_id, login=login: env.engine.complete(
                s, t, login, {"amount": 3.5, "purpose": "会议", "lines": [{"item": "场地", "cost": 3.5}]}))
    _archive(env, 7, instance_id=started[0])
    before = _dump(env.url)
    assert len(before["process_instance"]) == 6 and len(before["archive_record"]) == 7

    backup = tmp_path / "backup.db"
    assert _cli("--db", env.url, "backup", str(backup)).exit_code == 0
    assert _cli("--db", env.url, "backup", str(backup)).exit_code == 2  # never overwrites without --force

    # Life goes on after the backup, then the backup is restored over it.
    env.tx(lambda s: env.engine.start(s, "approval", "office_huabei_beijing", {"office": "华北/北京办事处"}))
    _archive(env, 2, instance_id=started[1])
    env.db.dispose()
    assert _cli("--db", env.url, "restore", str(backup), "--yes").exit_code == 0
    assert _dump(env.url) == before

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert _cli("--db", fresh, "restore", str(backup), "--yes").exit_code == 0
    assert _dump(fresh) == before
    assert _cli("--db", fresh, "archive", "verify").exit_code == 0
    record_figures("data_safety", {"round_trips": 2, "instances_round_tripped": 12,
                                   "archive_records_round_tripped": 14})


def test_restore_refuses_what_is_not_a_smflow_backup_and_postgresql_points_to_pg_dump(sqlite_url, tmp_path,
                                                                                         postgres_url):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    result = _cli("--db", sqlite_url, "restore", str(junk), "--yes")
    assert result.exit_code == 2 and "SQLite" in result.output
    result = _cli("--db", postgres_url, "backup", str(tmp_path / "x.db"))
    assert result.exit_code == 2 and "pg_dump" in result.output


def test_records_archived_before_the_chain_existed_are_chained_by_the_migration(tmp_path, clock):
    from alembic import command

    from engine.store.db import _alembic_config, make_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
    with engine.begin() as conn:
        for n in range(3):
            conn.execute(text(
                "INSERT INTO archive_record (instance_id, process_id, version, step, kind, title, scope, document, "
                "sha256, archived_by, archived_at) VALUES (1, 'SM1_3', 1, '16', 'plan', :title, '*', :doc, 'old', "
                "'planning', '2027-04-02 01:00:00.000000')"), {"title": f"旧备案 {n}", "doc": f'{{"n": {n}}}'})
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()
    env = Env(url, clock)
    try:
        result = env.tx(archive_chain.verify)
        assert result.ok and result.records == 3 and not result.missing_triggers
        assert _cli("--db", url, "archive", "verify").exit_code == 0
        new = _archive(env, 1)[0]
        assert env.tx(lambda s: s.get(ArchiveRecord, new).prev_hash) == result.head
    finally:
        env.db.dispose()
