"""LLM token prices, and the SQL that groups ``llm_requests`` for pricing.

In the store, not in ``rules``: the LLM rules (``prompt-caching``, ``response-cache``,
``batch-inference``, ``reembedding``, ``model-distillation``) price their what-ifs with it, the
report prices its per-app unit costs with it, and the ``[llm_requests] prices`` setting is a
table of :class:`ModelPrice` — so one price lookup serves all three and none imports another.

**Prices** come from the offline ``genai-prices`` package (pydantic/genai-prices, the best
maintained open price table: input, output, cache-read and cache-write tokens, batch variants and
long-context tiers), read from the data snapshot bundled with the installed version — never a
network update.  A private price (an enterprise discount, a model the table lacks) is a
:class:`ModelPrice` in the rule's ``prices`` table, per million tokens, which wins over the
package.  A model neither knows is *unpriced*: the rule names it in the finding's evidence and in
a warning, and leaves its requests out of the figure — never a silent $0.

**Per request, not per total.**  Long-context tiers apply per request (Gemini 2.5 Pro charges
every token of a request above 200k input tokens at the higher rate), so a day's token total
cannot be priced as one request.  The SQL therefore groups requests by the tier band their input
size falls in (:func:`tier_floor`: every tier start the snapshot knows), and a group is priced as
``n × price(mean request)``: within one band the price is linear in the tokens, so this equals the
sum of the requests' own prices.

**Token convention** (OpenTelemetry GenAI, OpenAI, Gemini): ``input_tokens`` counts the whole
prompt, *including* ``cache_read_tokens``; genai-prices' :class:`~genai_prices.Usage` uses the
same convention, so the columns go in unchanged.

**Model names** in gateway logs are provider ids (Bedrock ``anthropic.claude-3-5-sonnet-…-v1:0``,
cross-region ``us.…`` profiles and ARNs; Vertex ``publishers/google/models/gemini-2.5-flash``,
``…@001``); :func:`normalise` maps them and the provider (``bedrock`` → ``aws``, ``vertex_ai`` →
``google``) to genai-prices' references.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import genai_prices
from genai_prices import Usage, calc_price
from genai_prices.types import ModelPrice as GenaiModelPrice
from genai_prices.types import PriceCalculation, TieredPrices
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Float, case, false, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from agent.store.schema import LlmRequest
from agent.store.window import Window

log = logging.getLogger(__name__)

MTOK = Decimal(1_000_000)
PRICE_TABLE = f"genai-prices {genai_prices.__version__} (bundled snapshot)"
GENAI_PRICES_SOURCE = "https://github.com/pydantic/genai-prices"
BATCH = {"processing": "batch"}


# --- configuration -------------------------------------------------------------------------------
class ModelPrice(BaseModel):
    """A private price for one model, per million tokens (overrides the package)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Decimal = Field(ge=0, description="per million input tokens", examples=[Decimal("2.40")])
    output: Decimal = Field(
        Decimal(0), ge=0, description="per million output tokens", examples=[Decimal("13.50")]
    )
    cache_read: Decimal | None = Field(
        None,
        ge=0,
        description="per million cache-read tokens; unset: no prompt caching",
        examples=[Decimal("0.27")],
    )
    cache_write: Decimal | None = Field(
        None,
        ge=0,
        description="per million cache-write tokens; unset: the input price",
        examples=[Decimal("3.375")],
    )
    currency: str = Field("USD", min_length=3, max_length=3, description="ISO 4217 code")


# --- model names ---------------------------------------------------------------------------------
_PROVIDERS = {
    "aws": "aws",
    "bedrock": "aws",
    "aws_bedrock": "aws",
    "aws.bedrock": "aws",
    "amazon-bedrock": "aws",
    "amazon_bedrock": "aws",
    "amazon bedrock": "aws",
    "google": "google",
    "gcp": "google",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "vertex": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "vertex ai": "google",
    "google_vertex": "google",
    "gemini": "google",
    "azure": "azure",
    "azure_openai": "azure",
    "az.ai.openai": "azure",
    "azure.ai.openai": "azure",
}
_VERTEX_PATH = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?models/")
_BEDROCK_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:[a-z-]+/")


def normalise(provider: str | None, model: str) -> tuple[str | None, str]:
    """(genai-prices provider id, model reference) for a logged provider and model id."""
    prov = (provider or "").strip().lower() or None
    ref = model.strip().lower()
    ref = _BEDROCK_ARN.sub("", ref)  # arn:aws:bedrock:…:foundation-model/anthropic.claude-…
    ref = _VERTEX_PATH.sub("", ref)  # publishers/google/models/gemini-2.5-flash
    if "@" in ref:  # Vertex versions: gemini-1.5-pro@002, claude-3-5-sonnet-v2@20241022
        name, _, version = ref.partition("@")
        ref = f"{name}-{version}" if version.isdigit() and len(version) == 8 else name
    return (_PROVIDERS.get(prov, prov) if prov else None), ref


#: a gateway's ``<provider>/`` prefix (LiteLLM: ``bedrock/…``, ``openai/…``, ``vertex_ai/…``)
_GATEWAY_PREFIX = re.compile(r"^([a-z_][a-z0-9_.-]*)/(?:converse/|invoke/)?(.+)$")
#: a Bedrock model id: ``[region.]<vendor>.<model>[-YYYYMMDD][-vN[:M]]``
_BEDROCK_ID = re.compile(
    r"^(?:(?:us|eu|apac|global|us-gov|ca|jp|au)\.)?(?P<vendor>[a-z0-9-]+)\.(?P<model>.+)$"
)
_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_DATE = re.compile(r"-\d{8}$")
#: Bedrock vendor prefixes → the vendor's own provider id in genai-prices
_VENDORS = {
    "anthropic": "anthropic",
    "meta": "meta",
    "cohere": "cohere",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "openai": "openai",
    "amazon": "aws",
}


def price_candidates(provider: str | None, model: str) -> list[tuple[str | None, str, str]]:
    """Where to look a logged model up, most specific first: ``(provider id, model ref, how)``.

    Real logs spell one model many ways (``bedrock/…`` from LiteLLM, ``us.`` / ``global.``
    inference profiles, ``anthropic.claude-sonnet-4-5`` without date or version, Azure
    deployments of OpenAI models).  After the id as given (normalised), the chain tries the id
    without a gateway's ``<provider>/`` prefix, then the model in its *vendor's* own listing (a
    Bedrock Anthropic model is priced like Anthropic's, with and without its date), then the
    OpenAI listing for Azure, then any provider.  ``how`` says which step matched, for the
    evidence."""
    prov, ref = normalise(provider, model)
    out: list[tuple[str | None, str, str]] = [(prov, ref, "")]
    gateway = _GATEWAY_PREFIX.match(ref)
    if gateway and ("." not in gateway.group(1) or gateway.group(1) in _PROVIDERS):
        head = gateway.group(1)
        prov = _PROVIDERS.get(head, head)
        ref = gateway.group(2)
        out.append((prov, ref, f"without the gateway prefix {head}/"))
    bedrock = _BEDROCK_ID.match(ref)
    if bedrock and bedrock.group("vendor") in _VENDORS:
        vendor = _VENDORS[bedrock.group("vendor")]
        name = _VERSION.sub("", bedrock.group("model"))
        how = f"the vendor's own listing, {vendor}"
        out += [(prov, f"{bedrock.group('vendor')}.{name}", ""), (vendor, name, how)]
        undated = _DATE.sub("", name)
        if undated != name:
            out.append((vendor, undated, how))
    if prov == "azure":
        out.append(("openai", ref, "the OpenAI listing (an Azure OpenAI deployment)"))
    out.append((None, ref, "any provider's listing"))
    return list(dict.fromkeys(out))


# --- prices --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tokens:
    """Token counts of one (mean) request; ``input`` includes ``cache_read`` and ``cache_write``."""

    input: Decimal
    output: Decimal = Decimal(0)
    cache_read: Decimal = Decimal(0)
    cache_write: Decimal = Decimal(0)

    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input,
            output_tokens=self.output,
            cache_read_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
        )


@dataclass(frozen=True)
class Price:
    """One model's price: the package's entry or a config override."""

    model: str  # as logged
    source: str
    currency: str
    calc: PriceCalculation | None = None  # genai-prices lookup (None: config override)
    override: ModelPrice | None = None

    def _model_price(self, batch: bool, at: datetime) -> GenaiModelPrice:
        if self.override is not None:
            o = self.override
            return GenaiModelPrice(
                input_mtok=o.input,
                output_mtok=o.output,
                cache_read_mtok=o.cache_read,
                cache_write_mtok=o.cache_write,
            )
        assert self.calc is not None
        return self.calc.model.get_prices(at, BATCH if batch else None)

    @property
    def has_batch_price(self) -> bool:
        if self.calc is None:
            return False
        return any(v.when == BATCH for v in self.calc.model.price_variants or ())

    @property
    def caches(self) -> bool:
        """Whether the provider offers prompt caching for the model (a cache-read price)."""
        if self.override is not None:
            return self.override.cache_read is not None
        assert self.calc is not None
        return self.calc.model_price.cache_read_mtok is not None

    def request(self, tokens: Tokens, at: datetime, batch: bool, discount: Decimal) -> Decimal:
        """Price of one request with ``tokens``; ``batch`` requests at the table's batch price,
        else at the real-time price less ``discount``."""
        table_batch = batch and self.has_batch_price
        price = self._model_price(table_batch, at).calc_price(tokens.usage())["total_price"]
        if batch and not table_batch:
            price *= 1 - discount
        return price

    def rates(self, at: datetime, batch: bool = False) -> dict[str, str]:
        """Per-million-token rates for the evidence (tiers as ``base; >start: price``)."""
        mp = self._model_price(batch and self.has_batch_price, at)
        out: dict[str, str] = {}
        for key, name in (
            ("input_mtok", "input"),
            ("output_mtok", "output"),
            ("cache_read_mtok", "cache_read"),
            ("cache_write_mtok", "cache_write"),
        ):
            value = getattr(mp, key)
            if isinstance(value, TieredPrices):
                tiers = "; ".join(f">{t.start}: {t.price}" for t in value.tiers)
                out[name] = f"{value.base}; {tiers}"
            elif value is not None:
                out[name] = str(value)
        return out

    def evidence(self, at: datetime) -> dict[str, Any]:
        return {
            "model": self.model,
            "price_source": self.source,
            "currency": self.currency,
            "per_million_tokens": self.rates(at),
        }


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(name: str) -> str:
    """``name`` as a TOML key: bare when it may be, else quoted (model ids have dots)."""
    return name if _BARE_KEY.match(name) else '"' + name.replace('"', '\\"') + '"'


@dataclass
class Pricer:
    """Looks prices up once per model and remembers the models nobody could price.

    With ``ctx`` and ``rule_id`` (``rules.llm_prices.pricer_for``), an unknown model is also a
    warning of the analysis, naming the config table that would price it: a rule that cannot
    price a model produces no figure for it, and the user must learn why without reading a log.
    """

    overrides: dict[str, ModelPrice]
    at: datetime  # prices in force at this time (the window's end: what the change saves)
    batch_discount: Decimal = Decimal("0.5")
    unknown: dict[str, str] = field(default_factory=dict)  # model → why
    ctx: Window | None = None
    rule_id: str | None = None
    _cache: dict[tuple[str | None, str], Price | None] = field(default_factory=dict)

    def lookup(self, provider: str | None, model: str) -> Price | None:
        key = (provider, model)
        if key not in self._cache:
            self._cache[key] = self._lookup(provider, model)
        return self._cache[key]

    def _lookup(self, provider: str | None, model: str) -> Price | None:
        prov, ref = normalise(provider, model)
        overrides = {k.strip().lower(): (k, v) for k, v in self.overrides.items()}
        for name in (model.strip().lower(), ref, f"{prov}/{ref}"):
            if name in overrides:
                k, v = overrides[name]
                return Price(model, f"config: prices.{k}", v.currency, override=v)
        errors: list[str] = []
        for provider_id, name, how in price_candidates(provider, model):
            try:
                calc = calc_price(
                    Usage(), name, provider_id=provider_id, genai_request_timestamp=self.at
                )
            except LookupError as exc:
                errors.append(str(exc))
                continue
            source = f"{PRICE_TABLE}: {calc.provider.id}/{calc.model.id}"
            if how and provider_id is not None:
                source += f" ({how})"
            return Price(model, source, "USD", calc=calc)
        profile = (
            " — an application inference profile names no model: price it"
            if ":application-inference-profile/" in model
            else ""
        )
        self.unknown[model] = (
            f"{model!r} (provider {provider!r}, looked up as {ref!r}) is not in "
            f"{PRICE_TABLE} ({errors[0] if errors else 'no match'}){profile}; add it to the "
            "rule's prices"
        )
        log.warning("no price for LLM model %s", self.unknown[model])
        if self.ctx is not None and self.rule_id is not None:
            self.ctx.warn(
                f"no price for model {model!r} (provider {provider!r}) in {PRICE_TABLE}"
                f"{profile}; its requests are left out (add "
                f"[rules.{self.rule_id}.prices.{toml_key(model)}] with input and output per "
                "million tokens)"
            )
        return None

    def warning(self, models: Iterable[str]) -> dict[str, Any]:
        """Evidence naming the ``models`` left out of a figure as unpriced (empty when none)."""
        missing = sorted({m for m in models if m in self.unknown})
        if not missing:
            return {}
        return {
            "unpriced_models": missing,
            "warning": "requests of unpriced models are left out of the figure: "
            + "; ".join(self.unknown[m] for m in missing),
        }


# --- SQL pieces ----------------------------------------------------------------------------------
class seconds_between(FunctionElement[float]):
    """``seconds_between(later, earlier)``: seconds from ``earlier`` to ``later`` (float).

    SQLite stores timestamps as ISO text (``julianday`` reads it), PostgreSQL subtracts them to
    an interval; each dialect gets its own spelling, the rule's SQL stays one expression.
    """

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_between_default(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@cache
def tier_starts() -> tuple[int, ...]:
    """Every long-context tier start in the bundled snapshot, ascending (e.g. 128k, 200k)."""
    from genai_prices.data_snapshot import get_snapshot

    starts: set[int] = set()
    for provider in get_snapshot().providers:
        for model in provider.models:
            prices = (
                [model.prices]
                if isinstance(model.prices, GenaiModelPrice)
                else [c.prices for c in model.prices]
            )
            prices += [v.prices for v in model.price_variants or ()]
            for mp in prices:
                for value in mp.__dict__.values():
                    if isinstance(value, TieredPrices):
                        starts.update(t.start for t in value.tiers)
    return tuple(sorted(starts))


def tier_floor(input_tokens: Any) -> Any:
    """The largest tier start a request's input exceeds (0 below every tier): requests in one
    band pay the same tier of every model, so a band's mean request prices the band exactly."""
    starts = tier_starts()
    # literal numbers, not bound parameters: PostgreSQL must see the GROUP BY expression and
    # the selected one as the same expression
    whens: list[tuple[Any, Any]] = [
        (input_tokens > literal_column(str(s)), literal_column(str(s))) for s in reversed(starts)
    ]
    return case(*whens, else_=literal_column("0")) if whens else literal_column("0")


def requests_in_window(ctx: Window) -> Any:
    """``llm_requests`` rows of the window."""
    return (LlmRequest.ts >= ctx.start) & (LlmRequest.ts < ctx.end)


def calls_with_previous(ctx: Window, partition_by: Sequence[Any], *conditions: Any) -> Any:
    """The window's requests (matching ``conditions``) as a subquery with ``previous_ts``: the
    time of the previous request of the same ``partition_by`` group (LAG, portable to SQLite
    ≥ 3.25 and PostgreSQL) — how the caching rules tell a repeat or a warm cache from a cold one.
    """
    r = LlmRequest
    previous = func.lag(r.ts).over(partition_by=tuple(partition_by), order_by=r.ts)
    return (
        select(
            r.app,
            r.provider,
            r.model,
            r.batch,
            r.ts,
            r.prompt_hash,
            r.input_tokens,
            r.output_tokens,
            r.cache_read_tokens,
            previous.label("previous_ts"),
        )
        .where(requests_in_window(ctx), *conditions)
        .subquery()
    )


@dataclass(frozen=True)
class Group:
    """Requests of one (keys…, provider, model, batch, tier band) group, with token sums."""

    keys: tuple[Any, ...]
    provider: str | None
    model: str
    batch: bool
    n: int
    input: Decimal
    output: Decimal
    cache_read: Decimal
    extra: dict[str, Any] = field(default_factory=dict)

    def mean(self) -> Tokens:
        n = Decimal(self.n)
        return Tokens(self.input / n, self.output / n, self.cache_read / n)


def grouped(
    ctx: Window,
    keys: Sequence[Any],
    source: Any = None,
    extra: Sequence[Any] = (),
    conditions: Iterable[Any] = (),
) -> list[Group]:
    """Requests in the window grouped by ``keys`` + provider, model, batch and tier band, with
    token sums and ``extra`` aggregates; ``source`` is LlmRequest or a subquery of its columns
    (already bounded to the window)."""
    t = source.c if source is not None else LlmRequest
    batch = func.coalesce(t.batch, false())
    band = tier_floor(t.input_tokens)
    query = select(
        *keys,
        t.provider,
        t.model,
        batch.label("batch"),
        band.label("band"),
        func.count().label("n"),
        func.coalesce(func.sum(t.input_tokens), 0),
        func.coalesce(func.sum(t.output_tokens), 0),
        func.coalesce(func.sum(t.cache_read_tokens), 0),
        *extra,
    ).where(*conditions)
    if source is None:
        query = query.where(requests_in_window(ctx))
    query = query.group_by(*keys, t.provider, t.model, batch, band)
    out = []
    for row in ctx.conn.execute(query):
        values = tuple(row)
        k = len(keys)
        provider, model, is_batch, _band, n, inp, outp, cread = values[k : k + 8]
        out.append(
            Group(
                keys=values[:k],
                provider=provider,
                model=model,
                batch=bool(is_batch),
                n=int(n),
                input=Decimal(int(inp or 0)),
                output=Decimal(int(outp or 0)),
                cache_read=Decimal(int(cread or 0)),
                extra={e.name: v for e, v in zip(extra, values[k + 8 :], strict=True)},
            )
        )
    return out


def cost_of(
    pricer: Pricer, g: Group, tokens: Tokens | None = None, batch: bool | None = None
) -> Decimal | None:
    """``n × price(mean request)`` of a group (None: the model is unpriced)."""
    price = pricer.lookup(g.provider, g.model)
    if price is None:
        return None
    mean = tokens if tokens is not None else g.mean()
    is_batch = g.batch if batch is None else batch
    return price.request(mean, pricer.at, is_batch, pricer.batch_discount) * g.n


def currency_of(pricer: Pricer, g: Group) -> str | None:
    price = pricer.lookup(g.provider, g.model)
    return price.currency if price is not None else None
