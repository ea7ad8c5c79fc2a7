"""``idle-gpu``: fires on a week of near-zero GPU readings, not on a busy hour or on silence."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from agent.config import load_settings
from agent.store.findings import list_findings
from collectors.load import load, table
from rules.base import configured_rules
from rules.engine import analyze

NOW = datetime(2026, 11, 20, 12, 0)
END = NOW.replace(hour=0, minute=0)  # the engine's window ends at midnight


def metrics(rid: str, values: list[float]) -> list[dict[str, Any]]:
    """Hourly gpu_utilization readings ending at the analysis end."""
    return [
        {
            "resource_id": rid,
            "metric": "gpu_utilization",
            "ts": END - timedelta(hours=i + 1),
            "period_s": 3600,
            "value": v,
            "unit": "Percent",
            "stat": "Maximum",
        }
        for i, v in enumerate(values)
    ]


def daily_cost(rid: str, amount: str, days: int = 30) -> list[dict[str, Any]]:
    rows = []
    for d in range(days):
        start = (END - timedelta(days=d + 1)).replace(hour=0)
        rows.append(
            {
                "provider_name": "AWS",
                "billing_account_id": "123456789012",
                "billing_period_start": start.replace(day=1),
                "charge_period_start": start,
                "charge_period_end": start + timedelta(days=1),
                "charge_category": "Usage",
                "billed_cost": Decimal(amount),
                "effective_cost": Decimal(amount),
                "billing_currency": "USD",
                "service_name": "Amazon Elastic Compute Cloud",
                "x_usage_type": "BoxUsage:g5.12xlarge",
                "resource_id": rid,
            }
        )
    return rows


def gpu(rid: str) -> dict[str, Any]:
    return {
        "resource_id": rid,
        "provider_name": "AWS",
        "resource_type": "gpu_instance",
        "region_id": "us-east-1",
        "observed_at": NOW,
        "attributes": json.dumps({"instance_type": "g5.12xlarge", "gpu_count": 4}),
    }


def test_idle_gpu_fires_only_with_a_week_of_idle_readings(engine: Engine) -> None:
    week = 7 * 24
    settings = load_settings(None)
    series = [
        *metrics("i-idle", [0.0] * (week - 1) + [3.0]),  # peak 3 %: idle
        *metrics("i-busy", [0.0] * (week - 1) + [40.0]),  # one busy hour: not idle
        *metrics("i-sparse", [0.0] * 50),  # 50 of 168 hours reported: not enough evidence
    ]
    costs = [
        *daily_cost("i-idle", "100"),
        *daily_cost("i-busy", "100"),
        *daily_cost("i-sparse", "100"),
        # Not what running it costs: tax on the machine's usage and a promotional credit.
        *(
            {**row, "charge_category": category, "x_usage_type": None}
            for category, amount in (("Tax", "800"), ("Credit", "-300"))
            for row in daily_cost("i-idle", amount, days=1)
        ),
    ]
    load(
        engine,
        settings,
        "seed",
        [
            ("cost", table("cost", costs)),
            ("metrics", table("metrics", series)),
            ("resources", table("resources", [gpu(r) for r in ("i-idle", "i-busy", "i-sparse")])),
        ],
    )
    result = analyze(engine, configured_rules({}), window_days=30, now=NOW)
    assert result.errors == {}
    found = [f for f in list_findings(engine) if f["rule_id"] == "idle-gpu"]
    assert [f["subject"] for f in found] == ["i-idle"]
    # $100 × 30 days = $3,000 in 720 h → × 730 / 720 = $3,041.67 a month (the $800 tax and
    # the −$300 credit are not usage: left out).
    assert found[0]["monthly_savings"] == Decimal("3041.67")
    evidence = found[0]["evidence"]
    assert evidence["peak_gpu_utilization_pct"] == 3.0
    assert evidence["hours_with_readings"] == week
    assert evidence["instance_type"] == "g5.12xlarge"

    relaxed = analyze(
        engine, configured_rules({"idle-gpu": {"min_coverage": 0.25}}), window_days=30, now=NOW
    )
    assert relaxed.produced["idle-gpu"] == 2  # the sparse one now has enough readings
