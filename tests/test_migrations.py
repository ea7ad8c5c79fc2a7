"""The Alembic chain builds exactly the tables the models declare (no drift either way), goes
down and up again, and an interrupted upgrade leaves the schema as it was."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from agent.store.engine import alembic_config, current_revision, head_revision, make_engine, upgrade
from agent.store.schema import Base


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_the_newest_migration_goes_down_and_up_again(engine: Engine) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO daemon_lock (name, holder, host, pid, acquired_at, heartbeat_at) "
                "VALUES ('daemon', 'ops@h pid 1', 'h', 1, '2026-12-01', '2026-12-01')"
            )
        )
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    assert current_revision(engine) != head_revision()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(text("SELECT holder FROM daemon_lock")).scalar_one() == "ops@h pid 1"


def test_an_interrupted_sqlite_upgrade_leaves_the_schema_as_it_was(sqlite_url: str) -> None:
    """Python's sqlite3 would run each DDL statement on its own: 0006's first step (a column)
    would stay while its version row did not, and every later start would fail."""
    engine = make_engine(sqlite_url)
    upgrade(engine, "0005")
    with engine.begin() as conn:  # 0006's second index exists already: the upgrade fails there
        conn.execute(text("CREATE INDEX ix_llm_requests_x_source_ts ON llm_requests (ts)"))
    with pytest.raises(Exception, match="already exists"):
        upgrade(engine)
    assert current_revision(engine) == "0005"
    columns = {c["name"] for c in inspect(engine).get_columns("daemon_lock")}
    assert "process_key" not in columns  # rolled back with the failed step
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_llm_requests_x_source_ts"))
    upgrade(engine)  # the next start migrates cleanly
    assert current_revision(engine) == head_revision()
    engine.dispose()
