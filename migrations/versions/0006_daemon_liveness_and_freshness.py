"""daemon_lock.process_key; (x_source, time) indexes for status freshness

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

``process_key`` lets a new daemon tell a live lock holder from a recycled pid (see
agent/daemon_lock.py).  The three indexes let ``costagent status`` find the newest row per
source with a few index probes instead of scanning usage_metrics, llm_requests and cost_daily.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("usage_metrics", "ts"),
    ("llm_requests", "ts"),
    ("cost_daily", "last_start"),
)


def upgrade() -> None:
    with op.batch_alter_table("daemon_lock", schema=None) as batch_op:
        batch_op.add_column(sa.Column("process_key", sa.String(length=128), nullable=True))
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_x_source_{column}", table, ["x_source", column])


def downgrade() -> None:
    for table, column in INDEXES:
        op.drop_index(f"ix_{table}_x_source_{column}", table_name=table)
    with op.batch_alter_table("daemon_lock", schema=None) as batch_op:
        batch_op.drop_column("process_key")
