"""``cost_daily`` (the per-day rollup the rules read) always agrees with the line items.

Real data (the FOCUS 1.0 sample: three providers, 11-decimal costs) on SQLite and PostgreSQL:
the rollup's exact totals equal the line items' per provider, day and currency after a load, a
reload, a replaced slice and the migration's own backfill.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Engine, delete, func, select

from agent.config import load_settings
from agent.store.daily import rebuild
from agent.store.daily_sums import total
from agent.store.engine import alembic_config
from agent.store.money import money_sum
from agent.store.schema import CostDaily, CostLineItem
from collectors.importer import import_paths


def _from_items(engine: Engine) -> list[tuple[Any, ...]]:
    c = CostLineItem
    day = func.date(c.charge_period_start)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                c.provider_name,
                day,
                c.billing_currency,
                money_sum(c.effective_cost),
                money_sum(c.billed_cost),
                func.count(),
            )
            .group_by(c.provider_name, day, c.billing_currency)
            .order_by(c.provider_name, day, c.billing_currency)
        ).all()
    return [(p, str(d)[:10], cur, e, b, n) for p, d, cur, e, b, n in rows]


def _from_rollup(engine: Engine) -> list[tuple[Any, ...]]:
    d = CostDaily
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                d.provider_name,
                d.day,
                d.billing_currency,
                total(),
                total(name="billed_cost"),
                func.sum(d.line_items),
            )
            .group_by(d.provider_name, d.day, d.billing_currency)
            .order_by(d.provider_name, d.day, d.billing_currency)
        ).all()
    return [(p, str(day)[:10], cur, e, b, int(n)) for p, day, cur, e, b, n in rows]


def test_rollup_follows_loads_exactly(engine: Engine, focus_sample: Path) -> None:
    settings = load_settings(None)
    import_paths(engine, [focus_sample], settings)
    expected = _from_items(engine)
    assert len(expected) > 10 and sum(r[5] for r in expected) == 1000
    assert _from_rollup(engine) == expected

    import_paths(engine, [focus_sample], settings)  # a reload replaces, never doubles
    assert _from_rollup(engine) == expected

    with engine.begin() as conn:  # edited by hand: `costagent db rollup` repairs it
        conn.execute(delete(CostDaily))
        rebuild(conn)
    assert _from_rollup(engine) == expected


def test_migration_backfills_the_same_rollup(engine: Engine, focus_sample: Path) -> None:
    import_paths(engine, [focus_sample], load_settings(None))
    expected = _from_rollup(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
        command.upgrade(cfg, "0005")
    assert _from_rollup(engine) == expected
