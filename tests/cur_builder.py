"""A small, hand-checkable CUR month written the ways AWS writes it.

The rows cover every line item type whose effective cost has its own rule (Savings Plan covered
usage, negation and recurring fee; reserved usage, RI fee and RI upfront fee) plus tax, a credit
and a refund, so a test can check billed and effective totals per workload by hand.  Writers
produce the CUR 2.0 Data Export layout (Parquet with map columns, or gzipped CSV with the maps as
JSON) and the legacy CUR (``lineItem/UnblendedCost`` headers, ``resourceTags/user:…`` columns).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PAYER = "111122223333"
SP_ARN = "arn:aws:savingsplans::111122223333:savingsplan/0f1e2d3c-sp"
RI_ARN = "arn:aws:ec2:us-east-1:111122223333:reserved-instances/ri-1234"

STRING_COLUMNS = (
    "identity_line_item_id",
    "identity_time_interval",
    "bill_bill_type",
    "bill_billing_entity",
    "bill_invoicing_entity",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "line_item_usage_account_id",
    "line_item_line_item_type",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_operation",
    "line_item_resource_id",
    "line_item_currency_code",
    "line_item_line_item_description",
    "line_item_availability_zone",
    "line_item_unblended_rate",
    "pricing_public_on_demand_rate",
    "pricing_term",
    "pricing_unit",
    "product_region_code",
    "product_instance_type",
    "product_sku",
    "savings_plan_savings_plan_a_r_n",
    "reservation_reservation_a_r_n",
    "savings_plan_offering_type",
)
TIME_COLUMNS = (
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
)
NUMBER_COLUMNS = (
    "line_item_usage_amount",
    "line_item_unblended_cost",
    "pricing_public_on_demand_cost",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
)
# Columns a real export has and the reader must skip unread.
NOISE_COLUMNS = ("line_item_blended_cost", "line_item_normalization_factor", "pricing_rate_code")


@dataclass
class Line:
    """One CUR line; ``billed`` and ``effective`` are what the reader must produce."""

    line_type: str
    product_code: str
    product_name: str
    usage_type: str | None
    unblended: Decimal
    effective: Decimal
    workload: str
    hour: int = 0
    resource_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def month_lines(month: str = "2026-09", scale: Decimal = Decimal(1)) -> list[Line]:
    """The month's lines; ``scale`` multiplies usage so a restatement can change the totals."""
    d = Decimal
    hosting = "arn:aws:sagemaker:us-east-1:111122223333:endpoint/chat-prod"
    lines: list[Line] = []
    for h in range(6):  # SageMaker hosting: inference by the built-in rule
        cost = d("1.515") * scale
        lines.append(
            Line(
                "Usage",
                "AmazonSageMaker",
                "Amazon SageMaker",
                "USE1-Hosting:ml.g5.2xlarge",
                cost,
                cost,
                "inference",
                h,
                hosting,
            )
        )
    for h in range(2):  # SageMaker training
        cost = d("37.688") * scale
        lines.append(
            Line(
                "Usage",
                "AmazonSageMaker",
                "Amazon SageMaker",
                "USE1-Train:ml.p4d.24xlarge",
                cost,
                cost,
                "training",
                h,
                "arn:aws:sagemaker:us-east-1:111122223333:training-job/ft-1",
            )
        )
    vllm = "i-0a7c3e5f9b1d24680"
    for h in range(3):  # EC2 GPU box covered by a Compute Savings Plan, tagged for inference
        on_demand, sp_rate = d("5.672"), d("3.9704")
        lines.append(
            Line(
                "SavingsPlanCoveredUsage",
                "AmazonEC2",
                "Amazon Elastic Compute Cloud",
                "BoxUsage:g5.12xlarge",
                on_demand,
                sp_rate,
                "inference",
                h,
                vllm,
                {"user_workload": "inference"},
                {
                    "savings_plan_savings_plan_effective_cost": sp_rate,
                    "savings_plan_savings_plan_a_r_n": SP_ARN,
                },
            )
        )
        lines.append(
            Line(
                "SavingsPlanNegation",
                "AmazonEC2",
                "Amazon Elastic Compute Cloud",
                "BoxUsage:g5.12xlarge",
                -on_demand,
                d(0),
                "inference",
                h,
                vllm,
                {"user_workload": "inference"},
                {"savings_plan_savings_plan_a_r_n": SP_ARN},
            )
        )
        lines.append(
            Line(
                "SavingsPlanRecurringFee",
                "ComputeSavingsPlans",
                "Savings Plans for AWS Compute usage",
                "ComputeSP:1yrNoUpfront",
                d("4.25"),
                d("4.25") - sp_rate,
                "other",
                h,
                SP_ARN,
                extra={
                    "savings_plan_total_commitment_to_date": d("4.25"),
                    "savings_plan_used_commitment": sp_rate,
                    "savings_plan_savings_plan_a_r_n": SP_ARN,
                    "savings_plan_offering_type": "ComputeSavingsPlans",
                },
            )
        )
    for h in range(2):  # an m6i reserved instance: reserved usage and its hourly fee
        lines.append(
            Line(
                "DiscountedUsage",
                "AmazonEC2",
                "Amazon Elastic Compute Cloud",
                "BoxUsage:m6i.large",
                d(0),
                d("0.061"),
                "other",
                h,
                "i-0123456789abcdef0",
                extra={
                    "reservation_effective_cost": d("0.061"),
                    "reservation_reservation_a_r_n": RI_ARN,
                },
            )
        )
        lines.append(
            Line(
                "RIFee",
                "AmazonEC2",
                "Amazon Elastic Compute Cloud",
                "HeavyUsage:m6i.large",
                d("0.035"),
                d("0.0075"),
                "other",
                h,
                RI_ARN,
                extra={
                    "reservation_unused_amortized_upfront_fee_for_billing_period": d("0.005"),
                    "reservation_unused_recurring_fee": d("0.0025"),
                    "reservation_reservation_a_r_n": RI_ARN,
                },
            )
        )
    lines.append(  # the RI's upfront payment: amortized into its usage, so no effective cost
        Line(
            "Fee",
            "AmazonEC2",
            "Amazon Elastic Compute Cloud",
            "HeavyUsage:m6i.large",
            d("219.00"),
            d(0),
            "other",
            0,
            RI_ARN,
            extra={"reservation_reservation_a_r_n": RI_ARN},
        )
    )
    for h in range(4):  # Bedrock tokens and OpenSearch Serverless OCUs
        tokens = d("0.321") * scale
        lines.append(
            Line(
                "Usage",
                "AmazonBedrock",
                "Amazon Bedrock",
                "USE1-Claude3Haiku-input-tokens",
                tokens,
                tokens,
                "inference",
                h,
            )
        )
        ocu = d("0.24") * scale
        lines.append(
            Line(
                "Usage",
                "AmazonES",
                "Amazon OpenSearch Service",
                "USE1-SearchOCU",
                ocu,
                ocu,
                "vector_storage",
                h,
                "arn:aws:aoss:us-east-1:111122223333:collection/rag",
            )
        )
    lines.append(  # untagged S3 storage
        Line(
            "Usage",
            "AmazonS3",
            "Amazon Simple Storage Service",
            "TimedStorage-ByteHrs",
            d("0.0123456789"),
            d("0.0123456789"),
            "other",
            0,
            "training-data-bucket",
        )
    )
    lines += [
        Line("Tax", "AmazonBedrock", "Amazon Bedrock", None, d("1.23"), d("1.23"), "inference"),
        Line("Tax", "AmazonSageMaker", "Amazon SageMaker", None, d("3.45"), d("3.45"), "other"),
        Line(
            "Credit", "AmazonBedrock", "Amazon Bedrock", None, d("-5.00"), d("-5.00"), "inference"
        ),
        Line(
            "Refund",
            "AmazonS3",
            "Amazon Simple Storage Service",
            None,
            d("-0.50"),
            d("-0.50"),
            "other",
        ),
    ]
    return lines


def expected(lines: list[Line]) -> dict[str, tuple[Decimal, Decimal]]:
    """(billed, effective) per workload."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for ln in lines:
        b, e = out.get(ln.workload, (Decimal(0), Decimal(0)))
        out[ln.workload] = (b + ln.unblended, e + ln.effective)
    return out


def cur2_rows(lines: list[Line], month: str = "2026-09") -> list[dict[str, Any]]:
    start = datetime.fromisoformat(f"{month}-01")
    end = (start + timedelta(days=32)).replace(day=1)
    rows = []
    for i, ln in enumerate(lines):
        t0 = start + timedelta(hours=ln.hour)
        row: dict[str, Any] = {c: None for c in (*STRING_COLUMNS, *TIME_COLUMNS, *NUMBER_COLUMNS)}
        row.update(
            identity_line_item_id=f"line-{i}",
            identity_time_interval=f"{t0.isoformat()}Z/{(t0 + timedelta(hours=1)).isoformat()}Z",
            bill_bill_type="Anniversary",
            bill_billing_entity="AWS",
            bill_invoicing_entity="Amazon Web Services, Inc.",
            bill_payer_account_id=PAYER,
            bill_payer_account_name="Example Corp",
            line_item_usage_account_id=PAYER,
            line_item_line_item_type=ln.line_type,
            line_item_product_code=ln.product_code,
            line_item_usage_type=ln.usage_type,
            line_item_operation="RunInstance" if ln.usage_type else None,
            line_item_resource_id=ln.resource_id,
            line_item_currency_code="USD",
            line_item_line_item_description=f"{ln.line_type} for {ln.product_name}",
            line_item_availability_zone="us-east-1a" if ln.resource_id else None,
            pricing_term="OnDemand" if ln.line_type == "Usage" else None,
            pricing_unit="Hrs" if ln.usage_type else None,
            product_region_code="us-east-1",
            bill_billing_period_start_date=start,
            bill_billing_period_end_date=end,
            line_item_usage_start_date=t0,
            line_item_usage_end_date=t0 + timedelta(hours=1),
            line_item_usage_amount=Decimal(1),
            line_item_unblended_cost=ln.unblended,
            product={"product_name": ln.product_name, "servicecode": ln.product_code},
            resource_tags=dict(ln.tags),
        )
        row.update(ln.extra)
        rows.append(row)
    return rows


def _arrow_table(rows: list[dict[str, Any]]) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for c in STRING_COLUMNS:
        cols[c] = pa.array([r[c] for r in rows], pa.string())
    for c in TIME_COLUMNS:
        cols[c] = pa.array([r[c] for r in rows], pa.timestamp("ms", tz="UTC"))
    for c in NUMBER_COLUMNS:
        # AWS writes doubles; the test values are exact in their shortest repr.
        cols[c] = pa.array([None if r[c] is None else float(r[c]) for r in rows], pa.float64())
    for c in NOISE_COLUMNS:
        cols[c] = pa.array(["x"] * len(rows))
    for c in ("product", "resource_tags"):
        cols[c] = pa.array([list(r[c].items()) for r in rows], pa.map_(pa.string(), pa.string()))
    return pa.table(cols)


def write_data_export(
    root: Path, lines: list[Line], month: str = "2026-09", chunks: int = 2, fmt: str = "parquet"
) -> Path:
    """``root/data/BILLING_PERIOD=YYYY-MM/part-N.(snappy.parquet|csv.gz)`` plus a manifest."""
    rows = cur2_rows(lines, month)
    folder = root / "data" / f"BILLING_PERIOD={month}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    size = -(-len(rows) // chunks)
    names = []
    for k in range(chunks):
        part = rows[k * size : (k + 1) * size]
        if fmt == "parquet":
            path = folder / f"part-{k:05d}.snappy.parquet"
            pq.write_table(_arrow_table(part), path, compression="snappy")
        else:
            path = folder / f"part-{k:05d}.csv.gz"
            _write_csv(path, part, cur2_header(), _cur2_value, gz=True)
        names.append(str(path.relative_to(root)))
    meta = root / "metadata" / f"BILLING_PERIOD={month}"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "cur2-Manifest.json").write_text(json.dumps({"dataFiles": names}))
    return root


def cur2_header() -> list[str]:
    return [*STRING_COLUMNS, *TIME_COLUMNS, *NUMBER_COLUMNS, "product", "resource_tags"]


def _cur2_value(row: dict[str, Any], column: str) -> str:
    value = row[column]
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


_CAP = re.compile(r"_([a-z])")


def legacy_name(cur2: str) -> str:
    """``line_item_usage_type`` → ``lineItem/UsageType`` (the inverse of AWS's rule)."""
    groups = ("line_item", "savings_plan", "reservation", "pricing", "product", "bill", "identity")
    for g in groups:
        if cur2.startswith(g + "_"):
            field = cur2[len(g) + 1 :]
            camel_group = _CAP.sub(lambda m: m.group(1).upper(), g)
            arn = field.endswith("_a_r_n")
            if arn:
                field = field[: -len("_a_r_n")]
            camel = _CAP.sub(lambda m: m.group(1).upper(), "_" + field)
            return f"{camel_group}/{camel}{'ARN' if arn else ''}"
    raise ValueError(cur2)


def write_legacy_csv(path: Path, lines: list[Line], month: str = "2026-09") -> Path:
    rows = cur2_rows(lines, month)
    tag_keys = sorted({k for r in rows for k in r["resource_tags"]})
    scalar = [*STRING_COLUMNS, *TIME_COLUMNS, *NUMBER_COLUMNS]
    header = [legacy_name(c) for c in scalar] + ["product/ProductName"]
    header += [f"resourceTags/{k.replace('_', ':', 1)}" for k in tag_keys]

    def value(row: dict[str, Any], column: str) -> str:
        if column == "product/ProductName":
            return str(row["product"]["product_name"])
        if column.startswith("resourceTags/"):
            key = column.split("/", 1)[1].replace(":", "_", 1)
            return str(row["resource_tags"].get(key, ""))
        return _cur2_value(row, scalar[header.index(column)])

    _write_csv(path, rows, header, value, gz=False)
    return path


def _write_csv(
    path: Path, rows: list[dict[str, Any]], header: list[str], value: Any, gz: bool
) -> None:
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="") as fh:  # type: ignore[operator]
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([value(r, c) for c in header])


def write_legacy_parquet(path: Path, lines: list[Line], month: str = "2026-09") -> Path:
    """The legacy CUR as AWS writes it for Athena: CUR 2.0's snake_case names, typed columns,
    ``product_product_name`` and one lower-cased ``resource_tags_user_…`` column per tag."""
    rows = cur2_rows(lines, month)
    table = _arrow_table(rows).drop_columns(["product", "resource_tags"])
    table = table.append_column(
        "product_product_name", pa.array([r["product"]["product_name"] for r in rows])
    )
    for key in sorted({k for r in rows for k in r["resource_tags"]}):
        values = [r["resource_tags"].get(key) for r in rows]
        table = table.append_column(f"resource_tags_{key.lower()}", pa.array(values, pa.string()))
    pq.write_table(table, path)
    return path
