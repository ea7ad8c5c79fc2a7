"""``gcp_billing_export`` against the BigQuery emulator, through the real client over REST.

A dataset holds a table with the real detailed-export schema (nested ``service``, ``sku``,
``project``, ``location``, ``resource``, ``usage``, ``invoice``; REPEATED ``labels`` and
``credits``; day-partitioned on ``_PARTITIONTIME``).  Rows are written as Google writes them:
several rows per hour and SKU, FLOAT costs, credits as negative amounts, labels in any order.
Expected figures are computed here in decimals from the same rows, independently of the
collector's SQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from sqlalchemy import Engine, func, select

from agent.config import load_settings
from agent.pipeline import collect_all
from agent.store.money import money_sum
from agent.store.schema import CollectionRun, CostLineItem
from collectors.base import validate_source
from tests.aws_servers import FaultProxy
from tests.bq_emulator import PROJECT
from tests.helpers import cli, cost_snapshot

SF = bigquery.SchemaField
KV = [SF("key", "STRING"), SF("value", "STRING")]
SCHEMA = [
    SF("billing_account_id", "STRING"),
    SF("service", "RECORD", fields=[SF("id", "STRING"), SF("description", "STRING")]),
    SF("sku", "RECORD", fields=[SF("id", "STRING"), SF("description", "STRING")]),
    SF("usage_start_time", "TIMESTAMP"),
    SF("usage_end_time", "TIMESTAMP"),
    SF(
        "project",
        "RECORD",
        fields=[
            SF("id", "STRING"),
            SF("number", "STRING"),
            SF("name", "STRING"),
            SF("labels", "RECORD", mode="REPEATED", fields=KV),
            SF("ancestry_numbers", "STRING"),
        ],
    ),
    SF("labels", "RECORD", mode="REPEATED", fields=KV),
    SF("system_labels", "RECORD", mode="REPEATED", fields=KV),
    SF(
        "location",
        "RECORD",
        fields=[
            SF("location", "STRING"),
            SF("country", "STRING"),
            SF("region", "STRING"),
            SF("zone", "STRING"),
        ],
    ),
    SF("resource", "RECORD", fields=[SF("name", "STRING"), SF("global_name", "STRING")]),
    SF("export_time", "TIMESTAMP"),
    SF("cost", "FLOAT"),
    SF("currency", "STRING"),
    SF("currency_conversion_rate", "FLOAT"),
    SF(
        "usage",
        "RECORD",
        fields=[
            SF("amount", "FLOAT"),
            SF("unit", "STRING"),
            SF("amount_in_pricing_units", "FLOAT"),
            SF("pricing_unit", "STRING"),
        ],
    ),
    SF(
        "credits",
        "RECORD",
        mode="REPEATED",
        fields=[
            SF("name", "STRING"),
            SF("amount", "FLOAT"),
            SF("full_name", "STRING"),
            SF("id", "STRING"),
            SF("type", "STRING"),
        ],
    ),
    SF("invoice", "RECORD", fields=[SF("month", "STRING")]),
    SF("cost_type", "STRING"),
    SF("cost_at_list", "FLOAT"),
]
ACCOUNT = "01A2B3-C4D5E6-F7A8B9"
ENDPOINT = "//aiplatform.googleapis.com/projects/123456789/locations/us-central1/endpoints/111"


@dataclass(frozen=True)
class Sku:
    service: str
    sku_id: str
    description: str
    unit: str
    price: float  # per pricing unit
    resource: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


SKUS = (
    Sku(
        "Vertex AI",
        "A1B2-0001",
        "Vertex AI: Online/Batch Prediction Nvidia Tesla A100 GPU running in Americas",
        "hour",
        2.933908,
        ENDPOINT,
        (("app", "chat"), ("env", "prod")),
    ),
    Sku(
        "Vertex AI",
        "A1B2-0002",
        "Gemini 2.5 Flash Input Text Tokens",
        "count",
        0.0000003,
        None,
        (("app", "rag"),),
    ),
    Sku(
        "Vertex AI",
        "A1B2-0003",
        "Vertex AI Vector Search: Index Serving e2-standard-16 in Americas",
        "hour",
        0.75,
    ),
    Sku(
        "Vertex AI",
        "A1B2-0004",
        "Vertex AI: Training on Nvidia Tesla A100 GPU running in Americas",
        "hour",
        2.933908,
        "//aiplatform.googleapis.com/projects/123456789/locations/us-central1/customJobs/77",
    ),
    Sku(
        "Compute Engine",
        "C0C0-0001",
        "Nvidia Tesla L4 GPU running in Americas",
        "hour",
        0.560181,
        "gpu-box-1",
        (("workload", "training"),),
    ),
)
EXPECTED_WORKLOAD = {
    "A1B2-0001": "inference",
    "A1B2-0002": "inference",
    "A1B2-0003": "vector_storage",
    "A1B2-0004": "training",
    "C0C0-0001": "training",
}


def export_rows(day: date, hours: range = range(24), late: bool = False) -> list[dict[str, Any]]:
    """A day of export rows: per hour and SKU two rows (usage split across export batches),
    the first with a free-tier credit, GPU rows with a committed-use discount credit."""
    rows = []
    for h in hours:
        start = datetime(day.year, day.month, day.day, h, tzinfo=UTC)
        for i, sku in enumerate(SKUS):
            for part in (0, 1):
                quantity = 1.0 if sku.unit == "hour" else 125_000.0 + 1_000 * h + part
                quantity = quantity / 2 if sku.unit == "hour" else quantity
                cost = round(sku.price * quantity, 6)
                credits = []
                if part == 0 and i == 1:
                    credits.append({"name": "Free tier", "amount": -0.01, "type": "FREE_TIER"})
                if part == 0 and "GPU" in sku.description:
                    credits.append(
                        {
                            "name": "Committed use discount: GPU",
                            "amount": round(-cost * 0.37, 6),
                            "type": "COMMITTED_USAGE_DISCOUNT",
                        }
                    )
                if late:
                    credits = [{"name": "Promo", "amount": -0.125, "type": "PROMOTION"}]
                    cost = 0.0
                labels = list(sku.labels)
                if part == 1:
                    labels.reverse()  # Google does not promise an order
                rows.append(
                    {
                        "billing_account_id": ACCOUNT,
                        "service": {"id": sku.service[:4].upper(), "description": sku.service},
                        "sku": {"id": sku.sku_id, "description": sku.description},
                        "usage_start_time": start.isoformat(),
                        "usage_end_time": (start + timedelta(hours=1)).isoformat(),
                        "project": {
                            "id": "ml-prod",
                            "number": "123456789",
                            "name": "ML Prod",
                            "labels": [{"key": "team", "value": "ml"}],
                        },
                        "labels": [{"key": k, "value": v} for k, v in labels],
                        "system_labels": [],
                        "location": {
                            "location": "us-central1",
                            "country": "US",
                            "region": "us-central1",
                            "zone": None,
                        },
                        "resource": {
                            "name": sku.resource.rsplit("/", 1)[-1] if sku.resource else None,
                            "global_name": sku.resource,
                        },
                        "export_time": (start + timedelta(hours=6)).isoformat(),
                        "cost": cost,
                        "currency": "USD",
                        "currency_conversion_rate": 1.0,
                        "usage": {
                            "amount": quantity * (3600 if sku.unit == "hour" else 1),
                            "unit": "seconds" if sku.unit == "hour" else "count",
                            "amount_in_pricing_units": quantity,
                            "pricing_unit": sku.unit,
                        },
                        "credits": credits,
                        "invoice": {"month": f"{day.year}{day.month:02d}"},
                        "cost_type": "regular",
                        "cost_at_list": cost,
                    }
                )
    return rows


def net(rows: list[dict[str, Any]]) -> Decimal:
    """cost + Σ credits, exactly, from the floats' shortest representations."""
    total = Decimal(0)
    for r in rows:
        total += Decimal(repr(r["cost"]))
        total += sum((Decimal(repr(c["amount"])) for c in r["credits"]), Decimal(0))
    return total


def hourly_groups(rows: list[dict[str, Any]]) -> int:
    return len({(r["usage_start_time"], r["sku"]["id"]) for r in rows})


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def bq(bq_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[bigquery.Client, str]]:
    """A client on the emulator and a fresh dataset for this test."""
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bq_url),
    )
    name = "billing_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:80]
    client.create_dataset(name, exists_ok=True)
    yield client, name
    client.delete_dataset(name, delete_contents=True, not_found_ok=True)


def export_table(client: bigquery.Client, dataset: str) -> str:
    table_id = f"{PROJECT}.{dataset}.gcp_billing_export_resource_v1_{ACCOUNT.replace('-', '_')}"
    table = bigquery.Table(table_id, schema=SCHEMA)
    table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY)
    client.create_table(table, exists_ok=True)
    return table_id


def insert(client: bigquery.Client, table_id: str, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 500):
        errors = client.insert_rows_json(table_id, rows[i : i + 500])
        assert not errors, errors


def source(endpoint: str, table_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "gcp-bq",
        "type": "gcp_billing_export",
        "table": table_id,
        "anonymous": True,
        "api_endpoints": {"bigquery": endpoint},
        "backoff_seconds": 0.01,
        **extra,
    }


def run(
    engine: Engine, *sources: dict[str, Any], since: date | None = None, until: date | None = None
) -> Any:
    settings = load_settings(None).model_copy(
        update={"sources": [validate_source(s) for s in sources]}
    )
    return collect_all(engine, settings, since=since, until=until)


def by_workload(engine: Engine) -> dict[str, Decimal]:
    c = CostLineItem
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.x_workload, money_sum(c.billed_cost)).group_by(c.x_workload)
        ).all()
    return {w: Decimal(v) for w, v in rows}


# -- tests ---------------------------------------------------------------------------------------
OCTOBER = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]


def test_a_month_loads_with_credits_exactly_through_the_cli(
    bq: tuple[bigquery.Client, str], bq_url: str, db_url: str, tmp_path: Path
) -> None:
    client, dataset = bq
    table_id = export_table(client, dataset)
    rows = [r for d in OCTOBER for r in export_rows(d, hours=range(0, 24, 6))]
    insert(client, table_id, rows)
    config = tmp_path / "costagent.toml"
    config.write_text(
        f"""
[[sources]]
name = "gcp-bq"
type = "gcp_billing_export"
table = "{table_id}"
anonymous = true
api_endpoints = {{ bigquery = "{bq_url}" }}
"""
    )
    result = cli(
        "--config",
        str(config),
        "--db",
        db_url,
        "collect",
        "--since",
        "2026-10-01",
        "--until",
        "2026-10-31",
    )
    assert result.exit_code == 0, result.output
    from agent.store.engine import open_store

    engine = open_store(db_url)
    try:
        n, billed, effective, slices = cost_snapshot(engine)
        assert n == hourly_groups(rows) == 31 * 4 * len(SKUS)
        assert billed == effective == net(rows)
        assert [s for s, _ in slices] == [f"gcp-bq:{d.isoformat()}" for d in OCTOBER]
        per_sku: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            per_sku.setdefault(EXPECTED_WORKLOAD[r["sku"]["id"]], []).append(r)
        assert by_workload(engine) == {w: net(rs) for w, rs in per_sku.items()}
        c = CostLineItem
        with engine.connect() as conn:
            one = conn.execute(
                select(
                    c.tags,
                    c.resource_id,
                    c.pricing_category,
                    c.sub_account_id,
                    c.pricing_quantity,
                    c.contracted_cost,
                    c.billing_period_start,
                )
                .where(c.sku_id == "A1B2-0001")
                .order_by(c.charge_period_start)
                .limit(1)
            ).one()
            run_row = conn.execute(
                select(CollectionRun.__table__).where(CollectionRun.source == "gcp-bq")
            ).one()
        assert one.tags == {"app": "chat", "env": "prod"}  # both label orders → one group
        assert one.resource_id == ENDPOINT
        assert one.pricing_category == "Committed"  # CUD credit seen in SQL
        assert one.sub_account_id == "ml-prod"
        assert one.pricing_quantity == pytest.approx(1.0)  # two half-hours summed
        assert Decimal(one.contracted_cost) == Decimal("2.933908")
        assert one.billing_period_start == datetime(2026, 10, 1)
        assert run_row.status == "ok"
        assert run_row.details["jobs"] and run_row.details["bytes_processed"] == 0
        assert run_row.details["requests"]["bigquery"] >= 4  # table, dry run, query, page(s)
    finally:
        engine.dispose()


def test_raw_granularity_keeps_every_export_row(
    bq: tuple[bigquery.Client, str], bq_url: str, engine: Engine
) -> None:
    client, dataset = bq
    table_id = export_table(client, dataset)
    rows = export_rows(date(2026, 10, 5), hours=range(3))
    insert(client, table_id, rows)
    outcome = run(
        engine,
        source(bq_url, table_id, granularity="raw", page_size=100),
        since=date(2026, 10, 5),
        until=date(2026, 10, 5),
    )
    assert outcome[0].error is None
    n, billed, _, _ = cost_snapshot(engine)
    assert (n, billed) == (len(rows), net(rows))


def test_trailing_window_replaces_restated_days_without_doubling(
    bq: tuple[bigquery.Client, str], bq_url: str, engine: Engine
) -> None:
    client, dataset = bq
    table_id = export_table(client, dataset)
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=i) for i in (4, 3, 2, 1, 0)]
    rows = [r for d in days for r in export_rows(d, hours=range(0, 24, 8))]
    insert(client, table_id, rows)
    cfg = source(bq_url, table_id, backfill_start=days[0].isoformat(), page_size=100)

    assert run(engine, cfg)[0].error is None  # first run: backfill from days[0]
    first = cost_snapshot(engine)
    assert first[1] == net(rows)

    # Google restates yesterday: a late promotion credit arrives as extra rows.
    late = export_rows(days[3], hours=range(0, 24, 8), late=True)
    insert(client, table_id, late)
    assert run(engine, cfg)[0].error is None
    n, billed, _, slices = cost_snapshot(engine)
    assert billed == net(rows) + net(late)
    assert n == first[0]  # the late credits fold into the same hourly groups
    assert [s for s, _ in slices] == [f"gcp-bq:{d.isoformat()}" for d in days]

    again = run(engine, cfg)
    assert again[0].error is None
    assert cost_snapshot(engine) == (n, billed, billed, slices)
    with engine.connect() as conn:
        last = conn.execute(
            select(CollectionRun.__table__).order_by(CollectionRun.id.desc()).limit(1)
        ).one()
    assert sorted(last.slices) == [f"gcp-bq:{d.isoformat()}" for d in days[2:]]  # 3 days


def reported_bytes(processed: int) -> Callable[[bytes], bytes]:
    """A FaultProxy rewrite: job answers report ``processed`` bytes, as BigQuery does (the
    emulator reports 0), enough to exercise the guard and the run record."""

    def rewrite(data: bytes) -> bytes:
        if b'"statistics"' not in data:
            return data
        doc = json.loads(data)
        stats = doc.setdefault("statistics", {})
        stats["totalBytesProcessed"] = str(processed)
        stats.setdefault("query", {})["totalBytesProcessed"] = str(processed)
        if not doc.get("configuration", {}).get("dryRun"):
            stats["query"]["totalBytesBilled"] = str(processed)
        return json.dumps(doc).encode()

    return rewrite


def test_bytes_are_recorded_and_the_guard_refuses_before_spending(
    bq: tuple[bigquery.Client, str], bq_url: str, engine: Engine
) -> None:
    client, dataset = bq
    table_id = export_table(client, dataset)
    insert(client, table_id, export_rows(date(2026, 10, 7), hours=range(2)))
    with FaultProxy(bq_url, failures=0, rewrite=reported_bytes(3 * 2**30)) as proxy:  # 3 GiB
        ok = run(
            engine, source(proxy.url, table_id), since=date(2026, 10, 7), until=date(2026, 10, 7)
        )
        assert ok[0].error is None
        before = cost_snapshot(engine)
        with engine.connect() as conn:
            rec = conn.execute(select(CollectionRun.__table__)).one()
        assert rec.details["bytes_processed"] == rec.details["bytes_billed"] == 3 * 2**30
        assert Decimal(rec.api_cost) == Decimal("0.018311")  # 3/1024 TiB × $6.25

        guarded = run(
            engine,
            source(proxy.url, table_id, maximum_bytes_billed=2**30),
            {"name": "local", "type": "local_files", "paths": []},
            since=date(2026, 10, 7),
            until=date(2026, 10, 7),
        )
        by_name = {o.source: o for o in guarded}
        assert "maximum_bytes_billed" in str(by_name["gcp-bq"].error)
        assert "3.00 GiB" in str(by_name["gcp-bq"].error)
        assert cost_snapshot(engine) == before  # nothing replaced
        with engine.connect() as conn:
            jobs = conn.execute(select(func.count()).select_from(CollectionRun)).scalar_one()
        assert jobs == 3  # ok run, failed run, and the other source still ran


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_and_server_errors_are_retried(
    bq: tuple[bigquery.Client, str], bq_url: str, sqlite_url: str, status: int
) -> None:
    from agent.store.engine import open_store

    client, dataset = bq
    table_id = export_table(client, dataset)
    rows = export_rows(date(2026, 10, 9), hours=range(2))
    insert(client, table_id, rows)
    engine = open_store(sqlite_url)
    with FaultProxy(bq_url, failures=3, status=status) as proxy:
        out = run(
            engine, source(proxy.url, table_id), since=date(2026, 10, 9), until=date(2026, 10, 9)
        )
    assert out[0].error is None
    assert proxy.failed == 3
    assert cost_snapshot(engine)[1] == net(rows)
    engine.dispose()


def test_a_focus_view_loads_through_the_focus_reader(
    bq: tuple[bigquery.Client, str], bq_url: str, engine: Engine
) -> None:
    client, dataset = bq
    table_id = f"{PROJECT}.{dataset}.gcp_billing_export_focus_{ACCOUNT.replace('-', '_')}"
    schema = [
        SF("BillingAccountId", "STRING"),
        SF("BilledCost", "FLOAT"),
        SF("EffectiveCost", "FLOAT"),
        SF("ListCost", "FLOAT"),
        SF("BillingCurrency", "STRING"),
        SF("BillingPeriodStart", "TIMESTAMP"),
        SF("BillingPeriodEnd", "TIMESTAMP"),
        SF("ChargePeriodStart", "TIMESTAMP"),
        SF("ChargePeriodEnd", "TIMESTAMP"),
        SF("ChargeCategory", "STRING"),
        SF("ChargeDescription", "STRING"),
        SF("ProviderName", "STRING"),
        SF("ServiceName", "STRING"),
        SF("SkuId", "STRING"),
        SF("SubAccountId", "STRING"),
        SF("ResourceId", "STRING"),
        SF("Tags", "RECORD", mode="REPEATED", fields=KV),
    ]
    client.create_table(bigquery.Table(table_id, schema=schema))
    rows = []
    for h in range(4):
        start = datetime(2026, 10, 12, h, tzinfo=UTC)
        rows.append(
            {
                "BillingAccountId": ACCOUNT,
                "BilledCost": 1.1 + h,
                "EffectiveCost": 0.9 + h,
                "ListCost": 1.2 + h,
                "BillingCurrency": "USD",
                "BillingPeriodStart": "2026-10-01T00:00:00Z",
                "BillingPeriodEnd": "2026-11-01T00:00:00Z",
                "ChargePeriodStart": start.isoformat(),
                "ChargePeriodEnd": (start + timedelta(hours=1)).isoformat(),
                "ChargeCategory": "Usage",
                "ChargeDescription": "Gemini 2.5 Flash Input Text Tokens",
                "ProviderName": "Google Cloud",
                "ServiceName": "Vertex AI",
                "SkuId": "A1B2-0002",
                "SubAccountId": "ml-prod",
                "ResourceId": None,
                "Tags": [{"key": "app", "value": "rag"}],
            }
        )
    insert(client, table_id, rows)
    cfg = {**source(bq_url, table_id), "table": None, "focus_view": table_id}
    out = run(engine, cfg, since=date(2026, 10, 12), until=date(2026, 10, 12))
    assert out[0].error is None, out[0].error
    n, billed, effective, slices = cost_snapshot(engine)
    assert (n, billed, effective) == (4, Decimal("10.4"), Decimal("9.6"))
    assert slices == [("gcp-bq:2026-10-12", 4)]
    assert by_workload(engine) == {"inference": Decimal("10.4")}


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="exactly one of table"):
        validate_source({"name": "g", "type": "gcp_billing_export"})
    with pytest.raises(ValueError, match="granularity"):
        validate_source(
            {"name": "g", "type": "gcp_billing_export", "table": "p.d.t", "granularity": "daily"}
        )
    with pytest.raises(ValueError, match="credentials_file"):
        validate_source(
            {
                "name": "g",
                "type": "gcp_billing_export",
                "table": "p.d.t",
                "credentials_file": "/nonexistent/key.json",
            }
        )
