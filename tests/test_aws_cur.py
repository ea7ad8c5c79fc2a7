"""AWS CUR 2.0 and legacy CUR: exact billed and effective (amortized) totals per workload.

The month built by ``tests.cur_builder`` has Savings Plan, reserved instance, tax, credit and
refund lines whose effective cost is worked out by hand there; every test runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import Engine, func, select

from agent.config import load_settings
from agent.store.money import money_sum
from agent.store.schema import CostLineItem as C
from collectors.importer import import_paths
from tests import cur_builder as cb
from tests.helpers import cli, cost_snapshot


def _per_workload(engine: Engine) -> dict[str, tuple[Decimal, Decimal]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(C.x_workload, money_sum(C.billed_cost), money_sum(C.effective_cost))
            .where(C.provider_name == "AWS")
            .group_by(C.x_workload)
        ).all()
    return {w: (b, e) for w, b, e in rows}


def _import(engine: Engine, *paths: Path) -> None:
    import_paths(engine, list(paths), load_settings(None))


def test_savings_plan_month_billed_and_effective_per_workload(
    engine: Engine, tmp_path: Path
) -> None:
    lines = cb.month_lines()
    export = cb.write_data_export(tmp_path / "cur2", lines)
    _import(engine, export)
    got = _per_workload(engine)
    assert got == cb.expected(lines)
    # The hand-worked figures behind the builder: three SP-covered hours of a g5.12xlarge at
    # $3.9704 effective (negation lines cancel the $5.672 on-demand price), the unused $0.2796 of
    # each $4.25 commitment hour as "other", RI usage at its $0.061 effective cost.
    assert got["inference"][1] - got["inference"][0] == Decimal("3") * Decimal("3.9704")
    with engine.connect() as conn:
        billed, effective = conn.execute(
            select(money_sum(C.billed_cost), money_sum(C.effective_cost))
        ).one()
        by_type = dict(
            conn.execute(select(C.charge_category, func.count()).group_by(C.charge_category)).all()
        )
        sp = conn.execute(
            select(
                C.commitment_discount_id,
                C.commitment_discount_category,
                C.commitment_discount_type,
                C.pricing_category,
            ).where(C.commitment_discount_status == "Used", C.x_usage_type.like("%g5%"))
        ).all()
        period = conn.execute(select(C.billing_period_start, C.x_slice).distinct()).all()
        tags = (
            conn.execute(select(C.tags).where(C.resource_id == "i-0a7c3e5f9b1d24680"))
            .scalars()
            .first()
        )
        raw = conn.execute(select(C.x_raw).where(C.charge_category == "Tax")).scalars().first()
    # Billed is the invoice; effective drops the $219 RI upfront fee (amortized into usage),
    # prices RI usage at $0.061/h and keeps only the unused $0.0075/h of the RI fee; the fully
    # used Savings Plan moves cost between lines without changing the total.
    assert billed == Decimal("317.7223456789")
    assert effective == Decimal("98.7893456789")
    assert by_type == {"Usage": 25, "Purchase": 6, "Tax": 2, "Credit": 2}
    assert {tuple(r) for r in sp} == {(cb.SP_ARN, "Spend", "Savings Plan", "Committed")}
    assert [(str(p[0])[:10], p[1]) for p in period] == [
        ("2026-09-01", f"aws_cur2:{cb.PAYER}:2026-09")
    ]
    assert tags == {"user_workload": "inference"}
    assert raw is not None and raw["line_item_type"] == "Tax"


def test_effective_totals_are_exact_hand_figures(engine: Engine, tmp_path: Path) -> None:
    """The same month's effective cost, summed by hand line type by line type."""
    _import(engine, cb.write_data_export(tmp_path / "cur2", cb.month_lines()))
    rows: dict[str, Decimal] = {}
    with engine.connect() as conn:
        for raw, cost in conn.execute(select(C.x_raw, C.effective_cost)):
            kind = raw["line_item_type"]
            rows[kind] = rows.get(kind, Decimal(0)) + cost
    assert rows["SavingsPlanCoveredUsage"] == Decimal("11.9112")
    assert rows["SavingsPlanNegation"] == 0
    assert rows["SavingsPlanRecurringFee"] == Decimal("0.8388")  # 3 × (4.25 − 3.9704)
    assert rows["DiscountedUsage"] == Decimal("0.122")
    assert rows["RIFee"] == Decimal("0.015")  # 2 × (0.005 + 0.0025)
    assert rows["Fee"] == 0
    assert rows["Tax"] == Decimal("4.68")
    assert rows["Credit"] == Decimal("-5.00")
    assert rows["Refund"] == Decimal("-0.50")


def test_csv_gz_export_equals_parquet(db_url: str, tmp_path: Path) -> None:
    lines = cb.month_lines()
    pq_dir = cb.write_data_export(tmp_path / "pq", lines)
    csv_dir = cb.write_data_export(tmp_path / "csv", lines, fmt="csv")
    for export in (pq_dir, csv_dir):
        result = cli("--db", db_url, "import", str(export), "--json")
        assert result.exit_code == 0, result.output
    from agent.store.engine import open_store

    engine = open_store(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    C.x_source,
                    C.x_workload,
                    money_sum(C.billed_cost),
                    money_sum(C.effective_cost),
                    func.count(),
                ).group_by(C.x_source, C.x_workload)
            ).all()
    finally:
        engine.dispose()
    # Both exports are the same delivery of the same month, so the second replaced the first.
    assert {r[0] for r in rows} == {"aws_cur2"}
    assert {r[1]: (r[2], r[3]) for r in rows} == cb.expected(lines)
    assert sum(r[4] for r in rows) == len(lines)


def test_legacy_cur_maps_like_cur2(engine: Engine, tmp_path: Path) -> None:
    lines = cb.month_lines()
    path = cb.write_legacy_csv(tmp_path / "legacy-cur.csv", lines)
    summary = import_paths(engine, [path], load_settings(None))
    assert summary.files[0][1] == "aws_cur_legacy"
    assert _per_workload(engine) == cb.expected(lines)
    with engine.connect() as conn:
        tags = (
            conn.execute(select(C.tags).where(C.resource_id == "i-0a7c3e5f9b1d24680"))
            .scalars()
            .first()
        )
        svc = conn.execute(select(C.service_name).where(C.x_usage_type.like("%SearchOCU"))).scalar()
    assert tags == {"user_workload": "inference"}
    assert svc == "Amazon OpenSearch Service"


def test_reimport_changes_nothing_and_restatement_replaces(engine: Engine, tmp_path: Path) -> None:
    export = tmp_path / "cur2"
    cb.write_data_export(export, cb.month_lines("2026-08"), month="2026-08")
    first = cb.month_lines()
    cb.write_data_export(export, first)
    _import(engine, export)
    before = cost_snapshot(engine)
    _import(engine, export)
    assert cost_snapshot(engine) == before

    # AWS re-delivers September with more usage and one chunk instead of two.
    restated = cb.month_lines(scale=Decimal("1.1"))
    cb.write_data_export(export, restated, chunks=1)
    _import(engine, export / "data" / "BILLING_PERIOD=2026-09")
    after = cost_snapshot(engine)
    slices = dict(after[3])
    assert slices[f"aws_cur2:{cb.PAYER}:2026-09"] == len(restated)
    assert slices[f"aws_cur2:{cb.PAYER}:2026-08"] == dict(before[3])[f"aws_cur2:{cb.PAYER}:2026-08"]
    with engine.connect() as conn:
        sept = conn.execute(
            select(money_sum(C.billed_cost)).where(C.x_slice.like("%2026-09"))
        ).scalar_one()
    assert sept == sum((ln.unblended for ln in restated), Decimal(0))


def test_chunks_of_one_period_in_one_command_load_together(engine: Engine, tmp_path: Path) -> None:
    lines = cb.month_lines()
    export = cb.write_data_export(tmp_path / "cur2", lines, chunks=3)
    parts = sorted((export / "data" / "BILLING_PERIOD=2026-09").glob("*.parquet"))
    assert len(parts) == 3
    _import(engine, *parts)
    assert cost_snapshot(engine)[0] == len(lines)
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in parts) == len(lines)


def test_covered_usage_without_its_effective_cost_is_refused(db_url: str, tmp_path: Path) -> None:
    lines = cb.month_lines()
    for ln in lines:
        ln.extra.pop("savings_plan_savings_plan_effective_cost", None)
    path = cb.write_legacy_csv(tmp_path / "bad.csv", lines)
    good = cb.write_data_export(tmp_path / "good", cb.month_lines("2026-08"), month="2026-08")
    assert cli("--db", db_url, "import", str(good)).exit_code == 0
    result = cli("--db", db_url, "import", str(path))
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "bad.csv" in message and "row " in message
    assert "savings_plan_savings_plan_effective_cost" in message or "SavingsPlan" in message
    rows = json.loads(
        cli(
            "--db", db_url, "sql", "SELECT count(*) AS n FROM cost_line_items", "--format", "json"
        ).stdout
    )
    assert rows == [{"n": len(cb.month_lines("2026-08"))}]
