"""``stale-artifacts``: model and checkpoint buckets that only ever grow.

Training writes a checkpoint every few hundred steps and every run leaves a model artifact; few
are read again once a run is evaluated.  Without a lifecycle rule they stay in the hot storage
class forever and the bucket's bill rises week after week.  S3 Standard-IA costs about 45 % less
than Standard per GB-month and Glacier classes far less; Cloud Storage Nearline about half of
Standard; expiring superseded checkpoints saves all of their cost.

The rule looks at storage rows (``storage_services``, usage types ``*TimedStorage*`` or a
per-month pricing unit) of the hot class only (usage types / SKUs naming an infrequent-access,
archive or intelligent-tiering class are left out: such a bucket already tiers), per bucket:

* the bucket's name (resource id or name) or one of its tags matches ``checkpoint_patterns``
  (medium confidence) or ``artifact_patterns`` (low: a model bucket may hold what is served);
* its hot-storage cost rose in every one of the last ``periods`` periods of ``period_days``
  (by default the four whole weeks before the window end, summed in SQL as one column per week),
  and by at least ``min_growth`` from the first to the last.

Savings = ``savings_share`` × the bucket's current hot-storage run rate (the last period's cost
scaled to a 730-hour month): the share a lifecycle rule moves to a colder class or expires.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from fnmatch import fnmatchcase
from itertools import pairwise
from typing import Any

from pydantic import Field
from sqlalchemy import String, and_, cast, func, or_, select

from agent.store.daily_sums import daily_costs, total
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
from rules.queries import usage_only


class StaleArtifactsConfig(RuleConfig):
    checkpoint_patterns: tuple[str, ...] = Field(
        ("*checkpoint*", "*ckpt*"), description="bucket names / tags of checkpoint storage"
    )
    artifact_patterns: tuple[str, ...] = Field(
        ("*model*", "*artifact*"), description="bucket names / tags of model artifacts"
    )
    storage_services: tuple[str, ...] = Field(
        ("Amazon Simple Storage Service", "Cloud Storage"),
        min_length=1,
        description="service names of object storage",
    )
    cold_markers: tuple[str, ...] = Field(
        ("-SIA-", "-ZIA-", "-GIR-", "-GDA-", "-INT-", "Glacier", "Nearline", "Coldline", "Archive"),
        description="usage-type / SKU words of colder (or self-tiering) classes",
    )
    period_days: int = Field(7, ge=1, le=31, description="length of one period")
    periods: int = Field(4, ge=2, le=12, description="consecutive periods that must all rise")
    min_growth: float = Field(0.05, ge=0, description="growth from first to last period")
    savings_share: Decimal = Field(
        Decimal("0.50"), gt=0, le=1, description="share of the run rate a lifecycle rule saves"
    )
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")


class StaleArtifacts(Rule[StaleArtifactsConfig]):
    meta = RuleMeta(
        rule_id="stale-artifacts",
        title="Model artifacts and checkpoints without a lifecycle",
        family="storage",
        description=(
            "Buckets named or tagged for models / checkpoints whose hot-storage cost rises week "
            "over week: a lifecycle rule (expire old checkpoints, move artifacts to an "
            "infrequent-access or archive class) stops paying Standard rates for cold data."
        ),
        sources=(
            "https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lifecycle-mgmt.html",
            "https://aws.amazon.com/s3/pricing/",
            "https://cloud.google.com/storage/docs/lifecycle",
            "https://cloud.google.com/storage/pricing",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        n = min(cfg.periods, int(ctx.days) // cfg.period_days)
        if n < 2:
            return
        period = timedelta(days=cfg.period_days)
        bounds = [ctx.end - (n - k) * period for k in range(n + 1)]
        for provider, rid, name, tags, currency, *raw in self._buckets(ctx, cfg, bounds):
            costs = [money(v) for v in raw]
            kind = self._kind(cfg, rid, name, tags)
            if kind is None or costs[0] <= 0:
                continue
            rising = all(a < b for a, b in pairwise(costs))
            growth = costs[-1] / costs[0] - 1
            if not rising or growth < Decimal(str(cfg.min_growth)):
                continue
            run_rate = costs[-1] * HOURS_PER_MONTH / Decimal(cfg.period_days * 24)
            monthly = (run_rate * cfg.savings_share).quantize(CENT)
            if monthly < cfg.min_monthly_savings:
                continue
            label, pattern = kind
            yield Candidate(
                subject=rid,
                title=f"{label.capitalize()} storage growing {growth * 100:.1f} % in {n} "
                f"{'weeks' if cfg.period_days == 7 else 'periods'} without a lifecycle",
                recommendation=(
                    "Add a lifecycle rule to this bucket: expire superseded checkpoints and move "
                    "artifacts older than a few weeks to an infrequent-access or archive class."
                ),
                monthly_savings=monthly,
                currency=currency,
                confidence="medium" if label == "checkpoint" else "low",
                evidence={
                    "provider": provider,
                    "bucket": name or rid,
                    "matched": pattern,
                    "period_days": cfg.period_days,
                    "periods": [
                        {"start": lo.isoformat(), "hot_storage_cost": str(c)}
                        for lo, c in zip(bounds, costs, strict=False)
                    ],
                    "growth": str(growth.quantize(Decimal("0.0001"))),
                    "monthly_run_rate": str(run_rate.quantize(CENT)),
                    "savings_share": str(cfg.savings_share),
                    "formula": "last period's hot-storage cost × 730 h / period hours × share",
                },
            )

    # -- SQL -------------------------------------------------------------------------------------
    @staticmethod
    def _buckets(
        ctx: RuleContext, cfg: StaleArtifactsConfig, bounds: list[Any]
    ) -> list[tuple[Any, ...]]:
        """Per bucket and currency: hot-storage cost in each period (one SUM column each)."""
        c = daily_costs.c
        label = func.lower(func.coalesce(c.usage_label, ""))
        unit = func.lower(func.coalesce(c.pricing_unit, ""))
        storage = or_(label.like("%timedstorage%"), unit.like("%month%"), unit.like("%-mo"))
        cold = or_(*(label.like(f"%{m.lower()}%") for m in cfg.cold_markers))
        ts = c.charge_period_start
        columns = [total(and_(ts >= lo, ts < hi)) for lo, hi in pairwise(bounds)]
        query = (
            select(
                c.provider_name,
                c.resource_id,
                func.max(c.resource_name),
                func.max(cast(c.tags, String)),
                c.billing_currency,
                *columns,
            )
            .where(
                ts >= bounds[0],
                ts < bounds[-1],
                usage_only(c.charge_category),
                c.resource_id.is_not(None),
                c.service_name.in_(cfg.storage_services),
                storage,
                ~cold,
            )
            .group_by(c.provider_name, c.resource_id, c.billing_currency)
            .order_by(c.resource_id, c.billing_currency)
        )
        return [tuple(r) for r in ctx.conn.execute(query)]

    @staticmethod
    def _kind(
        cfg: StaleArtifactsConfig, rid: str, name: str | None, tags: Any
    ) -> tuple[str, str] | None:
        """("checkpoint" | "model artifact", the pattern) when the bucket's name or a tag
        matches; checkpoint patterns win."""
        names = {rid.lower(), rid.rsplit("/", 1)[-1].lower()}
        if name:
            names.add(name.lower())
        try:
            parsed = json.loads(tags) if isinstance(tags, str) else tags
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            names |= {str(v).lower() for v in parsed.values()} | {k.lower() for k in parsed}
        for label, patterns in (
            ("checkpoint", cfg.checkpoint_patterns),
            ("model artifact", cfg.artifact_patterns),
        ):
            for pattern in patterns:
                if any(fnmatchcase(n, pattern.lower()) for n in names):
                    return label, pattern
        return None
