"""``cross-region-traffic``: paying to move data between regions, typically RAG retrieval.

A RAG application whose vector store or knowledge base lives in one region and whose model
endpoint runs in another ships every retrieved chunk (and every re-indexing batch) across
regions; AWS bills inter-region transfer per GB in the source region (usage types
``USE1-USW2-AWS-Out-Bytes``), Google as "Network Inter Region …" SKUs.  Intra-region traffic
is free or much cheaper, so co-locating the store with the inference endpoint (or keeping a
replica of the index next to it) removes the charge.

The rule sums, in SQL, inter-region transfer rows (``transfer_patterns`` on the usage type / SKU
description; ``DataTransfer-Regional-Bytes`` is cross-AZ traffic *within* a region and is left
out by default) per resource, region and usage type, then attributes each to its resource (or,
without one, its service) and region pair: source and destination parsed from AWS usage-type
region codes or from a Google SKU's "from … to …".  Findings above ``min_monthly_cost`` are
reported with the vector-store and inference regions seen in the bill as evidence; confidence is
medium when the traffic is RAG's own (the resource is a vector store or inference resource, or
the pair joins a vector-store region to an inference region), low otherwise.

Savings = the transfer cost in the window scaled to a 730-hour month (co-locating removes it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy import func, or_, select

from agent.store.daily_sums import daily_costs, total
from agent.store.schema import Resource
from rules.base import CENT, Candidate, Rule, RuleConfig, RuleContext, RuleMeta, money
from rules.queries import in_window, usage_only

# Region codes of AWS usage types (the prefix before the first dash).
AWS_REGION_CODES: dict[str, str] = {
    "USE1": "us-east-1",
    "USE2": "us-east-2",
    "USW1": "us-west-1",
    "USW2": "us-west-2",
    "CAN1": "ca-central-1",
    "SAE1": "sa-east-1",
    "EUC1": "eu-central-1",
    "EUC2": "eu-central-2",
    "EUW1": "eu-west-1",
    "EUW2": "eu-west-2",
    "EUW3": "eu-west-3",
    "EUN1": "eu-north-1",
    "EUS1": "eu-south-1",
    "APE1": "ap-east-1",
    "APN1": "ap-northeast-1",
    "APN2": "ap-northeast-2",
    "APN3": "ap-northeast-3",
    "APS1": "ap-southeast-1",
    "APS2": "ap-southeast-2",
    "APS3": "ap-south-1",
    "APS4": "ap-southeast-3",
    "MES1": "me-south-1",
    "MEC1": "me-central-1",
    "AFS1": "af-south-1",
    "UGW1": "us-gov-west-1",
    "UGE1": "us-gov-east-1",
}
_AWS_PAIR = re.compile(r"^([A-Z]{2,4}\d)-([A-Z]{2,4}\d)-AWS-(?:Out|In)-Bytes", re.IGNORECASE)
_GCP_PAIR = re.compile(r"\bfrom (.+?) to (.+?)$", re.IGNORECASE)
VECTOR_STORE_TYPES = (
    "opensearch_collection",
    "opensearch_domain",
    "vertex_index_endpoint",
    "vertex_index",
    "bedrock_knowledge_base",
)
INFERENCE_TYPES = (
    "sagemaker_endpoint",
    "vertex_endpoint",
    "bedrock_provisioned_throughput",
    "gpu_instance",
)


def region_pair(label: str, region: str | None) -> tuple[str, str]:
    """(source, destination) of an inter-region transfer usage type / SKU description."""
    aws = _AWS_PAIR.match(label)
    if aws:
        src, dst = (aws.group(1).upper(), aws.group(2).upper())
        return AWS_REGION_CODES.get(src, src), AWS_REGION_CODES.get(dst, dst)
    gcp = _GCP_PAIR.search(label)
    if gcp:
        return region or gcp.group(1), gcp.group(2)
    return region or "?", "?"


class CrossRegionConfig(RuleConfig):
    transfer_patterns: tuple[str, ...] = Field(
        ("%-aws-out-bytes", "%-aws-in-bytes", "%inter region%", "%inter-region%"),
        min_length=1,
        description="SQL LIKE patterns (case-insensitive) on usage type / SKU description",
    )
    min_monthly_cost: Decimal = Field(
        Decimal("50"), ge=0, description="transfer cost per month below which it is noise"
    )


@dataclass
class _Flow:
    provider: str
    currency: str
    resource: str | None
    service: str
    src: str
    dst: str
    cost: Decimal = Decimal(0)
    gb: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)


class CrossRegionTraffic(Rule[CrossRegionConfig]):
    meta = RuleMeta(
        rule_id="cross-region-traffic",
        title="Inter-region data transfer",
        family="networking",
        description=(
            "Data transfer billed between regions — typically a vector store or knowledge base in "
            "one region feeding inference in another; co-locating them removes the charge."
        ),
        sources=(
            "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer_within_the_same_AWS_Region",
            "https://docs.aws.amazon.com/cur/latest/userguide/cur-data-transfers-charges.html",
            "https://cloud.google.com/vpc/network-pricing",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        flows: dict[tuple[str, str, str], _Flow] = {}
        for provider, service, rid, region, label, currency, cost, qty, unit in self._transfer(
            ctx, cfg
        ):
            src, dst = region_pair(str(label), region)
            subject = f"{rid or service}|{src}->{dst}"
            flow = flows.setdefault(
                (str(provider), subject, str(currency)),
                _Flow(str(provider), str(currency), rid, str(service), src, dst),
            )
            flow.cost += money(cost)
            flow.gb += float(qty or 0)
            flow.rows.append(
                {
                    "usage_type": label,
                    "region": region,
                    "cost": str(money(cost)),
                    "quantity": float(qty or 0),
                    "unit": unit,
                }
            )
        if not flows:
            return
        roles = self._roles(ctx, [f.resource for f in flows.values() if f.resource])
        regions = self._regions(ctx)
        for (provider, subject, currency), flow in sorted(flows.items()):
            monthly = ctx.monthly(flow.cost).quantize(CENT)
            if monthly < cfg.min_monthly_cost:
                continue
            vector = regions.get((provider, "vector_storage"), set())
            inference = regions.get((provider, "inference"), set())
            role = roles.get(flow.resource or "")
            pair = {flow.src, flow.dst}
            rag = role in ("vector_storage", "inference") or bool(
                pair & vector and pair & inference and flow.src != flow.dst
            )
            yield Candidate(
                subject=subject,
                title=f"Inter-region transfer {flow.src} → {flow.dst}"
                + (f" ({role.replace('_', ' ')})" if role else ""),
                recommendation=(
                    "Co-locate the vector store / knowledge base with the inference endpoint "
                    "(or keep an index replica in the inference region) so retrieval stays in "
                    "one region."
                    if rag
                    else "Keep this traffic in one region (move the consumer next to the data, "
                    "or replicate the data) to stop paying inter-region transfer."
                ),
                monthly_savings=monthly,
                currency=currency,
                confidence="medium" if rag else "low",
                evidence={
                    "provider": provider,
                    "resource": flow.resource,
                    "resource_role": role,
                    "service": flow.service,
                    "source_region": flow.src,
                    "destination_region": flow.dst,
                    "transfer_cost_in_window": str(flow.cost),
                    "transfer_quantity": round(flow.gb, 3),
                    "by_usage_type": flow.rows,
                    "vector_store_regions": sorted(vector),
                    "inference_regions": sorted(inference),
                    "window_days": str(ctx.days),
                    "formula": "transfer cost in window × 730 h / window hours",
                },
                resource_id=flow.resource or subject,
            )

    # -- SQL -------------------------------------------------------------------------------------
    @staticmethod
    def _transfer(ctx: RuleContext, cfg: CrossRegionConfig) -> list[tuple[Any, ...]]:
        d = daily_costs.c
        label = d.usage_label
        matches = or_(*(func.lower(label).like(p.lower()) for p in cfg.transfer_patterns))
        keys = (d.provider_name, d.service_name, d.resource_id, d.region_id, label)
        query = (
            select(
                *keys,
                d.billing_currency,
                total(),
                func.sum(d.pricing_quantity),
                func.max(d.pricing_unit),
            )
            .where(in_window(ctx, d.charge_period_start), usage_only(d.charge_category), matches)
            .group_by(*keys, d.billing_currency)
        )
        return [tuple(r) for r in ctx.conn.execute(query)]

    @staticmethod
    def _roles(ctx: RuleContext, resources: list[str]) -> dict[str, str]:
        """vector_storage / inference for the resources that carry transfer rows: from the
        inventory's resource type, else from the workload of their other cost rows."""
        if not resources:
            return {}
        r, d = Resource, daily_costs.c
        out: dict[str, str] = {}
        for rid, rtype in ctx.conn.execute(
            select(r.resource_id, r.resource_type).where(r.resource_id.in_(resources))
        ):
            if rtype in VECTOR_STORE_TYPES:
                out[rid] = "vector_storage"
            elif rtype in INFERENCE_TYPES:
                out[rid] = "inference"
        for billed, workload in ctx.conn.execute(
            select(d.resource_id, d.x_workload)
            .where(
                in_window(ctx, d.charge_period_start),
                d.resource_id.in_(resources),
                d.x_workload.in_(("vector_storage", "inference")),
            )
            .group_by(d.resource_id, d.x_workload)
            .order_by(d.x_workload.desc())  # vector_storage wins over inference
        ):
            out.setdefault(str(billed), str(workload))
        return out

    @staticmethod
    def _regions(ctx: RuleContext) -> dict[tuple[str, str], set[str]]:
        """Regions where each provider bills vector-store and inference usage."""
        d = daily_costs.c
        out: dict[tuple[str, str], set[str]] = {}
        for provider, workload, region in ctx.conn.execute(
            select(d.provider_name, d.x_workload, d.region_id)
            .where(
                in_window(ctx, d.charge_period_start),
                usage_only(d.charge_category),
                d.region_id.is_not(None),
                d.x_workload.in_(("vector_storage", "inference")),
            )
            .group_by(d.provider_name, d.x_workload, d.region_id)
        ):
            out.setdefault((str(provider), str(workload)), set()).add(str(region))
        return out
