"""Where the report reads money from: the ``cost_daily`` rollup when whole UTC days answer the
question exactly, the hourly line items when they cannot.

``cost_daily`` holds ``cost_line_items`` summed per UTC day of ``charge_period_start``.  A
report week is a local week in ``report.timezone``.  When every local midnight of the range is
also a UTC midnight (``UTC``, or e.g. ``Europe/London`` in winter), "``charge_period_start`` in
[start, end)" is exactly "``day`` in [start's date, end's date)", so the rollup — about 24× fewer
rows than hourly line items — gives the same sums to the last digit.  In any other zone a local
day begins part-way through a UTC day, and a per-UTC-day figure cannot be split between two
local days: reading the rollup there would silently move an hour or more of spend into the
wrong week (Berlin's Monday 00:00–01:00 is this week; it lies in UTC's Sunday).  Such reports
read the line items instead, bounded by the ``charge_period_start`` index; the chart groups
them per UTC hour in SQL and buckets the hours into local days in Python (local midnights of
whole-hour zones fall on UTC hour boundaries, so no hour straddles two local days).  For the
few zones with a non-whole-hour offset (India, Nepal, Newfoundland…) the hours are not enough
and rows are grouped by their exact ``charge_period_start``.

Sums are exact on both databases: :func:`agent.store.money.money_sum` over line items,
:func:`agent.store.daily_sums.total` over the rollup's integer parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import String, case, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from agent.report.period import zone
from agent.store.daily_sums import total
from agent.store.money import money_sum
from agent.store.schema import CostDaily, CostLineItem

LINE_ITEMS = CostLineItem.__table__
DAILY = CostDaily.__table__


class hour_start(FunctionElement[str]):
    """The UTC hour a timestamp falls in (``date_trunc`` / ``strftime``); read back with
    :func:`as_datetime` (SQLite returns text)."""

    type = String()
    name = "hour_start"
    inherit_cache = True


@compiles(hour_start)
def _hour_start_default(element: hour_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_trunc('hour', {compiler.process(element.clauses, **kw)})"


@compiles(hour_start, "sqlite")
def _hour_start_sqlite(element: hour_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H:00:00', {compiler.process(element.clauses, **kw)})"


def as_datetime(value: Any) -> datetime | None:
    """A timestamp read from either database as a naive-UTC ``datetime``."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    return datetime.fromisoformat(str(value))


def local_midnights(timezone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every local midnight in [start, end) (naive-UTC bounds) as naive UTC."""
    tz = zone(timezone)
    day = start.replace(tzinfo=UTC).astimezone(tz).date()
    out: list[datetime] = []
    while True:
        at = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
        if at >= end:
            return out
        if at >= start:
            out.append(at)
        day += timedelta(days=1)


@dataclass(frozen=True)
class Grain:
    """How one report reads costs; ``daily`` when the rollup is exact for the whole range."""

    timezone: str
    daily: bool
    whole_hours: bool  # local midnights on UTC hour boundaries (hourly buckets are exact)

    @classmethod
    def for_range(cls, timezone: str, start: datetime, end: datetime) -> Grain:
        midnights = local_midnights(timezone, start, end)
        return cls(
            timezone=timezone,
            daily=all(m.hour == 0 and m.minute == 0 for m in midnights),
            whole_hours=all(m.minute == 0 and m.second == 0 for m in midnights),
        )

    @property
    def table(self) -> Any:
        return DAILY if self.daily else LINE_ITEMS

    def c(self, name: str) -> Any:
        """A column both tables keep under the same name (resource_id, service_name, …)."""
        return self.table.c[name]

    def since(self, at: datetime) -> ColumnElement[bool]:
        if self.daily:
            return DAILY.c.day >= at.date()
        return LINE_ITEMS.c.charge_period_start >= at

    def before(self, at: datetime) -> ColumnElement[bool]:
        if self.daily:
            return DAILY.c.day < at.date()
        return LINE_ITEMS.c.charge_period_start < at

    def between(self, start: datetime, end: datetime) -> ColumnElement[bool]:
        return self.since(start) & self.before(end)

    def money(self, where: ColumnElement[bool] | None = None) -> ColumnElement[Decimal]:
        """Exact sum of effective cost (of the rows matching ``where``): a ``Decimal``."""
        if self.daily:
            return total(where)
        cost = LINE_ITEMS.c.effective_cost
        return money_sum(case((where, cost), else_=None) if where is not None else cost)

    def rank(self, where: ColumnElement[bool]) -> ColumnElement[Any]:
        """A plain SUM of effective cost for ORDER BY (money_sum is text on SQLite)."""
        return func.sum(case((where, self.c("effective_cost")), else_=0))

    def rows(self) -> ColumnElement[Any]:
        """How many line items the grouped rows stand for."""
        return func.sum(DAILY.c.line_items) if self.daily else func.count()

    def usage_label(self) -> Any:
        """``COALESCE(x_usage_type, charge_description)``, the rollup's ``usage_label``."""
        if self.daily:
            return DAILY.c.usage_label
        return func.coalesce(LINE_ITEMS.c.x_usage_type, LINE_ITEMS.c.charge_description)

    def chart_bucket(self) -> Any:
        """What the chart groups by in SQL: the UTC day, the UTC hour, or the exact start."""
        if self.daily:
            return DAILY.c.day
        if self.whole_hours:
            return hour_start(LINE_ITEMS.c.charge_period_start)
        return LINE_ITEMS.c.charge_period_start

    def local_day(self, bucket: Any) -> date:
        """The local day (in ``timezone``) of a value of :meth:`chart_bucket`."""
        at = as_datetime(bucket)
        assert at is not None
        if self.daily:
            return at.date()
        return at.replace(tzinfo=UTC).astimezone(zone(self.timezone)).date()
