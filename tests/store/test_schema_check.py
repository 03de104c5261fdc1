"""The start-up schema check (engine.store.db.ensure_schema) without Alembic's machinery: the head revision read
from the migration scripts agrees with Alembic's, an empty database gets the schema, one at head is served,
and one at any other revision, with no revision or with two is refused."""

from __future__ import annotations

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from engine.errors import NotReady
from engine.store.db import _alembic_config, ensure_schema, head_revision, make_engine, upgrade

MERGED = {  # Alembic's older template, its newer (annotated) one, a branch and the merge that closes it
    "a_first.py": 'revision = "a1"\ndown_revision = None\n',
    "b_left.py": 'from typing import Union\n\nrevision: str = "b2"\ndown_revision: Union[str, None] = "a1"\n',
    "c_right.py": "revision = 'c3'  # the other branch\ndown_revision = 'a1'\n",
}
MERGE = 'revision = "d4"\ndown_revision = ("b2", "c3")\n'


def alembic_heads(migrations) -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    return list(ScriptDirectory.from_config(config).get_heads())


def test_the_head_read_from_the_scripts_is_alembics():
    assert head_revision() == ScriptDirectory.from_config(_alembic_config()).get_current_head()


def test_a_branch_has_no_single_head_and_its_merge_is_the_head(tmp_path):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    for name, script in MERGED.items():  # under the header docstring of Alembic's template
        header = f'"""a step\n\nRevision ID: {name[0]}\nRevises: x\n"""\n\n'
        (versions / name).write_text(header + script, encoding="utf-8")
    with pytest.raises(RuntimeError, match="b2.*c3"):
        head_revision(versions)
    assert sorted(alembic_heads(tmp_path / "migrations")) == ["b2", "c3"]

    merged = tmp_path / "merged" / "versions"
    merged.mkdir(parents=True)
    for name, script in {**MERGED, "d_merge.py": MERGE}.items():
        (merged / name).write_text(script, encoding="utf-8")
    assert head_revision(merged) == "d4" == alembic_heads(tmp_path / "merged")[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def own_db(request, tmp_path):
    """A database at head that the test may take apart."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.db'}"
        upgrade(make_engine(url))
    else:
        url = request.getfixturevalue("own_postgres_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def run(engine, *statements: str) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def refusal(engine) -> str:
    with pytest.raises(NotReady) as raised:
        ensure_schema(engine)
    assert "smflow db upgrade" in str(raised.value)
    return str(raised.value)


def test_only_a_database_at_head_is_served(own_db):
    head = head_revision()
    assert ensure_schema(own_db) is False

    run(own_db, "UPDATE alembic_version SET version_num = '0007'")
    assert "0007" in refusal(own_db)
    run(own_db, f"UPDATE alembic_version SET version_num = '{head}'", "INSERT INTO alembic_version VALUES ('0007')")
    assert "0007" in refusal(own_db)
    run(own_db, "DELETE FROM alembic_version")
    assert "未知" in refusal(own_db)
    run(own_db, "DROP TABLE alembic_version")
    assert "未知" in refusal(own_db)


def test_an_empty_database_gets_the_schema(own_db):
    if own_db.dialect.name == "postgresql":
        run(own_db, "DROP SCHEMA public CASCADE", "CREATE SCHEMA public")
    else:
        with own_db.connect() as connection:
            tables = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
        run(own_db, *(f'DROP TABLE "{name}"' for name in tables))
    assert ensure_schema(own_db) is True
    with own_db.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
        assert connection.execute(text("SELECT count(*) FROM process_definition")).scalar() == 0
    assert ensure_schema(own_db) is False
