"""``anthropic_usage``: Anthropic's Usage and Cost Admin API, into ``llm_usage`` and costs.

* ``GET /v1/organizations/usage_report/messages``, bucketed ``1d`` or ``1h``, grouped by model,
  workspace, API key and service tier: one ``llm_usage`` row per bucket and group.  Anthropic's
  token kinds are *disjoint* — ``uncached_input_tokens``, ``cache_read_input_tokens`` and
  ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` — so the store's
  ``input_tokens`` (every input token) is their sum, ``cache_read_tokens`` the reads and
  ``cache_write_tokens`` both cache writes.  The report has no request count: ``requests`` is
  NULL (rules that need it say so).  ``service_tier = batch`` sets ``batch``.
* ``GET /v1/organizations/cost_report`` (daily, grouped by workspace and description): one cost
  line item per day × description × workspace.  ``amount`` is a decimal *string in cents*
  (``"123.78912"`` is $1.2378912): divided by 100 exactly.  Priority Tier costs are not in this
  report (Anthropic's documentation says so); their usage is.

Times are RFC 3339; the key goes in ``x-api-key`` with ``anthropic-version: 2023-06-01``.
Least privilege: an Admin API key (``sk-ant-admin…``, created by an organisation admin in the
Console) — there is no narrower key that can read usage; keep it for costagent alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from collectors.base import CollectorMeta
from collectors.http_api import JsonApi
from collectors.llm.admin import (
    AdminUsageCollector,
    Bucket,
    LlmAdminSourceConfig,
    buckets,
    cost_row,
    results,
    utc,
)

API = "Anthropic Admin API"
PROVIDER = "Anthropic"  # FOCUS ProviderName of the cost rows
SERVICE = "Claude API"
BUCKET_KEYS = ("starting_at", "ending_at")
VERSION = "2023-06-01"
PAGE_LIMIT = {"1d": 31, "1h": 168}
USAGE_GROUPS = ("model", "workspace_id", "api_key_id", "service_tier")
CENTS = Decimal("0.01")


class AnthropicUsageConfig(LlmAdminSourceConfig):
    type: Literal["anthropic_usage"] = "anthropic_usage"
    admin_key_env: str = Field(
        "ANTHROPIC_ADMIN_KEY", description="environment variable that holds the admin key"
    )
    base_url: str = Field("https://api.anthropic.com/v1", description="the API's base URL")


class AnthropicUsageCollector(AdminUsageCollector[AnthropicUsageConfig]):
    meta = CollectorMeta(summary="Anthropic Admin API: message usage and daily cost report")
    api_name: ClassVar[str] = API
    provider_name: ClassVar[str] = PROVIDER
    service_name: ClassVar[str] = SERVICE

    def api(self, key: SecretStr) -> JsonApi:
        return JsonApi(
            API,
            self.config.base_url,
            headers={"x-api-key": key.get_secret_value(), "anthropic-version": VERSION},
        )

    def usage(self, api: JsonApi, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        path = "/organizations/usage_report/messages"
        width = self.config.bucket_width
        params = [
            *_window(lo, hi),
            ("bucket_width", width),
            ("limit", str(PAGE_LIMIT[width])),
            *(("group_by[]", g) for g in USAGE_GROUPS),
        ]
        rows = []
        for bucket, start, end in _buckets(api, path, params):
            when = Bucket(API, path, start)
            for r in results(API, bucket, path):
                rows.append(usage_row(when, end, r))
        return rows

    def cost(self, api: JsonApi, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        path = "/organizations/cost_report"
        params = [
            *_window(lo, hi),
            ("bucket_width", "1d"),
            ("limit", "31"),
            ("group_by[]", "workspace_id"),
            ("group_by[]", "description"),
        ]
        rows = []
        for bucket, start, end in _buckets(api, path, params):
            when = Bucket(API, path, start)
            for r in results(API, bucket, path):
                rows.append(cost_result(when, end, r, self.account))
        return rows


def cost_result(when: Bucket, end: datetime, r: dict[str, Any], account: str) -> dict[str, Any]:
    """The cost row of one result of ``/organizations/cost_report`` (amounts in cents)."""
    token_type = when.text(r, "token_type")
    return cost_row(
        when,
        end,
        when.money(r.get("amount"), "amount", CENTS),
        when.currency(r.get("currency"), "currency"),
        account=account,
        provider=PROVIDER,
        service=SERVICE,
        description=when.text(r, "description"),
        model=when.text(r, "model"),
        project=when.text(r, "workspace_id"),
        usage_type=token_type or when.text(r, "cost_type"),
    )


def usage_row(when: Bucket, end: datetime, r: dict[str, Any]) -> dict[str, Any]:
    """The ``llm_usage`` row of one result of ``/organizations/usage_report/messages``."""
    creation = r.get("cache_creation") or {}
    if not isinstance(creation, dict):
        raise when.fail("cache_creation", creation, "an object")
    uncached = when.count(r, "uncached_input_tokens") or 0
    reads = when.count(r, "cache_read_input_tokens")
    writes_5m = when.count(creation, "ephemeral_5m_input_tokens", "cache_creation.5m")
    writes_1h = when.count(creation, "ephemeral_1h_input_tokens", "cache_creation.1h")
    writes = (
        None if writes_5m is None and writes_1h is None else (writes_5m or 0) + (writes_1h or 0)
    )
    tier = when.text(r, "service_tier")
    return {
        "bucket_start": when.start,
        "bucket_end": end,
        "provider": "anthropic",
        "operation": "chat",
        "model": when.text(r, "model"),
        "project_id": when.text(r, "workspace_id"),
        "api_key_id": when.text(r, "api_key_id"),
        "batch": None if tier is None else tier == "batch",
        "service_tier": tier,
        "requests": None,
        "input_tokens": uncached + (reads or 0) + (writes or 0),
        "cache_read_tokens": reads,
        "cache_write_tokens": writes,
        "output_tokens": when.count(r, "output_tokens"),
    }


def _rfc3339(ts: datetime) -> str:
    return ts.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _window(lo: datetime, hi: datetime) -> list[tuple[str, str]]:
    return [("starting_at", _rfc3339(lo)), ("ending_at", _rfc3339(hi))]


def rfc3339_time(value: Any) -> datetime:
    """A bucket time: RFC 3339 → naive UTC."""
    return utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def _buckets(
    api: JsonApi, path: str, params: list[tuple[str, str]]
) -> Iterator[tuple[dict[str, Any], datetime, datetime]]:
    return buckets(api, path, params, BUCKET_KEYS, rfc3339_time)
