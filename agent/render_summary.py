"""The spend summary as terminal tables (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from agent.summary import Row, Summary
from agent.terminal import styled


def money(amount: Decimal, currency: str) -> str:
    """Cents, thousands separators, the currency code: never a bare number."""
    return f"{amount.quantize(Decimal('0.01')):,} {currency}"


def _change(row: Row) -> str:
    pct = row.change
    if pct is None:
        return "new" if row.this_week else "-"
    arrow = "▲" if pct > 0 else "▼" if pct < 0 else " "
    return f"{arrow} {abs(pct):.0f}%"


def _table(title: str, label: str, rows: Sequence[Row]) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column(label)
    t.add_column("last 7 days", justify="right")
    t.add_column("7 days before", justify="right")
    t.add_column("change", justify="right")
    t.add_column("whole period", justify="right")
    for r in rows:
        t.add_row(
            r.key,
            money(r.this_week, r.currency),
            money(r.last_week, r.currency),
            _change(r),
            money(r.window, r.currency),
        )
    return t


def print_summary(console: Console, s: Summary) -> None:
    if s.end is None or s.start is None or s.week_start is None:
        console.print(
            "The store is empty: import some data first "
            "(`costagent import PATH` or `costagent demo`)."
        )
        return
    console.print(
        styled("Spend summary", "bold")
        + styled(
            f" (effective cost) {s.start:%Y-%m-%d} → {s.end:%Y-%m-%d}, "
            f"{s.line_items:,} line items; last 7 days from {s.week_start:%Y-%m-%d}",
            "",
        )
    )
    console.print(_table("By workload", "workload", s.by_workload))
    console.print(_table("By provider", "provider", s.by_provider))
    console.print(_table("Top services", "service", s.by_service))
    console.print(_table("Top resources", "resource", s.top_resources))
