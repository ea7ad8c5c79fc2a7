"""SQL pieces several rules share, so each rule states only its own condition.

Every function returns a SQLAlchemy selectable over the store's normalised tables (never raw
provider columns), bounded to the analysis window of a :class:`~rules.base.RuleContext`;
callers join them and aggregate further in the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, DateTime, Subquery, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from agent.store.daily_sums import daily_costs, on_daily, total
from agent.store.schema import CostLineItem, Resource, UsageMetric
from rules.base import RuleContext


def attr(key: str) -> Any:
    """A key of ``resources.attributes`` (JSON), portable across SQLite and PostgreSQL; use
    ``.as_string()``, ``.as_float()``, ``.as_boolean()``, ``.as_integer()`` on it."""
    return Resource.attributes[key]


class hour_bucket(FunctionElement[datetime]):
    """``hour_bucket(ts)``: the timestamp's UTC hour (``date_trunc('hour', ts)`` on PostgreSQL,
    ``strftime('%Y-%m-%d %H', ts)`` text on SQLite) — a GROUP BY / COUNT(DISTINCT …) key for
    "hours with a reading", whatever the readings' period.  Compare buckets with each other only
    (the two dialects return different types)."""

    type = DateTime()
    inherit_cache = True
    name = "hour_bucket"


@compiles(hour_bucket)
def _hour_bucket_default(element: hour_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    (ts,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_trunc('hour', {ts})"


@compiles(hour_bucket, "sqlite")
def _hour_bucket_sqlite(element: hour_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    (ts,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"strftime('%Y-%m-%d %H', {ts})"


USAGE = "Usage"


def usage_only(column: Any = CostLineItem.charge_category) -> ColumnElement[bool]:
    """Rows of what running something costs (FOCUS ``ChargeCategory = Usage``).  Taxes,
    credits, refunds, purchases and adjustments land on a resource's rows too, but are not
    caused by its hours: tax would inflate what stopping it saves, a credit would hide it.
    Every rule that prices a resource from its bill filters with this."""
    return cast("ColumnElement[bool]", column == USAGE)


def in_window(ctx: RuleContext, column: Any = CostLineItem.charge_period_start) -> Any:
    return (column >= ctx.start) & (column < ctx.end)


def resource_costs(
    ctx: RuleContext, *conditions: ColumnElement[bool], effective: bool = True
) -> Subquery:
    """Per (resource_id, currency) in the window: ``cost`` (exact), ``first``/``last`` charge
    hour and ``rows`` (line items); only usage rows (:func:`usage_only`) with a resource id and
    matching ``conditions`` (written on ``cost_line_items`` columns; read from the analysis's
    daily rollup).

    ``cost`` is exact (see :func:`agent.store.daily_sums.total`): read it, never ``SUM()`` it
    again in SQL (on SQLite it travels as exact integer parts in text); total it in Python or
    sum the rows.
    """
    d = daily_costs.c
    return (
        select(
            d.resource_id.label("resource_id"),
            d.billing_currency.label("currency"),
            total(name="effective_cost" if effective else "billed_cost").label("cost"),
            func.min(d.charge_period_start).label("first"),
            func.max(d.last_start).label("last"),
            func.sum(d.line_items).label("rows"),
        )
        .where(
            in_window(ctx, d.charge_period_start),
            d.resource_id.is_not(None),
            usage_only(d.charge_category),
            *(on_daily(cond) for cond in conditions),
        )
        .group_by(d.resource_id, d.billing_currency)
        .subquery()
    )


def metric_stats(ctx: RuleContext, metric: str, since: datetime | None = None) -> Subquery:
    """Per resource, over [since or window start, window end): ``total`` (SUM), ``peak`` (MAX),
    ``mean`` (AVG) of ``metric`` and ``hours`` (distinct timestamps with a reading)."""
    m = UsageMetric
    return (
        select(
            m.resource_id.label("resource_id"),
            func.sum(m.value).label("total"),
            func.max(m.value).label("peak"),
            func.avg(m.value).label("mean"),
            func.count(func.distinct(m.ts)).label("hours"),
        )
        .where(m.metric == metric, m.ts >= (since or ctx.start), m.ts < ctx.end)
        .group_by(m.resource_id)
        .subquery()
    )
