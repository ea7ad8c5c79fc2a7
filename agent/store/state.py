"""Collector memory in ``source_state``: read it, and write it inside the load's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select

from agent.store.clock import utcnow
from agent.store.schema import SourceState


def get_state(conn: Connection, source: str, key: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(SourceState.value).where(SourceState.source == source, SourceState.key == key)
    ).scalar_one_or_none()
    return row


def put_state(conn: Connection, source: str, key: str, value: dict[str, Any]) -> None:
    """Replace one key (delete + insert: portable, and the caller's transaction makes it atomic)."""
    conn.execute(delete(SourceState).where(SourceState.source == source, SourceState.key == key))
    conn.execute(
        insert(SourceState).values(
            source=source,
            key=key,
            value=value,
            updated_at=utcnow(),
        )
    )


def states(conn: Connection, source: str, prefix: str = "") -> dict[str, dict[str, Any] | None]:
    rows = conn.execute(
        select(SourceState.key, SourceState.value).where(
            SourceState.source == source, SourceState.key.startswith(prefix)
        )
    ).all()
    return {k: v for k, v in rows}
