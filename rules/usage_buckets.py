"""LLM usage buckets (``llm_usage``: the providers' admin APIs) as the LLM rules read them.

A team that pays OpenAI or Anthropic directly may have no request log at all, only the usage
the provider's admin API reports per hour or day, project / workspace, model and batch flag.
The token-price rules that need no single request (prompt caching, batch, distillation) read
those buckets too, as :class:`rules.llm_prices.Group` s of the same shape as a log's:

* the **app** is the project (OpenAI) or workspace (Anthropic), ``(default project)`` when the
  provider reports none;
* a provider that also has a request log in the window is read from the log only — the two
  describe the same traffic, and the log knows more;
* buckets are complete counts, never a sample: their figures are not scaled by
  ``log_sample_rate``;
* a group without a request count (Anthropic's usage report has none) cannot be judged by a
  rule that needs request sizes: it is returned apart, so the rule can say so in ``analyze``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import false, func, literal, select

from agent.store.coverage import DEFAULT_PROJECT
from agent.store.llm_prices import Group, normalise, requests_in_window
from agent.store.schema import LlmRequest, LlmUsage
from rules.base import RuleContext
from rules.queries import in_window

DEFAULT_APP = DEFAULT_PROJECT


@dataclass(frozen=True)
class Buckets:
    """The window's usage buckets, grouped: ``groups`` with request counts, and the
    ``(app, provider, model)`` of those without."""

    groups: list[Group]
    uncounted: list[tuple[str, str, str]]


def logged_providers(ctx: RuleContext) -> frozenset[str | None]:
    """Providers (normalised) with a request log in the window; computed once per analysis."""
    key = ("usage_buckets.logged_providers", ctx.start, ctx.end)
    if key not in ctx.cache:
        found = ctx.conn.execute(
            select(LlmRequest.provider)
            .where(requests_in_window(ctx), LlmRequest.operation != "embeddings")
            .distinct()
        ).scalars()
        ctx.cache[key] = frozenset(normalise(p, "")[0] for p in found)
    value: frozenset[str | None] = ctx.cache[key]
    return value


def bucket_groups(
    ctx: RuleContext, extra: Sequence[Any] = (), conditions: Iterable[Any] = ()
) -> Buckets:
    """Generation buckets of the window by app × provider × model × batch, with token sums and
    ``extra`` aggregates (over ``llm_usage`` columns)."""
    u = LlmUsage
    app = func.coalesce(u.project_id, literal(DEFAULT_APP))
    batch = func.coalesce(u.batch, false())
    query = (
        select(
            app.label("app"),
            u.provider,
            u.model,
            batch.label("batch"),
            func.count().label("rows"),
            func.count(u.requests).label("counted"),
            func.coalesce(func.sum(u.requests), 0),
            func.coalesce(func.sum(u.input_tokens), 0),
            func.coalesce(func.sum(u.output_tokens), 0),
            func.coalesce(func.sum(u.cache_read_tokens), 0),
            *extra,
        )
        .where(in_window(ctx, u.bucket_start), u.model.is_not(None))
        .where(u.operation != "embeddings", *conditions)
        .group_by(app, u.provider, u.model, batch)
        .order_by(app, u.provider, u.model, batch)
    )
    logged = logged_providers(ctx)
    if None in logged:
        ctx.warn(
            "request log rows without a provider: usage buckets are read as well, so traffic "
            "that is in both is counted twice; set the log's provider"
        )
    groups: list[Group] = []
    uncounted: set[tuple[str, str, str]] = set()
    for row in ctx.conn.execute(query):
        name, provider, model, is_batch, rows, counted, n, inp, outp, cread = tuple(row)[:10]
        if normalise(provider, "")[0] in logged:
            ctx.warn(
                f"usage buckets of {provider} are left out: its request log in the window is "
                "read instead (the two describe the same traffic)"
            )
            continue
        if counted < rows or not n:
            uncounted.add((str(name), str(provider), str(model)))
            continue
        groups.append(
            Group(
                keys=(name,),
                provider=provider,
                model=model,
                batch=bool(is_batch),
                n=int(n),
                input=Decimal(int(inp)),
                output=Decimal(int(outp)),
                cache_read=Decimal(int(cread)),
                extra={e.name: v for e, v in zip(extra, tuple(row)[10:], strict=True)},
            )
        )
    return Buckets(groups, sorted(uncounted))


def warn_uncounted(ctx: RuleContext, buckets: Buckets, needs: str) -> None:
    """Tell ``analyze`` which apps the rule could not judge from buckets, and why."""
    for app, provider, model in buckets.uncounted:
        ctx.warn(
            f"{app} ({provider} {model}): not judged — the provider's usage report counts no "
            f"requests, and this rule needs {needs}; a request log (gateway, OpenTelemetry) "
            "of that traffic would let it"
        )
