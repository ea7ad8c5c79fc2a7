"""The shipped demo dataset: reproducible from its generator, plainly synthetic, and importable.

``costagent demo`` imports every file under ``agent/demo/data``; these tests make sure that folder
is exactly what ``python -m agent.demo.generate`` writes, and that the agent reads all of it into
the four workloads on both providers, with metrics and inventory joined to billed resources.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

from agent.config import load_settings
from agent.demo import DATA_DIR
from agent.demo._common import WORKLOADS
from agent.demo.generate import Result, generate, main
from agent.store.engine import open_store
from agent.store.schema import CostLineItem, LlmRequest, Resource, UsageMetric
from collectors.importer import import_paths, plan

MAX_SHIPPED_BYTES = 3_000_000
TARGETS = {  # shipped folder → the store tables its files feed
    "aws-cur": {"cost"},
    "gcp-billing": {"cost"},
    "metrics": {"metrics"},
    "llm-requests": {"llm_requests"},
    "inventory": {"resources"},
    "openai": {"llm_usage", "cost"},
    "anthropic": {"llm_usage", "cost"},
}


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Result:
    return generate(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The shipped folder imported once, as ``costagent demo`` does, into a fresh SQLite file."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo-db') / 'costagent.db'}"
    engine = open_store(url)
    import_paths(engine, [DATA_DIR], load_settings(None))
    yield engine
    engine.dispose()


# --- reproducible -------------------------------------------------------------------------------
def test_regenerating_gives_the_shipped_files(regenerated: Result) -> None:
    shipped, fresh = _files(DATA_DIR), _files(regenerated.out)
    assert sorted(shipped) == sorted(fresh), "regenerate: python -m agent.demo.generate"
    for name, path in shipped.items():
        other = fresh[name]
        if name.endswith(".parquet"):
            a, b = pq.read_table(path), pq.read_table(other)
            assert a.schema.equals(b.schema), name
            assert a.equals(b), f"{name} differs: regenerate with python -m agent.demo.generate"
        elif name.endswith(".gz"):
            assert gzip.decompress(path.read_bytes()) == gzip.decompress(other.read_bytes()), name
        else:
            assert path.read_text(encoding="utf-8") == other.read_text(encoding="utf-8"), name


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path, regenerated: Result) -> None:
    again = generate(tmp_path / "again")
    for name, path in _files(regenerated.out).items():
        assert path.read_bytes() == (again.out / name).read_bytes(), name
    other = generate(tmp_path / "seed7", seed=7)
    metrics = next(f.path for f in regenerated.files if f.path.startswith("metrics/"))
    assert (other.out / metrics).read_bytes() != (regenerated.out / metrics).read_bytes()


def test_command_line_writes_another_month(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path), "--seed", "3", "--month", "2027-02"]) == 0
    out = capsys.readouterr().out
    assert "BILLING_PERIOD=2027-02/part-00000.snappy.parquet" in out
    table = pq.read_table(
        tmp_path / "aws-cur/data/BILLING_PERIOD=2027-02/part-00001.snappy.parquet"
    )
    starts = table.column("line_item_usage_start_date").to_pylist()
    assert {(t.year, t.month) for t in starts} == {(2027, 2)}
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--month", "2027-13"])


# --- labelled and small -------------------------------------------------------------------------
def test_shipped_data_is_labelled_synthetic_and_small() -> None:
    files = _files(DATA_DIR)
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# costagent demo data — SYNTHETIC")
    assert "python -m agent.demo.generate" in readme
    for name in files:
        if not name.endswith((".parquet", "README.md")):
            assert "synthetic" in name, name  # the CUR parts keep AWS's own file names
    assert sum(p.stat().st_size for p in files.values()) < MAX_SHIPPED_BYTES


def test_cur_follows_the_cur2_layout_and_money_rules() -> None:
    parts = sorted(DATA_DIR.glob("aws-cur/data/BILLING_PERIOD=*/part-*.snappy.parquet"))
    assert [p.name for p in parts] == ["part-00000.snappy.parquet", "part-00001.snappy.parquet"]
    table = pq.read_table(parts[0])
    for column in (
        "identity_line_item_id",
        "identity_time_interval",
        "bill_billing_period_start_date",
        "line_item_usage_account_id",
        "line_item_resource_id",
        "line_item_unblended_cost",
        "pricing_public_on_demand_cost",
        "product",
        "product_servicecode",
        "resource_tags",
        "savings_plan_savings_plan_effective_cost",
        "reservation_reservation_a_r_n",
    ):
        assert column in table.column_names, column
    for column in ("product", "resource_tags"):
        kind = table.schema.field(column).type
        assert pa.types.is_map(kind) and kind.key_type == kind.item_type == pa.string()
    costs = pq.read_table(parts[1], columns=["line_item_unblended_cost"]).column(0).to_pylist()
    for value in costs:
        decimals = Decimal(repr(value)).as_tuple().exponent
        assert isinstance(decimals, int) and decimals >= -10, value
    # (line item id, time interval) identifies a row.
    both = pq.read_table(parts[0], columns=["identity_line_item_id", "identity_time_interval"])
    keys = list(zip(*(c.to_pylist() for c in both.columns), strict=True))
    assert len(keys) == len(set(keys))


# --- importable ---------------------------------------------------------------------------------
def test_every_shipped_file_is_detected() -> None:
    planned = plan([DATA_DIR])
    data_files = {n for n in _files(DATA_DIR) if not n.endswith("README.md")}
    assert {p.path.relative_to(DATA_DIR).as_posix() for p in planned} == data_files
    for item in planned:
        folder = item.path.relative_to(DATA_DIR).parts[0]
        assert item.reader.target in TARGETS[folder], (item.path, item.reader.name)


def _provider_workloads(engine: Engine) -> dict[str, set[str]]:
    c = CostLineItem
    with engine.connect() as conn:
        rows = conn.execute(select(c.provider_name, c.x_workload).distinct()).all()
    out: dict[str, set[str]] = {}
    for provider, workload in rows:
        out.setdefault(provider, set()).add(workload)
    return out


def test_import_fills_all_four_workloads_on_both_providers(imported: Engine) -> None:
    found = _provider_workloads(imported)
    aws = [p for p in found if (p and p.upper().startswith("AWS")) or p == "Amazon Web Services"]
    gcp = [p for p in found if p and ("google" in p.lower() or p.upper() == "GCP")]
    assert len(aws) == 1 and len(gcp) == 1, sorted(found, key=str)
    for provider in (aws[0], gcp[0]):
        assert found[provider] >= set(WORKLOADS), (provider, found[provider])


def test_import_totals_match_what_the_generator_intended(
    imported: Engine, regenerated: Result
) -> None:
    """AWS billed cost per workload is exactly the sum of unblended cost the generator wrote."""
    c = CostLineItem
    with imported.connect() as conn:
        rows = conn.execute(
            select(c.provider_name, c.x_workload, func.sum(c.billed_cost)).group_by(
                c.provider_name, c.x_workload
            )
        ).all()
    billed = {(p, w): float(v or 0) for p, w, v in rows}
    for workload in WORKLOADS:
        want = regenerated.ledger.billed[("AWS", workload)]
        got = sum(v for (p, w), v in billed.items() if w == workload and p and "AWS" in p.upper())
        assert got == pytest.approx(want, abs=0.05), workload


def test_metrics_and_inventory_join_to_billed_resources(imported: Engine) -> None:
    with imported.connect() as conn:
        billed = set(conn.execute(select(CostLineItem.resource_id).distinct()).scalars())
        metric_ids = set(conn.execute(select(UsageMetric.resource_id).distinct()).scalars())
        resources = set(conn.execute(select(Resource.resource_id)).scalars())
        metrics = conn.execute(select(func.count()).select_from(UsageMetric)).scalar_one()
        calls = conn.execute(select(func.count()).select_from(LlmRequest)).scalar_one()
        apps = set(conn.execute(select(LlmRequest.app).distinct()).scalars())
    assert metrics == 8928
    assert calls == 3100 and apps == {"support-bot", "doc-search", "summarizer"}
    assert len(resources) == 54
    aws_metric_ids = {m for m in metric_ids if m.startswith(("arn:aws:", "i-"))}
    assert aws_metric_ids and aws_metric_ids <= billed, aws_metric_ids - billed
    assert metric_ids <= billed, metric_ids - billed  # GCP: resource.global_name
    # Every endpoint, training job and GPU machine in the inventory was billed this month.
    assert resources <= billed, sorted(resources - billed)[:5]
