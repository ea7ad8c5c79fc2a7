"""The daemon's job bodies (collect, collect_metrics, analyze, report) and their ``job_runs`` rows.

Each body is the same call the matching command makes (``collect``, ``analyze``, ``report
--send``), split into steps with a stop check between them: on SIGTERM a job ends at the next
step boundary and its row says ``abandoned`` rather than leaving a half-done step behind.  A job
that raises is recorded as ``failed`` (the error redacted) and never takes the daemon down.

A retry (see :mod:`agent.scheduler`) repeats only what failed: ``collect`` the sources that
failed, ``report`` the channels that did not get this week's report yet (deliveries are
idempotent per report period).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from agent.config import Settings
from agent.logs import current_job
from agent.redact import redact
from agent.store.clock import utcnow
from agent.store.schema import JobRun
from collectors.base import SourceConfig, source_types

log = logging.getLogger(__name__)


class Abandoned(Exception):
    """A stop was requested; the job ends at a step boundary."""


class JobFailed(Exception):
    """The job ran but did not succeed (a source or rule failed); ``details`` are still kept."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


@dataclass
class JobContext:
    engine: Engine
    settings: Settings
    stop: threading.Event
    now: datetime  # aware UTC: when the run started
    only: frozenset[str] | None = None  # collect: just these sources (a retry of the failed)

    def step(self, what: str) -> None:
        """Raise :class:`Abandoned` if a stop was requested; else log the step."""
        if self.stop.is_set():
            raise Abandoned(f"stopped before {what}")
        log.debug("step: %s", what)


Body = Callable[[JobContext], dict[str, Any]]


def sources_for(settings: Settings, job: str) -> list[SourceConfig]:
    """The sources ``job`` runs: each collector names its job (``CollectorMeta.job``), so a new
    metrics or inventory collector runs hourly, a billing one every 6 h, with no list to edit."""
    types = source_types()
    return [s for s in settings.sources if types[s.type].meta.job == job]


def _collect(job: str) -> Body:
    def body(ctx: JobContext) -> dict[str, Any]:
        from agent.pipeline import collect_source

        per_source: dict[str, dict[str, Any]] = {}
        for source in sources_for(ctx.settings, job):
            if ctx.only is not None and source.name not in ctx.only:
                continue
            ctx.step(f"source {source.name}")
            o = collect_source(ctx.engine, ctx.settings, source)
            per_source[o.source] = {"status": o.status, "rows": o.rows}
            if o.error:
                per_source[o.source]["error"] = o.error
        details = {"sources": per_source, "rows": sum(s["rows"] for s in per_source.values())}
        failed = {n: s.get("error", "") for n, s in per_source.items() if s["status"] != "ok"}
        if failed:
            what = "; ".join(f"{n}: {e}" for n, e in failed.items())
            raise JobFailed(f"{len(failed)} of {len(per_source)} sources failed: {what}", details)
        return details

    return body


def _analyze(ctx: JobContext) -> dict[str, Any]:
    from agent.usecases.analysis import analyze

    ctx.step("rules")
    # The same call as `costagent analyze` without --window-days: the [analysis] window.
    result = analyze(ctx.engine, ctx.settings)
    details: dict[str, Any] = {
        "window": [t.isoformat() for t in result.window],
        "findings": sum(result.produced.values()),
        "new": result.new,
        "resolved": result.resolved,
    }
    if result.errors:
        details["errors"] = result.errors
        raise JobFailed(f"{len(result.errors)} rule(s) failed: {', '.join(result.errors)}", details)
    return details


def _report(ctx: JobContext) -> dict[str, Any]:
    # Imported here: a broken or missing report/notify module fails this job only.
    report = importlib.import_module("agent.report")
    deliver = importlib.import_module("agent.notify.deliver")
    ctx.step("build report")
    built = report.build_report(ctx.engine, ctx.settings, now=ctx.now)
    ctx.step("render report")
    rendered = report.render(built, ctx.settings)
    ctx.step("deliver report")
    # Channels that already have this period's report are skipped: a catch-up or retry run
    # (or a repeated DST hour) resends only what failed, never the whole report twice.
    outcomes = deliver.deliver_all(ctx.engine, ctx.settings, rendered, skip_delivered=True)
    sent = _outcomes(outcomes)
    details: dict[str, Any] = {"period": getattr(rendered, "period", None), "deliveries": sent}
    # "partial" arrived (some recipients, the message without its chart): resending would
    # repeat it, so it is recorded (deliveries, the next report) but not retried as a failure.
    failed = [channel for channel, status in sent.items() if status == "failed"]
    if failed:
        raise JobFailed(f"delivery failed: {', '.join(failed)}", details)
    return details


def _outcomes(outcomes: Any) -> dict[str, str]:
    """Channel → status from whatever sequence of delivery results ``deliver_all`` returns."""
    if not isinstance(outcomes, Iterable) or isinstance(outcomes, str | bytes | dict):
        return {}
    result: dict[str, str] = {}
    for i, o in enumerate(outcomes):
        get = o.get if isinstance(o, dict) else lambda k, _o=o: getattr(_o, k, None)
        channel = str(get("channel") or f"#{i}")
        result[channel] = str(get("status") or "ok")
    return result


BODIES: dict[str, Body] = {
    "collect": _collect("collect"),
    "collect_metrics": _collect("collect_metrics"),
    "analyze": _analyze,
    "report": _report,
}


@dataclass(frozen=True)
class JobResult:
    """How one run ended: ok, failed or abandoned, and what it did (``details``; None when the
    run could not even be recorded)."""

    status: str
    details: dict[str, Any] | None = None

    def failed_sources(self) -> frozenset[str] | None:
        """The sources a ``collect`` retry must repeat; None: all of them (nothing known)."""
        sources = (self.details or {}).get("sources")
        if not isinstance(sources, dict):
            return None
        return frozenset(n for n, s in sources.items() if s.get("status") != "ok")


def ok_since(engine: Engine, job: str, since: datetime) -> bool:
    """Whether ``job`` had an ok run that started at or after ``since`` (aware, or naive UTC)."""
    if since.tzinfo is not None:
        since = since.astimezone(UTC).replace(tzinfo=None)
    with engine.connect() as conn:
        found = conn.execute(
            select(JobRun.id)
            .where(JobRun.job == job, JobRun.status == "ok", JobRun.started_at >= since)
            .limit(1)
        ).first()
    return found is not None


def start_run(engine: Engine, job: str) -> int:
    with engine.begin() as conn:
        pk = conn.execute(
            insert(JobRun).values(job=job, status="running", started_at=utcnow())
        ).inserted_primary_key
    assert pk is not None
    return int(pk[0])


def finish_run(
    engine: Engine,
    run_id: int,
    status: str,
    error: str | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Close a ``running`` row; False if it was already closed (e.g. abandoned at shutdown)."""
    with engine.begin() as conn:
        n = conn.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.status == "running")
            .values(
                status=status,
                finished_at=utcnow(),
                error=redact(error)[:2000] if error else None,
                details=details or None,
            )
        ).rowcount
    return n == 1


def abandon_running(engine: Engine, reason: str) -> int:
    """Mark every ``running`` row abandoned: called with the lock held, so none is really live."""
    with engine.begin() as conn:
        return conn.execute(
            update(JobRun)
            .where(JobRun.status == "running")
            .values(status="abandoned", finished_at=utcnow(), error=reason)
        ).rowcount


def run_job(
    engine: Engine,
    settings: Settings,
    job: str,
    stop: threading.Event,
    body: Body | None = None,
    on_start: Callable[[int], None] | None = None,
    only: Collection[str] | None = None,
) -> JobResult:
    """Run one job, recorded in ``job_runs``; returns how it ended.  Never raises.

    ``only`` limits a collect job to these sources (a retry of the ones that failed).
    """
    token = current_job.set(job)
    try:
        run_id = start_run(engine, job)
        if on_start:
            on_start(run_id)
        log.info("job %s started", job, extra={"run_id": run_id})
        ctx = JobContext(
            engine, settings, stop, datetime.now(UTC), None if only is None else frozenset(only)
        )
        try:
            details = (body or BODIES[job])(ctx)
        except Abandoned as exc:
            log.warning("job %s abandoned: %s", job, exc, extra={"run_id": run_id})
            finish_run(engine, run_id, "abandoned", str(exc))
            return JobResult("abandoned")
        except JobFailed as exc:
            log.error("job %s failed: %s", job, redact(str(exc)), extra={"run_id": run_id})
            finish_run(engine, run_id, "failed", str(exc), exc.details)
            return JobResult("failed", exc.details)
        except Exception as exc:
            message = (
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
            )
            log.exception("job %s failed: %s", job, redact(message), extra={"run_id": run_id})
            finish_run(engine, run_id, "failed", message)
            return JobResult("failed")
        finish_run(engine, run_id, "ok", None, details)
        log.info("job %s ok", job, extra={"run_id": run_id, "details": details})
        return JobResult("ok", details)
    except Exception:  # the store itself failed: log it, keep the daemon alive (and retry)
        log.exception("job %s could not be recorded", job)
        return JobResult("failed")
    finally:
        current_job.reset(token)
