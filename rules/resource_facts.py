"""Facts about resources that several rules need, each computed by one SQL aggregation.

* :func:`billing` — per resource: effective cost of its usage rows in the window, first and last
  charge, the hours and days they cover, the summed quantity and its unit (so a rule can derive
  an hourly rate or instance-hours from the bill itself);
* :func:`coverage` — per resource: its readings of one metric, when it was last active, and
  whether its collector is alive (silence is evidence only where somebody was listening);
* :func:`environments` — the environment tag of resources (inventory tags/labels first, then
  billing tags, where AWS spells user tags ``user_<key>``);
* :func:`inventory` / :func:`endpoint_condition` — the inventory rows of given types.

Used by ``idle-endpoint``, ``overprovisioned-endpoint``, ``offhours-schedule`` and
``vector-store-capacity``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from agent.store import daily_sums
from agent.store.daily_sums import daily_costs, on_daily
from agent.store.schema import CostLineItem, Resource, UsageMetric
from rules.base import RuleContext, money
from rules.queries import hour_bucket, in_window, usage_only

ENDPOINT_TYPES = ("sagemaker_endpoint", "vertex_endpoint")
HOUR_UNITS = frozenset({"h", "hr", "hrs", "hour", "hours"})  # pricing units of instance-hours
_HOUR = Decimal(3600)


# -- shared SQL pieces (used by the other endpoint-family rules) -----------------------------------
def as_datetime(value: Any) -> datetime | None:
    """A timestamp from SQL (``datetime`` on PostgreSQL, text on SQLite)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class Billing:
    """One resource's usage rows in the window, aggregated in SQL."""

    resource_id: str
    currency: str
    cost: Decimal  # effective cost, exact
    first: datetime  # first charge period start
    last_end: datetime  # last charge period end (clipped to the window)
    days: int  # distinct UTC days with a charge
    quantity: Decimal  # Σ pricing_quantity
    unit: str | None  # the pricing unit when all rows share one
    single_sku: bool

    @property
    def hours(self) -> Decimal:
        """Hours the billing rows cover, first charge to last (not the whole window: an
        endpoint created mid-window is not diluted)."""
        return Decimal(int((self.last_end - self.first).total_seconds())) / _HOUR

    @property
    def hourly_rate(self) -> Decimal:
        return self.cost / self.hours if self.hours > 0 else Decimal(0)

    @property
    def billed_instance_hours(self) -> Decimal | None:
        """Instance-hours straight from the bill, when every row is one SKU priced per hour
        (a SageMaker hosting line: quantity = instance-hours).  Not for SKUs priced per core-
        or GiB-hour (Vertex AI bills a machine as several such SKUs)."""
        if self.single_sku and (self.unit or "").strip().lower() in HOUR_UNITS:
            return self.quantity if self.quantity > 0 else None
        return None

    def still_billed(self, ctx: RuleContext, days: int) -> bool:
        return self.last_end >= ctx.end - timedelta(days=days)


def billing(ctx: RuleContext, *conditions: ColumnElement[bool]) -> dict[str, Billing]:
    """Per resource: its ``Usage`` rows in the window (effective cost), one row per resource in
    SQL.  A resource billed in two currencies keeps the larger (never mixed).  Computed once
    per analysis for the same conditions (several endpoint rules ask for the same bills)."""
    key = ("billing", *(_sql_key(cond) for cond in conditions))
    if None not in key and key in ctx.cache:
        return dict(ctx.cache[key])
    out = _billing(ctx, *conditions)
    if None not in key:
        ctx.cache[key] = out
    return dict(out)


def _sql_key(condition: ColumnElement[bool]) -> str | None:
    """The condition's SQL with its values inlined (a cache key), or None if that fails."""
    try:
        return str(condition.compile(compile_kwargs={"literal_binds": True}))
    except Exception:
        return None


def _billing(ctx: RuleContext, *conditions: ColumnElement[bool]) -> dict[str, Billing]:
    d = daily_costs.c
    query = (
        select(
            d.resource_id,
            d.billing_currency,
            daily_sums.total(),
            func.min(d.charge_period_start),
            func.max(d.charge_period_end),
            func.count(func.distinct(d.day)),
            func.sum(d.pricing_quantity),
            func.count(func.distinct(d.pricing_unit)),
            func.min(d.pricing_unit),
            func.count(func.distinct(d.sku_id)),
        )
        .where(
            in_window(ctx, d.charge_period_start),
            d.resource_id.is_not(None),
            usage_only(d.charge_category),
            *(on_daily(cond) for cond in conditions),
        )
        .group_by(d.resource_id, d.billing_currency)
    )
    out: dict[str, Billing] = {}
    for rid, currency, cost, first, last, days, qty, units, unit, skus in ctx.conn.execute(query):
        start, end = as_datetime(first), as_datetime(last)
        if rid is None or currency is None or start is None or end is None:
            continue
        end = min(end, ctx.end)
        if end <= start:
            end = start + timedelta(hours=1)
        row = Billing(
            resource_id=rid,
            currency=currency,
            cost=money(cost),
            first=start,
            last_end=end,
            days=int(days or 0),
            quantity=Decimal(str(qty or 0)),
            unit=unit if units == 1 else None,
            single_sku=int(skus or 0) <= 1,
        )
        if rid not in out or row.cost > out[rid].cost:
            out[rid] = row
    return out


@dataclass(frozen=True)
class Coverage:
    """One resource's readings of one metric in the window."""

    readings: int
    first: datetime
    total: float
    recent_total: float  # over the look-back
    recent_readings: int
    last_active: datetime | None  # latest reading above zero
    active_hours: float  # hours with traffic: distinct clock hours of sub-hour readings
    #                      above zero, plus the length of hour-or-longer readings above zero
    peak_hourly: float  # largest reading scaled to an hour (a 5-minute count × 12)
    source_last: datetime  # latest reading (any resource, any metric) of its collector
    since: datetime

    @property
    def source_alive(self) -> bool:
        """Its collector delivered something inside the look-back: silence is measured."""
        return self.source_last >= self.since

    @property
    def measured_until(self) -> datetime:
        """End of the hour of the collector's latest reading: later hours are unmeasured."""
        return self.source_last + timedelta(hours=1)


def coverage(ctx: RuleContext, metric: str, since: datetime) -> dict[str, Coverage]:
    """Per resource with ``metric`` readings in the window, aggregated in SQL; the look-back
    (``recent_*``) starts at ``since``."""
    m = UsageMetric
    # Each collector's latest reading, as a small dict: joined in Python, because a join on an
    # aggregated subquery can turn into a nested loop on a database without fresh statistics.
    source_last = dict(
        ctx.conn.execute(
            select(m.x_source, func.max(m.ts)).where(in_window(ctx, m.ts)).group_by(m.x_source)
        ).all()
    )
    recent = m.ts >= since
    active = m.value > 0
    # Hours with traffic.  Readings shorter than an hour (CloudWatch 1- or 5-minute periods)
    # are bucketed to their clock hour and counted once per hour: summing their lengths would
    # call an endpoint busy every 15 minutes 67 % idle.  Hour-or-longer readings add their
    # length (a daily reading above zero is 24 busy hours; it cannot say which).
    sub_hour = and_(active, m.period_s < 3600)
    long_active = and_(active, m.period_s >= 3600)
    query = (
        select(
            m.resource_id,
            func.count(),
            func.min(m.ts),
            func.sum(m.value),
            func.sum(case((recent, m.value), else_=0.0)),
            func.sum(case((recent, 1), else_=0)),
            func.max(case((active, m.ts), else_=None)),
            func.count(func.distinct(case((sub_hour, hour_bucket(m.ts)), else_=None))),
            func.sum(case((long_active, m.period_s), else_=0)),
            func.max(m.value * 3600.0 / m.period_s),
            m.x_source,
        )
        .where(m.metric == metric, in_window(ctx, m.ts))
        .group_by(m.resource_id, m.x_source)
    )
    out: dict[str, Coverage] = {}
    rows = ctx.conn.execute(query)
    for rid, n, first, total, rtotal, rn, last, short_h, long_s, peak, source in rows:
        src_last = source_last.get(source)
        if rid in out and out[rid].readings >= int(n):
            continue  # one resource fed by two sources: keep the better-covered series
        out[rid] = Coverage(
            readings=int(n),
            first=as_datetime(first) or ctx.start,
            total=float(total or 0),
            recent_total=float(rtotal or 0),
            recent_readings=int(rn or 0),
            last_active=as_datetime(last),
            active_hours=float(short_h or 0) + float(long_s or 0) / 3600,
            peak_hourly=float(peak or 0),
            source_last=as_datetime(src_last) or ctx.start,
            since=since,
        )
    return out


def environments(ctx: RuleContext, key: str, resource_ids: Iterable[str]) -> dict[str, str]:
    """The ``key`` tag (lower-cased) per resource: the inventory's ``tags`` or ``labels``
    first, else the billing rows' tags (``key`` as GCP labels it, ``user_<key>`` as the AWS CUR
    names user-defined cost allocation tags)."""
    ids = sorted(set(resource_ids))
    if not ids:
        return {}
    r = Resource
    out: dict[str, str] = {}
    inventory = func.coalesce(
        r.attributes[("tags", key)].as_string(), r.attributes[("labels", key)].as_string()
    )
    for rid, value in ctx.conn.execute(
        select(r.resource_id, inventory).where(r.resource_id.in_(ids), inventory.is_not(None))
    ):
        out[rid] = str(value).strip().lower()
    rest = [rid for rid in ids if rid not in out]  # only those the inventory does not tag
    if not rest:
        return out
    d = daily_costs.c
    billed = func.coalesce(d.tags[key].as_string(), d.tags[f"user_{key}"].as_string())
    for rid, value in ctx.conn.execute(
        select(d.resource_id, func.max(billed))
        .where(in_window(ctx, d.charge_period_start), d.resource_id.in_(rest), billed.is_not(None))
        .group_by(d.resource_id)
    ):
        out[rid] = str(value).strip().lower()
    return out


def inventory(
    ctx: RuleContext, resource_ids: Iterable[str]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """(resource_type, attributes) per resource id that the inventory knows."""
    ids = sorted(set(resource_ids))
    if not ids:
        return {}
    r = Resource
    rows = ctx.conn.execute(
        select(r.resource_id, r.resource_type, r.attributes).where(r.resource_id.in_(ids))
    )
    return {rid: (rtype, attrs if isinstance(attrs, dict) else {}) for rid, rtype, attrs in rows}


def endpoint_condition(extra_types: Iterable[str] = ()) -> ColumnElement[bool]:
    """Billing rows of an inventoried endpoint, or classified as inference."""
    c, r = CostLineItem, Resource
    types = (*ENDPOINT_TYPES, *extra_types)
    return or_(
        c.resource_id.in_(select(r.resource_id).where(r.resource_type.in_(types))),
        c.x_workload == "inference",
    )


# -- the rule ------------------------------------------------------------------------------------
