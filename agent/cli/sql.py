"""``costagent sql``: ad-hoc read-only queries over the store."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import OutputFormat, emit, errors, fail, first_line, open_engine, state


def sql(
    query: Annotated[str, typer.Argument(help="One SQL statement (read-only).")],
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Cancel the query after this many seconds.")
    ] = 300.0,
) -> None:
    """Run a read-only SQL query; the database itself refuses writes.

    Views: daily_cost, ai_spend, open_findings.  Tables: cost_line_items, usage_metrics,
    resources, llm_requests, findings, collection_runs.
    """
    from agent.store.readonly import QueryError, ReadOnlyViolation, run_readonly

    with errors():
        open_engine().dispose()  # bring the schema to head before opening read-only
        try:
            result = run_readonly(state.settings.database.url, query, limit, timeout)
        except ReadOnlyViolation as exc:
            fail(first_line(str(exc)), 1)
        except QueryError as exc:
            fail(first_line(f"query failed: {exc}"), 1)
    emit(result.columns, result.rows, fmt)
