"""``costagent report`` (the weekly report: printed, written or sent) and ``costagent summary``
(spend at a glance)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli.app import err, errors, fail, first_line, open_engine, out, parse_date, state, store


class ReportFormat(StrEnum):
    """``report --format``: one per channel the report goes to, and JSON for programs."""

    markdown = "markdown"
    html = "html"
    json = "json"
    slack = "slack"


def report(
    fmt: Annotated[
        ReportFormat,
        typer.Option("--format", help="markdown (terminal), html, json or slack (Block Kit)."),
    ] = ReportFormat.markdown,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write to this file (HTML gets the chart embedded)."),
    ] = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Deliver by the configured email / Slack channels (those that already got "
            "this week's report are skipped).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --send: send again to channels that got it.")
    ] = False,
    week_ending: Annotated[
        str | None,
        typer.Option(help="Report the ISO week containing this date (YYYY-MM-DD)."),
    ] = None,
    latest: Annotated[
        bool,
        typer.Option(
            "--latest", help="Report the last full week of the stored data (e.g. the demo)."
        ),
    ] = False,
) -> None:
    """The weekly report: spend week over week, top resources, unit costs, savings, anomalies,
    data freshness.  Default: the last full ISO week in report.timezone."""
    import base64

    from agent.report import as_json, build_report, render
    from agent.report.html import render_html

    if week_ending and latest:
        fail("--week-ending and --latest exclude each other", 2)
    day = parse_date(week_ending, "--week-ending")
    outcomes: list[Any] = []
    with errors(), store() as engine:
        settings = state.settings
        if send and settings.report.email is None and settings.report.slack is None:
            fail(
                first_line("--send: no channel configured; add [report.email] or [report.slack]"), 2
            )
        built = build_report(engine, settings, week=day, latest=latest)
        rendered = render(built, settings)
        if send:
            from agent.notify.deliver import deliver_all

            outcomes = list(deliver_all(engine, settings, rendered, skip_delivered=not force))
    if fmt == ReportFormat.html:
        src = None
        if rendered.chart_png:
            src = "data:image/png;base64," + base64.b64encode(rendered.chart_png).decode()
        text = render_html(built, src) if out_file else rendered.html
    elif fmt == ReportFormat.json:
        text = as_json(built) + "\n"
    elif fmt == ReportFormat.slack:
        text = json.dumps(
            {"text": rendered.slack_text, "blocks": rendered.slack_blocks},
            indent=2,
            ensure_ascii=False,
        )
        text += "\n"
    else:
        text = rendered.markdown
    if out_file is not None:
        with errors():
            out_file.write_text(text, encoding="utf-8")
        err.print(f"wrote {out_file} ({rendered.subject})", highlight=False, markup=False)
    elif not send:
        if fmt == ReportFormat.markdown and out.is_terminal:
            from rich.markdown import Markdown

            out.print(Markdown(text))
        else:
            sys.stdout.write(text)
    failed = False
    for o in outcomes:
        bad = o.status not in ("ok", "skipped")
        failed |= bad
        line = f"{o.channel}: {o.status}" + (f" ({o.error})" if o.error else "")
        if o.status == "skipped":
            line += f" (already delivered for {rendered.period}; --force sends it again)"
        (err if bad else out).print(first_line(line), highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def summary(
    top: Annotated[int, typer.Option(help="How many services and resources to list.")] = 10,
) -> None:
    """Spend by workload, provider and service, week over week, and the top resources."""
    from agent.render_summary import print_summary
    from agent.summary import build_summary

    with errors():
        print_summary(out, build_summary(open_engine(), top))
