"""``idle-endpoint``: inference endpoints billed all week that served no request all week.

A real-time endpoint (SageMaker, Vertex AI online prediction) bills every instance-hour whether
or not anyone calls it; one left behind after a demo or a migration is pure waste.  The rule
fires on an endpoint that

* has cost on at least ``min_cost_days`` (7) days of the window and is still billed (a charge in
  the last ``still_billed_days``: something deleted last week saves nothing), and
* recorded **zero** ``invocations`` over the last ``idle_days`` (7).

Silence is evidence only where somebody was listening.  A missing datapoint counts as zero only
when the endpoint has *metrics coverage*: it has ``invocations`` readings in the window (traffic
earlier in the window, or explicit zeros — CloudWatch omits empty periods, Cloud Monitoring and
imports may report zeros), and the collector that delivered them delivered readings (any
resource, any metric) inside the look-back, so a broken collector is not mistaken for an idle
endpoint.  An endpoint without any invocations metric is never reported.

Savings: the endpoint's instance-hour cost for a month, its hourly rate from its own billing rows
(effective cost of its usage rows ÷ the hours they cover, first charge to last) × 730 h —
deleting the endpoint (keep the model and the endpoint config to recreate it) saves all of it.
Candidates are inventory resources of an endpoint type, or any resource whose billing rows are
classified as inference (e.g. a Bedrock provisioned throughput with an invocations series).

The per-resource billing and metrics-coverage facts come from :mod:`rules.resource_facts`.
Sources: SageMaker "Delete endpoints and resources", Vertex AI "Undeploy a model".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

from pydantic import Field

from rules.base import CENT, HOURS_PER_MONTH, Candidate, Rule, RuleConfig, RuleContext, RuleMeta
from rules.resource_facts import (
    billing,
    coverage,
    endpoint_condition,
)


class IdleEndpointConfig(RuleConfig):
    idle_days: int = Field(7, ge=1, le=60, description="look-back with zero invocations")
    min_cost_days: int = Field(7, ge=1, description="days with cost in the window")
    still_billed_days: int = Field(
        2, ge=1, description="last charge at most this many days before the window end"
    )
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")


class IdleEndpoint(Rule[IdleEndpointConfig]):
    meta = RuleMeta(
        rule_id="idle-endpoint",
        title="Idle inference endpoint",
        family="idle resources",
        description=(
            "Inference endpoints billed on {min_cost_days} or more days of the window that served "
            "zero invocations in the last {idle_days} days (where invocations are measured): "
            "delete them."
        ),
        sources=(
            "https://docs.aws.amazon.com/sagemaker/latest/dg/realtime-endpoints-delete-resources.html",
            "https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html",
            "https://cloud.google.com/vertex-ai/docs/predictions/undeploy-model",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        since = ctx.end - timedelta(days=cfg.idle_days)
        bills = billing(ctx, endpoint_condition())
        covered = coverage(ctx, "invocations", since)
        lookback_hours = cfg.idle_days * 24
        for rid in sorted(bills.keys() & covered.keys()):
            bill, cov = bills[rid], covered[rid]
            if bill.days < cfg.min_cost_days or not bill.still_billed(ctx, cfg.still_billed_days):
                continue
            if cov.recent_total != 0 or not cov.source_alive:
                continue
            monthly = (bill.hourly_rate * HOURS_PER_MONTH).quantize(CENT)
            if monthly < cfg.min_monthly_savings:
                continue
            explicit = cov.recent_readings >= 0.8 * lookback_hours
            yield Candidate(
                subject=rid,
                title=f"Endpoint served no requests in {cfg.idle_days} days",
                recommendation=(
                    "Delete this endpoint (keep its model and endpoint config to recreate it "
                    "in minutes), or move it to serverless / scale-to-zero if it must stay "
                    "reachable."
                ),
                monthly_savings=monthly,
                currency=bill.currency,
                confidence="high" if explicit else "medium",
                evidence={
                    "invocations_in_lookback": cov.recent_total,
                    "lookback_days": cfg.idle_days,
                    "readings_in_lookback": cov.recent_readings,
                    "hours_in_lookback": lookback_hours,
                    "last_invocation": cov.last_active.isoformat() if cov.last_active else None,
                    "invocations_in_window": cov.total,
                    "days_with_cost": bill.days,
                    "cost_in_window": str(bill.cost),
                    "billed_from": bill.first.isoformat(),
                    "billed_until": bill.last_end.isoformat(),
                    "billed_hours": str(bill.hours),
                    "hourly_rate": str(bill.hourly_rate.quantize(Decimal("0.0001"))),
                    "formula": "cost in window ÷ billed hours × 730 h",
                },
            )
