"""LiteLLM spend logs as files: the proxy UI's CSV download, or ``/spend/logs`` as JSON lines.

Teams whose LiteLLM database costagent may not reach export the spend logs instead: the Admin
UI's *Logs* page downloads CSV, and ``GET /spend/logs`` returns the rows as a JSON array
(``curl … | jq -c '.[]' > spend.jsonl`` makes the JSON lines this reads with bounded memory).
Either holds the columns of ``LiteLLM_SpendLogs`` (``request_id``, ``call_type``, ``spend``,
``startTime``, ``endTime``, ``model``, ``custom_llm_provider``, ``prompt_tokens``,
``completion_tokens``, ``metadata``, ``cache_key``, ``team_id``, ``end_user``, ``request_tags``,
``status`` …) and each row is mapped exactly as the ``litellm_db`` source maps the table
(:func:`collectors.llm.litellm_rows.spend_log_request`): the token convention, the app from the
key's team alias, team id or key alias, ``cache_key`` as the prompt hash.  A row's key comes
from its ``request_id``, so importing the same export twice (or two overlapping exports) adds
each request once.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa

from collectors.formats.base import FormatReader, Target
from collectors.formats.canonical import LLM_REQUEST_SCHEMA, conform
from collectors.formats.common import Where
from collectors.llm.litellm_rows import (
    DEFAULT_APP_FROM,
    BadSpendLog,
    parse_time,
    spend_log_request,
)

REQUIRED = frozenset({"request_id", "call_type", "startTime", "prompt_tokens", "spend"})
_FIELDS = [f.name for f in LLM_REQUEST_SCHEMA]
_TIMES = ("startTime", "endTime")


class LiteLlmSpendReader(FormatReader):
    name: ClassVar[str] = "litellm_spend"
    label: ClassVar[str] = "LiteLLM spend logs (CSV / JSON lines export)"
    target: ClassVar[Target] = "llm_requests"
    default_source: ClassVar[str | None] = "litellm"

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        return columns >= REQUIRED

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        rows: list[dict[str, Any]] = []
        for index, raw in enumerate(batch.to_pylist()):
            if not raw.get("request_id"):
                raise where.error(index, "request_id", "empty: every spend log row has one")
            try:
                for name in _TIMES:
                    raw[name] = parse_time(raw.get(name), name)
                if raw["startTime"] is None:
                    raise BadSpendLog("startTime", "empty: every spend log row has one")
                latency = raw.get("request_duration_ms")
                if isinstance(latency, str):
                    raw["request_duration_ms"] = _number(latency)
                row = spend_log_request(raw, self.source(), DEFAULT_APP_FROM, text=True)
            except BadSpendLog as exc:
                raise where.error(index, exc.field, str(exc)) from None
            if row is not None:
                rows.append(row)
        columns = {
            name: pa.array([r.get(name) for r in rows], LLM_REQUEST_SCHEMA.field(name).type)
            for name in _FIELDS
        }
        return conform(columns, LLM_REQUEST_SCHEMA, len(rows))


def _number(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadSpendLog("request_duration_ms", f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise BadSpendLog("request_duration_ms", f"{text!r} is not a duration")
    return value
