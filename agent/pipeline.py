"""One collection pass: every configured source, each isolated from the others' failures.

Each collector run is recorded in ``collection_runs`` (status, rows, slices, API requests and
their cost, warnings, the error) in its own transaction, after the collector's own transaction
committed or rolled back: a failed source leaves the last good state and the others still run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Engine

from agent.config import Settings
from agent.redact import redact
from agent.store.clock import utcnow
from agent.store.runs import CollectResult, record_run
from collectors.base import SourceConfig, collector_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceOutcome:
    source: str
    status: str
    rows: int = 0
    slices: int = 0
    error: str | None = None
    api_requests: int = 0
    api_cost: Decimal = Decimal(0)
    warnings: tuple[str, ...] = field(default_factory=tuple)


def collect_all(
    engine: Engine,
    settings: Settings,
    only: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[SourceOutcome]:
    """Run sources one by one; a failed source is recorded and the next one still runs."""
    return [
        collect_source(engine, settings, config, since, until)
        for config in settings.sources
        if not only or config.name == only
    ]


def collect_source(
    engine: Engine,
    settings: Settings,
    config: SourceConfig,
    since: date | None = None,
    until: date | None = None,
) -> SourceOutcome:
    """Collect one source and record the run in ``collection_runs``; never raises for the
    source's own failure (the daemon's jobs take the sources one at a time, with a stop check
    between them, and ``costagent collect`` all at once: both through here)."""
    started = utcnow()
    try:
        result = collector_for(config).collect(engine, settings, since=since, until=until)
    except Exception as exc:
        message = redact(
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        log.warning("source %s failed: %s", config.name, message)
        _record(engine, config.name, config.type, started, "failed", None, message)
        return SourceOutcome(config.name, "failed", error=message)
    for w in result.warnings:
        log.warning("source %s: %s", config.name, w)
    _record(engine, config.name, config.type, started, "ok", result, None)
    return SourceOutcome(
        config.name,
        "ok",
        result.rows,
        len(result.slices),
        api_requests=result.api_requests,
        api_cost=Decimal(result.api_cost),
        warnings=result.warnings,
    )


def _record(
    engine: Engine,
    source: str,
    kind: str,
    started: datetime,
    status: str,
    result: CollectResult | None,
    error: str | None,
) -> None:
    try:
        with engine.begin() as conn:
            record_run(conn, source, kind, started, status, result, error)
    except Exception as exc:  # the store itself failing must not hide the source's outcome
        log.error("could not record the run of %s: %s", source, redact(str(exc)))
