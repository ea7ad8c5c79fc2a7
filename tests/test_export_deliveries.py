"""Nothing doubled: one delivery per billing period, and one load of a slice at a time.

AWS keeps older deliveries of a period beside the current one (a synced bucket folder has them
all); a folder import must take exactly the current delivery, as the S3 collector does, and stop
when it cannot tell which one that is.  Two imports of the same file at once on PostgreSQL must
store it once.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from agent.store.engine import open_store
from agent.store.money import money_sum
from agent.store.schema import CostLineItem as C
from tests import cur_builder as cb
from tests.conftest import ROOT, SHARED
from tests.helpers import cli, cost_snapshot

LOGZIO = SHARED / "data" / "real" / "logzio-cur" / "test-billing-report-2.csv.gz"


def _billed(engine: Engine) -> tuple[int, Decimal | None]:
    with engine.connect() as conn:
        n, billed = conn.execute(select(func.count(), money_sum(C.billed_cost))).one()
    return n, billed


def _two_cur2_deliveries(root: Path, nested: bool) -> tuple[list[cb.Line], list[cb.Line]]:
    """An old delivery (scale 10) and the current one (scale 1) of 2026-09 in one export."""
    old = cb.month_lines(scale=Decimal(10))
    new = cb.month_lines()
    staging = root.parent / "staging"
    period = root / "data" / "BILLING_PERIOD=2026-09"
    names = []
    for label, lines in (("20260902T0100Z", old), ("20260903T0100Z", new)):
        cb.write_data_export(staging, lines, chunks=2)
        target = period / label if nested else period
        target.mkdir(parents=True, exist_ok=True)
        for f in sorted((staging / "data" / "BILLING_PERIOD=2026-09").iterdir()):
            dest = target / f"{label}-{f.name}"
            shutil.copy(f, dest)
            names.append(dest)
    meta = root / "metadata" / "BILLING_PERIOD=2026-09"
    meta.mkdir(parents=True, exist_ok=True)
    current = [
        f"s3://acme-billing/exports/cur2/data/{p.relative_to(root / 'data').as_posix()}"
        for p in names
        if "20260903" in p.name
    ]
    (meta / "cur2-Manifest.json").write_text(json.dumps({"dataFiles": current}))
    return old, new


@pytest.mark.parametrize("nested", [False, True], ids=["overwrite", "new-folder-per-delivery"])
def test_cur2_folder_loads_only_what_the_manifest_names(
    engine: Engine, db_url: str, tmp_path: Path, nested: bool
) -> None:
    root = tmp_path / "cur2"
    _, new = _two_cur2_deliveries(root, nested)

    result = cli("--db", db_url, "import", str(root))

    assert result.exit_code == 0, result.output
    assert _billed(engine) == (len(new), sum(ln.unblended for ln in new))


def test_cur2_two_deliveries_without_manifest_stop_naming_both(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "cur2"
    _two_cur2_deliveries(root, nested=True)
    shutil.rmtree(root / "metadata")
    before = cost_snapshot(engine)

    result = cli("--db", db_url, "import", str(root))

    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "20260902T0100Z" in message and "20260903T0100Z" in message, message
    assert "no manifest" in message
    assert cost_snapshot(engine) == before


def test_cur2_manifest_naming_a_missing_file_is_an_incomplete_delivery(
    db_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "cur2"
    _two_cur2_deliveries(root, nested=False)
    next((root / "data" / "BILLING_PERIOD=2026-09").glob("20260903*-part-00001*")).unlink()

    result = cli("--db", db_url, "import", str(root))

    assert result.exit_code == 2
    assert "may still be arriving" in result.stderr and "part-00001" in result.stderr


def _legacy_layout(root: Path, assemblies: list[str], manifest_for: str | None) -> Path:
    """The real 2018-03 legacy CUR delivered twice, in the layout of a synced bucket:
    ``<report>/20180301-20180401/<assembly>/test-billing-report-1.csv.gz`` and the top-level
    ``<report>-Manifest.json`` naming the current assembly (each assembly holds its own copy
    of its manifest too, as AWS writes it)."""
    period = root / "test-billing-report" / "20180301-20180401"
    for assembly in assemblies:
        folder = period / assembly
        folder.mkdir(parents=True)
        shutil.copy(LOGZIO, folder / "test-billing-report-1.csv.gz")
        key = f"cur/test-billing-report/20180301-20180401/{assembly}/test-billing-report-1.csv.gz"
        (folder / "test-billing-report-Manifest.json").write_text(
            json.dumps({"assemblyId": assembly, "reportKeys": [key]})
        )
    if manifest_for is not None:
        key = (
            f"cur/test-billing-report/20180301-20180401/{manifest_for}/test-billing-report-1.csv.gz"
        )
        (period / "test-billing-report-Manifest.json").write_text(
            json.dumps({"assemblyId": manifest_for, "reportKeys": [key]})
        )
    return root


def test_legacy_cur_folder_loads_the_current_assembly_only(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    if not LOGZIO.exists():
        pytest.skip(f"real legacy CUR not found at {LOGZIO} (set COSTAGENT_SHARED_DIR)")
    assemblies = ["0f0ed8b2-2b6d-4b36-a3f5-0d1a0b9f3c11", "9c6e4d20-7f0a-4c3e-b1a2-61d7f1e0e2aa"]
    root = _legacy_layout(tmp_path / "bucket", assemblies, manifest_for=assemblies[1])

    result = cli("--db", db_url, "import", str(root))

    assert result.exit_code == 0, result.output
    assert _billed(engine)[0] == 2660


def test_legacy_cur_two_assemblies_without_manifest_stop(db_url: str, tmp_path: Path) -> None:
    if not LOGZIO.exists():
        pytest.skip(f"real legacy CUR not found at {LOGZIO} (set COSTAGENT_SHARED_DIR)")
    root = _legacy_layout(tmp_path / "bucket", ["assembly-a", "assembly-b"], manifest_for=None)

    result = cli("--db", db_url, "import", str(root))

    assert result.exit_code == 2
    assert "assembly-a" in result.stderr and "assembly-b" in result.stderr


def test_a_file_named_on_the_command_line_is_read_as_given(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """Delivery selection applies to folders only: a file given by name is what the user
    asked for, even if it is an old delivery."""
    root = tmp_path / "cur2"
    old, _ = _two_cur2_deliveries(root, nested=False)
    files = sorted((root / "data" / "BILLING_PERIOD=2026-09").glob("20260902*"))

    result = cli("--db", db_url, "import", *map(str, files))

    assert result.exit_code == 0, result.output
    assert _billed(engine) == (len(old), sum(ln.unblended for ln in old))


# -- two imports of one file at once --------------------------------------------------------
def _big_focus_file(path: Path, rows: int) -> Path:
    header = (
        "BilledCost,EffectiveCost,BillingAccountId,BillingCurrency,BillingPeriodStart,"
        "BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ProviderName,ServiceName,ResourceId\n"
    )
    with gzip.open(path, "wt") as fh:
        fh.write(header)
        for i in range(rows):
            hour = i % 720
            day, h = 1 + hour // 24, hour % 24
            fh.write(
                f"0.{i % 1000:03d},0.{i % 1000:03d},acct-1,USD,2026-10-01T00:00:00Z,"
                f"2026-11-01T00:00:00Z,2026-10-{day:02d}T{h:02d}:00:00Z,"
                f"2026-10-{day:02d}T{h:02d}:59:59Z,AWS,Amazon EC2,i-{i % 5000:05d}\n"
            )
    return path


def test_the_same_file_imported_twice_at_once_is_stored_once(db_url: str, tmp_path: Path) -> None:
    """Two real processes; the second's DELETE must wait for the first's commit (PostgreSQL:
    an advisory lock per slice; SQLite: its single writer)."""
    rows = 60_000
    path = _big_focus_file(tmp_path / "focus.csv.gz", rows)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "agent", "--db", db_url, "import", str(path)]
    open_store(db_url).dispose()  # migrate first, so both processes race on the load itself
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outs
    engine = open_store(db_url)
    try:
        n, billed = _billed(engine)
    finally:
        engine.dispose()
    assert n == rows
    assert billed == sum(Decimal(f"0.{i % 1000:03d}") for i in range(rows))
