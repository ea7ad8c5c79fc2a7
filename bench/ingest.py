"""Ingest benchmark: ``costagent import`` of a CUR 2.0 Parquet file vs a bare executemany.

    python bench/ingest.py --rows 1000000

1. Generates a CUR 2.0 Parquet file of N rows (realistic columns, ~130 of them like a real Data
   Export, hourly SageMaker / Bedrock / OpenSearch / EC2 / S3 usage with Savings Plan rows).
2. Runs ``costagent import`` on it into a fresh SQLite file, in a child process, and measures
   its wall time and peak RSS (ru_maxrss of the child).
3. The floor: the very rows costagent stored, read back and inserted with a bare
   ``sqlite3.executemany`` into an equivalent table (same DDL and indexes, same pragmas, one
   transaction; the columns no row fills left out, as the loader leaves them), timing only the
   executemany calls.
4. Prints rows/s for both, their ratio and the peak RSS.  Targets (issue #2): ratio ≤ 2.0 and
   peak RSS < 400 MB at 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ACCOUNTS = ["111122223333", "444455556666", "777788889999"]
USAGE = [
    # product code, usage type, operation, unit, rate, resource template, service name
    (
        "AmazonSageMaker",
        "USE1-Hosting:ml.g5.2xlarge",
        "RunInstance",
        "Hrs",
        "1.515",
        "arn:aws:sagemaker:us-east-1:{a}:endpoint/chat-{i}",
        "Amazon SageMaker",
    ),
    (
        "AmazonSageMaker",
        "USE1-Train:ml.p4d.24xlarge",
        "CreateTrainingJob",
        "Hrs",
        "37.688",
        "arn:aws:sagemaker:us-east-1:{a}:training-job/ft-{i}",
        "Amazon SageMaker",
    ),
    (
        "AmazonBedrock",
        "USE1-Claude3.5Sonnet-input-tokens",
        "InvokeModel",
        "1K tokens",
        "0.003",
        "arn:aws:bedrock:us-east-1:{a}:foundation-model/claude-{i}",
        "Amazon Bedrock",
    ),
    (
        "AmazonOpenSearchService",
        "USE1-SearchOCU",
        "ESDomain",
        "OCU-hours",
        "0.24",
        "arn:aws:aoss:us-east-1:{a}:collection/rag-{i}",
        "Amazon OpenSearch Service",
    ),
    (
        "AmazonEC2",
        "BoxUsage:g5.12xlarge",
        "RunInstances",
        "Hrs",
        "5.672",
        "i-0{a}{i:04d}",
        "Amazon Elastic Compute Cloud",
    ),
    (
        "AmazonS3",
        "USE1-TimedStorage-ByteHrs",
        "StandardStorage",
        "GB-Mo",
        "0.023",
        "arn:aws:s3:::datasets-{i}",
        "Amazon Simple Storage Service",
    ),
]
TAGS = [
    [("user_workload", "inference"), ("user_env", "prod")],
    [("user_team", "ml"), ("user_env", "dev")],
    [],
    [("user_workload", "training")],
]
LINE_TYPES = ["Usage"] * 7 + ["SavingsPlanCoveredUsage", "SavingsPlanNegation", "Tax"]
FILLER = 95  # CUR 2.0 has ~125 columns; the reader must skip the ones it does not use


def generate(n: int, path: Path) -> None:
    """N rows of CUR 2.0, built with Arrow compute from small pools (fast, deterministic)."""
    idx = pa.array(range(n), pa.int64())

    def pick(pool: list[object], typ: pa.DataType, stride: int = 1) -> pa.Array:
        sel = pc.cast(
            pc.subtract(
                pc.divide(idx, stride),
                pc.multiply(pc.divide(pc.divide(idx, stride), len(pool)), len(pool)),
            ),
            pa.int64(),
        )
        return pc.take(pa.array(pool, typ), sel)

    start = datetime(2026, 10, 1)
    hours = [start + timedelta(hours=h) for h in range(24 * 31)]
    usage_i = pick(list(range(len(USAGE))), pa.int64())
    # About one line item per resource, usage type and hour, as in a real hourly CUR: the fleet
    # grows with N (240 resources at 1M rows would mean 5 line items per resource-hour).
    per_usage = max(40, n // (len(hours) * len(USAGE)))
    resources = [
        USAGE[u][5].format(a=ACCOUNTS[u % 3], i=u * 7 + k)
        for u in range(len(USAGE))
        for k in range(per_usage)
    ]
    res_i = pc.add(pc.multiply(usage_i, per_usage), pick(list(range(per_usage)), pa.int64(), 11))

    def per_resource(pool: list[object], typ: pa.DataType) -> pa.Array:
        """A resource's own attribute (its account, zone, tags never change between rows)."""
        sel = pc.subtract(res_i, pc.multiply(pc.divide(res_i, len(pool)), len(pool)))
        return pc.take(pa.array(pool, typ), sel)

    def per_usage_type(pool: list[object], typ: pa.DataType) -> pa.Array:
        return pc.take(pa.array(pool, typ), usage_i)

    amounts = [round(0.05 + (k * 37 % 1000) / 250, 6) for k in range(997)]
    amount = pick(amounts, pa.float64(), 3)
    rate = pc.take(pa.array([float(u[4]) for u in USAGE]), usage_i)
    cost = pc.round(pc.multiply(amount, rate), 10)
    line_type = pick(LINE_TYPES, pa.string(), 5)
    is_sp = pc.equal(line_type, "SavingsPlanCoveredUsage")
    cols: dict[str, pa.Array] = {
        "identity_line_item_id": pc.binary_join_element_wise("li", pc.cast(idx, pa.string()), ""),
        "identity_time_interval": pick(
            [f"{h:%Y-%m-%dT%H:%M:%SZ}/{h + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}" for h in hours],
            pa.string(),
            1,
        ),
        "bill_bill_type": pick(["Anniversary"], pa.string()),
        "bill_billing_entity": pick(["AWS"], pa.string()),
        "bill_billing_period_start_date": pick([start], pa.timestamp("ms")),
        "bill_billing_period_end_date": pick([datetime(2026, 11, 1)], pa.timestamp("ms")),
        "bill_invoicing_entity": pick(["Amazon Web Services, Inc."], pa.string()),
        "bill_payer_account_id": pick(["999988887777"], pa.string()),
        "bill_payer_account_name": pick(["acme-payer"], pa.string()),
        "line_item_usage_account_id": per_usage_type(
            [ACCOUNTS[u % 3] for u in range(len(USAGE))], pa.string()
        ),
        "line_item_usage_account_name": per_usage_type(
            [["ml-prod", "ml-dev", "data"][u % 3] for u in range(len(USAGE))], pa.string()
        ),
        "line_item_line_item_type": line_type,
        "line_item_usage_start_date": pick(hours, pa.timestamp("ms")),
        "line_item_usage_end_date": pick(
            [h + timedelta(hours=1) for h in hours], pa.timestamp("ms")
        ),
        "line_item_product_code": pc.take(pa.array([u[0] for u in USAGE]), usage_i),
        "line_item_usage_type": pc.take(pa.array([u[1] for u in USAGE]), usage_i),
        "line_item_operation": pc.take(pa.array([u[2] for u in USAGE]), usage_i),
        "line_item_resource_id": pc.take(pa.array(resources), res_i),
        "line_item_usage_amount": amount,
        "line_item_unblended_rate": pc.cast(rate, pa.string()),
        "line_item_unblended_cost": cost,
        "line_item_net_unblended_cost": cost,
        "line_item_blended_cost": cost,
        "line_item_currency_code": pick(["USD"], pa.string()),
        "line_item_line_item_description": pc.take(
            pa.array([f"${u[4]} per {u[3]} of {u[1]}" for u in USAGE]), usage_i
        ),
        "line_item_availability_zone": per_resource(
            ["us-east-1a", "us-east-1b", None], pa.string()
        ),
        "line_item_legal_entity": pick(["Amazon Web Services, Inc."], pa.string()),
        "pricing_public_on_demand_cost": cost,
        "pricing_public_on_demand_rate": pc.cast(rate, pa.string()),
        "pricing_term": pick(["OnDemand"], pa.string()),
        "pricing_unit": pc.take(pa.array([u[3] for u in USAGE]), usage_i),
        "product_servicecode": pc.take(pa.array([u[0] for u in USAGE]), usage_i),
        "product_region_code": pick(["us-east-1"], pa.string()),
        "product_sku": per_usage_type([f"SKU{k:05d}" for k in range(len(USAGE))], pa.string()),
        "product_product_family": per_usage_type(
            ["ML Instance", "ML Instance", "Tokens", "Search", "Compute Instance", "Storage"],
            pa.string(),
        ),
        "product_instance_type": per_usage_type(
            ["ml.g5.2xlarge", "ml.p4d.24xlarge", None, None, "g5.12xlarge", None], pa.string()
        ),
        "product": pc.take(
            pa.array(
                [[("servicename", u[6]), ("region", "us-east-1")] for u in USAGE],
                pa.map_(pa.string(), pa.string()),
            ),
            usage_i,
        ),
        "resource_tags": per_resource(TAGS, pa.map_(pa.string(), pa.string())),
        "savings_plan_savings_plan_a_r_n": pc.if_else(
            is_sp,
            pa.scalar("arn:aws:savingsplans::999988887777:savingsplan/sp-1"),
            pa.scalar(None, pa.string()),
        ),
        "savings_plan_savings_plan_effective_cost": pc.if_else(
            is_sp, pc.round(pc.multiply(cost, 0.72), 10), pa.scalar(0.0)
        ),
        "savings_plan_savings_plan_rate": pc.if_else(
            is_sp, pc.multiply(rate, 0.72), pa.scalar(0.0)
        ),
        "savings_plan_total_commitment_to_date": pick([0.0], pa.float64()),
        "savings_plan_used_commitment": pick([0.0], pa.float64()),
        "reservation_effective_cost": pick([0.0], pa.float64()),
        "reservation_reservation_a_r_n": pick([None], pa.string()),
    }
    for k in range(FILLER):
        cols[f"product_attribute_{k:03d}"] = pick([f"v{k}", None, "x"], pa.string(), k + 1)
    table = pa.table(cols)
    pq.write_table(table, path, row_group_size=128_000, compression="snappy")


# The child reports its own VmHWM: the ru_maxrss of a forked child would include the
# benchmark's own memory (Linux keeps the pre-exec high-water mark across exec).
_CHILD = """
import atexit, sys
def _report():
    with open("/proc/self/status") as fh:
        hwm = next(line for line in fh if line.startswith("VmHWM:"))
    sys.stderr.write("VmHWM_KB=" + hwm.split()[1] + chr(10))
atexit.register(_report)
from agent.cli import main
sys.argv = ["costagent", *sys.argv[1:]]
main()
"""


def run_import(parquet: Path, db: Path) -> tuple[float, float]:
    """(seconds, peak RSS MB) of `costagent import` in a child process."""
    subprocess.run(
        [sys.executable, "-m", "agent", "--db", f"sqlite:///{db}", "db", "upgrade"],
        check=True,
        capture_output=True,
    )
    cmd = [sys.executable, "-c", _CHILD, "--db", f"sqlite:///{db}", "import", str(parquet)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"import failed: {proc.stderr.strip()}")
    hwm = [ln for ln in proc.stderr.splitlines() if ln.startswith("VmHWM_KB=")]
    return secs, int(hwm[-1].split("=")[1]) / 1024


def bare_executemany(
    src_db: Path, dst_db: Path, chunk: int = 100_000, table: str = "cost_line_items"
) -> tuple[float, int]:
    """Seconds spent in sqlite3.executemany for the same rows of ``table`` into an equivalent
    table (same DDL and indexes)."""
    src = sqlite3.connect(src_db)
    ddl = [
        r[0]
        for r in src.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
            "ORDER BY type DESC",
            (table,),
        )
    ]
    cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
    # Columns no row fills are left out, as the loader leaves them (NULL is their default).
    filled = src.execute(
        "SELECT " + ", ".join(f"MAX({c} IS NOT NULL)" for c in cols) + f" FROM {table}"
    ).fetchone()
    cols = [c for c, f in zip(cols, filled, strict=True) if f]
    dst = sqlite3.connect(dst_db)
    dst.execute("PRAGMA journal_mode=WAL")
    dst.execute("PRAGMA synchronous=NORMAL")
    dst.execute("PRAGMA cache_size=-65536")
    for stmt in ddl:
        dst.execute(stmt)
    dst.commit()
    insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    cur = src.execute(f"SELECT {', '.join(cols)} FROM {table}")
    spent, n = 0.0, 0
    dst.execute("BEGIN")
    while True:
        rows = cur.fetchmany(chunk)
        if not rows:
            break
        t0 = time.perf_counter()
        dst.executemany(insert, rows)
        spent += time.perf_counter() - t0
        n += len(rows)
    t0 = time.perf_counter()
    dst.commit()
    spent += time.perf_counter() - t0
    return spent, n


def print_comparison(rows: int, secs: float, bare: float, rss: float, rss_target: str) -> None:
    """The benchmark's verdict: both rates, their ratio (target ≤ 2) and the import's memory."""
    print(f"costagent import:         {rows / secs:12,.0f} rows/s  ({secs:.2f} s, whole command)")
    print(f"bare sqlite3.executemany: {rows / bare:12,.0f} rows/s  ({bare:.2f} s, insert only)")
    print(f"ratio (import time / bare insert time): {secs / bare:.2f}x   (target <= 2.0)")
    print(f"peak RSS of the import process: {rss:.0f} MB   {rss_target}".rstrip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--keep", type=Path, help="Keep the files in this folder.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        parquet = folder / "cur2.parquet"
        t0 = time.perf_counter()
        generate(args.rows, parquet)
        print(
            f"generated {args.rows:,} CUR 2.0 rows ({parquet.stat().st_size / 1e6:.1f} MB "
            f"Parquet, {pq.ParquetFile(parquet).schema_arrow.__len__()} columns) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        db = folder / "costagent.db"
        for p in (db, folder / "bare.db"):
            p.unlink(missing_ok=True)
        secs, rss = run_import(parquet, db)
        bare, n = bare_executemany(db, folder / "bare.db")
        if n != args.rows:
            sys.exit(f"stored {n} rows, expected {args.rows}")
        print_comparison(n, secs, bare, rss, "(target < 400 MB)")


if __name__ == "__main__":
    main()
