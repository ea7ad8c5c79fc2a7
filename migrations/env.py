"""Alembic environment: the same database URL as the agent.

The agent runs migrations in-process (``costagent db upgrade`` and every command that opens a
database) by passing its connection in ``config.attributes``; the ``alembic`` command line reads
``COSTAGENT_DATABASE_URL`` (or the default SQLite file) instead.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from agent.settings import DEFAULT_DB_URL
from agent.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    context.configure(
        url=os.environ.get("COSTAGENT_DATABASE_URL", DEFAULT_DB_URL),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(os.environ.get("COSTAGENT_DATABASE_URL", DEFAULT_DB_URL))
    with engine.begin() as conn:
        _run(conn)
