"""``aws_data_exports`` against moto's S3 in server mode, configured as a user would.

The export is the hand-checked CUR month of ``tests.cur_builder`` uploaded in the Data Exports
layout (chunks under ``data/BILLING_PERIOD=…``, a manifest under ``metadata/``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agent.store.money import money_sum
from agent.store.schema import CollectionRun
from agent.store.schema import CostLineItem as C
from tests import cur_builder as cb
from tests.aws_servers import FaultProxy
from tests.helpers import cli, cost_snapshot

BUCKET = "acme-billing"
PREFIX = "exports/cur2"


def write_config(path: Path, sources: list[dict[str, Any]]) -> Path:
    lines = []
    for s in sources:
        lines.append("[[sources]]")
        for k, v in s.items():
            lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def upload_export(
    url: str,
    local: Path,
    month: str,
    lines: list[cb.Line],
    chunks: int = 2,
    manifest: bool = True,
    folder: str = "",
) -> list[str]:
    """Write the month locally, upload data files (+ manifest naming them as s3:// URIs)."""
    cb.write_data_export(local, lines, month=month, chunks=chunks)
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        s3.create_bucket(Bucket=BUCKET)
    keys = []
    for f in sorted((local / "data" / f"BILLING_PERIOD={month}").iterdir()):
        key = f"{PREFIX}/data/BILLING_PERIOD={month}/{folder}{f.name}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=f.read_bytes())
        keys.append(key)
    if manifest:
        doc = {"dataFiles": [f"s3://{BUCKET}/{k}" for k in keys]}
        s3.put_object(
            Bucket=BUCKET,
            Key=f"{PREFIX}/metadata/BILLING_PERIOD={month}/cur2-Manifest.json",
            Body=json.dumps(doc).encode(),
        )
    return keys


def source(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "aws-cur",
        "type": "aws_data_exports",
        "bucket": BUCKET,
        "prefix": PREFIX,
        "region": "us-east-1",
        "endpoint_url": url,
        **extra,
    }


def per_workload(engine: Engine, month: str) -> dict[str, tuple[Decimal, Decimal]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(C.x_workload, money_sum(C.billed_cost), money_sum(C.effective_cost))
            .where(C.x_slice == f"aws-cur:{cb.PAYER}:{month}")
            .group_by(C.x_workload)
        ).all()
    return {w: (b, e) for w, b, e in rows}


def runs(engine: Engine) -> list[Any]:
    with Session(engine) as session:
        return list(session.scalars(select(CollectionRun).order_by(CollectionRun.id)))


def test_loads_export_exactly_then_only_changed_periods(
    aws: str, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    sept, aug = cb.month_lines(), cb.month_lines("2026-08")
    upload_export(aws, tmp_path / "l1", "2026-09", sept)
    upload_export(aws, tmp_path / "l2", "2026-08", aug)
    config = write_config(tmp_path / "costagent.toml", [source(aws)])

    result = cli("--config", str(config), "--db", db_url, "collect")
    assert result.exit_code == 0, result.output
    assert per_workload(engine, "2026-09") == cb.expected(sept)
    assert per_workload(engine, "2026-08") == cb.expected(aug)
    first = cost_snapshot(engine)

    # Nothing changed in S3: nothing is downloaded or replaced.
    assert cli("--config", str(config), "--db", db_url, "collect").exit_code == 0
    assert cost_snapshot(engine) == first
    r1, r2 = runs(engine)[-2:]
    assert r1.details["loaded"] == ["2026-08", "2026-09"] and r1.status == "ok"
    assert r2.details["loaded"] == [] and r2.details["unchanged"] == ["2026-08", "2026-09"]
    assert r2.api_requests < r1.api_requests

    # AWS re-delivers September: new file names, a new manifest; the old files stay behind.
    restated = cb.month_lines(scale=Decimal("1.1"))
    upload_export(aws, tmp_path / "l3", "2026-09", restated, chunks=1, folder="v2-")
    assert cli("--config", str(config), "--db", db_url, "collect").exit_code == 0
    assert runs(engine)[-1].details["loaded"] == ["2026-09"]
    assert per_workload(engine, "2026-09") == cb.expected(restated)  # stale files ignored
    assert per_workload(engine, "2026-08") == cb.expected(aug)


def test_without_manifest_all_data_files_count_and_since_bounds(
    aws: str, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    upload_export(aws, tmp_path / "l1", "2026-09", cb.month_lines(), chunks=3, manifest=False)
    upload_export(aws, tmp_path / "l2", "2026-08", cb.month_lines("2026-08"), manifest=False)
    config = write_config(tmp_path / "costagent.toml", [source(aws)])
    result = cli("--config", str(config), "--db", db_url, "collect", "--since", "2026-09-01")
    assert result.exit_code == 0, result.output
    snap = cost_snapshot(engine)
    assert [s for s, _ in snap[3]] == [f"aws-cur:{cb.PAYER}:2026-09"]
    assert snap[0] == len(cb.month_lines())


def test_two_deliveries_without_manifest_fail_the_source_naming_both(
    aws: str, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """The rule ``costagent import`` of a synced folder applies (one shared piece): with no
    manifest to say which delivery of a period is current, neither is guessed."""
    upload_export(aws, tmp_path / "l1", "2026-09", cb.month_lines(), manifest=False, folder="a/")
    upload_export(aws, tmp_path / "l2", "2026-09", cb.month_lines(), manifest=False, folder="b/")
    config = write_config(tmp_path / "costagent.toml", [source(aws)])

    result = cli("--config", str(config), "--db", db_url, "collect")

    assert result.exit_code == 1
    error = runs(engine)[-1].error
    assert "no manifest" in error and "BILLING_PERIOD=2026-09/a" in error
    assert "BILLING_PERIOD=2026-09/b" in error
    assert cost_snapshot(engine)[0] == 0


def test_a_failing_source_is_recorded_and_the_others_still_run(
    aws: str, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    keys = upload_export(aws, tmp_path / "l1", "2026-09", cb.month_lines())
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.delete_object(Bucket=BUCKET, Key=keys[0])  # the manifest names a file that is gone
    local = cb.write_data_export(tmp_path / "local", cb.month_lines("2026-07"), month="2026-07")
    config = write_config(
        tmp_path / "costagent.toml",
        [source(aws), {"name": "files", "type": "local_files", "paths": [str(local)]}],
    )
    result = cli("--config", str(config), "--db", db_url, "collect")
    assert result.exit_code == 1
    by_source = {r.source: r for r in runs(engine)}
    assert by_source["aws-cur"].status == "failed"
    assert "manifest of 2026-09" in by_source["aws-cur"].error
    assert by_source["files"].status == "ok" and by_source["files"].rows == len(cb.month_lines())
    assert [s for s, _ in cost_snapshot(engine)[3]] == [f"files:{cb.PAYER}:2026-07"]
    # No credential reaches the database.
    for r in runs(engine):
        assert "AKIA" not in (r.error or "") and "wJalr" not in json.dumps(r.details or {})


@pytest.mark.parametrize("status", [503, 429])
def test_throttling_and_server_errors_are_retried(
    aws: str, engine: Engine, db_url: str, tmp_path: Path, status: int
) -> None:
    upload_export(aws, tmp_path / "l1", "2026-09", cb.month_lines())
    with FaultProxy(aws, failures=4, status=status) as proxy:
        config = write_config(
            tmp_path / "costagent.toml",
            [source(proxy.url, max_attempts=2, backoff_seconds=0.01)],
        )
        result = cli("--config", str(config), "--db", db_url, "collect")
        assert result.exit_code == 0, result.output
        assert proxy.failed == 4
    assert per_workload(engine, "2026-09") == cb.expected(cb.month_lines())
