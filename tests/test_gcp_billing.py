"""GCP billing export rows in the three shapes ``bq extract`` and flattening queries produce.

Net cost is ``cost`` plus the credits, summed exactly; labels become tags; the invoice month,
not the usage day, decides the billing period (late usage is invoiced in the next month).
"""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select

from agent.config import load_settings
from agent.store.money import money_sum
from agent.store.schema import CostLineItem as C
from collectors.importer import import_paths
from tests.helpers import cli, cost_snapshot

ACCOUNT = "01D3M0-5YN7H3-71C000"
VERTEX = {"id": "C7E2-9256-1C43", "description": "Vertex AI"}
GCE = {"id": "6F81-5844-456A", "description": "Compute Engine"}


def _row(
    service: dict[str, str],
    sku: str,
    day: str,
    cost: str,
    credits: list[tuple[str, str]] = (),  # type: ignore[assignment]
    labels: dict[str, str] | None = None,
    invoice: str = "202610",
    resource: str | None = None,
    cost_type: str = "regular",
) -> dict[str, Any]:
    return {
        "billing_account_id": ACCOUNT,
        "service": service,
        "sku": {"id": f"SKU-{abs(hash(sku)) % 10_000:04d}", "description": sku},
        "usage_start_time": f"{day} 00:00:00 UTC",
        "usage_end_time": f"{day} 01:00:00 UTC",
        "project": {
            "id": "ml-prod",
            "number": "123456789012",
            "name": "ML Prod",
            "labels": [{"key": "env", "value": "prod"}],
        },
        "labels": [{"key": k, "value": v} for k, v in (labels or {}).items()],
        "system_labels": [],
        "location": {
            "location": "us-central1",
            "country": "US",
            "region": "us-central1",
            "zone": None,
        },
        "resource": None
        if resource is None
        else {"name": resource.rsplit("/", 1)[-1], "global_name": resource},
        "cost": float(cost),
        "currency": "USD",
        "usage": {
            "amount": 3600.0,
            "unit": "seconds",
            "amount_in_pricing_units": 1.0,
            "pricing_unit": "hour",
        },
        "credits": [
            {"name": n, "amount": float(a), "full_name": None, "id": n, "type": t}
            for (n, a), t in zip(credits, ["SUSTAINED_USAGE_DISCOUNT"] * len(credits), strict=True)
        ],
        "invoice": {"month": invoice},
        "cost_type": cost_type,
        "cost_at_list": float(cost),
    }


ENDPOINT = "//aiplatform.googleapis.com/projects/ml-prod/locations/us-central1/endpoints/42"
ROWS = [
    _row(
        VERTEX,
        "Vertex AI: Online/Batch Prediction NVIDIA A100 running in Americas",
        "2026-10-01",
        "3.673",
        resource=ENDPOINT,
    ),
    _row(
        VERTEX,
        "Vertex AI: Online/Batch Prediction NVIDIA A100 running in Americas",
        "2026-10-02",
        "3.673",
        resource=ENDPOINT,
    ),
    _row(VERTEX, "Custom Training A100 GPU running in Americas", "2026-10-02", "29.386"),
    _row(VERTEX, "Vector Search index serving e2-standard-16", "2026-10-03", "0.75"),
    _row(
        GCE,
        "Nvidia Tesla T4 GPU running in Americas",
        "2026-10-03",
        "0.35",
        credits=[("Sustained use discount", "-0.070001"), ("Free tier", "-0.01")],
        labels={"workload": "training", "team": "research"},
    ),
    _row(
        GCE,
        "N1 Predefined Instance Core running in Americas",
        "2026-09-30",
        "0.031611",
        credits=[("Sustained use discount", "-0.006322")],
    ),  # late usage, October invoice
    _row(GCE, "Tax", "2026-10-01", "1.25", cost_type="tax"),
]
NET = {
    "inference": Decimal("7.346"),
    "training": Decimal("29.386") + Decimal("0.35") - Decimal("0.080001"),
    "vector_storage": Decimal("0.75"),
    "other": Decimal("0.031611") - Decimal("0.006322") + Decimal("1.25"),
}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt") as fh:  # type: ignore[operator]
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Nested records as ``bq extract --destination_format PARQUET`` writes them."""
    kv = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
    schema = pa.schema(
        [
            ("billing_account_id", pa.string()),
            ("service", pa.struct([("id", pa.string()), ("description", pa.string())])),
            ("sku", pa.struct([("id", pa.string()), ("description", pa.string())])),
            ("usage_start_time", pa.timestamp("us", tz="UTC")),
            ("usage_end_time", pa.timestamp("us", tz="UTC")),
            (
                "project",
                pa.struct(
                    [
                        ("id", pa.string()),
                        ("number", pa.string()),
                        ("name", pa.string()),
                        ("labels", kv),
                    ]
                ),
            ),
            ("labels", kv),
            ("system_labels", kv),
            (
                "location",
                pa.struct(
                    [
                        ("location", pa.string()),
                        ("country", pa.string()),
                        ("region", pa.string()),
                        ("zone", pa.string()),
                    ]
                ),
            ),
            ("resource", pa.struct([("name", pa.string()), ("global_name", pa.string())])),
            ("cost", pa.float64()),
            ("currency", pa.string()),
            (
                "usage",
                pa.struct(
                    [
                        ("amount", pa.float64()),
                        ("unit", pa.string()),
                        ("amount_in_pricing_units", pa.float64()),
                        ("pricing_unit", pa.string()),
                    ]
                ),
            ),
            (
                "credits",
                pa.list_(
                    pa.struct(
                        [
                            ("name", pa.string()),
                            ("amount", pa.float64()),
                            ("full_name", pa.string()),
                            ("id", pa.string()),
                            ("type", pa.string()),
                        ]
                    )
                ),
            ),
            ("invoice", pa.struct([("month", pa.string())])),
            ("cost_type", pa.string()),
            ("cost_at_list", pa.float64()),
        ]
    )
    from datetime import datetime

    def ts(text: str) -> datetime:
        return datetime.fromisoformat(text.replace(" UTC", "+00:00"))

    data = [
        {
            **r,
            "usage_start_time": ts(r["usage_start_time"]),
            "usage_end_time": ts(r["usage_end_time"]),
        }
        for r in rows
    ]
    pq.write_table(pa.Table.from_pylist(data, schema=schema), path)
    return path


def write_flat_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A flattening query's CSV: ``service.description`` columns, credits and labels as JSON."""
    header = [
        "billing_account_id",
        "service.description",
        "sku.id",
        "sku.description",
        "usage_start_time",
        "usage_end_time",
        "project.id",
        "project.name",
        "labels",
        "location.region",
        "resource.global_name",
        "cost",
        "currency",
        "usage.amount_in_pricing_units",
        "usage.pricing_unit",
        "credits",
        "invoice.month",
        "cost_type",
    ]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            flat = []
            for col in header:
                top, _, sub = col.partition(".")
                value = r[top] if not sub else (r[top] or {}).get(sub)
                if isinstance(value, list):
                    value = json.dumps(value)
                flat.append("" if value is None else value)
            w.writerow(flat)
    return path


def _net_by_workload(engine: Engine) -> dict[str, Decimal]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(C.x_workload, money_sum(C.billed_cost)).group_by(C.x_workload)
        ).all()
    return {w: b for w, b in rows}


@pytest.mark.parametrize(
    "writer,name",
    [
        (write_jsonl, "export.jsonl"),
        (write_jsonl, "export.jsonl.gz"),
        (write_parquet, "export.parquet"),
        (write_flat_csv, "export.csv"),
    ],
)
def test_net_cost_per_workload_in_every_shape(
    engine: Engine, tmp_path: Path, writer: Any, name: str
) -> None:
    path = writer(tmp_path / name, ROWS)
    summary = import_paths(engine, [path], load_settings(None))
    assert summary.files[0][1] == "gcp_billing"
    assert _net_by_workload(engine) == NET
    with engine.connect() as conn:
        billed, effective, contracted = conn.execute(
            select(
                money_sum(C.billed_cost), money_sum(C.effective_cost), money_sum(C.contracted_cost)
            )
        ).one()
        gpu = conn.execute(
            select(C.tags, C.sub_account_id, C.service_name, C.region_id).where(
                C.charge_description.like("Nvidia Tesla T4%")
            )
        ).one()
        slices = conn.execute(select(C.x_slice, C.billing_period_start).distinct()).all()
        endpoint = (
            conn.execute(select(C.resource_id).where(C.x_workload == "inference").distinct())
            .scalars()
            .all()
        )
    assert billed == effective == sum(NET.values())
    assert contracted - billed == Decimal("0.086323")  # the credits
    assert gpu.tags == {"team": "research", "workload": "training"}
    assert (gpu.sub_account_id, gpu.service_name, gpu.region_id) == (
        "ml-prod",
        "Compute Engine",
        "us-central1",
    )
    # Late September usage is on the October invoice: one slice, October.
    assert [(s, str(p)[:10]) for s, p in slices] == [
        (f"gcp_billing:{ACCOUNT}:2026-10", "2026-10-01")
    ]
    assert endpoint == [ENDPOINT]


def test_reimport_is_idempotent_and_restatement_replaces(db_url: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.jsonl", ROWS)
    for _ in range(2):
        assert cli("--db", db_url, "import", str(path)).exit_code == 0
    from agent.store.engine import open_store

    engine = open_store(db_url)
    try:
        first = cost_snapshot(engine)
        assert first[0] == len(ROWS)
        restated = [*ROWS[:-1], _row(GCE, "Tax", "2026-10-01", "1.31", cost_type="tax")]
        write_jsonl(path, restated)
        assert cli("--db", db_url, "import", str(path)).exit_code == 0
        after = cost_snapshot(engine)
    finally:
        engine.dispose()
    assert after[0] == len(ROWS)
    assert after[1] == first[1] + Decimal("0.06")


@pytest.mark.parametrize(
    "field,value,fragment",
    [
        ("credits", "lots", "credits"),
        ("invoice", {"month": "Oct-2026"}, "invoice.month"),
        ("currency", "EURO", "currency"),
        ("usage_start_time", "yesterday", "usage_start_time"),
    ],
)
def test_bad_rows_are_refused_with_their_location(
    db_url: str, tmp_path: Path, field: str, value: Any, fragment: str
) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", ROWS[:2])
    assert cli("--db", db_url, "import", str(good)).exit_code == 0
    rows = [dict(r) for r in ROWS]
    rows[3][field] = value
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    result = cli("--db", db_url, "import", str(bad))
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "bad.jsonl" in message and "row 4" in message and fragment in message, message
    out = cli(
        "--db", db_url, "sql", "SELECT count(*) AS n FROM cost_line_items", "--format", "json"
    )
    assert json.loads(out.stdout) == [{"n": 2}]
