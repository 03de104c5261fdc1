"""How PostgreSQL stores an instance's state: compressed with lz4 (migration 0012)."""

import pytest
from alembic import command
from helpers import add_people, fixture_bytes
from sqlalchemy import text

from engine.store.db import _alembic_config, upgrade

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _method(env) -> str:
    with env.db.connect() as conn:
        return conn.scalar(text("SELECT attcompression FROM pg_attribute "
                                "WHERE attrelid = 'process_instance'::regclass AND attname = 'state'"))


def _downgrade(env, revision: str) -> None:
    config = _alembic_config()
    with env.db.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_a_stored_state_is_compressed_with_lz4_and_the_downgrade_puts_pglz_back(env):
    assert _method(env) == "l"
    env.tx(lambda s: add_people(s, {"bj": [("办事处", "华北/北京办事处")]}))
    env.tx(lambda s: env.engine.deploy(s, fixture_bytes("approval.bpmn"), "approval.bpmn", "admin"))
    instance_id = env.tx(lambda s: env.engine.start(s, "approval", "bj", {"office": "华北/北京办事处",
                                                                           "notes": "说明" * 4000}))
    with env.db.connect() as conn:
        method, size = conn.execute(text("SELECT pg_column_compression(state), length(state) FROM process_instance "
                                         "WHERE id = :id"), {"id": instance_id}).one()
    assert method == "lz4" and size > 8000

    try:
        _downgrade(env, "0011")
        assert _method(env) == "p"
    finally:
        upgrade(env.db)
    assert _method(env) == "l"
