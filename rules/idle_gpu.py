"""``idle-gpu``: GPU machines whose GPUs did nothing for a week.

A GPU instance costs the same whether its GPUs compute or not; one left running after an
experiment is the classic AI-bill leak.  The rule needs *evidence of idleness*, not absence of
evidence: it fires only when the machine reported ``gpu_utilization`` for at least
``min_coverage`` of the hours in the last ``idle_days`` and the highest of those readings stays
below ``max_utilization`` percent.  A machine without metrics is never called idle.

Savings: the machine's effective cost over the analysis window, scaled to a 730-hour month
(stopping it saves all of it; a smaller GPU or scale-to-zero would save part).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

from pydantic import Field
from sqlalchemy import select

from agent.store.schema import CostLineItem, Resource
from rules.base import CENT, Candidate, Rule, RuleConfig, RuleContext, RuleMeta, money
from rules.queries import metric_stats, resource_costs

GPU_TYPES = ("gpu_instance", "vertex_endpoint", "sagemaker_endpoint", "notebook_instance")


class IdleGpuConfig(RuleConfig):
    idle_days: int = Field(7, ge=1, le=60, description="look-back for utilization")
    max_utilization: float = Field(5.0, gt=0, le=100, description="percent; peak below is idle")
    min_coverage: float = Field(0.8, gt=0, le=1, description="share of hours with a reading")
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")


class IdleGpu(Rule[IdleGpuConfig]):
    meta = RuleMeta(
        rule_id="idle-gpu",
        title="Idle GPU machine",
        family="idle resources",
        description=(
            "GPU instances (or GPU endpoints / notebooks) whose peak GPU utilization stayed below "
            "{max_utilization:g} % for {idle_days} days: stop them, or move the work to a smaller "
            "or on-demand-started machine."
        ),
        sources=(
            "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-gpu.html",
            "https://cloud.google.com/compute/docs/gpus/monitor-gpus",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        since = ctx.end - timedelta(days=cfg.idle_days)
        r = Resource
        util = metric_stats(ctx, "gpu_utilization", since)
        cost = resource_costs(ctx, CostLineItem.resource_id.in_(select(util.c.resource_id)))
        needed = cfg.idle_days * 24 * cfg.min_coverage
        query = (
            select(
                util.c.resource_id,
                util.c.peak,
                util.c.mean,
                util.c.hours,
                cost.c.currency,
                cost.c.cost,
                r.resource_type,
                r.attributes,
            )
            .join(cost, cost.c.resource_id == util.c.resource_id)
            .join(r, r.resource_id == util.c.resource_id, isouter=True)
            .where(util.c.peak < cfg.max_utilization, util.c.hours >= needed)
            .order_by(util.c.resource_id)
        )
        for rid, peak, mean, hours, currency, window_cost, rtype, attrs in ctx.conn.execute(query):
            if rtype is not None and rtype not in GPU_TYPES:
                continue
            monthly = ctx.monthly(money(window_cost)).quantize(CENT)
            if monthly < cfg.min_monthly_savings:
                continue
            itype = (attrs or {}).get("instance_type") if isinstance(attrs, dict) else None
            yield Candidate(
                subject=rid,
                title=f"GPU idle for {cfg.idle_days} days (peak {float(peak):.1f} %)",
                recommendation=(
                    "Stop or delete this GPU machine (or schedule it), and start one when work "
                    "arrives."
                ),
                monthly_savings=monthly,
                currency=currency,
                confidence="high",
                evidence={
                    "peak_gpu_utilization_pct": round(float(peak), 2),
                    "mean_gpu_utilization_pct": round(float(mean), 2),
                    "hours_with_readings": int(hours),
                    "hours_in_lookback": cfg.idle_days * 24,
                    "cost_in_window": str(money(window_cost)),
                    "window_days": str(ctx.days),
                    "instance_type": itype,
                    "formula": "cost in window × 730 h / window hours",
                },
            )
