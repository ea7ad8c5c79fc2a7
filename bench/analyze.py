"""Analyze benchmark: every rule over N line items vs one GROUP BY scan of the same table.

    python bench/analyze.py --rows 5000000 [--db postgresql://…]

1. Builds a store: N CUR 2.0 line items (``bench/ingest.py``'s generator: October 2026, hourly
   SageMaker / Bedrock / OpenSearch / EC2 / S3 rows over 240 resources), imported through
   ``costagent``'s importer; proportional signals — N/10 usage-metric points (hourly
   invocations, gpu_utilization, instance_count per resource), one inventory row per resource,
   N/50 LLM requests.
2. The floor: ``SELECT x_workload, SUM(effective_cost) FROM cost_line_items GROUP BY
   x_workload`` — one scan of the table, the least any analysis must do.
3. ``rules.engine.analyze`` with every built-in rule (defaults) over the 30 days ending
   2026-11-01.
4. Prints both times (best of ``--repeat``), their ratio and the findings per rule.  Target
   (issue #5): analyze within 10× of the scan at N = 5,000,000.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import load_settings
from agent.store.engine import open_store
from bench.ingest import generate
from collectors.importer import import_paths
from collectors.load import load, table
from rules.base import configured_rules
from rules.engine import analyze

START = datetime(2026, 10, 1)
HOURS = 24 * 31
NOW = datetime(2026, 11, 1)
APPS = ["support-bot", "doc-search", "summarizer", "agent-x"]
MODELS = [
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.titan-embed-text-v2:0",
]


def _kind(rid: str) -> str:
    for marker, kind in (
        (":endpoint/", "sagemaker_endpoint"),
        (":training-job/", "training_job"),
        (":collection/", "opensearch_collection"),
        ("i-0", "gpu_instance"),
    ):
        if marker in rid:
            return kind
    return "other"


def signals(engine: Engine, n: int) -> tuple[int, int, int]:
    """Metrics, inventory and LLM requests in proportion to N line items."""
    settings = load_settings(None)
    with engine.connect() as conn:
        rids = [
            r
            for (r,) in conn.execute(
                text(
                    "SELECT DISTINCT resource_id FROM cost_line_items "
                    "WHERE resource_id IS NOT NULL ORDER BY 1"
                )
            )
        ]
    metric_names = ["invocations", "gpu_utilization", "instance_count"]
    m = min(n // 10, len(rids) * len(metric_names) * HOURS)
    points = []
    for i in range(m):
        rid = rids[i % len(rids)]
        metric = metric_names[(i // len(rids)) % len(metric_names)]
        hour = (i // (len(rids) * len(metric_names))) % HOURS
        value = {"invocations": float((i * 7919) % 500), "gpu_utilization": float(i % 97)}
        points.append(
            {
                "resource_id": rid,
                "metric": metric,
                "ts": START + timedelta(hours=hour),
                "period_s": 3600,
                "value": value.get(metric, 2.0),
                "stat": "Sum" if metric == "invocations" else "Average",
            }
        )
    inventory = [
        {
            "resource_id": rid,
            "provider_name": "AWS",
            "resource_type": _kind(rid),
            "region_id": "us-east-1",
            "observed_at": NOW,
            "attributes": json.dumps(
                {
                    "instance_type": "ml.g5.2xlarge",
                    "instance_count": 2,
                    "managed_spot": False,
                    "training_seconds": 36_000,
                    "tags": {"env": "dev" if k % 2 else "prod"},
                }
            ),
        }
        for k, rid in enumerate(rids)
    ]
    requests = [
        {
            "x_request_key": f"r{i}",
            "ts": START + timedelta(seconds=(i * 53) % (HOURS * 3600)),
            "provider": "aws",
            "model": MODELS[i % len(MODELS)],
            "operation": "embeddings" if i % len(MODELS) == 2 else "chat",
            "app": APPS[(i // 3) % len(APPS)],
            "input_tokens": 800 + (i * 31) % 2000,
            "output_tokens": 50 + (i * 17) % 600,
            "cache_read_tokens": 0,
            "prompt_hash": f"h{(i * 13) % max(1, n // 200)}",
            "latency_ms": 400.0,
            "batch": False,
        }
        for i in range(n // 50)
    ]
    for i in range(0, len(points), 200_000):
        load(engine, settings, "bench", [("metrics", table("metrics", points[i : i + 200_000]))])
    load(engine, settings, "bench", [("resources", table("resources", inventory))])
    for i in range(0, len(requests), 200_000):
        chunk = requests[i : i + 200_000]
        load(engine, settings, "bench", [("llm_requests", table("llm_requests", chunk))])
    return len(points), len(inventory), len(requests)


def best(repeat: int, fn: object) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="Keep the files in this folder.")
    ap.add_argument(
        "--reuse", action="store_true", help="With --keep: reuse the store built by a run before."
    )
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="costagent-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    url = args.db or f"sqlite:///{work / 'analyze.db'}"
    engine = open_store(url)
    t0 = time.perf_counter()
    if args.reuse:
        with engine.connect() as conn:
            counts = [
                conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in ("usage_metrics", "resources", "llm_requests")
            ]
        n_metrics, n_resources, n_requests = counts
    else:
        with engine.begin() as conn:
            for t in ("cost_line_items", "usage_metrics", "resources", "llm_requests", "findings"):
                conn.execute(text(f"DELETE FROM {t}"))
        parquet = work / "cur.parquet"
        generate(args.rows, parquet)
        import_paths(engine, [parquet], load_settings(None), source="bench-cur")
        n_metrics, n_resources, n_requests = signals(engine, args.rows)
    print(
        f"store: {args.rows:,} line items, {n_metrics:,} metric points, {n_resources:,} "
        f"resources, {n_requests:,} LLM requests ({time.perf_counter() - t0:.0f} s to build; "
        f"{engine.dialect.name})"
    )

    def scan() -> None:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT x_workload, SUM(effective_cost) FROM cost_line_items "
                    "GROUP BY x_workload"
                )
            ).all()

    rules = configured_rules({})
    result = None

    def run() -> None:
        nonlocal result
        result = analyze(engine, rules, window_days=30, now=NOW)

    scan()  # warm the cache for both
    t_scan = best(args.repeat, scan)
    t_analyze = best(args.repeat, run)
    assert result is not None
    print(f"one GROUP BY scan:  {t_scan:8.3f} s")
    print(f"analyze ({len(rules)} rules): {t_analyze:8.3f} s")
    print(f"ratio: {t_analyze / t_scan:.2f}x  (target ≤ 10x at 5,000,000 rows)")
    print(f"findings per rule: {result.produced}  errors: {result.errors or 'none'}")
    slowest = sorted(result.seconds.items(), key=lambda kv: -kv[1])[:5]
    print("slowest rules (s): " + ", ".join(f"{k} {v:.3f}" for k, v in slowest))
    engine.dispose()


if __name__ == "__main__":
    main()
