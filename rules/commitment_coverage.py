"""``commitment-coverage``: steady AI compute still paid at on-demand rates.

A Savings Plan or committed use discount is a promise to spend a fixed amount every hour for a
year; in return that spend is discounted.  The safe size for the promise is the spend that is
there *every* hour — the floor of the hourly curve, not its average (training bursts and the
weekday peak come and go; the floor is the always-on endpoints).  FinOps practice sizes it at a
low percentile of hourly spend; the rule takes the 10th percentile (``percentile``), so the
commitment would have been fully used in at least 90 % of the window's hours.

What counts (per plan, because each commitment covers different services):

* usage rows (``charge_category = Usage``) of the ``inference`` / ``training`` workloads,
* still on demand: ``pricing_category = Standard``, or none (Cost Explorer rows carry no
  pricing category: on demand unless said otherwise — an account billed only through Cost
  Explorer that already holds a plan should say so by lowering ``discounts``), and no
  ``commitment_discount_id`` (covered hours, Spot and the Savings Plan negation rows are left
  out),
* priced per hour (instance-, vCPU-, GPU- or GiB-hours: storage, requests and tokens cannot be
  committed), on a service a plan covers (``plans``: SageMaker Savings Plans cover SageMaker ML
  instances — and only they do; Compute Savings Plans cover EC2, Fargate and Lambda; Compute
  flexible CUDs cover Compute Engine, GKE and Cloud Run).  Bedrock / Gemini token charges are
  never eligible; Vertex AI is left out by default because Google's CUD pages list it nowhere:
  map ``"Vertex AI"`` to a plan in ``plans`` if your agreement covers it.

Portability: one scan in the database sums the eligible spend per (account, eligible service,
currency, charge period) — one row per hour and service for hourly billing data (at most 744 a
month), one per day for daily rows — and Python spreads each of those aggregated rows evenly over
the hours it covers and takes the nearest-rank percentile of the resulting hourly series.  No
percentile function is needed in SQL (SQLite has none), and no line item is looped over.
Hours with no eligible spend count as zero (that is what makes a bursty workload's floor low);
the series spans the hours between the account's first and last charge in the window, so a
billing feed that lags a day does not drag the floor down.

Savings = p10 × 730 h × the plan's discount (``discounts``, 1-year no-upfront defaults: AWS
publishes per-instance Savings Plan rates, up to 64 % (SageMaker) / 66 % (Compute) for 3-year
all-upfront; 20 % is a conservative 1-year no-upfront reading; Google publishes 28 % for 1-year
Compute flexible CUDs).  The commitment to buy is p10 × (1 − discount) per hour, since plans are
denominated in discounted dollars.  Confidence: medium (the floor is measured, the discount is a
default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy import ColumnElement, and_, case, func, or_, select

from agent.store.money import money_sum
from agent.store.schema import CostLineItem
from rules.base import (
    CENT,
    HOURS_PER_MONTH,
    Candidate,
    Rule,
    RuleConfig,
    RuleContext,
    RuleMeta,
    money,
)
from rules.queries import in_window, usage_only

_HOUR = timedelta(hours=1)
HOUR_UNITS = ("h", "hr", "hrs", "hour", "hours")

SAGEMAKER_SP = "AWS SageMaker Savings Plan"
COMPUTE_SP = "AWS Compute Savings Plan"
GCP_FLEX_CUD = "GCP Compute flexible CUD"


def hourly_unit(column: Any = CostLineItem.pricing_unit) -> ColumnElement[bool]:
    """Rows priced per unit of time (instance-, vCPU-, GPU-, GiB-hours): ``Hrs``, ``hour``,
    ``gibibyte hour`` …; not storage months, requests or tokens.  Shared with
    ``lora-instead-of-full-finetune``."""
    unit = func.lower(func.coalesce(column, ""))
    return or_(unit.in_(HOUR_UNITS), unit.like("%hour%"))


def nearest_rank(values: Sequence[Decimal], percentile: float) -> Decimal:
    """The nearest-rank percentile: the smallest value with at least ``percentile`` % of the
    values at or below it (``values`` need not be sorted; empty → 0)."""
    if not values:
        return Decimal(0)
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


class CommitmentCoverageConfig(RuleConfig):
    percentile: float = Field(10.0, gt=0, lt=100, description="floor of hourly spend to commit")
    workloads: tuple[str, ...] = Field(
        ("inference", "training"), min_length=1, description="x_workload values that count"
    )
    plans: dict[str, str] = Field(
        default_factory=lambda: {
            "Amazon SageMaker": SAGEMAKER_SP,
            "Amazon Elastic Compute Cloud": COMPUTE_SP,
            "Amazon Elastic Container Service": COMPUTE_SP,
            "AWS Fargate": COMPUTE_SP,
            "AWS Lambda": COMPUTE_SP,
            "Compute Engine": GCP_FLEX_CUD,
            "Kubernetes Engine": GCP_FLEX_CUD,
            "Cloud Run": GCP_FLEX_CUD,
        },
        description="service name → the commitment that covers it",
    )
    discounts: dict[str, Decimal] = Field(
        default_factory=lambda: {
            SAGEMAKER_SP: Decimal("0.20"),
            COMPUTE_SP: Decimal("0.20"),
            GCP_FLEX_CUD: Decimal("0.28"),
        },
        description="plan → discount off on-demand (1-year, no upfront)",
    )
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")


class CommitmentCoverage(Rule[CommitmentCoverageConfig]):
    meta = RuleMeta(
        rule_id="commitment-coverage",
        title="Commit to steady AI compute",
        family="commitments",
        description=(
            "On-demand AI compute (inference and training instance-hours) whose hourly floor — "
            "the {percentile:g}th percentile of hourly spend — is not covered by a Savings Plan "
            "or committed use discount; committing to that floor saves the plan's discount on it "
            "every hour."
        ),
        sources=(
            "https://aws.amazon.com/savingsplans/ml-pricing/",
            "https://aws.amazon.com/savingsplans/compute-pricing/",
            "https://docs.aws.amazon.com/savingsplans/latest/userguide/what-is-savings-plans.html",
            "https://cloud.google.com/compute/docs/instances/committed-use-discounts-overview",
            "https://cloud.google.com/docs/cuds-spend-based",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        spans: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        groups: dict[tuple[str, str, str, str], list[tuple[datetime, datetime, Decimal]]] = {}
        services: dict[tuple[str, str, str, str], set[str]] = {}
        for provider, account, service, currency, start, end, cost in self._periods(ctx, cfg):
            start, end = _as_datetime(start), _as_datetime(end)
            where = (str(provider), str(account or ""))
            lo, hi = spans.get(where, (start, end))
            spans[where] = (min(lo, start), max(hi, end))
            plan = cfg.plans.get(service) if service is not None else None
            if plan is None or plan not in cfg.discounts or cost is None:
                continue
            key = (plan, *where, str(currency))
            groups.setdefault(key, []).append((start, end, money(cost)))
            services.setdefault(key, set()).add(str(service))
        for key in sorted(groups):
            plan, provider, account, currency = key
            first, last = spans[(provider, account)]
            first = max(first, ctx.start).replace(minute=0, second=0, microsecond=0)
            last = min(last, ctx.end)
            series = self._hourly(groups[key], first, last)
            if not series:
                continue
            floor = nearest_rank(series, cfg.percentile)
            discount = cfg.discounts[plan]
            monthly = (floor * HOURS_PER_MONTH * discount).quantize(CENT)
            if floor <= 0 or monthly < cfg.min_monthly_savings:
                continue
            total = sum(series, Decimal(0))
            commitment = (floor * (1 - discount)).quantize(CENT)
            subject = f"{provider}|{account}|{plan}"
            yield Candidate(
                subject=subject,
                title=f"Steady on-demand AI compute without a commitment ({plan})",
                recommendation=(
                    f"Buy a 1-year no-upfront {plan} of about {commitment} {currency}/h: it "
                    f"covers the {floor.quantize(CENT)} {currency}/h of on-demand spend present "
                    f"in {100 - cfg.percentile:g} % of hours."
                ),
                monthly_savings=monthly,
                currency=currency,
                confidence="medium",
                evidence={
                    "plan": plan,
                    "provider": provider,
                    "billing_account_id": account,
                    "services": sorted(services[key]),
                    "workloads": list(cfg.workloads),
                    "percentile": cfg.percentile,
                    "hourly_floor": str(floor),
                    "hours_in_series": len(series),
                    "series_start": first.isoformat(),
                    "series_end": last.isoformat(),
                    "on_demand_spend_in_series": str(total),
                    "mean_hourly_spend": str((total / len(series)).quantize(Decimal("0.0001"))),
                    "max_hourly_spend": str(max(series)),
                    "plan_discount": str(discount),
                    "suggested_hourly_commitment": str(commitment),
                    "formula": "p-th percentile of hourly on-demand spend × 730 h × discount",
                    "percentile_method": "nearest rank over hourly sums (SQL) spread in Python",
                },
            )

    # -- SQL -------------------------------------------------------------------------------------
    @staticmethod
    def _periods(ctx: RuleContext, cfg: CommitmentCoverageConfig) -> list[tuple[Any, ...]]:
        """One scan of the window's usage rows, per (provider, account, currency, charge period)
        and eligible service (NULL for every other row): the eligible on-demand spend (NULL
        where none) — about one row per hour and service (per day for daily billing data).  The
        NULL-service rows only tell which hours the account's billing data covers."""
        c = CostLineItem
        eligible_service = c.service_name.in_(sorted(cfg.plans))
        eligible = and_(
            eligible_service,
            func.coalesce(c.pricing_category, "Standard") == "Standard",  # NULL: on demand
            c.commitment_discount_id.is_(None),
            c.x_workload.in_(cfg.workloads),
            hourly_unit(),
        )
        service = case((eligible, c.service_name), else_=None)
        keys = (
            c.provider_name,
            c.billing_account_id,
            service,
            c.billing_currency,
            c.charge_period_start,
            c.charge_period_end,
        )
        query = (
            select(*keys, money_sum(case((eligible, c.effective_cost), else_=None)))
            .where(in_window(ctx), usage_only())
            .group_by(*keys)
        )
        return [tuple(r) for r in ctx.conn.execute(query)]

    @staticmethod
    def _hourly(
        periods: list[tuple[datetime, datetime, Decimal]], first: datetime, last: datetime
    ) -> list[Decimal]:
        """Spend per hour over [first, last): each aggregated period's cost spread evenly over
        the hours it covers (an hourly row lands in its hour, a daily row adds 1/24 to each)."""
        n = math.ceil((last - first) / _HOUR)
        series = [Decimal(0)] * max(n, 0)
        for start, end, cost in periods:
            start, end = _as_datetime(start), _as_datetime(end)
            hours = max(1, math.ceil((end - start) / _HOUR))
            share = cost / hours
            lo = math.floor((start - first) / _HOUR)
            for i in range(max(lo, 0), min(lo + hours, n)):
                series[i] += share
        return series


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
