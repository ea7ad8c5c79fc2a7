"""One collection pass: every configured source, each isolated from the others' failures."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from agent.config import Settings
from collectors.base import collector_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceOutcome:
    source: str
    status: str
    rows: int = 0
    slices: int = 0
    error: str | None = None


def collect_all(
    engine: Engine,
    settings: Settings,
    only: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[SourceOutcome]:
    """Run sources one by one; a failed source is reported and the next one still runs."""
    outcomes = []
    for config in settings.sources:
        if only and config.name != only:
            continue
        try:
            result = collector_for(config).collect(engine, settings, since=since, until=until)
        except Exception as exc:
            log.warning("source %s failed: %s", config.name, exc)
            outcomes.append(SourceOutcome(config.name, "failed", error=str(exc).splitlines()[0]))
            continue
        outcomes.append(SourceOutcome(config.name, "ok", result.rows, len(result.slices)))
    return outcomes
