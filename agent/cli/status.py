"""``costagent status``: what ran, how fresh the data is, and whether the daemon is healthy."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Annotated, Any

import typer

from agent.cli.app import OutputFormat, emit, err, errors, first_line, out, state, store
from agent.usecases.analysis import window_days


def status(
    days: Annotated[
        int | None,
        typer.Option(help="Totals over this many days (default: [analysis] window_days)."),
    ] = None,
    fmt: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="table (everything), json (one object with everything) or csv (the sources "
            "table only).",
        ),
    ] = OutputFormat.table,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Health check (containers, monitoring): exit 1 if the daemon's lock is missing "
            "or its heartbeat is stale, or a job's last [daemon] check_failed_runs runs failed. "
            "Reads only the lock and the job runs; never migrates.",
        ),
    ] = False,
) -> None:
    """Sources (last run, API requests and cost), data freshness, the daemon, each job's last
    and next run, the last delivery per channel, and the open findings' savings."""
    from agent.status import check as health_check
    from agent.status import full_status, source_status

    if check:
        with errors():
            problems = health_check(state.settings)
        for p in problems:
            err.print(f"unhealthy: {first_line(p)}", highlight=False, markup=False)
        if not problems:
            out.print("healthy")
        raise typer.Exit(1 if problems else 0)
    if fmt == OutputFormat.csv:
        with errors(), store() as engine:
            span = window_days(state.settings, days)
            columns, rows = source_status(engine, span, state.settings.sources)
        emit(columns, rows, fmt)
        return
    with errors(), store() as engine:
        span = window_days(state.settings, days)
        report = full_status(engine, state.settings, span)
    if fmt == OutputFormat.json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
        return
    _status_tables(report, span)


def _status_tables(report: dict[str, Any], days: int) -> None:
    def table(title: str, rows: list[dict[str, Any]], empty: str) -> None:
        if rows:
            emit(list(rows[0]), [tuple(r.values()) for r in rows], OutputFormat.table, title)
        else:
            out.print(f"{title}: {empty}")

    table(f"sources (totals over {days} days)", report["sources"], "no runs yet")
    fresh = [  # minutes are enough on a terminal (JSON keeps the full time)
        {k: v if k == "source" else _short(v) for k, v in r.items()} for r in report["freshness"]
    ]
    table("data freshness (newest UTC time per source)", fresh, "no data")
    d = report["daemon"]
    if d["holder"] is None:
        out.print("daemon: not running")
    else:
        state_ = "stale lock" if d["stale"] else "running"
        out.print(
            f"daemon: {state_}: {d['holder']} since {d['since']} UTC, "
            f"heartbeat {d['heartbeat_age_seconds']:.0f} s ago"
        )
    jobs = [
        {
            "job": j["job"],
            "schedule": j["schedule"],
            "last run": _short(j["last_started"]),
            "status": j["last_status"],
            "failed in a row": j["failed_in_a_row"] or None,
            "next run": _short(j["next_run"]),
            "error": j["last_error"],
        }
        for j in report["jobs"]
    ]
    table(f"jobs (last run UTC, next run {report['timezone']})", jobs, "none")
    deliveries = [
        {
            "channel": x["channel"],
            "period": x["report_period"],
            "status": x["status"],
            "when": _short(x["when"]),
            "error": x["error"],
        }
        for x in report["deliveries"]
    ]
    table("last delivery per channel", deliveries, "none yet")
    money = ", ".join(f"{Decimal(v):,.2f} {k}" for k, v in report["open_monthly_savings"].items())
    out.print(f"open findings save {money or '0'} a month (each resource counted once)")


def _short(iso: str | None) -> str | None:
    """``2026-11-30T09:00:00+01:00`` → ``2026-11-30 09:00`` for the terminal table."""
    return iso[:16].replace("T", " ") if iso else None
