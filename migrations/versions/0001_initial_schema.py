"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Plain types here, not the models' decorators: a migration must not change when models do.
MONEY = sa.Numeric(30, 12)
JSON_T = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# The views for ad-hoc SQL as this revision created them, frozen here: a revision must not change
# when live code does (later revisions that change a view carry their own SQL, e.g. 0007).
_DAY = {"sqlite": "date(charge_period_start)", "postgresql": "CAST(charge_period_start AS DATE)"}


def view_sql(dialect: str) -> dict[str, str]:
    day = _DAY.get(dialect, _DAY["postgresql"])
    return {
        "daily_cost": f"""
CREATE VIEW daily_cost AS
SELECT {day} AS day,
       provider_name AS provider,
       x_workload AS workload,
       service_name AS service,
       sub_account_id,
       sub_account_name,
       billing_currency AS currency,
       SUM(billed_cost) AS billed,
       SUM(effective_cost) AS effective,
       COUNT(*) AS line_items
FROM cost_line_items
GROUP BY {day}, provider_name, x_workload, service_name, sub_account_id, sub_account_name,
         billing_currency""",
        "ai_spend": """
CREATE VIEW ai_spend AS
SELECT * FROM daily_cost WHERE workload <> 'other'""",
        "open_findings": """
CREATE VIEW open_findings AS
SELECT fingerprint, rule_id, subject, title, recommendation, monthly_savings, currency,
       confidence, first_seen, last_seen
FROM findings
WHERE status = 'open'""",
    }


VIEW_NAMES = ("ai_spend", "daily_cost", "open_findings")  # drop order: dependants first


def upgrade() -> None:
    op.create_table(
        "collection_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=True),
        sa.Column("window_end", sa.DateTime(), nullable=True),
        sa.Column("slices", JSON_T, nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("api_requests", sa.Integer(), nullable=False),
        sa.Column("api_cost", MONEY, nullable=True),
        sa.Column("details", JSON_T, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_runs")),
    )
    with op.batch_alter_table("collection_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_runs_source"), ["source"], unique=False)

    op.create_table(
        "cost_line_items",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("x_source", sa.String(length=128), nullable=False),
        sa.Column("x_slice", sa.String(length=256), nullable=False),
        sa.Column("x_line_key", sa.String(length=256), nullable=True),
        sa.Column("provider_name", sa.String(length=64), nullable=True),
        sa.Column("publisher_name", sa.String(length=128), nullable=True),
        sa.Column("invoice_issuer_name", sa.String(length=128), nullable=True),
        sa.Column("billing_account_id", sa.String(length=128), nullable=True),
        sa.Column("billing_account_name", sa.String(length=256), nullable=True),
        sa.Column("sub_account_id", sa.String(length=128), nullable=True),
        sa.Column("sub_account_name", sa.String(length=256), nullable=True),
        sa.Column("billing_period_start", sa.DateTime(), nullable=True),
        sa.Column("billing_period_end", sa.DateTime(), nullable=True),
        sa.Column("charge_period_start", sa.DateTime(), nullable=True),
        sa.Column("charge_period_end", sa.DateTime(), nullable=True),
        sa.Column("charge_category", sa.String(length=32), nullable=True),
        sa.Column("charge_class", sa.String(length=32), nullable=True),
        sa.Column("charge_description", sa.Text(), nullable=True),
        sa.Column("charge_frequency", sa.String(length=32), nullable=True),
        sa.Column("billed_cost", MONEY, nullable=True),
        sa.Column("effective_cost", MONEY, nullable=True),
        sa.Column("list_cost", MONEY, nullable=True),
        sa.Column("contracted_cost", MONEY, nullable=True),
        sa.Column("list_unit_price", MONEY, nullable=True),
        sa.Column("contracted_unit_price", MONEY, nullable=True),
        sa.Column("billing_currency", sa.String(length=3), nullable=True),
        sa.Column("service_name", sa.String(length=256), nullable=True),
        sa.Column("service_category", sa.String(length=64), nullable=True),
        sa.Column("service_subcategory", sa.String(length=128), nullable=True),
        sa.Column("sku_id", sa.String(length=256), nullable=True),
        sa.Column("sku_price_id", sa.String(length=256), nullable=True),
        sa.Column("sku_meter", sa.String(length=256), nullable=True),
        sa.Column("region_id", sa.String(length=64), nullable=True),
        sa.Column("region_name", sa.String(length=128), nullable=True),
        sa.Column("availability_zone", sa.String(length=64), nullable=True),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column("resource_name", sa.Text(), nullable=True),
        sa.Column("resource_type", sa.String(length=128), nullable=True),
        sa.Column("pricing_quantity", sa.Float(), nullable=True),
        sa.Column("pricing_unit", sa.String(length=64), nullable=True),
        sa.Column("consumed_quantity", sa.Float(), nullable=True),
        sa.Column("consumed_unit", sa.String(length=64), nullable=True),
        sa.Column("pricing_category", sa.String(length=32), nullable=True),
        sa.Column("commitment_discount_id", sa.Text(), nullable=True),
        sa.Column("commitment_discount_name", sa.Text(), nullable=True),
        sa.Column("commitment_discount_category", sa.String(length=32), nullable=True),
        sa.Column("commitment_discount_type", sa.String(length=64), nullable=True),
        sa.Column("commitment_discount_status", sa.String(length=32), nullable=True),
        sa.Column("capacity_reservation_id", sa.Text(), nullable=True),
        sa.Column("tags", JSON_T, nullable=True),
        sa.Column("x_usage_type", sa.String(length=256), nullable=True),
        sa.Column("x_operation", sa.String(length=256), nullable=True),
        sa.Column("x_workload", sa.String(length=16), nullable=False),
        sa.Column("x_model", sa.String(length=128), nullable=True),
        sa.Column("x_raw", JSON_T, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_line_items")),
    )
    with op.batch_alter_table("cost_line_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cost_line_items_charge_period_start"),
            ["charge_period_start"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_cost_line_items_x_slice"), ["x_slice"], unique=False)

    op.create_table(
        "findings",
        sa.Column("fingerprint", sa.String(length=512), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_until", sa.DateTime(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("monthly_savings", MONEY, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("confidence", sa.String(length=8), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("evidence", JSON_T, nullable=True),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_findings")),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_rule_id"), ["rule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_findings_status"), ["status"], unique=False)

    op.create_table(
        "llm_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("x_request_key", sa.String(length=80), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("app", sa.String(length=128), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=True),
        sa.Column("prompt_hash", sa.String(length=128), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("batch", sa.Boolean(), nullable=True),
        sa.Column("x_source", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_requests")),
        sa.UniqueConstraint("x_request_key", name=op.f("uq_llm_requests_x_request_key")),
    )
    with op.batch_alter_table("llm_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_llm_requests_ts"), ["ts"], unique=False)

    op.create_table(
        "resources",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("provider_name", sa.String(length=64), nullable=True),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("region_id", sa.String(length=64), nullable=True),
        sa.Column("attributes", JSON_T, nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("x_source", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
        sa.UniqueConstraint("resource_id", name=op.f("uq_resources_resource_id")),
    )
    op.create_table(
        "usage_metrics",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("metric", sa.String(length=128), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("period_s", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("stat", sa.String(length=32), nullable=False),
        sa.Column("x_source", sa.String(length=128), nullable=False),
        sa.Column("dimensions", JSON_T, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_metrics")),
        sa.UniqueConstraint(
            "resource_id",
            "metric",
            "stat",
            "ts",
            "period_s",
            name=op.f("uq_usage_metrics_resource_id_metric_stat_ts_period_s"),
        ),
    )

    dialect = op.get_bind().dialect.name
    for sql in view_sql(dialect).values():
        op.execute(sql)


def downgrade() -> None:
    for name in VIEW_NAMES:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("usage_metrics")
    op.drop_table("resources")
    with op.batch_alter_table("llm_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_requests_ts"))

    op.drop_table("llm_requests")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_status"))
        batch_op.drop_index(batch_op.f("ix_findings_rule_id"))

    op.drop_table("findings")
    with op.batch_alter_table("cost_line_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cost_line_items_x_slice"))
        batch_op.drop_index(batch_op.f("ix_cost_line_items_charge_period_start"))

    op.drop_table("cost_line_items")
    with op.batch_alter_table("collection_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_runs_source"))

    op.drop_table("collection_runs")
