"""cost_daily: the per-day rollup of cost_line_items that the rules read

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

The backfill below is a frozen copy of agent/store/daily.py's rollup as of this revision (a
migration must not change when the code does); later loads keep the table up to date.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(30, 12)
JSON_T = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEYS = (
    "resource_id",
    "provider_name",
    "service_name",
    "sku_id",
    "region_id",
    "charge_category",
    "pricing_category",
    "pricing_unit",
    "billing_currency",
    "x_workload",
)


def upgrade() -> None:
    op.create_table(
        "cost_daily",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("x_source", sa.String(length=128), nullable=False),
        sa.Column("x_slice", sa.String(length=256), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column("provider_name", sa.String(length=64), nullable=True),
        sa.Column("service_name", sa.String(length=256), nullable=True),
        sa.Column("usage_label", sa.Text(), nullable=True),
        sa.Column("sku_id", sa.String(length=256), nullable=True),
        sa.Column("region_id", sa.String(length=64), nullable=True),
        sa.Column("charge_category", sa.String(length=32), nullable=True),
        sa.Column("pricing_category", sa.String(length=32), nullable=True),
        sa.Column("pricing_unit", sa.String(length=128), nullable=True),
        sa.Column("billing_currency", sa.String(length=3), nullable=True),
        sa.Column("x_workload", sa.String(length=32), nullable=True),
        sa.Column("resource_name", sa.Text(), nullable=True),
        sa.Column("tags", JSON_T, nullable=True),
        sa.Column("charge_period_start", sa.DateTime(), nullable=False),
        sa.Column("last_start", sa.DateTime(), nullable=False),
        sa.Column("charge_period_end", sa.DateTime(), nullable=False),
        sa.Column("effective_cost", MONEY, nullable=True),
        sa.Column("billed_cost", MONEY, nullable=True),
        *(
            sa.Column(f"{m}_{p}", sa.BigInteger(), nullable=True)
            for m in ("effective_cost", "billed_cost")
            for p in "wmp"
        ),
        sa.Column("pricing_quantity", sa.Float(), nullable=True),
        sa.Column("line_items", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_daily")),
    )
    with op.batch_alter_table("cost_daily", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cost_daily_x_slice"), ["x_slice"], unique=False)
        batch_op.create_index(batch_op.f("ix_cost_daily_day"), ["day"], unique=False)
    _backfill()


def _backfill() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    day = "date(charge_period_start)"
    usage = "COALESCE(x_usage_type, charge_description)"
    cols = ["x_source", "x_slice", "day", "usage_label", *KEYS]
    exprs = ["x_source", "x_slice", day, usage, *KEYS]
    tags = "MAX(tags)" if sqlite else "CAST(MAX(CAST(tags AS TEXT)) AS JSONB)"
    more = {
        "resource_name": "MAX(resource_name)",
        "tags": tags,
        "charge_period_start": "MIN(charge_period_start)",
        "last_start": "MAX(charge_period_start)",
        "charge_period_end": "MAX(COALESCE(charge_period_end, charge_period_start))",
        "pricing_quantity": "SUM(pricing_quantity)",
        "line_items": "COUNT(*)",
    }
    for m in ("effective_cost", "billed_cost"):
        more[m] = f"SUM({m})"
        if sqlite:
            frac = f"(({m}) - CAST({m} AS INTEGER)) * 1000000"
            more[f"{m}_w"] = f"SUM(CAST({m} AS INTEGER))"
            more[f"{m}_m"] = f"SUM(CAST({frac} AS INTEGER))"
            more[f"{m}_p"] = (
                f"SUM(CAST(ROUND(({frac} - CAST({frac} AS INTEGER)) * 1000000) AS INTEGER))"
            )
    cols += list(more)
    exprs += list(more.values())
    group = ", ".join(["x_slice", "resource_id", day, usage, *KEYS[1:], "x_source"])
    op.execute(
        f"INSERT INTO cost_daily ({', '.join(cols)}) "
        f"SELECT {', '.join(exprs)} FROM cost_line_items GROUP BY {group}"
    )


def downgrade() -> None:
    op.drop_table("cost_daily")
