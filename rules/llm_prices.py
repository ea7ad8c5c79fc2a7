"""What the LLM rules add to the store's prices (:mod:`agent.store.llm_prices`): the settings
they share, a pricer that warns the analysis, and the subjects and evidence of their findings.

Not a rule: a helper module of the LLM rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from decimal import Decimal
from typing import Any

from pydantic import Field

from agent.store.coverage import llm_app_key
from agent.store.llm_prices import Group, ModelPrice, Pricer, cost_of, currency_of
from rules.base import RuleConfig, RuleContext


class LlmRuleConfig(RuleConfig):
    """What every request-log rule shares: price overrides, batch pricing, sampling, floor."""

    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="private prices by model id as logged (or its normalised name), per "
        "million tokens; added to [llm_requests.prices], winning per model",
        examples=[{"anthropic.claude-3-5-sonnet-20240620-v1:0": {"input": "2.70"}}],
    )
    batch_discount: Decimal = Field(
        Decimal("0.5"),
        ge=0,
        lt=1,
        description="batch discount where the price table has no batch price (Bedrock: 50 %)",
    )
    log_sample_rate: Decimal = Field(
        Decimal(1),
        gt=0,
        le=1,
        description="share of the calls the request log holds (1: every call is logged)",
    )
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")


def subject(app: str | None, model: str | None = None) -> str:
    name = f"app:{app or '(no app)'}"
    return f"{name}/{model}" if model else name


def overlap_key(app: str | None) -> str:
    """The savings of the LLM rules all come out of one app's token bill: a report's total
    counts the largest of an app's findings once (caching and batching overlap)."""
    return llm_app_key(app)


def dec(value: Decimal, places: str = "0.0001") -> str:
    return str(value.quantize(Decimal(places)))


def price_evidence(pricer: Pricer, groups: Iterable[Group]) -> dict[str, Any]:
    """The prices behind a figure (per model) and a warning naming the unpriced models."""
    pairs = sorted({(g.provider or "", g.model) for g in groups})
    prices = [p for prov, m in pairs if (p := pricer.lookup(prov or None, m)) is not None]
    return {
        "prices": [p.evidence(pricer.at) for p in prices],
        **pricer.warning(m for _, m in pairs),
    }


def totals(pricer: Pricer, groups: Iterable[Group]) -> dict[str, Decimal]:
    """Cost of ``groups`` per currency (unpriced models left out: see :meth:`Pricer.warning`)."""
    out: dict[str, Decimal] = {}
    for g in groups:
        cost = cost_of(pricer, g)
        currency = currency_of(pricer, g)
        if cost is not None and currency is not None:
            out[currency] = out.get(currency, Decimal(0)) + cost
    return out


def per_currency(name: str, amounts: dict[str, Decimal]) -> list[tuple[str, str, Decimal]]:
    """(subject, currency, amount): one finding per currency, never a mixed sum; the subject
    names the currency only when an app's models are priced in several."""
    if len(amounts) == 1:
        ((currency, amount),) = amounts.items()
        return [(name, currency, amount)]
    return [(f"{name} [{cur}]", cur, amount) for cur, amount in sorted(amounts.items())]


def pricer_for(ctx: RuleContext, cfg: LlmRuleConfig, rule_id: str) -> Pricer:
    """A pricer at the window's end with the rule's private prices; an unpriced model becomes a
    warning of the analysis naming ``[rules.<rule_id>.prices]``."""
    return Pricer(
        dict(cfg.prices),
        ctx.end.replace(tzinfo=UTC),
        cfg.batch_discount,
        ctx=ctx,
        rule_id=rule_id,
    )
