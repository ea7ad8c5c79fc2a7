"""``costagent status``: is the agent doing its job on this store?

Per source, the last run and what the runs cost in API requests (Cost Explorer bills every
request and BigQuery every byte scanned: a user must see what the agent spends on their behalf);
how fresh each source's data is; whether the daemon runs (its lock and heartbeat); each job's
last run and next scheduled run; each channel's last delivery; and what the open findings would
save.  All of it comes from the store, so it works from any shell, daemon running or not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, case, func, select

from agent.config import JOB_NAMES, Settings
from agent.store.schema import CollectionRun as R
from agent.store.schema import CostLineItem as C
from agent.store.schema import Delivery as D
from agent.store.schema import JobRun as J
from agent.store.schema import LlmRequest as Q
from agent.store.schema import UsageMetric as U


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


# -- the daemon's view: freshness, lock, jobs, deliveries, savings --------------------------------
def freshness(engine: Engine) -> list[dict[str, Any]]:
    """Per ``x_source``: the newest cost row (charge period start), metric point, LLM request.

    The last *run* of a source can be ok while its data is old (an export that stopped being
    written); this is the number that shows it.
    """
    newest: dict[str, dict[str, Any]] = {}
    queries = (
        ("cost", select(C.x_source, func.max(C.charge_period_start)).group_by(C.x_source)),
        ("metrics", select(U.x_source, func.max(U.ts)).group_by(U.x_source)),
        ("llm_requests", select(Q.x_source, func.max(Q.ts)).group_by(Q.x_source)),
    )
    with engine.connect() as conn:
        for key, query in queries:
            for src, ts in conn.execute(query):
                row = newest.setdefault(src, {"source": src})
                row[key] = _dt(ts)
    keys = ("cost", "metrics", "llm_requests")
    return [{"source": s, **{k: newest[s].get(k) for k in keys}} for s in sorted(newest)]


def daemon_state(engine: Engine, stale_seconds: int, now: datetime) -> dict[str, Any]:
    """The lock row: who runs the daemon, since when, how fresh its heartbeat is."""
    from agent.daemon_lock import read

    holder = read(engine)
    if holder is None:
        return {"running": False, "holder": None, "since": None, "heartbeat_age_seconds": None}
    beat = holder.heartbeat_at
    if isinstance(beat, str):  # SQLite text, when read without the ORM type
        beat = datetime.fromisoformat(beat)
    age = round((now - beat).total_seconds(), 1) if beat else None
    return {
        "running": age is not None and age <= stale_seconds,
        "holder": holder.holder,
        "since": _dt(holder.acquired_at),
        "heartbeat_age_seconds": age,
        "stale": age is None or age > stale_seconds,
    }


def job_states(engine: Engine, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Per job: the last run, how many runs in a row failed, the next scheduled run."""
    from agent.scheduler import next_runs

    upcoming = next_runs(settings, now.replace(tzinfo=UTC).astimezone(_tz(settings)))
    window = settings.daemon.check_failed_runs
    out = []
    with engine.connect() as conn:
        for job in JOB_NAMES:
            recent = conn.execute(
                select(J.status, J.started_at, J.finished_at, J.error, J.details)
                .where(J.job == job)
                .order_by(J.id.desc())
                .limit(max(window, 1) + 1)
            ).all()
            failed_in_row = 0
            for r in recent:
                if r.status != "failed":
                    break
                failed_in_row += 1
            last = recent[0] if recent else None
            nxt = upcoming.get(job)
            out.append(
                {
                    "job": job,
                    "schedule": getattr(settings.schedule, job),
                    "last_status": last.status if last else None,
                    "last_started": _dt(last.started_at) if last else None,
                    "last_finished": _dt(last.finished_at) if last else None,
                    "last_error": last.error if last else None,
                    "failed_in_a_row": failed_in_row,
                    "next_run": nxt.isoformat() if nxt else None,
                }
            )
    return out


def last_deliveries(engine: Engine) -> list[dict[str, Any]]:
    """The newest delivery per channel (email, slack-webhook, slack-bot, …)."""
    newest = select(D.channel, func.max(D.id).label("id")).group_by(D.channel).subquery()
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                D.channel, D.target, D.report_period, D.status, D.attempts, D.finished_at, D.error
            )
            .join(newest, D.id == newest.c.id)
            .order_by(D.channel)
        ).all()
    return [
        {
            "channel": r.channel,
            "target": r.target,
            "report_period": r.report_period,
            "status": r.status,
            "attempts": r.attempts,
            "when": _dt(r.finished_at),
            "error": r.error,
        }
        for r in rows
    ]


def open_savings(engine: Engine) -> dict[str, str]:
    """Open findings' monthly savings per currency (each resource counted once), as strings."""
    from rules.engine import list_findings, total_savings

    return {cur: str(v) for cur, v in sorted(total_savings(list_findings(engine, "open")).items())}


def full_status(
    engine: Engine, settings: Settings, days: int, now: datetime | None = None
) -> dict[str, Any]:
    """Everything ``costagent status`` shows, as one JSON-ready object."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    columns, rows = source_status(engine, days)
    return {
        "generated_at": now.replace(microsecond=0).isoformat(),
        "timezone": settings.report.timezone,
        "sources": [_jsonable(dict(zip(columns, r, strict=True))) for r in rows],
        "freshness": freshness(engine),
        "daemon": daemon_state(engine, settings.daemon.lock_stale_seconds, now),
        "jobs": job_states(engine, settings, now),
        "deliveries": last_deliveries(engine),
        "open_monthly_savings": open_savings(engine),
    }


def health_problems(status: dict[str, Any], settings: Settings) -> list[str]:
    """What ``status --check`` (the container healthcheck) fails on; empty when healthy.

    - the daemon lock is missing or its heartbeat is older than ``daemon.lock_stale_seconds``;
    - an enabled job's last ``daemon.check_failed_runs`` runs all failed.
    """
    problems = []
    d = status["daemon"]
    if d["holder"] is None:
        problems.append("daemon not running (no lock held)")
    elif d["stale"]:
        problems.append(
            f"daemon heartbeat is {d['heartbeat_age_seconds']:.0f} s old ({d['holder']})"
        )
    limit = settings.daemon.check_failed_runs
    for job in status["jobs"]:
        if job["schedule"] != "off" and job["failed_in_a_row"] >= limit:
            problems.append(
                f"job {job['job']} failed {job['failed_in_a_row']} times in a row: "
                f"{job['last_error'] or '?'}"
            )
    return problems


def _tz(settings: Settings) -> Any:
    from agent.scheduler import timezone_of

    return timezone_of(settings)


def _dt(value: Any) -> str | None:
    """A stored timestamp (datetime, or text on SQLite) as ISO 8601 UTC, seconds precision."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(value.replace(microsecond=0).isoformat())


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, Decimal) else v
        for k, v in row.items()
    }
