"""LLM request log (JSON lines), one object per model or embedding call.

Keys: ``ts, provider, model, operation (chat | embeddings), app, input_tokens, output_tokens,
cache_read_tokens, prompt_hash, latency_ms, batch``.  Unknown keys are ignored, missing optional
ones are NULL.  Each call gets a stable key (a hash of its fields plus its occurrence number in
the file), so importing the same log twice adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from collectors.formats.base import FormatReader, Target
from collectors.formats.canonical import LLM_REQUEST_SCHEMA, conform
from collectors.formats.common import (
    Where,
    pick,
    require,
    to_float,
    to_int,
    to_str,
    to_timestamp,
)

OPERATIONS = frozenset({"chat", "embeddings"})
_INT_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens")
_KEY_FIELDS = (
    "ts",
    "provider",
    "model",
    "operation",
    "app",
    *_INT_FIELDS,
    "prompt_hash",
    "latency_ms",
    "batch",
)


class LlmRequestReader(FormatReader):
    name: ClassVar[str] = "llm_requests"
    label: ClassVar[str] = "LLM request log"
    target: ClassVar[Target] = "llm_requests"

    def __init__(self) -> None:
        self._occurrences: dict[str, int] = {}

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        return {"ts", "model", "operation"} <= columns and (
            "input_tokens" in columns or "output_tokens" in columns
        )

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        n = batch.num_rows
        cols: dict[str, pa.Array] = {
            "ts": require(to_timestamp(batch.column("ts"), where, "ts"), where, "ts"),
            "model": require(to_str(batch.column("model")), where, "model"),
            "operation": require(
                pc.utf8_lower(to_str(batch.column("operation"))), where, "operation"
            ),
        }
        bad = pc.invert(pc.is_in(cols["operation"], pa.array(sorted(OPERATIONS))))
        if pc.any(bad).as_py():
            idx = pc.index(bad, True).as_py()
            raise where.error(
                idx, "operation", f"{cols['operation'][idx].as_py()!r} is not chat or embeddings"
            )
        for name in ("provider", "app", "prompt_hash"):
            arr = pick(batch, [name])
            if arr is not None:
                cols[name] = to_str(arr)
        for name in _INT_FIELDS:
            arr = pick(batch, [name])
            if arr is not None:
                cols[name] = to_int(arr, where, name)
        latency = pick(batch, ["latency_ms"])
        if latency is not None:
            cols["latency_ms"] = to_float(latency, where, "latency_ms")
        flag = pick(batch, ["batch"])
        if flag is not None:
            cols["batch"] = _to_bool(flag, where)
        table = conform(cols, LLM_REQUEST_SCHEMA, n)
        return table.set_column(0, "x_request_key", self._keys(table))

    def _keys(self, table: pa.Table) -> pa.Array:
        keys = []
        rows = table.select(list(_KEY_FIELDS)).to_pylist()
        for row in rows:
            digest = hashlib.sha256(
                json.dumps(row, default=str, sort_keys=True).encode()
            ).hexdigest()[:40]
            seen = self._occurrences.get(digest, 0)
            self._occurrences[digest] = seen + 1
            keys.append(f"{digest}:{seen}")
        return pa.array(keys, pa.string())


def _to_bool(arr: pa.Array, where: Where) -> pa.Array:
    if pa.types.is_boolean(arr.type):
        return arr
    truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    out: list[bool | None] = []
    for i, v in enumerate(arr.to_pylist()):
        if v is None:
            out.append(None)
        elif str(v).strip().lower() in truth:
            out.append(truth[str(v).strip().lower()])
        else:
            raise where.error(i, "batch", f"{v!r} is not true or false")
    return pa.array(out, pa.bool_())
