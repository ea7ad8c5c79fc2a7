"""``costagent status``: is the agent doing its job on this store?

Per source, the last run and what the runs cost in API requests (Cost Explorer bills every
request and BigQuery every byte scanned: a user must see what the agent spends on their behalf);
how fresh each source's data is; whether the daemon runs (its lock and heartbeat); each job's
last run and next scheduled run; each channel's last delivery; and what the open findings would
save.  All of it comes from the store, so it works from any shell, daemon running or not.

Nothing here scans a big table: freshness is a few index probes per source (billing from the
``cost_daily`` rollup, usage from ``usage_metrics`` / ``llm_requests``, each with an
``(x_source, time)`` index), and ``status --check`` — the container healthcheck, run every
minute — reads only ``daemon_lock`` and ``job_runs`` and never migrates the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, case, func, select, text
from sqlalchemy.engine import make_url

from agent.config import JOB_NAMES, Settings
from agent.store.clock import utcnow
from agent.store.schema import CollectionRun as R
from agent.store.schema import Delivery as D
from agent.store.schema import JobRun as J
from collectors.base import SourceConfig

NEVER_RUN = "never run"


def source_status(
    engine: Engine, days: int, configured: Sequence[SourceConfig] = ()
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Per source: its last run and the totals over ``days``; configured sources that never
    ran are listed too (status "never run"), so a source that silently never starts shows."""
    since = utcnow() - timedelta(days=days)
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
    rows: list[tuple[Any, ...]] = []
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
    seen = {r[0] for r in rows}
    for source in configured:
        if source.name not in seen:
            last_run = (None, NEVER_RUN, None, None, None)  # last run, status, rows, req., cost
            rows.append((source.name, source.type, *last_run, 0, 0, 0, _usd(0), None))
    rows.sort(key=lambda r: str(r[0]))
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
#: freshness key -> (table, time column); each table has an index on (x_source, column)
FRESHNESS = {
    "cost": ("cost_daily", "last_start"),  # = the newest line item's charge_period_start
    "metrics": ("usage_metrics", "ts"),
    "llm_requests": ("llm_requests", "ts"),
    "llm_usage": ("llm_usage", "bucket_start"),
}


def newest_per_source(conn: Connection, table: str, column: str) -> list[tuple[str, Any]]:
    """``(x_source, MAX(column))`` for every source in ``table``, without reading the table.

    A GROUP BY would read every row (or every index entry).  This is a loose index scan: a
    recursive CTE hops from one distinct ``x_source`` to the next (one index probe each), and
    the newest time per source is one more probe — a few dozen probes for a dozen sources, on
    SQLite and PostgreSQL alike.  ``table`` and ``column`` are this module's constants.
    """
    sql = text(
        f"""
        WITH RECURSIVE src(name) AS (
            SELECT (SELECT x_source FROM {table} ORDER BY x_source LIMIT 1)
            UNION ALL
            SELECT (
                SELECT x_source FROM {table} WHERE x_source > src.name
                ORDER BY x_source LIMIT 1
            )
            FROM src WHERE src.name IS NOT NULL
        )
        SELECT name, (SELECT MAX({column}) FROM {table} WHERE x_source = src.name)
        FROM src WHERE name IS NOT NULL
        """
    )
    return [(str(name), newest) for name, newest in conn.execute(sql)]


def freshness(engine: Engine) -> list[dict[str, Any]]:
    """Per ``x_source``: the newest cost row (charge period start), metric point, LLM request.

    The last *run* of a source can be ok while its data is old (an export that stopped being
    written); this is the number that shows it.
    """
    newest: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for key, (table, column) in FRESHNESS.items():
            for src, ts in newest_per_source(conn, table, column):
                newest.setdefault(src, {})[key] = _dt(ts)
    return [{"source": s, **{k: newest[s].get(k) for k in FRESHNESS}} for s in sorted(newest)]


def daemon_state(engine: Engine, stale_seconds: int) -> dict[str, Any]:
    """The lock row: who runs the daemon, since when, how fresh its heartbeat is — aged on the
    database's clock, like the daemons themselves do, so this host's clock does not matter."""
    from agent.daemon_lock import me, read, stale_reason

    holder = read(engine)
    if holder is None:
        return {"running": False, "holder": None, "since": None, "heartbeat_age_seconds": None}
    age = round(holder.age_seconds, 1) if holder.age_seconds is not None else None
    # The daemon's own test: a holder proven alive on this host (same boot and pid namespace,
    # same process start) is running, however old its heartbeat — on SQLite a long load holds
    # the only write lock and a busy daemon cannot beat.  Elsewhere the heartbeat decides.
    stale = stale_reason(holder, timedelta(seconds=stale_seconds), me()) is not None
    return {
        "running": not stale,
        "holder": holder.holder,
        "since": _dt(holder.acquired_at),
        "heartbeat_age_seconds": age,
        "stale": stale,
    }


def job_states(engine: Engine, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Per job: the last run, how many runs in a row failed, the next scheduled run."""
    from agent.cron import next_runs

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
    from agent.store.findings import list_findings, total_savings

    return {cur: str(v) for cur, v in sorted(total_savings(list_findings(engine, "open")).items())}


def full_status(
    engine: Engine, settings: Settings, days: int, now: datetime | None = None
) -> dict[str, Any]:
    """Everything ``costagent status`` shows, as one JSON-ready object."""
    now = now or utcnow()
    columns, rows = source_status(engine, days, settings.sources)
    return {
        "generated_at": now.replace(microsecond=0).isoformat(),
        "timezone": settings.report.timezone,
        "sources": [_jsonable(dict(zip(columns, r, strict=True))) for r in rows],
        "freshness": freshness(engine),
        "daemon": daemon_state(engine, settings.daemon.lock_stale_seconds),
        "jobs": job_states(engine, settings, now),
        "deliveries": last_deliveries(engine),
        "open_monthly_savings": open_savings(engine),
    }


def health_status(engine: Engine, settings: Settings, now: datetime) -> dict[str, Any]:
    """The part of the status :func:`health_problems` needs: the lock and the job runs only."""
    return {
        "daemon": daemon_state(engine, settings.daemon.lock_stale_seconds),
        "jobs": job_states(engine, settings, now),
    }


def check(settings: Settings, now: datetime | None = None) -> list[str]:
    """``status --check``: the health problems, reading two small tables and nothing else.

    The schema is only compared with this costagent's migrations, never upgraded: a
    healthcheck must not run migrations (the daemon does when it starts).
    """
    from agent.store.engine import (
        DatabaseError,
        current_revision,
        head_revision,
        make_engine,
        require_sqlite_file,
    )

    now = now or utcnow()
    url = settings.database.url
    require_sqlite_file(url)
    engine = make_engine(url)
    try:
        try:
            revision = current_revision(engine)
        except Exception as exc:
            raise DatabaseError(f"cannot open database {make_url(url)!r}: {exc}") from None
        head = head_revision()
        if revision != head:
            return [
                f"database schema is at revision {revision or 'none'}, this costagent expects "
                f"{head} (the daemon upgrades it when it starts; or run `costagent db upgrade`)"
            ]
        return health_problems(health_status(engine, settings, now), settings)
    finally:
        engine.dispose()


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
    from agent.cron import timezone_of

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
