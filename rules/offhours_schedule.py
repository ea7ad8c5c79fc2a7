"""``offhours-schedule``: non-production endpoints and notebooks that run nights and weekends
for nobody.

A dev/test/staging endpoint that only ever serves people at work pays for roughly 108 of 168
hours a week in which nobody calls it; stopping it outside working hours (a scheduled scale-in
to zero or delete/recreate for an endpoint, a stop/start schedule or an idle-shutdown lifecycle
configuration for a notebook) saves that share.

The rule fires on a resource whose environment tag (``tag_key``, default ``env``; from the
inventory's ``tags``/``labels`` or the billing rows' tags, where the AWS CUR calls it
``user_env``) is one of ``non_production`` (dev, test, staging), that is still billed, and

* for an endpoint (inventory ``sagemaker_endpoint``/``vertex_endpoint``, or an inference-billed
  resource with an ``invocations`` series): with invocations in the window, of which less than
  ``max_offhours_share`` (2 %) fell outside working hours;
* for a ``notebook_instance`` (which has no invocations): by assumption
  (``assume_notebooks_office_hours``) that notebooks are used only in working hours — low
  confidence, the user must check.

Working hours default to Monday–Friday 08:00–20:00 in ``timezone`` (an IANA name, default UTC).
Bucketing by local weekday and hour, with daylight-saving changes, is not portable SQL, so the
database aggregates invocations to one row per (endpoint, timestamp) and cost to one row per
(resource, charge period) — a few thousand rows for the non-production candidates only — and
those aggregated rows are bucketed in Python with :mod:`zoneinfo`.  A charge period that spans
working and off hours (a daily GCP row) is split in proportion to its off hours.

Savings: the off-hours share of its cost — Σ cost of its charge periods × each period's
off-hours fraction (for a resource billed around the clock this is off-hours hours ÷ all hours ×
its cost) — scaled to a month by the hours its billing covers (× 730 ÷ billed hours).  A resource
already stopped at night has little off-hours cost and falls under ``min_monthly_savings``.
Sources: SageMaker notebook lifecycle configuration (auto-stop), SageMaker scale-to-zero, Vertex
AI Workbench idle shutdown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from sqlalchemy import func, select

from agent.store.money import money_sum
from agent.store.schema import CostLineItem, Resource, UsageMetric
from rules.base import (
    CENT,
    HOURS_PER_MONTH,
    Candidate,
    Confidence,
    Rule,
    RuleConfig,
    RuleContext,
    RuleMeta,
    money,
)
from rules.queries import in_window, usage_only
from rules.resource_facts import (
    as_datetime,
    billing,
    endpoint_condition,
    environments,
    inventory,
)

NOTEBOOK = "notebook_instance"


class OffhoursScheduleConfig(RuleConfig):
    tag_key: str = Field("env", min_length=1, description="tag / label naming the environment")
    non_production: list[str] = Field(
        default_factory=lambda: ["dev", "test", "staging"],
        description="tag values that mark non-production (case-insensitive)",
    )
    timezone: str = Field("UTC", description="IANA time zone of the working hours")
    work_start_hour: int = Field(8, ge=0, le=23, description="working hours start (local)")
    work_end_hour: int = Field(20, ge=1, le=24, description="working hours end (local)")
    work_days: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4], description="working weekdays, Monday = 0"
    )
    max_offhours_share: float = Field(
        0.02, ge=0, lt=1, description="share of invocations outside working hours"
    )
    assume_notebooks_office_hours: bool = Field(
        True, description="report non-production notebooks without usage data (low confidence)"
    )
    still_billed_days: int = Field(2, ge=1, description="last charge at most this many days ago")
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown time zone {value!r} (an IANA name, e.g. Europe/Berlin)"
            raise ValueError(msg) from None
        return value

    @field_validator("work_days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in value):
            raise ValueError("weekdays are 0 (Monday) … 6 (Sunday)")
        return value


class _Clock:
    """Is a UTC hour working time?  Cached: the same hours recur for every resource."""

    def __init__(self, cfg: OffhoursScheduleConfig) -> None:
        self.zone = ZoneInfo(cfg.timezone)
        self.days = frozenset(cfg.work_days)
        self.start, self.end = cfg.work_start_hour, cfg.work_end_hour
        self.working = lru_cache(maxsize=None)(self._working)
        self.off_hours = lru_cache(maxsize=None)(self._off_hours)

    def _working(self, ts: datetime) -> bool:
        local = ts.replace(tzinfo=UTC).astimezone(self.zone)
        return local.weekday() in self.days and self.start <= local.hour < self.end

    def _off_hours(self, start: datetime, end: datetime) -> tuple[int, int]:
        """(off-hours, all hours) of the whole hours in [start, end)."""
        hour = start.replace(minute=0, second=0, microsecond=0)
        off = total = 0
        while hour < end:
            total += 1
            off += not self.working(hour)
            hour += timedelta(hours=1)
        return off, max(total, 1)


class OffhoursSchedule(Rule[OffhoursScheduleConfig]):
    meta = RuleMeta(
        rule_id="offhours-schedule",
        title="Schedule a non-production endpoint or notebook",
        family="schedules",
        description=(
            "Non-production (env = dev/test/staging) endpoints with under "
            "{max_offhours_share:.0%} of their invocations outside working hours "
            "({work_start_hour:02d}:00–{work_end_hour:02d}:00 {timezone} on working days), and "
            "non-production notebooks: stop them outside working hours."
        ),
        sources=(
            "https://docs.aws.amazon.com/sagemaker/latest/dg/notebook-lifecycle-config.html",
            "https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html",
            "https://cloud.google.com/vertex-ai/docs/workbench/instances/idle-shutdown",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        # Endpoints (the same bills idle-endpoint reads: computed once per analysis) and
        # inventoried notebooks; only those with traffic or a notebook assumption go further.
        bills = {
            **billing(ctx, endpoint_condition()),
            **billing(
                ctx,
                CostLineItem.resource_id.in_(
                    select(Resource.resource_id).where(Resource.resource_type == NOTEBOOK)
                ),
            ),
        }
        bills = {rid: b for rid, b in bills.items() if b.still_billed(ctx, cfg.still_billed_days)}
        wanted = {v.strip().lower() for v in cfg.non_production}
        env = {rid: e for rid, e in environments(ctx, cfg.tag_key, bills).items() if e in wanted}
        if not env:
            return
        kinds_of = {rid: rtype for rid, (rtype, _) in inventory(ctx, env).items()}
        clock = _Clock(cfg)
        usage = self._invocations(ctx, clock, env)
        confidences: dict[str, Confidence] = {}
        for rid in env:
            measured = usage.get(rid)
            if kinds_of.get(rid) == NOTEBOOK:
                if cfg.assume_notebooks_office_hours:
                    confidences[rid] = "low"
            elif (
                measured is not None
                and measured[1] > 0  # no traffic at all is idle-endpoint's case
                and measured[0] / measured[1] < cfg.max_offhours_share
            ):
                confidences[rid] = "high"
        # The per-charge-period cost query only for the resources that passed the traffic test.
        off_cost = self._offhours_cost(
            ctx, clock, {rid: bills[rid].currency for rid in confidences}
        )
        for rid in sorted(confidences):
            bill = bills[rid]
            notebook = kinds_of.get(rid) == NOTEBOOK
            measured = usage.get(rid)
            confidence = confidences[rid]
            off, hours_off, hours_all = off_cost.get(rid, (Decimal(0), 0, 0))
            monthly = (off * HOURS_PER_MONTH / bill.hours).quantize(CENT) if bill.hours else None
            if monthly is None or monthly < cfg.min_monthly_savings:
                continue
            evidence: dict[str, object] = {
                "environment": env[rid],
                "tag_key": cfg.tag_key,
                "timezone": cfg.timezone,
                "working_hours": (
                    f"{cfg.work_start_hour:02d}:00–{cfg.work_end_hour:02d}:00 on weekdays "
                    f"{sorted(cfg.work_days)} (Monday = 0)"
                ),
                "cost_in_window": str(bill.cost),
                "offhours_cost_in_window": str(off.quantize(Decimal("0.000001"))),
                "billed_hours": str(bill.hours),
                "offhours_hours": hours_off,
                "charged_hours": hours_all,
                "formula": (
                    "Σ cost × off-hours fraction of its charge period × 730 h ÷ billed hours"
                ),
            }
            if notebook:
                evidence["assumption"] = "notebook used only in working hours (no usage data)"
                what = "notebook"
                action = (
                    "Stop this notebook outside working hours (an auto-stop lifecycle "
                    "configuration or a start/stop schedule)."
                )
            else:
                assert measured is not None
                evidence["invocations_in_window"] = measured[1]
                evidence["offhours_invocations"] = measured[0]
                evidence["offhours_invocation_share"] = round(measured[0] / measured[1], 6)
                evidence["max_offhours_share"] = cfg.max_offhours_share
                what = "endpoint"
                action = (
                    "Scale this endpoint to zero (or delete and recreate it) outside working "
                    "hours with a schedule."
                )
            yield Candidate(
                subject=rid,
                title=f"Non-production {what} running outside working hours",
                recommendation=action,
                monthly_savings=monthly,
                currency=bill.currency,
                confidence=confidence,
                evidence=evidence,
            )

    # -- SQL aggregates, bucketed by local time in Python -----------------------------------------
    @staticmethod
    def _invocations(
        ctx: RuleContext, clock: _Clock, ids: Iterable[str]
    ) -> dict[str, tuple[float, float]]:
        """Per endpoint: (off-hours invocations, all invocations), from one SQL row per
        (endpoint, timestamp)."""
        m = UsageMetric
        rows = ctx.conn.execute(
            select(m.resource_id, m.ts, func.sum(m.value))
            .where(m.metric == "invocations", in_window(ctx, m.ts), m.resource_id.in_(list(ids)))
            .group_by(m.resource_id, m.ts)
        )
        out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for rid, ts, value in rows:
            when = as_datetime(ts)
            if when is None or not value:
                continue
            pair = out[rid]
            pair[1] += float(value)
            if not clock.working(when):
                pair[0] += float(value)
        return {rid: (pair[0], pair[1]) for rid, pair in out.items()}

    @staticmethod
    def _offhours_cost(
        ctx: RuleContext, clock: _Clock, currencies: dict[str, str]
    ) -> dict[str, tuple[Decimal, int, int]]:
        """Per resource: (off-hours cost, off charged hours, charged hours) in its billing
        currency, from one SQL row per (resource, charge period, currency)."""
        if not currencies:
            return {}
        c = CostLineItem
        rows = ctx.conn.execute(
            select(
                c.resource_id,
                c.charge_period_start,
                func.coalesce(c.charge_period_end, c.charge_period_start),
                c.billing_currency,
                money_sum(c.effective_cost),
            )
            .where(
                in_window(ctx),
                usage_only(),
                c.resource_id.in_(sorted(currencies)),
            )
            .group_by(c.resource_id, c.charge_period_start, c.charge_period_end, c.billing_currency)
        )
        out: dict[str, tuple[Decimal, int, int]] = {}
        for rid, first, last, currency, cost in rows:
            start, end = as_datetime(first), as_datetime(last)
            if rid is None or start is None or end is None or currency != currencies[rid]:
                continue
            end = min(max(end, start + timedelta(hours=1)), ctx.end)
            off, total = clock.off_hours(start, end)
            amount, hours_off, hours_all = out.get(rid, (Decimal(0), 0, 0))
            out[rid] = (
                amount + money(cost) * off / total,
                hours_off + off,
                hours_all + total,
            )
        return out
