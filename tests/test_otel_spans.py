"""OpenTelemetry GenAI spans from the Collector's file exporter (OTLP/JSON lines), imported.

The file is what ``exporter/fileexporter`` writes with ``format: json``: one ``TracesData``
batch per line, camelCase keys, 64-bit integers as decimal strings, hex trace and span ids.
Spans follow the GenAI semantic conventions — the current names (``gen_ai.provider.name``,
``gen_ai.usage.input_tokens`` including cache reads) and the deprecated ones an older
instrumentation sends (``gen_ai.system``, ``prompt_tokens``, counts without the cache).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.helpers import cli, llm_request_rows

T0 = datetime(2026, 11, 20, 9, 30)
NANOS = int((T0 - datetime(1970, 1, 1)).total_seconds()) * 10**9


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def span(span_id: str, offset_ms: int, duration_ms: int, **attrs: Any) -> dict[str, Any]:
    start = NANOS + offset_ms * 10**6
    return {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": span_id,
        "name": f"{attrs.get('gen_ai.operation.name', 'op')} model",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + duration_ms * 10**6),
        "attributes": [attr(k.replace("__", "."), v) for k, v in attrs.items()],
        "status": {},
    }


def line(service: str, *spans: dict[str, Any]) -> str:
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", service)]},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai_v2"},
                        "spans": list(spans)}],
    }]})  # fmt: skip


def export(tmp: Path, *lines: str) -> Path:
    path = tmp / "traces.json"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = (
    line(
        "support-bot",
        span("EEE19B7EC3C1B174", 0, 1200, **{
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 120,
            "gen_ai.usage.cache_read.input_tokens": 4000, "gen_ai.prompt.hash": "ab12"}),
        span("EEE19B7EC3C1B175", 5, 40, **{"http.request.method": "POST"}),  # not a model call
        span("EEE19B7EC3C1B176", 10, 80, **{
            "gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 30}),
    ),
    line(
        "nightly",
        # an older instrumentation: gen_ai.system, prompt/completion tokens, cache kept apart
        span("AAA19B7EC3C1B174", 60_000, 3000, **{
            "gen_ai.system": "aws.bedrock",
            "gen_ai.request.model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "gen_ai.usage.prompt_tokens": 3, "gen_ai.usage.completion_tokens": 52,
            "gen_ai.usage.cache_creation.input_tokens": 24479}),
    ),
)  # fmt: skip


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    return llm_request_rows(engine)


def test_genai_spans_become_requests_in_the_store_convention(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    path = export(tmp_path, *GOOD)
    result = cli("--db", db_url, "import", str(path))
    assert result.exit_code == 0, result.output
    ms = datetime(2026, 11, 20, 9, 30, 0, 10_000)
    assert stored(engine) == [
        (T0, "openai", "gpt-4o-2024-08-06", "chat", "support-bot", 5000, 120, 4000, "ab12",
         1200.0, "otel_spans"),
        (ms, "openai", "text-embedding-3-small", "embeddings", "support-bot", 30, None, None,
         None, 80.0, "otel_spans"),
        (datetime(2026, 11, 20, 9, 31), "aws.bedrock",
         "anthropic.claude-3-5-sonnet-20240620-v1:0", "chat", "nightly", 24482, 52, None, None,
         3000.0, "otel_spans"),
    ]  # fmt: skip
    again = cli("--db", db_url, "import", str(path))
    assert again.exit_code == 0 and len(stored(engine)) == 3  # nothing added twice


def test_a_bad_count_names_file_line_and_attribute(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    bad = line("x", span("BBB19B7EC3C1B174", 0, 10, **{
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
        "gen_ai.usage.input_tokens": -5}))  # fmt: skip
    path = export(tmp_path, GOOD[0], bad)
    result = cli("--db", db_url, "import", str(path))
    assert result.exit_code == 2
    assert f"{path}, row 2, column gen_ai.usage.input_tokens" in result.stderr
    assert stored(engine) == []  # nothing of the file
