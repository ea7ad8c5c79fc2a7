"""``batch-inference``: scheduled, non-interactive LLM traffic paying real-time prices.

Every large provider sells asynchronous batch inference at about half the real-time token price
in exchange for results within 24 hours: Amazon Bedrock batch inference, the OpenAI Batch API,
Anthropic Message Batches and Vertex AI batch prediction (all 50 %).  Traffic that nobody waits
for — a nightly summariser, a cron enrichment job — does not need the real-time endpoint.

An app is non-interactive when at least ``min_window_share`` (80 %) of its requests in the window
fall within ``window_hours`` (4) consecutive hours of the day (UTC, wrapping past midnight; the
hour histogram is a SQL ``GROUP BY app, EXTRACT(hour …)``) and it made at least
``min_requests`` (100) requests — counted as the log's requests ÷ ``log_sample_rate``, what a
sampled log stands for — or when config names it in
``latency_insensitive_apps``.  Savings = its real-time requests (``batch`` false or unknown)
priced per request at the real-time price minus the same requests at the batch price — the price
table's batch price where it has one (OpenAI, Anthropic, Gemini), else the real-time price less
``batch_discount`` (50 %, Bedrock's batch discount) — scaled to a month.  Confidence is medium:
the schedule is measured, whether the caller can wait up to a day is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pydantic import Field
from sqlalchemy import false, func, literal, select

from agent.store.llm_prices import (
    GENAI_PRICES_SOURCE,
    Group,
    Pricer,
    cost_of,
    currency_of,
    grouped,
    normalise,
    requests_in_window,
    seconds_between,
)
from agent.store.schema import LlmRequest, LlmUsage
from rules.base import CENT, Candidate, Rule, RuleContext, RuleMeta
from rules.llm_prices import (
    LlmRuleConfig,
    dec,
    overlap_key,
    per_currency,
    price_evidence,
    pricer_for,
    subject,
)
from rules.queries import in_window
from rules.usage_buckets import DEFAULT_APP, bucket_groups, logged_providers, warn_uncounted

LOG = "request log"
BUCKETS = "usage buckets (provider admin API)"


class BatchInferenceConfig(LlmRuleConfig):
    window_hours: int = Field(4, ge=1, le=23, description="length of the nightly/cron window")
    min_window_share: Decimal = Field(
        Decimal("0.8"), gt=0, le=1, description="share of requests inside the busiest window"
    )
    latency_insensitive_apps: list[str] = Field(
        default_factory=list, description="apps known not to need real-time answers"
    )
    min_requests: int = Field(100, ge=1, description="fewer requests say nothing of a schedule")


def busiest_window(per_hour: dict[int, int], hours: int) -> tuple[int, int]:
    """(start hour, requests) of the ``hours``-long run of hours of day with most requests,
    wrapping past midnight; on a tie, the earliest start hour that has requests."""
    best = (0, -1, False)
    for start in range(24):
        count = sum(per_hour.get((start + i) % 24, 0) for i in range(hours))
        busy = per_hour.get(start, 0) > 0
        if (count, busy) > (best[1], best[2]):
            best = (start, count, busy)
    return best[0], best[1]


class BatchInference(Rule[BatchInferenceConfig]):
    meta = RuleMeta(
        rule_id="batch-inference",
        title="Run scheduled LLM traffic as batch jobs",
        family="llm tokens",
        description=(
            "Apps whose requests are concentrated in a nightly or cron window (or are declared "
            "latency-insensitive) but call the real-time API: batch inference is billed about "
            "{batch_discount:.0%} less."
        ),
        sources=(
            "https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference.html",
            "https://platform.openai.com/docs/guides/batch",
            "https://docs.anthropic.com/en/docs/build-with-claude/batch-processing",
            "https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-gemini",
            GENAI_PRICES_SOURCE,
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        r = LlmRequest
        hour = func.extract("hour", r.ts)
        histogram: dict[str | None, dict[int, int]] = {}
        for app, h, count in ctx.conn.execute(
            select(r.app, hour, func.count()).where(requests_in_window(ctx)).group_by(r.app, hour)
        ):
            histogram.setdefault(app, {})[int(h)] = int(count)
        realtime = grouped(ctx, [r.app], conditions=[func.coalesce(r.batch, false()) == false()])
        pricer = pricer_for(ctx, cfg, self.rule_id)
        for app in sorted(histogram, key=lambda a: a or ""):
            mine = [g for g in realtime if g.keys[0] == app]
            yield from self._judge(ctx, pricer, app, histogram[app], mine, cfg.log_sample_rate, LOG)
        yield from self._buckets(ctx, pricer)

    def _buckets(self, ctx: RuleContext, pricer: Pricer) -> Iterable[Candidate]:
        """The same test on usage buckets: the hour of day from hourly buckets (weighted by
        their request counts); daily buckets can only serve a declared app."""
        cfg = self.config
        u = LlmUsage
        buckets = bucket_groups(ctx)
        warn_uncounted(ctx, buckets, "request counts to price the requests")
        realtime = [g for g in buckets.groups if not g.batch]
        app = func.coalesce(u.project_id, literal(DEFAULT_APP))
        hour = func.extract("hour", u.bucket_start)
        logged = logged_providers(ctx)
        histogram: dict[str, dict[int, int]] = {}
        for name, provider, h, count in ctx.conn.execute(
            select(app, u.provider, hour, func.sum(u.requests))
            .where(in_window(ctx, u.bucket_start), u.model.is_not(None))
            .where(u.operation != "embeddings", u.requests.is_not(None))
            .where(seconds_between(u.bucket_end, u.bucket_start) < 7200)  # hourly (float noise)
            .group_by(app, u.provider, hour)
        ):
            if normalise(provider, "")[0] not in logged:
                per_hour = histogram.setdefault(str(name), {})
                per_hour[int(h)] = per_hour.get(int(h), 0) + int(count or 0)
        for name in sorted({g.keys[0] for g in buckets.groups}):
            mine = [g for g in realtime if g.keys[0] == name]
            if name not in histogram and name not in cfg.latency_insensitive_apps:
                if mine:
                    ctx.warn(
                        f"{name}: not judged — daily usage buckets hide the hour of day; set "
                        'bucket_width = "1h" on its source, or list it in latency_insensitive_apps'
                    )
                continue
            yield from self._judge(ctx, pricer, name, histogram.get(name, {}), mine, Decimal(1),
                                   BUCKETS)  # fmt: skip

    def _judge(
        self,
        ctx: RuleContext,
        pricer: Pricer,
        app: str | None,
        per_hour: dict[int, int],
        mine: list[Group],
        scale: Decimal,
        data: str,
    ) -> Iterable[Candidate]:
        """The finding for one app: its requests per hour of day, its real-time groups, and the
        sample rate ``scale`` of the data (1 for complete buckets)."""
        cfg = self.config
        requests = sum(per_hour.values()) or sum(g.n for g in mine)
        if not requests:
            return
        start, inside = busiest_window(per_hour, cfg.window_hours) if per_hour else (0, 0)
        share = Decimal(inside) / Decimal(requests)
        declared = app in cfg.latency_insensitive_apps
        # min_requests counts real requests: a sampled log holds log_sample_rate of them
        estimated = Decimal(requests) / scale
        scheduled = estimated >= cfg.min_requests and share >= cfg.min_window_share
        if not (declared or scheduled):
            return
        now: dict[str, Decimal] = {}
        batched: dict[str, Decimal] = {}
        for g in mine:
            cost, as_batch = cost_of(pricer, g), cost_of(pricer, g, batch=True)
            currency = currency_of(pricer, g)
            if cost is None or as_batch is None or currency is None:
                continue
            now[currency] = now.get(currency, Decimal(0)) + cost
            batched[currency] = batched.get(currency, Decimal(0)) + as_batch
        realtime_requests = sum(g.n for g in mine)
        end = (start + cfg.window_hours) % 24
        why = (
            "declared latency-insensitive"
            if declared and not scheduled
            else f"{share:.0%} of requests between {start:02d}:00 and {end:02d}:00 UTC"
        )
        for name, currency, cost in per_currency(subject(app), now):
            saved = cost - batched[currency]
            monthly = (ctx.monthly(saved) / scale).quantize(CENT)
            if monthly < cfg.min_monthly_savings:
                continue
            yield Candidate(
                subject=name,
                title=f"{app}: scheduled LLM traffic on real-time pricing",
                recommendation=(
                    f"Submit {app}'s calls as batch jobs (Bedrock batch inference, Vertex AI "
                    f"batch prediction, OpenAI/Anthropic batch APIs) at about half the token "
                    f"price: {why}, {realtime_requests} of {requests} on real-time pricing."
                ),
                monthly_savings=monthly,
                currency=currency,
                confidence="medium",
                resource_id=overlap_key(app),
                evidence={
                    "app": app,
                    "requests": requests,
                    "estimated_requests": dec(estimated, "1"),
                    "realtime_requests": realtime_requests,
                    "window_start_hour_utc": start,
                    "window_hours": cfg.window_hours,
                    "requests_in_window": inside,
                    "window_share": dec(share),
                    "declared_latency_insensitive": declared,
                    "realtime_cost_in_window": str(cost.quantize(CENT)),
                    "batch_cost_in_window": str(batched[currency].quantize(CENT)),
                    "savings_in_window": str(saved.quantize(CENT)),
                    "batch_price_source": sorted(
                        {
                            f"{g.model}: price table batch price"
                            if (p := pricer.lookup(g.provider, g.model)) and p.has_batch_price
                            else f"{g.model}: batch_discount {cfg.batch_discount}"
                            for g in mine
                        }
                    ),
                    "data": data,
                    "log_sample_rate": str(scale),
                    "window_days": str(ctx.days),
                    **price_evidence(pricer, mine),
                    "formula": (
                        "(realtime_cost − batch_cost) × 730 h / window hours / log_sample_rate"
                    ),
                },
            )
