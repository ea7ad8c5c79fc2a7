"""``rag-vs-finetune``: is the app's current design (RAG or a fine-tuned model) the cheaper one?

The measured part comes from ``llm_requests`` (the app's chat requests in the window: volume,
average input and output tokens) and, for RAG's fixed cost, from the billed cost of the vector
store resources named in config.  What the store cannot know — the retrained model's training
cost and interval, its hosting, the token prices, the share of input that is retrieved context,
and each design's accuracy on the user's own evaluation set — is configuration, per app::

    [rules.rag-vs-finetune.apps.support-bot]
    current = "rag"
    input_price_per_mtok = 3.0
    output_price_per_mtok = 15.0
    prompt_tokens = 600            # a request without the retrieved context
    vector_store_resources = ["arn:aws:aoss:…:collection/rag-docs-prod"]
    training_cost = 1800           # one fine-tuning run
    retrain_days = 30
    accuracy_rag = 0.86            # from your eval set
    accuracy_finetune = 0.81

The arithmetic (per-request and fixed cost, break-even volume, cost per correct answer) is in
:mod:`rules.rag_cost`; ``costagent compare rag-vs-finetune`` prints the same comparison on
demand.  A finding is raised when the other design is cheaper per correct answer (both
accuracies given) or per month (otherwise) by at least ``min_monthly_savings``.  Confidence is
low: the alternative's costs are estimates the user supplied.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from agent.store.schema import LlmRequest
from rules import daily
from rules.base import CENT, HOURS_PER_MONTH, Candidate, Rule, RuleConfig, RuleContext, money
from rules.daily import daily_costs
from rules.queries import in_window
from rules.rag_cost import Comparison, Design

MTOK = Decimal(1_000_000)


class RagApp(BaseModel):
    """What the store cannot measure about one app's two designs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    current: Literal["rag", "finetune"] = "rag"
    input_price_per_mtok: Decimal = Field(ge=0, description="generation model, input tokens")
    output_price_per_mtok: Decimal = Field(ge=0, description="generation model, output tokens")
    finetuned_input_price_per_mtok: Decimal | None = Field(None, ge=0, description="default: same")
    finetuned_output_price_per_mtok: Decimal | None = Field(None, ge=0)
    prompt_tokens: int = Field(500, ge=0, description="input tokens without retrieved context")
    embedding_tokens_per_request: int = Field(50, ge=0, description="query embedding")
    embedding_price_per_mtok: Decimal = Field(Decimal("0.02"), ge=0)
    vector_store_resources: list[str] = Field(default_factory=list)
    vector_store_monthly: Decimal | None = Field(
        None, ge=0, description="instead of measuring vector_store_resources"
    )
    training_cost: Decimal = Field(ge=0, description="one fine-tuning run")
    retrain_days: int = Field(30, ge=1, description="knowledge goes stale: retrain this often")
    finetuned_hosting_monthly: Decimal = Field(Decimal(0), ge=0)
    accuracy_rag: Decimal | None = Field(None, gt=0, le=1)
    accuracy_finetune: Decimal | None = Field(None, gt=0, le=1)
    currency: str = "USD"


class RagVsFinetuneConfig(RuleConfig):
    apps: dict[str, RagApp] = Field(default_factory=dict, description="apps to review")
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0)


class Measured(BaseModel):
    requests: int
    avg_input_tokens: Decimal
    avg_output_tokens: Decimal
    requests_per_month: Decimal
    vector_store_monthly: Decimal


def measure(ctx: RuleContext, app: str, cfg: RagApp) -> Measured | None:
    """The app's chat traffic in the window, and its vector store's monthly cost."""
    r = LlmRequest
    n, avg_in, avg_out = ctx.conn.execute(
        select(func.count(), func.avg(r.input_tokens), func.avg(r.output_tokens)).where(
            r.app == app,
            func.coalesce(r.operation, "chat") != "embeddings",
            r.ts >= ctx.start,
            r.ts < ctx.end,
        )
    ).one()
    if not n:
        return None
    hours = ctx.days * 24
    if cfg.vector_store_monthly is not None:
        store = cfg.vector_store_monthly
    elif cfg.vector_store_resources:
        d = daily_costs.c
        amount = ctx.conn.execute(
            select(daily.total()).where(
                in_window(ctx, d.charge_period_start),
                d.resource_id.in_(cfg.vector_store_resources),
            )
        ).scalar()
        store = ctx.monthly(money(amount))
    else:
        store = Decimal(0)
    return Measured(
        requests=int(n),
        avg_input_tokens=Decimal(str(avg_in or 0)),
        avg_output_tokens=Decimal(str(avg_out or 0)),
        requests_per_month=Decimal(n) * HOURS_PER_MONTH / hours,
        vector_store_monthly=store,
    )


def compare(cfg: RagApp, m: Measured) -> Comparison:
    """Both designs priced from the measured traffic and the app's configuration."""
    out_tokens = m.avg_output_tokens
    rag_request = (
        m.avg_input_tokens * cfg.input_price_per_mtok
        + out_tokens * cfg.output_price_per_mtok
        + cfg.embedding_tokens_per_request * cfg.embedding_price_per_mtok
    ) / MTOK
    ft_in = cfg.finetuned_input_price_per_mtok or cfg.input_price_per_mtok
    ft_out = cfg.finetuned_output_price_per_mtok or cfg.output_price_per_mtok
    ft_request = min(Decimal(cfg.prompt_tokens), m.avg_input_tokens) * ft_in + out_tokens * ft_out
    ft_request /= MTOK
    retrains_per_month = Decimal(30) / Decimal(cfg.retrain_days)
    return Comparison(
        rag=Design("rag", rag_request, m.vector_store_monthly, cfg.accuracy_rag),
        finetune=Design(
            "finetune",
            ft_request,
            cfg.training_cost * retrains_per_month + cfg.finetuned_hosting_monthly,
            cfg.accuracy_finetune,
        ),
        volume=m.requests_per_month,
    )


class RagVsFinetune(Rule):
    rule_id = "rag-vs-finetune"
    title = "RAG versus fine-tuning"
    family = "architecture"
    description = (
        "For each configured app, the monthly cost and the cost per correct answer of RAG and "
        "of a fine-tuned model at the measured volume, and the break-even volume."
    )
    sources = (
        "https://arxiv.org/abs/2504.13359",
        "https://arxiv.org/abs/2312.05934",
    )
    config_model = RagVsFinetuneConfig

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        assert isinstance(cfg, RagVsFinetuneConfig)
        for app, app_cfg in sorted(cfg.apps.items()):
            measured = measure(ctx, app, app_cfg)
            if measured is None:
                continue
            comparison = compare(app_cfg, measured)
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
                    **comparison.as_evidence(),
                    "current": current.name,
                    "measured_requests": measured.requests,
                    "avg_input_tokens": str(measured.avg_input_tokens.quantize(Decimal(1))),
                    "avg_output_tokens": str(measured.avg_output_tokens.quantize(Decimal(1))),
                },
            )
