"""The endpoint-family rules on SQLite and PostgreSQL: ``idle-endpoint``,
``overprovisioned-endpoint``, ``offhours-schedule`` and ``vector-store-capacity``.

Each scenario seeds billing rows, metrics and inventory through the collectors' loader, runs
``analyze`` with a fixed ``now`` and checks who fires and for how much, against figures worked
by hand in the comments.  The window is the 30 whole UTC days before ``NOW``'s midnight:
2026-10-21 00:00 → 2026-11-20 00:00, 720 hours; "hour h" below counts back from its end
(h = 0 is 2026-11-19 23:00).  The last test runs all four on the shipped demo month.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from agent.config import load_settings
from agent.store.engine import open_store
from agent.store.findings import list_findings
from collectors.load import load, table
from rules.base import configured_rules
from rules.engine import analyze

NOW = datetime(2026, 11, 20, 12, 0)
END = datetime(2026, 11, 20)
HOURS = 720
NEW_YORK = ZoneInfo("America/New_York")
MINE = ("idle-endpoint", "overprovisioned-endpoint", "offhours-schedule", "vector-store-capacity")


def hour(h: int) -> datetime:
    return END - timedelta(hours=h + 1)


def hourly_cost(
    rid: str,
    rate: str,
    quantity: float = 1,
    hours: Iterable[int] = range(HOURS),
    unit: str = "Hrs",
    sku: str = "HOSTING-1",
    tags: dict[str, str] | None = None,
    usage_type: str = "USE1-Hosting:ml.g5.xlarge",
) -> list[dict[str, Any]]:
    """One CUR-like row per hour: ``quantity`` units at ``rate`` each."""
    amount = Decimal(rate) * Decimal(str(quantity))
    return [
        {
            "provider_name": "AWS",
            "billing_account_id": "123456789012",
            "billing_period_start": hour(h).replace(day=1, hour=0),
            "charge_period_start": hour(h),
            "charge_period_end": hour(h) + timedelta(hours=1),
            "charge_category": "Usage",
            "billed_cost": amount,
            "effective_cost": amount,
            "billing_currency": "USD",
            "service_name": "Amazon SageMaker",
            "sku_id": sku,
            "pricing_quantity": quantity,
            "pricing_unit": unit,
            "x_usage_type": usage_type,
            "resource_id": rid,
            "tags": json.dumps(tags or {}),
        }
        for h in hours
    ]


def daily_cost(
    rid: str,
    amount: str,
    sku: str = "GCP-SKU",
    quantity: float = 24,
    unit: str = "hour",
    tags: dict[str, str] | None = None,
    days: int = 30,
) -> list[dict[str, Any]]:
    """One GCP-export-like row per UTC day."""
    rows = []
    for d in range(days):
        start = END - timedelta(days=d + 1)
        rows.append(
            {
                "provider_name": "Google Cloud",
                "billing_account_id": "01D3M0-000000-000000",
                "billing_period_start": start.replace(day=1),
                "charge_period_start": start,
                "charge_period_end": start + timedelta(days=1),
                "charge_category": "Usage",
                "billed_cost": Decimal(amount),
                "effective_cost": Decimal(amount),
                "billing_currency": "USD",
                "service_name": "Vertex AI",
                "sku_id": sku,
                "pricing_quantity": quantity,
                "pricing_unit": unit,
                "resource_id": rid,
                "tags": json.dumps(tags or {}),
            }
        )
    return rows


def series(
    rid: str, metric: str, value: Callable[[int], float | None], hours: Iterable[int] = range(HOURS)
) -> list[dict[str, Any]]:
    """Hourly readings; ``value(h)`` None leaves the hour without a datapoint."""
    rows = []
    for h in hours:
        v = value(h)
        if v is None:
            continue
        rows.append(
            {
                "resource_id": rid,
                "metric": metric,
                "ts": hour(h),
                "period_s": 3600,
                "value": v,
                "unit": "Percent" if "utilization" in metric else "Count",
                "stat": "Average" if "utilization" in metric else "Sum",
            }
        )
    return rows


def resource(rid: str, kind: str, provider: str = "AWS", **attrs: Any) -> dict[str, Any]:
    return {
        "resource_id": rid,
        "provider_name": provider,
        "resource_type": kind,
        "region_id": "us-east-1",
        "observed_at": NOW,
        "attributes": json.dumps(attrs),
    }


def seed(
    engine: Engine,
    costs: list[dict[str, Any]],
    metrics: list[dict[str, Any]],
    resources: list[dict[str, Any]],
) -> None:
    tables: list[Any] = [
        ("cost", table("cost", costs)),
        ("resources", table("resources", resources)),
    ]
    if metrics:
        tables.append(("metrics", table("metrics", metrics)))
    load(engine, load_settings(None), "seed", tables)


def findings(
    engine: Engine, rule_id: str, config: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    rules = [r for r in configured_rules({rule_id: config or {}}) if r.rule_id == rule_id]
    result = analyze(engine, rules, window_days=30, now=NOW)
    assert result.errors == {}
    open_ = list_findings(engine, status="open")
    return {f["subject"]: f for f in open_ if f["rule_id"] == rule_id}


# -- idle-endpoint ---------------------------------------------------------------------------------
def test_idle_endpoint_needs_a_silent_week_with_metrics_coverage(engine: Engine) -> None:
    week = 7 * 24
    ep = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/"
    costs = [
        *hourly_cost(ep + "idle", "2.00"),  # zeros reported all last week
        *hourly_cost(ep + "silent", "1.50"),  # no datapoint at all last week
        *hourly_cost(ep + "young", "3.00", hours=range(240)),  # created 10 days ago
        *hourly_cost(ep + "busy", "2.00"),  # one request last week
        *hourly_cost(ep + "unmeasured", "2.00"),  # no invocations series
        *hourly_cost(ep + "new", "2.00", hours=range(5 * 24)),  # 5 days of cost only
        *hourly_cost(ep + "gone", "2.00", hours=range(10 * 24, HOURS)),  # deleted 10 days ago
    ]
    metrics = [
        *series(ep + "idle", "invocations", lambda h: 0.0 if h < week else 10.0),
        *series(ep + "silent", "invocations", lambda h: None if h < week else 10.0),
        *series(ep + "young", "invocations", lambda h: 0.0 if h < week else 5.0, range(240)),
        *series(ep + "busy", "invocations", lambda h: 1.0 if h == 3 else 0.0),
        *series(ep + "new", "invocations", lambda h: 0.0, range(5 * 24)),
        *series(ep + "gone", "invocations", lambda h: 0.0),
    ]
    names = ("idle", "silent", "young", "busy", "unmeasured", "new", "gone")
    inventory = [resource(ep + n, "sagemaker_endpoint", instance_count=1) for n in names]
    seed(engine, costs, metrics, inventory)

    found = findings(engine, "idle-endpoint")
    assert sorted(found) == [ep + "idle", ep + "silent", ep + "young"]
    # $2.00/h × 720 h = $1,440 over 720 billed hours → $2.00/h × 730 h = $1,460.00.
    assert found[ep + "idle"]["monthly_savings"] == Decimal("1460.00")
    assert found[ep + "idle"]["confidence"] == "high"
    evidence = found[ep + "idle"]["evidence"]
    assert evidence["invocations_in_lookback"] == 0
    assert evidence["readings_in_lookback"] == week
    assert evidence["cost_in_window"] == "1440.000000000000"
    assert evidence["billed_hours"] == "720"
    # Silence without datapoints counts as zero: the collector delivered other series last week
    # and this endpoint reported traffic before.  $1.50 × 730 = $1,095.00, medium confidence.
    assert found[ep + "silent"]["monthly_savings"] == Decimal("1095.00")
    assert found[ep + "silent"]["confidence"] == "medium"
    # Billed for 240 h only: $720 ÷ 240 h = $3.00/h → × 730 = $2,190.00 (not $720 × 730/720).
    assert found[ep + "young"]["monthly_savings"] == Decimal("2190.00")

    # A week of zeros is not enough when the look-back is longer.
    assert ep + "idle" not in findings(engine, "idle-endpoint", {"idle_days": 10})


# -- overprovisioned-endpoint ----------------------------------------------------------------------
def test_overprovisioned_endpoint_rightsizes_and_scales_to_zero(engine: Engine) -> None:
    ep = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/"
    vx = "//aiplatform.googleapis.com/projects/1/locations/us-central1/endpoints/"

    def daily(peak: float, low: float) -> Callable[[int], float]:
        return lambda h: peak if h % 24 == 12 else low

    costs = [
        # 4 instances at $1.25 per instance-hour, billed 4 Hrs an hour → $5/h.
        *hourly_cost(ep + "big", "1.25", quantity=4),
        *hourly_cost(ep + "right", "1.25", quantity=2),
        *hourly_cost(ep + "spiky", "2.00"),
        *hourly_cost(ep + "steady", "2.00"),
        *hourly_cost(ep + "fresh", "2.00"),
        # Vertex: 3 replicas billed as two SKUs a day, $48 + $24 = $72/day = $1 per replica-hour.
        *daily_cost(vx + "9", "48.00", sku="CORE", quantity=288),
        *daily_cost(vx + "9", "24.00", sku="GPU", quantity=72),
    ]
    metrics = [
        # big: peak 1,000/h on 4 instances, busiest accelerator hour 20 %.
        *series(ep + "big", "invocations", daily(1000, 100)),
        *series(ep + "big", "gpu_utilization", daily(20, 3)),
        # right: peak 1,000/h on 2 instances at 70 %: needs ⌈2 × 70 / 60⌉ = 3 > 2.
        *series(ep + "right", "invocations", daily(1000, 100)),
        *series(ep + "right", "gpu_utilization", daily(70, 10)),
        # spiky: traffic in 2 hours of every 5 (40 %), no datapoint otherwise; 80 % at peak.
        *series(ep + "spiky", "invocations", lambda h: 50.0 if (h + 1) % 5 < 2 else None),
        *series(ep + "spiky", "gpu_utilization", lambda h: 80.0 if (h + 1) % 5 < 2 else 1.0),
        # steady: traffic in 3 hours of every 4: 25 % zero-traffic hours, under the 30 %.
        *series(ep + "steady", "invocations", lambda h: 50.0 if h % 4 else 0.0),
        *series(ep + "steady", "gpu_utilization", daily(80, 10)),
        # fresh: measured for the last 48 hours only (busy in all of them): the 672 earlier
        # hours are unmeasured, not idle, and 48 h is under the week sizing needs.
        *series(ep + "fresh", "invocations", lambda h: 50.0, range(48)),
        *series(ep + "fresh", "gpu_utilization", lambda h: 5.0, range(48)),
        # vertex: peak 600/h on 3 replicas (instance_count metric), 10 % at the busiest.
        *series(vx + "9", "invocations", daily(600, 60)),
        *series(vx + "9", "gpu_utilization", daily(10, 2)),
        *series(vx + "9", "instance_count", lambda h: 3.0),
    ]
    inventory = [
        resource(ep + "big", "sagemaker_endpoint", instance_count=4, autoscaling_min=None),
        resource(ep + "right", "sagemaker_endpoint", instance_count=2),
        resource(ep + "spiky", "sagemaker_endpoint", instance_count=1),
        resource(ep + "steady", "sagemaker_endpoint", instance_count=1),
        resource(ep + "fresh", "sagemaker_endpoint", instance_count=3),
        resource(
            vx + "9", "vertex_endpoint", "Google Cloud", min_replica_count=3, max_replica_count=3
        ),
    ]
    seed(engine, costs, metrics, inventory)

    found = findings(engine, "overprovisioned-endpoint")
    assert sorted(found) == [vx + "9", ep + "big", ep + "spiky"]
    big = found[ep + "big"]
    # Capacity per instance = (1,000 ÷ 4) per instance-hour ÷ 20 % × 60 % = 750/h;
    # needed = ⌈1,000 ÷ 750⌉ = 2 of 4.  Rate from the bill: $3,600 ÷ 2,880 instance-hours =
    # $1.25.  Savings = 730 h × (4 − 2) × $1.25 = $1,825.00.
    assert big["monthly_savings"] == Decimal("1825.00")
    assert big["evidence"]["case"] == "rightsize"
    assert big["evidence"]["needed_instances"] == 2
    assert big["evidence"]["capacity_per_instance_hour"] == 750.0
    assert big["evidence"]["instance_hour_rate_from"] == "billing quantity"
    # 288 of 720 covered hours carry traffic: 432 zero hours = 60 % ≥ 30 %.
    # Savings = 0.6 × $2.00/h × 730 h = $876.00.
    spiky = found[ep + "spiky"]
    assert spiky["evidence"]["case"] == "scale_to_zero"
    assert spiky["evidence"]["zero_traffic_hours"] == "432.0"
    assert spiky["monthly_savings"] == Decimal("876.00")
    # Vertex: capacity = (600 ÷ 3) ÷ 10 % × 60 % = 1,200/h → needed ⌈600 ÷ 1,200⌉ = 1 of 3.
    # Rate = $2,160 ÷ (3 × 720 instance-hours from the metric) = $1.00 → 730 × 2 × $1 = $1,460.
    vertex = found[vx + "9"]
    assert vertex["monthly_savings"] == Decimal("1460.00")
    assert vertex["evidence"]["instance_hour_rate_from"] == "instance_count metric"

    # A floor of 3 instances leaves "big" with 1 spare: 730 × 1 × $1.25 = $912.50.
    floor = findings(engine, "overprovisioned-endpoint", {"min_instances": 3})
    assert floor[ep + "big"]["monthly_savings"] == Decimal("912.50")
    assert vx + "9" not in floor


def test_zero_traffic_hours_are_clock_hours_of_sub_hour_readings(engine: Engine) -> None:
    """5-minute invocation readings (CloudWatch's fine period) with a call every 15 minutes:
    every hour that has one carries traffic, however short the readings are."""
    ep = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/"

    def five_minute(rid: str, busy: Callable[[int], bool]) -> list[dict[str, Any]]:
        rows = []
        for h in range(HOURS):
            for k in range(12):  # readings at :00, :05 … :55; a call in every third one
                rows.append(
                    {
                        "resource_id": rid,
                        "metric": "invocations",
                        "ts": hour(h) + timedelta(minutes=5 * k),
                        "period_s": 300,
                        "value": 1.0 if busy(h) and k % 3 == 0 else 0.0,
                        "unit": "Count",
                        "stat": "Sum",
                    }
                )
        return rows

    seed(
        engine,
        [*hourly_cost(ep + "busy5", "2.00"), *hourly_cost(ep + "half5", "2.00")],
        [
            *five_minute(ep + "busy5", lambda h: True),
            *five_minute(ep + "half5", lambda h: h % 24 < 12),
        ],
        [
            resource(ep + "busy5", "sagemaker_endpoint", instance_count=1),
            resource(ep + "half5", "sagemaker_endpoint", instance_count=1),
        ],
    )
    found = findings(engine, "overprovisioned-endpoint")
    # busy5: traffic in all 720 hours (summing the 5-minute readings' lengths would give 4 ×
    # 300 s = 20 minutes an hour: "67 % idle").  half5: traffic in 12 of every 24 hours:
    # 360 of 720 zero → 50 % ≥ 30 %; savings = 0.5 × $2.00/h × 730 h = $730.00.
    assert sorted(found) == [ep + "half5"]
    ev = found[ep + "half5"]["evidence"]
    assert (ev["hours_with_traffic"], ev["zero_traffic_hours"]) == ("360.0", "360.0")
    assert found[ep + "half5"]["monthly_savings"] == Decimal("730.00")


# -- offhours-schedule -----------------------------------------------------------------------------
def _working_ny(h: int, end_hour: int = 20) -> bool:
    local = hour(h).replace(tzinfo=UTC).astimezone(NEW_YORK)
    return local.weekday() < 5 and 8 <= local.hour < end_hour


def test_offhours_schedule_buckets_by_local_time(engine: Engine) -> None:
    ep = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/"
    nb = "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/"
    costs = [
        *hourly_cost(ep + "dev", "1.00"),
        *hourly_cost(ep + "late", "1.00"),
        *hourly_cost(ep + "prod", "1.00"),
        # The notebook's environment is only on its billing rows (CUR: user_env), daily rows.
        *daily_cost(nb + "lab", "48.00", tags={"user_env": "Test"}),
        *daily_cost(nb + "prodnb", "48.00", tags={"user_env": "prod"}),
    ]
    # One off-hours call in the month (hour 15: Thursday 03:00 EST): 50 of 50 × 263 + 50 =
    # 0.38 % < 2 %.
    metrics = [
        *series(ep + "dev", "invocations", lambda h: 50.0 if _working_ny(h) or h == 15 else None),
        *series(ep + "late", "invocations", lambda h: 50.0 if _working_ny(h, 22) else None),
        *series(ep + "prod", "invocations", lambda h: 50.0 if _working_ny(h) else None),
    ]
    inventory = [
        resource(ep + "dev", "sagemaker_endpoint", tags={"env": "dev"}),
        resource(ep + "late", "sagemaker_endpoint", tags={"env": "dev"}),
        resource(ep + "prod", "sagemaker_endpoint", tags={"env": "prod"}),
        resource(nb + "lab", "notebook_instance"),
        resource(nb + "prodnb", "notebook_instance"),
    ]
    seed(engine, costs, metrics, inventory)

    found = findings(engine, "offhours-schedule", {"timezone": "America/New_York"})
    assert sorted(found) == [ep + "dev", nb + "lab"]
    # Working hours in New York over the window (local Oct 20 20:00 EDT → Nov 19 19:00 EST;
    # clocks go back on Sunday Nov 1): weekdays Oct 21 – Nov 18 = 21 × 12 h = 252 h, plus
    # Thursday Nov 19 08:00–19:00 = 11 h → 263 working hours, 720 − 263 = 457 off-hours.
    dev = found[ep + "dev"]
    assert dev["evidence"]["offhours_hours"] == 457
    assert dev["evidence"]["offhours_invocations"] == 50.0
    assert dev["evidence"]["invocations_in_window"] == 50.0 * 264
    # $1/h × 457 off-hours = $457 in 720 billed hours → × 730 / 720 = $463.35.
    assert dev["monthly_savings"] == Decimal("463.35")
    assert dev["confidence"] == "high"
    # The notebook: $48/day = $2/h split by each day's off-hours → $2 × 457 = $914 →
    # × 730 / 720 = $926.69, low confidence (assumed used in working hours only).
    lab = found[nb + "lab"]
    assert lab["monthly_savings"] == Decimal("926.69")
    assert lab["confidence"] == "low"
    assert lab["evidence"]["environment"] == "test"

    with pytest.raises(ValueError, match="time zone"):
        configured_rules({"offhours-schedule": {"timezone": "Mars/Olympus_Mons"}})

    # In UTC the same traffic (12:00–01:00 UTC) is a third off-hours: no endpoint finding.
    utc = findings(engine, "offhours-schedule")
    assert sorted(utc) == [nb + "lab"]
    # Without the notebook assumption, notebooks are left alone.
    assert sorted(
        findings(
            engine,
            "offhours-schedule",
            {"timezone": "America/New_York", "assume_notebooks_office_hours": False},
        )
    ) == [ep + "dev"]


# -- vector-store-capacity -------------------------------------------------------------------------
def test_vector_store_capacity_idle_floor_and_nonprod_standby(engine: Engine) -> None:
    aoss = "arn:aws:aoss:us-east-1:123456789012:collection/"
    vs = "//aiplatform.googleapis.com/projects/1/locations/us-central1/indexEndpoints/"

    def ocus(rid: str, search: float, indexing: float) -> list[dict[str, Any]]:
        return [
            *hourly_cost(rid, "0.24", search, unit="OCU-hours", sku="S", usage_type="SearchOCU"),
            *hourly_cost(rid, "0.24", indexing, unit="OCU-hours", sku="I", usage_type="IndexOCU"),
        ]

    def storage(rid: str) -> list[dict[str, Any]]:
        return daily_cost(rid, "0.10", sku="STORE", quantity=1, unit="GB-Mo")

    costs = [
        *ocus(aoss + "dev", 2, 2),
        *storage(aoss + "dev"),
        *ocus(aoss + "idle", 2, 2),
        *storage(aoss + "idle"),
        *ocus(aoss + "busy", 2, 2),
        *ocus(aoss + "scaled", 3, 3),
        *ocus(aoss + "lean", 1, 1),
        *daily_cost(vs + "7", "24.00", sku="NODE", quantity=48),  # 2 nodes × 24 h at $0.50
    ]
    two_weeks = 14 * 24
    metrics = [
        *series(aoss + "idle", "search_requests", lambda h: 0.0 if h < two_weeks else 100.0),
        *series(aoss + "busy", "search_requests", lambda h: 50.0),
        *series(aoss + "scaled", "search_requests", lambda h: 0.0),
    ]
    inventory = [
        resource(
            aoss + "dev", "opensearch_collection", standby_replicas="ENABLED", tags={"env": "dev"}
        ),
        resource(
            aoss + "idle", "opensearch_collection", standby_replicas="ENABLED", tags={"env": "prod"}
        ),
        resource(
            aoss + "busy", "opensearch_collection", standby_replicas="ENABLED", tags={"env": "prod"}
        ),
        resource(aoss + "scaled", "opensearch_collection", standby_replicas="ENABLED"),
        resource(
            aoss + "lean", "opensearch_collection", standby_replicas="DISABLED", tags={"env": "dev"}
        ),
        resource(
            vs + "7",
            "vector_search_index_endpoint",
            "Google Cloud",
            min_replica_count=2,
            max_replica_count=2,
            labels={"env": "staging"},
        ),
    ]
    seed(engine, costs, metrics, inventory)

    found = findings(engine, "vector-store-capacity")
    assert sorted(found) == [vs + "7", aoss + "dev", aoss + "idle"]
    # dev: 4 OCUs × $0.24 = $0.96/h of capacity; the standby half is $0.48/h × 730 = $350.40.
    dev = found[aoss + "dev"]
    assert dev["evidence"]["case"] == "redundancy_non_production"
    assert dev["evidence"]["capacity_cost_in_window"] == "691.200000000000"
    assert dev["monthly_savings"] == Decimal("350.40")
    # idle: no searches in 14 days at the 4-OCU floor → its whole cost:
    # ($0.96 × 720 h + $0.10 × 30 days) = $694.20 over 720 h → × 730 / 720 = $703.84.
    idle = found[aoss + "idle"]
    assert idle["evidence"]["case"] == "no_traffic"
    assert idle["evidence"]["average_capacity_units"] == 4.0
    assert idle["monthly_savings"] == Decimal("703.84")
    # Vector Search on 2 nodes in staging: $720 ÷ 720 h × ½ × 730 h = $365.00.
    assert found[vs + "7"]["monthly_savings"] == Decimal("365.00")
    assert found[vs + "7"]["confidence"] == "medium"


# -- the shipped demo month ------------------------------------------------------------------------
def test_endpoint_rules_on_the_demo_month(tmp_path: Path) -> None:
    from agent.demo import DATA_DIR
    from collectors.importer import import_paths

    engine = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    import_paths(engine, [DATA_DIR], load_settings(None))
    now = datetime(2026, 11, 1)

    def run(config: dict[str, dict[str, Any]]) -> dict[tuple[str, str], Decimal]:
        rules = [r for r in configured_rules(config) if r.rule_id in MINE]
        result = analyze(engine, rules, window_days=30, now=now)
        assert result.errors == {}
        return {
            (f["rule_id"], f["subject"]): f["monthly_savings"]
            for f in list_findings(engine, status="open")
            if f["rule_id"] in MINE
        }

    aws_prod = "arn:aws:sagemaker:us-east-1:111122223333:"
    aws_dev = "arn:aws:sagemaker:us-east-1:444455556666:"
    classifier = (
        "//aiplatform.googleapis.com/projects/123456789012/locations/us-central1"
        "/endpoints/1088472811065908809"
    )
    dev_collection = "arn:aws:aoss:us-east-1:444455556666:collection/reihateo75zbmads7gsy"
    expected = {
        # 3 × inf2.xlarge at ≤ 15.11 % → ⌈3 × 15.11 / 60⌉ = 1 needed: 730 × 2 × $0.99.
        ("overprovisioned-endpoint", aws_prod + "endpoint/embed-prod"): Decimal("1445.40"),
        # No traffic in 540 of 720 hours: 0.75 × $1.515 × 730.
        ("overprovisioned-endpoint", aws_dev + "endpoint/chat-dev"): Decimal("829.46"),
        # 2 T4 replicas at ≤ 10.3 %: 1 needed; $956.592 ÷ 1,440 replica-hours × 730.
        ("overprovisioned-endpoint", classifier): Decimal("484.94"),
        # rag-docs-dev: 2 + 2 OCUs with standby in dev: ½ × $0.96/h × 730.
        ("vector-store-capacity", dev_collection): Decimal("350.40"),
        # The never-stopped dev notebook, 468 of 720 hours off (UTC): $344.6352 × 730 / 720.
        ("offhours-schedule", aws_dev + "notebook-instance/research-nb-gpu"): Decimal("349.42"),
    }
    assert run({}) == expected
    # chat-dev is used in New York office hours: with that zone it is a schedule candidate too,
    # $1,090.80 × 468 / 720 off-hours × 730 / 720 = $718.87.  No endpoint is idle for a week.
    in_new_york = run({"offhours-schedule": {"timezone": "America/New_York"}})
    assert in_new_york == {
        **expected,
        ("offhours-schedule", aws_dev + "endpoint/chat-dev"): Decimal("718.87"),
    }
    engine.dispose()
