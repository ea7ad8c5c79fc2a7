"""``prompt-caching``: long prompts sent to a cache-capable model without using its prompt cache.

Providers bill a prompt prefix read from their cache at a fraction of the input price (Anthropic
and Bedrock: 10 %, Gemini 2.5: 10 %, OpenAI: 25–50 %) and a prefix written to it at a premium
(Anthropic/Bedrock 5-minute cache: 125 %; OpenAI and Gemini implicit caching: no premium).  An
app × model whose requests average ``min_avg_input_tokens`` (1,024; shorter prompts hardly
reach the providers' minimum cacheable prefix, 1,024 tokens for Claude Sonnet and Gemini 2.5
Flash) or more, but read less than ``max_cache_read_share`` (25 %) of its input tokens from the
cache, is very likely re-sending a stable system prompt, tool definitions or documents at full
price.

What share of a prompt is a stable prefix is not in a request log, so it is an assumption:
``cacheable_share`` (default 50 %; system prompt + tools + few-shot examples of a typical chat
app).  How often the cache would be cold is measured: a request is a *cold start* when the app's
previous request to the same model is more than ``cache_ttl_seconds`` (300 s, the 5-minute
default TTL) earlier (``LAG(ts)`` in SQL; in a sampled log the gaps are scaled by
``log_sample_rate``).  Per group of requests (n, input I, cache reads C, k cold starts):

* prefix tokens P = cacheable_share × I; reads R = P × (n − k) / n; writes W = P × k / n;
* moved tokens = R − C (only when positive);
* savings = moved × (input price − cache-read price) − W × (cache-write price − input price),

computed as the difference of two per-request prices from the price table (now: C cache reads;
after: R reads and W writes), so tiers and the table's cache prices apply exactly.  Models
without a cache-read price do not offer caching and are left alone.  Confidence is medium when
the app already reads some prefix from the cache (a stable prefix exists), low when it reads none
(the prefix share is then a pure assumption).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pydantic import Field
from sqlalchemy import case, func, or_

from agent.store.llm_prices import (
    GENAI_PRICES_SOURCE,
    MTOK,
    Group,
    Pricer,
    Tokens,
    calls_with_previous,
    cost_of,
    grouped,
    seconds_between,
)
from agent.store.schema import LlmRequest, LlmUsage
from rules.base import CENT, Candidate, Rule, RuleContext, RuleMeta
from rules.llm_prices import LlmRuleConfig, dec, overlap_key, price_evidence, pricer_for, subject
from rules.usage_buckets import bucket_groups, warn_uncounted

LOG = "request log"
BUCKETS = "usage buckets (provider admin API; cold starts estimated: requests evenly spread)"


class PromptCachingConfig(LlmRuleConfig):
    max_cache_read_share: Decimal = Field(
        Decimal("0.25"), ge=0, le=1, description="cache reads below this share of input tokens"
    )
    min_avg_input_tokens: int = Field(1024, ge=0, description="long prompts: mean input tokens")
    cacheable_share: Decimal = Field(
        Decimal("0.5"), gt=0, le=1, description="assumed stable-prefix share of input tokens"
    )
    cache_ttl_seconds: int = Field(300, gt=0, description="cache lifetime between two requests")


class PromptCaching(Rule[PromptCachingConfig]):
    meta = RuleMeta(
        rule_id="prompt-caching",
        title="Use provider prompt caching",
        family="llm tokens",
        description=(
            "Models sent long prompts ({min_avg_input_tokens}+ tokens) with few cache reads: "
            "caching the stable prefix bills it at the cache-read price (about 10 % of input) "
            "instead of the full input price."
        ),
        sources=(
            "https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching",
            "https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html",
            "https://platform.openai.com/docs/guides/prompt-caching",
            "https://cloud.google.com/vertex-ai/generative-ai/docs/context-cache/context-cache-overview",
            GENAI_PRICES_SOURCE,
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        r = LlmRequest
        calls = calls_with_previous(ctx, (r.app, r.provider, r.model), r.operation != "embeddings")
        cold = or_(
            calls.c.previous_ts.is_(None),
            # a sampled log shows gaps 1 / sample rate times longer than the real traffic's
            seconds_between(calls.c.ts, calls.c.previous_ts) * float(cfg.log_sample_rate)
            > cfg.cache_ttl_seconds,
        )
        groups = grouped(
            ctx,
            [calls.c.app],
            source=calls,
            extra=[func.sum(case((cold, 1), else_=0)).label("cold")],
        )
        pricer = pricer_for(ctx, cfg, self.rule_id)
        yield from self._judge(ctx, cfg, pricer, groups, cfg.log_sample_rate, LOG)
        u = LlmUsage
        # Buckets hold no request times: requests are taken as evenly spread over a bucket,
        # so the cache stays warm through it when they come at least once per TTL.
        span = seconds_between(u.bucket_end, u.bucket_start) - 1  # SQLite: julianday float noise
        even = u.requests * cfg.cache_ttl_seconds >= span
        cold_in_buckets = func.sum(case((even, 1), else_=u.requests)).label("cold")
        buckets = bucket_groups(ctx, extra=[cold_in_buckets])
        warn_uncounted(ctx, buckets, "the mean prompt size and the gaps between requests")
        yield from self._judge(ctx, cfg, pricer, buckets.groups, Decimal(1), BUCKETS)

    def _judge(
        self,
        ctx: RuleContext,
        cfg: PromptCachingConfig,
        pricer: Pricer,
        groups: list[Group],
        scale: Decimal,
        data: str,
    ) -> Iterable[Candidate]:
        """Candidates from ``groups`` (of a log sampled at ``scale``, or of buckets: 1)."""
        by_subject: dict[tuple[str | None, str | None, str], list[Group]] = {}
        for g in groups:
            by_subject.setdefault((g.keys[0], g.provider, g.model), []).append(g)
        for (app, provider, model), mine in sorted(
            by_subject.items(), key=lambda kv: tuple(str(x) for x in kv[0])
        ):
            n = sum(g.n for g in mine)
            inp = sum((g.input for g in mine), Decimal(0))
            reads = sum((g.cache_read for g in mine), Decimal(0))
            if not n or not inp:
                continue
            avg_input = inp / n
            read_share = reads / inp
            if avg_input < cfg.min_avg_input_tokens or read_share >= cfg.max_cache_read_share:
                continue
            price = pricer.lookup(provider, model)
            if price is None:
                # an unknown model: the analysis warns (Pricer) instead of pricing it at $0
                continue
            if not price.caches:
                continue  # no cache-read price: the provider does not cache this model
            now = after = Decimal(0)
            moved = written = Decimal(0)
            cold_starts = 0
            for g in mine:
                k = int(g.extra["cold"] or 0)
                cold_starts += k
                prefix = cfg.cacheable_share * g.input
                warm_reads = prefix * (g.n - k) / g.n
                writes = prefix * k / g.n
                cost = cost_of(pricer, g)
                assert cost is not None
                now += cost
                if warm_reads <= g.cache_read:
                    after += cost
                    continue
                mean = g.mean()
                tokens = Tokens(mean.input, mean.output, warm_reads / g.n, writes / g.n)
                changed = cost_of(pricer, g, tokens)
                assert changed is not None
                after += changed
                moved += warm_reads - g.cache_read
                written += writes
            saved = now - after
            monthly = (ctx.monthly(saved) / scale).quantize(CENT)
            if monthly < cfg.min_monthly_savings:
                continue
            yield Candidate(
                subject=subject(app, model),
                title=f"{app}: {model} re-reads long prompts at full price",
                recommendation=(
                    f"Mark the stable prefix of {app}'s prompts to {model} (system prompt, tool "
                    f"definitions, shared documents) as cacheable: only {read_share:.0%} of its "
                    f"{avg_input:,.0f}-token prompts come from the provider's prompt cache."
                ),
                monthly_savings=monthly,
                currency=price.currency,
                # cache reads prove a stable prefix exists; without any, its share is a guess
                confidence="medium" if reads else "low",
                resource_id=overlap_key(app),
                evidence={
                    "app": app,
                    "model": model,
                    "requests": n,
                    "input_tokens": int(inp),
                    "cache_read_tokens": int(reads),
                    "cache_read_share": dec(read_share),
                    "avg_input_tokens": dec(avg_input, "1"),
                    "cacheable_share": str(cfg.cacheable_share),
                    "cache_ttl_seconds": cfg.cache_ttl_seconds,
                    "cold_starts": cold_starts,
                    "moved_tokens": dec(moved, "1"),
                    "cache_write_tokens": dec(written, "1"),
                    "cost_in_window": str(now.quantize(CENT)),
                    "cost_with_caching": str(after.quantize(CENT)),
                    "savings_in_window": str(saved.quantize(CENT)),
                    "data": data,
                    "log_sample_rate": str(scale),
                    "window_days": str(ctx.days),
                    **price_evidence(pricer, mine),
                    "formula": (
                        "(moved_tokens × (input − cache_read) − cache_write_tokens × "
                        f"(cache_write − input)) / {MTOK:,} × 730 h / window hours "
                        "/ log_sample_rate; moved = cacheable_share × input × warm share − "
                        "cache reads, writes = cacheable_share × input × cold share"
                    ),
                },
            )
