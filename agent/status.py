"""``costagent status``: per source, the last run and what the runs cost in API requests.

Cost Explorer bills every request and BigQuery every byte scanned; a user must be able to see
what the agent spends on their behalf, per source, without reading ``collection_runs`` by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, case, func, select

from agent.store.schema import CollectionRun as R


def source_status(engine: Engine, days: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    with engine.connect() as conn:
        last_ids = select(R.source, func.max(R.id).label("id")).group_by(R.source).subquery()
        last = conn.execute(
            select(
                R.source,
                R.kind,
                R.status,
                R.finished_at,
                R.rows,
                R.api_requests,
                R.api_cost,
                R.error,
                R.details,
            )
            .join(last_ids, R.id == last_ids.c.id)
            .order_by(R.source)
        ).all()
        totals = {
            src: (runs, failed, reqs, cost)
            for src, runs, failed, reqs, cost in conn.execute(
                select(
                    R.source,
                    func.count(),
                    func.sum(case((R.status == "failed", 1), else_=0)),
                    func.coalesce(func.sum(R.api_requests), 0),
                    func.sum(R.api_cost),
                )
                .where(R.started_at >= since)
                .group_by(R.source)
            ).all()
        }
    columns = [
        "source",
        "kind",
        "last run",
        "status",
        "rows",
        "requests",
        "cost",
        f"runs ({days} d)",
        "failed",
        f"requests ({days} d)",
        f"cost ({days} d)",
        "note",
    ]
    rows = []
    for src, kind, status, finished, nrows, reqs, cost, error, details in last:
        runs, failed, total_reqs, total_cost = totals.get(src, (0, 0, 0, Decimal(0)))
        rows.append(
            (
                src,
                kind,
                finished.replace(microsecond=0) if finished else None,
                status,
                nrows,
                reqs,
                _usd(cost),
                runs,
                int(failed or 0),
                int(total_reqs or 0),
                _usd(total_cost),
                _note(error, details or {}),
            )
        )
    return columns, rows


def _note(error: str | None, details: dict[str, Any]) -> str | None:
    """The error, else the warnings, else what a BigQuery source scanned (what it is billed)."""
    if error:
        return error
    warnings = details.get("warnings") or []
    if warnings:
        return "; ".join(warnings)
    if details.get("bytes_processed") is not None:
        return f"scanned {int(details['bytes_processed']) / 2**30:,.2f} GiB"
    return None


def _usd(value: Any) -> str:
    return f"${Decimal(str(value or 0)):.2f}"
