"""Errors that say where: every broken file is exit 2 and one line naming file, row, column.

Downloads cut short, corrupt compressed streams, bytes that are not UTF-8, values no column can
hold: the row named is the real one (not the first row of an 8 MB block), and nothing of the
command is stored.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from agent.store import bounds
from tests.helpers import cli, cost_snapshot

HEADER = (
    "BilledCost,EffectiveCost,BillingAccountId,BillingCurrency,BillingPeriodStart,"
    "ChargePeriodStart,ProviderName,ServiceName,ResourceId,ChargeDescription"
)


def _focus_line(i: int) -> str:
    return (
        f"0.{i % 100:02d},0.{i % 100:02d},acct-1,USD,2026-10-01T00:00:00Z,"
        f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,AWS,Amazon EC2,i-{i:06d},"
        f'"usage, hour {i}"'
    )


def _focus_csv(rows: int) -> bytes:
    return ("\n".join([HEADER, *(_focus_line(i) for i in range(rows))]) + "\n").encode()


def _cut_at_row(tmp: Path, name: str = "cut.csv") -> Path:
    """A 20,000-row file whose download stopped in the middle of data row 9,655."""
    data = _focus_csv(20_000)
    lines = data.split(b"\n")
    cut = b"\n".join(lines[:9655]) + b"\n" + lines[9655][:17]  # header + 9,654 rows + half
    path = tmp / name
    path.write_bytes(gzip.compress(cut) if name.endswith(".gz") else cut)
    return path


def _bad_utf8_at_row(tmp: Path) -> Path:
    lines = _focus_csv(20_000).split(b"\n")
    lines[5000] = lines[5000].replace(b"usage", b"us\xe9age")  # Latin-1 é in data row 5,000
    path = tmp / "latin1.csv"
    path.write_bytes(b"\n".join(lines))
    return path


def _corrupt_gzip(tmp: Path, name: str, payload: bytes) -> Path:
    data = bytearray(gzip.compress(payload))
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64  # "Error -3 … invalid block type" from zlib
    path = tmp / name
    path.write_bytes(bytes(data))
    return path


def _llm_lines(n: int, line: int, bad: str) -> bytes:
    rows = []
    for i in range(1, n + 1):
        tokens = bad if i == line else "10"
        rows.append(
            f'{{"ts": "2026-10-01T00:{i % 60:02d}:00Z", "model": "gpt-4o", "operation": "chat",'
            f' "input_tokens": {tokens}, "output_tokens": 5}}'
        )
    return ("\n".join(rows) + "\n").encode()


def _gcp_line(i: int, cost: str = "1.25", invoice: str = "202610") -> str:
    return json.dumps(
        {
            "billing_account_id": "01D3M0-5YN7H3-71C000",
            "service": {"id": "C7E2", "description": "Vertex AI"},
            "sku": {"id": "S1", "description": "Gemini 1.5 Flash Input Text"},
            "usage_start_time": f"2026-10-0{1 + i % 9} 00:00:00 UTC",
            "usage_end_time": f"2026-10-0{1 + i % 9} 01:00:00 UTC",
            "invoice": {"month": invoice},
            "currency": "USD",
            "credits": [],
        }
    ).replace('"credits"', f'"cost": {cost}, "credits"')


CASES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "CSV cut mid-row": (lambda t: _cut_at_row(t), ["cut.csv", "row 9655", "expected 10 fields"]),
    "CSV.gz cut mid-row": (
        lambda t: _cut_at_row(t, "cut.csv.gz"),
        ["cut.csv.gz", "row 9655"],
    ),
    "non-UTF-8 byte": (lambda t: _bad_utf8_at_row(t), ["latin1.csv", "row 5000", "UTF-8"]),
    "corrupt deflate in .csv.gz": (
        lambda t: _corrupt_gzip(t, "broken.csv.gz", _focus_csv(50_000)),
        ["broken.csv.gz", "corrupt"],
    ),
    "corrupt deflate in .jsonl.gz": (
        lambda t: _corrupt_gzip(t, "broken.jsonl.gz", _llm_lines(50_000, 0, "10")),
        ["broken.jsonl.gz", "corrupt"],
    ),
    "JSONL integer past 64 bits": (
        lambda t: _write(t / "calls.jsonl", _llm_lines(30, 7, "1e20".replace("1e20", "10" * 10))),
        ["calls.jsonl", "row 7", "input_tokens"],
    ),
    "JSONL negative tokens": (
        lambda t: _write(t / "calls.jsonl", _llm_lines(30, 9, "-3")),
        ["calls.jsonl", "row 9", "input_tokens", "whole number"],
    ),
    "JSONL NaN cost on line 5": (
        lambda t: _write(
            t / "gcp.jsonl",
            "\n".join(_gcp_line(i, "NaN" if i == 5 else "1.25") for i in range(1, 9)).encode(),
        ),
        ["gcp.jsonl", "row 5", "cost", "finite"],
    ),
    "JSONL NaN tokens on line 5": (
        lambda t: _write(t / "calls.jsonl", _llm_lines(8, 5, "NaN")),
        ["calls.jsonl", "row 5", "input_tokens"],
    ),
    "JSONL NaN credit on line 5": (
        lambda t: _write(
            t / "gcp.jsonl",
            "\n".join(
                _gcp_line(i).replace('"credits": []', '"credits": [{"amount": NaN}]')
                if i == 5
                else _gcp_line(i)
                for i in range(1, 9)
            ).encode(),
        ),
        ["gcp.jsonl", "row 5", "credits"],
    ),
    "JSONL NaN usage amount on line 5": (
        lambda t: _write(
            t / "gcp.jsonl",
            "\n".join(
                _gcp_line(i).replace('"credits"', '"usage": {"amount": NaN}, "credits"')
                if i == 5
                else _gcp_line(i)
                for i in range(1, 9)
            ).encode(),
        ),
        ["gcp.jsonl", "row 5", "usage.amount", "finite"],
    ),
    "GCP invoice month 202613": (
        lambda t: _write(
            t / "gcp.jsonl",
            "\n".join(
                _gcp_line(i, invoice="202613" if i == 3 else "202610") for i in range(1, 6)
            ).encode(),
        ),
        ["gcp.jsonl", "row 3", "invoice.month", "202613"],
    ),
    "JSONL line over the bound": (
        lambda t: _write(
            t / "big.jsonl",
            _llm_lines(3, 0, "10")
            + b'{"ts": "2026-10-01T01:00:00Z", "model": "'
            + b"x" * (bounds.JSON_LINE_BYTES + 10)
            + b'", "operation": "chat", "input_tokens": 1}\n',
        ),
        ["big.jsonl", "row 4", "longer than 16 MiB"],
    ),
    "JSONL first object cut short": (
        # a broken first line is row 1 of JSON lines, not the start of a JSON document
        lambda t: _write(
            t / "calls.jsonl",
            b'{"ts": "2026-10-01T00:00:00Z", "model": "m"\n' + _llm_lines(3, 0, "10"),
        ),
        ["calls.jsonl", "row 1", "not valid JSON"],
    ),
    "ZIP with two files": (lambda t: _two_file_zip(t), ["two.csv.zip", "2 files"]),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _two_file_zip(tmp: Path) -> Path:
    import zipfile

    path = tmp / "two.csv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", _focus_csv(3))
        zf.writestr("b.csv", _focus_csv(3))
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_file_is_exit_2_naming_where(
    case: str, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    make, must_mention = CASES[case]
    good = _write(tmp_path / "good.csv", _focus_csv(50))
    assert cli("--db", db_url, "import", str(good)).exit_code == 0
    before = cost_snapshot(engine)
    bad = make(tmp_path)

    result = cli("--db", db_url, "import", str(good), str(bad))

    assert result.exit_code == 2, (result.exit_code, result.output)
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for fragment in must_mention:
        assert fragment in message, (fragment, message)
    assert cost_snapshot(engine) == before


def test_the_row_reported_for_a_cut_file_is_exact_for_any_cut(tmp_path: Path) -> None:
    """The locator's row numbering is Arrow's: data rows, blank lines not counted, quoted
    values spanning lines counted once."""
    from collectors.formats.files import locate_csv_fault

    text = HEADER + '\n\n1,1,a,USD,2026-10-01,2026-10-01,AWS,S,r,"two\nlines"\n2,2,a\n'
    path = _write(tmp_path / "x.csv", text.encode())
    assert locate_csv_fault(path, 10) == (
        2,
        "expected 10 fields, found 3 (a download cut short, or a stray quote or delimiter)",
    )
