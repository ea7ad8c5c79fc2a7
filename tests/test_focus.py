"""The real FOCUS 1.0 sample loads exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import Engine, func, select

from agent.config import load_settings
from agent.store.money import money_sum
from agent.store.schema import CostLineItem as C
from collectors.importer import import_paths
from tests.helpers import cost_snapshot

EXPECTED = {
    "AWS": (942, Decimal("18.00663861840")),
    "Microsoft": (51, Decimal("1.97651418586")),
    "Oracle": (7, Decimal("0.53707392473")),
}


def _by_provider(engine: Engine) -> dict[str, tuple[int, Decimal]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(C.provider_name, func.count(), money_sum(C.billed_cost)).group_by(
                C.provider_name
            )
        ).all()
    return {p: (n, s) for p, n, s in rows}


def test_focus_sample_loads_exactly(engine: Engine, focus_sample: Path) -> None:
    summary = import_paths(engine, [focus_sample], load_settings(None))
    assert summary.rows == {"cost": 1000}
    assert _by_provider(engine) == EXPECTED
    with engine.connect() as conn:
        cats = dict(
            conn.execute(select(C.charge_category, func.count()).group_by(C.charge_category)).all()
        )
        currencies = conn.execute(select(C.billing_currency).distinct()).scalars().all()
        nulls = conn.execute(select(func.count()).where(C.availability_zone.is_(None))).scalar_one()
        tagged = conn.execute(select(C.tags).where(C.tags.is_not(None)).limit(50)).scalars().all()
        raw = conn.execute(select(C.x_raw).limit(5)).scalars().all()
        literal_null = conn.execute(
            select(func.count()).where(C.charge_class == "NULL")
        ).scalar_one()
    assert cats == {"Usage": 997, "Adjustment": 2, "Credit": 1}
    assert currencies == ["USD"]
    assert nulls > 0 and literal_null == 0  # the text NULL is a missing value, never a string
    assert tagged and all(isinstance(t, dict) for t in tagged)
    assert any("application" in t for t in tagged)
    assert all(set(r) == {"Id"} for r in raw)  # the non-FOCUS column is kept, per row


def test_focus_parquet_equals_csv(engine: Engine, focus_sample: Path, tmp_path: Path) -> None:
    table = pacsv.read_csv(
        focus_sample,
        convert_options=pacsv.ConvertOptions(null_values=["NULL"], strings_can_be_null=True),
    )
    pq.write_table(table, tmp_path / "focus.parquet")
    import_paths(engine, [tmp_path / "focus.parquet"], load_settings(None))
    assert _by_provider(engine) == EXPECTED


def test_reimport_changes_nothing(engine: Engine, focus_sample: Path) -> None:
    settings = load_settings(None)
    import_paths(engine, [focus_sample], settings)
    first = cost_snapshot(engine)
    import_paths(engine, [focus_sample], settings)
    assert cost_snapshot(engine) == first
    assert first[0] == 1000


def test_restated_period_replaces_old(engine: Engine, focus_sample: Path, tmp_path: Path) -> None:
    """A re-delivered month replaces the stored one; other slices stay as they were."""
    settings = load_settings(None)
    import_paths(engine, [focus_sample], settings)
    with focus_sample.open(newline="") as fh:
        header, *rows = list(csv.reader(fh))
    aws = [r for r in rows if r[header.index("ProviderName")] == "AWS"]
    # AWS re-delivers its month with only the first 100 line items, each cost doubled.
    restated = tmp_path / "restated.csv"
    with restated.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in aws[:100]:
            w.writerow([r[0], str(Decimal(r[1]) * 2), *r[2:]])
    import_paths(engine, [restated], settings)
    got = _by_provider(engine)
    assert got["Microsoft"] == EXPECTED["Microsoft"] and got["Oracle"] == EXPECTED["Oracle"]
    expected_aws = sum((Decimal(r[1]) * 2 for r in aws[:100]), Decimal(0))
    assert got["AWS"] == (100, expected_aws)
