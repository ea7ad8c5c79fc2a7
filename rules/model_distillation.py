"""``model-distillation``: a large model answering a high-volume, short-answer task.

Distillation (Hinton et al., arXiv 1503.02531; "Distilling step-by-step", arXiv 2305.02301) trains
a small *student* model on a large *teacher*'s answers to the app's own prompts; on a narrow task
the student can match the teacher at a fraction of the per-token price.  Amazon Bedrock Model
Distillation, OpenAI model distillation and Vertex AI tuning of Gemini Flash on Pro outputs offer
it as a managed job.  It pays when the volume is high and the task narrow — short outputs
(classification, extraction, routing, short answers) are the usual sign.

Condition, per app × model: the model has a smaller tier in ``smaller`` (large → small, substring
match on the model id, longest key wins; defaults cover the Claude, Gemini, GPT, Llama and Nova
families), at least ``min_requests_per_day`` (1,000) requests a day, and at least
``min_short_share`` (50 %) of them with fewer than ``short_output_tokens`` (500) output tokens —
the median below 500 without a median (``PERCENTILE_CONT`` is not portable to SQLite): a
``SUM(CASE …)`` count.

Both tiers are priced per request from the price table on the app's own mean requests (same
tokens, same batch mode).  Savings = monthly volume × (per-request cost large − small); the
one-off ``distillation_cost`` (teacher data generation + student training + evaluation, default
$2,000) gives the break-even volume N* = distillation_cost / (cost large − cost small) and its
payback in days at the measured volume; findings paying back later than ``max_payback_days`` are
dropped.  Confidence is low: the student's quality is unknown until an evaluation on the app's own
data says so, and a distilled model may need dedicated hosting (Bedrock serves custom models
through Provisioned Throughput), which the per-token price of the small tier does not include.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal

from pydantic import Field
from sqlalchemy import case, func

from agent.store.llm_prices import GENAI_PRICES_SOURCE, Group, Pricer, cost_of, grouped, normalise
from agent.store.schema import LlmRequest, LlmUsage
from rules.base import CENT, Candidate, Rule, RuleContext, RuleMeta
from rules.llm_prices import LlmRuleConfig, dec, overlap_key, price_evidence, pricer_for, subject
from rules.usage_buckets import bucket_groups, warn_uncounted

LOG = "request log"
BUCKETS = "usage buckets (provider admin API; short outputs judged by each bucket's mean)"

DEFAULT_SMALLER: dict[str, str] = {
    # Bedrock Model Distillation teacher → student pairs, and the same-family smaller tiers
    "claude-3-5-sonnet": "anthropic.claude-3-haiku-20240307-v1:0",
    "claude-3-7-sonnet": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "claude-3-opus": "anthropic.claude-3-haiku-20240307-v1:0",
    "gemini-2.5-pro": "gemini-2.5-flash",
    "gemini-2.5-flash": "gemini-2.5-flash-lite",
    "gemini-1.5-pro": "gemini-1.5-flash",
    "gpt-4o": "gpt-4o-mini",
    "gpt-4.1": "gpt-4.1-mini",
    "llama3-1-405b": "meta.llama3-1-70b-instruct-v1:0",
    "llama3-1-70b": "meta.llama3-1-8b-instruct-v1:0",
    "nova-pro": "amazon.nova-lite-v1:0",
    "nova-premier": "amazon.nova-pro-v1:0",
}


class ModelDistillationConfig(LlmRuleConfig):
    min_requests_per_day: Decimal = Field(Decimal(1000), gt=0, description="high volume")
    short_output_tokens: int = Field(500, gt=0, description="an output shorter than this is short")
    min_short_share: Decimal = Field(
        Decimal("0.5"), gt=0, le=1, description="share of short outputs (0.5: the median)"
    )
    smaller: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_SMALLER),
        description="large model (substring of the id) → smaller tier to distil into",
    )
    distillation_cost: Decimal = Field(
        Decimal(2000), ge=0, description="one-off: teacher data + student training + evaluation"
    )
    max_payback_days: int = Field(180, gt=0, description="a later break-even is not worth it")


def smaller_tier(model: str, provider: str | None, mapping: dict[str, str]) -> str | None:
    """The configured smaller tier of ``model`` (longest matching key), None when none or when
    the model already is that tier."""
    _, ref = normalise(provider, model)
    keys = sorted((k for k in mapping if k.lower() in ref), key=len, reverse=True)
    if not keys:
        return None
    small = mapping[keys[0]]
    _, small_ref = normalise(provider, small)
    return None if small_ref == ref or small_ref in ref else small


class ModelDistillation(Rule[ModelDistillationConfig]):
    meta = RuleMeta(
        rule_id="model-distillation",
        title="Distil a large model into a smaller tier",
        family="llm tokens",
        description=(
            "A large model serving {min_requests_per_day:,}+ requests a day with short outputs on "
            "one app: a distilled smaller tier costs less per request; the finding gives the "
            "break-even volume."
        ),
        sources=(
            "https://arxiv.org/abs/1503.02531",
            "https://arxiv.org/abs/2305.02301",
            "https://docs.aws.amazon.com/bedrock/latest/userguide/model-distillation.html",
            "https://platform.openai.com/docs/guides/distillation",
            "https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-use-supervised-tuning",
            GENAI_PRICES_SOURCE,
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        r = LlmRequest
        short = func.sum(case((r.output_tokens < cfg.short_output_tokens, 1), else_=0))
        groups = grouped(
            ctx, [r.app], extra=[short.label("short")], conditions=[r.operation != "embeddings"]
        )
        pricer = pricer_for(ctx, cfg, self.rule_id)
        yield from self._judge(ctx, cfg, pricer, groups, cfg.log_sample_rate, LOG)
        u = LlmUsage
        # a bucket's requests count as short when their mean output is (no single sizes there)
        short_mean = u.output_tokens < u.requests * cfg.short_output_tokens
        buckets = bucket_groups(
            ctx, extra=[func.sum(case((short_mean, u.requests), else_=0)).label("short")]
        )
        warn_uncounted(ctx, buckets, "request counts for the volume and the output sizes")
        yield from self._judge(ctx, cfg, pricer, buckets.groups, Decimal(1), BUCKETS)

    def _judge(
        self,
        ctx: RuleContext,
        cfg: ModelDistillationConfig,
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
            small_model = smaller_tier(model, provider, cfg.smaller)
            if small_model is None:
                continue
            n = sum(g.n for g in mine)
            per_day = Decimal(n) / ctx.days / scale
            short_share = Decimal(sum(int(g.extra["short"] or 0) for g in mine)) / Decimal(n)
            if per_day < cfg.min_requests_per_day or short_share < cfg.min_short_share:
                continue
            large = pricer.lookup(provider, model)
            small = pricer.lookup(provider, small_model)
            if large is None or small is None or large.currency != small.currency:
                continue  # unpriced (an analysis warning names it): no figure, not a wrong one
            cost_large = Decimal(0)
            cost_small = Decimal(0)
            for g in mine:
                c = cost_of(pricer, g)
                assert c is not None
                cost_large += c
                cost_small += small.request(g.mean(), pricer.at, g.batch, cfg.batch_discount) * g.n
            delta = (cost_large - cost_small) / n
            if delta <= 0:
                continue
            break_even = (cfg.distillation_cost / delta).to_integral_value(ROUND_CEILING)
            payback_days = break_even / per_day
            if payback_days > cfg.max_payback_days:
                continue
            monthly = (ctx.monthly(cost_large - cost_small) / scale).quantize(CENT)
            if monthly < cfg.min_monthly_savings:
                continue
            yield Candidate(
                subject=subject(app, model),
                title=f"{app}: distil {model} into {small_model}",
                recommendation=(
                    f"Evaluate {small_model} distilled from {model} on {app}'s own prompts, and "
                    f"switch only if it passes an evaluation gate on your quality metric: it "
                    f"breaks even after {break_even:,} requests (about {payback_days:.0f} days "
                    "at the current volume)."
                ),
                monthly_savings=monthly,
                currency=large.currency,
                confidence="low",
                resource_id=overlap_key(app),
                evidence={
                    "app": app,
                    "model": model,
                    "smaller_model": small_model,
                    "requests": n,
                    "requests_per_day": dec(per_day, "0.1"),
                    "short_output_tokens": cfg.short_output_tokens,
                    "short_output_share": dec(short_share),
                    "cost_large_in_window": str(cost_large.quantize(CENT)),
                    "cost_small_in_window": str(cost_small.quantize(CENT)),
                    "cost_per_request_large": dec(cost_large / n, "0.000001"),
                    "cost_per_request_small": dec(cost_small / n, "0.000001"),
                    "distillation_cost": str(cfg.distillation_cost),
                    "break_even_requests": int(break_even),
                    "payback_days": dec(payback_days, "0.1"),
                    "data": data,
                    "log_sample_rate": str(scale),
                    "window_days": str(ctx.days),
                    **price_evidence(pricer, mine),
                    "smaller_model_price": small.evidence(pricer.at),
                    "needs": "an evaluation gate on the app's own data before switching",
                    "formula": (
                        "(cost_large − cost_small) × 730 h / window hours / log_sample_rate; "
                        "N* = distillation_cost / (cost_per_request_large − "
                        "cost_per_request_small)"
                    ),
                },
            )
