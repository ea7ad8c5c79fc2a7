"""FOCUS 1.2/1.3 columns and split cost allocation on cost_line_items; TEXT on PostgreSQL

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

FOCUS 1.2 columns that imports used to drop (InvoiceId, PricingCurrency and its prices,
SkuPriceDetails, CommitmentDiscountQuantity/Unit, BillingAccountType, SubAccountType,
CapacityReservationStatus), FOCUS 1.3's (ServiceProviderName, HostProviderName, the Allocated*
columns, ContractApplied) and a split row's allocated cost become columns.

On PostgreSQL every bounded VARCHAR of the data tables becomes TEXT (a metadata-only change
there), so a provider value longer than a guessed length no longer fails a load; SQLite never
enforced the lengths.  The views depend on some of those columns, so they are dropped and
created again from the SQL frozen below (the same as 0001's).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(30, 12)
JSON_T = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

NEW_COLUMNS = (
    ("invoice_id", sa.Text()),
    ("billing_account_type", sa.String(64)),
    ("sub_account_type", sa.String(64)),
    ("pricing_currency", sa.String(3)),
    ("pricing_currency_contracted_unit_price", MONEY),
    ("pricing_currency_effective_cost", MONEY),
    ("pricing_currency_list_unit_price", MONEY),
    ("sku_price_details", JSON_T),
    ("commitment_discount_quantity", sa.Float()),
    ("commitment_discount_unit", sa.String(64)),
    ("capacity_reservation_status", sa.String(32)),
    ("service_provider_name", sa.String(64)),
    ("host_provider_name", sa.String(64)),
    ("allocated_method_id", sa.String(128)),
    ("allocated_method_details", JSON_T),
    ("allocated_resource_id", sa.Text()),
    ("allocated_resource_name", sa.Text()),
    ("allocated_tags", JSON_T),
    ("contract_applied", JSON_T),
    ("x_allocated_cost", MONEY),
    ("x_allocated_unused_cost", MONEY),
)

VIEW_NAMES = ("ai_spend", "daily_cost", "open_findings")  # drop order: dependants first
_DAY = {"sqlite": "date(charge_period_start)", "postgresql": "CAST(charge_period_start AS DATE)"}


def _views(dialect: str) -> tuple[str, ...]:
    day = _DAY.get(dialect, _DAY["postgresql"])
    return (
        f"""CREATE VIEW daily_cost AS
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
        """CREATE VIEW ai_spend AS
SELECT * FROM daily_cost WHERE workload <> 'other'""",
        """CREATE VIEW open_findings AS
SELECT fingerprint, rule_id, subject, title, recommendation, monthly_savings, currency,
       confidence, first_seen, last_seen
FROM findings
WHERE status = 'open'""",
    )


def _drop_views() -> None:
    for view in VIEW_NAMES:
        op.execute(f"DROP VIEW IF EXISTS {view}")


def _create_views() -> None:
    for sql in _views(op.get_bind().dialect.name):
        op.execute(sql)


def upgrade() -> None:
    for name, type_ in NEW_COLUMNS:
        op.add_column("cost_line_items", sa.Column(name, type_, nullable=True))
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _drop_views()
    rows = bind.execute(
        sa.text(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND data_type = 'character varying'"
            " AND character_maximum_length > 3 AND table_name <> 'alembic_version'"
        )
    ).all()
    for table, column in rows:
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE TEXT')
    _create_views()


def downgrade() -> None:
    # The TEXT columns stay TEXT: shortening them could fail on values stored meanwhile, and
    # 0006's code reads them the same either way.
    _drop_views()  # SQLite rebuilds the table, which a view on it would block
    with op.batch_alter_table("cost_line_items", schema=None) as batch_op:
        for name, _ in reversed(NEW_COLUMNS):
            batch_op.drop_column(name)
    _create_views()
