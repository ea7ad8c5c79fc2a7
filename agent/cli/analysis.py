"""``costagent analyze`` (the rules over the store) and ``costagent findings`` (what they found,
and the user's ack / suppress / reopen of each)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from agent.cli.app import (
    OutputFormat,
    emit,
    err,
    errors,
    fail,
    first_line,
    out,
    parse_date,
    plain,
    state,
    store,
)
from agent.store.findings import FindingRow

findings_app = typer.Typer(
    help="List savings findings, or change one's status (ack, suppress, reopen).",
    invoke_without_command=True,
)


def analyze(
    window_days: Annotated[
        int | None,
        typer.Option(
            min=1, help="Days of data the rules look at (default: [analysis] window_days)."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATE|latest",
            help=(
                "Analyse the window ending with this day (YYYY-MM-DD), or with the newest "
                "stored data ('latest': a backfilled export, the demo). Default: today."
            ),
        ),
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    """Run every enabled rule over the store and update the findings.

    A finding no rule produced is resolved only when its source delivered data in the window;
    findings of silent sources keep their status.  Exit 1 when a rule failed or the window
    holds no data at all (try --as-of latest)."""
    from agent.store.findings import (
        end_of_data,
        list_findings,
        savings_by_confidence,
        total_savings,
    )
    from agent.usecases.analysis import analyze as run_analysis

    day = None if as_of in (None, "latest") else parse_date(as_of, "--as-of")
    with errors(), store() as engine:
        if as_of == "latest":
            now: datetime | None = end_of_data(engine)
        elif day is not None:
            now = datetime.combine(day, datetime.min.time()) + timedelta(days=1)
        else:
            now = None
        result = run_analysis(engine, state.settings, window_days, now=now)
        open_now = list_findings(engine, "open")
    totals = total_savings(open_now)
    if fmt == OutputFormat.json:
        payload = {
            "window": [t.isoformat() for t in result.window],
            "findings_by_rule": result.produced,
            "new": result.new,
            "resolved": result.resolved,
            "errors": result.errors,
            "warnings": result.warnings,
            "retired": result.retired,
            "kept_unjudged": result.kept,
            "sources_with_data": sorted(result.live_sources),
            "no_data": result.no_data,
            "seconds": result.seconds,
            "open_monthly_savings": {k: str(v) for k, v in totals.items()},
            "open_monthly_savings_by_confidence": {
                c: {k: str(v) for k, v in split.items()}
                for c, split in savings_by_confidence(open_now).items()
            },
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        columns = ["rule", "findings"]
        rows: list[tuple[Any, ...]] = [(r, n) for r, n in result.produced.items()]
        rows += [(r, f"failed: {e}") for r, e in result.errors.items()]
        emit(columns, rows, fmt)
        # Warnings are what the user can fix (a model without a price): on the terminal
        # with the summary, on stderr when stdout is CSV for a program.
        console = out if fmt == OutputFormat.table else err
        for rule_id, messages in result.warnings.items():
            for message in messages:
                line = first_line(f"warning: {rule_id}: {message}")
                console.print(line, style="yellow", soft_wrap=True)
        for rule_id, n in result.retired.items():
            line = first_line(f"{rule_id}: turned off or removed, {n} finding(s) resolved")
            console.print(line, style="dim", soft_wrap=True)
        for source, n in sorted(result.kept.items()):
            if result.no_data:
                break
            line = first_line(
                f"warning: no data in the window from {source or 'their source'}: {n} "
                "finding(s) kept as they were (not judged)"
            )
            console.print(line, style="yellow", soft_wrap=True)
        if fmt == OutputFormat.table:
            out.print(
                f"{result.new} new, {result.resolved} resolved; open findings save "
                f"{savings_line(open_now)}. Next: costagent findings",
                soft_wrap=True,
            )
    if result.no_data:
        start, end = (t.date().isoformat() for t in result.window)
        kept = sum(result.kept.values())
        err.print(
            f"error: no data in the analysis window {start} → {end}: nothing was judged and "
            f"{kept} finding(s) kept as they were; analyse the newest data with "
            "`costagent analyze --as-of latest` (or load newer data)",
            style="red",
            soft_wrap=True,
        )
    if result.errors or result.no_data:
        raise typer.Exit(1)


@findings_app.callback()
def findings(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="open, acknowledged, suppressed or resolved.")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    """The findings, biggest savings first (all statuses unless --status)."""
    if ctx.invoked_subcommand is not None:
        return
    from agent.store.findings import FINDING_FIELDS, STATUSES, list_findings

    if status is not None and status not in STATUSES:
        fail(f"--status {status!r}: expected one of {', '.join(STATUSES)}", 2)
    with errors(), store() as engine:
        rows = list_findings(engine, status)
    if fmt == OutputFormat.json:
        sys.stdout.write(json.dumps([_finding_json(r) for r in rows], indent=2) + "\n")
        return
    if fmt == OutputFormat.csv:
        emit(list(FINDING_FIELDS), [_finding_csv(r) for r in rows], fmt)
        return
    findings_table(rows, "findings")


def findings_table(rows: list[FindingRow], title: str) -> None:
    """Findings in the terminal, with the total that counts each resource once."""
    from agent.store.findings import total_savings

    columns = ["fingerprint", "status", "savings/month", "confidence", "title"]
    emit(
        columns,
        [
            (
                r["fingerprint"],
                r["status"],
                f"{r['monthly_savings']:,.2f} {r['currency']}",
                r["confidence"],
                r["title"],
            )
            for r in rows
        ],
        OutputFormat.table,
        title=title,
    )
    open_rows = [r for r in rows if r["status"] == "open"]
    totals = total_savings(open_rows)
    if totals:
        out.print(f"open findings save {savings_line(open_rows)}", soft_wrap=True)


def savings_line(open_rows: list[FindingRow]) -> str:
    """``21,399.56 USD (high 3,000.00 · medium 8,000.00 · low 10,399.56) a month, each resource
    counted once``: the total and how certain it is, one wording for ``analyze`` and
    ``findings``."""
    from agent.store.findings import savings_by_confidence, total_savings

    totals = total_savings(open_rows)
    split = savings_by_confidence(open_rows)
    parts = []
    for currency, total in sorted(totals.items()):
        levels = " · ".join(f"{k} {v:,.2f}" for k, v in split.get(currency, {}).items())
        parts.append(f"{total:,.2f} {currency}" + (f" ({levels})" if levels else ""))
    return (", ".join(parts) or "0") + " a month, each resource counted once"


def _finding_json(row: FindingRow) -> dict[str, Any]:
    out_row = {k: plain(v) for k, v in row.items()}
    evidence = row["evidence"]
    if isinstance(evidence, dict | list):
        out_row["evidence"] = evidence
    else:
        out_row["evidence"] = json.dumps(evidence) if evidence else None
    return out_row


def _finding_csv(row: FindingRow) -> tuple[Any, ...]:
    """One CSV row: the evidence as a JSON document (a spreadsheet or ``json.loads`` can read
    it back; a Python dict repr is neither)."""
    from agent.store.findings import FINDING_FIELDS

    item = _finding_json(row)
    if isinstance(item["evidence"], dict | list):
        item["evidence"] = json.dumps(item["evidence"], sort_keys=True, default=str)
    return tuple(item[name] for name in FINDING_FIELDS)


def _set_status(fp: str, status: str, until: str | None = None, reason: str | None = None) -> None:
    from agent.store.findings import set_status

    until_day = parse_date(until, "--until")
    with errors(), store() as engine:
        found = set_status(
            engine,
            fp,
            status,
            datetime.combine(until_day, datetime.min.time()) if until_day else None,
            reason,
        )
    if not found:
        fail(f"no finding {fp!r}; list them with: costagent findings", 1)
    out.print(f"{fp}: {status}" + (f" until {until_day}" if until_day else ""))


@findings_app.command("ack")
def findings_ack(
    fingerprint: Annotated[str, typer.Argument(help="As shown by `costagent findings`.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept with the finding).")] = None,
) -> None:
    """Acknowledge a finding: it stays listed as acknowledged, no longer as new."""
    _set_status(fingerprint, "acknowledged", reason=reason)


@findings_app.command("suppress")
def findings_suppress(
    fingerprint: Annotated[str, typer.Argument(help="As shown by `costagent findings`.")],
    until: Annotated[
        str | None, typer.Option(help="Date the suppression lapses (YYYY-MM-DD).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept with the finding).")] = None,
) -> None:
    """Silence a finding (until a date, or for good); reports leave it out."""
    _set_status(fingerprint, "suppressed", until=until, reason=reason)


@findings_app.command("reopen")
def findings_reopen(
    fingerprint: Annotated[str, typer.Argument(help="As shown by `costagent findings`.")],
) -> None:
    """Undo ack / suppress."""
    _set_status(fingerprint, "open")
