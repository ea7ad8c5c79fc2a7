"""List prices from ``sku_prices``, as the rules ask for them.

Rules price what-ifs — "this A100 job on Spot", "this GPU idle half the week" — with the
provider's own list prices for the exact SKU the bill names, not with guessed discounts: a
guess is wrong by region and month, a list price is what the provider would charge.  Prices
are per SKU, region-independent as the catalog publishes them, tiered by usage.

GCP publishes Spot (preemptible) capacity as separate SKUs whose description is the on-demand
one prefixed with "Spot Preemptible " (older SKUs: "Preemptible "); :func:`spot_counterpart`
finds that twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, RowMapping, select

from agent.store.schema import SkuPrice

PREEMPTIBLE = "Preemptible"
SPOT_PREFIXES = ("Spot Preemptible ", "Preemptible ")


@dataclass(frozen=True)
class Price:
    """One tiered rate of one SKU: ``unit_price`` per ``pricing_unit`` from ``tier_start`` on."""

    sku_id: str
    description: str
    usage_type: str | None
    resource_group: str | None
    regions: tuple[str, ...]
    pricing_unit: str | None
    currency: str
    tier_start: Decimal
    unit_price: Decimal


_COLUMNS = (
    SkuPrice.sku_id,
    SkuPrice.description,
    SkuPrice.usage_type,
    SkuPrice.resource_group,
    SkuPrice.regions,
    SkuPrice.pricing_unit,
    SkuPrice.currency,
    SkuPrice.tier_start,
    SkuPrice.unit_price,
)


def _price(m: RowMapping) -> Price:
    return Price(
        sku_id=m["sku_id"],
        description=m["description"],
        usage_type=m["usage_type"],
        resource_group=m["resource_group"],
        regions=tuple(m["regions"] or ()),
        pricing_unit=m["pricing_unit"],
        currency=m["currency"],
        tier_start=m["tier_start"],
        unit_price=m["unit_price"],
    )


def base_description(description: str) -> str:
    """The on-demand description of a SKU: the Spot / Preemptible prefix removed."""
    for prefix in SPOT_PREFIXES:
        if description.startswith(prefix):
            return description[len(prefix) :]
    return description


def unit_price(conn: Connection, sku_id: str, quantity: Decimal | int = 0) -> Price | None:
    """The rate that applies to usage at ``quantity`` (the tier with the highest start ≤ it)."""
    row = (
        conn.execute(
            select(*_COLUMNS)
            .where(SkuPrice.sku_id == sku_id, SkuPrice.tier_start <= Decimal(quantity))
            .order_by(SkuPrice.tier_start.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return _price(row) if row is not None else None


def spot_counterpart(conn: Connection, sku_id: str) -> Price | None:
    """The first-tier price of the Spot twin of an on-demand SKU; None if there is none.

    The twin has usage type Preemptible, the same resource group, the same description once
    the prefix is removed, and shares a region with the on-demand SKU (GCP names SKUs per
    region group, e.g. "… running in Americas").  The one sharing most regions wins.
    """
    on_demand = unit_price(conn, sku_id)
    if on_demand is None or on_demand.usage_type == PREEMPTIBLE:
        return None
    names = [p + on_demand.description for p in SPOT_PREFIXES]
    rows = (
        conn.execute(
            select(*_COLUMNS)
            .where(
                SkuPrice.usage_type == PREEMPTIBLE,
                SkuPrice.resource_group == on_demand.resource_group,
                SkuPrice.description.in_(names),
            )
            .order_by(SkuPrice.sku_id, SkuPrice.tier_start)
        )
        .mappings()
        .all()
    )
    regions = set(on_demand.regions)
    best: Price | None = None
    for candidate in map(_price, rows):
        shared = len(regions & set(candidate.regions))
        if shared and (best is None or shared > len(regions & set(best.regions))):
            best = candidate
    return best


def spot_discount(conn: Connection, sku_id: str) -> Decimal | None:
    """1 − Spot price / on-demand price of a SKU, exactly; None when either is unknown or 0."""
    on_demand = unit_price(conn, sku_id)
    spot = spot_counterpart(conn, sku_id)
    if on_demand is None or spot is None or not on_demand.unit_price:
        return None
    if spot.currency != on_demand.currency:
        return None
    return 1 - spot.unit_price / on_demand.unit_price
