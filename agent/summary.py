"""A spend summary straight from the store: by workload and service, week over week, top resources.

The weeks are anchored on the newest charge in the store, not on today, so a summary of an old
export (or the demo month) still compares two full weeks.  Every figure is an exact ``money_sum``
grouped by currency: amounts in different currencies are never added together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, func, select
from sqlalchemy.orm import QueryableAttribute

from agent.store.money import money_sum
from agent.store.schema import CostLineItem as C


@dataclass(frozen=True)
class Row:
    key: str
    currency: str
    this_week: Decimal
    last_week: Decimal
    window: Decimal

    @property
    def change(self) -> Decimal | None:
        if self.last_week == 0:
            return None
        return (self.this_week - self.last_week) / self.last_week * 100


@dataclass(frozen=True)
class Summary:
    start: datetime | None
    end: datetime | None
    week_start: datetime | None
    line_items: int
    by_workload: Sequence[Row]
    by_service: Sequence[Row]
    top_resources: Sequence[Row]
    by_provider: Sequence[Row]


def _grouped(
    engine: Engine,
    key: QueryableAttribute[Any],
    week_start: datetime,
    prev_start: datetime,
    limit: int | None = None,
    where: ColumnElement[bool] | None = None,
) -> list[Row]:
    cost = C.effective_cost
    ts = C.charge_period_start
    this_week = money_sum(case((ts >= week_start, cost), else_=0))
    last_week = money_sum(case(((ts >= prev_start) & (ts < week_start), cost), else_=0))
    total = money_sum(cost)
    stmt: Any = (
        select(key, C.billing_currency, this_week, last_week, total)
        .group_by(key, C.billing_currency)
        .order_by(func.sum(cost).desc())  # money_sum is text on SQLite: order by a plain sum
    )
    if where is not None:
        stmt = stmt.where(where)
    if limit:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        Row(
            str(k) if k is not None else "(none)",
            cur or "?",
            tw or Decimal(0),
            lw or Decimal(0),
            t or Decimal(0),
        )
        for k, cur, tw, lw, t in rows
    ]


def build_summary(engine: Engine, top: int = 10) -> Summary:
    with engine.connect() as conn:
        start, end, n = conn.execute(
            select(func.min(C.charge_period_start), func.max(C.charge_period_start), func.count())
        ).one()
    if end is None:
        return Summary(None, None, None, 0, [], [], [], [])
    day = end.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = day - timedelta(days=6)
    prev_start = week_start - timedelta(days=7)
    return Summary(
        start=start,
        end=end,
        week_start=week_start,
        line_items=int(n),
        by_workload=_grouped(engine, C.x_workload, week_start, prev_start),
        by_service=_grouped(engine, C.service_name, week_start, prev_start, top),
        top_resources=_grouped(
            engine, C.resource_id, week_start, prev_start, top, C.resource_id.is_not(None)
        ),
        by_provider=_grouped(engine, C.provider_name, week_start, prev_start),
    )
