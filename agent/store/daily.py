"""Keep ``cost_daily`` (the per-day rollup of ``cost_line_items``) in step with the line items.

The loader calls :func:`refresh` for the slices it replaced, inside the load's transaction: a
slice's rollup is deleted with its line items and rebuilt from the new ones by one
``INSERT … SELECT … GROUP BY`` in the database, so the rollup can never disagree with the rows
it summarises, and a crash leaves both at the last good state.

Why a stored rollup: every rule asks per-day-or-coarser questions ("per resource, in the
window"); answering them from the line items cost a full pass per rule (≈ 30 scans of the
largest table at 5 M rows).  The rollup costs one GROUP BY per load instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Integer, Text, cast, delete, func, insert, select

from agent.store.schema import CostDaily, CostLineItem

#: grouped on, most selective first (SQLite sorts on them in this order)
KEYS = (
    "resource_id",
    "provider_name",
    "service_name",
    "sku_id",
    "region_id",
    "charge_category",
    "pricing_category",
    "pricing_unit",
    "billing_currency",
    "x_workload",
)
MONEY = ("effective_cost", "billed_cost")


def sqlite_parts(x: Any) -> tuple[Any, Any, Any]:
    """The whole, micro and pico parts :func:`agent.store.money.money_sum` adds on SQLite."""
    whole = cast(x, Integer)
    frac = (x - whole) * 1_000_000
    micro = cast(frac, Integer)
    pico = cast(func.round((frac - micro) * 1_000_000), Integer)
    return whole, micro, pico


def _rollup(conn: Connection, slices: list[str] | None) -> Any:
    c = CostLineItem.__table__.c
    sqlite = conn.dialect.name == "sqlite"
    # On SQLite times are ISO text: the day is its first ten characters (cheaper than date()).
    day = func.substr(c.charge_period_start, 1, 10) if sqlite else func.date(c.charge_period_start)
    usage = func.coalesce(c.x_usage_type, c.charge_description)
    tags: Any = func.max(c.tags)
    if not sqlite:  # JSONB has no MAX: the largest text, back to JSONB
        tags = cast(func.max(cast(c.tags, Text)), c.tags.type)
    values: dict[str, Any] = {
        "x_source": c.x_source,
        "x_slice": c.x_slice,
        "day": day,
        "usage_label": usage,
        **{k: c[k] for k in KEYS},
        "resource_name": func.max(c.resource_name),
        "tags": tags,
        "charge_period_start": func.min(c.charge_period_start),
        "last_start": func.max(c.charge_period_start),
        "charge_period_end": func.max(func.coalesce(c.charge_period_end, c.charge_period_start)),
        "pricing_quantity": func.sum(c.pricing_quantity),
        "line_items": func.count(),
    }
    for name in MONEY:
        values[name] = func.sum(c[name])
        if sqlite:
            for part, expr in zip("wmp", sqlite_parts(c[name]), strict=True):
                values[f"{name}_{part}"] = func.sum(expr)
    query = select(*(v.label(k) for k, v in values.items())).group_by(
        c.x_slice, c.resource_id, day, usage, *(c[k] for k in KEYS[1:]), c.x_source
    )
    if slices is not None:
        query = query.where(c.x_slice.in_(slices))
    return insert(CostDaily).from_select(list(values), query)


def refresh(conn: Connection, slices: Iterable[str]) -> None:
    """Rebuild the rollup of these slices from their line items (in the caller's transaction)."""
    wanted = sorted(set(slices))
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        conn.execute(delete(CostDaily).where(CostDaily.x_slice.in_(chunk)))
        conn.execute(_rollup(conn, chunk))


def rebuild(conn: Connection) -> None:
    """Rebuild the whole rollup (``costagent db rollup``; after a manual edit of line items)."""
    conn.execute(delete(CostDaily))
    conn.execute(_rollup(conn, None))
