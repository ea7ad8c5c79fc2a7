"""OpenTelemetry GenAI spans, as the Collector's file exporter writes them (OTLP/JSON lines).

Each line is one ``TracesData`` batch — ``{"resourceSpans": [{"resource": …, "scopeSpans":
[{"spans": […]}]}]}`` — in OTLP's JSON encoding (camelCase keys, 64-bit integers as decimal
strings, attribute values as ``{"stringValue": …}`` / ``{"intValue": "…"}``).  Every span of a
GenAI call — one with ``gen_ai.operation.name`` ``chat``, ``text_completion``,
``generate_content`` or ``embeddings``, or, from older instrumentations, a ``gen_ai.system``
and token counts without an operation — becomes one ``llm_requests`` row; other spans (HTTP,
tools, agents) are skipped.

Attributes read (semantic conventions for GenAI, with the deprecated names older
instrumentations still send):

* provider: ``gen_ai.provider.name``, else ``gen_ai.system``;
* model: ``gen_ai.response.model``, else ``gen_ai.request.model``;
* tokens: ``gen_ai.usage.input_tokens`` (else ``gen_ai.usage.prompt_tokens``),
  ``gen_ai.usage.output_tokens`` (else ``…completion_tokens``),
  ``gen_ai.usage.cache_read.input_tokens``, ``gen_ai.usage.cache_creation.input_tokens``.  The
  convention includes cache reads and writes in ``input_tokens`` — the store's convention; a
  producer that left them out (cache reads + writes above ``input_tokens``, as Anthropic's and
  Bedrock's raw counts) has them added;
* the app: the resource's ``service.name``; a prompt hash only where a span carries one
  (``gen_ai.prompt.hash`` or ``costagent.prompt_hash``);
* the time and latency from ``startTimeUnixNano`` / ``endTimeUnixNano``; the key from the trace
  and span ids, so importing the same file twice adds nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

import pyarrow as pa

from agent.store.bounds import EARLIEST, LATEST, checked_count
from collectors.formats.base import FormatReader, Target
from collectors.formats.canonical import LLM_REQUEST_SCHEMA, conform
from collectors.formats.common import Where

GENERATION = frozenset({"chat", "text_completion", "generate_content"})
EMBEDDING = frozenset({"embeddings"})
PROMPT_HASH = ("gen_ai.prompt.hash", "costagent.prompt_hash")
_FIELDS = [f.name for f in LLM_REQUEST_SCHEMA]


class OtelSpansReader(FormatReader):
    name: ClassVar[str] = "otel_spans"
    label: ClassVar[str] = "OpenTelemetry GenAI spans (OTLP/JSON)"
    target: ClassVar[Target] = "llm_requests"

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        return "resourceSpans" in columns

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        rows: list[dict[str, Any]] = []
        for index, text in enumerate(batch.column("resourceSpans").to_pylist()):
            if text is None:
                continue
            try:
                resources = json.loads(text) if isinstance(text, str) else text
            except ValueError:
                raise where.error(index, "resourceSpans", "not valid JSON") from None
            if not isinstance(resources, list):
                raise where.error(index, "resourceSpans", "expected a list of resource spans")
            for resource in resources:
                rows.extend(_requests(resource, _Line(where, index)))
        columns = {name: pa.array([r[name] for r in rows], LLM_REQUEST_SCHEMA.field(name).type)
                   for name in _FIELDS}  # fmt: skip
        return conform(columns, LLM_REQUEST_SCHEMA, len(rows))


class _Line:
    """A line of the file, for errors naming it and the attribute."""

    def __init__(self, where: Where, index: int) -> None:
        self.where, self.index = where, index

    def fail(self, column: str, message: str) -> Exception:
        return self.where.error(self.index, column, message)

    def count(self, attrs: dict[str, Any], *names: str) -> int | None:
        """The first of ``names`` present, as a token count ``0 ≤ n < 10¹⁵``."""
        for name in names:
            value = attrs.get(name)
            if value is None:
                continue
            try:
                return checked_count(value, text=True)  # intValue is a string in OTLP/JSON
            except ValueError as exc:
                raise self.fail(name, f"{value!r} is not {exc}") from None
        return None

    def time(self, span: dict[str, Any], name: str) -> datetime | None:
        value = span.get(name)
        if value in (None, "", "0", 0):
            return None
        try:
            ts = datetime.fromtimestamp(int(value) / 1e9, UTC).replace(tzinfo=None)
        except (TypeError, ValueError, OverflowError, OSError):
            raise self.fail(name, f"{value!r} is not a time in Unix nanoseconds") from None
        if not EARLIEST <= ts < LATEST:
            raise self.fail(name, f"{ts} is outside 2000-01-01 to 2099-12-31")
        return ts


def _requests(resource: Any, line: _Line) -> list[dict[str, Any]]:
    if not isinstance(resource, dict):
        raise line.fail("resourceSpans", "a resource span that is not an object")
    app = _attributes(resource.get("resource", {}).get("attributes"), line).get("service.name")
    out = []
    for scope in resource.get("scopeSpans") or []:
        for span in scope.get("spans") or [] if isinstance(scope, dict) else []:
            row = _request(span, line, app)
            if row is not None:
                out.append(row)
    return out


def _request(span: Any, line: _Line, app: Any) -> dict[str, Any] | None:
    if not isinstance(span, dict):
        raise line.fail("spans", "a span that is not an object")
    attrs = _attributes(span.get("attributes"), line)
    operation = attrs.get("gen_ai.operation.name")
    provider = attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system")
    inp = line.count(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    out = line.count(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    if operation in EMBEDDING:
        kind = "embeddings"
    elif operation in GENERATION or (operation is None and provider and inp is not None):
        kind = "chat"
    else:
        return None  # not a model call: HTTP, a tool, an agent step
    reads = line.count(attrs, "gen_ai.usage.cache_read.input_tokens")
    writes = line.count(attrs, "gen_ai.usage.cache_creation.input_tokens")
    cached = (reads or 0) + (writes or 0)
    if inp is not None and cached > inp:  # a producer that counts input without the cache
        inp += cached
    start = line.time(span, "startTimeUnixNano")
    if start is None:
        raise line.fail("startTimeUnixNano", "a GenAI span without a start time")
    end = line.time(span, "endTimeUnixNano")
    model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model") or "unknown"
    trace, span_id = str(span.get("traceId") or ""), str(span.get("spanId") or "")
    if not trace or not span_id:
        raise line.fail("spanId", "a GenAI span without traceId and spanId")
    prompt_hash = next((attrs[k] for k in PROMPT_HASH if attrs.get(k)), None)
    return {
        "x_request_key": f"otel:{trace.lower()[:32]}:{span_id.lower()[:16]}",
        "ts": start,
        "provider": str(provider)[:64] if provider else None,
        "model": str(model)[:128],
        "operation": kind,
        "app": str(app)[:128] if app else None,
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_tokens": reads,
        "prompt_hash": str(prompt_hash)[:128] if prompt_hash else None,
        "latency_ms": (end - start).total_seconds() * 1000 if end else None,
        "batch": None,
    }


def _attributes(items: Any, line: _Line) -> dict[str, Any]:
    """OTLP ``[{"key": k, "value": {"stringValue": …}}]`` as ``{k: value}`` (scalars only)."""
    out: dict[str, Any] = {}
    if items is None:
        return out
    if not isinstance(items, list):
        raise line.fail("attributes", "attributes that are not a list")
    for item in items:
        if not isinstance(item, dict) or "key" not in item:
            raise line.fail("attributes", "an attribute without a key")
        value = item.get("value") or {}
        for kind in ("stringValue", "intValue", "doubleValue", "boolValue"):
            if kind in value:
                out[str(item["key"])] = value[kind]
                break
    return out
