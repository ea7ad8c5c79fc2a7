"""``overprovisioned-endpoint``: provisioned endpoints sized far above their busiest hour.

Two ways an instance-backed endpoint (SageMaker real-time, Vertex AI online prediction) pays for
capacity nobody uses; the finding reports whichever saves more (one finding per endpoint, its
figure standing alone):

1. **Right-size** — the peak hourly load needs fewer instances than the endpoint always runs.
   The capacity of one instance is estimated from the endpoint's own busiest hours and its
   accelerator utilisation, assuming throughput scales linearly with utilisation::

       capacity per instance = peak invocations per instance-hour ÷ peak utilisation
                               × target utilisation (60 %)
       instances needed      = max(min_instances, ⌈peak invocations per hour ÷ capacity⌉)

   Both peaks are taken separately (the highest utilisation may fall in a quieter hour), which
   only lowers the capacity estimate: conservative.  Instances per hour come from the
   ``instance_count`` metric when collected; otherwise the inventory's count (the autoscaling
   *maximum* for a scaling endpoint, again the conservative side).  SageMaker sums GPU
   utilisation over an instance's GPUs (up to 100 × GPUs): the reading is divided by the
   inventory's ``gpu_count``/``accelerator_count`` where it gives one (without it a multi-GPU
   reading only understates capacity).  60 % leaves the head-room AWS and Google suggest for
   target-tracking autoscaling.

   "Provisioned" is what always runs: the autoscaling minimum of a scaling endpoint, else its
   instance count (inventory ``instance_count``, ``autoscaling_min``/``autoscaling_max``;
   Vertex ``min_replica_count``), else the smallest hourly ``instance_count`` reading.
   Savings = 730 h × (provisioned − needed) × the rate of one instance-hour, from the billing
   rows' own rate: effective cost ÷ instance-hours, where instance-hours are the bill's quantity
   when it is one SKU priced per hour (SageMaker), else the ``instance_count`` metric's, else the
   inventory count × billed hours (Vertex bills a machine as core-, RAM- and GPU-hour SKUs).

2. **Scale to zero** — at least ``min_zero_share`` (30 %) of the covered hours carried no
   invocation at all.  Covered hours run from the endpoint's first invocations reading to its
   collector's latest reading (of any series): a missing datapoint is a zero only while the
   endpoint is being measured, never before its series starts or after the collector stopped.
   An hour carries traffic when any reading in it is above zero: sub-hour readings (5-minute
   CloudWatch periods) are bucketed to their clock hour in SQL, so a call every 15 minutes is
   a busy hour, not 20 busy minutes (:func:`rules.resource_facts.coverage`).
   Scale-to-zero autoscaling (inference components), serverless or asynchronous inference stop
   paying in those hours.  Savings = zero-traffic share × the endpoint's hourly rate (cost ÷
   billed hours) × 730 h.

Both need ``min_metric_hours`` (a week) covered.  An endpoint that already scales to zero
(autoscaling minimum 0, or an hour with no instance) is left alone.  Sources: SageMaker
autoscaling and scale-to-zero, serverless and asynchronous inference docs; Vertex AI autoscaling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from agent.store.schema import CostLineItem, Resource, UsageMetric
from rules.base import CENT, HOURS_PER_MONTH, Candidate, Rule, RuleConfig, RuleContext, RuleMeta
from rules.queries import in_window
from rules.resource_facts import (
    ENDPOINT_TYPES,
    Billing,
    Coverage,
    billing,
    coverage,
    inventory,
)


class OverprovisionedEndpointConfig(RuleConfig):
    target_utilization: float = Field(
        60.0, gt=0, le=100, description="percent an instance may run at, at the peak hour"
    )
    min_instances: int = Field(1, ge=1, description="never recommend fewer instances")
    utilization_metric: str = Field("gpu_utilization", description="accelerator utilisation")
    min_metric_hours: int = Field(
        168, ge=1, description="hours measured (first invocations reading → collector's last)"
    )
    min_zero_share: float = Field(
        0.30, gt=0, le=1, description="share of covered hours without traffic"
    )
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")


@dataclass(frozen=True)
class _Sizing:
    provisioned: tuple[int, str]
    needed: int
    peak_invocations: float
    peak_per_instance: float
    peak_utilization: float
    gpus: int | None
    capacity: float


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class OverprovisionedEndpoint(Rule[OverprovisionedEndpointConfig]):
    meta = RuleMeta(
        rule_id="overprovisioned-endpoint",
        title="Over-provisioned inference endpoint",
        family="over-provisioned endpoints",
        description=(
            "Provisioned endpoints whose busiest hour needs fewer instances than they always run "
            "(capacity from their own peak load and utilisation, {target_utilization:g} % "
            "target), or that carry no traffic in {min_zero_share:.0%} or more of their hours "
            "(scale to zero, serverless, async)."
        ),
        sources=(
            "https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling.html",
            "https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html",
            "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html",
            "https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html",
            "https://cloud.google.com/vertex-ai/docs/predictions/autoscaling",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        bills = billing(
            ctx,
            CostLineItem.resource_id.in_(
                select(Resource.resource_id).where(Resource.resource_type.in_(ENDPOINT_TYPES))
            ),
        )
        invocations = coverage(ctx, "invocations", ctx.end - timedelta(days=7))
        util = self._peaks(ctx, cfg.utilization_metric)
        counts = self._instance_counts(ctx)
        per_instance = self._peak_per_instance(ctx)
        inv = inventory(ctx, bills.keys())
        for rid in sorted(bills.keys() & invocations.keys() & inv.keys()):
            bill, cov = bills[rid], invocations[rid]
            rtype, attrs = inv[rid]
            if attrs.get("serverless") is True:
                continue
            start = max(bill.first, cov.first)
            end = min(bill.last_end, cov.measured_until)
            covered = Decimal(int((end - start).total_seconds())) / Decimal(3600)
            if covered < cfg.min_metric_hours:
                continue
            provisioned = self._provisioned(attrs, counts.get(rid))
            if provisioned is None:
                continue
            rate, rate_from, instance_hours = self._instance_rate(bill, attrs, counts.get(rid))
            options: list[Candidate] = []
            sizing = self._sizing(
                cfg, rtype, attrs, provisioned, cov, util.get(rid), per_instance.get(rid)
            )
            if sizing is not None and sizing.needed < sizing.provisioned[0] and rate > 0:
                options.append(self._rightsize(cfg, bill, sizing, rate, rate_from, instance_hours))
            zero = self._zero_traffic(cfg, bill, cov, provisioned[0], start, end, covered)
            if zero is not None:
                options.append(zero)
            if not options:
                continue
            best = max(options, key=lambda c: c.monthly_savings)
            if best.monthly_savings >= cfg.min_monthly_savings:
                yield best

    # -- the two findings -------------------------------------------------------------------------
    @staticmethod
    def _rightsize(
        cfg: OverprovisionedEndpointConfig,
        bill: Billing,
        s: _Sizing,
        rate: Decimal,
        rate_from: str,
        instance_hours: Decimal,
    ) -> Candidate:
        provisioned, provisioned_from = s.provisioned
        spare = provisioned - s.needed
        monthly = (HOURS_PER_MONTH * spare * rate).quantize(CENT)
        return Candidate(
            subject=bill.resource_id,
            title=f"Endpoint runs {provisioned} instances; its peak hour needs {s.needed}",
            recommendation=(
                f"Lower this endpoint's instance count (or autoscaling minimum) from "
                f"{provisioned} to {s.needed} and let target-tracking autoscaling add instances "
                "at peaks."
            ),
            monthly_savings=monthly,
            currency=bill.currency,
            confidence="medium",
            evidence={
                "case": "rightsize",
                "provisioned_instances": provisioned,
                "provisioned_from": provisioned_from,
                "needed_instances": s.needed,
                "peak_invocations_per_hour": round(s.peak_invocations, 2),
                "peak_invocations_per_instance_hour": round(s.peak_per_instance, 2),
                "peak_utilization_pct": round(s.peak_utilization, 2),
                "gpus_per_instance": s.gpus,
                "target_utilization_pct": cfg.target_utilization,
                "capacity_per_instance_hour": round(s.capacity, 2),
                "min_instances": cfg.min_instances,
                "cost_in_window": str(bill.cost),
                "instance_hours_in_window": str(instance_hours),
                "instance_hour_rate": str(rate.quantize(Decimal("0.0001"))),
                "instance_hour_rate_from": rate_from,
                "formula": (
                    "needed = max(min_instances, ⌈peak/hour ÷ (peak per instance-hour ÷ peak "
                    "utilisation × target)⌉); savings = 730 h × (provisioned − needed) × "
                    "cost ÷ instance-hours"
                ),
            },
        )

    @staticmethod
    def _zero_traffic(
        cfg: OverprovisionedEndpointConfig,
        bill: Billing,
        cov: Coverage,
        provisioned: int,
        start: datetime,
        end: datetime,
        covered: Decimal,
    ) -> Candidate | None:
        active = min(Decimal(str(cov.active_hours)), covered)
        zero = covered - active
        share = zero / covered
        if share < Decimal(str(cfg.min_zero_share)):
            return None
        monthly = (share * bill.hourly_rate * HOURS_PER_MONTH).quantize(CENT)
        pct = float(share * 100)
        return Candidate(
            subject=bill.resource_id,
            title=f"Endpoint carried no traffic in {pct:.0f} % of its hours",
            recommendation=(
                "Let this endpoint scale to zero when idle (scale-to-zero autoscaling with "
                "inference components), or move it to serverless or asynchronous inference."
            ),
            monthly_savings=monthly,
            currency=bill.currency,
            confidence="medium",
            evidence={
                "case": "scale_to_zero",
                "provisioned_instances": provisioned,
                "covered_from": start.isoformat(),
                "covered_until": end.isoformat(),
                "covered_hours": str(covered),
                "hours_with_traffic": str(active),
                "zero_traffic_hours": str(zero),
                "zero_traffic_share": str(share.quantize(Decimal("0.0001"))),
                "min_zero_share": cfg.min_zero_share,
                "cost_in_window": str(bill.cost),
                "billed_hours": str(bill.hours),
                "hourly_rate": str(bill.hourly_rate.quantize(Decimal("0.0001"))),
                "formula": "zero-traffic share × cost ÷ billed hours × 730 h",
            },
        )

    # -- sizing -----------------------------------------------------------------------------------
    @staticmethod
    def _provisioned(
        attrs: dict[str, Any], counts: tuple[float, float, float] | None
    ) -> tuple[int, str] | None:
        low, label = _int(attrs.get("autoscaling_min")), "autoscaling_min"
        if low is None:  # Vertex AI: the deployed models' minimum replicas
            low, label = _int(attrs.get("min_replica_count")), "min_replica_count"
        if counts is not None and counts[0] < 1:
            return None  # it already scaled to zero in some hour
        if low is not None:
            return (low, label) if low > 0 else None  # 0: it already scales to zero
        count = _int(attrs.get("instance_count"))
        if count is not None and count > 0:
            return count, "instance_count"
        if counts is not None:
            return int(counts[0]), "instance_count metric (minimum)"
        return None

    def _sizing(
        self,
        cfg: OverprovisionedEndpointConfig,
        rtype: str,
        attrs: dict[str, Any],
        provisioned: tuple[int, str],
        cov: Coverage,
        peak_util: float | None,
        peak_per_instance: float | None,
    ) -> _Sizing | None:
        if not peak_util or peak_util <= 0 or cov.peak_hourly <= 0:
            return None
        gpus = _int(attrs.get("gpu_count") or attrs.get("accelerator_count"))
        util = peak_util
        if rtype == "sagemaker_endpoint" and gpus and gpus > 1:
            util = peak_util / gpus  # CloudWatch sums utilisation over an instance's GPUs
        if peak_per_instance is None:
            # Without an hourly instance count, divide the peak by the most instances the
            # endpoint may have run then: per-instance load is understated, never overstated.
            most = (
                _int(attrs.get("autoscaling_max"))
                or _int(attrs.get("max_replica_count"))
                or provisioned[0]
            )
            peak_per_instance = cov.peak_hourly / max(most, provisioned[0])
        capacity = peak_per_instance / util * cfg.target_utilization
        if capacity <= 0:
            return None
        needed = max(cfg.min_instances, math.ceil(round(cov.peak_hourly / capacity, 9)))
        return _Sizing(
            provisioned, needed, cov.peak_hourly, peak_per_instance, util, gpus, capacity
        )

    @staticmethod
    def _instance_rate(
        bill: Billing, attrs: dict[str, Any], counts: tuple[float, float, float] | None
    ) -> tuple[Decimal, str, Decimal]:
        """(rate of one instance-hour, where the instance-hours came from, instance-hours)."""
        hours = bill.billed_instance_hours
        source = "billing quantity"
        if hours is None and counts is not None and counts[2] > 0:
            hours, source = Decimal(str(round(counts[2], 6))), "instance_count metric"
        if hours is None:
            count = _int(attrs.get("instance_count") or attrs.get("min_replica_count"))
            if count:
                hours, source = bill.hours * count, "inventory instance_count × billed hours"
        if not hours:
            return Decimal(0), "unknown", Decimal(0)
        return bill.cost / hours, source, hours

    # -- SQL --------------------------------------------------------------------------------------
    @staticmethod
    def _peaks(ctx: RuleContext, metric: str) -> dict[str, float]:
        m = UsageMetric
        rows = ctx.conn.execute(
            select(m.resource_id, func.max(m.value))
            .where(m.metric == metric, in_window(ctx, m.ts))
            .group_by(m.resource_id)
        )
        return {rid: float(v) for rid, v in rows if v is not None}

    @staticmethod
    def _instance_counts(ctx: RuleContext) -> dict[str, tuple[float, float, float]]:
        """Per resource: (min, max, instance-hours) of the ``instance_count`` metric."""
        m = UsageMetric
        rows = ctx.conn.execute(
            select(
                m.resource_id,
                func.min(m.value),
                func.max(m.value),
                func.sum(m.value * m.period_s / 3600.0),
            )
            .where(m.metric == "instance_count", in_window(ctx, m.ts))
            .group_by(m.resource_id)
        )
        return {rid: (float(lo), float(hi), float(ih or 0)) for rid, lo, hi, ih in rows}

    @staticmethod
    def _peak_per_instance(ctx: RuleContext) -> dict[str, float]:
        """Per resource: the largest hourly invocations ÷ instances running in that hour (both
        series at the same timestamp)."""
        inv, ic = aliased(UsageMetric), aliased(UsageMetric)
        rows = ctx.conn.execute(
            select(inv.resource_id, func.max(inv.value * 3600.0 / inv.period_s / ic.value))
            .join(
                ic,
                and_(
                    ic.resource_id == inv.resource_id,
                    ic.ts == inv.ts,
                    ic.metric == "instance_count",
                    ic.value > 0,
                ),
            )
            .where(inv.metric == "invocations", in_window(ctx, inv.ts))
            .group_by(inv.resource_id)
        )
        return {rid: float(v) for rid, v in rows if v is not None}
