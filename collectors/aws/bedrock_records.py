"""One Bedrock model invocation log record → one ``llm_requests`` row, for every destination.

Bedrock writes the same JSON record (``schemaType`` ``ModelInvocationLog``) to S3 files and to
CloudWatch Logs events, so both sources (:mod:`collectors.aws.bedrock_logs`,
:mod:`collectors.aws.bedrock_cloudwatch`) map it here and store the same row for the same call.

Per record: the time, ``modelId`` (an inference profile's ``us.`` / ``global.`` / ARN form is
reduced to the model; an application inference profile stays as its ARN), the tokens —
Bedrock's ``inputTokenCount`` *excludes* the cache (``cacheReadInputTokenCount``,
``cacheWriteInputTokenCount``), so the store's ``input_tokens`` is their sum — the latency
(``metrics.latencyMs``), and the app: ``requestMetadata[app_key]`` when the caller tagged the
request, else the IAM role (or user) of ``identity.arn``.  Records of another schema and failed
calls (``errorCode``) give no row; the sources count them as skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from agent.store.bounds import EARLIEST, LATEST, checked_count

_PROFILE_ARN = re.compile(r"^arn:aws[\w-]*:bedrock:[^:]*:[^:]*:inference-profile/")
_GEO = re.compile(r"^(us|eu|apac|global|us-gov|ca|jp|au)\.(?=[a-z0-9-]+\.)")


class BadRecord(ValueError):
    """A record the store cannot hold; the message names where it was read and the record."""


def invocation_request(record: Any, where: str, app_key: str) -> dict[str, Any] | None:
    """The ``llm_requests`` row of one record, or None for a record to skip (another schema, a
    failed call); ``where`` prefixes every error (the object or log event and the record)."""
    if not isinstance(record, dict) or record.get("schemaType") not in (
        None, "ModelInvocationLog"
    ):  # fmt: skip
        return None
    if record.get("errorCode"):
        return None
    r = record
    try:
        ts = datetime.fromisoformat(str(r["timestamp"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        raise BadRecord(f"{where}: timestamp {r.get('timestamp')!r} is not ISO 8601") from None
    ts = ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
    if not EARLIEST <= ts < LATEST:
        raise BadRecord(f"{where}: timestamp {ts} outside 2000..2099")
    inp, out = r.get("input") or {}, r.get("output") or {}
    uncached = _count(inp.get("inputTokenCount"), where, "input.inputTokenCount") or 0
    reads = _count(inp.get("cacheReadInputTokenCount"), where, "input.cacheReadInputTokenCount")
    writes = _count(inp.get("cacheWriteInputTokenCount"), where, "input.cacheWriteInputTokenCount")
    model = model_of(str(r.get("modelId") or "unknown"))
    body = out.get("outputBodyJson")
    metrics = body.get("metrics") if isinstance(body, dict) else None
    latency = metrics.get("latencyMs") if isinstance(metrics, dict) else None
    request_id = str(r.get("requestId") or "")
    if not request_id:
        raise BadRecord(f"{where}: no requestId")
    return {
        "x_request_key": f"bedrock:{request_id[:64]}",
        "ts": ts,
        "provider": "bedrock",
        "model": model[:128],
        "operation": "embeddings" if "embed" in model else "chat",
        "app": _app(r, app_key),
        "input_tokens": uncached + (reads or 0) + (writes or 0),
        "output_tokens": _count(out.get("outputTokenCount"), where, "output.outputTokenCount"),
        "cache_read_tokens": reads,
        "prompt_hash": None,
        "latency_ms": float(latency) if isinstance(latency, int | float) else None,
        "batch": None,
    }


def _app(r: dict[str, Any], app_key: str) -> str | None:
    metadata = r.get("requestMetadata")
    if isinstance(metadata, dict) and metadata.get(app_key):
        return str(metadata[app_key])[:128]
    arn = str((r.get("identity") or {}).get("arn") or "")
    # arn:aws:sts::123:assumed-role/<role>/<session> → role; arn:aws:iam::123:user/<name>
    resource = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
    parts = resource.split("/")
    return parts[1][:128] if len(parts) >= 2 and parts[1] else None


def model_of(model_id: str) -> str:
    """``arn:…:inference-profile/us.anthropic.claude-…`` and ``global.anthropic.claude-…`` →
    ``anthropic.claude-…``; anything else as it is."""
    return _GEO.sub("", _PROFILE_ARN.sub("", model_id))


def json_values(text: str, where: str) -> Iterator[Any]:
    """Every JSON value in ``text`` (one per line as Bedrock writes them, or any whitespace)."""
    decoder = json.JSONDecoder()
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            raise BadRecord(f"{where}: not valid JSON at character {pos} ({exc.args[0]})") from None
        yield value


def _count(value: Any, where: str, field: str) -> int | None:
    if value is None:
        return None
    try:
        return checked_count(value)
    except ValueError as exc:
        raise BadRecord(f"{where}: {field} = {value!r} is not {exc}") from None
