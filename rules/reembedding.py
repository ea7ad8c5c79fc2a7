"""``reembedding``: documents embedded again although their content did not change.

An embedding is a pure function of the model and the text: a chunk whose hash was already
embedded (same app, provider, model and ``prompt_hash``) earlier in the window gets the same
vector again.  Ingestion pipelines that re-embed a whole corpus every night pay for that again and
again; keying the vector store on the content hash and embedding only new or changed chunks avoids
it (LangChain's indexing API / record manager, LlamaIndex's ingestion cache do exactly this).

Repeats are found in SQL with ``LAG(ts)`` over ``(app, provider, model, prompt_hash) ORDER BY ts``:
every call with an earlier call of the same hash in the window is a repeat.  Savings = the
repeated calls' tokens × the model's embedding price (per request from the price table), scaled to
a month.  Confidence is high: the repeats and their tokens are measured, and skipping them does
not change any vector.  (The vector store's write and indexing cost of the repeats is saved too
but is not counted.)
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import and_, func, select

from agent.store.llm_prices import (
    GENAI_PRICES_SOURCE,
    Group,
    calls_with_previous,
    cost_of,
    currency_of,
    grouped,
)
from agent.store.schema import LlmRequest
from rules.base import CENT, Candidate, Rule, RuleContext, RuleMeta
from rules.llm_prices import LlmRuleConfig, dec, overlap_key, price_evidence, pricer_for, subject


class ReembeddingConfig(LlmRuleConfig):
    pass


class Reembedding(Rule[ReembeddingConfig]):
    meta = RuleMeta(
        rule_id="reembedding",
        title="Stop re-embedding unchanged documents",
        family="llm tokens",
        description=(
            "Embedding calls for a document hash already embedded in the window: the same vector, "
            "paid again."
        ),
        sources=(
            "https://python.langchain.com/docs/how_to/indexing/",
            "https://docs.llamaindex.ai/en/stable/module_guides/loading/ingestion_pipeline/",
            "https://docs.aws.amazon.com/bedrock/latest/userguide/titan-embedding-models.html",
            GENAI_PRICES_SOURCE,
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        r = LlmRequest
        calls = calls_with_previous(
            ctx, (r.app, r.provider, r.model, r.prompt_hash), r.operation == "embeddings"
        )
        repeats = grouped(
            ctx,
            [calls.c.app],
            source=calls,
            conditions=[and_(calls.c.prompt_hash.is_not(None), calls.c.previous_ts.is_not(None))],
        )
        totals = {
            (app, provider, model): (int(n), int(hashes))
            for app, provider, model, n, hashes in ctx.conn.execute(
                select(
                    calls.c.app,
                    calls.c.provider,
                    calls.c.model,
                    func.count(),
                    func.count(func.distinct(calls.c.prompt_hash)),
                ).group_by(calls.c.app, calls.c.provider, calls.c.model)
            )
        }
        pricer = pricer_for(ctx, cfg, self.rule_id)
        by_subject: dict[tuple[str | None, str | None, str], list[Group]] = {}
        for g in repeats:
            by_subject.setdefault((g.keys[0], g.provider, g.model), []).append(g)
        for (app, provider, model), mine in sorted(
            by_subject.items(), key=lambda kv: tuple(str(x) for x in kv[0])
        ):
            costs = [cost_of(pricer, g) for g in mine]
            currency = currency_of(pricer, mine[0])
            if currency is None or any(c is None for c in costs):
                continue  # unpriced model: named in an analysis warning, never priced at $0
            saved = sum((c for c in costs if c is not None), Decimal(0))
            monthly = (ctx.monthly(saved) / cfg.log_sample_rate).quantize(CENT)
            if monthly < cfg.min_monthly_savings:
                continue
            repeated = sum(g.n for g in mine)
            tokens = sum((g.input for g in mine), Decimal(0))
            calls_total, hashes = totals.get((app, provider, model), (repeated, 0))
            yield Candidate(
                subject=subject(app, model),
                title=f"{app}: re-embeds unchanged documents with {model}",
                recommendation=(
                    f"Key {app}'s embeddings by content hash and embed only new or changed "
                    f"chunks: {repeated} of its {calls_total} {model} calls re-embedded a hash "
                    "already embedded in the window."
                ),
                monthly_savings=monthly,
                currency=currency,
                confidence="high",
                resource_id=overlap_key(app),
                evidence={
                    "app": app,
                    "model": model,
                    "embedding_calls": calls_total,
                    "distinct_hashes": hashes,
                    "repeated_calls": repeated,
                    "repeated_share": dec(Decimal(repeated) / Decimal(calls_total or 1)),
                    "repeated_tokens": int(tokens),
                    "savings_in_window": str(saved.quantize(CENT)),
                    "log_sample_rate": str(cfg.log_sample_rate),
                    "window_days": str(ctx.days),
                    **price_evidence(pricer, mine),
                    "formula": (
                        "repeated_tokens × input price / 1,000,000 × 730 h / window hours "
                        "/ log_sample_rate"
                    ),
                },
            )
