"""Small helpers the tests share: run the CLI in-process, snapshot the store."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from agent.cli import app
from agent.store.money import money_sum
from agent.store.schema import CostLineItem, LlmRequest


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


#: The ``llm_requests`` columns the request-log source tests compare, in this order.
LLM_REQUEST_COLUMNS = (
    "ts", "provider", "model", "operation", "app", "input_tokens", "output_tokens",
    "cache_read_tokens", "prompt_hash", "latency_ms", "x_source",
)  # fmt: skip


def llm_request_rows(engine: Engine, columns: tuple[str, ...] = LLM_REQUEST_COLUMNS) -> list[Any]:
    """The stored LLM requests as tuples of ``columns``, oldest first."""
    with engine.connect() as conn:
        query = select(*(getattr(LlmRequest, c) for c in columns)).order_by(LlmRequest.ts)
        return [tuple(row) for row in conn.execute(query)]
