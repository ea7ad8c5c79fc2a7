"""``cost-anomaly``: a day that cost far more than the same weekday usually does.

Cloud spend has a strong weekly rhythm (weekday traffic, weekend batch jobs), so a day is
compared with the same weekday of the previous ``baseline_weeks`` (4) weeks, per (provider,
service, usage type, region, currency) — a new instance family, a runaway job or a forgotten
endpoint shows up as its own usage type.  The test is Iglewicz & Hoaglin's modified z-score
(NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.5.17), which uses the median and the
median absolute deviation (MAD) instead of mean and standard deviation, so one earlier spike
does not hide the next:

    z = 0.6745 × (x − median) / MAD,   flagged when z ≥ 3.5 (their recommended cut-off),

and, so that a rounding-level wobble on a flat series (MAD = 0) is not news, the excess must
also be ≥ ``min_increase`` (20 %) of the median and ≥ ``min_excess`` ($50).  A MAD of 0 with
x above the median counts as z = ∞.  A usage type with no cost on any baseline day — a new SKU
or a new region — is flagged when the day's cost reaches ``min_excess``, once, on the first
recent day it does (one event, not a finding a day).  Only increases are reported (a drop saves
money).

Which days: the last ``recent_days`` (7) of the window, each against its own 4 preceding
weekdays, so the rule reads up to 5 weeks of data and **looks back before the window start**
(``ctx.start``) when the window is shorter than ``recent_days`` + 28 days.  Baseline days on
which the provider has no billing rows at all (before the store's history begins; read from the
same aggregation) are unknown, not zero; a day is judged only when at least
``min_baseline_weeks`` of its baseline days are covered.  A covered day without rows for the
usage type counts as zero.

Portability: the database sums cost per (provider, service, usage type, region, currency, day)
with ``date(charge_period_start)``, which SQLite and PostgreSQL both provide; Python computes
the medians and MADs over at most 5 values per group on those aggregated rows.

Savings: the excess (actual − expected) × 30 days, what it would cost if it persisted; low
confidence (an anomaly may be a planned launch).  Findings on several days of one usage type
share a ``resource_id``, so a report counts that usage type's largest excess once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any

from pydantic import Field
from sqlalchemy import func, select

from rules.base import CENT, Candidate, Rule, RuleConfig, RuleContext, money
from rules.daily import daily_costs, total

Z_FACTOR = Decimal("0.6745")  # Φ⁻¹(0.75): makes the MAD comparable to a standard deviation


def robust_z(value: Decimal, baseline: list[Decimal]) -> tuple[Decimal, Decimal, Decimal | None]:
    """(median, MAD, modified z) of ``value`` against ``baseline``; z is None for +∞ (MAD = 0
    and the value above the median)."""
    mid = Decimal(median(baseline))
    mad = Decimal(median([abs(b - mid) for b in baseline]))
    if mad == 0:
        return mid, mad, (None if value > mid else Decimal(0))
    return mid, mad, Z_FACTOR * (value - mid) / mad


class CostAnomalyConfig(RuleConfig):
    recent_days: int = Field(7, ge=1, le=28, description="days at the window's end to judge")
    baseline_weeks: int = Field(4, ge=2, le=8, description="same weekdays to compare with")
    min_baseline_weeks: int = Field(4, ge=2, description="covered baseline days needed")
    z_threshold: Decimal = Field(Decimal("3.5"), gt=0, description="Iglewicz & Hoaglin cut-off")
    min_increase: Decimal = Field(Decimal("0.20"), ge=0, description="excess over the median")
    min_excess: Decimal = Field(Decimal("50"), ge=0, description="excess in currency per day")
    persist_days: int = Field(30, ge=1, description="days the excess is assumed to last")
    charge_categories: tuple[str, ...] = Field(("Usage",), min_length=1)


class CostAnomaly(Rule):
    rule_id = "cost-anomaly"
    title = "Cost anomaly"
    family = "anomalies"
    description = (
        "Daily cost of a service and usage type far above the same weekday of the previous 4 "
        "weeks (modified z-score ≥ 3.5, +20 % and +$50), or a new SKU / region above $50 a day."
    )
    sources = (
        "https://www.itl.nist.gov/div898/handbook/eda/section3/eda35h.htm",
        "Iglewicz, B. and Hoaglin, D. (1993), How to Detect and Handle Outliers, ASQC",
    )
    config_model = CostAnomalyConfig

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        assert isinstance(cfg, CostAnomalyConfig)
        end = ctx.end.date()
        recent = [end - timedelta(days=i) for i in range(cfg.recent_days, 0, -1)]
        since = recent[0] - timedelta(weeks=cfg.baseline_weeks)
        covered: dict[str, set[date]] = {}  # per provider: days with any of its billing rows
        daily: dict[tuple[str, str, str, str, str], dict[date, Decimal]] = {}
        for provider, service, usage, region, currency, day, cost in self._daily(ctx, cfg, since):
            key = (str(provider), str(service), str(usage), str(region or ""), str(currency))
            daily.setdefault(key, {})[_day(day)] = money(cost)
            covered.setdefault(str(provider), set()).add(_day(day))
        for key in sorted(daily):
            provider, service, usage, region, currency = key
            days = daily[key]
            group = f"{service}|{usage}|{region or 'global'}"
            new_seen = False  # a new SKU is one event: reported on its first day only
            for day in recent:
                actual = days.get(day, Decimal(0))
                if actual < cfg.min_excess:
                    continue
                weeks = [day - timedelta(weeks=w) for w in range(1, cfg.baseline_weeks + 1)]
                known = [d for d in weeks if d in covered.get(provider, set())]
                if len(known) < min(cfg.min_baseline_weeks, cfg.baseline_weeks):
                    continue
                baseline = [days.get(d, Decimal(0)) for d in known]
                found = self._judge(cfg, actual, baseline)
                if found is None or (found[0] == "new" and new_seen):
                    continue
                kind, expected, mad, z = found
                new_seen = new_seen or kind == "new"
                excess = actual - expected
                yield Candidate(
                    subject=f"{group}|{day.isoformat()}",
                    title=(
                        f"New cost on {day:%a %d %b}: {service} {usage}"
                        if kind == "new"
                        else f"Cost spike on {day:%a %d %b}: {service} {usage}"
                    ),
                    recommendation=(
                        f"Check what {'started' if kind == 'new' else 'raised'} {usage} on "
                        f"{day.isoformat()} "
                        f"({actual.quantize(CENT)} {currency} against an expected "
                        f"{expected.quantize(CENT)}) and stop it if it was not planned."
                    ),
                    monthly_savings=(excess * cfg.persist_days).quantize(CENT),
                    currency=currency,
                    confidence="low",
                    evidence={
                        "kind": kind,
                        "provider": provider,
                        "service": service,
                        "usage_type": usage,
                        "region": region or None,
                        "day": day.isoformat(),
                        "weekday": f"{day:%A}",
                        "actual": str(actual),
                        "expected_median": str(expected),
                        "mad": str(mad),
                        "robust_z": "inf" if z is None else str(z.quantize(Decimal("0.01"))),
                        "baseline": [
                            {"day": d.isoformat(), "cost": str(days.get(d, Decimal(0)))}
                            for d in known
                        ],
                        "excess": str(excess),
                        "persist_days": cfg.persist_days,
                        "formula": "(actual − median of same weekdays) × persist days",
                    },
                    resource_id=group,
                )

    @staticmethod
    def _judge(
        cfg: CostAnomalyConfig, actual: Decimal, baseline: list[Decimal]
    ) -> tuple[str, Decimal, Decimal, Decimal | None] | None:
        """("new" | "spike", median, MAD, z) when ``actual`` is anomalous, else None."""
        if all(b == 0 for b in baseline):
            return "new", Decimal(0), Decimal(0), None  # actual ≥ min_excess already
        mid, mad, z = robust_z(actual, baseline)
        excess = actual - mid
        if z is not None and z < cfg.z_threshold:
            return None
        if excess < cfg.min_excess or excess < cfg.min_increase * mid:
            return None
        return "spike", mid, mad, z

    # -- SQL -------------------------------------------------------------------------------------
    @staticmethod
    def _daily(ctx: RuleContext, cfg: CostAnomalyConfig, since: date) -> list[tuple[Any, ...]]:
        """Cost per (provider, service, usage type, region, currency, day) since ``since``."""
        d = daily_costs.c
        usage = func.coalesce(d.usage_label, d.sku_id, "")
        query = (
            select(
                d.provider_name,
                d.service_name,
                usage,
                d.region_id,
                d.billing_currency,
                d.day,
                total(),
            )
            .where(
                d.charge_period_start >= _midnight(since),
                d.charge_period_start < ctx.end,
                d.charge_category.in_(cfg.charge_categories),
            )
            .group_by(
                d.provider_name, d.service_name, usage, d.region_id, d.billing_currency, d.day
            )
        )
        return [tuple(r) for r in ctx.conn.execute(query)]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _day(value: Any) -> date:
    """A ``date(...)`` result: a date on PostgreSQL, ISO text on SQLite."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
