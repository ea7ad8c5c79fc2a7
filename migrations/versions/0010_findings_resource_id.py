"""findings.resource_id, and anomalies' typed payload

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

The resource a finding's savings come from was kept in ``evidence["resource_id"]``, and the
report recognised an anomaly by its rule id and read its evidence keys.  Now the resource is a
column and an anomaly's facts are one payload (``evidence["anomaly"]``, the shape of
``agent.store.findings.AnomalyFacts``), so readers need neither.  Existing rows are rewritten:
the id moves out of the evidence into the column, and the anomaly rule's findings get the
payload built from the keys it wrote (``day``, ``service``, ``usage_type``,
``expected_median``, ``actual``).  The shapes are frozen here, not imported from live code.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
FINDINGS = sa.table(
    "findings",
    sa.column("fingerprint", sa.Text()),
    sa.column("rule_id", sa.Text()),
    sa.column("subject", sa.Text()),
    sa.column("evidence", JSON),
    sa.column("resource_id", sa.Text()),
)
ANOMALY_RULE = "cost-anomaly"


def _anomaly(evidence: dict[str, Any]) -> dict[str, Any] | None:
    if not all(k in evidence for k in ("day", "expected_median", "actual")):
        return None
    return {
        "day": evidence["day"],
        "service": evidence.get("service"),
        "usage_type": evidence.get("usage_type"),
        "expected": evidence["expected_median"],
        "actual": evidence["actual"],
    }


def upgrade() -> None:
    op.add_column("findings", sa.Column("resource_id", sa.Text(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(FINDINGS.c.fingerprint, FINDINGS.c.rule_id, FINDINGS.c.evidence)
    ).all()
    for fingerprint, rule_id, evidence in rows:
        if not isinstance(evidence, dict):
            continue
        evidence = dict(evidence)
        resource = evidence.pop("resource_id", None)
        if rule_id == ANOMALY_RULE and (payload := _anomaly(evidence)) is not None:
            evidence["anomaly"] = payload
        conn.execute(
            sa.update(FINDINGS)
            .where(FINDINGS.c.fingerprint == fingerprint)
            .values(evidence=evidence, resource_id=None if resource is None else str(resource))
        )


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(FINDINGS.c.fingerprint, FINDINGS.c.evidence, FINDINGS.c.resource_id)
    ).all()
    for fingerprint, evidence, resource in rows:
        evidence = dict(evidence) if isinstance(evidence, dict) else {}
        evidence.pop("anomaly", None)
        if resource is not None:
            evidence["resource_id"] = resource
        conn.execute(
            sa.update(FINDINGS)
            .where(FINDINGS.c.fingerprint == fingerprint)
            .values(evidence=evidence or None)
        )
    # Not a batch operation: SQLite's table copy would trip over the open_findings view; its
    # own ALTER TABLE … DROP COLUMN (3.35+) drops a column no view or index uses.
    op.drop_column("findings", "resource_id")
