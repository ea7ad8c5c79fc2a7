"""LiteLLM spend logs exported as files — the Admin UI's CSV download and ``/spend/logs`` as JSON
lines — imported into ``llm_requests`` exactly as the ``litellm_db`` source maps the table.

The rows are shaped like ``LiteLLM_SpendLogs`` in LiteLLM's ``schema.prisma`` (``request_id``,
``call_type``, ``api_key`` (hashed), ``spend``, ``total_tokens``, ``prompt_tokens``,
``completion_tokens``, ``startTime``, ``endTime``, ``model``, ``custom_llm_provider``,
``metadata`` with ``usage_object`` and the key's team alias, ``cache_key``, ``team_id``,
``request_tags``, ``status``), which is what the CSV and the endpoint return.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.helpers import cli, llm_request_rows

COLUMNS = (
    "request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens",
    "completion_tokens", "startTime", "endTime", "model", "custom_llm_provider", "metadata",
    "cache_key", "team_id", "end_user", "request_tags", "status",
)  # fmt: skip


def spend_log(request_id: str, start: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": request_id,
        "call_type": "acompletion",
        "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
        "spend": 0.00123,
        "total_tokens": 1320,
        "prompt_tokens": 1200,
        "completion_tokens": 120,
        "startTime": start,
        "endTime": start.replace(":00.000", ":01.250"),
        "model": "gpt-4o-2024-08-06",
        "custom_llm_provider": "openai",
        "metadata": {
            "user_api_key_team_alias": "support-bot",
            "usage_object": {"prompt_tokens_details": {"cached_tokens": 1024}},
        },
        "cache_key": "",
        "team_id": "team-1",
        "end_user": "",
        "request_tags": [],
        "status": "success",
    }
    row.update(over)
    return row


ROWS = [
    spend_log("r1", "2026-11-20T09:30:00.000Z"),
    # an Anthropic call as older LiteLLM stored it: the cache outside prompt_tokens
    spend_log(
        "r2",
        "2026-11-20T09:31:00.000Z",
        model="claude-sonnet-4-20250514",
        custom_llm_provider="anthropic",
        prompt_tokens=3,
        completion_tokens=52,
        metadata={
            "user_api_key_team_alias": None,
            "usage_object": {"cache_read_input_tokens": 0, "cache_creation_input_tokens": 24479},
        },
        team_id="team-nightly",
    ),
    spend_log(
        "r3",
        "2026-11-20T09:32:00.000Z",
        call_type="aembedding",
        completion_tokens=0,
        model="text-embedding-3-small",
        metadata={},
        cache_key="k1",
    ),
    spend_log("r4", "2026-11-20T09:33:00.000Z", status="failure"),  # skipped
    spend_log("r5", "2026-11-20T09:34:00.000Z", call_type="aimage_generation"),  # skipped
]
EXPECTED = [
    (datetime(2026, 11, 20, 9, 30), "openai", "gpt-4o-2024-08-06", "chat", "support-bot",
     1200, 120, 1024, None, 1250.0, "litellm"),
    (datetime(2026, 11, 20, 9, 31), "anthropic", "claude-sonnet-4-20250514", "chat",
     "team-nightly", 24482, 52, 0, None, 1250.0, "litellm"),
    (datetime(2026, 11, 20, 9, 32), "openai", "text-embedding-3-small", "embeddings", "team-1",
     1200, 0, None, "k1", 1250.0, "litellm"),
]  # fmt: skip


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for r in rows:
            out.writerow(
                [json.dumps(r[c]) if isinstance(r[c], dict | list) else r[c] for c in COLUMNS]
            )
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_ui_csv_download_imports_in_the_store_convention(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "litellm_spend_logs.csv", ROWS)
    result = cli("--db", db_url, "import", str(path))
    assert result.exit_code == 0, result.output
    assert llm_request_rows(engine) == EXPECTED
    again = cli("--db", db_url, "import", str(path))
    assert again.exit_code == 0 and len(llm_request_rows(engine)) == 3  # nothing twice


def test_spend_logs_as_json_lines_are_the_same_requests(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    csv_file = write_csv(tmp_path / "spend.csv", ROWS[:2])
    lines = write_jsonl(tmp_path / "spend.jsonl", ROWS)  # overlaps the CSV: r1 and r2
    assert cli("--db", db_url, "import", str(csv_file)).exit_code == 0
    result = cli("--db", db_url, "import", str(lines))
    assert result.exit_code == 0, result.output
    assert llm_request_rows(engine) == EXPECTED


def write_json_array(path: Path, rows: list[dict[str, Any]]) -> Path:
    """``curl …/spend/logs > spend.json``: the API's answer, one pretty-printed array."""
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return path


@pytest.mark.parametrize("write", [write_csv, write_json_array], ids=["csv", "json-array"])
def test_a_bad_count_names_file_row_and_column_and_loads_nothing(
    engine: Engine, db_url: str, tmp_path: Path, write: Any
) -> None:
    bad = spend_log("bad", ROWS[1]["startTime"], completion_tokens=-7)
    path = write(tmp_path / ("spend.csv" if write is write_csv else "spend.json"), [ROWS[0], bad])
    result = cli("--db", db_url, "import", str(path))
    assert result.exit_code == 2
    # a CSV's 2nd data row, an array's 2nd element
    assert f"{path}, row 2, column completion_tokens" in result.stderr
    assert llm_request_rows(engine) == []

    late = write_jsonl(tmp_path / "late.jsonl", [spend_log("x", "2126-01-01T00:00:00.000Z")])
    result = cli("--db", db_url, "import", str(late))
    assert result.exit_code == 2 and f"{late}, row 1, column startTime" in result.stderr
    assert llm_request_rows(engine) == []


@pytest.mark.parametrize("indent", [None, 2])
def test_the_spend_logs_api_answer_saved_as_is_imports(
    engine: Engine, db_url: str, tmp_path: Path, indent: int | None
) -> None:
    """``curl …/spend/logs > spend.json``: one JSON array (compact or pretty-printed), no jq."""
    path = tmp_path / "spend.json"
    path.write_text(json.dumps(ROWS, indent=indent), encoding="utf-8")
    result = cli("--db", db_url, "import", str(path))
    assert result.exit_code == 0, result.output
    assert llm_request_rows(engine) == EXPECTED


def test_a_saved_array_cut_short_is_not_valid_json(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(ROWS, indent=2)[:-40], encoding="utf-8")
    result = cli("--db", db_url, "import", str(cut))
    assert result.exit_code == 2 and "not valid JSON" in result.stderr
    assert llm_request_rows(engine) == []
