"""The Alembic chain builds exactly the tables the models declare (no drift either way), goes
down and up again, and an interrupted upgrade leaves the schema as it was."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

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


def test_0010_moves_the_resource_id_out_of_the_evidence_and_types_anomalies(db_url: str) -> None:
    """Findings written before 0010 kept their resource in ``evidence["resource_id"]`` and an
    anomaly's facts in loose evidence keys; after the upgrade the report's readers find both
    where they now look (the column, :func:`anomaly_of`) without a new analysis."""
    from agent.store.findings import AnomalyFacts, anomaly_of, list_findings, total_savings

    engine = make_engine(db_url)
    upgrade(engine, "0009")
    insert = text(
        "INSERT INTO findings (fingerprint, rule_id, subject, status, first_seen, last_seen, "
        "monthly_savings, currency, confidence, title, recommendation, evidence) VALUES "
        "(:fp, :rule, :subject, 'open', '2026-11-01', '2026-11-02', :saving, 'USD', 'high', "
        "'t', 'r', :evidence)"
    )
    spike = {
        "day": "2026-10-28",
        "service": "Amazon Bedrock",
        "usage_type": "USE1-Claude-Output",
        "expected_median": "120.5",
        "actual": "980.25",
        "resource_id": "acct|bedrock",
    }
    with engine.begin() as conn:
        for fp, rule, subject, saving, evidence in (
            ("idle:a", "idle-endpoint", "a", 100, {"resource_id": "ep-1", "hours": 720}),
            ("over:b", "overprovisioned-endpoint", "b", 60, {"resource_id": "ep-1"}),
            ("cost-anomaly:x", "cost-anomaly", "x", 5, spike),
        ):
            conn.execute(
                insert,
                {
                    "fp": fp,
                    "rule": rule,
                    "subject": subject,
                    "saving": saving,
                    "evidence": json.dumps(evidence),
                },
            )
    upgrade(engine)
    rows = {r["fingerprint"]: r for r in list_findings(engine)}
    engine.dispose()

    assert rows["idle:a"]["resource_id"] == "ep-1"
    assert rows["idle:a"]["evidence"] == {"hours": 720}
    assert total_savings(rows.values()) == {"USD": Decimal("105")}  # ep-1 counted once
    assert anomaly_of(rows["idle:a"]) is None
    assert anomaly_of(rows["cost-anomaly:x"]) == AnomalyFacts(
        day=date(2026, 10, 28),
        service="Amazon Bedrock",
        usage_type="USE1-Claude-Output",
        expected=Decimal("120.5"),
        actual=Decimal("980.25"),
    )
