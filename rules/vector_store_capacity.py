"""``vector-store-capacity``: vector stores paying their minimum capacity for nothing, or paying
for high availability outside production.

Managed vector stores bill capacity, not queries, and never go below a floor:

* **OpenSearch Serverless** instantiates OCUs for a collection's first collection group: four
  (two indexing, two search) with redundant standby replicas in a second AZ — the default — or
  two when redundancy is disabled, which AWS offers "for development and testing".  These OCUs
  exist "even when there's no indexing or search activity".
* **Vertex AI Vector Search** runs a deployed index on at least ``min_replica_count`` nodes,
  billed per node-hour whether queried or not.

Two findings (one per store; the larger wins, each figure standing alone):

1. **No traffic at the floor** — average capacity over the billed hours at most the floor
   (× 1 + ``floor_tolerance``; capacity units are OCU-hours or node-hours per billed hour from the
   bill's own quantities; the floor is 4 OCUs with standby replicas, 2 without, or
   ``min_replica_count`` nodes), and at most ``max_requests_per_day`` searches per day over the
   last ``idle_days`` (14) in the ``traffic_metrics`` series.  As for endpoints, silence counts
   only with metrics coverage: the store has traffic readings in the window and its collector
   delivered readings inside the look-back.  No traffic series, no finding: an OCU count alone
   cannot tell an idle store from a quiet one.  Savings: its monthly cost (hourly rate from its
   billing rows × 730 h) — delete it, or move the index to a store that is already paid for.
2. **Redundancy outside production** — the environment tag (``tag_key``, default ``env``) is one
   of ``non_production`` and standby replicas are enabled (OpenSearch Serverless
   ``standby_replicas = ENABLED``), or a Vector Search index runs on ``min_replica_count`` ≥ 2.
   Savings: the standby share of its capacity cost — half the OCU cost for OpenSearch
   Serverless (4 → 2 OCUs), (replicas − 1) ÷ replicas of the node-hour cost for Vertex AI.

Search traffic: ``search_requests`` by default — e.g. OpenSearch Serverless ``SearchRequestRate``
or Vector Search query counts imported as usage metrics; ``aws_metrics`` stores only the OCU
series today, which show capacity, not queries, so without an import only case 2 can fire.

Capacity rows are the store's usage rows priced in OCU-hours (unit or usage type naming OCUs)
or in hours (node-hours); storage and index-build rows are not capacity.  OpenSearch Serverless
OCUs are shared by the collections of an account that use the same KMS key: the finding is about
the id the billing rows carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy import func, or_, select

from agent.store.daily_sums import daily_costs
from agent.store.schema import CostLineItem, Resource
from rules.base import CENT, HOURS_PER_MONTH, Candidate, Rule, RuleConfig, RuleContext, RuleMeta
from rules.resource_facts import (
    HOUR_UNITS,
    Billing,
    Coverage,
    billing,
    coverage,
    environments,
    inventory,
)

AOSS = "opensearch_collection"
VECTOR_SEARCH = "vector_search_index_endpoint"


class VectorStoreCapacityConfig(RuleConfig):
    resource_types: list[str] = Field(
        default_factory=lambda: [AOSS, VECTOR_SEARCH], description="inventory types of stores"
    )
    idle_days: int = Field(14, ge=1, le=60, description="look-back for search traffic")
    traffic_metrics: list[str] = Field(
        default_factory=lambda: ["search_requests"], description="metrics counting searches"
    )
    max_requests_per_day: float = Field(
        10.0, ge=0, description="searches per day that still count as negligible"
    )
    floor_ocus_with_standby: float = Field(4.0, gt=0, description="2 indexing + 2 search")
    floor_ocus_without_standby: float = Field(2.0, gt=0, description="1 indexing + 1 search")
    floor_tolerance: float = Field(0.05, ge=0, description="slack over the floor")
    tag_key: str = Field("env", min_length=1, description="tag / label naming the environment")
    non_production: list[str] = Field(
        default_factory=lambda: ["dev", "test", "staging"],
        description="tag values that mark non-production (case-insensitive)",
    )
    still_billed_days: int = Field(2, ge=1, description="last charge at most this many days ago")
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")


def _standby(kind: str, attrs: dict[str, Any]) -> tuple[bool, int]:
    """(redundancy on?, capacity copies) for a store."""
    if kind == AOSS:
        on = str(attrs.get("standby_replicas") or "ENABLED").upper() == "ENABLED"
        return on, 2 if on else 1
    try:
        replicas = int(attrs.get("min_replica_count") or 1)
    except (TypeError, ValueError):
        replicas = 1
    return replicas >= 2, max(replicas, 1)


class VectorStoreCapacity(Rule[VectorStoreCapacityConfig]):
    meta = RuleMeta(
        rule_id="vector-store-capacity",
        title="Vector store capacity",
        family="vector storage",
        description=(
            "Vector stores at their capacity floor (OpenSearch Serverless 2 + 2 OCUs, Vector "
            "Search minimum nodes) with negligible search traffic for {idle_days} days, or with "
            "standby replicas on non-production."
        ),
        sources=(
            "https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-scaling.html",
            "https://aws.amazon.com/opensearch-service/pricing/",
            "https://docs.aws.amazon.com/opensearch-service/latest/developerguide/monitoring-cloudwatch.html",
            "https://cloud.google.com/vertex-ai/docs/vector-search/deploy-index-public",
            "https://cloud.google.com/vertex-ai/pricing",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        c, r = CostLineItem, Resource
        stores = c.resource_id.in_(
            select(r.resource_id).where(r.resource_type.in_(cfg.resource_types))
        )
        bills = {
            rid: b
            for rid, b in billing(ctx, stores).items()
            if b.still_billed(ctx, cfg.still_billed_days)
        }
        if not bills:
            return
        capacity = billing(ctx, stores, self._capacity_rows())
        kinds = inventory(ctx, bills)
        env = environments(ctx, cfg.tag_key, bills)
        since = ctx.end - timedelta(days=cfg.idle_days)
        traffic: dict[str, Coverage] = {}
        for metric in cfg.traffic_metrics:
            for rid, cov in coverage(ctx, metric, since).items():
                traffic.setdefault(rid, cov)
        nonprod = {v.strip().lower() for v in cfg.non_production}
        for rid in sorted(bills.keys() & kinds.keys()):
            bill = bills[rid]
            kind, attrs = kinds[rid]
            cap = capacity.get(rid)
            options = [
                o
                for o in (
                    self._idle(cfg, bill, cap, kind, attrs, traffic.get(rid)),
                    self._redundant(cfg, bill, cap, kind, attrs, env.get(rid), nonprod),
                )
                if o is not None
            ]
            if not options:
                continue
            best = max(options, key=lambda o: o.monthly_savings)
            if best.monthly_savings >= cfg.min_monthly_savings:
                yield best

    @staticmethod
    def _capacity_rows() -> Any:
        c = daily_costs.c  # usage_label: the usage type, else the charge description
        unit = func.lower(func.coalesce(c.pricing_unit, ""))
        return or_(
            unit.like("%ocu%"),
            func.upper(func.coalesce(c.usage_label, "")).like("%OCU%"),
            unit.in_(sorted(HOUR_UNITS)),
        )

    @staticmethod
    def _floor(cfg: VectorStoreCapacityConfig, kind: str, attrs: dict[str, Any]) -> float:
        on, copies = _standby(kind, attrs)
        if kind == AOSS:
            return cfg.floor_ocus_with_standby if on else cfg.floor_ocus_without_standby
        return float(copies)

    def _idle(
        self,
        cfg: VectorStoreCapacityConfig,
        bill: Billing,
        cap: Billing | None,
        kind: str,
        attrs: dict[str, Any],
        cov: Coverage | None,
    ) -> Candidate | None:
        if cov is None or not cov.source_alive or cap is None or cap.hours <= 0:
            return None
        allowed = cfg.max_requests_per_day * cfg.idle_days
        if cov.recent_total > allowed:
            return None
        units = float(cap.quantity / cap.hours)
        floor = self._floor(cfg, kind, attrs)
        if units > floor * (1 + cfg.floor_tolerance):
            return None
        monthly = (bill.hourly_rate * HOURS_PER_MONTH).quantize(CENT)
        return Candidate(
            subject=bill.resource_id,
            title=f"Vector store at its capacity floor with no searches in {cfg.idle_days} days",
            recommendation=(
                "Delete this vector store (snapshot or re-index from the source documents if it "
                "is needed again), or move its index into a store that is already paid for."
            ),
            monthly_savings=monthly,
            currency=bill.currency,
            confidence="medium",
            evidence={
                "case": "no_traffic",
                "searches_in_lookback": cov.recent_total,
                "lookback_days": cfg.idle_days,
                "max_requests_per_day": cfg.max_requests_per_day,
                "average_capacity_units": round(units, 4),
                "capacity_floor_units": floor,
                "capacity_unit": cap.unit,
                "cost_in_window": str(bill.cost),
                "billed_hours": str(bill.hours),
                "hourly_rate": str(bill.hourly_rate.quantize(Decimal("0.0001"))),
                "formula": "cost in window ÷ billed hours × 730 h",
            },
        )

    @staticmethod
    def _redundant(
        cfg: VectorStoreCapacityConfig,
        bill: Billing,
        cap: Billing | None,
        kind: str,
        attrs: dict[str, Any],
        env: str | None,
        nonprod: set[str],
    ) -> Candidate | None:
        if env not in nonprod or cap is None or cap.hours <= 0:
            return None
        on, copies = _standby(kind, attrs)
        if not on:
            return None
        share = Decimal(copies - 1) / Decimal(copies)
        monthly = (cap.hourly_rate * share * HOURS_PER_MONTH).quantize(CENT)
        if kind == AOSS:
            action = (
                "Recreate this non-production collection with redundancy (standby replicas) "
                "disabled: half the OCUs."
            )
        else:
            action = (
                f"Redeploy this non-production index with min_replica_count 1 instead of {copies}."
            )
        return Candidate(
            subject=bill.resource_id,
            title=f"Standby replicas on a {env} vector store",
            recommendation=action,
            monthly_savings=monthly,
            currency=bill.currency,
            confidence="high" if kind == AOSS else "medium",
            evidence={
                "case": "redundancy_non_production",
                "environment": env,
                "tag_key": cfg.tag_key,
                "standby_replicas": attrs.get("standby_replicas"),
                "min_replica_count": attrs.get("min_replica_count"),
                "capacity_copies": copies,
                "standby_share": str(share.quantize(Decimal("0.0001"))),
                "capacity_cost_in_window": str(cap.cost),
                "capacity_units_in_window": str(cap.quantity),
                "capacity_unit": cap.unit,
                "capacity_billed_hours": str(cap.hours),
                "capacity_hourly_rate": str(cap.hourly_rate.quantize(Decimal("0.0001"))),
                "formula": "capacity cost ÷ billed hours × standby share × 730 h",
            },
        )
