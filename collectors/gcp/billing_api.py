"""``gcp_billing_api``: billing accounts, the projects they pay for, and SKU list prices.

The billing export says what was spent; it cannot say which projects spend *without* being in
the export, nor what the same usage would cost on Spot.  Two read-only APIs answer that:

* **Cloud Billing** (``CloudBillingClient``): every billing account the credentials can see
  (or the configured ``billing_accounts``) and the projects linked to each, stored as
  ``resources`` (``gcp_billing_account`` under ``billingAccounts/XXXXXX-XXXXXX-XXXXXX``,
  ``gcp_project`` under the project id — the ``sub_account_id`` of export rows).  A project's
  ``has_billing_export`` says whether any Google Cloud cost row names it, so a report can list
  the projects whose spend the store does not see.
* **Cloud Billing Catalog** (``CloudCatalogClient``): list prices for the SKUs that matter, in
  ``sku_prices`` (one row per tiered rate; see :mod:`agent.store.prices`).  The catalog holds
  tens of thousands of SKUs, so only services the bill names (plus ``services``) are listed,
  and of their SKUs only those the bill names or that ``sku_filter`` calls AI/GPU relevant, plus
  the Spot (Preemptible) twin of each kept on-demand SKU: rules price "Spot vs on-demand"
  what-ifs with it.  Prices are exact: ``units + nanos / 10⁹`` as ``Decimal``, never a float.

Design decisions:

* **One failing part does not fail the run**: the accounts listing, each account's projects and
  the catalog fail separately into warnings (a 403 on the catalog still loads the projects).
  The run fails only when neither accounts nor prices could be read: nothing was learned.
* **Prices are replaced whole or not at all**: this source's rows are deleted and the new ones
  inserted in the transaction that writes the resources, and only when the whole catalog part
  succeeded, so an interrupted or half-denied run keeps the last complete price list.  A SKU
  another source fetched earlier is taken over (the newest fetch wins).
* Every call and page goes through the shared retry (429/5xx with backoff); pages are counted
  per API (``billing``, ``catalog``) for the run record.  Both APIs live on the same host, so
  ``api_endpoints.billing`` overrides both.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeVar

import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import billing_v1
from pydantic import Field, field_validator
from sqlalchemy import Connection, Engine, delete, insert, select

from agent.redact import redact
from agent.settings import CoreSettings
from agent.store.clock import utcnow
from agent.store.money import to_decimal
from agent.store.prices import PREEMPTIBLE, base_description
from agent.store.schema import CostLineItem, SkuPrice
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.formats.currencies import ISO_4217
from collectors.gcp.session import GcpContext, GcpSourceConfig
from collectors.load import load, table

PROVIDER = "Google Cloud"
DEFAULT_SKU_FILTER = r"(?i)\b(?:GPU|Nvidia|TPU|Vertex|Gemini|Prediction|Training)"
API_ERRORS = (gexc.GoogleAPIError, auth_exc.GoogleAuthError, requests.RequestException)
DELETE_CHUNK = 500  # sku ids per DELETE … IN (…)
T = TypeVar("T")


class GcpBillingApiConfig(GcpSourceConfig):
    type: Literal["gcp_billing_api"] = "gcp_billing_api"
    billing_accounts: list[str] = Field(
        default_factory=list,
        description="account ids (012345-6789AB-CDEF01); default: every account visible",
    )
    services: list[str] = Field(
        default_factory=lambda: ["Vertex AI", "Compute Engine", "Gemini API"],
        description="catalog services (display names) priced besides those the bill names",
    )
    currency: str = Field("USD", description="currency of the list prices")
    sku_filter: str = Field(
        DEFAULT_SKU_FILTER,
        description="regex on a SKU's resource group + description: AI/GPU SKUs to price",
    )
    catalog: bool = Field(True, description="fetch SKU list prices")

    @field_validator("billing_accounts")
    @classmethod
    def _account_names(cls, value: list[str]) -> list[str]:
        return [v if v.startswith("billingAccounts/") else f"billingAccounts/{v}" for v in value]

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value.upper() not in ISO_4217:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value.upper()

    @field_validator("sku_filter")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


@dataclass(frozen=True)
class Billed:
    """What the Google Cloud rows already in the store name: projects, services, SKUs."""

    projects: frozenset[str]
    services: frozenset[str]
    skus: frozenset[str]


def _billed(engine: Engine) -> Billed:
    def distinct(conn: Connection, column: Any) -> frozenset[str]:
        query = select(column).where(CostLineItem.provider_name == PROVIDER, column.is_not(None))
        return frozenset(conn.execute(query.distinct()).scalars())

    with engine.connect() as conn:
        return Billed(
            projects=distinct(conn, CostLineItem.sub_account_id),
            services=distinct(conn, CostLineItem.service_name),
            skus=distinct(conn, CostLineItem.sku_id),
        )


def _calls(ctx: GcpContext) -> dict[str, Any]:
    """Keyword arguments for every call and page: the shared retry and the request timeout."""
    return {"retry": ctx.retry(), "timeout": ctx.config.timeout_seconds}


def _listed(ctx: GcpContext, api: str, pager: Any, field: str) -> Iterator[Any]:
    """Every item of a listing across its pages, counting each page as one request."""
    for page in pager.pages:
        ctx.count(api)
        yield from getattr(page, field)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, gexc.GoogleAPICallError):
        text = f"{type(exc).__name__} ({exc.code}): {exc.message}"
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact(text)


def _naive_utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC).replace(tzinfo=None) if value is not None else None


# -- Cloud Billing: accounts and projects --------------------------------------------------------
def _resource(
    resource_type: str, resource_id: str, observed_at: datetime, attributes: dict[str, Any]
) -> dict[str, Any]:
    return {
        "resource_id": resource_id,
        "provider_name": PROVIDER,
        "resource_type": resource_type,
        "region_id": None,
        "observed_at": observed_at,
        "attributes": json.dumps(attributes, sort_keys=True),
    }


def _accounts(
    ctx: GcpContext, billed: Billed, observed_at: datetime, warnings: list[str]
) -> list[dict[str, Any]]:
    """Accounts and their projects; a project listing that fails is a warning."""
    config = ctx.config
    assert isinstance(config, GcpBillingApiConfig)
    client = billing_v1.CloudBillingClient(
        credentials=ctx.credentials(),
        transport="rest",
        client_options=ctx.client_options("billing"),
    )
    pager = client.list_billing_accounts(**_calls(ctx))
    accounts = list(_listed(ctx, "billing", pager, "billing_accounts"))
    if config.billing_accounts:
        wanted = set(config.billing_accounts)
        missing = sorted(wanted - {a.name for a in accounts})
        if missing:
            warnings.append(f"billing accounts not visible to these credentials: {missing}")
        accounts = [a for a in accounts if a.name in wanted]
    rows = []
    for account in accounts:
        attributes = {
            "display_name": account.display_name,
            "open": account.open_,
            "master_billing_account": account.master_billing_account or None,
            "parent": account.parent or None,
            "currency_code": account.currency_code or None,
        }
        rows.append(_resource("gcp_billing_account", account.name, observed_at, attributes))
        try:
            rows.extend(_projects(ctx, client, account.name, billed, observed_at))
        except API_ERRORS as exc:
            warnings.append(f"projects of {account.name}: {_reason(exc)}")
    return rows


def _projects(
    ctx: GcpContext,
    client: billing_v1.CloudBillingClient,
    account: str,
    billed: Billed,
    observed_at: datetime,
) -> list[dict[str, Any]]:
    pager = client.list_project_billing_info(name=account, **_calls(ctx))
    return [
        _resource(
            "gcp_project",
            info.project_id,
            observed_at,
            {
                "project_id": info.project_id,
                "billing_account": info.billing_account_name or account,
                "billing_enabled": info.billing_enabled,
                "has_billing_export": info.project_id in billed.projects,
            },
        )
        for info in _listed(ctx, "billing", pager, "project_billing_info")
    ]


# -- Cloud Billing Catalog: SKU list prices ------------------------------------------------------
@dataclass(frozen=True)
class Catalog:
    """The list prices one run fetched, and the services they came from."""

    prices: list[dict[str, Any]]
    services: list[str]


def _catalog(ctx: GcpContext, billed: Billed, fetched_at: datetime) -> Catalog:
    config = ctx.config
    assert isinstance(config, GcpBillingApiConfig)
    client = billing_v1.CloudCatalogClient(
        credentials=ctx.credentials(),
        transport="rest",
        client_options=ctx.client_options("billing"),
    )
    wanted = billed.services | set(config.services)
    services = [
        s
        for s in _listed(ctx, "catalog", client.list_services(**_calls(ctx)), "services")
        if s.display_name in wanted
    ]
    pattern = re.compile(config.sku_filter)
    prices: dict[tuple[str, Decimal], dict[str, Any]] = {}
    for service in services:
        request = billing_v1.ListSkusRequest(parent=service.name, currency_code=config.currency)
        pager = client.list_skus(request=request, **_calls(ctx))
        skus = _listed(ctx, "catalog", pager, "skus")
        for sku in _relevant(skus, billed.skus, pattern):
            for row in _price_rows(config, service, sku, fetched_at):
                prices[(row["sku_id"], row["tier_start"])] = row
    return Catalog(list(prices.values()), [s.display_name for s in services])


def _relevant(
    skus: Iterable[billing_v1.Sku], billed: frozenset[str], pattern: re.Pattern[str]
) -> list[billing_v1.Sku]:
    """SKUs the bill names or the filter matches, plus the Spot twins of the on-demand ones.

    One pass over the listing: besides the kept SKUs only the Preemptible ones are held until
    the end, not the whole (large) service.
    """
    kept: list[billing_v1.Sku] = []
    preemptible: list[billing_v1.Sku] = []
    for sku in skus:
        if sku.sku_id in billed or pattern.search(
            f"{sku.category.resource_group} {sku.description}"
        ):
            kept.append(sku)
        elif sku.category.usage_type == PREEMPTIBLE:
            preemptible.append(sku)
    regions: dict[tuple[str, str], set[str]] = {}
    for sku in kept:
        if sku.category.usage_type != PREEMPTIBLE:
            key = (sku.category.resource_group, sku.description)
            regions.setdefault(key, set()).update(sku.service_regions)
    twins = [
        sku
        for sku in preemptible
        if regions.get((sku.category.resource_group, base_description(sku.description)), set())
        & set(sku.service_regions)
    ]
    return kept + twins


class GoogleMoney(Protocol):
    """``google.type.Money`` (its module ships no type information)."""

    units: int
    nanos: int


def google_money(money: GoogleMoney) -> Decimal:
    """``units + nanos / 10⁹`` exactly (both carry the sign of the amount)."""
    return Decimal(money.units) + Decimal(money.nanos).scaleb(-9)


def _price_rows(
    config: GcpBillingApiConfig,
    service: billing_v1.Service,
    sku: billing_v1.Sku,
    fetched_at: datetime,
) -> list[dict[str, Any]]:
    """One row per tiered rate of the SKU's current pricing (the latest ``effective_time``)."""
    if not sku.pricing_info:
        return []
    info = max(sku.pricing_info, key=lambda p: p.effective_time or datetime.min.replace(tzinfo=UTC))
    expression = info.pricing_expression
    common = {
        "provider_name": PROVIDER,
        "x_source": config.name,
        "service_id": service.service_id,
        "service_name": service.display_name,
        "sku_id": sku.sku_id,
        "description": sku.description,
        "resource_family": sku.category.resource_family or None,
        "resource_group": sku.category.resource_group or None,
        "usage_type": sku.category.usage_type or None,
        "regions": sorted(sku.service_regions),
        "pricing_unit": expression.usage_unit or None,
        "pricing_unit_description": expression.usage_unit_description or None,
        "effective_time": _naive_utc(info.effective_time),
        "fetched_at": fetched_at,
    }
    return [
        {
            **common,
            "currency": rate.unit_price.currency_code or config.currency,
            "tier_start": to_decimal(rate.start_usage_amount),
            "unit_price": google_money(rate.unit_price),
        }
        for rate in expression.tiered_rates
    ]


def _replace_prices(conn: Connection, source: str, rows: list[dict[str, Any]]) -> None:
    """This source's prices, replaced; the same SKUs fetched by another source are taken over."""
    conn.execute(delete(SkuPrice).where(SkuPrice.x_source == source))
    ids = sorted({r["sku_id"] for r in rows})
    for i in range(0, len(ids), DELETE_CHUNK):
        chunk = ids[i : i + DELETE_CHUNK]
        conn.execute(
            delete(SkuPrice).where(SkuPrice.provider_name == PROVIDER, SkuPrice.sku_id.in_(chunk))
        )
    if rows:
        conn.execute(insert(SkuPrice), rows)


# -- the collector -------------------------------------------------------------------------------
def _attempt(what: str, fn: Callable[[], T], failures: list[str]) -> T | None:
    """``fn()``, or None with the reason recorded when the API or credentials refuse."""
    try:
        return fn()
    except API_ERRORS as exc:
        failures.append(f"{what}: {_reason(exc)}")
        return None


class GcpBillingApiCollector(Collector[GcpBillingApiConfig]):
    meta = CollectorMeta(
        summary="GCP Cloud Billing API: billing accounts, linked projects, SKU list prices",
    )

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        ctx = GcpContext(self.config)
        now = utcnow()
        billed = _billed(engine)
        warnings: list[str] = []
        failures: list[str] = []
        resources = _attempt(
            "billing accounts", lambda: _accounts(ctx, billed, now, warnings), failures
        )
        catalog = (
            _attempt("catalog", lambda: _catalog(ctx, billed, now), failures)
            if self.config.catalog
            else None
        )
        if resources is None and catalog is None:  # nothing learned: a failed run
            raise RuntimeError(f"neither billing accounts nor prices could be read: {failures[0]}")
        rows = resources or []
        stats = load(
            engine,
            settings,
            self.config.name,
            [("resources", table("resources", rows))],
            before_commit=(
                (lambda conn: _replace_prices(conn, self.config.name, catalog.prices))
                if catalog is not None
                else None
            ),
        )
        prices = len(catalog.prices) if catalog is not None else 0
        return CollectResult(
            rows=stats.rows["resources"] + prices,
            api_requests=ctx.total_requests,
            warnings=tuple(failures + warnings),
            details={
                "requests": dict(ctx.requests),
                "resources": dict(Counter(r["resource_type"] for r in rows)),
                "sku_prices": prices,
                "priced_services": catalog.services if catalog is not None else None,
            },
        )
