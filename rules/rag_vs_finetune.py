"""``rag-vs-finetune``: is the app's current design (RAG or a fine-tuned model) the cheaper one?

The measured part comes from ``llm_requests`` (the app's chat requests in the window: volume,
input and output tokens per request, the models that served them) and, for RAG's fixed cost, from
the billed cost of the vector store resources named in config.  What the store cannot know — the
retrained model's training cost and interval, its hosting, the share of input that is retrieved
context, the app's share of a shared vector store and each design's accuracy on the user's own
evaluation set — is configuration, per app::

    [rules.rag-vs-finetune.apps.support-bot]
    current = "rag"
    model = "anthropic.claude-3-5-sonnet-20240620-v1:0"   # default: the models in the log
    prompt_tokens = 600            # a request without the retrieved context
    vector_store_resources = ["arn:aws:aoss:…:collection/rag-docs-prod"]
    vector_store_share = 0.5       # the collection also serves another app
    retrieval_cost_per_request = 0.0004   # e.g. a reranker or a Knowledge Bases Retrieve call
    training_cost = 1800           # one fine-tuning run
    retrain_days = 30
    accuracy_rag = 0.86            # from your eval set
    accuracy_finetune = 0.81

**Prices** come from the same price table as the other LLM rules (:mod:`rules.llm_prices`,
genai-prices), per request (a long-context tier applies per request): the generation model is
``model`` if given, else each logged request's own model; the fine-tuned model is
``finetuned_model`` if given, else the same model (a tuned model billed at its base model's token
price, as Bedrock on-demand custom models and Vertex AI tuned Gemini are).  Explicit prices per
million tokens win over the table: ``input_price_per_mtok`` + ``output_price_per_mtok`` for
generation, ``finetuned_input_price_per_mtok`` + ``finetuned_output_price_per_mtok`` for the tuned
model (each pair given together), ``embedding_price_per_mtok`` for the query embedding (else
``embedding_model``'s table price, else $0.02 per million tokens: the list price of OpenAI
text-embedding-3-small and Amazon Titan Text Embeddings V2).  A model neither the table nor the
config prices is a warning of the analysis naming it, and the app gets no finding — never a $0
price.

The measured request is the current design's, and the other design's request is derived from
it.  An app running RAG (``current = "rag"``): RAG = generation of the measured request (its
retrieved context included), fine-tuned = generation of the request without the context
(``prompt_tokens``, at most the measured input) on the tuned model.  An app running a tuned
model: fine-tuned = the measured request, RAG = the measured request plus ``context_tokens`` of
retrieved context (required then: a tuned app's log has no context to measure).  RAG also pays
the query embedding and ``retrieval_cost_per_request``.  Fixed per month, RAG =
``vector_store_share`` × the vector store's usage cost (in the app's currency; another currency
is a warning, never a sum); fine-tuned = training × (730 / 24) / ``retrain_days`` (the same
730-hour month as the volume) + hosting.  Input tokens are priced at the input price (cache
reads are ``prompt-caching``'s business, and apply to both designs alike).

The arithmetic (monthly cost, break-even volume, cost per correct answer) is in
:mod:`rules.rag_cost`; ``costagent compare rag-vs-finetune`` prints the same comparison on
demand.  A finding is raised when the other design is cheaper per correct answer (both
accuracies given) or per month (otherwise) by at least ``min_monthly_savings``.  Confidence is
low: the alternative's costs are estimates the user supplied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select

from agent.store.llm_prices import (
    GENAI_PRICES_SOURCE,
    Group,
    ModelPrice,
    Price,
    Pricer,
    Tokens,
    grouped,
)
from agent.store.schema import CostLineItem, LlmRequest
from rules.base import CENT, HOURS_PER_MONTH, Candidate, Rule, RuleContext, RuleMeta, money
from rules.llm_prices import LlmRuleConfig
from rules.queries import resource_costs
from rules.rag_cost import Comparison, Design

DEFAULT_EMBEDDING_PRICE = Decimal("0.02")  # per Mtok: text-embedding-3-small, Titan Embed v2


class RagApp(BaseModel):
    """What the store cannot measure about one app's two designs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    current: Literal["rag", "finetune"] = Field("rag", description="the design the app runs now")
    model: str | None = Field(
        None,
        description="generation model (price table); default: the logged requests' models",
        examples=["anthropic.claude-3-5-sonnet-20240620-v1:0"],
    )
    provider: str | None = Field(
        None, description="provider of model / finetuned_model", examples=["aws"]
    )
    input_price_per_mtok: Decimal | None = Field(
        None,
        ge=0,
        description="generation input price per million tokens (overrides model)",
        examples=[Decimal("3.0")],
    )
    output_price_per_mtok: Decimal | None = Field(
        None,
        ge=0,
        description="generation output price per million tokens (with input)",
        examples=[Decimal("15.0")],
    )
    finetuned_model: str | None = Field(
        None,
        description="the tuned model's price-table name; default: the generation model",
        examples=["anthropic.claude-3-haiku-20240307-v1:0"],
    )
    finetuned_input_price_per_mtok: Decimal | None = Field(
        None,
        ge=0,
        description="tuned model input price (overrides finetuned_model)",
        examples=[Decimal("3.0")],
    )
    finetuned_output_price_per_mtok: Decimal | None = Field(
        None,
        ge=0,
        description="tuned model output price (with the input price)",
        examples=[Decimal("15.0")],
    )
    prompt_tokens: int = Field(
        500,
        ge=0,
        description="input tokens of a request without the retrieved context (current = rag)",
    )
    context_tokens: int | None = Field(
        None,
        ge=0,
        description=(
            "retrieved context a RAG request would add (required when current = finetune: "
            "the tuned app's log has none to measure)"
        ),
        examples=[2000],
    )
    embedding_tokens_per_request: int = Field(50, ge=0, description="query embedding")
    embedding_model: str | None = Field(
        None,
        description="query embedding model (price table)",
        examples=["amazon.titan-embed-text-v2:0"],
    )
    embedding_price_per_mtok: Decimal | None = Field(
        None,
        ge=0,
        description="default: embedding_model's price, else 0.02",
        examples=[Decimal("0.02")],
    )
    retrieval_cost_per_request: Decimal = Field(
        Decimal(0), ge=0, description="per RAG request: retrieval API, reranker, search units"
    )
    vector_store_resources: list[str] = Field(
        default_factory=list, description="resource ids whose billed cost is the vector store"
    )
    vector_store_monthly: Decimal | None = Field(
        None,
        ge=0,
        description="instead of measuring vector_store_resources",
        examples=[Decimal(300)],
    )
    vector_store_share: Decimal = Field(
        Decimal(1), gt=0, le=1, description="the app's share of the vector store cost"
    )
    training_cost: Decimal = Field(
        ge=0, description="one fine-tuning run", examples=[Decimal(1800)]
    )
    retrain_days: int = Field(30, ge=1, description="knowledge goes stale: retrain this often")
    finetuned_hosting_monthly: Decimal = Field(
        Decimal(0), ge=0, description="dedicated hosting of the tuned model per month"
    )
    accuracy_rag: Decimal | None = Field(
        None, gt=0, le=1, description="on your eval set", examples=[Decimal("0.86")]
    )
    accuracy_finetune: Decimal | None = Field(
        None, gt=0, le=1, description="on your eval set", examples=[Decimal("0.81")]
    )
    currency: str = Field(
        "USD", pattern=r"^[A-Z]{3}$", description="currency of the configured amounts"
    )

    @model_validator(mode="after")
    def _price_pairs(self) -> Self:
        for prefix in ("", "finetuned_"):
            given = [
                getattr(self, f"{prefix}{part}_price_per_mtok") is not None
                for part in ("input", "output")
            ]
            if any(given) and not all(given):
                raise ValueError(
                    f"{prefix}input_price_per_mtok and {prefix}output_price_per_mtok go together"
                )
        if self.current == "finetune" and self.context_tokens is None:
            raise ValueError(
                "context_tokens is required when current = finetune: the retrieved context a "
                "RAG request would add (a tuned app's requests carry none to measure)"
            )
        return self


class RagVsFinetuneConfig(LlmRuleConfig):
    """The apps to review, plus what every request-log rule shares (private ``prices``,
    ``batch_discount``, ``log_sample_rate``, ``min_monthly_savings``)."""

    apps: dict[str, RagApp] = Field(
        default_factory=dict,
        description="apps to review, by the app name llm_requests.app holds",
        examples=[{"support-bot": {"training_cost": 1800}}],
    )


@dataclass(frozen=True)
class Measured:
    """One app's chat traffic in the window and its vector store's monthly cost."""

    requests: int
    avg_input_tokens: Decimal
    avg_output_tokens: Decimal
    requests_per_month: Decimal
    vector_store_monthly: Decimal  # the app's share
    vector_store_total_monthly: Decimal  # the whole store (measured or configured)
    groups: tuple[Group, ...]  # requests per (provider, model, batch, tier band)


class Unpriced(ValueError):
    """A model neither the price table nor the app's configuration prices."""


@dataclass(frozen=True)
class Prices:
    """Per-request costs of both designs, and where each price came from."""

    rag: Decimal
    finetune: Decimal
    sources: dict[str, list[str]]


def measure(
    ctx: RuleContext, app: str, cfg: RagApp, sample_rate: Decimal = Decimal(1)
) -> Measured | None:
    """The app's chat traffic in the window (grouped per model and tier band in SQL), and its
    vector store's monthly cost.  ``sample_rate``: the share of calls a sampled log holds — the
    monthly volume is what the sample stands for."""
    r = LlmRequest
    groups = tuple(
        grouped(
            ctx, [], conditions=[r.app == app, func.coalesce(r.operation, "chat") != "embeddings"]
        )
    )
    n = sum(g.n for g in groups)
    if not n:
        return None
    if cfg.vector_store_monthly is not None:
        store = cfg.vector_store_monthly
    elif cfg.vector_store_resources:
        costs = resource_costs(ctx, CostLineItem.resource_id.in_(cfg.vector_store_resources))
        by_currency: dict[str, Decimal] = {}
        for cur, cost in ctx.conn.execute(select(costs.c.currency, costs.c.cost)).all():
            by_currency[str(cur)] = by_currency.get(str(cur), Decimal(0)) + money(cost)
        others = sorted(set(by_currency) - {cfg.currency})
        if others:  # never a sum across currencies, and never a silent $0 either
            raise Unpriced(
                f"the vector store is billed in {', '.join(others)}, the app's amounts are in "
                f"{cfg.currency}; set vector_store_monthly in {cfg.currency}"
            )
        store = ctx.monthly(sum(by_currency.values(), Decimal(0)))
    else:
        store = Decimal(0)
    return Measured(
        requests=n,
        avg_input_tokens=sum((g.input for g in groups), Decimal(0)) / n,
        avg_output_tokens=sum((g.output for g in groups), Decimal(0)) / n,
        requests_per_month=Decimal(n) * HOURS_PER_MONTH / (ctx.days * 24) / sample_rate,
        vector_store_monthly=store * cfg.vector_store_share,
        vector_store_total_monthly=store,
        groups=groups,
    )


def _override(
    model: str, keys: str, input_price: Decimal, output_price: Decimal, currency: str
) -> Price:
    """A price the configuration gives (``keys`` name where), as the price table's are used."""
    return Price(
        model,
        f"config: {keys}",
        currency,
        override=ModelPrice(input=input_price, output=output_price, currency=currency),
    )


def price_requests(pricer: Pricer, app: str, cfg: RagApp, m: Measured) -> Prices:
    """Per-request cost of each design on the measured requests; :class:`Unpriced` names the
    model to price when one is unknown."""

    def lookup(provider: str | None, model: str, fix: str) -> Price:
        found = pricer.lookup(provider, model)
        if found is None:
            raise Unpriced(
                f"no price for model {model!r} (provider {provider!r}) in the price table; "
                f"{fix} in [rules.rag-vs-finetune.apps.{app}]"
            )
        return found

    apps = f"apps.{app}"

    def configured(prefix: str, model: str | None, default_name: str) -> Price | None:
        """The ``{prefix}input/output_price_per_mtok`` pair (validated together), else the
        table's price of ``model``, else None (the logged requests' own models)."""
        inp = getattr(cfg, f"{prefix}input_price_per_mtok")
        out = getattr(cfg, f"{prefix}output_price_per_mtok")
        if inp is not None and out is not None:
            keys = f"{apps}.{prefix}input/output_price_per_mtok"
            return _override(model or default_name, keys, inp, out, cfg.currency)
        if model is not None:
            fix = f"set {prefix}input_price_per_mtok and {prefix}output_price_per_mtok"
            return lookup(cfg.provider, model, fix)
        return None

    generation = configured("", cfg.model, "generation model")
    tuned = configured("finetuned_", cfg.finetuned_model, "fine-tuned model")
    if cfg.embedding_price_per_mtok is not None:
        embedding = _override(
            cfg.embedding_model or "query embedding",
            f"{apps}.embedding_price_per_mtok",
            cfg.embedding_price_per_mtok,
            Decimal(0),
            cfg.currency,
        )
    elif cfg.embedding_model is not None:
        embedding = lookup(cfg.provider, cfg.embedding_model, "set embedding_price_per_mtok")
    else:
        embedding = _override(
            "query embedding",
            "default (0.02 per million tokens)",
            DEFAULT_EMBEDDING_PRICE,
            Decimal(0),
            "USD",
        )
    used: dict[str, set[str]] = {"generation": set(), "finetuned": set()}
    rag = finetune = Decimal(0)
    currencies: set[str] = set()
    for g in m.groups:
        fix = "set model, or input_price_per_mtok and output_price_per_mtok,"
        gen = generation or lookup(g.provider, g.model, fix)
        ft = tuned or gen
        mean = g.mean()
        # The measured request is the current design's; the other one is derived from it: a
        # RAG app's request without its context, or a tuned app's request plus the context.
        if cfg.current == "rag":
            context = Tokens(mean.input, mean.output)
            bare = Tokens(min(Decimal(cfg.prompt_tokens), mean.input), mean.output)
        else:
            context = Tokens(mean.input + Decimal(cfg.context_tokens or 0), mean.output)
            bare = Tokens(mean.input, mean.output)
        rag += gen.request(context, pricer.at, g.batch, pricer.batch_discount) * g.n
        finetune += ft.request(bare, pricer.at, g.batch, pricer.batch_discount) * g.n
        used["generation"].add(f"{gen.model}: {gen.source}")
        used["finetuned"].add(f"{ft.model}: {ft.source}")
        currencies.update((gen.currency, ft.currency))
    per_query = embedding.request(
        Tokens(Decimal(cfg.embedding_tokens_per_request)), pricer.at, False, Decimal(0)
    )
    currencies.add(embedding.currency)
    if currencies - {cfg.currency}:
        raise Unpriced(
            f"prices in {', '.join(sorted(currencies))} cannot be added to the app's "
            f"{cfg.currency} amounts; give the prices in {cfg.currency} in "
            f"[rules.rag-vs-finetune.apps.{app}]"
        )
    n = Decimal(m.requests)
    return Prices(
        rag=rag / n + per_query + cfg.retrieval_cost_per_request,
        finetune=finetune / n,
        sources={
            "generation": sorted(used["generation"]),
            "finetuned": sorted(used["finetuned"]),
            "embedding": [f"{embedding.model}: {embedding.source}"],
        },
    )


def compare(cfg: RagApp, m: Measured, prices: Prices) -> Comparison:
    """Both designs priced from the measured traffic and the app's configuration."""
    # a month of 730 h, as the volume and the vector store are counted
    retrains_per_month = HOURS_PER_MONTH / 24 / Decimal(cfg.retrain_days)
    return Comparison(
        rag=Design("rag", prices.rag, m.vector_store_monthly, cfg.accuracy_rag),
        finetune=Design(
            "finetune",
            prices.finetune,
            cfg.training_cost * retrains_per_month + cfg.finetuned_hosting_monthly,
            cfg.accuracy_finetune,
        ),
        volume=m.requests_per_month,
    )


def review(
    ctx: RuleContext, app: str, cfg: RagApp, rule: RagVsFinetuneConfig | None = None
) -> tuple[Measured, Prices, Comparison] | None:
    """Measure, price and compare one app (None: no chat requests in the window); raises
    :class:`Unpriced`.  The rule and ``costagent compare rag-vs-finetune`` share it; ``rule``
    brings the private prices and the log's sample rate (default: none, every call logged)."""
    rule = rule or RagVsFinetuneConfig()
    measured = measure(ctx, app, cfg, rule.log_sample_rate)
    if measured is None:
        return None
    pricer = Pricer(dict(rule.prices), ctx.end.replace(tzinfo=UTC), rule.batch_discount)
    prices = price_requests(pricer, app, cfg, measured)
    return measured, prices, compare(cfg, measured, prices)


def evidence(cfg: RagApp, m: Measured, prices: Prices, c: Comparison) -> dict[str, object]:
    """The comparison and every input behind it."""
    return {
        **c.as_evidence(),
        "measured_requests": m.requests,
        "avg_input_tokens": str(m.avg_input_tokens.quantize(Decimal(1))),
        "avg_output_tokens": str(m.avg_output_tokens.quantize(Decimal(1))),
        "prompt_tokens_without_context": cfg.prompt_tokens,
        "embedding_tokens_per_request": cfg.embedding_tokens_per_request,
        "retrieval_cost_per_request": str(cfg.retrieval_cost_per_request),
        "vector_store_monthly_total": str(m.vector_store_total_monthly.quantize(CENT)),
        "vector_store_share": str(cfg.vector_store_share),
        "training_cost": str(cfg.training_cost),
        "retrain_days": cfg.retrain_days,
        "finetuned_hosting_monthly": str(cfg.finetuned_hosting_monthly),
        "price_sources": prices.sources,
    }


class RagVsFinetune(Rule[RagVsFinetuneConfig]):
    meta = RuleMeta(
        rule_id="rag-vs-finetune",
        title="RAG versus fine-tuning",
        family="architecture",
        description=(
            "For each configured app, the monthly cost and the cost per correct answer of RAG and "
            "of a fine-tuned model at the measured volume, and the break-even volume."
        ),
        sources=(
            "https://arxiv.org/abs/2504.13359",
            "https://arxiv.org/abs/2312.05934",
            GENAI_PRICES_SOURCE,
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        for app, app_cfg in sorted(cfg.apps.items()):
            try:
                reviewed = review(ctx, app, app_cfg, cfg)
            except Unpriced as exc:
                ctx.warn(f"app {app!r} not compared: {exc}")
                continue
            if reviewed is None:
                continue
            measured, prices, comparison = reviewed
            current = comparison.rag if app_cfg.current == "rag" else comparison.finetune
            other = comparison.finetune if current is comparison.rag else comparison.rag
            if comparison.cheaper() is current:
                continue
            volume = comparison.volume
            saving = (current.monthly(volume) - other.monthly(volume)).quantize(CENT)
            by_accuracy = comparison.cheaper(by_cost_of_pass=True) is not comparison.cheaper(
                by_cost_of_pass=False
            )
            if saving < cfg.min_monthly_savings and not by_accuracy:
                continue
            yield Candidate(
                subject=f"app:{app}",
                title=f"{app}: {other.name} would cost less than {current.name}",
                recommendation=(
                    f"Evaluate moving {app} from {current.name} to {other.name} on your eval set "
                    "before switching; the alternative's costs are your estimates."
                ),
                monthly_savings=max(saving, Decimal(0)),
                currency=app_cfg.currency,
                confidence="low",
                evidence={
                    **evidence(app_cfg, measured, prices, comparison),
                    "current": current.name,
                },
            )
