"""Nothing dropped, nothing off by a float step: every format AWS, FOCUS and LLM gateways
write loads with all it carries.

Real exports from ``../shared/data`` where there are some (skipped with the reason when absent);
synthetic files shaped like the providers' own documentation elsewhere.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from agent.config import load_settings
from agent.store.money import money_sum
from agent.store.schema import CostLineItem as C
from collectors.formats.aws_cur import LegacyCurReader
from collectors.importer import import_paths
from tests import cur_builder as cb
from tests.conftest import SHARED
from tests.helpers import cli

REAL = SHARED / "data" / "real"
LOGZIO_1 = REAL / "logzio-cur" / "test-billing-report-1.csv.gz"
LOGZIO_2 = REAL / "logzio-cur" / "test-billing-report-2.csv.gz"
LOGZIO_ZIP = REAL / "unsupported-formats" / "logzio-test-billing-report-1.csv.zip"


def _need(*paths: Path) -> None:
    for p in paths:
        if not p.exists():
            pytest.skip(f"real export not found at {p} (set COSTAGENT_SHARED_DIR)")


def _totals(engine: Engine) -> tuple[int, Decimal | None, Decimal | None]:
    with engine.connect() as conn:
        n, billed, effective = conn.execute(
            select(func.count(), money_sum(C.billed_cost), money_sum(C.effective_cost))
        ).one()
    return n, billed, effective


def _decimal_sum(path: Path, column: str) -> Decimal:
    with path.open(newline="") as fh:
        return sum(
            (Decimal(r[column]) for r in csv.DictReader(fh) if r[column] not in ("", "NULL")),
            Decimal(0),
        )


# -- exact doubles on SQLite, no float noise in ad-hoc SQL -------------------------------------
def test_sqlite_stores_the_double_nearest_each_decimal(sqlite_url: str, focus_sample: Path) -> None:
    """``0.34`` must read back as 0.34 (Arrow's decimal → double cast gave 0.33999999999999997
    for 95 of the sample's 1,000 rows)."""
    from agent.store.engine import open_store

    engine = open_store(sqlite_url)
    import_paths(engine, [focus_sample], load_settings(None))
    engine.dispose()
    with focus_sample.open(newline="") as fh:
        texts = [r["BilledCost"] for r in csv.DictReader(fh)]
    db = sqlite3.connect(make_url(sqlite_url).database or "")
    try:
        stored = [v for (v,) in db.execute("SELECT billed_cost FROM cost_line_items")]
        count_034 = db.execute(
            "SELECT COUNT(*) FROM cost_line_items WHERE billed_cost = 0.34"
        ).fetchone()[0]
    finally:
        db.close()
    assert sorted(stored) == sorted(float(Decimal(t)) for t in texts)
    assert count_034 == sum(1 for t in texts if Decimal(t) == Decimal("0.34")) > 0


def test_sql_sums_show_exact_money(db_url: str, engine: Engine, focus_sample: Path) -> None:
    """``costagent sql`` sums money as exact decimals on SQLite too: the figure printed is the
    exact total (not ``958.8162664608002``), through the documented views as well."""
    import_paths(engine, [focus_sample], load_settings(None))
    exact = _decimal_sum(focus_sample, "BilledCost")
    for query in (
        "SELECT SUM(billed_cost) AS total FROM cost_line_items",
        "SELECT SUM(billed) AS total FROM daily_cost",
        "SELECT TOTAL(billed_cost) AS total FROM cost_line_items"
        if db_url.startswith("sqlite")
        else "SELECT SUM(billed_cost) AS total FROM cost_line_items",
    ):
        result = cli("--db", db_url, "sql", query, "--format", "json")
        assert result.exit_code == 0, result.output
        value = json.loads(result.stdout)[0]["total"]
        assert Decimal(str(value)) == exact, (query, value)
    per_day = cli(
        "--db",
        db_url,
        "sql",
        "SELECT day, SUM(billed) AS b FROM daily_cost GROUP BY day",
        "--format",
        "csv",
    )
    assert per_day.exit_code == 0
    for line in per_day.stdout.splitlines()[1:]:
        amount = line.rsplit(",", 1)[1]
        assert len(amount.split(".")[-1].rstrip("0")) <= 12, line  # no 17-digit float tails


def test_window_sums_still_work_on_sqlite(sqlite_url: str, focus_sample: Path) -> None:
    from agent.store.engine import open_store

    engine = open_store(sqlite_url)
    import_paths(engine, [focus_sample], load_settings(None))
    engine.dispose()
    result = cli(
        "--db",
        sqlite_url,
        "sql",
        "SELECT day, SUM(SUM(billed)) OVER (ORDER BY day) AS running FROM daily_cost"
        " GROUP BY day ORDER BY day DESC LIMIT 1",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert Decimal(str(json.loads(result.stdout)[0]["running"])) == _decimal_sum(
        focus_sample, "BilledCost"
    )


# -- ZIP and legacy CUR in Parquet ---------------------------------------------------------------
def test_legacy_cur_zip_loads_like_its_gzip(engine: Engine, db_url: str) -> None:
    _need(LOGZIO_ZIP, LOGZIO_1)
    result = cli("--db", db_url, "import", str(LOGZIO_ZIP), "--source", "zip")
    assert result.exit_code == 0, result.output
    zipped = _totals(engine)
    assert cli("--db", db_url, "import", str(LOGZIO_1), "--source", "gz").exit_code == 0
    with engine.connect() as conn:
        by_source = {
            s: (n, b)
            for s, n, b in conn.execute(
                select(C.x_source, func.count(), money_sum(C.billed_cost)).group_by(C.x_source)
            )
        }
    assert zipped[0] == 19_412
    assert by_source["zip"] == by_source["gz"] == (19_412, zipped[1])


def test_legacy_cur_parquet_keeps_tags_and_the_workload_override(
    engine: Engine, tmp_path: Path
) -> None:
    lines = cb.month_lines()
    path = cb.write_legacy_parquet(tmp_path / "legacy.snappy.parquet", lines)

    summary = import_paths(engine, [path], load_settings(None))

    assert summary.files[0][1] == "aws_cur_legacy_parquet"
    with engine.connect() as conn:
        rows = conn.execute(
            select(C.x_workload, money_sum(C.billed_cost), money_sum(C.effective_cost)).group_by(
                C.x_workload
            )
        ).all()
        tagged = conn.execute(
            select(C.tags).where(C.resource_id == "i-0a7c3e5f9b1d24680")
        ).scalars()
        tags = list(tagged)
        slices = conn.execute(select(C.x_slice).distinct()).scalars().all()
    assert {w: (b, e) for w, b, e in rows} == cb.expected(lines)
    assert tags and all(t == {"user_workload": "inference"} for t in tags)
    assert slices == [f"aws_cur_legacy:{cb.PAYER}:2026-09"]  # the same bill as the CSV's


def test_real_legacy_cur_as_athena_parquet_equals_its_csv(engine: Engine, tmp_path: Path) -> None:
    """The real 2018-03 report rewritten the way AWS writes the legacy CUR for Athena."""
    _need(LOGZIO_2)
    table = pacsv.read_csv(
        LOGZIO_2,
        convert_options=pacsv.ConvertOptions(
            column_types={}, strings_can_be_null=True, null_values=[""]
        ),
        read_options=pacsv.ReadOptions(autogenerate_column_names=False),
    )
    table = table.cast(pa.schema([(f.name, pa.string()) for f in table.schema]))
    renamed = [
        "resource_tags_" + c.split("/", 1)[1].replace(":", "_").lower()
        if c.startswith("resourceTags/")
        else LegacyCurReader.rename(c).lower()
        for c in table.column_names
    ]
    path = tmp_path / "athena.parquet"
    pq.write_table(table.rename_columns(renamed), path)

    import_paths(engine, [LOGZIO_2], load_settings(None), source="csv")
    summary = import_paths(engine, [path], load_settings(None), source="parquet")

    assert summary.files[0][1] == "aws_cur_legacy_parquet"
    with engine.connect() as conn:
        by_source = dict(
            (s, (n, b, w))
            for s, n, b, w in conn.execute(
                select(
                    C.x_source, func.count(), money_sum(C.billed_cost), func.count(C.x_workload)
                ).group_by(C.x_source)
            )
        )
    assert by_source["csv"] == by_source["parquet"]
    assert by_source["csv"][0] == 2660


# -- FOCUS 1.2 and 1.3 columns, LiteLLM's FOCUS export ------------------------------------------
FOCUS_12 = {
    "InvoiceId": "INV-2026-10-0042",
    "PricingCurrency": "EUR",
    "PricingCurrencyContractedUnitPrice": "0.0921",
    "PricingCurrencyEffectiveCost": "0.8289",
    "PricingCurrencyListUnitPrice": "0.1",
    "SkuPriceDetails": '{"CoreCount": 4, "x_GpuType": "A100"}',
    "CommitmentDiscountQuantity": "9.5",
    "CommitmentDiscountUnit": "Hours",
    "BillingAccountType": "Billing Profile",
    "SubAccountType": "Subscription",
    "CapacityReservationId": "cr-0abc",
    "CapacityReservationStatus": "Used",
}
FOCUS_13 = {
    "ServiceProviderName": "Microsoft",
    "HostProviderName": "Microsoft",
    "AllocatedMethodId": "k8s-cpu-memory",
    "AllocatedMethodDetails": '{"Elements": [{"AllocatedRatio": 0.25, "UsageUnit": "vCPU"}]}',
    "AllocatedResourceId": "aks/prod/ns-search/pod/indexer-7c9",
    "AllocatedResourceName": "indexer-7c9",
    "AllocatedTags": '{"app": "indexer"}',
    "ContractApplied": (
        '{"Elements": [{"ContractID": "C-1", "ContractCommitmentAppliedCost": 2.5}]}'
    ),
}


def _focus_with(sample: Path, tmp: Path, extra: dict[str, str], drop: tuple[str, ...] = ()) -> Path:
    with sample.open(newline="") as fh:
        rows = list(csv.DictReader(fh))[:40]
    header = [c for c in rows[0] if c not in drop] + list(extra)
    path = tmp / "focus-new.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, header, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({**r, **extra})
    return path


def test_focus_12_and_13_columns_are_stored(
    engine: Engine, focus_sample: Path, tmp_path: Path
) -> None:
    path = _focus_with(focus_sample, tmp_path, {**FOCUS_12, **FOCUS_13, "x_Custom": "kept"})

    import_paths(engine, [path], load_settings(None))

    with Session(engine) as session:
        row = session.scalars(select(C).limit(1)).one()
    assert row.invoice_id == "INV-2026-10-0042"
    assert row.pricing_currency == "EUR"
    assert row.pricing_currency_effective_cost == Decimal("0.8289")
    assert row.pricing_currency_list_unit_price == Decimal("0.1")
    assert row.sku_price_details == {"CoreCount": 4, "x_GpuType": "A100"}
    assert row.commitment_discount_quantity == 9.5 and row.commitment_discount_unit == "Hours"
    assert (row.billing_account_type, row.sub_account_type) == ("Billing Profile", "Subscription")
    assert (row.capacity_reservation_id, row.capacity_reservation_status) == ("cr-0abc", "Used")
    assert (row.service_provider_name, row.host_provider_name) == ("Microsoft", "Microsoft")
    assert row.allocated_resource_id == "aks/prod/ns-search/pod/indexer-7c9"
    assert row.allocated_resource_name == "indexer-7c9"
    assert row.allocated_method_id == "k8s-cpu-memory"
    assert row.allocated_method_details == {
        "Elements": [{"AllocatedRatio": 0.25, "UsageUnit": "vCPU"}]
    }
    assert row.allocated_tags == {"app": "indexer"}
    assert row.contract_applied["Elements"][0]["ContractID"] == "C-1"
    assert row.x_raw["x_Custom"] == "kept"  # outside FOCUS and the store: kept per row


def test_focus_13_without_provider_name(engine: Engine, focus_sample: Path, tmp_path: Path) -> None:
    """ProviderName is deprecated in 1.3: a file naming only ServiceProviderName still loads."""
    path = _focus_with(
        focus_sample, tmp_path, {"ServiceProviderName": "AWS"}, drop=("ProviderName",)
    )
    summary = import_paths(engine, [path], load_settings(None))
    assert summary.files[0][1] == "focus"
    with engine.connect() as conn:
        providers = conn.execute(select(C.provider_name).distinct()).scalars().all()
    assert providers == ["AWS"]


def _litellm_day(path: Path, day: str, rows: list[tuple[str, str, str, str]]) -> Path:
    """LiteLLM's FOCUS 1.2 export (litellm/integrations/focus, 1.110): one Parquet file of
    daily spend per key, model and team; costs decimal(18,6); periods as ISO text; the model in
    ResourceId/ResourceName/ChargeDescription and the ``model`` tag; billing period = the day."""
    start = datetime.fromisoformat(day)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    n = len(rows)
    s0, s1 = start.strftime(iso), (start + timedelta(days=1)).strftime(iso)
    money = pa.array([Decimal(r[3]) for r in rows], pa.decimal128(18, 6))
    strings: dict[str, list[Any]] = {
        "BillingAccountId": ["sk-...hashed-key-1"] * n,
        "BillingAccountName": ["prod-key"] * n,
        "BillingAccountType": ["API Key"] * n,
        "BillingCurrency": ["USD"] * n,
        "BillingPeriodEnd": [s1] * n,
        "BillingPeriodStart": [s0] * n,
        "ChargeCategory": ["Usage"] * n,
        "ChargeClass": [None] * n,
        "ChargeDescription": [r[1] for r in rows],
        "ChargeFrequency": ["Usage-Based"] * n,
        "ChargePeriodEnd": [s1] * n,
        "ChargePeriodStart": [s0] * n,
        "ConsumedUnit": ["Requests"] * n,
        "ContractedUnitPrice": [None] * n,
        "InvoiceIssuerName": [r[0] for r in rows],
        "InvoiceId": [None] * n,
        "PricingCurrency": ["USD"] * n,
        "PricingUnit": ["Requests"] * n,
        "ProviderName": [r[0] for r in rows],
        "PublisherName": [r[0] for r in rows],
        "ResourceId": [r[1] for r in rows],
        "ResourceName": [r[1] for r in rows],
        "ResourceType": [r[1] for r in rows],
        "ServiceCategory": ["AI and Machine Learning"] * n,
        "ServiceSubcategory": ["Generative AI"] * n,
        "ServiceName": [r[1] for r in rows],
        "SubAccountId": [r[2] for r in rows],
        "SubAccountName": [r[2] for r in rows],
        "Tags": [json.dumps({"model": r[1], "team_id": r[2]}) for r in rows],
    }
    cols = {k: pa.array(v, pa.large_string()) for k, v in strings.items()}
    for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        cols[name] = money
    cols["PricingQuantity"] = cols["ConsumedQuantity"] = pa.array(
        [Decimal(12)] * n, pa.decimal128(18, 6)
    )
    pq.write_table(pa.table(cols), path)
    return path


def test_litellm_focus_export_loads_as_llm_inference(engine: Engine, tmp_path: Path) -> None:
    day1 = _litellm_day(
        tmp_path / "usage_20261001.parquet",
        "2026-10-01",
        [
            ("openai", "gpt-4o-mini", "team-a", "0.000360"),
            ("anthropic", "claude-3-5-haiku-20241022", "team-b", "1.250000"),
        ],
    )
    day2 = _litellm_day(
        tmp_path / "usage_20261002.parquet",
        "2026-10-02",
        [("openai", "gpt-4o-mini", "team-a", "2.5")],
    )
    import_paths(engine, [day1], load_settings(None))
    import_paths(engine, [day2], load_settings(None))  # a day's file replaces that day only

    with engine.connect() as conn:
        rows = conn.execute(
            select(C.provider_name, C.x_model, C.x_workload, C.billed_cost, C.x_slice).order_by(
                C.x_slice, C.billed_cost
            )
        ).all()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("openai", "gpt-4o-mini", "inference", Decimal("0.00036")),
        ("anthropic", "claude-3-5-haiku-20241022", "inference", Decimal("1.25")),
        ("openai", "gpt-4o-mini", "inference", Decimal("2.5")),
    ]
    assert {r[4] for r in rows} == {
        "focus:sk-...hashed-key-1:2026-10-01",
        "focus:sk-...hashed-key-1:2026-10-02",
    }


# -- CUR 2.0 split cost allocation ---------------------------------------------------------------
def _split_lines() -> list[cb.Line]:
    node = "i-0123456789abcdef0"
    pod = "arn:aws:eks:us-east-1:111122223333:pod/prod/search/indexer-7c9/1a2b-uid"
    other = "arn:aws:eks:us-east-1:111122223333:pod/prod/web/api-5f4/3c4d-uid"
    d = Decimal
    lines = [
        cb.Line(
            "Usage",
            "AmazonEC2",
            "Amazon Elastic Compute Cloud",
            "BoxUsage:g5.2xlarge",
            d("1.212"),
            d("1.212"),
            "other",
            0,
            node,
            tags={"aws_eks_cluster_name": "prod"},
        )
    ]
    for arn, usage, split, unused, labels in (
        (
            pod,
            "USE1-EKS-EC2-vCPU-Hours",
            "0.5",
            "0.05",
            {"user_app": "indexer", "aws_eks_namespace": "search"},
        ),
        (
            pod,
            "USE1-EKS-EC2-Accelerator-Hours",
            "0.3",
            "0.02",
            {"user_app": "indexer", "aws_eks_namespace": "search"},
        ),
        (
            other,
            "USE1-EKS-EC2-vCPU-Hours",
            "0.3",
            "0.042",
            {"user_app": "api", "aws_eks_namespace": "web"},
        ),
    ):
        lines.append(
            cb.Line(
                "Usage",
                "AmazonEKS",
                "Amazon Elastic Kubernetes Service",
                usage,
                d(0),
                d(0),
                "other",
                0,
                arn,
                tags=labels,
                extra={
                    "line_item_operation": "EKSPod-EC2",
                    "split_line_item_parent_resource_id": node,
                    "split_line_item_split_cost": float(split),
                    "split_line_item_unused_cost": float(unused),
                },
            )
        )
    return lines


def test_split_cost_allocation_is_queryable_per_pod_without_double_counting(
    engine: Engine, tmp_path: Path
) -> None:
    lines = _split_lines()
    rows = cb.cur2_rows(lines)
    table = cb._arrow_table(rows)
    for name in ("split_line_item_parent_resource_id",):
        table = table.append_column(name, pa.array([r.get(name) for r in rows], pa.string()))
    for name in ("split_line_item_split_cost", "split_line_item_unused_cost"):
        table = table.append_column(name, pa.array([r.get(name) for r in rows], pa.float64()))
    path = tmp_path / "cur2-split.parquet"
    pq.write_table(table, path)

    import_paths(engine, [path], load_settings(None))

    assert _totals(engine)[1] == Decimal("1.212")  # the node once, the pods at 0 as billed
    with engine.connect() as conn:
        pods = conn.execute(
            select(
                C.allocated_resource_name,
                C.resource_id,
                money_sum(C.x_allocated_cost),
                money_sum(C.x_allocated_unused_cost),
            )
            .where(C.allocated_resource_id.is_not(None))
            .group_by(C.allocated_resource_name, C.resource_id)
            .order_by(C.allocated_resource_name)
        ).all()
        labels = (
            conn.execute(select(C.allocated_tags).where(C.allocated_resource_name == "indexer-7c9"))
            .scalars()
            .all()
        )
        method = (
            conn.execute(
                select(C.allocated_method_id).where(C.allocated_resource_id.is_not(None)).distinct()
            )
            .scalars()
            .all()
        )
    assert [tuple(p) for p in pods] == [
        ("api-5f4", "i-0123456789abcdef0", Decimal("0.3"), Decimal("0.042")),
        ("indexer-7c9", "i-0123456789abcdef0", Decimal("0.8"), Decimal("0.07")),
    ]
    assert sum(p[2] + p[3] for p in pods) == Decimal("1.212")  # the node's cost, allocated
    assert all(t["user_app"] == "indexer" for t in labels)
    assert method == ["AWS split cost allocation"]


def test_marketplace_bedrock_and_product_codes_classify(engine: Engine, tmp_path: Path) -> None:
    d = Decimal
    lines = [
        cb.Line(
            "Usage",
            "7zgyu5r4ab12cd34ef56gh78",
            "Claude 3 Haiku (Amazon Bedrock Edition)",
            "USE1-MP:USE1_InputTokenCount-Units",
            d("4.2"),
            d("4.2"),
            "inference",
            extra={"bill_billing_entity": "AWS Marketplace"},
        ),
        cb.Line(
            "Usage",
            "AmazonES",
            "AmazonES",
            "USE1-IndexingOCU",
            d("5.76"),
            d("5.76"),
            "vector_storage",
        ),
    ]
    rows = cb.cur2_rows(lines)
    rows[1]["product"] = {}  # no product name: the service is known by its code only
    path = tmp_path / "cur2.parquet"
    pq.write_table(cb._arrow_table(rows), path)

    import_paths(engine, [path], load_settings(None))

    with engine.connect() as conn:
        got = conn.execute(
            select(C.x_usage_type, C.service_name, C.x_workload, C.x_model).order_by(C.billed_cost)
        ).all()
    assert [tuple(r) for r in got] == [
        (
            "USE1-MP:USE1_InputTokenCount-Units",
            "Claude 3 Haiku (Amazon Bedrock Edition)",
            "inference",
            "Claude 3 Haiku",
        ),
        ("USE1-IndexingOCU", "AmazonES", "vector_storage", None),
    ]
