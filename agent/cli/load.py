"""Filling the store: ``costagent import`` (files), ``collect`` (the configured sources once) and
``run`` (the daemon that collects, analyzes and reports on its schedule)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from agent.cli.app import (
    ImportBar,
    err,
    errors,
    fail,
    first_line,
    open_engine,
    out,
    parse_date,
    progress,
    state,
    store,
)


def import_(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Export files or folders (FOCUS, AWS CUR 2.0 / legacy CUR, GCP billing export, "
            "usage metrics CSV, LLM request log JSONL, inventory JSONL)."
        ),
    ],
    source: Annotated[
        str | None, typer.Option(help="Name stored as x_source (default: the detected format).")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Skip detection: focus, aws_cur2, aws_cur_legacy, aws_cur_legacy_parquet, "
            "gcp_billing, usage_metrics, llm_requests, otel_spans, inventory.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import export files. Each billing slice in them replaces the stored one, atomically."""
    from collectors.importer import import_paths

    with errors():
        engine = open_engine(create=True)
        with progress() as p:
            summary = import_paths(
                engine, paths, state.settings, source=source, fmt=fmt, progress=ImportBar(p)
            )
    if json_out:
        out.print_json(
            json.dumps(
                {
                    "files": [{"path": f, "format": k, "rows": r} for f, k, r in summary.files],
                    "rows": summary.rows,
                    "slices": summary.slices,
                }
            )
        )
        return
    table = Table("file", "format", "rows", title="imported")
    for f, k, r in summary.files:
        table.add_row(f, k, f"{r:,}")
    out.print(table)
    out.print(f"{summary.total_rows:,} rows; {len(summary.slices)} slices replaced")


def collect(
    source: Annotated[str | None, typer.Option(help="Only this source (by name).")] = None,
    since: Annotated[str | None, typer.Option(help="Start date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="End date (YYYY-MM-DD).")] = None,
) -> None:
    """Run the configured sources ([[sources]] in the config file)."""
    from agent.pipeline import collect_all

    with errors():
        settings = state.settings
        if not settings.sources:
            fail("no [[sources]] configured; add one to the config file (see `costagent init`)", 2)
        names = {s.name for s in settings.sources}
        if source and source not in names:
            fail(f"no source named {source!r}; configured: {', '.join(sorted(names))}", 2)
        results = collect_all(
            open_engine(create=True),
            settings,
            only=source,
            since=parse_date(since, "--since"),
            until=parse_date(until, "--until"),
        )
    table = Table(
        "source", "status", "rows", "slices", "API requests", "API cost", "note", title="collect"
    )
    failed = False
    for r in results:
        failed |= r.status != "ok"
        note = r.error or "; ".join(r.warnings)
        table.add_row(
            r.source,
            r.status,
            f"{r.rows:,}",
            str(r.slices),
            str(r.api_requests),
            f"${r.api_cost:.2f}",
            first_line(note),
        )
    out.print(table)
    for r in results:
        for w in r.warnings:
            err.print(f"warning: {r.source}: {first_line(w)}")
    if failed:
        raise typer.Exit(1)


class LogFormat(StrEnum):
    """``run --log-format``: lines for a person, or one JSON object a line for a collector."""

    text = "text"
    json = "json"


def run(
    once: Annotated[
        str | None,
        typer.Option(
            "--once",
            metavar="JOB",
            help="Run one job now and exit (collect, collect_metrics, analyze, report); "
            "exit 1 if it did not succeed.",
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format", help="Log lines on stdout: text or json (default: [daemon] log_format)."
        ),
    ] = None,
) -> None:
    """The daemon: collect, analyze and report on the [schedule] cron triggers until SIGTERM.

    One daemon per database (a second one exits 1 naming the holder); every job run is recorded
    and shown by `costagent status`.  SIGTERM / SIGINT: exit 0 within 10 s (--once: exit 1
    unless the job had finished ok).
    """
    from agent.config import JOB_NAMES
    from agent.daemon_lock import LockHeld
    from agent.logs import setup_logging
    from agent.scheduler import Daemon
    from agent.shutdown import Shutdown

    if once is not None and once not in JOB_NAMES:
        fail(f"--once {once!r}: expected one of {', '.join(JOB_NAMES)}", 2)
    with errors():
        settings = state.settings
        setup_logging(log_format or settings.daemon.log_format, state.verbose)
    # Signals are handled from here on, through migrations and the lock: never exit 143.
    shutdown = Shutdown(code=0 if once is None else 1)
    shutdown.install()
    try:
        with errors(), store(create=True) as engine:
            daemon = Daemon(engine, settings, shutdown)
            try:
                code = daemon.serve() if once is None else daemon.once(once)
            except LockHeld as exc:
                fail(first_line(str(exc)), 1)
    finally:
        shutdown.uninstall()
    raise typer.Exit(code)
