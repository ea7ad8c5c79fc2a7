"""Small helpers the tests share: run the CLI in-process, snapshot the store."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from agent.cli import app
from agent.store.money import money_sum
from agent.store.schema import CostLineItem


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    """Invoke ``costagent`` in-process; returns the click Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def cost_snapshot(engine: Engine) -> tuple[int, Decimal | None, Decimal | None, list[Any]]:
    """Row count, exact billed and effective totals, and per-slice counts: enough to see any
    row added, lost or changed by a load."""
    c = CostLineItem
    with engine.connect() as conn:
        n, billed, effective = conn.execute(
            select(func.count(), money_sum(c.billed_cost), money_sum(c.effective_cost))
        ).one()
        slices = conn.execute(
            select(c.x_slice, func.count()).group_by(c.x_slice).order_by(c.x_slice)
        ).all()
    return n, billed, effective, [tuple(s) for s in slices]
