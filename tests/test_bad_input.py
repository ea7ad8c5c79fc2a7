"""Bad input: exit 2, one line naming file, row and column, and not one row of the command kept.

Each case imports a good file *and* a bad one in one command (the good one first, so its rows
were already written when the bad one fails) into a database that already holds data.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from agent.config import load_settings
from collectors.importer import import_paths
from tests.helpers import cli, cost_snapshot


def _rows(sample: Path) -> tuple[list[str], list[list[str]]]:
    with sample.open(newline="") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _edit(column: str, row: int, value: str) -> Callable[[Path, Path], Path]:
    def make(sample: Path, tmp: Path) -> Path:
        header, rows = _rows(sample)
        rows[row - 1][header.index(column)] = value
        return _write(tmp / "bad.csv", header, rows)

    return make


def _drop_column(column: str) -> Callable[[Path, Path], Path]:
    def make(sample: Path, tmp: Path) -> Path:
        header, rows = _rows(sample)
        i = header.index(column)
        return _write(
            tmp / "bad.csv", header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows]
        )

    return make


def _truncated_parquet(sample: Path, tmp: Path) -> Path:
    table = pacsv.read_csv(
        sample, convert_options=pacsv.ConvertOptions(null_values=["NULL"], strings_can_be_null=True)
    )
    good = tmp / "whole.parquet"
    pq.write_table(table, good)
    data = good.read_bytes()
    bad = tmp / "bad.parquet"
    bad.write_bytes(data[: len(data) // 2])
    return bad


CASES = {
    "non-numeric cost": (_edit("BilledCost", 17, "12,5O"), ["bad.csv", "row 17", "BilledCost"]),
    "unknown currency": (
        _edit("BillingCurrency", 42, "XXY"),
        ["bad.csv", "row 42", "BillingCurrency", "ISO 4217"],
    ),
    "unparseable date": (
        _edit("ChargePeriodStart", 7, "31/09/2024 25:00"),
        ["bad.csv", "row 7", "ChargePeriodStart"],
    ),
    "tags not an object": (
        _edit("Tags", 3, '["team", "ml"]'),
        ["bad.csv", "row 3", "Tags", "JSON object"],
    ),
    "tags not JSON": (_edit("Tags", 5, "{team: ml"), ["bad.csv", "row 5", "Tags"]),
    "missing required value": (
        _edit("BillingPeriodStart", 9, "NULL"),
        ["bad.csv", "row 9", "BillingPeriodStart"],
    ),
    "missing required column": (
        _drop_column("BillingPeriodStart"),
        ["bad.csv", "BillingPeriodStart", "missing"],
    ),
    "truncated parquet": (_truncated_parquet, ["bad.parquet", "Parquet"]),
    # Values out of what the store holds: never wrapped (Arrow's text → decimal cast turns a
    # 200-digit number into −1 and 2**128 into 0), clamped or stored to break a later command.
    "200-digit cost": (
        _edit("BilledCost", 11, "1" + "0" * 199),
        ["bad.csv", "row 11", "BilledCost", "out of range"],
    ),
    "2**128 cost": (
        _edit("BilledCost", 12, str(2**128)),
        ["bad.csv", "row 12", "BilledCost", "out of range"],
    ),
    "1e20 cost": (
        _edit("EffectiveCost", 13, "1e20"),
        ["bad.csv", "row 13", "EffectiveCost", "out of range"],
    ),
    "cost of 10^15": (
        _edit("ListCost", 14, "1000000000000000"),
        ["bad.csv", "row 14", "ListCost", "10^15"],
    ),
    "charge in 9999": (
        _edit("ChargePeriodStart", 15, "9999-12-31T00:00:00Z"),
        ["bad.csv", "row 15", "ChargePeriodStart", "2000-01-01 to 2099-12-31"],
    ),
    "charge in 1970": (
        _edit("ChargePeriodEnd", 16, "1970-01-01T00:00:00Z"),
        ["bad.csv", "row 16", "ChargePeriodEnd", "supported range"],
    ),
    "quantity NaN": (
        _edit("PricingQuantity", 17, "NaN"),
        ["bad.csv", "row 17", "PricingQuantity", "finite"],
    ),
    "quantity 1e400": (
        _edit("ConsumedQuantity", 18, "1e400"),
        ["bad.csv", "row 18", "ConsumedQuantity"],
    ),
    "NUL in text": (_edit("ResourceName", 19, "disk\x00x"), ["bad.csv", "row 19", "NUL"]),
    "NUL escaped in tags": (
        _edit("Tags", 20, '{"team": "ml\\u0000x"}'),
        ["bad.csv", "row 20", "Tags", "NUL"],
    ),
    "over-long resource id": (
        _edit("ResourceId", 21, "i-" + "x" * 600),
        ["bad.csv", "row 21", "ResourceId", "512 characters"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exit_2_and_nothing_kept(
    case: str, db_url: str, engine: Engine, focus_sample: Path, tmp_path: Path
) -> None:
    make, must_mention = CASES[case]
    # The store already holds data, and the good file restates one of its slices.
    import_paths(engine, [focus_sample], load_settings(None))
    before = cost_snapshot(engine)
    header, rows = _rows(focus_sample)
    good = _write(
        tmp_path / "good.csv",
        header,
        [r for r in rows if r[header.index("ProviderName")] == "Oracle"],
    )
    bad = make(focus_sample, tmp_path)

    result = cli("--db", db_url, "import", str(good), str(bad))

    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for fragment in must_mention:
        assert fragment in message, (fragment, message)
    assert cost_snapshot(engine) == before


def test_unknown_format_is_named(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "mystery.csv"
    f.write_text("a,b,c\n1,2,3\n")
    result = cli("--db", db_url, "import", str(f))
    assert result.exit_code == 2
    assert "mystery.csv" in result.stderr and "unrecognised columns" in result.stderr


def test_missing_path(db_url: str, tmp_path: Path) -> None:
    result = cli("--db", db_url, "import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2
    assert "nope.csv" in result.stderr and "no such file" in result.stderr


def test_money_past_twelve_decimals_rounds_half_even_like_decimal() -> None:
    """Floats whose shortest repr has more than 12 decimals take Arrow's wide-decimal path; it
    must give exactly what ``Decimal(repr(x)).quantize(1e-12, ROUND_HALF_EVEN)`` gives."""
    import random
    from decimal import ROUND_HALF_EVEN, Decimal

    import pyarrow as pa

    from collectors.formats.common import to_money

    class Where:
        def error(self, i: int, column: str, message: str) -> Exception:
            return ValueError(f"row {i}, column {column}: {message}")

    rng = random.Random(7)
    values = [rng.random() * rng.choice([1e-7, 1.0, 37.0, 1e4, 1e7]) for _ in range(20_000)]
    values += [0.30000000000000004, 1.5e-12, 2.5e-12, -2.5e-12, 3.4e-30, 12345678.123456789]
    got = to_money(pa.array(values), Where(), "cost").to_pylist()
    q = Decimal("1e-12")
    assert got == [Decimal(repr(v)).quantize(q, rounding=ROUND_HALF_EVEN) for v in values]
    assert got[-5:-2] == [Decimal("2E-12"), Decimal("2E-12"), Decimal("-2E-12")]  # half-even
    # text with too many decimals takes the same path; a bad value is still named
    assert to_money(pa.array(["1.0000000000005"]), Where(), "c").to_pylist() == [Decimal(1)]
    with pytest.raises(ValueError, match=r"row 1, column c: '12,5O' is not a number"):
        to_money(pa.array(["1.0000000000005", "12,5O"]), Where(), "c")
