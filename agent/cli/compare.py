"""``costagent compare ...``: what a design alternative would cost, on the measured traffic."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from agent.cli.app import OutputFormat, emit, errors, fail, first_line, out, state, store

compare_app = typer.Typer(help="Cost comparisons of design alternatives.", no_args_is_help=True)


@compare_app.command("rag-vs-finetune")
def compare_rag_vs_finetune(
    app_name: Annotated[str, typer.Option("--app", help="The app (llm_requests.app).")],
    window_days: Annotated[
        int | None,
        typer.Option(min=1, help="Days of traffic to measure (default: [analysis] window_days)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a [rules.rag-vs-finetune.apps.<app>] key: KEY=VALUE (repeatable), "
            "e.g. --set training_cost=1800 --set accuracy_rag=0.86.",
        ),
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    """Monthly cost, cost per correct answer and break-even volume of RAG vs fine-tuning."""
    from agent.usecases.compare import BadComparison, measure, rag_vs_finetune

    with errors():
        try:
            asked = rag_vs_finetune(state.settings, app_name, set_ or [], window_days)
            with store() as engine:
                facts = measure(engine, asked)
        except BadComparison as exc:
            fail(first_line(str(exc)), 2)
    if facts is None:
        days = asked.window_days
        fail(f"no chat requests of app {app_name!r} in the last {days} days of data", 1)
    if fmt == OutputFormat.json:
        sys.stdout.write(json.dumps({"app": app_name, **facts}, indent=2) + "\n")
        return
    rows: list[tuple[Any, ...]] = []
    labels = {
        "per_request": "cost per request",
        "fixed_monthly": "fixed per month",
        "monthly_at_volume": "per month at measured volume",
        "accuracy": "accuracy",
        "cost_per_correct_answer": "cost per correct answer",
    }
    rag, ft = facts["rag"], facts["finetune"]
    assert isinstance(rag, dict) and isinstance(ft, dict)
    for key, label in labels.items():
        rows.append((label, rag[key], ft[key]))
    emit(["", "RAG", "fine-tuned"], rows, fmt, title=f"{app_name}: RAG vs fine-tuning")
    if fmt == OutputFormat.table:
        be, above = facts["break_even_requests_per_month"], facts["cheaper_above_break_even"]
        out.print(
            f"measured {facts['requests_per_month']} requests/month; break-even "
            + (
                f"{be} requests/month ({above} cheaper above it)"
                if be
                else "none (one design is cheaper at any volume)"
            )
        )
        sources = facts["price_sources"]
        assert isinstance(sources, dict)
        for role, names in sources.items():
            out.print(first_line(f"{role} prices: {'; '.join(names)}"), style="dim")
