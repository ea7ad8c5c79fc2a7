"""AI unit costs: two figures whose numerator and denominator describe the same thing.

**Endpoints** (SageMaker, Vertex AI, Bedrock provisioned throughput, GPU VMs — anything with an
``invocations`` metric): the endpoint's effective cost in the week (billing rows with its
``resource_id``) ÷ the invocations measured for it in the same week.  Hosting is paid by the
hour whatever the traffic, so this is the figure that tells a busy endpoint from an idle one.

**LLM API traffic** (``llm_requests``, a gateway log): the week's *token-billed* LLM usage —
inference rows of the normalised store whose usage type or pricing unit counts tokens (Bedrock
``…-input-tokens``, Vertex ``Gemini … Tokens``, …) — ÷ the requests and tokens logged in the
same week, per provider and currency.  A provider's token bill is matched with the logged calls
to that provider only (Bedrock calls with the AWS bill, Vertex calls with the Google Cloud
bill), so a Vertex bill never divides Bedrock traffic, currencies are never mixed, and token
cost of a provider the log does not cover is left out (and said so).  Hosting of self-managed
models is not in the numerator: it is an endpoint cost above.  The log may be a sample:
volumes are scaled by 1 / ``[llm_requests] sample_rate``.  Embedding and generation are kept
apart: a provider's embedding token bill (usage type naming ``embed``) goes to its logged
embedding calls, the rest to its chat calls, so an embedding-heavy app is not charged for a
chat app's tokens or the other way round.  Within that, the bill is split per app by the app's
share of the *list-price* cost of its logged calls (genai-prices, as the LLM rules price them),
or by token share when a model has no list price.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, case, func, literal, or_, select

from agent.config import Settings
from agent.report.grain import Grain
from agent.report.model import EndpointUnitCost, LlmUnitCost
from agent.report.period import Week
from agent.store.coverage import DEFAULT_PROJECT, NO_APP
from agent.store.llm_prices import Group, ModelPrice, Pricer, cost_of, grouped, normalise
from agent.store.schema import LlmRequest, LlmUsage, UsageMetric
from agent.store.window import Window

ENDPOINT_BASIS = (
    "each endpoint's effective (amortized) cost in the week, from the billing rows with its "
    "resource id, ÷ the invocations measured for it in the same week (usage metric "
    "'invocations', Sum)"
)
TOKEN_PATTERN = "%token%"
EMBED_PATTERN = "%embed%"


# -- endpoints ---------------------------------------------------------------------------------
def endpoint_unit_costs(
    conn: Connection, grain: Grain, week: Week, main: str, limit: int
) -> list[EndpointUnitCost]:
    """Per resource with invocations and billed cost in the week: cost per 1k invocations,
    the ``limit`` most expensive per currency, the main currency first."""
    invocations = _invocations(conn, week)
    if not invocations:
        return []
    in_week = grain.between(week.start, week.end)
    rid = grain.c("resource_id")
    rows: list[tuple[Any, ...]] = []
    ids = sorted(invocations)
    for i in range(0, len(ids), 500):  # IN lists stay well below every database's limit
        rows += conn.execute(
            select(
                rid,
                grain.c("billing_currency"),
                func.max(grain.c("resource_name")),
                grain.money(),
            )
            .where(in_week, rid.in_(ids[i : i + 500]))
            .group_by(rid, grain.c("billing_currency"))
        ).all()
    out = []
    for resource_id, currency, name, cost in rows:
        count = invocations[str(resource_id)]
        if cost is None or cost <= 0:
            continue
        out.append(
            EndpointUnitCost(
                resource_id=str(resource_id),
                resource_name=name,
                currency=str(currency or "?"),
                cost=cost,
                invocations=int(count.to_integral_value(ROUND_HALF_UP)),
                per_1k_invocations=cost * 1000 / count if count > 0 else None,
            )
        )
    out.sort(key=lambda u: (u.currency != main, u.currency, -u.cost, u.resource_id))
    kept: dict[str, int] = {}
    top = []
    for u in out:  # the ``limit`` most expensive in each currency (no yen-vs-dollar ranking)
        kept[u.currency] = kept.get(u.currency, 0) + 1
        if kept[u.currency] <= limit:
            top.append(u)
    return top


def _invocations(conn: Connection, week: Week) -> dict[str, Decimal]:
    """Σ invocations per resource in the week, from one series per resource.

    A resource may be stored at two resolutions (a 60 s and a 3600 s series of the same
    counts); adding both would double the traffic.  Per resource the series covering the most
    seconds wins (the finer one on a tie)."""
    m = UsageMetric
    rows = conn.execute(
        select(m.resource_id, m.period_s, func.count(), func.sum(m.value))
        .where(
            m.metric == "invocations",
            func.lower(m.stat) == "sum",
            m.ts >= week.start,
            m.ts < week.end,
        )
        .group_by(m.resource_id, m.period_s)
    ).all()
    best: dict[str, tuple[int, int, Decimal]] = {}
    for rid, period, n, value in rows:
        covered = int(n) * int(period)
        candidate = (covered, -int(period), Decimal(repr(float(value or 0))))
        if rid not in best or candidate[:2] > best[rid][:2]:
            best[rid] = candidate
    return {rid: v[2] for rid, v in best.items()}


# -- LLM API traffic ---------------------------------------------------------------------------
#: FOCUS ProviderName values → the provider ids :func:`agent.store.llm_prices.normalise` gives the
#: logged calls (``bedrock`` → ``aws``, ``vertex_ai`` → ``google``)
_BILLING_PROVIDERS = (
    ("aws", "aws"),
    ("amazon", "aws"),
    ("google", "google"),
    ("gcp", "google"),
    ("microsoft", "azure"),
    ("azure", "azure"),
)


def billing_provider(name: str | None) -> str | None:
    text = (name or "").strip().lower()
    for prefix, provider in _BILLING_PROVIDERS:
        if text.startswith(prefix):
            return provider
    return text or None


@dataclass
class _Acc:
    """Volumes already scaled to what they stand for (a sampled log's by 1 / rate, buckets'
    as counted).  Parts without a request count (Anthropic's buckets) add tokens and cost but
    stay out of the per-request figure: ``counted_cost`` is the cost of the counted parts."""

    logged: int = 0
    requests: Decimal | None = None
    tokens: Decimal = Decimal(0)
    cost: Decimal | None = None
    counted_cost: Decimal | None = None

    def add(
        self,
        logged: int,
        requests: Decimal | None,
        tokens: Decimal,
        cost: Decimal | None,
    ) -> None:
        self.logged += logged
        self.tokens += tokens
        if cost is not None:
            self.cost = (self.cost or Decimal(0)) + cost
        if requests is not None:
            self.requests = (self.requests or Decimal(0)) + requests
            if cost is not None:
                self.counted_cost = (self.counted_cost or Decimal(0)) + cost


@dataclass(frozen=True)
class LlmResult:
    rows: list[LlmUnitCost]
    basis: str


def llm_unit_costs(
    conn: Connection, grain: Grain, week: Week, settings: Settings, main: str
) -> LlmResult:
    """All-apps rows (one per currency, main first), then one row per app and currency."""
    rate = settings.llm_requests.sample_rate
    groups = grouped(Window(conn, week.start, week.end), [LlmRequest.app, LlmRequest.operation])
    logged = frozenset(normalise(g.provider, g.model)[0] for g in groups)
    buckets = _bucket_apps(conn, grain, week, logged)
    if not groups and not buckets:
        return LlmResult([], _basis(rate, {}, []))
    bills = _token_bills(conn, grain, week)  # (provider, kind) → currency → cost
    pricer = Pricer(overrides=_price_overrides(settings), at=week.end.replace(tzinfo=UTC))
    by_provider: dict[Billed, list[Group]] = defaultdict(list)
    for g in groups:
        kind = "embeddings" if g.keys[1] == "embeddings" else "generation"
        by_provider[(normalise(g.provider, g.model)[0], kind)].append(g)

    overall: dict[str, _Acc] = defaultdict(_Acc)
    apps: dict[tuple[str, str | None], _Acc] = defaultdict(_Acc)
    remarks: list[str] = []
    splits: dict[str, list[str]] = {}
    for (provider, kind), members in sorted(by_provider.items(), key=_billed_order):
        bill = bills.get((provider, kind), {}) if provider is not None else {}
        currency = next(iter(bill)) if len(bill) == 1 else None
        if len(bill) > 1:
            remarks.append(
                f"{kind} calls to {provider} are not costed: their token bill is in "
                f"{', '.join(sorted(bill))} and the log cannot tell which call paid in which"
            )
        weights, how = _weights(pricer, members) if currency else ([Decimal(1)] * len(members), "")
        whole = sum(weights, Decimal(0))
        if currency is not None:
            splits.setdefault(how, []).append(f"{provider} {kind}")
        for g, weight in zip(members, weights, strict=True):
            tokens = (g.input + g.output) / rate
            # multiply before dividing: 26 × 0.00225 / 0.0026 is exactly 22.5
            cost = bill[currency] * weight / whole if currency is not None else None
            apps[(_app(g.keys[0]), currency)].add(g.n, Decimal(g.n) / rate, tokens, cost)
            if currency is not None:
                overall[currency].add(g.n, Decimal(g.n) / rate, tokens, cost)
        if currency is None and not bill:
            remarks.append(
                f"{kind} calls to {provider or 'an unnamed provider'} have no token-billed rows "
                "in the week (billed outside this store?): volumes only"
            )
    covered = {b.provider for b in buckets}
    for b in buckets:
        apps[(b.app, b.currency)].add(0, b.requests, b.tokens, b.cost)
        if b.currency is not None:
            overall[b.currency].add(0, b.requests, b.tokens, b.cost)
    if buckets:
        remarks.append(
            "apps of " + ", ".join(sorted(covered)) + " are their projects / workspaces in the "
            "providers' usage reports (complete counts, not scaled), each costed by the "
            "provider's cost rows of that project"
        )
    uncounted = sorted({b.provider for b in buckets if b.requests is None})
    if uncounted:
        remarks.append(
            f"the usage report of {', '.join(uncounted)} counts no requests: its apps have no "
            "cost per request, and the all-apps cost per request leaves them out"
        )
    for (provider, kind), bill in sorted(bills.items(), key=_billed_order):
        if (provider, kind) not in by_provider and provider not in covered:
            amounts = ", ".join(f"{c} {v.quantize(Decimal('0.01'))}" for c, v in bill.items())
            remarks.append(
                f"token-billed {kind} usage of {provider} ({amounts}) has no logged calls: left out"
            )

    rows = [
        _row(None, c, acc)
        for c, acc in sorted(overall.items(), key=lambda kv: (kv[0] != main, kv[0]))
    ]
    per_app = [_row(app, c, acc) for (app, c), acc in apps.items()]
    per_app.sort(
        key=lambda u: (
            u.currency is None,
            u.currency != main,
            u.currency or "",
            -(u.cost or 0),
            -(u.requests or 0),
            u.app or "",
        )
    )
    return LlmResult(rows + per_app, _basis(rate, splits, remarks))


Billed = tuple[str | None, str]  # (provider, "embeddings" | "generation")


def _billed_order(item: tuple[Billed, Any]) -> tuple[str, str]:
    (provider, kind), _ = item
    return provider or "", kind


def _app(value: Any) -> str:
    return str(value) if value is not None else NO_APP


def _row(app: str | None, currency: str | None, acc: _Acc) -> LlmUnitCost:
    """Scaled volumes; per-unit figures from the exact scaled counts (n / rate)."""
    requests, tokens, cost, counted = acc.requests, acc.tokens, acc.cost, acc.counted_cost
    return LlmUnitCost(
        app=app,
        currency=currency,
        logged_requests=acc.logged,
        requests=None if requests is None else int(requests.to_integral_value(ROUND_HALF_UP)),
        tokens=int(tokens.to_integral_value(ROUND_HALF_UP)),
        cost=cost,
        per_1k_requests=counted * 1000 / requests if counted is not None and requests else None,
        per_1m_tokens=cost * 1_000_000 / tokens if cost is not None and tokens else None,
    )


@dataclass(frozen=True)
class _BucketApp:
    """One project / workspace of a provider's usage report in the week, with its cost."""

    provider: str
    app: str
    currency: str | None
    requests: Decimal | None  # None: the report counts no requests (Anthropic)
    tokens: Decimal
    cost: Decimal | None


def _bucket_apps(
    conn: Connection, grain: Grain, week: Week, logged: frozenset[str | None]
) -> list[_BucketApp]:
    """The week's usage buckets (``llm_usage``, the admin APIs) per provider and project, for
    providers the request log does not cover (it knows more; both describe the same traffic),
    each costed by the provider's inference cost rows of that project (``sub_account_id``)."""
    u = LlmUsage
    project = func.coalesce(u.project_id, literal(DEFAULT_PROJECT))
    usage = conn.execute(
        select(
            u.provider,
            project,
            func.count(),
            func.count(u.requests),
            func.coalesce(func.sum(u.requests), 0),
            func.coalesce(func.sum(u.input_tokens), 0)
            + func.coalesce(func.sum(u.output_tokens), 0),
        )
        .where(u.bucket_start >= week.start, u.bucket_start < week.end)
        .group_by(u.provider, project)
    ).all()
    found = [r for r in usage if normalise(r[0], "")[0] not in logged]
    if not found:
        return []
    # the line items (the rollup has no sub account) of these providers only: the week's AWS
    # and GCP rows are most of the table and never a bucket provider's bill
    names = sorted({str(billing_provider(r[0])) for r in found})
    items = Grain(grain.timezone, daily=False, whole_hours=grain.whole_hours)
    sub = func.coalesce(items.c("sub_account_id"), literal(DEFAULT_PROJECT))
    costs: dict[tuple[str | None, str], dict[str, Decimal]] = defaultdict(dict)
    for provider, app, currency, cost in conn.execute(
        select(items.c("provider_name"), sub, items.c("billing_currency"), items.money())
        .where(
            items.between(week.start, week.end),
            items.c("x_workload") == "inference",
            items.c("charge_category") == "Usage",
            func.lower(items.c("provider_name")).in_(names),
        )
        .group_by(items.c("provider_name"), sub, items.c("billing_currency"))
    ):
        if cost is not None:
            costs[(billing_provider(provider), str(app))][str(currency or "?")] = cost
    out = []
    for provider, app, rows, counted, n, tokens in found:
        bill = costs.get((billing_provider(provider), str(app)), {})
        currency = next(iter(bill)) if len(bill) == 1 else None  # never two currencies added
        out.append(
            _BucketApp(
                provider=str(provider),
                app=str(app),
                currency=currency,
                requests=Decimal(int(n or 0)) if counted == rows else None,
                tokens=Decimal(int(tokens)),
                cost=bill[currency] if currency is not None else None,
            )
        )
    return out


def _token_bills(conn: Connection, grain: Grain, week: Week) -> dict[Billed, dict[str, Decimal]]:
    """Effective cost of the week's token-billed LLM usage, per provider, kind (embeddings or
    generation) and currency."""
    label = func.lower(grain.usage_label())
    unit = func.lower(grain.c("pricing_unit"))
    kind = case((label.like(EMBED_PATTERN), "embeddings"), else_="generation")
    rows = conn.execute(
        select(grain.c("provider_name"), kind, grain.c("billing_currency"), grain.money())
        .where(
            grain.between(week.start, week.end),
            grain.c("x_workload") == "inference",
            grain.c("charge_category") == "Usage",
            or_(label.like(TOKEN_PATTERN), unit.like(TOKEN_PATTERN)),
        )
        .group_by(grain.c("provider_name"), kind, grain.c("billing_currency"))
    ).all()
    out: dict[Billed, dict[str, Decimal]] = defaultdict(dict)
    for provider, billed_kind, currency, cost in rows:
        if cost is None:
            continue
        bucket = out[(billing_provider(provider), str(billed_kind))]
        cur = str(currency or "?")
        bucket[cur] = bucket.get(cur, Decimal(0)) + cost
    return {k: v for k, v in out.items() if any(v.values())}


def _weights(pricer: Pricer, members: list[Group]) -> tuple[list[Decimal], str]:
    """What each group's share of its provider's bill is proportional to (and how to say so):
    its list-price cost, else (a model without a price) its tokens, else its calls."""
    prices = [cost_of(pricer, g) for g in members]
    priced = [p for p in prices if p is not None]
    if len(priced) == len(members) and sum(priced, Decimal(0)) > 0:
        return priced, "by the app's share of the list-price cost (genai-prices) of the calls"
    tokens = [g.input + g.output for g in members]
    if sum(tokens, Decimal(0)) > 0:
        unpriced = sorted({g.model for g, p in zip(members, prices, strict=True) if p is None})
        why = f" (no list price for {', '.join(unpriced)})" if unpriced else ""
        return tokens, f"by the app's share of the tokens{why}"
    return [Decimal(g.n) for g in members], "by the app's share of the calls (no tokens logged)"


def _price_overrides(settings: Settings) -> dict[str, ModelPrice]:
    """The private prices: ``[llm_requests.prices]`` and any rule's own ``[rules.<id>.prices]``."""
    out: dict[str, ModelPrice] = {}
    for cfg in settings.rule_settings().values():
        for model, price in (cfg.get("prices") or {}).items():
            out[model] = price if isinstance(price, ModelPrice) else ModelPrice(**price)
    return out


def _basis(rate: Decimal, splits: dict[str, list[str]], remarks: list[str]) -> str:
    """How the LLM figures were made, in words a reader can check them by."""
    text = (
        "effective (amortized) cost of the week's token-billed LLM usage (inference rows priced "
        "per token) of each provider in the request log ÷ the requests and tokens (input + "
        "output) logged for that provider in the same week"
    )
    if rate != 1:
        text += (
            f"; the log holds a {(rate * 100).normalize():f} % sample, so requests and tokens "
            f"are scaled by 1 / sample_rate = {(1 / rate).normalize():f}"
        )
    if splits:
        ways = "; ".join(f"{how} ({', '.join(providers)})" for how, providers in splits.items())
        text += f"; per app, each provider's token cost is split {ways}"
    return "; ".join([text, *remarks])
