"""The tables in engine/store/models.py and the schema the Alembic migrations build agree, on both databases:
Alembic's autogenerate comparison finds nothing to add, drop or change (an index added to one but not the
other fails here)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.store.db import make_engine
from engine.store.models import Base


def test_the_migrated_schema_is_the_models(db_url):
    engine = make_engine(db_url)  # upgraded to head by the fixture
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
