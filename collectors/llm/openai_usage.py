"""``openai_usage``: OpenAI's Usage and Costs APIs (an Admin key), into ``llm_usage`` and costs.

* ``GET /v1/organization/usage/completions`` and ``…/usage/embeddings``, bucketed ``1d`` or
  ``1h`` and grouped by model, project, API key (and, for completions, batch and service tier):
  one ``llm_usage`` row per bucket and group.  OpenAI's ``input_tokens`` already *includes* the
  cached (``input_cached_tokens``) and cache-write (``input_cache_write_tokens``) tokens — the
  store's convention — so they are stored as they come; ``num_model_requests`` is ``requests``.
* ``GET /v1/organization/costs`` (daily, grouped by line item and project): one cost line item
  per day × line item × project (provider OpenAI, workload inference, project as sub account,
  the model from the line item — ``"gpt-4o-2024-08-06, input"``, ``"evals | gpt-4o-mini, input"``
  — in ``x_model``).  Amounts are JSON numbers in dollars with float noise
  (``0.00012073404268330895``): parsed as decimals and rounded to the store's 12 places.

Times are Unix seconds, ``start_time`` inclusive and ``end_time`` exclusive; the key is sent as
``Authorization: Bearer``.  Least privilege: an Admin key with read access to usage (OpenAI's
admin keys are organisation-wide; create one for costagent alone and revoke it to cut it off).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
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
)

API = "OpenAI Admin API"
PROVIDER = "OpenAI"  # FOCUS ProviderName of the cost rows
SERVICE = "OpenAI API"
#: bucket_width → the most buckets one page may hold (the API's documented maxima)
PAGE_LIMIT = {"1d": 31, "1h": 168}
BUCKET_KEYS = ("start_time", "end_time")
COMPLETIONS_GROUPS = ("model", "project_id", "api_key_id", "batch", "service_tier")
EMBEDDINGS_GROUPS = ("model", "project_id", "api_key_id")


class OpenAiUsageConfig(LlmAdminSourceConfig):
    type: Literal["openai_usage"] = "openai_usage"
    admin_key_env: str = Field(
        "OPENAI_ADMIN_KEY", description="environment variable that holds the admin key"
    )
    base_url: str = Field("https://api.openai.com/v1", description="the API's base URL")


class OpenAiUsageCollector(AdminUsageCollector[OpenAiUsageConfig]):
    meta = CollectorMeta(summary="OpenAI Admin API: usage buckets and daily costs")
    api_name: ClassVar[str] = API
    provider_name: ClassVar[str] = PROVIDER
    service_name: ClassVar[str] = SERVICE

    def api(self, key: SecretStr) -> JsonApi:
        return JsonApi(
            API,
            self.config.base_url,
            headers={"Authorization": f"Bearer {key.get_secret_value()}"},
        )

    def usage(self, api: JsonApi, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        width = self.config.bucket_width
        for operation, path, groups in (
            ("chat", "/organization/usage/completions", COMPLETIONS_GROUPS),
            ("embeddings", "/organization/usage/embeddings", EMBEDDINGS_GROUPS),
        ):
            params = [
                *_window(lo, hi),
                ("bucket_width", width),
                ("limit", str(PAGE_LIMIT[width])),
                *(("group_by", g) for g in groups),
            ]
            for bucket, start, end in _buckets(api, path, params):
                for r in results(API, bucket, path):
                    rows.append(usage_row(Bucket(API, path, start), end, operation, r))
        return rows

    def cost(self, api: JsonApi, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        path = "/organization/costs"
        params = [
            *_window(lo, hi),
            ("bucket_width", "1d"),
            ("limit", "180"),
            ("group_by", "line_item"),
            ("group_by", "project_id"),
        ]
        rows = []
        for bucket, start, end in _buckets(api, path, params):
            when = Bucket(API, path, start)
            for r in results(API, bucket, path):
                rows.append(cost_result(when, end, r, self.account))
        return rows


def cost_result(when: Bucket, end: datetime, r: dict[str, Any], account: str) -> dict[str, Any]:
    """The cost row of one result of ``/organization/costs``."""
    amount = r.get("amount")
    if not isinstance(amount, dict):
        raise when.fail("amount", amount, "an object with value and currency")
    line_item = when.text(r, "line_item")
    return cost_row(
        when,
        end,
        when.money(amount.get("value"), "amount.value"),
        when.currency(amount.get("currency"), "amount.currency"),
        account=account,
        provider=PROVIDER,
        service=SERVICE,
        description=line_item,
        model=model_of_line_item(line_item),
        project=when.text(r, "project_id"),
        usage_type=line_item,
        quantity=when.quantity(r, "quantity"),
        unit=when.text(r, "quantity_unit"),
    )


def model_of_line_item(line_item: str | None) -> str | None:
    """``"evals | gpt-4o-mini-2024-07-18, input"`` → ``gpt-4o-mini-2024-07-18``; a line item
    that names no model (``"assistants api | file search"``) → None."""
    if not line_item or "," not in line_item:
        return None
    head = line_item.rsplit(",", 1)[0]
    model = head.rsplit("|", 1)[-1].strip()
    return model or None


def usage_row(when: Bucket, end: datetime, operation: str, r: dict[str, Any]) -> dict[str, Any]:
    """The ``llm_usage`` row of one result of ``/organization/usage/<operation>``."""
    batch = r.get("batch")
    if batch is not None and not isinstance(batch, bool):
        raise when.fail("batch", batch, "true, false or null")
    return {
        "bucket_start": when.start,
        "bucket_end": end,
        "provider": "openai",
        "operation": operation,
        "model": when.text(r, "model"),
        "project_id": when.text(r, "project_id"),
        "api_key_id": when.text(r, "api_key_id"),
        "batch": batch,
        "service_tier": when.text(r, "service_tier"),
        "requests": when.count(r, "num_model_requests"),
        "input_tokens": when.count(r, "input_tokens") or 0,
        "cache_read_tokens": when.count(r, "input_cached_tokens"),
        "cache_write_tokens": when.count(r, "input_cache_write_tokens"),
        "output_tokens": when.count(r, "output_tokens"),
    }


def _window(lo: datetime, hi: datetime) -> list[tuple[str, str]]:
    return [
        ("start_time", str(int(lo.replace(tzinfo=UTC).timestamp()))),
        ("end_time", str(int(hi.replace(tzinfo=UTC).timestamp()))),
    ]


def unix_time(value: Any) -> datetime:
    """A bucket time: Unix seconds → naive UTC."""
    return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)


def _buckets(
    api: JsonApi, path: str, params: list[tuple[str, str]]
) -> Iterator[tuple[dict[str, Any], datetime, datetime]]:
    return buckets(api, path, params, BUCKET_KEYS, unix_time)
