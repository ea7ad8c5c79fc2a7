"""``collection_runs``: what one collection or import did, written by one function.

A collector run (:mod:`agent.pipeline`) and a file import (:mod:`collectors.importer`) are the
same fact to ``status`` and the report — source, kind, window, slices, rows, API requests and
their cost, warnings, the error — so both describe it as a :class:`CollectResult` and record it
through :func:`record_run`, with one truncation of the error and one clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert

from agent.store.clock import utcnow
from agent.store.schema import CollectionRun

ERROR_LIMIT = 2000  # characters of an error kept in the run (its first lines say what failed)


@dataclass(frozen=True)
class CollectResult:
    """What one collector run did; stored in ``collection_runs``.

    ``api_cost`` is what the run's API calls cost the user (Cost Explorer bills $0.01 a request,
    BigQuery by bytes scanned), as a decimal string; ``warnings`` are shown and stored (e.g. a
    request budget that stopped the run early).
    """

    slices: tuple[str, ...] = ()
    rows: int = 0
    api_requests: int = 0
    api_cost: str = "0"
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    window: tuple[Any, Any] | None = None


def record_run(
    conn: Connection,
    source: str,
    kind: str,
    started: datetime,
    status: str,
    result: CollectResult | None = None,
    error: str | None = None,
) -> None:
    """Insert one run row (in the caller's transaction: an import records its run atomically
    with its rows; a failure is recorded in a transaction of its own)."""
    details = dict(result.details) if result else {}
    if result and result.warnings:
        details["warnings"] = list(result.warnings)
    window = result.window if result and result.window else (None, None)
    conn.execute(
        insert(CollectionRun).values(
            source=source,
            kind=kind,
            window_start=window[0],
            window_end=window[1],
            slices=list(result.slices) if result else None,
            rows=result.rows if result else 0,
            status=status,
            error=error[:ERROR_LIMIT] if error else None,
            started_at=started,
            finished_at=utcnow(),
            api_requests=result.api_requests if result else 0,
            api_cost=Decimal(result.api_cost) if result else Decimal(0),
            details=details or None,
        )
    )
