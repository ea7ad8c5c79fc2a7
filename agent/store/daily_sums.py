"""How rules read costs: from ``cost_daily``, the per-day rollup the loader keeps.

Most rules ask "per resource (or service, region…), how much in the window" — a question about
days, not line items.  :mod:`agent.store.daily` keeps that rollup in step with every load, so a
rule costs a GROUP BY over a table ~24× smaller than the hourly line items, instead of a full
pass over them.  Window bounds are whole UTC days, so a day is wholly in or out of any window a
rule asks about; the rules that truly need hours (off-hours shares, commitment coverage) still
read the line items, each once.

:func:`total` sums a rollup money column exactly on both databases; :func:`on_daily` re-points a
condition written on ``cost_line_items`` columns at the rollup's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Column, case
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from agent.store.money import _MoneySumType
from agent.store.schema import CostDaily, CostLineItem

daily_costs = CostDaily.__table__
_SOURCE = CostLineItem.__table__
_PARTS = ("w", "m", "p")


class _total(FunctionElement[Decimal]):
    """Exact SUM of a rollup money column: SUM(col) on PostgreSQL, its parts on SQLite."""

    type = _MoneySumType()
    name = "daily_total"
    inherit_cache = True


@compiles(_total)
def _total_default(element: _total, compiler: SQLCompiler, **kw: Any) -> str:
    first = next(iter(element.clauses))
    return f"SUM({compiler.process(first, **kw)})"


@compiles(_total, "sqlite")
def _total_sqlite(element: _total, compiler: SQLCompiler, **kw: Any) -> str:
    _, w, m, p = (compiler.process(x, **kw) for x in element.clauses)
    return (
        f"(CAST(SUM({w}) AS TEXT) || ':' || CAST(SUM({m}) AS TEXT) || ':' || "
        f"CAST(SUM({p}) AS TEXT))"
    )


def total(
    where: ColumnElement[bool] | None = None, name: str = "effective_cost"
) -> ColumnElement[Decimal]:
    """Exact sum of ``name`` over the rollup rows (those matching ``where``): a ``Decimal``."""
    d = daily_costs.c
    cols: list[Any] = [d[name], *(d[f"{name}_{part}"] for part in _PARTS)]
    if where is not None:
        cols = [case((where, col), else_=None) for col in cols]
    return _total(*cols)


def on_daily(expr: Any) -> Any:
    """A condition written on ``cost_line_items`` columns, re-pointed at the rollup's; a column
    the rollup does not keep is an error, never a silent cross join."""

    def replace(element: Any, **_: Any) -> Any:
        table = getattr(element, "table", None)
        if isinstance(element, Column) and table is _SOURCE:
            if element.name not in daily_costs.c:
                raise ValueError(f"cost_daily has no column {element.name!r}")
            return daily_costs.c[element.name]
        return None

    return visitors.replacement_traverse(expr, {}, replace)
