"""``response-cache``: an app that sends the same prompt again within a day.

An exact repeat of a prompt (same app, model and ``prompt_hash``) within the cache's time to live
could have been answered from an exact-match response cache (a key–value store in the gateway:
LiteLLM, Portkey, API Gateway + ElastiCache, Vertex/Bedrock-side caching at the application) for
the price of a lookup.  The duplicate rate is measured in SQL with ``LAG(ts)`` over
``(app, provider, model, prompt_hash) ORDER BY ts`` (SQLite ≥ 3.25 and PostgreSQL): a request is a
duplicate when the previous occurrence of its hash is at most ``ttl_hours`` earlier.

Savings = what the duplicates cost: per (model, tier band) group, its duplicates ÷ its requests ×
its cost (every chat request priced per request from the price table, see
:mod:`rules.llm_prices`), summed over the app's priced models, scaled to a 730-hour month and
divided by ``log_sample_rate``.  The threshold is the duplicate share of all the app's requests;
the money is per model, so repeats of a cheap model are never billed at an expensive one's price,
and an unpriced model's repeats (named in the evidence) are left out of the figure.  Embedding
calls are left to ``reembedding``.  Confidence is medium: the repeats are measured, but whether
an answer may be reused (personalised, non-deterministic or time-sensitive replies) is the app
owner's call.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pydantic import Field
from sqlalchemy import and_, case, func

from agent.store.llm_prices import (
    GENAI_PRICES_SOURCE,
    calls_with_previous,
    cost_of,
    currency_of,
    grouped,
    seconds_between,
)
from agent.store.schema import LlmRequest
from rules.base import CENT, Candidate, Rule, RuleContext, RuleMeta
from rules.llm_prices import (
    LlmRuleConfig,
    dec,
    overlap_key,
    per_currency,
    price_evidence,
    pricer_for,
    subject,
    totals,
)


class ResponseCacheConfig(LlmRuleConfig):
    min_duplicate_share: Decimal = Field(
        Decimal("0.10"), gt=0, le=1, description="share of an app's requests that repeat a prompt"
    )
    ttl_hours: float = Field(24.0, gt=0, description="a repeat older than this is a cache miss")


class ResponseCache(Rule[ResponseCacheConfig]):
    meta = RuleMeta(
        rule_id="response-cache",
        title="Cache repeated LLM responses",
        family="llm tokens",
        description=(
            "Apps whose requests repeat an exact prompt within {ttl_hours:g} h; an exact-match "
            "response cache answers them without a model call."
        ),
        sources=(
            "https://docs.litellm.ai/docs/proxy/caching",
            "https://aws.amazon.com/blogs/database/optimize-llm-response-costs-and-latency-with-effective-caching",
            "https://github.com/zilliztech/GPTCache",
            GENAI_PRICES_SOURCE,
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        r = LlmRequest
        calls = calls_with_previous(
            ctx, (r.app, r.provider, r.model, r.prompt_hash), r.operation != "embeddings"
        )
        duplicate = and_(
            calls.c.prompt_hash.is_not(None),
            calls.c.previous_ts.is_not(None),
            seconds_between(calls.c.ts, calls.c.previous_ts) <= cfg.ttl_hours * 3600,
        )
        groups = grouped(
            ctx,
            [calls.c.app],
            source=calls,
            extra=[func.sum(case((duplicate, 1), else_=0)).label("duplicates")],
        )
        pricer = pricer_for(ctx, cfg, self.rule_id)
        apps = sorted({g.keys[0] for g in groups}, key=lambda a: a or "")
        for app in apps:
            mine = [g for g in groups if g.keys[0] == app]
            requests = sum(g.n for g in mine)
            duplicates = sum(int(g.extra["duplicates"] or 0) for g in mine)
            share = Decimal(duplicates) / Decimal(requests)
            if share < cfg.min_duplicate_share:
                continue
            models = sorted({g.model for g in mine})
            repeated: dict[str, Decimal] = {}
            for g in mine:
                cost, currency = cost_of(pricer, g), currency_of(pricer, g)
                if cost is not None and currency is not None:
                    dups = Decimal(int(g.extra["duplicates"] or 0)) / Decimal(g.n)
                    repeated[currency] = repeated.get(currency, Decimal(0)) + dups * cost
            for name, currency, cost in per_currency(subject(app), totals(pricer, mine)):
                saved = repeated[currency]
                monthly = (ctx.monthly(saved) / cfg.log_sample_rate).quantize(CENT)
                if monthly < cfg.min_monthly_savings:
                    continue
                yield Candidate(
                    subject=name,
                    title=f"{app}: {share:.0%} of LLM requests repeat a prompt",
                    recommendation=(
                        f"Put an exact-match response cache (TTL {cfg.ttl_hours:g} h, keyed on "
                        f"model and prompt) in front of {app}'s LLM calls: {duplicates} of its "
                        f"{requests} requests repeated a prompt sent within {cfg.ttl_hours:g} h."
                    ),
                    monthly_savings=monthly,
                    currency=currency,
                    confidence="medium",
                    resource_id=overlap_key(app),
                    evidence={
                        "app": app,
                        "models": models,
                        "requests": requests,
                        "duplicate_requests": duplicates,
                        "duplicate_share": dec(share),
                        "ttl_hours": cfg.ttl_hours,
                        "llm_cost_in_window": str(cost.quantize(CENT)),
                        "duplicate_cost_in_window": str(saved.quantize(CENT)),
                        "savings_in_window": str(saved.quantize(CENT)),
                        "log_sample_rate": str(cfg.log_sample_rate),
                        "window_days": str(ctx.days),
                        **price_evidence(pricer, mine),
                        "formula": (
                            "Σ per model (duplicates ÷ requests × its cost) × 730 h / window "
                            "hours / log_sample_rate"
                        ),
                    },
                )
