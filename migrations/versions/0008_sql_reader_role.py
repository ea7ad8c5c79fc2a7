"""The costagent_reader role and the query function ``costagent sql`` runs as (PostgreSQL)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

See agent/store/reader.py: a NOLOGIN role with SELECT on this schema, owning a SECURITY
DEFINER function that runs one query with the role's rights only.  A user who may not create
roles gets the schema without it; ``costagent sql`` then refuses and names what to run, and
``costagent db reader`` finishes the set-up later.  Nothing on SQLite.
"""

from __future__ import annotations

from alembic import op

from agent.store.reader import FUNCTION, install

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    install(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(text)")
