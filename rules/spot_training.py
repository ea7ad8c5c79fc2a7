"""``spot-training``: training jobs of an hour or more that ran on on-demand capacity.

Training is checkpointable and rarely urgent to the minute, which is what Spot capacity wants:
SageMaker managed spot training bills only the seconds a job ran on spare capacity (AWS quotes
savings of up to 90 %), and Vertex AI custom jobs take ``scheduling.strategy = SPOT``.

The discount the finding applies is the best-evidenced one available, per SKU:

1. **catalog** — the provider's list price of the SKU's Spot twin (``sku_prices``, from the Cloud
   Billing Catalog): ``1 − spot / on-demand``, weighted by the job's cost per SKU;
2. **realised** — what this account's own spot jobs saved: ``1 − Σ billable / Σ training
   seconds`` over its spot training jobs (SageMaker reports both);
3. **default** — ``default_discount`` (60 %), a conservative reading of the provider figures.

Savings = the job's on-demand effective cost in the window × discount, scaled to a month
(training cadence assumed to continue); the evidence lists cost, discount and its source per SKU.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy import ColumnElement, and_, func, or_, select

from agent.store.daily_sums import daily_costs, total
from agent.store.prices import spot_discount
from agent.store.schema import Resource
from rules.base import CENT, Candidate, Rule, RuleConfig, RuleContext, RuleMeta, money
from rules.queries import usage_only


class SpotTrainingConfig(RuleConfig):
    min_hours: float = Field(1.0, gt=0, description="jobs shorter than this are left alone")
    default_discount: Decimal = Field(
        Decimal("0.60"), gt=0, lt=1, description="when neither catalog nor history knows"
    )
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")


@dataclass(frozen=True)
class _Priced:
    sku_id: str | None
    cost: Decimal
    discount: Decimal
    source: str  # catalog | realised | default


class SpotTraining(Rule[SpotTrainingConfig]):
    meta = RuleMeta(
        rule_id="spot-training",
        title="Train on Spot capacity",
        family="training",
        description=(
            "Training jobs of {min_hours:g} h or more on on-demand capacity; managed spot "
            "training (SageMaker) or SPOT scheduling (Vertex AI) bills the same work for much "
            "less."
        ),
        sources=(
            "https://docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html",
            "https://cloud.google.com/vertex-ai/docs/training/use-spot-vms",
            "https://cloud.google.com/compute/docs/instances/spot",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        realised = self._realised(ctx)
        per_job: dict[tuple[str, str], list[tuple[str | None, Decimal]]] = {}
        meta: dict[str, tuple[str | None, float]] = {}
        for rid, provider, hours, sku, currency, cost in self._costs(ctx, cfg):
            per_job.setdefault((rid, currency), []).append((sku, money(cost)))
            meta[rid] = (provider, float(hours or 0))
        for (rid, currency), skus in sorted(per_job.items()):
            provider, hours = meta[rid]
            parts = list(self._priced(ctx, skus, realised.get(provider or ""), cfg))
            cost = sum((p.cost for p in parts), Decimal(0))
            saved = sum((p.cost * p.discount for p in parts), Decimal(0))
            monthly = ctx.monthly(saved).quantize(CENT)
            if monthly < cfg.min_monthly_savings:
                continue
            basis = {p.source for p in parts}
            yield Candidate(
                subject=rid,
                title=f"Training job on on-demand capacity ({hours:.1f} h)",
                recommendation=(
                    "Enable managed spot training / SPOT scheduling with checkpointing for this "
                    "job's next runs."
                ),
                monthly_savings=monthly,
                currency=currency,
                confidence="medium" if basis <= {"catalog", "realised"} else "low",
                evidence={
                    "on_demand_cost_in_window": str(cost),
                    "window_days": str(ctx.days),
                    "training_hours": round(hours, 2),
                    "savings_in_window": str(saved.quantize(CENT)),
                    "by_sku": [
                        {
                            "sku_id": p.sku_id,
                            "cost": str(p.cost),
                            "discount": str(p.discount.quantize(Decimal("0.0001"))),
                            "discount_source": p.source,
                        }
                        for p in parts
                    ],
                    "formula": "Σ cost × discount × 730 h / window hours",
                },
            )

    # -- SQL -------------------------------------------------------------------------------------
    @staticmethod
    def _spot(r: type[Resource]) -> ColumnElement[bool]:
        attrs = r.attributes
        return or_(
            attrs["managed_spot"].as_boolean().is_(True),
            attrs["spot"].as_boolean().is_(True),
            func.upper(attrs["scheduling_strategy"].as_string()) == "SPOT",
        )

    def _costs(self, ctx: RuleContext, cfg: SpotTrainingConfig) -> list[tuple[Any, ...]]:
        """(job, provider, hours, sku, currency, on-demand effective cost) in the window."""
        r, d = Resource, daily_costs.c
        seconds = r.attributes["training_seconds"].as_float()
        jobs = (
            select(r.resource_id, r.provider_name, seconds.label("seconds"))
            .where(
                r.resource_type == "training_job",
                func.coalesce(seconds, 0) >= cfg.min_hours * 3600,
                ~func.coalesce(self._spot(r), False),
            )
            .subquery()
        )
        query = (
            select(
                jobs.c.resource_id,
                jobs.c.provider_name,
                (jobs.c.seconds / 3600.0).label("hours"),
                d.sku_id,
                d.billing_currency,
                total(),
            )
            .join(daily_costs, d.resource_id == jobs.c.resource_id)
            .where(
                and_(d.charge_period_start >= ctx.start, d.charge_period_start < ctx.end),
                func.coalesce(d.pricing_category, "Standard") != "Dynamic",
                usage_only(d.charge_category),
            )
            .group_by(
                jobs.c.resource_id,
                jobs.c.provider_name,
                jobs.c.seconds,
                d.sku_id,
                d.billing_currency,
            )
        )
        return [tuple(row) for row in ctx.conn.execute(query)]

    def _realised(self, ctx: RuleContext) -> dict[str, Decimal]:
        """Per provider: 1 − Σ billable / Σ training seconds of its spot jobs."""
        r = Resource
        training = r.attributes["training_seconds"].as_float()
        billable = r.attributes["billable_seconds"].as_float()
        rows = ctx.conn.execute(
            select(r.provider_name, func.sum(billable), func.sum(training))
            .where(
                r.resource_type == "training_job",
                self._spot(r),
                training > 0,
                billable.is_not(None),
            )
            .group_by(r.provider_name)
        )
        out: dict[str, Decimal] = {}
        for provider, billed, trained in rows:
            if trained and billed is not None and billed < trained:
                out[provider] = 1 - Decimal(str(billed)) / Decimal(str(trained))
        return out

    @staticmethod
    def _priced(
        ctx: RuleContext,
        skus: list[tuple[str | None, Decimal]],
        realised: Decimal | None,
        cfg: SpotTrainingConfig,
    ) -> Iterator[_Priced]:
        for sku, cost in skus:
            discount = spot_discount(ctx.conn, sku) if sku else None
            source = "catalog"
            if discount is None or discount <= 0:
                discount, source = (
                    (realised, "realised")
                    if realised is not None
                    else (cfg.default_discount, "default")
                )
            yield _Priced(sku, cost, discount, source)
