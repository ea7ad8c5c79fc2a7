"""sku_prices: provider list prices per SKU and tier, for pricing what-ifs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Plain types here, not the models' decorators: a migration must not change when models do.
MONEY = sa.Numeric(30, 12)
JSON_T = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sku_prices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("provider_name", sa.String(length=64), nullable=False),
        sa.Column("x_source", sa.String(length=128), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=True),
        sa.Column("service_name", sa.String(length=256), nullable=True),
        sa.Column("sku_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("resource_family", sa.String(length=64), nullable=True),
        sa.Column("resource_group", sa.String(length=64), nullable=True),
        sa.Column("usage_type", sa.String(length=64), nullable=True),
        sa.Column("regions", JSON_T, nullable=True),
        sa.Column("pricing_unit", sa.String(length=64), nullable=True),
        sa.Column("pricing_unit_description", sa.String(length=256), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tier_start", MONEY, nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.Column("effective_time", sa.DateTime(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sku_prices")),
        sa.UniqueConstraint(
            "provider_name",
            "sku_id",
            "tier_start",
            name=op.f("uq_sku_prices_provider_name_sku_id_tier_start"),
        ),
    )
    with op.batch_alter_table("sku_prices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sku_prices_sku_id"), ["sku_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sku_prices_x_source"), ["x_source"], unique=False)


def downgrade() -> None:
    op.drop_table("sku_prices")
