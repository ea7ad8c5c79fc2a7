"""llm_usage: LLM usage per time bucket from the providers' admin APIs (OpenAI, Anthropic)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

See agent/store/schema.py (LlmUsage) for the token convention.  On PostgreSQL the reader role
of migration 0008 gets SELECT on it through the schema's default privileges.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _name(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length=length).with_variant(sa.Text(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "llm_usage",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("x_source", _name(128), nullable=False),
        sa.Column("x_slice", _name(256), nullable=False),
        sa.Column("bucket_start", sa.DateTime(), nullable=False),
        sa.Column("bucket_end", sa.DateTime(), nullable=False),
        sa.Column("provider", _name(64), nullable=False),
        sa.Column("operation", _name(16), nullable=False),
        sa.Column("model", _name(256), nullable=True),
        sa.Column("project_id", _name(256), nullable=True),
        sa.Column("api_key_id", _name(256), nullable=True),
        sa.Column("batch", sa.Boolean(), nullable=True),
        sa.Column("service_tier", _name(64), nullable=True),
        sa.Column("requests", sa.BigInteger(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_usage")),
    )
    op.create_index(op.f("ix_llm_usage_x_slice"), "llm_usage", ["x_slice"])
    op.create_index(
        op.f("ix_llm_usage_x_source_bucket_start"), "llm_usage", ["x_source", "bucket_start"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_llm_usage_x_source_bucket_start"), table_name="llm_usage")
    op.drop_index(op.f("ix_llm_usage_x_slice"), table_name="llm_usage")
    op.drop_table("llm_usage")
