"""One LiteLLM spend-log row → one ``llm_requests`` row, wherever the row was read.

LiteLLM keeps one row per request in ``LiteLLM_SpendLogs``; costagent reads those rows from
LiteLLM's PostgreSQL (``litellm_db``) or from a spend-log export file (the ``litellm_spend``
import format: the UI's CSV download or ``/spend/logs`` as JSON lines).  Both go through
:func:`spend_log_request`, so a request stores the same tokens, app and key however it arrived.

Tokens, in the store's convention (``input_tokens`` every input token, cache reads part of it):
LiteLLM's ``prompt_tokens`` follows OpenAI's usage and includes cached tokens; the cache reads
are ``usage_object.prompt_tokens_details.cached_tokens`` (or ``cache_read_input_tokens``) and
the writes ``usage_object.cache_creation_input_tokens``.  Some LiteLLM versions stored
Anthropic's ``prompt_tokens`` *without* its cache reads and writes (LiteLLM #11364, #14849):
where reads + writes exceed ``prompt_tokens``, they cannot be part of it, and are added.

The app is the first of ``app_from`` that the row has: ``team_alias`` (the key's team alias in
``metadata``), ``team_id``, ``key_alias``, ``end_user`` or ``tag:<prefix>`` (the first request tag
starting with the prefix, e.g. ``tag:app=``).  ``cache_key`` — a hash of the request that
LiteLLM's cache computes — is the prompt hash when present.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from agent.store.bounds import EARLIEST, LATEST, checked_count

EMBEDDING_CALLS = frozenset({"embedding", "aembedding"})
CHAT_CALLS = frozenset(
    {"completion", "acompletion", "text_completion", "atext_completion", "responses",
     "aresponses", "anthropic_messages", "generate_content", "agenerate_content"}
)  # fmt: skip
APP_FIELDS = ("team_alias", "team_id", "key_alias", "end_user")
DEFAULT_APP_FROM = ("team_alias", "team_id", "key_alias")


class BadSpendLog(ValueError):
    """A value the store cannot hold; ``field`` names the spend-log column it came from."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def spend_log_request(
    r: dict[str, Any], source: str, app_from: Sequence[str], text: bool = False
) -> dict[str, Any] | None:
    """An ``llm_requests`` row, or None for a row that is not a completed LLM call.

    ``r`` holds the spend log's columns, ``startTime`` / ``endTime`` as datetimes; with ``text``
    the token counts may be decimal strings (a CSV file).  Raises :class:`BadSpendLog`."""
    call = str(r.get("call_type") or "")
    if (r.get("status") or "success") == "failure":
        return None
    if call in EMBEDDING_CALLS:
        operation = "embeddings"
    elif call in CHAT_CALLS:
        operation = "chat"
    else:
        return None
    ts = r["startTime"]
    if ts.tzinfo is not None:
        ts = ts.replace(tzinfo=None) - (ts.utcoffset() or timedelta(0))
    if not EARLIEST <= ts < LATEST:
        raise BadSpendLog("startTime", f"startTime {ts} outside 2000..2099")
    metadata = _object(r.get("metadata"))
    usage = _object(metadata.get("usage_object"))
    details = _object(usage.get("prompt_tokens_details"))
    prompt = _count(r.get("prompt_tokens"), "prompt_tokens", text) or 0
    reads = _count(details.get("cached_tokens"), "cached_tokens", text)
    if reads is None:
        reads = _count(usage.get("cache_read_input_tokens"), "cache_read_input_tokens", text)
    writes = _count(usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens", text)
    if (reads or 0) + (writes or 0) > prompt:  # prompt_tokens left the cache out
        prompt += (reads or 0) + (writes or 0)
    latency = r.get("request_duration_ms")
    if latency is None and r.get("endTime") is not None:
        latency = (r["endTime"] - r["startTime"]).total_seconds() * 1000
    key = hashlib.sha256(f"{source}\0{r['request_id']}".encode()).hexdigest()
    return {
        "x_request_key": f"litellm:{key[:60]}",
        "ts": ts,
        "provider": r.get("custom_llm_provider") or None,
        "model": str(r.get("model") or "unknown"),
        "operation": operation,
        "app": app_of(r, metadata, app_from),
        "input_tokens": prompt,
        "output_tokens": _count(r.get("completion_tokens"), "completion_tokens", text),
        "cache_read_tokens": reads,
        "prompt_hash": r.get("cache_key") or None,
        "latency_ms": float(latency) if latency is not None else None,
        "batch": "batch" in call or None,
    }


def app_of(r: dict[str, Any], metadata: dict[str, Any], app_from: Sequence[str]) -> str | None:
    """The first of ``app_from`` the row has (at most 128 characters)."""
    for item in app_from:
        if item == "team_alias":
            value = metadata.get("user_api_key_team_alias")
        elif item == "key_alias":
            value = metadata.get("user_api_key_alias")
        elif item in ("team_id", "end_user"):
            value = r.get(item)
        else:
            prefix = item.removeprefix("tag:")
            tags = r.get("request_tags")
            if isinstance(tags, str):
                try:
                    tags = json.loads(tags) if tags.strip() else None
                except ValueError:
                    raise BadSpendLog("request_tags", "request_tags is not a JSON list") from None
            value = next((t[len(prefix) :] for t in tags or [] if str(t).startswith(prefix)), None)
        if value:
            return str(value)[:128]
    return None


def parse_time(value: Any, field: str) -> datetime | None:
    """A spend log's time as a file holds it: ISO 8601 (``2026-11-03T09:15:02.123Z``, or with a
    space and an offset as PostgreSQL prints it); None for an empty cell."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise BadSpendLog(field, f"{field} = {value!r} is not an ISO 8601 time") from None


def _object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _count(value: Any, field: str, text: bool) -> int | None:
    """A token count as LiteLLM stored it (None when absent); anything else is an error."""
    if value is None or (text and value == ""):
        return None
    try:
        return checked_count(value, text=text)
    except ValueError as exc:
        raise BadSpendLog(field, f"{field} = {value!r} is not {exc}") from None
